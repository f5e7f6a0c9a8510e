#!/usr/bin/python3
"""rescan_test.py BINARY - continuous checks, end to end with the real
binary, a real SQLite file and real processes on 127.0.0.1:

- "Model Is Unchanged Since Approval" from the store: a folder scanned
  ALLOWED, then one file changed (or one added): BLOCKED by that policy,
  naming the file; another model is judged against its own approval only;
- re-evaluation after PUT /api/v1/policies: a model whose namespace the new
  policy denies gets a new scan, BLOCKED, with the log line, the counter and
  one POST to a webhook served by this test; a model whose verdict does not
  change is re-scanned but not reported;
- `modelgate rescan` offline after a policy was stored while no service ran
  (as a second instance sharing the store would): one line per changed
  verdict, exit 0, the webhook called; nothing to do the second time;
- a service started over a store judged with another policy re-evaluates
  by itself; a webhook that does not answer is logged, never fatal.

Prints ok/FAIL per check and "N passed, N failed".
"""
import http.server
import json
import os
import pickle
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import EXAMPLES, Checks, Service, free_port, store_args, wait_for  # noqa: E402
from pglib import store_run  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checks()
UNCHANGED = "Model Is Unchanged Since Approval"
ORG = "Organization Is Not Blocked"
DENY_B = "policies:\n  org-not-blocked:\n    denied_orgs: [team-b]\n"
DENY_NONE = "policies:\n  org-not-blocked:\n    denied_orgs: []\n"


class Hook(http.server.BaseHTTPRequestHandler):
    posts = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        Hook.posts.append((self.path, self.headers.get("Content-Type"), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def start_hook():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Hook)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def model(root, ns, name):
    d = os.path.join(root, ns, name)
    shutil.copytree(os.path.join(EXAMPLES, "clean-model"), d)
    return d


def scan(svc, token, uri):
    st, doc, _, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": uri}, token=token)
    return doc if st == 200 else {"status": st, "doc": doc}


def violation(doc, name):
    for v in doc.get("policy_violations") or []:
        if v.get("policy_name") == name:
            return v
    return None


def scans_of(svc, token, uri):
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1000", token=token)
    return [s for s in (doc or {}).get("scans", []) if s.get("model_uri") == uri] if st == 200 else []


def metric(svc, token, name):
    st, _, raw, _ = svc.request("GET", "/metrics", token=token)
    for line in raw.decode(errors="replace").splitlines() if st == 200 else []:
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def serve(data, root, cfg):
    port = free_port()
    args = ["--listen", "127.0.0.1:%d" % port, "--data", data, "--root", root, "--config", cfg, "--workers", "2"]
    return Service(BIN, data, args=args)


def store_policy(data, yaml):
    """Stores a policy version the way PUT does, while no service runs."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
    store_run(data, "INSERT INTO policies (version, yaml, digest, created_at) SELECT COALESCE(MAX(version), 0) + 1, ?,"
                    " 'sha256:test', ? FROM policies", (yaml, now))


def test_unchanged(svc, admin, root):
    a = model(root, "team-a", "m1")
    first = scan(svc, admin, a)
    check("unchanged: first scan ALLOWED", first.get("eval_outcome") == "ALLOWED", first)
    again = scan(svc, admin, a)
    check("unchanged: same files again ALLOWED", again.get("eval_outcome") == "ALLOWED", again)
    with open(os.path.join(a, "model.pkl"), "wb") as f:
        f.write(pickle.dumps({"weights": [1, 2, 3, 4]}, protocol=2))
    changed = scan(svc, admin, a)
    v = violation(changed, UNCHANGED)
    check("unchanged: changed file BLOCKED", changed.get("eval_outcome") == "BLOCKED", changed)
    files = [i.get("file", "") for i in (v or {}).get("issues_by_file") or []]
    check("unchanged: violation names model.pkl only", [os.path.basename(f) for f in files] == ["model.pkl"], v)
    check("unchanged: same model, new content version",
          changed.get("model_uuid") == first.get("model_uuid")
          and changed.get("model_version_uuid") != first.get("model_version_uuid"), changed)
    with open(os.path.join(a, "notes.json"), "w") as f:
        f.write("{}")
    added = scan(svc, admin, a)
    names = sorted(os.path.basename(i.get("file", "")) for i in
                   (violation(added, UNCHANGED) or {}).get("issues_by_file") or [])
    check("unchanged: changed and added files named", names == ["model.pkl", "notes.json"], added)
    b = model(root, "team-b", "m2")
    other = scan(svc, admin, b)
    check("unchanged: another model has its own approval", other.get("eval_outcome") == "ALLOWED", other)
    return a, b


def test_policy_change(svc, admin, a, b):
    before_a = len(scans_of(svc, admin, a))
    before_b = len(scans_of(svc, admin, b))
    check("metric starts at 0", metric(svc, admin, "modelgate_verdict_changes_total") == 0)
    st, _, _, _ = svc.request("PUT", "/api/v1/policies", raw=DENY_B.encode(), token=admin)
    check("PUT policy denying team-b", st == 200, st)
    ok = wait_for(lambda: len(scans_of(svc, admin, b)) > before_b and len(scans_of(svc, admin, a)) > before_a
                  and all(s["eval_outcome"] != "PENDING" for s in scans_of(svc, admin, b) + scans_of(svc, admin, a)),
                  60)
    check("re-evaluation scanned both models", ok)
    newest = scans_of(svc, admin, b)[0]
    st, doc, _, _ = svc.request("GET", "/api/v1/scans/%s" % newest["uuid"], token=admin)
    check("team-b model now BLOCKED by " + ORG, st == 200 and doc["eval_outcome"] == "BLOCKED"
          and violation(doc, ORG) is not None, doc)
    check("team-a model re-scanned, still BLOCKED", scans_of(svc, admin, a)[0]["eval_outcome"] == "BLOCKED")
    wait_for(lambda: len(Hook.posts) >= 1, 10)
    log = svc.stderr()
    check("log line for the changed verdict", "modelgate: verdict changed: %s ALLOWED -> BLOCKED" % b in log, log[-800:])
    check("no log line for the unchanged verdict", "verdict changed: %s " % a not in log)
    check("metric counts one change", metric(svc, admin, "modelgate_verdict_changes_total") == 1)
    check("one webhook POST", len(Hook.posts) == 1, Hook.posts)
    if Hook.posts:
        path, ctype, body = Hook.posts[0]
        doc = json.loads(body)
        check("webhook body", path == "/hook" and ctype == "application/json" and doc == {
            "model_uri": b, "model_uuid": scan_model_uuid(svc, admin, newest), "previous": "ALLOWED",
            "current": "BLOCKED", "scan_uuid": newest["uuid"]}, (path, ctype, doc))
    count = len(scans_of(svc, admin, b))
    st, _, _, _ = svc.request("PUT", "/api/v1/policies", raw=DENY_B.encode(), token=admin)
    time.sleep(1.0)
    check("same policy again: nothing re-scanned", st == 200 and len(scans_of(svc, admin, b)) == count)


def scan_model_uuid(svc, admin, row):
    st, doc, _, _ = svc.request("GET", "/api/v1/scans/%s" % row["uuid"], token=admin)
    return doc.get("model_uuid") if st == 200 else None


def test_offline(data, root, cfg, a, b):
    store_policy(data, DENY_NONE)
    Hook.posts.clear()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")}
    p = subprocess.run([BIN, "rescan", "--data", data, "--config", cfg] + store_args(data), capture_output=True, cwd=root, env=env,
                       timeout=120)
    out = p.stdout.decode().splitlines()
    check("rescan exits 0", p.returncode == 0, p.stderr.decode()[-800:])
    check("rescan prints the one changed verdict", out == ["%s BLOCKED -> ALLOWED" % b], out)
    check("rescan logs it", "modelgate: verdict changed: %s BLOCKED -> ALLOWED" % b in p.stderr.decode())
    check("rescan calls the webhook", len(Hook.posts) == 1 and json.loads(Hook.posts[0][2])["current"] == "ALLOWED",
          Hook.posts)
    p = subprocess.run([BIN, "rescan", "--data", data, "--config", cfg] + store_args(data), capture_output=True, cwd=root, env=env,
                       timeout=120)
    check("rescan again: nothing to do", p.returncode == 0 and p.stdout == b"", p.stdout)
    p = subprocess.run([BIN, "rescan", "--bogus"], capture_output=True, timeout=30)
    check("rescan usage error exits 2", p.returncode == 2)


def test_at_start(data, root, cfg, b):
    store_policy(data, DENY_B)
    Hook.posts.clear()
    svc = serve(data, root, cfg)
    try:
        admin = svc.token(BIN, "admin")
        ok = wait_for(lambda: len(Hook.posts) == 1, 60)
        check("start: stale models re-evaluated, webhook called", ok and json.loads(Hook.posts[0][2]).get("current") == "BLOCKED", Hook.posts)
        check("start: newest scan of team-b BLOCKED", scans_of(svc, admin, b)[0]["eval_outcome"] == "BLOCKED")
        check("start: log line", "verdict changed: %s ALLOWED -> BLOCKED" % b in svc.stderr())
    finally:
        check("start: SIGTERM exits 0", svc.stop() == 0)


def test_dead_webhook(data, root, tmp, b):
    store_policy(data, DENY_NONE)
    dead = "http://127.0.0.1:%d/hook" % free_port()
    cfg = os.path.join(tmp, "dead.yaml")
    with open(cfg, "w") as f:
        f.write("webhook_url: %s\n" % dead)
    p = subprocess.run([BIN, "rescan", "--data", data, "--config", cfg] + store_args(data), capture_output=True, cwd=root, timeout=120)
    err = p.stderr.decode()
    check("dead webhook: rescan still exits 0 with the change", p.returncode == 0
          and p.stdout.decode().splitlines() == ["%s BLOCKED -> ALLOWED" % b], (p.returncode, p.stdout, err[-500:]))
    check("dead webhook: the failure is logged", "modelgate: webhook %s: " % dead in err, err[-500:])


def main():
    tmp = tempfile.mkdtemp(prefix="mg-rescan-")
    hook = start_hook()
    try:
        root = os.path.join(tmp, "models")
        os.makedirs(root)
        data = os.path.join(tmp, "data")
        cfg = os.path.join(tmp, "serve.yaml")
        with open(cfg, "w") as f:
            f.write("webhook_url: http://127.0.0.1:%d/hook\n" % hook.server_address[1])
        svc = serve(data, root, cfg)
        try:
            a, b = test_unchanged(svc, svc.admin, root)
            test_policy_change(svc, svc.admin, a, b)
        finally:
            check("SIGTERM exits 0", svc.stop() == 0)
        test_offline(data, root, cfg, a, b)
        test_at_start(data, root, cfg, b)
        test_dead_webhook(data, root, tmp, b)
    finally:
        hook.shutdown()
        shutil.rmtree(tmp, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
