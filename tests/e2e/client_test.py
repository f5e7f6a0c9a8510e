#!/usr/bin/python3
"""client_test.py BINARY - the clients of the scanner service end to end: the
Python module (clients/python/modelgate_client.py) and `modelgate scan
--server`, against the real service (`BINARY serve` on 127.0.0.1 with a free
port, a temporary --data, --root the repository plus a folder holding an
empty model, which the engine judges ERROR).

Checks outcomes and exit codes (0 ALLOWED, 1 BLOCKED, 2 ERROR, refused or
unreachable), errors carrying the service's text (401, 403), the JSON printed
by `scan --server --format json` against the stored report, SARIF against the
schema subset. The parts of the contract the service does not produce yet
(a 429 with Retry-After, a GET answering PENDING until the scan ends) are
played by a stand-in HTTP server in this process, which counts the requests
each client makes. Prints ok/FAIL per check and "N passed, N failed".
"""
import http.client
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
CLEAN = os.path.join(ROOT, "examples", "clean-model")
TAMPERED = os.path.join(ROOT, "examples", "tampered-model")
CLIENT_PY = os.path.join(ROOT, "clients", "python", "modelgate_client.py")
PY = "/usr/bin/python3"
LOAD_POLICY = "Detected No Arbitrary Code Execution At Model Load Time"
sys.path.insert(0, os.path.dirname(CLIENT_PY))
import modelgate_client as mgc  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import Checks, free_port  # noqa: E402

check = Checks()


# the clients must talk to 127.0.0.1 directly, and take a token only where a check gives one
for k in ("MODELGATE_TOKEN", "http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
    os.environ.pop(k, None)


def env_without_token():
    env = dict(os.environ)
    env.pop("MODELGATE_TOKEN", None)
    return env


def run(args, token=None, env_token=None, timeout=120):
    env = env_without_token()
    if env_token:
        env["MODELGATE_TOKEN"] = env_token
    cmd = list(args)
    if token:
        cmd[2:2] = ["--token", token]
    p = subprocess.run(cmd, capture_output=True, timeout=timeout, env=env)
    return p.returncode, p.stdout.decode(errors="replace"), p.stderr.decode(errors="replace")


def mg_scan(url, *paths, token=None, fmt="text", extra=(), env_token=None):
    return run([BIN, "scan", "--server", url, "--format", fmt, *extra, *paths], token=token, env_token=env_token)


def raw_get(port, path, token):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        conn.request("GET", path, headers={"Authorization": "Bearer " + token})
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


class Service:
    """One `modelgate serve` process, read until it listens."""

    def __init__(self, data, port, roots):
        self.port = port
        self.url = "http://127.0.0.1:%d" % port
        self.log = open(os.path.join(data, "serve.log"), "ab")
        args = [BIN, "serve", "--listen", "127.0.0.1:%d" % port, "--data", data]
        for r in roots:
            args += ["--root", r]
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=self.log, cwd=data)
        lines = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "listening on" in line:
                return
        raise RuntimeError("service did not start: %r" % lines)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode


# ---- a stand-in for what the service does not do yet: 429 and PENDING ----

class Stand:
    """What the stand-in answers, and what it was asked."""
    busy = 0  # POSTs answered 429 before one is taken (-1: all of them)
    retry_after = "0"
    pending = 0  # GETs answered PENDING before the report
    scan_uuid = "0b7c5a3e-1f2d-4c4b-9a8e-5d6f7a8b9c0d"
    report = b"{}"
    posts = gets = 0
    post_times = []


class StandHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, status, body, headers=()):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Stand.posts += 1
        Stand.post_times.append(time.monotonic())
        if Stand.busy < 0 or Stand.posts <= Stand.busy:
            return self.answer(429, b'{"error": "the scan queue is full"}', [("Retry-After", Stand.retry_after)])
        self.answer(202, json.dumps({"uuid": Stand.scan_uuid}).encode())

    def do_GET(self):
        if self.path != "/api/v1/scans/" + Stand.scan_uuid:
            return self.answer(404, b'{"error": "no such scan"}')
        Stand.gets += 1
        if Stand.gets <= Stand.pending:
            return self.answer(200, json.dumps({"uuid": Stand.scan_uuid, "eval_outcome": "PENDING"}).encode())
        self.answer(200, Stand.report)


def stand_reset(busy=0, retry_after="0", pending=0, scan_uuid=Stand.scan_uuid):
    Stand.busy, Stand.retry_after, Stand.pending, Stand.scan_uuid = busy, retry_after, pending, scan_uuid
    Stand.posts = Stand.gets = 0
    Stand.post_times = []


# ---- the checks ----

def python_client(svc, scanner, empty):
    c = mgc.Client(svc.url, token=scanner)
    check("py: health", c.health() == {"status": "ok"})

    rep = c.scan(CLEAN)
    check("py: clean model ALLOWED", rep.get("eval_outcome") == "ALLOWED" and rep.get("files"), rep.get("eval_outcome"))
    check("py: raise_for_blocked passes an ALLOWED report", mgc.raise_for_blocked(rep) is rep)

    try:
        c.scan(TAMPERED, raise_on_blocked=True)
        check("py: tampered model raises ModelBlocked", False, "no exception")
    except mgc.ModelBlocked as e:
        check("py: tampered model raises ModelBlocked", e.report.get("eval_outcome") == "BLOCKED")
        check("py: ModelBlocked names the policy", e.policies == [LOAD_POLICY], e.policies)
        check("py: ModelBlocked's message is one line naming it", LOAD_POLICY in str(e) and "\n" not in str(e), str(e))

    rep = c.scan(TAMPERED)
    check("py: without raise_on_blocked the BLOCKED report is returned", rep.get("eval_outcome") == "BLOCKED")
    try:
        c.raise_for_blocked(rep)
        check("py: raise_for_blocked on a BLOCKED report", False, "no exception")
    except mgc.ModelBlocked as e:
        check("py: raise_for_blocked on a BLOCKED report", e.policies == [LOAD_POLICY], e.policies)

    rep = c.scan(CLEAN, license="gpl-3.0")
    check("py: the license is sent (gpl-3.0 is not approved)", rep.get("eval_outcome") == "BLOCKED"
          and [v.get("policy_name") for v in rep.get("policy_violations") or []] == ["License Is Valid For Use"],
          rep.get("policy_violations"))

    doc = c.scan(CLEAN, wait=False)
    uuid = (doc or {}).get("uuid", "")
    check("py: wait=False returns the scan uuid", len(uuid) == 36, doc)
    got = c.wait_for(uuid)
    check("py: wait_for returns the stored report", got.get("uuid") == uuid and got.get("eval_outcome") == "ALLOWED",
          got.get("eval_outcome"))
    check("py: get_scan", c.get_scan(uuid) == got)
    listed = c.list_scans(limit=2).get("scans", [])
    check("py: list_scans(limit=2), newest first", [s.get("uuid") for s in listed][:1] == [uuid] and len(listed) == 2,
          listed)

    try:
        c.scan(empty)
        check("py: ERROR outcome raises ScanError", False, "no exception")
    except mgc.ScanError as e:
        check("py: ERROR outcome raises ScanError", (e.report or {}).get("eval_outcome") == "ERROR", e)
    try:
        c.scan("/etc")
        check("py: path outside --root: ApiError 403", False, "no exception")
    except mgc.ApiError as e:
        check("py: path outside --root: ApiError 403 with the service's text", e.status == 403 and "root" in e.message,
              (e.status, e.message))
    try:
        mgc.Client(svc.url, token="mg_" + "0" * 64).scan(CLEAN)
        check("py: bad token: ApiError 401", False, "no exception")
    except mgc.ApiError as e:
        check("py: bad token: ApiError 401", e.status == 401 and e.message and "token" in e.message,
              (e.status, e.message))
    os.environ["MODELGATE_TOKEN"] = scanner
    try:
        check("py: token from MODELGATE_TOKEN", mgc.Client(svc.url).scan(CLEAN).get("eval_outcome") == "ALLOWED")
    finally:
        del os.environ["MODELGATE_TOKEN"]
    try:
        mgc.Client(svc.url).list_scans()
        check("py: no token: ApiError 401", False, "no exception")
    except mgc.ApiError as e:
        check("py: no token: ApiError 401", e.status == 401, e.status)

    dead = "http://127.0.0.1:%d" % free_port()
    t0 = time.monotonic()
    try:
        mgc.Client(dead, token=scanner).scan(CLEAN)
        check("py: unreachable service: Unreachable", False, "no exception")
    except mgc.Unreachable as e:
        check("py: unreachable service: a clear, quick error", dead in str(e) and time.monotonic() - t0 < 10, str(e))


def python_cli(svc, scanner, empty):
    base = [PY, CLIENT_PY, "--server", svc.url]
    rc, out, err = run(base + ["scan", CLEAN], token=scanner)
    check("py cli: clean exit 0", rc == 0 and "ALLOWED" in out, (rc, out, err))
    rc, out, err = run(base + ["scan", TAMPERED], token=scanner)
    check("py cli: tampered exit 1 naming the policy", rc == 1 and LOAD_POLICY in out, (rc, out, err))
    rc, out, err = run(base + ["scan", empty], env_token=scanner)
    check("py cli: ERROR exit 2", rc == 2 and "ERROR" in out, (rc, out, err))
    rc, out, err = run(base + ["scan", "/etc"], token=scanner)
    check("py cli: 403 exit 2 with the reason", rc == 2 and "403" in err and "root" in err, (rc, err))
    rc, out, err = run([PY, CLIENT_PY, "--server", "http://127.0.0.1:%d" % free_port(), "scan", CLEAN], token=scanner)
    check("py cli: unreachable exit 2", rc == 2 and "cannot reach" in err, (rc, err))
    rc, out, err = run(base + ["scan", "--json", CLEAN, TAMPERED], token=scanner)
    check("py cli: worst outcome of several wins", rc == 1 and out.count('"eval_outcome"') == 2, (rc, err))


def modelgate_cli(svc, scanner, empty):
    url = svc.url + "/"  # a trailing slash is tolerated
    rc, out, err = mg_scan(url, CLEAN, token=scanner)
    check("scan --server: clean exit 0", rc == 0 and out.startswith("ALLOWED"), (rc, out, err))
    rc, out, err = mg_scan(url, TAMPERED, token=scanner)
    check("scan --server: tampered exit 1", rc == 1 and out.startswith("BLOCKED"), (rc, out, err))
    check("scan --server: text names the policy and the file", LOAD_POLICY in out and "extra_data.pkl" in out
          and "MG-PKL-100" in out, out)
    rc, out, err = mg_scan(url, CLEAN, token=scanner, extra=["--license", "gpl-3.0"])
    check("scan --server --license: sent, and the violation has its sentence (no file)",
          rc == 1 and "License Is Valid For Use" in out and "gpl-3.0" in out, (rc, out, err))
    rc, out, err = mg_scan(url, TAMPERED, token=scanner, extra=["--quiet"])
    check("scan --server --quiet: one line", rc == 1 and len(out.splitlines()) == 1, out)
    rc, out, err = mg_scan(url, empty, env_token=scanner)
    check("scan --server: ERROR outcome exit 2 (token from MODELGATE_TOKEN)", rc == 2 and out.startswith("ERROR"),
          (rc, out, err))
    rc, out, err = mg_scan(url, "/etc", token=scanner)
    check("scan --server: outside --root exit 2 with the 403 reason", rc == 2 and "403" in err and "root" in err,
          (rc, err))
    rc, out, err = mg_scan(url, CLEAN, token="mg_" + "0" * 64)
    check("scan --server: bad token exit 2 with 401", rc == 2 and "401" in err, (rc, err))
    rc, out, err = mg_scan("http://127.0.0.1:%d" % free_port(), CLEAN, token=scanner)
    check("scan --server: unreachable exit 2", rc == 2 and "cannot reach" in err and out == "", (rc, err))
    rc, out, err = mg_scan("ftp://127.0.0.1:1", CLEAN, token=scanner)
    check("scan --server: a non-http URL is a usage error", rc == 2 and "http" in err, (rc, err))
    rc, out, err = mg_scan(url, CLEAN, token=scanner, extra=["--policy", os.devnull])
    check("scan --server: --policy refused", rc == 2 and "--policy" in err, (rc, err))
    rc, out, err = run([BIN, "scan", "--token", scanner, CLEAN])
    check("scan: --token without --server refused", rc == 2 and "--server" in err, (rc, err))

    rc, out, err = mg_scan(url, TAMPERED, token=scanner, fmt="json")
    rep = json.loads(out) if rc == 1 and out else {}
    st, stored = raw_get(svc.port, "/api/v1/scans/%s" % rep.get("uuid"), scanner)
    check("scan --server --format json prints the stored report byte for byte",
          st == 200 and out == stored + ("" if stored.endswith("\n") else "\n"), (rc, st, len(out), len(stored)))

    rc, out, err = mg_scan(url, CLEAN, TAMPERED, token=scanner, fmt="sarif")
    sarif = json.loads(out) if out else {}
    runs = sarif.get("runs", [])
    check("scan --server --format sarif: one run per model, worst exit", rc == 1 and len(runs) == 2, (rc, len(runs)))
    try:
        import jsonschema
        schema = json.load(open(os.path.join(ROOT, "tests", "e2e", "sarif-2.1.0-subset.schema.json")))
        jsonschema.validate(sarif, schema)
        check("scan --server --format sarif: valid against the schema subset", True)
    except Exception as e:  # ValidationError, or a missing module
        check("scan --server --format sarif: valid against the schema subset", False, getattr(e, "message", e))
    if len(runs) == 2:
        r1 = runs[1]
        locs = [r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in r1.get("results", [])]
        check("sarif: the tampered run has MG-PKL-100 in extra_data.pkl, outcome BLOCKED",
              [r["id"] for r in r1["tool"]["driver"]["rules"]] == ["MG-PKL-100"] and locs == ["extra_data.pkl"]
              and r1["properties"]["eval_outcome"] == "BLOCKED"
              and r1["properties"]["policy_violations"] == [LOAD_POLICY], r1.get("properties"))
        check("sarif: the clean run has no results", runs[0]["results"] == [] and
              runs[0]["properties"]["eval_outcome"] == "ALLOWED")

    out_file = os.path.join(tempfile.gettempdir(), "mg-client-%d.json" % os.getpid())
    rc, out, err = mg_scan(url, CLEAN, token=scanner, fmt="json", extra=["--output", out_file])
    try:
        check("scan --server --output FILE", rc == 0 and out == "" and
              json.load(open(out_file)).get("eval_outcome") == "ALLOWED", (rc, err))
    finally:
        if os.path.exists(out_file):
            os.unlink(out_file)


def stand_in_checks(report_text):
    Stand.report = report_text.encode()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), StandHandler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d" % srv.server_address[1]
    try:
        stand_reset(busy=1, retry_after="1", pending=2)
        t0 = time.monotonic()
        rep = mgc.Client(url, token="mg_x").scan("m", poll_interval=0.05)
        check("py: 429 retried, 202 polled through PENDING to the report",
              rep.get("eval_outcome") == "BLOCKED" and Stand.posts == 2 and Stand.gets == 3, (Stand.posts, Stand.gets))
        gap = Stand.post_times[1] - Stand.post_times[0] if len(Stand.post_times) == 2 else 0
        check("py: Retry-After honoured", gap >= 0.9, gap)

        stand_reset(busy=-1)
        try:
            mgc.Client(url, token="mg_x", max_retries=2).scan("m")
            check("py: a queue that stays full: ApiError 429 after max_retries", False, "no exception")
        except mgc.ApiError as e:
            check("py: a queue that stays full: ApiError 429 after max_retries", e.status == 429 and Stand.posts == 3,
                  (e.status, Stand.posts))

        stand_reset(pending=10 ** 6)
        t0 = time.monotonic()
        try:
            mgc.Client(url, token="mg_x").scan("m", poll_interval=0.1, timeout=1)
            check("py: a scan that stays PENDING: ScanError at the timeout", False, "no exception")
        except mgc.ScanError as e:
            check("py: a scan that stays PENDING: ScanError at the timeout", 0.9 < time.monotonic() - t0 < 10, e)

        stand_reset(busy=1, retry_after="1", pending=2)
        rc, out, err = mg_scan(url, "m", token="mg_x", fmt="json")
        gap = Stand.post_times[1] - Stand.post_times[0] if len(Stand.post_times) == 2 else 0
        check("scan --server: 429 retried after Retry-After, PENDING polled",
              rc == 1 and out == report_text + ("" if report_text.endswith("\n") else "\n")
              and Stand.posts == 2 and Stand.gets == 3 and gap >= 0.9, (rc, err, Stand.posts, Stand.gets, gap))

        stand_reset(busy=-1)
        rc, out, err = mg_scan(url, "m", token="mg_x")
        check("scan --server: a queue that stays full: exit 2 after a bounded number of tries",
              rc == 2 and "429" in err and Stand.posts == 6, (rc, err, Stand.posts))

        stand_reset(scan_uuid="../../../etc/passwd")
        rc, out, err = mg_scan(url, "m", token="mg_x")
        check("scan --server: a 202 without a valid uuid is an error, never fetched",
              rc == 2 and Stand.gets == 0 and "uuid" in err, (rc, err, Stand.gets))
    finally:
        srv.shutdown()
        srv.server_close()


data = tempfile.mkdtemp(prefix="mg-client-")
extra_root = tempfile.mkdtemp(prefix="mg-client-root-")
empty = os.path.join(extra_root, "empty-model")
os.mkdir(empty)
svc = None
try:
    svc = Service(data, free_port(), [ROOT, extra_root])
    p = subprocess.run([BIN, "token", "create", "--role", "scanner", "--data", data], capture_output=True, timeout=60)
    lines = p.stdout.decode().strip().splitlines()
    scanner = lines[-1] if lines else ""
    check("a scanner token", p.returncode == 0 and scanner.startswith("mg_"), p.stderr)
    python_client(svc, scanner, empty)
    python_cli(svc, scanner, empty)
    modelgate_cli(svc, scanner, empty)
    blocked = mgc.Client(svc.url, token=scanner).scan(TAMPERED)
    st, text = raw_get(svc.port, "/api/v1/scans/%s" % blocked["uuid"], scanner)
    stand_in_checks(text)
    rc = svc.stop()
    svc = None
    check("the service stops cleanly", rc == 0, rc)
except Exception as e:  # a crash of the test itself is a failure, not a silent pass
    check("client test ran to the end", False, repr(e))
finally:
    if svc is not None:
        svc.stop()
    log = os.path.join(data, "serve.log")
    if check.failed and os.path.exists(log):
        print("--- serve.log ---")
        print(open(log, errors="replace").read()[-4000:])
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(extra_root, ignore_errors=True)

sys.exit(check.summary())
