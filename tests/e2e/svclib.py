"""svclib.py - what the service suites share (service_test.py,
service_ops_test.py): the ok/FAIL counter, a free port, one real
`modelgate serve` process read until it listens, HTTP requests to it, polling
a scan until it is finished, and a model folder big enough that scanning it
takes a noticeable time (many real pickle files: no test-only switch in the
service makes anything slow).
"""
import http.client
import json
import os
import pickle
import signal
import socket
import subprocess
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")


class Checks:
    def __init__(self):
        self.passed = self.failed = 0

    def __call__(self, name, cond, detail=""):
        if cond:
            self.passed += 1
            print("ok", name)
        else:
            self.failed += 1
            print("FAIL", name, str(detail)[:2000])
        return cond

    def summary(self):
        print("%d passed, %d failed" % (self.passed, self.failed))
        return 1 if self.failed else 0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Service:
    """One `modelgate serve` process; its stdout is read until it listens.
    `args` replace the default flags (--listen, --data, --root EXAMPLES);
    `env` is added to the environment (MODELGATE_*, AWS_* and HF_* variables
    are removed first and HOME is the data folder, so the caller's settings
    never leak in)."""

    def __init__(self, binary, data, port=None, args=None, env=None, roots=None, expect_start=True):
        self.port = port or free_port()
        self.data = data
        os.makedirs(data, exist_ok=True)
        self.log_path = os.path.join(data, "serve.log")
        self.log = open(self.log_path, "ab")
        if args and "--listen" in args:
            self.port = int(args[args.index("--listen") + 1].rsplit(":", 1)[1])
        if args is None:
            args = ["--listen", "127.0.0.1:%d" % self.port, "--data", data]
            for r in roots or [EXAMPLES]:
                args += ["--root", r]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "AWS_", "HF_"))}
        full_env["HOME"] = data  # no ~/.aws of the machine's
        full_env.update(env or {})
        self.proc = subprocess.Popen([binary, "serve"] + args, stdout=subprocess.PIPE, stderr=self.log, cwd=data,
                                     env=full_env)
        self.admin = None
        self.lines = []
        self.started = False
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stdout.readline().decode(errors="replace")
            if not line:
                break
            self.lines.append(line.rstrip("\n"))
            if line.startswith("admin token: "):
                self.admin = line.split()[-1]
            if "listening on" in line:
                self.started = True
                return
        if expect_start:
            raise RuntimeError("service did not start: %r %s" % (self.lines, self.stderr()[-2000:]))

    def stderr(self):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Sends `sig` (SIGTERM: then SIGKILL if it does not stop); returns
        the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()
        return self.proc.returncode

    def request(self, method, path, body=None, token=None, raw=None, chunks=None, headers=None, timeout=120):
        """(status, parsed JSON or None, raw bytes, lowercase headers)."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        hdrs = {"Content-Type": "application/json"}
        hdrs.update(headers or {})
        if token:
            hdrs["Authorization"] = "Bearer " + token
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        if chunks is not None:
            hdrs["Transfer-Encoding"] = "chunked"
        try:
            if chunks is not None:
                conn.request(method, path, body=iter(chunks), headers=hdrs, encode_chunked=True)
            else:
                conn.request(method, path, body=data, headers=hdrs)
            r = conn.getresponse()
            text = r.read()
            got_headers = {k.lower(): v for k, v in r.getheaders()}
        finally:
            conn.close()
        try:
            doc = json.loads(text) if text else None
        except ValueError:
            doc = None
        return r.status, doc, text, got_headers

    def token(self, binary, role):
        p = subprocess.run([binary, "token", "create", "--role", role, "--data", self.data], capture_output=True,
                           timeout=60)
        out = p.stdout.decode().strip().splitlines()
        return out[-1] if p.returncode == 0 and out else ""

    def wait_done(self, uuid, token, timeout=120):
        """Polls GET /api/v1/scans/{uuid} until it is finished; the last
        (status, document)."""
        deadline = time.time() + timeout
        st, doc = 0, None
        while time.time() < deadline:
            st, doc, _, _ = self.request("GET", "/api/v1/scans/%s" % uuid, token=token)
            if st != 200 or (doc or {}).get("eval_outcome") != "PENDING":
                return st, doc
            time.sleep(0.1)
        return st, doc


def make_big_model(folder, nfiles=2000):
    """A folder of `nfiles` small, clean pickles: every one is read, hashed and
    judged, so a scan of the folder takes about a second under the sanitizers."""
    os.makedirs(folder, exist_ok=True)
    blob = pickle.dumps({"w%d" % i: list(range(50)) for i in range(200)}, protocol=2)
    for i in range(nfiles):
        with open(os.path.join(folder, "part%05d.pkl" % i), "wb") as f:
            f.write(blob)
    return folder


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
