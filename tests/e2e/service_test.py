#!/usr/bin/python3
"""service_test.py BINARY - the scanner service end to end: the real binary
(`modelgate serve`) on 127.0.0.1 with a free port, a real SQLite file in a
temporary --data directory, --root the repository's examples/ folder.

Checks health, bearer tokens and roles (a reader token made with
`modelgate token create` beside the running service), scans of the clean and
the tampered example, the stored report served back unchanged, the --root
confinement, malformed JSON and the body size limit, and that the scans
survive a SIGTERM and a restart on the same data directory. The service is
stopped at the end whatever happens. Prints ok/FAIL per check and a closing
"N passed, N failed" line.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.path.abspath(sys.argv[1])
ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")

passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name, detail)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One `modelgate serve` process; its stdout is read until it listens."""

    def __init__(self, data, port):
        self.port = port
        self.log = open(os.path.join(data, "serve.log"), "ab")
        self.proc = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:%d" % port, "--data", data, "--root", EXAMPLES],
            stdout=subprocess.PIPE, stderr=self.log, cwd=data)
        self.admin = None
        self.lines = []
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.startswith("admin token: "):
                self.admin = line.split()[-1]
            if "listening on" in line:
                return
        raise RuntimeError("service did not start: %r" % self.lines)

    def stop(self):
        """SIGTERM, then SIGKILL if it does not stop; returns the exit code."""
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

    def request(self, method, path, body=None, token=None, raw=None, chunks=None):
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if chunks is not None:
            headers["Transfer-Encoding"] = "chunked"
        try:
            if chunks is not None:
                conn.request(method, path, body=iter(chunks), headers=headers, encode_chunked=True)
            else:
                conn.request(method, path, body=data, headers=headers)
            r = conn.getresponse()
            text = r.read()
        finally:
            conn.close()
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = None
        return r.status, doc, text


def oversized_body_status(port, length):
    """Declares a body over the limit and sends none: the answer must come
    before the body is read (a real client would otherwise upload it all)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
        s.sendall(b"POST /api/v1/scans HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % length)
        head = s.recv(4096).decode(errors="replace")
    parts = head.split(" ", 2)
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


def files_with(report, threat):
    out = set()
    for v in report.get("policy_violations") or []:
        for i in v.get("issues_by_file") or []:
            if i.get("threat") == threat:
                out.add(os.path.basename(i.get("file", "")))
    for f in report.get("files") or []:
        for fd in f.get("findings") or []:
            if fd.get("threat") == threat:
                out.add(os.path.basename(f.get("path", "")))
    return out


def first_run(svc, data):
    check("first start prints an admin token", bool(svc.admin and svc.admin.startswith("mg_")), svc.lines)
    st, doc, _ = svc.request("GET", "/healthz")
    check("healthz 200 without a token", st == 200 and doc == {"status": "ok"}, (st, doc))
    st, _, _ = svc.request("GET", "/api/v1/scans")
    check("no token: 401", st == 401, st)
    st, _, _ = svc.request("GET", "/api/v1/scans", token="mg_" + "0" * 64)
    check("unknown token: 401", st == 401, st)

    p = subprocess.run([BIN, "token", "create", "--role", "reader", "--data", data],
                       capture_output=True, timeout=60)
    out = p.stdout.decode().strip().splitlines()
    reader = out[-1] if out else ""
    check("token create prints the token last", p.returncode == 0 and reader.startswith("mg_"), (p.returncode, out))
    st, doc, _ = svc.request("GET", "/api/v1/scans", token=reader)
    check("reader can list scans", st == 200 and isinstance(doc, dict) and "scans" in doc, (st, doc))
    clean = os.path.join(EXAMPLES, "clean-model")
    st, doc, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": clean}, token=reader)
    check("reader cannot create scans: 403", st == 403, (st, doc))

    st, rep, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": clean}, token=svc.admin)
    check("clean model: 200 ALLOWED", st == 200 and rep and rep.get("eval_outcome") == "ALLOWED", (st, rep))
    clean_uuid = (rep or {}).get("uuid")

    tampered = "file://" + os.path.join(EXAMPLES, "tampered-model")
    st, rep, text = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": tampered}, token=svc.admin)
    check("tampered model (file://): 200 BLOCKED", st == 200 and rep and rep.get("eval_outcome") == "BLOCKED", (st, rep))
    rep = rep or {}
    check("report names extra_data.pkl with MG-PKL-100", "extra_data.pkl" in files_with(rep, "MG-PKL-100"),
          files_with(rep, "MG-PKL-100"))
    tampered_uuid = rep.get("uuid")

    st, got, got_text = svc.request("GET", "/api/v1/scans/%s" % tampered_uuid, token=reader)
    check("GET by uuid returns the same report", st == 200 and got == rep, st)
    check("GET by uuid returns the stored bytes", got_text == text, len(got_text))
    st, _, _ = svc.request("GET", "/api/v1/scans/00000000-0000-4000-8000-000000000000", token=reader)
    check("unknown uuid: 404", st == 404, st)
    st, _, _ = svc.request("GET", "/api/v1/scans/../../etc", token=reader)
    check("malformed uuid: 404", st == 404, st)

    st, doc, _ = svc.request("POST", "/api/v1/scans", {"model_uri": clean}, token=svc.admin)
    check("without wait: 202 with a uuid", st == 202 and doc and len(doc.get("uuid", "")) == 36, (st, doc))
    st, got, _ = svc.request("GET", "/api/v1/scans/%s" % (doc or {}).get("uuid"), token=reader)
    check("the 202 scan is stored", st == 200 and got and got.get("eval_outcome") == "ALLOWED", st)

    for uri in ("/etc/passwd", os.path.join(EXAMPLES, "..", "Makefile"), "file:///etc", "/nonexistent/x"):
        st, doc, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": uri}, token=svc.admin)
        check("outside --root: 403 with a reason (%s)" % uri, st == 403 and doc and "root" in doc.get("error", ""),
              (st, doc))
    st, doc, _ = svc.request("POST", "/api/v1/scans", {"model_uri": "s3://bucket/x"}, token=svc.admin)
    check("unsupported scheme: 400", st == 400 and doc and "scheme" in doc.get("error", ""), (st, doc))

    st, doc, _ = svc.request("POST", "/api/v1/scans", raw=b'{"model_uri": "x",\n  oops}', token=svc.admin)
    err = (doc or {}).get("error", "")
    check("malformed JSON: 400 naming line and column", st == 400 and "line 2" in err and "column" in err, (st, doc))
    st, doc, _ = svc.request("POST", "/api/v1/scans", raw=b'{"model_uri": "a", "model_uri": "b"}',
                             token=svc.admin)
    check("duplicate keys: 400", st == 400, (st, doc))
    st, doc, _ = svc.request("POST", "/api/v1/scans", {"license": "mit"}, token=svc.admin)
    check("missing model_uri: 400", st == 400 and "model_uri" in (doc or {}).get("error", ""), (st, doc))
    check("body over 1 MiB: 413", oversized_body_status(svc.port, 2 << 20) == 413)
    st, doc, _ = svc.request("POST", "/api/v1/scans", chunks=[b" " * (64 << 10)] * 17, token=svc.admin)
    check("chunked body over 1 MiB: 413", st == 413, st)
    st, doc, _ = svc.request("POST", "/api/v1/scans", chunks=[b'{"model_uri": ', b'"/etc"}'], token=svc.admin)
    check("chunked body under the limit is read whole", st == 403, (st, doc))

    st, doc, _ = svc.request("GET", "/api/v1/scans?limit=2", token=reader)
    scans = (doc or {}).get("scans", [])
    check("list: limit and newest first", st == 200 and len(scans) == 2 and scans[1].get("uuid") == tampered_uuid,
          (st, scans))
    st, _, _ = svc.request("GET", "/api/v1/scans?limit=0", token=reader)
    check("list: bad limit 400", st == 400, st)
    return clean_uuid, tampered_uuid


def after_restart(svc, clean_uuid, tampered_uuid):
    check("restart creates no new admin token", svc.admin is None, svc.lines)
    p = subprocess.run([BIN, "token", "create", "--role", "scanner", "--data", svc_data],
                       capture_output=True, timeout=60)
    scanner = p.stdout.decode().strip().splitlines()[-1] if p.stdout.strip() else ""
    st, doc, _ = svc.request("GET", "/api/v1/scans?limit=100", token=scanner)
    uuids = [s.get("uuid") for s in (doc or {}).get("scans", [])]
    check("scans persist across a restart", st == 200 and clean_uuid in uuids and tampered_uuid in uuids, (st, uuids))
    st, rep, _ = svc.request("GET", "/api/v1/scans/%s" % tampered_uuid, token=scanner)
    check("stored report survives the restart", st == 200 and rep and rep.get("eval_outcome") == "BLOCKED", st)


svc_data = tempfile.mkdtemp(prefix="mg-service-")
svc = None
try:
    port = free_port()
    svc = Service(svc_data, port)
    check("SQLite file created", os.path.exists(os.path.join(svc_data, "modelgate.db")))
    ids = first_run(svc, svc_data)
    rc = svc.stop()
    check("SIGTERM stops the service cleanly (exit 0, no sanitizer report)", rc == 0, rc)
    svc = Service(svc_data, free_port())
    after_restart(svc, *ids)
    rc = svc.stop()
    check("second stop clean", rc == 0, rc)
    svc = None
except Exception as e:  # a crash of the test itself is a failure, not a silent pass
    check("service test ran to the end", False, repr(e))
finally:
    if svc is not None:
        svc.stop()
    log = os.path.join(svc_data, "serve.log")
    if failed and os.path.exists(log):
        print("--- serve.log ---")
        print(open(log, errors="replace").read()[-4000:])
    shutil.rmtree(svc_data, ignore_errors=True)

print("%d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)
