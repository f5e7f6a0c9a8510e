#!/usr/bin/python3
"""hub_test.py BINARY - the Hugging Face hub source against a stand-in hub.

tests/e2e/standin_hub.py runs as real processes on 127.0.0.1 (a hub port and
a second "CDN" port, so LFS redirects cross origins), serving repos written
here. build/test/hub_probe (src/sources linked under the sanitizers) opens
hf:// and https:// URIs, lists them and reads byte ranges; the stand-in's
request log shows which requests were made, with which Range and which
Authorization. Checked: listing and pagination, revisions (branch, tag, sha,
refs/pr/N), ranged reads of regular and LFS files compared with the files,
the token sent to the hub and never to the CDN, renamed repos, errors
(unknown repo/revision, private hub, 500, timeout), and what is refused: other
hosts in URIs, next-page links that leave the hub, non-HTTP redirects, too
many redirects. Datasets and spaces (hf://datasets/NS/NAME, HUB/spaces/...)
are listed, paged and read through their own API and file paths; legacy
one-segment model ids (hf://gpt2) are asked for at /api/models/gpt2 (the
stand-in serves none, so only the requests are checked); malformed type paths
are refused before any request. Then BINARY (`modelgate scan`) end to end: a
clean repo ALLOWED, a repo with a malicious pickle BLOCKED, a 5 GiB (sparse)
safetensors file judged from its header ranges only, and datasets and spaces
judged like models, with their own identity (namespace, name, model_uuid,
denied_orgs). A few checks of the
stand-in itself keep it faithful for the gateway's tests. Prints ok/FAIL per
check and "N passed, N failed".
"""
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
PROBE = os.path.join(ROOT, "build", "test", "hub_probe")
SRC_OK, SRC_EINVAL, SRC_ENOTFOUND, SRC_EDENIED, SRC_EUPSTREAM, SRC_ELIMIT = 0, -2, -3, -4, -5, -6

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import Checks, StandInHub, model_card, safetensors_header, write_file, write_tree  # noqa: E402

check = Checks()


class StandIn(StandInHub):
    """A stand-in hub with its request log in `work`; stopped by stop()."""

    def __init__(self, root, work, *flags):
        super().__init__(root, tempfile.mktemp(suffix=".jsonl", dir=work), "--port", "0", *flags)

    def clear_log(self):
        open(self.log_path, "w").close()


def probe(hub, uri, *reads, token=None, timeout=None, max_files=None, endpoint=None):
    """Runs hub_probe; reads are (path, off, len, outfile)."""
    args = [PROBE, "--endpoint", endpoint or hub.url]
    if token:
        args += ["--token", token]
    if timeout:
        args += ["--timeout", str(timeout)]
    if max_files:
        args += ["--max-files", str(max_files)]
    args.append(uri)
    for r in reads:
        args += [r[0], str(r[1]), str(r[2]), r[3]]
    out = subprocess.run(args, capture_output=True, text=True, timeout=120)
    try:
        doc = json.loads(out.stdout)
    except ValueError:
        doc = {"rc": None, "err": "probe output: %r stderr: %r" % (out.stdout, out.stderr[-3000:])}
    if out.returncode != 0 or out.stderr.strip():
        doc["stderr"] = out.stderr[-3000:]
    return doc


def blob_oid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def small_safetensors(n_floats):
    head, size = safetensors_header(n_floats)
    return head + bytes(range(256)) * (4 * n_floats // 256) + bytes(4 * n_floats % 256)


CARD = model_card("apache-2.0")
# posix.system("whoami") as a protocol-2 pickle; never loaded, only scanned
EVIL_PICKLE = b"\x80\x02cposix\nsystem\nX\x06\x00\x00\x00whoami\x85R."


def make_repos(root):
    """The repos every stand-in serves; returns {name: {path: bytes}} of main."""
    files = {}
    tiny = {"config.json": b'{"model_type": "bert"}\n', "README.md": CARD,
            "model.safetensors": small_safetensors(1024),  # 4 KiB of data: LFS at threshold 1024
            "sub/dir/tokenizer.json": b'{"version": "1.0"}\n',
            "weird name+%ü.txt": b"a file name that must be percent-encoded\n",
            "empty.txt": b""}
    files["tiny"] = tiny
    write_tree(os.path.join(root, "acme/tiny/main"), tiny)
    write_file(os.path.join(root, "acme/tiny/dev/config.json"), b'{"model_type": "gpt2"}\n')
    write_file(os.path.join(root, "acme/tiny/refs%2Fpr%2F1/pr.txt"), b"from a pull request\n")
    write_file(os.path.join(root, "acme/tiny/.tags.json"), b'{"v1.0": "main"}')
    many = {"f%02d.txt" % i: b"file %d\n" % i for i in range(25)}
    files["many"] = many
    write_tree(os.path.join(root, "acme/many/main"), many)
    clean = {"README.md": CARD, "config.json": b'{"model_type": "bert"}\n', "model.safetensors": small_safetensors(2048)}
    files["clean"] = clean
    write_tree(os.path.join(root, "acme/clean/main"), clean)
    evil = dict(clean)
    evil["extra_data.pkl"] = EVIL_PICKLE
    write_tree(os.path.join(root, "acme/evil/main"), evil)
    # 5 GiB declared, written sparse: only the header is real
    head, size = safetensors_header((5 << 30) // 4)
    write_file(os.path.join(root, "acme/huge/main/README.md"), CARD)
    write_file(os.path.join(root, "acme/huge/main/model.safetensors"), head)
    os.truncate(os.path.join(root, "acme/huge/main/model.safetensors"), size)
    write_file(os.path.join(root, "datasets/acme/data/main/train.csv"), b"a,b\n1,2\n")
    # datasets and spaces, and a model with a dataset's name (a wrong type must show)
    data = {"train.csv": b"a,b\n1,2\n", "README.md": CARD, "data/weights.safetensors": small_safetensors(512),
            "data/notes.txt": b"notes\n"}
    files["data"] = data
    write_tree(os.path.join(root, "datasets/acme/data/main"), data)
    write_file(os.path.join(root, "datasets/acme/data/dev/README.md"), CARD)
    write_file(os.path.join(root, "acme/data/main/model-not-dataset.txt"), b"the model acme/data\n")
    dmany = {"d%02d.txt" % i: b"row %d\n" % i for i in range(25)}
    files["dmany"] = dmany
    write_tree(os.path.join(root, "datasets/acme/dmany/main"), dmany)
    write_tree(os.path.join(root, "datasets/acme/evil/main"), evil)
    app = {"README.md": CARD, "app.json": b'{"sdk": "static"}\n', "weights/model.safetensors": small_safetensors(300)}
    files["app"] = app
    write_tree(os.path.join(root, "spaces/acme/app/main"), app)
    return files


def test_listing(hub, files, work):
    sha = hub.commit("acme/tiny")
    r = probe(hub, "hf://acme/tiny")
    check("list: opens hf://acme/tiny", r["rc"] == SRC_OK, r)
    if r["rc"] != SRC_OK:
        return
    check("list: identity ns/name/rev (rev is the commit sha)",
          (r["ns"], r["name"], r["rev"]) == ("acme", "tiny", sha) and len(sha) == 40, r)
    objs = {o["path"]: o for o in r["objects"]}
    tiny = files["tiny"]
    check("list: every file, directories left out", sorted(objs) == sorted(tiny), sorted(objs))
    check("list: sizes", all(objs[p]["size"] == len(d) for p, d in tiny.items() if p in objs))
    st = tiny["model.safetensors"]
    lfs = objs.get("model.safetensors", {})
    check("list: LFS file carries sha256 = etag = the content's sha256",
          lfs.get("sha256") == hashlib.sha256(st).hexdigest() == lfs.get("etag"), lfs)
    cfg = objs.get("config.json", {})
    check("list: regular file etag = git blob oid, no sha256",
          cfg.get("etag") == blob_oid(tiny["config.json"]) and cfg.get("sha256") is None, cfg)
    log = hub.log()
    check("list: the revision is resolved once, the tree listed at the sha",
          any(e["path"].startswith("/api/models/acme/tiny/revision/main") for e in log) and
          any(e["path"].startswith("/api/models/acme/tiny/tree/%s?" % sha) and "recursive=true" in e["path"]
              for e in log), [e["path"] for e in log])


def test_reads(hub, files, work):
    tiny = files["tiny"]
    st = tiny["model.safetensors"]
    out = os.path.join(work, "reads")
    os.makedirs(out, exist_ok=True)
    reads = [("config.json", 0, len(tiny["config.json"]), os.path.join(out, "a")),
             ("config.json", 3, 5, os.path.join(out, "b")),
             ("model.safetensors", 0, 8, os.path.join(out, "c")),
             ("model.safetensors", 1000, 777, os.path.join(out, "d")),
             ("model.safetensors", len(st) - 10, 10, os.path.join(out, "e")),
             ("sub/dir/tokenizer.json", 2, 4, os.path.join(out, "f")),
             ("weird name+%ü.txt", 0, len(tiny["weird name+%ü.txt"]), os.path.join(out, "g")),
             ("empty.txt", 0, 0, os.path.join(out, "h"))]
    hub.clear_log()
    r = probe(hub, "hf://acme/tiny", *reads)
    check("read: probe ran", r["rc"] == SRC_OK and len(r.get("reads", [])) == len(reads), r)
    for rd, spec in zip(r.get("reads", []), reads):
        path, off, n, f = spec
        with open(f, "rb") as fh:
            got = fh.read()
        want = tiny[path][off:off + n]
        check("read: %s [%d, +%d) equals the file" % (path, off, n),
              rd["rc"] == SRC_OK and got[off:off + n] == want and len(got) == off + n, (rd, got[off:off + 20]))
    log = hub.log()
    ranges = [(e["listener"], e["path"], e["range"]) for e in log if "/resolve/" in e["path"] or e["listener"] == "cdn"]
    check("read: exactly the asked ranges were requested, by commit sha",
          all(e[2] for e in ranges) and ("hub", "/acme/tiny/resolve/%s/config.json" % r["rev"], "bytes=3-7") in ranges,
          ranges)
    check("read: LFS bytes come from the CDN origin, regular files from the hub",
          any(e[0] == "cdn" and e[2] == "bytes=1000-1776" for e in ranges) and
          not any(e[0] == "cdn" and "config" in e[1] for e in ranges), ranges)
    check("read: file paths are percent-encoded",
          any(e[1].endswith("/weird%20name%2B%25%C3%BC.txt") for e in ranges), ranges)
    check("read: an empty range makes no request", not any("empty.txt" in e[1] for e in ranges), ranges)


def test_revisions(hub, files):
    main = hub.commit("acme/tiny")
    pr = hub.commit("acme/tiny", "refs/pr/1")
    dev = hub.commit("acme/tiny", "dev")
    check("rev: three different commits", len({main, pr, dev}) == 3 and None not in (main, pr, dev))
    r = probe(hub, "hf://acme/tiny@v1.0")
    check("rev: a tag resolves to its branch's commit", r["rc"] == SRC_OK and r.get("rev") == main, r)
    r = probe(hub, "hf://acme/tiny@" + main)
    check("rev: a commit sha", r["rc"] == SRC_OK and r.get("rev") == main, r)
    hub.clear_log()
    r = probe(hub, "hf://acme/tiny@refs/pr/1")
    check("rev: refs/pr/1 lists that revision's files",
          r["rc"] == SRC_OK and r.get("rev") == pr and [o["path"] for o in r["objects"]] == ["pr.txt"], r)
    check("rev: the revision is percent-encoded in the API path",
          any(e["path"].startswith("/api/models/acme/tiny/revision/refs%2Fpr%2F1") for e in hub.log()),
          [e["path"] for e in hub.log()])
    r = probe(hub, hub.url + "/acme/tiny/tree/refs%2Fpr%2F1")
    check("rev: https URI with /tree/REV", r["rc"] == SRC_OK and r.get("rev") == pr, r)
    r = probe(hub, hub.url + "/acme/tiny/tree/dev/", endpoint=hub.url + "/")
    check("rev: https URI with a trailing slash, endpoint with one too", r["rc"] == SRC_OK and r.get("rev") == dev, r)
    r = probe(hub, hub.url + "/acme/tiny")
    check("rev: https URI without revision is main", r["rc"] == SRC_OK and r.get("rev") == main, r)


def test_pagination(hub, files):
    hub.clear_log()
    r = probe(hub, "hf://acme/many")
    pages = [e for e in hub.log() if "/tree/" in e["path"]]
    check("pages: 25 files over pages of 4 all listed",
          r["rc"] == SRC_OK and sorted(o["path"] for o in r["objects"]) == sorted(files["many"]), r.get("err"))
    check("pages: the Link rel=next pages were followed (7 requests)",
          len(pages) == 7 and all("cursor=" in e["path"] for e in pages[1:]), [e["path"] for e in pages])
    r = probe(hub, "hf://acme/many", max_files=10)
    check("pages: more files than max_files is SRC_ELIMIT", r["rc"] == SRC_ELIMIT and "10" in r["err"], r)


def test_types(hub, files, work):
    """Datasets and spaces: their own API paths (/api/datasets/...) and file
    paths (/datasets/NS/NAME/resolve/...), from hf:// and https:// URIs."""
    out = os.path.join(work, "types")
    os.makedirs(out, exist_ok=True)
    cases = [("hf://datasets/acme/data", "dataset", "acme/data", "data"),
             (hub.url + "/datasets/acme/data/tree/main", "dataset", "acme/data", "data"),
             ("hf://spaces/acme/app", "space", "acme/app", "app"),
             (hub.url + "/spaces/acme/app/", "space", "acme/app", "app")]
    for uri, kind, repo, key in cases:
        api, prefix = kind + "s", kind + "s/"
        sha = hub.commit(repo, kind=api)
        want = files[key]
        reads = [(p, 0, len(d), os.path.join(out, "%s-%d" % (key, i))) for i, (p, d) in enumerate(sorted(want.items()))]
        hub.clear_log()
        r = probe(hub, uri, *reads)
        check("types: %s opens as a %s (ns, name, commit, type)" % (uri, kind),
              r["rc"] == SRC_OK and (r.get("ns"), r.get("name"), r.get("rev"), r.get("type")) ==
              tuple(repo.split("/")) + (sha, kind) and sha, r)
        if r["rc"] != SRC_OK:
            continue
        check("types: %s lists the %s's files (not the model's)" % (uri, kind),
              sorted(o["path"] for o in r["objects"]) == sorted(want), r["objects"])
        got_all = True
        for rd, (path, _, n, f) in zip(r.get("reads", []), reads):
            with open(f, "rb") as fh:
                got_all = got_all and rd["rc"] == SRC_OK and fh.read() == want[path]
        check("types: %s: every file read equals the %s's" % (uri, kind), got_all and len(r["reads"]) == len(reads), r)
        log = hub.log()
        paths = [e["path"] for e in log if e["listener"] == "hub"]
        check("types: %s: revision and tree asked at /api/%s/%s/" % (uri, api, repo),
              any(p.startswith("/api/%s/%s/revision/main?" % (api, repo)) for p in paths) and
              any(p.startswith("/api/%s/%s/tree/%s?" % (api, repo, sha)) for p in paths) and
              not any(p.startswith("/api/models/") for p in paths), paths)
        resolves = [p for p in paths if "/resolve/" in p]
        check("types: %s: files read at /%s%s/resolve/SHA/..., LFS ones via the CDN" % (uri, prefix, repo),
              resolves and all(p.startswith("/%s%s/resolve/%s/" % (prefix, repo, sha)) for p in resolves) and
              any(e["listener"] == "cdn" for e in log), (resolves, [e["listener"] for e in log]))

    sha = hub.commit("acme/data", "dev", "datasets")
    for uri in ("hf://datasets/acme/data@dev", hub.url + "/datasets/acme/data/tree/dev",
                "hf://datasets/acme/data@" + sha):
        r = probe(hub, uri)
        check("types: %s is the dataset's dev commit" % uri,
              r["rc"] == SRC_OK and r.get("rev") == sha and [o["path"] for o in r["objects"]] == ["README.md"], r)

    hub.clear_log()
    r = probe(hub, "hf://datasets/acme/dmany")
    pages = [e["path"] for e in hub.log() if "/tree/" in e["path"]]
    check("types: a dataset's 25 files over pages of 4, every Link followed under /api/datasets/",
          r["rc"] == SRC_OK and sorted(o["path"] for o in r["objects"]) == sorted(files["dmany"]) and
          len(pages) == 7 and all(p.startswith("/api/datasets/acme/dmany/tree/") for p in pages), (r.get("err"), pages))
    r = probe(hub, "hf://datasets/acme/nope")
    check("types: an unknown dataset -> SRC_EDENIED naming datasets/acme/nope",
          r["rc"] == SRC_EDENIED and "datasets/acme/nope revision main" in r["err"], r)
    r = probe(hub, "hf://acme/data")
    check("types: hf://acme/data is the model, not the dataset",
          r["rc"] == SRC_OK and r.get("type") == "model" and
          [o["path"] for o in r["objects"]] == ["model-not-dataset.txt"], r)

    # legacy one-segment model ids: the stand-in serves none, so the requests tell
    for uri, want in (("hf://gpt2", "/api/models/gpt2/revision/main?expand=sha"),
                      ("hf://gpt2@refs/pr/1", "/api/models/gpt2/revision/refs%2Fpr%2F1?expand=sha"),
                      (hub.url + "/gpt2", "/api/models/gpt2/revision/main?expand=sha"),
                      (hub.url + "/gpt2/tree/v1.0", "/api/models/gpt2/revision/v1.0?expand=sha"),
                      (hub.url + "/gpt2/tree/refs%2Fpr%2F1", "/api/models/gpt2/revision/refs%2Fpr%2F1?expand=sha"),
                      (hub.url + "/acme/tree", "/api/models/acme/tree/revision/main?expand=sha"),
                      (hub.url + "/acme/tree/tree/dev", "/api/models/acme/tree/revision/dev?expand=sha")):
        hub.clear_log()
        r = probe(hub, uri)
        paths = [e["path"] for e in hub.log()]
        label = want[len("/api/models/"):want.index("/revision/")]
        check("one-segment: %s asks %s" % (uri, want),
              paths == [want] and r["rc"] == SRC_EDENIED and "for %s revision" % label in r["err"], (paths, r))


def test_errors(hub, private, work):
    r = probe(hub, "hf://acme/nope")
    check("error: unknown repo, anonymous: 401 RepoNotFound -> SRC_EDENIED",
          r["rc"] == SRC_EDENIED and "401" in r["err"] and "no hub token" in r["err"], r)
    r = probe(private, "hf://acme/nope", token="s3cret")
    check("error: unknown repo with a token: 404 -> SRC_ENOTFOUND",
          r["rc"] == SRC_ENOTFOUND and "Repository not found" in r["err"], r)
    r = probe(hub, "hf://acme/tiny@nope")
    check("error: unknown revision -> SRC_ENOTFOUND with the hub's message",
          r["rc"] == SRC_ENOTFOUND and "Invalid rev id: nope" in r["err"], r)
    r = probe(private, "hf://acme/tiny")
    check("error: private hub without a token -> SRC_EDENIED", r["rc"] == SRC_EDENIED, r)
    r = probe(private, "hf://acme/tiny", token="wrong")
    check("error: private hub with a wrong token -> SRC_EDENIED",
          r["rc"] == SRC_EDENIED and "Invalid credentials" in r["err"], r)


def test_token(private, files, work):
    out = os.path.join(work, "tok")
    st = files["tiny"]["model.safetensors"]
    private.clear_log()
    r = probe(private, "hf://acme/tiny", ("model.safetensors", 16, 100, out), ("config.json", 0, 4, out + "2"),
              token="s3cret")
    ok = r["rc"] == SRC_OK and all(x["rc"] == SRC_OK for x in r.get("reads", []))
    with open(out, "rb") as f:
        got = f.read()[16:116]
    check("token: private hub lists and reads with the token", ok and got == st[16:116], r)
    log = private.log()
    hub_reqs = [e for e in log if e["listener"] == "hub"]
    cdn_reqs = [e for e in log if e["listener"] == "cdn"]
    check("token: every hub request carries Authorization: Bearer",
          hub_reqs and all(e["auth"] == "Bearer s3cret" for e in hub_reqs), hub_reqs)
    check("token: the LFS redirect to the CDN origin drops Authorization",
          len(cdn_reqs) == 1 and cdn_reqs[0]["auth"] is None and cdn_reqs[0]["range"] == "bytes=16-115", cdn_reqs)
    ws = files["data"]["data/weights.safetensors"]
    private.clear_log()
    r = probe(private, "hf://datasets/acme/data", ("data/weights.safetensors", 8, 40, out + "3"), token="s3cret")
    with open(out + "3", "rb") as f:
        got = f.read()[8:48]
    log = private.log()
    check("token: a dataset on a private hub: read with the token, which the CDN never gets",
          r["rc"] == SRC_OK and (r.get("reads") or [{}])[0].get("rc") == SRC_OK and got == ws[8:48] and
          all(e["auth"] == "Bearer s3cret" for e in log if e["listener"] == "hub") and
          [e["auth"] for e in log if e["listener"] == "cdn"] == [None], (r, log))


def test_faults(root, work, files):
    h = StandIn(root, work, "--fail-status", "500")
    try:
        r = probe(h, "hf://acme/tiny", ("config.json", 0, 4, os.path.join(work, "f500")))
        rd = (r.get("reads") or [{}])[0]
        check("fault: 500 on resolve -> SRC_EUPSTREAM (the listing still works)",
              r["rc"] == SRC_OK and rd.get("rc") == SRC_EUPSTREAM and "500" in rd.get("err", ""), r)
    finally:
        h.stop()
    h = StandIn(root, work, "--fail-status", "503", "--fault-match", "/tree/")
    try:
        r = probe(h, "hf://acme/tiny")
        check("fault: 503 on the listing -> SRC_EUPSTREAM", r["rc"] == SRC_EUPSTREAM and "503" in r["err"], r)
    finally:
        h.stop()
    h = StandIn(root, work, "--ignore-range")
    try:
        cfg = files["tiny"]["config.json"]
        out = os.path.join(work, "norange")
        r = probe(h, "hf://acme/tiny", ("config.json", 4, 6, out), ("config.json", 0, 6, out + "2"),
                  ("config.json", 0, len(cfg), out + "3"))
        rd = r.get("reads") or [{}, {}, {}]
        with open(out, "rb") as f:
            untouched = f.read() == b""
        with open(out + "3", "rb") as f:
            whole = f.read() == cfg
        check("fault: a 200 with the whole file for a range at 4 is refused before writing anything",
              rd[0].get("rc") == SRC_EUPSTREAM and "different byte range" in rd[0].get("err", "") and untouched, r)
        check("fault: ... for a range at 0 it is refused once past the range",
              rd[1].get("rc") == SRC_EUPSTREAM and "more bytes" in rd[1].get("err", ""), r)
        check("fault: ... and accepted for a whole-file read", rd[2].get("rc") == SRC_OK and whole, r)
    finally:
        h.stop()
    h = StandIn(root, work, "--delay-ms", "4000")
    try:
        t0 = time.time()
        r = probe(h, "hf://acme/tiny", ("config.json", 0, 4, os.path.join(work, "fdelay")), timeout=1)
        took = time.time() - t0
        rd = (r.get("reads") or [{}])[0]
        check("fault: a read that times out -> SRC_EUPSTREAM within the timeout",
              rd.get("rc") == SRC_EUPSTREAM and "imeout" in rd.get("err", "") and took < 3.5, (r, took))
    finally:
        h.stop()


def test_refusals(hub, root, work, files):
    for uri, why in [("https://example.com/acme/tiny", "another host"),
                     ("http://localhost:%d/acme/tiny" % hub.port, "same port, other host name"),
                     ("http://127.0.0.1:%d/acme/tiny" % hub.cdn_port, "another port"),
                     ("hf://acme/../etc", "dot-dot"),
                     ("hf://", "no repo"),
                     ("hf:///tiny", "empty namespace"),
                     ("hf://acme//tiny", "empty segment"),
                     ("hf://acme/tiny//", "two trailing slashes"),
                     (hub.url + "/datasets/acme/data//", "two trailing slashes"),
                     (hub.url + "//acme/tiny", "an empty first segment"),
                     ("hf://acme/tiny/x", "three segments"),
                     ("hf://datasets", "datasets without a repo"),
                     ("hf://datasets/", "datasets/ without a repo"),
                     ("hf://datasets/acme", "a dataset without a namespace"),
                     ("hf://datasets@main", "the type alone, with a revision"),
                     ("hf://spaces/app@main", "a space without a namespace"),
                     ("hf://datasets/acme/data/x", "a dataset with three segments"),
                     ("hf://datasets/acme/..", "a dataset named .."),
                     ("hf://datasets/spaces/acme/app", "two types"),
                     (hub.url + "/datasets", "HUB/datasets"),
                     (hub.url + "/spaces/acme", "HUB/spaces/NS"),
                     (hub.url + "/datasets/acme/tree/main", "a dataset NS at a revision"),
                     (hub.url + "/datasets/acme/data/tree", "tree without a revision"),
                     (hub.url + "/datasets/acme/data/blob/main/train.csv", "a dataset blob URL"),
                     (hub.url + "/spaces/acme/app/tree/refs/pr/1", "an unencoded '/' in the revision"),
                     (hub.url + "/acme/tiny/tree/a%00b", "%00 in the revision"),
                     (hub.url + "/gpt2/blob/main", "a one-segment id with something else than tree"),
                     ("hf://acme/tiny@has space", "blank in revision"),
                     (hub.url + "/acme/tiny?x=1", "query"),
                     (hub.url + "/acme/tiny/blob/main/config.json", "not a tree URL")]:
        hub.clear_log()
        r = probe(hub, uri)
        check("refuse: %s (%s) -> SRC_EINVAL, nothing requested" % (uri, why),
              r["rc"] == SRC_EINVAL and r["err"] and not hub.log(), r)
    r = probe(hub, "https://example.com/acme/tiny")
    check("refuse: the message names the configured hub", hub.url in r["err"], r)

    # a next-page link to another origin that would answer (a second stand-in): never followed
    other = StandIn(root, work, "--page-size", "4")
    h = StandIn(root, work, "--page-size", "4", "--link-base", other.url)
    try:
        r = probe(h, "hf://acme/many")
        check("refuse: a tree Link to another origin", r["rc"] == SRC_EUPSTREAM and "refused" in r["err"], r)
        check("refuse: ... and the other origin got no request", other.log() == [], other.log())
    finally:
        h.stop()
    # an LFS Location that is not http(s)
    h = StandIn(root, work, "--lfs-threshold", "1024", "--cdn-base", "ftp://127.0.0.1:%d" % other.port)
    try:
        r = probe(h, "hf://acme/tiny", ("model.safetensors", 0, 8, os.path.join(work, "ftp")))
        rd = (r.get("reads") or [{}])[0]
        check("refuse: a redirect to ftp://", rd.get("rc") == SRC_EUPSTREAM and "refused" in rd.get("err", ""), r)
    finally:
        h.stop()
        other.stop()
    # redirect hops: 1 (hub -> CDN) + 2 relative CDN hops = 3 is fine, 4 is not
    st = files["tiny"]["model.safetensors"]
    for hops, ok in ((2, True), (3, False)):
        h = StandIn(root, work, "--lfs-threshold", "1024", "--cdn-hops", str(hops), "--token", "s3cret")
        try:
            out = os.path.join(work, "hops%d" % hops)
            r = probe(h, "hf://acme/tiny", ("model.safetensors", 8, 64, out), token="s3cret")
            rd = (r.get("reads") or [{}])[0]
            if ok:
                with open(out, "rb") as f:
                    got = f.read()[8:72]
                cdn = [e for e in h.log() if e["listener"] == "cdn"]
                check("redirects: 3 hops followed (relative ones stay on the CDN, still without the token)",
                      rd.get("rc") == SRC_OK and got == st[8:72] and len(cdn) == 3 and
                      all(e["auth"] is None for e in cdn), (r, cdn))
            else:
                check("redirects: a 4th hop is refused",
                      rd.get("rc") == SRC_EUPSTREAM and "redirects" in rd.get("err", ""), r)
        finally:
            h.stop()


def test_rename(root, work):
    h = StandIn(root, work, "--rename", "acme/old=acme/tiny", "--lfs-threshold", "1024")
    try:
        out = os.path.join(work, "ren")
        r = probe(h, "hf://acme/old", ("config.json", 0, 5, out), ("model.safetensors", 0, 8, out + "2"))
        reads = r.get("reads") or []
        check("rename: a renamed repo's relative 307s are followed (API and reads)",
              r["rc"] == SRC_OK and r.get("rev") == h.commit("acme/tiny") and reads and
              all(x["rc"] == SRC_OK for x in reads), r)
        codes = [e["status"] for e in h.log() if e["path"].startswith(("/api/models/acme/old", "/acme/old"))]
        check("rename: ... through the hub's 307 answers", codes and set(codes) == {307}, codes)
    finally:
        h.stop()


def test_standin(hub, files):
    """The stand-in answers what the Hub's clients need (hub-and-s3.md §2-§4)."""
    sha = hub.commit("acme/tiny")
    cfg = files["tiny"]["config.json"]
    st, h, body = hub.request("HEAD", "/acme/tiny/resolve/main/config.json")
    check("standin: HEAD of a regular file: 200, real Content-Length, ETag, X-Repo-Commit, Accept-Ranges",
          st == 200 and h.get("content-length") == str(len(cfg)) and h.get("etag") == '"%s"' % blob_oid(cfg) and
          h.get("x-repo-commit") == sha and h.get("accept-ranges") == "bytes" and body == b"", (st, h))
    st, h, body = hub.request("GET", "/acme/tiny/resolve/%s/config.json" % sha, headers={"Range": "bytes=-4"})
    check("standin: suffix Range -> 206 + Content-Range",
          st == 206 and body == cfg[-4:] and h.get("content-range") == "bytes %d-%d/%d" % (
              len(cfg) - 4, len(cfg) - 1, len(cfg)), (st, h))
    st, h, _ = hub.request("GET", "/acme/tiny/resolve/main/config.json", headers={"Range": "bytes=999-"})
    check("standin: unsatisfiable Range -> 416", st == 416 and h.get("content-range") == "bytes */%d" % len(cfg))
    model = files["tiny"]["model.safetensors"]
    st, h, _ = hub.request("HEAD", "/acme/tiny/resolve/main/model.safetensors")
    loc = urllib.parse.urlsplit(h.get("location", ""))
    check("standin: LFS HEAD -> 302 to the CDN origin with X-Linked-Size/-Etag",
          st == 302 and loc.port == hub.cdn_port and h.get("x-linked-size") == str(len(model)) and
          h.get("x-linked-etag") == '"%s"' % hashlib.sha256(model).hexdigest() and h.get("x-repo-commit") == sha,
          (st, h))
    st, h, body = hub.request("GET", loc.path + "?" + loc.query, headers={"Range": "bytes=0-15"}, port=hub.cdn_port)
    check("standin: the CDN serves the signed URL with Range", st == 206 and body == model[:16], (st, h))
    st, _, _ = hub.request("GET", loc.path + "?" + loc.query.replace("Signature=", "Signature=0"), port=hub.cdn_port)
    check("standin: the CDN refuses a forged signature", st == 403, st)
    st, h, _ = hub.request("GET", "/acme/tiny/resolve/main/nope.txt")
    check("standin: unknown file -> 404 EntryNotFound with X-Repo-Commit",
          st == 404 and h.get("x-error-code") == "EntryNotFound" and h.get("x-repo-commit") == sha, (st, h))
    st, _, body = hub.request("POST", "/api/models/acme/tiny/paths-info/" + sha,
                              body=json.dumps({"paths": ["config.json", "nope"], "expand": True}),
                              headers={"Content-Type": "application/json"})
    doc = json.loads(body) if st == 200 else []
    check("standin: paths-info (JSON body, expand): known paths only, with lastCommit",
          [e["path"] for e in doc] == ["config.json"] and doc[0]["lastCommit"]["id"] == sha, doc)
    st, _, body = hub.request("POST", "/api/models/acme/tiny/paths-info/main",
                              body="paths=sub&paths=model.safetensors&expand=False",
                              headers={"Content-Type": "application/x-www-form-urlencoded"})
    doc = json.loads(body) if st == 200 else []
    check("standin: paths-info (form body): a directory and an LFS file",
          sorted(e["path"] for e in doc) == ["model.safetensors", "sub"] and
          all("lastCommit" not in e for e in doc), doc)
    st, _, body = hub.request("GET", "/api/models/acme/tiny/tree/main/sub?recursive=True&expand=False")
    doc = json.loads(body) if st == 200 else []
    check("standin: tree of a folder, recursive=True",
          [e["path"] for e in doc] == ["sub/dir", "sub/dir/tokenizer.json"], doc)
    st, _, body = hub.request("GET", "/api/models/acme/tiny/revision/main?expand=sha&expand=private")
    check("standin: expand= keeps only those keys", st == 200 and sorted(json.loads(body)) == [
        "_id", "id", "private", "sha"], body)
    st, _, body = hub.request("GET", "/api/models/acme/tiny")
    doc = json.loads(body) if st == 200 else {}
    check("standin: repo info lists siblings", sorted(s["rfilename"] for s in doc.get("siblings", [])) ==
          sorted(files["tiny"]), doc)
    st, _, body = hub.request("GET", "/acme/tiny/raw/main/model.safetensors")
    check("standin: /raw/ of an LFS file is its pointer",
          st == 200 and body.startswith(b"version https://git-lfs") and
          ("oid sha256:" + hashlib.sha256(model).hexdigest()).encode() in body, body[:200])
    check("standin: revision HEAD is main", hub.commit("acme/tiny", "HEAD") == sha)
    st, h, body = hub.request("GET", "/datasets/acme/data/resolve/main/train.csv")
    check("standin: datasets/ prefix", st == 200 and body == b"a,b\n1,2\n", (st, h))


def cli_scan(hub, uri, work, env_extra=None, flags=()):
    env = dict(os.environ)
    env.pop("HF_TOKEN", None)
    env.pop("MODELGATE_HUB_TOKEN", None)
    env["MODELGATE_HUB_ENDPOINT"] = hub.url
    env.update(env_extra or {})
    out = subprocess.run([BIN, "scan", "--format", "json"] + list(flags) + [uri], capture_output=True, text=True,
                         timeout=300, env=env, cwd=work)
    try:
        doc = json.loads(out.stdout)
    except ValueError:
        doc = None
    return out.returncode, doc, out.stderr


def test_cli(hub, private, work):
    helptext = subprocess.run([BIN, "scan", "--help"], capture_output=True, text=True).stdout
    if "hf://" not in helptext:
        print("skip: `modelgate scan --help` does not mention hf:// yet; CLI scans not run")
        return
    sha = hub.commit("acme/clean")
    rc, doc, err = cli_scan(hub, "hf://acme/clean", work)
    check("cli: a clean safetensors repo is ALLOWED (exit 0)",
          rc == 0 and doc and doc.get("eval_outcome") == "ALLOWED", (rc, err, doc and doc.get("policy_violations")))
    if doc:
        check("cli: the report names the repo and the commit",
              (doc.get("namespace"), doc.get("model_name"), doc.get("revision")) == ("acme", "clean", sha) and
              "acme/clean" in doc.get("model_uri", ""), {k: doc.get(k) for k in (
                  "model_uri", "namespace", "model_name", "revision")})
    rc, doc, err = cli_scan(hub, hub.url + "/acme/evil", work)
    issues = json.dumps(doc.get("policy_violations")) if doc else ""
    check("cli: a repo with a posix.system pickle is BLOCKED (exit 1), the file named",
          rc == 1 and doc and doc.get("eval_outcome") == "BLOCKED" and "extra_data.pkl" in issues, (rc, err, issues))
    hub.clear_log()
    rc, doc, err = cli_scan(hub, "hf://acme/huge", work)
    check("cli: a 5 GiB (sparse) safetensors repo is ALLOWED", rc == 0 and doc and
          doc.get("eval_outcome") == "ALLOWED", (rc, err, doc and doc.get("policy_violations")))
    st, _, body = hub.request("GET", "/api/models/acme/huge/tree/main")
    huge = [e for e in json.loads(body) if e["path"] == "model.safetensors"][0] if st == 200 else {}
    oid = huge.get("lfs", {}).get("oid", "?")
    reqs = [e for e in hub.log() if "model.safetensors" in e["path"] or oid in e["path"]]
    fetched = 0
    whole = False
    for e in reqs:
        m = e["range"] and e["range"].startswith("bytes=") and e["range"][6:].split("-")
        if not m or not m[0] or not m[1]:
            whole = True
            continue
        fetched += int(m[1]) - int(m[0]) + 1
    check("cli: ... its bytes were read by ranges only, under 1 MiB of %d" % huge.get("size", 0),
          reqs and not whole and 0 < fetched <= (1 << 20) and huge.get("size", 0) > (5 << 30),
          (fetched, [(e["listener"], e["range"]) for e in reqs]))

    test_cli_types(hub, work)

    private.clear_log()
    rc, doc, err = cli_scan(private, "hf://acme/clean", work, {"MODELGATE_HUB_TOKEN": "s3cret"})
    log = private.log()
    check("cli: a private hub with MODELGATE_HUB_TOKEN: ALLOWED, token to the hub only",
          rc == 0 and doc and doc.get("eval_outcome") == "ALLOWED" and
          all(e["auth"] == "Bearer s3cret" for e in log if e["listener"] == "hub") and
          any(e["listener"] == "cdn" for e in log) and
          all(e["auth"] is None for e in log if e["listener"] == "cdn"), (rc, err, log))
    for uri, env, what in (("hf://acme/clean", {}, "no token on a private hub"),
                           ("hf://acme/nope", {"MODELGATE_HUB_TOKEN": "s3cret"}, "an unknown repo")):
        rc, doc, err = cli_scan(private, uri, work, env)
        errors = [f.get("error", "") for f in (doc or {}).get("files", []) if f.get("status") == "ERROR"]
        check("cli: %s is never ALLOWED; the report says why" % what,
              rc != 0 and doc and doc.get("eval_outcome") != "ALLOWED" and errors and "the hub answered" in errors[0],
              (rc, err, doc))


def test_cli_types(hub, work):
    """Datasets and spaces through `modelgate scan`: judged like models, and
    named in the report as the repos they are (not as a model `datasets/NS`)."""
    reports = {}
    for uri, repo, api in (("hf://datasets/acme/data", "acme/data", "datasets"),
                           (hub.url + "/datasets/acme/data/tree/main", "acme/data", "datasets"),
                           ("hf://spaces/acme/app", "acme/app", "spaces")):
        sha = hub.commit(repo, kind=api)
        rc, doc, err = cli_scan(hub, uri, work)
        reports[uri] = doc or {}
        check("cli: %s is ALLOWED (exit 0) at its commit, model_uri as given" % uri,
              rc == 0 and doc and doc.get("eval_outcome") == "ALLOWED" and doc.get("revision") == sha and
              doc.get("model_uri") == uri, (rc, err, doc and doc.get("policy_violations")))
        check("cli: %s: the report's namespace and model_name are %s" % (uri, repo),
              doc and (doc.get("namespace"), doc.get("model_name")) == tuple(repo.split("/")),
              doc and {k: doc.get(k) for k in ("namespace", "model_name", "model_uuid")})
    rc, doc, err = cli_scan(hub, hub.url + "/datasets/acme/evil", work)
    issues = json.dumps(doc.get("policy_violations")) if doc else ""
    check("cli: a dataset with a posix.system pickle is BLOCKED (exit 1), the file named",
          rc == 1 and doc and doc.get("eval_outcome") == "BLOCKED" and "extra_data.pkl" in issues, (rc, err, issues))
    evil = doc or {}
    rc, model, err = cli_scan(hub, "hf://acme/data", work)
    uuids = [d.get("model_uuid") for d in (reports["hf://datasets/acme/data"], reports["hf://spaces/acme/app"],
                                           evil, model or {})]
    check("cli: the dataset acme/data, the space acme/app, the dataset acme/evil and the model acme/data "
          "are four models (four model_uuids)", None not in uuids and len(set(uuids)) == 4, uuids)
    check("cli: hf://datasets/acme/data and HUB/datasets/acme/data/tree/main are one model",
          reports["hf://datasets/acme/data"].get("model_uuid") ==
          reports[hub.url + "/datasets/acme/data/tree/main"].get("model_uuid"), reports)
    pol = os.path.join(work, "deny-acme.yaml")
    with open(pol, "w") as f:
        f.write("policies:\n  org-not-blocked:\n    denied_orgs: [acme]\n")
    for uri in ("hf://datasets/acme/data", "hf://spaces/acme/app"):
        rc, doc, err = cli_scan(hub, uri, work, flags=("--policy", pol))
        issues = json.dumps(doc.get("policy_violations")) if doc else ""
        check("cli: denied_orgs [acme] blocks %s" % uri,
              rc == 1 and doc and doc.get("eval_outcome") == "BLOCKED" and "blocked organization `acme`" in issues,
              (rc, err, issues))
    rc, doc, err = cli_scan(hub, "hf://datasets/acme", work)
    check("cli: hf://datasets/acme is refused as a URI (exit 2), naming the shape",
          rc == 2 and "datasets/NAMESPACE/NAME" in err, (rc, err))


def main():
    work = tempfile.mkdtemp(prefix="hub_test.")
    root = os.path.join(work, "root")
    files = make_repos(root)
    hubs = []
    try:
        hub = StandIn(root, work, "--page-size", "4", "--lfs-threshold", "1024")
        private = StandIn(root, work, "--lfs-threshold", "1024", "--token", "s3cret")
        hubs += [hub, private]
        test_listing(hub, files, work)
        test_reads(hub, files, work)
        test_revisions(hub, files)
        test_pagination(hub, files)
        test_types(hub, files, work)
        test_errors(hub, private, work)
        test_token(private, files, work)
        test_faults(root, work, files)
        test_refusals(hub, root, work, files)
        test_rename(root, work)
        test_standin(hub, files)
        test_cli(hub, private, work)
    finally:
        for h in hubs:
            h.stop()
        shutil.rmtree(work, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
