#!/usr/bin/python3
"""service_test.py BINARY - the scanner service's REST API end to end: the
real binary (`modelgate serve`) on 127.0.0.1 with a free port, a real SQLite
file in a temporary --data directory (or, run by pg_suites.py, the PostgreSQL
database MODELGATE_TEST_STORE names), --root the repository's examples/
folder.

Checks health, bearer tokens and roles (tokens made with `modelgate token
create` beside the running service and with POST /api/v1/tokens), scans of
the clean and the tampered example (queued: 202 then polled, or ?wait=true),
the stored report served back unchanged, the --root confinement, remote URIs
refused by shape before anything is queued, malformed JSON and the body size
limit, list filters and keyset pagination, models and their versions,
policies (validated, versioned, in force at once and after a restart), the
threat catalog, /metrics, the OpenAPI document against the router's own
route table, a store written by the first schema migrated in place, and that
everything survives a SIGTERM and a restart. Queueing, crashes, config and
remote sources are in service_ops_test.py. Prints ok/FAIL per check and a
closing "N passed, N failed" line.
"""
import calendar
import hashlib
import json
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import EXAMPLES, ROOT, Checks, Service, files_with  # noqa: E402
from pglib import store_rows, test_store  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
CLEAN = os.path.join(EXAMPLES, "clean-model")
TAMPERED = os.path.join(EXAMPLES, "tampered-model")
check = Checks()


def oversized_body_status(port, length):
    """Declares a body over the limit and sends none: the answer must come
    before the body is read (a real client would otherwise upload it all)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /api/v1/scans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % length)
        head = s.recv(4096).decode(errors="replace")
    parts = head.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def scan_count(svc, token):
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1000", token=token)
    return len((doc or {}).get("scans", [])) if st == 200 else -1


def first_run(svc, data):
    check("first start prints an admin token", bool(svc.admin and svc.admin.startswith("mg_")), svc.lines)
    st, doc, _, _ = svc.request("GET", "/healthz")
    check("healthz 200 without a token", st == 200 and doc == {"status": "ok"}, (st, doc))
    st, _, _, _ = svc.request("GET", "/api/v1/scans")
    check("no token: 401", st == 401, st)
    st, _, _, _ = svc.request("GET", "/api/v1/scans", token="mg_" + "0" * 64)
    check("unknown token: 401", st == 401, st)

    reader = svc.token(BIN, "reader")
    check("token create prints the token last", reader.startswith("mg_"), reader)
    st, doc, _, _ = svc.request("GET", "/api/v1/scans", token=reader)
    check("reader can list scans", st == 200 and isinstance(doc, dict) and "scans" in doc, (st, doc))
    st, doc, _, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": CLEAN}, token=reader)
    check("reader cannot create scans: 403", st == 403, (st, doc))

    st, rep, _, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": CLEAN}, token=svc.admin)
    check("clean model: 200 ALLOWED", st == 200 and rep and rep.get("eval_outcome") == "ALLOWED", (st, rep))
    clean_uuid = (rep or {}).get("uuid")

    tampered = "file://" + TAMPERED
    st, rep, text, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": tampered}, token=svc.admin)
    check("tampered model (file://): 200 BLOCKED", st == 200 and rep and rep.get("eval_outcome") == "BLOCKED",
          (st, rep))
    rep = rep or {}
    check("report names extra_data.pkl with MG-PKL-100", "extra_data.pkl" in files_with(rep, "MG-PKL-100"),
          files_with(rep, "MG-PKL-100"))
    tampered_uuid = rep.get("uuid")

    st, got, got_text, _ = svc.request("GET", "/api/v1/scans/%s" % tampered_uuid, token=reader)
    check("GET by uuid returns the same report", st == 200 and got == rep, st)
    check("GET by uuid returns the stored bytes", got_text == text, len(got_text))
    st, _, _, _ = svc.request("GET", "/api/v1/scans/00000000-0000-4000-8000-000000000000", token=reader)
    check("unknown uuid: 404", st == 404, st)
    st, _, _, _ = svc.request("GET", "/api/v1/scans/../../etc", token=reader)
    check("malformed uuid: 404", st == 404, st)

    # contract change with the worker pool: a 202 scan is queued, so it is polled
    st, doc, _, _ = svc.request("POST", "/api/v1/scans", {"model_uri": CLEAN}, token=svc.admin)
    check("without wait: 202 with a uuid and PENDING",
          st == 202 and doc and len(doc.get("uuid", "")) == 36 and doc.get("status") == "PENDING", (st, doc))
    st, got = svc.wait_done((doc or {}).get("uuid"), reader)
    check("the 202 scan finishes and is stored", st == 200 and got and got.get("eval_outcome") == "ALLOWED",
          (st, got))

    for uri in ("/etc/passwd", os.path.join(EXAMPLES, "..", "Makefile"), "file:///etc", "/nonexistent/x"):
        st, doc, _, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": uri}, token=svc.admin)
        check("outside --root: 403 with a reason (%s)" % uri, st == 403 and doc and "root" in doc.get("error", ""),
              (st, doc))
    # contract change: s3:// is a supported scheme now (remote sources); an unknown scheme is still 400
    st, doc, _, _ = svc.request("POST", "/api/v1/scans", {"model_uri": "ftp://host/x"}, token=svc.admin)
    check("unsupported scheme: 400", st == 400 and doc and "scheme" in doc.get("error", ""), (st, doc))

    st, doc, _, _ = svc.request("POST", "/api/v1/scans", raw=b'{"model_uri": "x",\n  oops}', token=svc.admin)
    err = (doc or {}).get("error", "")
    check("malformed JSON: 400 naming line and column", st == 400 and "line 2" in err and "column" in err, (st, doc))
    st, doc, _, _ = svc.request("POST", "/api/v1/scans", raw=b'{"model_uri": "a", "model_uri": "b"}',
                                token=svc.admin)
    check("duplicate keys: 400", st == 400, (st, doc))
    st, doc, _, _ = svc.request("POST", "/api/v1/scans", {"license": "mit"}, token=svc.admin)
    check("missing model_uri: 400", st == 400 and "model_uri" in (doc or {}).get("error", ""), (st, doc))
    check("body over 1 MiB: 413", oversized_body_status(svc.port, 2 << 20) == 413)
    st, doc, _, _ = svc.request("POST", "/api/v1/scans", chunks=[b" " * (64 << 10)] * 17, token=svc.admin)
    check("chunked body over 1 MiB: 413", st == 413, st)
    st, doc, _, _ = svc.request("POST", "/api/v1/scans", chunks=[b'{"model_uri": ', b'"/etc"}'], token=svc.admin)
    check("chunked body under the limit is read whole", st == 403, (st, doc))

    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=2", token=reader)
    scans = (doc or {}).get("scans", [])
    check("list: limit and newest first", st == 200 and len(scans) == 2 and scans[1].get("uuid") == tampered_uuid,
          (st, scans))
    st, _, _, _ = svc.request("GET", "/api/v1/scans?limit=0", token=reader)
    check("list: bad limit 400", st == 400, st)
    return clean_uuid, tampered_uuid, reader


def scan_bodies(svc, reader):
    """Labels, wait and timeout values, remote URIs refused by shape."""
    body = {"model_uri": CLEAN, "license": "mit", "labels": {"team": "ml", "stage": "prod"}}
    st, rep, _, _ = svc.request("POST", "/api/v1/scans?wait=1", body, token=svc.admin)
    check("wait=1 with license and labels: 200", st == 200 and rep and rep.get("license") == "mit", (st, rep))
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1", token=reader)
    first = ((doc or {}).get("scans") or [{}])[0]
    check("list shows the scan's labels", first.get("labels") == {"team": "ml", "stage": "prod"}, first)
    for bad, why in ((["a"], "labels"), ({"k": 1}, "labels"), ({"": "v"}, "labels"),
                     ({"k%d" % i: "v" for i in range(65)}, "64")):
        st, doc, _, _ = svc.request("POST", "/api/v1/scans", {"model_uri": CLEAN, "labels": bad}, token=svc.admin)
        check("bad labels refused: 400 (%s)" % str(bad)[:30], st == 400 and why in (doc or {}).get("error", ""),
              (st, doc))
    for q in ("wait=maybe", "wait=true&timeout=0", "wait=true&timeout=601", "wait=true&timeout=x"):
        st, doc, _, _ = svc.request("POST", "/api/v1/scans?" + q, {"model_uri": CLEAN}, token=svc.admin)
        check("bad query %s: 400" % q, st == 400, (st, doc))
    before = scan_count(svc, reader)
    refused = ["s3://AB/x", "s3://bucket/a/../b", "s3://a", "hf://datasets/onlyname", "hf://ns/na me", "hf://ns/name@",
               "hf://../name", "hf://datasets/foo", "hf://ns/name@a b", "https://evil.example/ns/name", "https://huggingface.co@evil.example/ns/name",
               "http://huggingface.co/ns/name", "https://huggingface.co/ns/name?x=1", "https://huggingface.co/datasets/ns",
               "s3://bucket/x\n", "gopher://x/y"]
    for uri in refused:
        st, doc, _, _ = svc.request("POST", "/api/v1/scans", {"model_uri": uri}, token=svc.admin)
        check("remote URI refused by shape: 400 (%r)" % uri, st == 400 and (doc or {}).get("error"), (st, doc))
    check("refused URIs are decided before queueing: nothing stored", scan_count(svc, reader) == before,
          (before, scan_count(svc, reader)))


def walk_pages(svc, token, path, key, limit):
    """Every row of a listing, page by page; (rows, pages, ok)."""
    rows, pages, cursor = [], 0, None
    while pages < 100:
        sep = "&" if "?" in path else "?"
        url = path + sep + "limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
        st, doc, _, _ = svc.request("GET", url, token=token)
        if st != 200:
            return rows, pages, False
        pages += 1
        rows += doc.get(key, [])
        cursor = doc.get("next_cursor")
        if cursor is None:
            return rows, pages, True
    return rows, pages, False


def filters(svc, reader, clean_uuid, tampered_uuid):
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1000", token=reader)
    allrows = (doc or {}).get("scans", [])
    check("list: next_cursor null when everything fits", st == 200 and doc.get("next_cursor") is None, doc)
    stamps = [(r["created_at"], r["uuid"]) for r in allrows]
    check("list: ordered newest first by (created_at, uuid)", stamps == sorted(stamps, reverse=True), stamps[:3])
    rows, pages, ok = walk_pages(svc, reader, "/api/v1/scans", "scans", 2)
    check("pagination: limit=2 pages give every scan once, in order",
          ok and [r["uuid"] for r in rows] == [r["uuid"] for r in allrows] and pages == (len(allrows) + 1) // 2,
          (len(rows), len(allrows), pages))
    # a new scan meanwhile does not shift a keyset page
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=2", token=reader)
    cursor = (doc or {}).get("next_cursor")
    svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": CLEAN}, token=svc.admin)
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=2&cursor=" + str(cursor), token=reader)
    check("cursor page is stable when newer scans arrive",
          st == 200 and [r["uuid"] for r in doc.get("scans", [])] == [r["uuid"] for r in allrows[2:4]], doc)
    for bad in ("cursor=xyz", "cursor=" + "A" * 200, "cursor=MjAyNS0wMS0wMVQwMDowMDowMFogbm90LWEtdXVpZA",
                "outcome=MAYBE", "since=yesterday", "since=2025-13-01T00:00:00Z", "model=justaname", "limit=1001"):
        st, doc, _, _ = svc.request("GET", "/api/v1/scans?" + bad, token=reader)
        check("list: %s -> 400" % bad[:40], st == 400 and (doc or {}).get("error"), (st, doc))

    st, doc, _, _ = svc.request("GET", "/api/v1/scans?outcome=BLOCKED&limit=1000", token=reader)
    got = (doc or {}).get("scans", [])
    check("outcome=BLOCKED: only blocked scans, the tampered one among them",
          st == 200 and got and all(r["eval_outcome"] == "BLOCKED" for r in got) and
          tampered_uuid in [r["uuid"] for r in got] and
          len(got) == sum(1 for r in allrows if r["eval_outcome"] == "BLOCKED"), got)
    st, rep, _, _ = svc.request("GET", "/api/v1/scans/%s" % tampered_uuid, token=reader)
    model_uuid = (rep or {}).get("model_uuid")
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?model=%s" % model_uuid, token=reader)
    by_uuid = [r["uuid"] for r in (doc or {}).get("scans", [])]
    check("model=<uuid>: the model's scans only", st == 200 and by_uuid == [tampered_uuid], by_uuid)
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?model=%s/%s" % (rep.get("namespace"), rep.get("model_name")),
                                token=reader)
    check("model=NAMESPACE/NAME: the same scans", st == 200 and [r["uuid"] for r in doc["scans"]] == by_uuid, doc)
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?model=examples/clean-model&outcome=ALLOWED&limit=1000",
                                token=reader)
    clean_rows = (doc or {}).get("scans", [])
    check("model and outcome combine", st == 200 and clean_uuid in [r["uuid"] for r in clean_rows] and
          all(r["model_uri"].endswith("clean-model") for r in clean_rows), clean_rows)

    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1000", token=reader)
    allrows = doc["scans"]
    pivot = allrows[len(allrows) // 2]["created_at"]
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1000&since=" + pivot, token=reader)
    want = [r["uuid"] for r in allrows if r["created_at"] >= pivot]
    check("since=<RFC 3339 UTC>: scans created at or after", st == 200 and [r["uuid"] for r in doc["scans"]] == want,
          (len(doc["scans"]), len(want)))
    # the same instant written with an offset and fewer digits
    t = calendar.timegm(time.strptime(pivot[:19], "%Y-%m-%dT%H:%M:%S"))
    shifted = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t + 7200))
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1000&since=%s%s%%2B02:00" % (shifted, pivot[19:26]),
                                token=reader)
    check("since with a +02:00 offset means the same instant",
          st == 200 and [r["uuid"] for r in doc["scans"]] == want, (shifted, pivot, st, doc))
    return model_uuid


def models(svc, reader, model_uuid, tampered_uuid):
    st, doc, _, _ = svc.request("GET", "/api/v1/models", token=reader)
    listed = (doc or {}).get("models", [])
    check("GET /models lists both example models", st == 200 and len(listed) == 2 and
          {m["model_name"] for m in listed} == {"clean-model", "tampered-model"}, doc)
    rows, pages, ok = walk_pages(svc, reader, "/api/v1/models", "models", 1)
    check("GET /models pages with limit=1", ok and pages == 2 and [m["uuid"] for m in rows] ==
          [m["uuid"] for m in listed], (pages, rows))
    st, m, _, _ = svc.request("GET", "/api/v1/models/%s" % model_uuid, token=reader)
    versions = (m or {}).get("versions", [])
    check("GET /models/{uuid}: the model with one version", st == 200 and m.get("uuid") == model_uuid and
          m.get("model_name") == "tampered-model" and len(versions) == 1, m)
    v = versions[0] if versions else {}
    st, rep, _, _ = svc.request("GET", "/api/v1/scans/%s" % tampered_uuid, token=reader)
    check("version: uuid, revision and latest scan as the report says",
          v.get("model_version_uuid") == rep.get("model_version_uuid") and v.get("revision") == rep.get("revision")
          and v.get("latest_scan", {}).get("uuid") == tampered_uuid and
          v["latest_scan"].get("eval_outcome") == "BLOCKED", (v, rep.get("revision")))
    clean = [x for x in listed if x["model_name"] == "clean-model"][0]
    st, m, _, _ = svc.request("GET", "/api/v1/models/%s" % clean["uuid"], token=reader)
    st2, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1&model=%s" % clean["uuid"], token=reader)
    newest = doc["scans"][0]["uuid"]
    check("a rescanned version shows its newest scan", st == 200 and len(m["versions"]) == 1 and
          m["versions"][0]["latest_scan"]["uuid"] == newest, (m, newest))
    for bad in ("00000000-0000-4000-8000-000000000000", "nope"):
        st, _, _, _ = svc.request("GET", "/api/v1/models/" + bad, token=reader)
        check("unknown model %s: 404" % bad[:8], st == 404, st)


def policies(svc, reader, data):
    st, pol, _, _ = svc.request("GET", "/api/v1/policies", token=reader)
    check("GET /policies: version 0, the defaults", st == 200 and pol.get("version") == 0 and
          pol.get("created_at") is None and "global_threshold: MEDIUM" in pol.get("yaml", ""), pol)
    st, rep, _, _ = svc.request("GET", "/api/v1/scans?limit=1", token=reader)
    last = rep["scans"][0]["uuid"]
    st, rep, _, _ = svc.request("GET", "/api/v1/scans/" + last, token=reader)
    check("reports carry the digest GET /policies shows", rep.get("policy_digest") == pol.get("digest"),
          (rep.get("policy_digest"), pol.get("digest")))
    scanner = svc.token(BIN, "scanner")
    good = b"policies:\n  approved-format:\n    state: BLOCKING\n"
    for tok, name in ((reader, "reader"), (scanner, "scanner")):
        st, doc, _, _ = svc.request("PUT", "/api/v1/policies", raw=good, token=tok,
                                    headers={"Content-Type": "application/yaml"})
        check("PUT /policies as %s: 403" % name, st == 403, (st, doc))
    bad = b"global_threshold: MEDIUM\npolicies:\n  approved-format:\n    state: SOMETIMES\n"
    st, doc, _, _ = svc.request("PUT", "/api/v1/policies", raw=bad, token=svc.admin)
    check("invalid policy: 400 naming the line", st == 400 and "line 4" in (doc or {}).get("error", ""), (st, doc))
    st, doc, _, _ = svc.request("PUT", "/api/v1/policies", raw=b"a: [\n", token=svc.admin)
    check("malformed YAML: 400 naming a line", st == 400 and "line" in (doc or {}).get("error", ""), (st, doc))
    st, now, _, _ = svc.request("GET", "/api/v1/policies", token=reader)
    check("refused policies change nothing", now == pol, now)

    st, new, _, _ = svc.request("PUT", "/api/v1/policies", raw=good, token=svc.admin,
                                headers={"Content-Type": "application/yaml"})
    check("PUT /policies as admin: 200, version 1, a new digest",
          st == 200 and new.get("version") == 1 and new.get("digest") != pol.get("digest") and new.get("created_at"),
          (st, new))
    p = subprocess.run([BIN, "policy", "check", "/dev/stdin"], input=good, capture_output=True, timeout=60)
    check("the digest is the one `modelgate policy check` computes", new.get("digest", "x") in p.stdout.decode(),
          (p.stdout, new.get("digest")))
    st, rep, _, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": CLEAN}, token=svc.admin)
    check("the new policy is in force at once: the clean pickle model is BLOCKED",
          st == 200 and rep.get("eval_outcome") == "BLOCKED" and rep.get("policy_digest") == new.get("digest"),
          (st, rep.get("eval_outcome"), rep.get("policy_digest")))
    stored = store_rows(data, "SELECT version, yaml, digest FROM policies")
    check("the policy is stored as given, with its digest", stored == [(1, good.decode(), new.get("digest"))], stored)
    return new


def catalog_and_tokens(svc, reader):
    st, doc, _, _ = svc.request("GET", "/api/v1/threats", token=reader)
    ids = [t.get("id") for t in (doc or {}).get("threats", [])]
    out = subprocess.run([BIN, "threats"], capture_output=True, text=True, timeout=60).stdout
    check("GET /threats: the catalog `modelgate threats` prints", st == 200 and ids and
          ids == [line.split()[0] for line in out.splitlines() if line.strip()], (len(ids), out[:100]))
    t = (doc or {}).get("threats", [{}])[0]
    check("threats carry severity, title and policy", t.get("severity") in ("LOW", "MEDIUM", "HIGH", "CRITICAL")
          and t.get("title") and t.get("policy"), t)

    st, doc, _, _ = svc.request("POST", "/api/v1/tokens", {"role": "reader"}, token=svc.admin)
    tok = (doc or {}).get("token", "")
    check("POST /tokens as admin: 201 with the token", st == 201 and re.fullmatch(r"mg_[0-9a-f]{64}", tok) and
          doc.get("role") == "reader", (st, doc))
    st, _, _, _ = svc.request("GET", "/api/v1/scans", token=tok)
    check("the new token works", st == 200, st)
    st, _, _, _ = svc.request("POST", "/api/v1/scans", {"model_uri": CLEAN}, token=tok)
    check("the new token has its role (reader: no scans)", st == 403, st)
    scanner = svc.token(BIN, "scanner")
    st, _, _, _ = svc.request("POST", "/api/v1/tokens", {"role": "admin"}, token=scanner)
    check("POST /tokens as scanner: 403", st == 403, st)
    for body in ({"role": "root"}, {}, ["reader"]):
        st, doc, _, _ = svc.request("POST", "/api/v1/tokens", body, token=svc.admin)
        check("POST /tokens %s: 400" % json.dumps(body), st == 400, (st, doc))
    st, doc, _, _ = svc.request("POST", "/api/v1/tokens", raw=b'{"role":', token=svc.admin)
    check("POST /tokens malformed JSON: 400 with line/column", st == 400 and "line 1" in (doc or {}).get("error", ""),
          (st, doc))
    st, _, _, _ = svc.request("DELETE", "/api/v1/scans", token=svc.admin)
    check("known path, other method: 405", st == 405, st)
    st, _, _, _ = svc.request("GET", "/api/v1/nothing", token=svc.admin)
    check("unknown path with a token: 404", st == 404, st)


def parse_metrics(text):
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.fullmatch(r'([a-z_]+)(\{[a-z_]+="[^"]*"\})? ([0-9.e+-]+)', line)
        if not m:
            return None
        out[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out


def metrics(svc, reader):
    st, _, _, _ = svc.request("GET", "/metrics")
    check("/metrics without a token: 401", st == 401, st)
    st, _, text, hdrs = svc.request("GET", "/metrics", token=reader)
    m = parse_metrics(text.decode())
    check("/metrics: 200 Prometheus text, every line well-formed",
          st == 200 and hdrs.get("content-type", "").startswith("text/plain") and m is not None, text[:300])
    m = m or {}
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1000", token=reader)
    outcomes = [r["eval_outcome"] for r in doc["scans"]]
    for o in ("ALLOWED", "BLOCKED", "ERROR"):
        check("scans_total{outcome=%s} counts this process's scans" % o,
              m.get('modelgate_scans_total{outcome="%s"}' % o) == outcomes.count(o), (m, outcomes.count(o)))
    total = sum(m.get('modelgate_scans_total{outcome="%s"}' % o, 0) for o in ("ALLOWED", "BLOCKED", "ERROR"))
    buckets = [(k, v) for k, v in m.items() if k.startswith("modelgate_scan_duration_seconds_bucket")]
    values = [v for _, v in buckets]
    check("duration histogram: cumulative buckets ending in +Inf = _count = scans",
          values == sorted(values) and buckets[-1][0].endswith('le="+Inf"}') and
          values[-1] == m.get("modelgate_scan_duration_seconds_count") == total and
          m.get("modelgate_scan_duration_seconds_sum", -1) >= 0, buckets)
    check("bytes read counted", m.get("modelgate_scan_bytes_read_total", 0) > 0, m.get("modelgate_scan_bytes_read_total"))
    check("queue depth and capacity", m.get("modelgate_queue_depth") == 0 and m.get("modelgate_queue_capacity") == 64,
          (m.get("modelgate_queue_depth"), m.get("modelgate_queue_capacity")))
    check("http requests by status (401s and 200s seen)", m.get('modelgate_http_requests_total{status="401"}', 0) >= 3
          and m.get('modelgate_http_requests_total{status="200"}', 0) >= 10, {k: v for k, v in m.items() if "http" in k})
    check("verdict changes exposed (0 until re-scans exist)", m.get("modelgate_verdict_changes_total") == 0, m)


def route_table():
    """(method, path) of every route in src/server/api.c's table."""
    src = open(os.path.join(ROOT, "src", "server", "api.c")).read()
    table = src[src.index("static const route routes[]"):]
    table = table[:table.index("};")]
    return set(re.findall(r'\{"(GET|POST|PUT|DELETE|PATCH)", "([^"]+)"', table))


def resolve_refs(doc, node, bad):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref":
                cur = doc
                for part in v.lstrip("#/").split("/"):
                    cur = cur.get(part) if isinstance(cur, dict) else None
                if cur is None:
                    bad.append(v)
            else:
                resolve_refs(doc, v, bad)
    elif isinstance(node, list):
        for v in node:
            resolve_refs(doc, v, bad)


def gateway_decisions(svc, reader):
    """The gateway's audit trail on a store the gateway never wrote to (real
    decisions are checked by the gateway suite)."""
    path = "/api/v1/gateway/decisions"
    st, doc, _, _ = svc.request("GET", path, token=reader)
    check("GET %s on a new store: 200, no decisions, no next page" % path,
          st == 200 and doc == {"decisions": [], "next_cursor": None}, (st, doc))
    st, _, _, _ = svc.request("GET", path)
    check("GET %s without a token: 401" % path, st == 401, st)
    for bad in ("outcome=PENDING", "outcome=allowed", "limit=0", "limit=1001", "limit=x", "cursor=xyz",
                "repo=g%20pt2", "repo=a/b/c", "repo=a/", "since=yesterday"):
        st, doc, _, _ = svc.request("GET", path + "?" + bad, token=reader)
        check("GET %s?%s: 400 with a reason" % (path, bad), st == 400 and (doc or {}).get("error"), (st, doc))
    st, doc, _, _ = svc.request("GET", path + "?outcome=BLOCKED&repo=ns/name&since=2025-01-01T00:00:00Z&limit=5",
                                token=reader)
    check("GET %s with every filter: 200" % path, st == 200 and doc == {"decisions": [], "next_cursor": None},
          (st, doc))


def openapi(svc, reader):
    st, doc, text, _ = svc.request("GET", "/api/v1/openapi.json", token=reader)
    with open(os.path.join(ROOT, "docs", "openapi.json"), "rb") as f:
        committed = f.read()
    check("GET /api/v1/openapi.json: docs/openapi.json byte for byte", st == 200 and text == committed, st)
    doc = doc or {}
    bad = []
    resolve_refs(doc, doc, bad)
    ops = {(m.upper(), p) for p, item in doc.get("paths", {}).items() for m in item if m != "parameters"}
    well_formed = all(isinstance(item[m].get("responses"), dict) and item[m]["responses"] and
                      all("description" in r or "$ref" in r for r in item[m]["responses"].values())
                      for p, item in doc.get("paths", {}).items() for m in item)
    check("the document parses as OpenAPI 3.0 (version, info, responses, every $ref resolves)",
          str(doc.get("openapi", "")).startswith("3.0.") and doc.get("info", {}).get("title") and well_formed and
          not bad, bad)
    routes = route_table()
    check("the router's routes are exactly the documented operations", routes and routes == ops,
          (sorted(routes - ops), sorted(ops - routes)))
    uuid0 = "00000000-0000-4000-8000-000000000000"
    for method, path in sorted(ops):
        st, _, _, _ = svc.request(method, path.replace("{uuid}", uuid0), token=reader, raw=b"")
        documented = set(doc["paths"][path][method.lower()]["responses"])
        check("%s %s answers a documented status (%d)" % (method, path, st), str(st) in documented and st != 405,
              (st, sorted(documented)))
    for path, item in doc.get("paths", {}).items():
        for method in {"GET", "POST", "PUT", "DELETE"} - {m.upper() for m in item}:
            st, _, _, _ = svc.request(method, path.replace("{uuid}", uuid0), token=svc.admin, raw=b"{}")
            check("%s %s (undocumented) is 405" % (method, path), st == 405, st)


def migrated_v1(data, tampered_report):
    """A store written by the first schema (migration 1), with a token and a
    scan, is migrated in place on start and keeps serving both."""
    os.makedirs(data)
    db = sqlite3.connect(os.path.join(data, "modelgate.db"))
    token = "mg_" + "ab" * 32
    rep = json.loads(tampered_report)
    db.executescript(
        "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL);"
        "INSERT INTO schema_migrations VALUES (1, '2025-01-01T00:00:00.000Z');"
        "CREATE TABLE tokens (id INTEGER PRIMARY KEY, hash TEXT NOT NULL UNIQUE, role TEXT NOT NULL CHECK "
        "(role IN ('admin', 'scanner', 'reader')), created_at TEXT NOT NULL);"
        "CREATE TABLE models (uuid TEXT PRIMARY KEY, model_uri TEXT NOT NULL, namespace TEXT NOT NULL, "
        "model_name TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
        "CREATE TABLE scans (seq INTEGER PRIMARY KEY, uuid TEXT NOT NULL UNIQUE, model_uuid TEXT NOT NULL, "
        "model_uri TEXT NOT NULL, eval_outcome TEXT NOT NULL, created_at TEXT NOT NULL, report TEXT NOT NULL);"
        "CREATE INDEX scans_by_time ON scans (created_at, seq);"
        "CREATE INDEX scans_by_model ON scans (model_uuid, created_at);")
    db.execute("INSERT INTO tokens (hash, role, created_at) VALUES (?, 'admin', '2025-01-01T00:00:00.000Z')",
               (hashlib.sha256(token.encode()).hexdigest(),))
    db.execute("INSERT INTO models VALUES (?, ?, ?, ?, ?, ?)", (rep["model_uuid"], rep["model_uri"], rep["namespace"],
               rep["model_name"], rep["created_at"], rep["created_at"]))
    db.execute("INSERT INTO scans (uuid, model_uuid, model_uri, eval_outcome, created_at, report) VALUES "
               "(?, ?, ?, ?, ?, ?)", (rep["uuid"], rep["model_uuid"], rep["model_uri"], rep["eval_outcome"],
                                      rep["created_at"], tampered_report))
    db.commit()
    db.close()
    svc = Service(BIN, data)
    try:
        check("v1 store: no new admin token (one exists)", svc.admin is None, svc.lines)
        st, got, text, _ = svc.request("GET", "/api/v1/scans/" + rep["uuid"], token=token)
        check("v1 store: the old token and the old report still work", st == 200 and text == tampered_report.encode(),
              st)
        st, m, _, _ = svc.request("GET", "/api/v1/models/" + rep["model_uuid"], token=token)
        v = ((m or {}).get("versions") or [{}])[0]
        check("v1 store: versions backfilled from the stored report", st == 200 and
              v.get("model_version_uuid") == rep["model_version_uuid"] and v.get("revision") == rep["revision"], m)
        st, doc, _, _ = svc.request("GET", "/api/v1/scans?outcome=BLOCKED", token=token)
        check("v1 store: old rows are finished scans", st == 200 and [r["uuid"] for r in doc["scans"]] ==
              [rep["uuid"]], doc)
    finally:
        rc = svc.stop()
    db = sqlite3.connect(os.path.join(data, "modelgate.db"))
    versions = [r[0] for r in db.execute("SELECT version FROM schema_migrations ORDER BY version")]
    db.close()
    check("v1 store: migrated to the current schema, stopped cleanly", versions == [1, 2, 3, 4, 5, 6, 7] and rc == 0,
          (versions, rc))


def store_created(data):
    sqlite_file = os.path.exists(os.path.join(data, "modelgate.db"))
    if not test_store():
        check("SQLite file created", sqlite_file)
        return
    try:
        versions = [r[0] for r in store_rows(data, "SELECT version FROM schema_migrations ORDER BY version")]
    except RuntimeError as e:
        versions = e
    check("--store postgresql://: every migration applied in the database, no SQLite file under --data",
          isinstance(versions, list) and versions and versions == list(range(1, len(versions) + 1)) and
          not sqlite_file, (versions, sqlite_file))


def after_restart(svc, data, clean_uuid, tampered_uuid, policy):
    check("restart creates no new admin token", svc.admin is None, svc.lines)
    scanner = svc.token(BIN, "scanner")
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=100", token=scanner)
    uuids = [s.get("uuid") for s in (doc or {}).get("scans", [])]
    check("scans persist across a restart", st == 200 and clean_uuid in uuids and tampered_uuid in uuids, (st, uuids))
    st, rep, _, _ = svc.request("GET", "/api/v1/scans/%s" % tampered_uuid, token=scanner)
    check("stored report survives the restart", st == 200 and rep and rep.get("eval_outcome") == "BLOCKED", st)
    st, pol, _, _ = svc.request("GET", "/api/v1/policies", token=scanner)
    check("restart loads the newest stored policy", st == 200 and pol == policy, (pol, policy))
    check("the start-up line names the policy version", any("policy version 1" in line for line in svc.lines),
          svc.lines)


def main():
    work = tempfile.mkdtemp(prefix="mg-service-")
    data = os.path.join(work, "data")
    svc = None
    try:
        svc = Service(BIN, data)
        store_created(data)
        clean_uuid, tampered_uuid, reader = first_run(svc, data)
        scan_bodies(svc, reader)
        model_uuid = filters(svc, reader, clean_uuid, tampered_uuid)
        models(svc, reader, model_uuid, tampered_uuid)
        catalog_and_tokens(svc, reader)
        gateway_decisions(svc, reader)
        openapi(svc, reader)
        metrics(svc, reader)
        policy = policies(svc, reader, data)
        _, _, tampered_text, _ = svc.request("GET", "/api/v1/scans/" + tampered_uuid, token=reader)
        rc = svc.stop()
        check("SIGTERM stops the service cleanly (exit 0, no sanitizer report)", rc == 0, rc)
        svc = Service(BIN, data)
        after_restart(svc, data, clean_uuid, tampered_uuid, policy)
        rc = svc.stop()
        check("second stop clean", rc == 0, rc)
        svc = None
        if test_store():
            print("ok v1 store migrated in place (skipped on PostgreSQL: the first schema only ever was a SQLite file)")
        else:
            migrated_v1(os.path.join(work, "v1"), tampered_text.decode())
    except Exception as e:  # a crash of the test itself is a failure, not a silent pass
        check("service test ran to the end", False, repr(e))
    finally:
        if svc is not None:
            svc.stop()
        if check.failed and svc is not None:
            print("--- serve.log ---")
            print(svc.stderr()[-4000:])
        shutil.rmtree(work, ignore_errors=True)
    return check.summary()


sys.exit(main())
