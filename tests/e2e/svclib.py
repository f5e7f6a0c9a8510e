"""svclib.py - what the end-to-end suites share: the ok/FAIL counter, a free
port, one real `modelgate serve` process read until it listens, HTTP requests
to it, polling a scan until it is finished, and a model folder big enough
that scanning it takes a noticeable time (many real pickle files: no
test-only switch in the service makes anything slow). For the suites that
need more than the service: an npm package installed once under build/node/
(s3rver, @huggingface/hub, playwright-core), the stand-in hub
(tests/e2e/standin_hub.py) as a process with its request log, and the files
the hub suites write into its repos (model cards, safetensors files).
"""
import http.client
import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pglib import test_store  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")
NODE = os.path.join(ROOT, "build", "node")
STANDIN = os.path.join(ROOT, "tests", "e2e", "standin_hub.py")
PY = "/usr/bin/python3"


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


def run_suite(check, prefix, what, steps):
    """Runs steps(work) in a fresh temporary folder and returns the suite's
    exit code: a crash of the test itself is a failure, not a silent pass,
    and when anything failed the tail of every <work>/*/serve.log is shown."""
    work = tempfile.mkdtemp(prefix=prefix)
    try:
        steps(work)
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("%s ran to the end" % what, False, repr(e))
    finally:
        if check.failed:
            for name in sorted(os.listdir(work)):
                log = os.path.join(work, name, "serve.log")
                if os.path.exists(log):
                    print("--- %s/serve.log ---" % name)
                    print(open(log, errors="replace").read()[-2000:])
        shutil.rmtree(work, ignore_errors=True)
    return check.summary()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def store_args(data):
    """["--store", URL] when the suites run on PostgreSQL (MODELGATE_TEST_STORE,
    set by pg_suites.py; the database of the data folder `data`, see
    pglib.test_store), else none: the store is the SQLite file under --data."""
    url = test_store(data)
    return ["--store", url] if url else []


class Service:
    """One `modelgate serve` process; its stdout is read until it listens.
    `args` replace the default flags (--listen, --data, --root EXAMPLES);
    `env` is added to the environment (MODELGATE_*, AWS_* and HF_* variables
    are removed first and HOME is the data folder, so the caller's settings
    never leak in). `--store` is added as store_args() says, unless given."""

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
        if "--store" not in args:
            args = args + store_args(data)
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
        p = subprocess.run([binary, "token", "create", "--role", role, "--data", self.data] + store_args(self.data),
                           capture_output=True, timeout=60)
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


def wait_for(cond, timeout=20):
    """cond() again every 0.1 s until it is truthy (its value is returned)
    or `timeout` seconds passed (None)."""
    deadline = time.time() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.time() >= deadline:
            return None
        time.sleep(0.1)


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


# ---- npm packages ----

def node_modules(name):
    """build/node/<name>/node_modules: where npm_install(name, ...) puts a package."""
    return os.path.join(NODE, name, "node_modules")


def npm_version(modules, package):
    """The version of `package` installed under `modules`, None when there is none."""
    try:
        with open(os.path.join(modules, package, "package.json")) as f:
            return json.load(f).get("version")
    except (OSError, ValueError, AttributeError):
        return None


def npm_install(name, spec, env=None):
    """Installs `spec` ("s3rver@3.7.1", "@huggingface/hub@2.17.5": a pinned
    version) into build/node/<name> with npm; its node_modules folder, or None
    when the package is not there afterwards. When that version is already
    installed nothing runs, so a second run works offline; another version is
    replaced. `env` is added to npm's environment. Only the npm registry is
    reachable from the tests' machines, and npm's output is printed only when
    it fails."""
    package, _, version = spec.rpartition("@")
    if not package or not version:
        raise ValueError("npm_install wants PACKAGE@VERSION, not %r" % spec)
    modules = node_modules(name)
    if npm_version(modules, package) == version:
        return modules
    folder = os.path.dirname(modules)
    os.makedirs(folder, exist_ok=True)
    manifest = os.path.join(folder, "package.json")
    if not os.path.exists(manifest):  # npm would otherwise look for one in the folders above
        with open(manifest, "w") as f:
            f.write('{"name": "modelgate-test-%s", "private": true}\n' % name)
    try:
        r = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--loglevel=error", spec], cwd=folder,
                           capture_output=True, text=True, timeout=300, env=dict(os.environ, **(env or {})))
        if r.returncode != 0:
            print(r.stdout[-2000:], r.stderr[-2000:])
    except (OSError, subprocess.TimeoutExpired) as e:
        print("npm install %s: %s" % (spec, e))
    return modules if npm_version(modules, package) == version else None


# ---- the stand-in hub and its repos ----

def http_request(port, method, path, body=None, headers=None, timeout=60):
    """One request to 127.0.0.1:port: (status, lowercase headers, body).
    Redirects are not followed."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


class StandInHub:
    """One tests/e2e/standin_hub.py process serving ROOT/<repo>/<revision>/
    folders on a hub port and a "CDN" port, logging each request it gets as a
    JSON line to `log_path`; `flags` are its other options (--port,
    --lfs-threshold, --token, ...). It prints where it listens as its first
    line; stop() ends it."""

    def __init__(self, root, log_path, *flags):
        self.log_path = log_path
        self.proc = subprocess.Popen([PY, STANDIN, "--root", root, "--log", log_path] + list(flags),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("stand-in hub did not start: %s" % self.proc.stderr.read().decode())
        info = json.loads(line)
        self.url, self.cdn_url, self.port, self.cdn_port = info["url"], info["cdn_url"], info["port"], info["cdn_port"]

    def log(self):
        """Every request logged so far, oldest first."""
        try:
            with open(self.log_path) as f:
                return [json.loads(x) for x in f if x.strip()]
        except FileNotFoundError:
            return []

    def request(self, method, path, body=None, headers=None, port=None, timeout=30):
        """A request to the hub port (or `port`, the CDN's)."""
        return http_request(port or self.port, method, path, body, headers, timeout)

    def commit(self, repo, rev="main", kind="models", headers=None):
        """The commit `rev` of a repo is at (the revision API), None when refused."""
        st, _, body = self.request("GET", "/api/%s/%s/revision/%s" % (kind, repo, urllib.parse.quote(rev, safe="")),
                                   headers=headers)
        return json.loads(body)["sha"] if st == 200 else None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.proc.stderr.close()


def write_file(path, data):
    """Writes bytes to path, making its folders."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_tree(folder, files):
    """Writes {relative path: bytes} under folder (a repo's revision, say)."""
    for rel, data in files.items():
        write_file(os.path.join(folder, rel), data)


def model_card(license_id):
    """A README.md whose card metadata names the license."""
    return ("---\nlicense: %s\n---\n# A test model\n" % license_id).encode()


def safetensors_header(n_floats, meta=None):
    """The head of a safetensors file holding one F32 tensor of n_floats (the
    8-byte length and the JSON header, padded to 8), and the file's size."""
    header = {"weight": {"dtype": "F32", "shape": [n_floats], "data_offsets": [0, 4 * n_floats]},
              "__metadata__": meta or {"format": "pt"}}
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return len(h).to_bytes(8, "little") + h, 8 + len(h) + 4 * n_floats
