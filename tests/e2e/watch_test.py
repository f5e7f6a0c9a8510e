#!/usr/bin/python3
"""watch_test.py BINARY - watched models, end to end with the real binary,
a real SQLite file and real processes on 127.0.0.1 (`--watch-interval 1`):

- a watch URI outside the roots, of an unwatchable scheme, or missing stops
  the start (exit 2) with a message naming it;
- a watched folder is scanned ALLOWED without any POST, and not again while
  nothing changes (scans counted over several intervals);
- a file changed in it (content and mtime): a new scan, BLOCKED by "Model Is
  Unchanged Since Approval" naming the file, with the verdict-change line
  and the counters; put back byte for byte with its old mtime: scanned
  again, ALLOWED; a same-size rewrite with the mtime set
  back to the nanosecond: scanned again (ctime), BLOCKED;
- after a restart an unchanged folder is not scanned again; one changed
  while the service was down is;
- S3 (s3rver, as s3_test.py runs it): a watched prefix is scanned at start,
  and again, BLOCKED naming the object, after the object is replaced (new
  ETag); with the S3 server gone the listing failure is logged and the
  service keeps serving.

Prints ok/FAIL per check and "N passed, N failed".
"""
import os
import pickle
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import EXAMPLES, Checks, Service, free_port, wait_for  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checks()
UNCHANGED = "Model Is Unchanged Since Approval"


def model(root, ns, name):
    d = os.path.join(root, ns, name)
    shutil.copytree(os.path.join(EXAMPLES, "clean-model"), d)
    return d


def serve(data, root, watch, env=None, expect_start=True, extra=("--watch-interval", "1")):
    args = ["--listen", "127.0.0.1:%d" % free_port(), "--data", data, "--root", root, "--workers", "2"] + list(extra)
    for w in watch:
        args += ["--watch", w]
    return Service(BIN, data, args=args, env=env, expect_start=expect_start)


def scans_of(svc, token, uri):
    """Finished or not, newest first."""
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?limit=1000", token=token)
    return [s for s in (doc or {}).get("scans", []) if s.get("model_uri") == uri] if st == 200 else []


def finished(svc, token, uri):
    return [s for s in scans_of(svc, token, uri) if s.get("eval_outcome") != "PENDING"]


def report(svc, token, uuid):
    st, doc = svc.wait_done(uuid, token)
    return doc if st == 200 else {}


def metric(svc, token, name):
    st, _, raw, _ = svc.request("GET", "/metrics", token=token)
    for line in raw.decode(errors="replace").splitlines() if st == 200 else []:
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def stopped(svc, name):
    rc = svc.stop()
    with open(svc.log_path, errors="replace") as f:
        check(name, rc == 0, f.read()[-1500:])


def named(doc, policy):
    for v in doc.get("policy_violations") or []:
        if v.get("policy_name") == policy:
            return sorted(os.path.basename(i.get("file", "")) for i in v.get("issues_by_file") or [])
    return None


def test_bad_uris(tmp, root):
    for uri, words in [("/etc", "not an existing path under a configured"),
                       (os.path.join(root, "missing"), "not an existing path"),
                       ("hf://org/name", "only local folders")]:
        svc = serve(os.path.join(tmp, "bad"), root, [uri], expect_start=False)
        rc = svc.proc.wait(timeout=30)
        err = svc.stderr()
        svc.stop()
        check("start refused for watch %s" % uri, rc == 2 and ("watch %s" % uri) in err and words in err,
              "rc %s: %s" % (rc, err[-400:]))
    cfg = os.path.join(tmp, "serve.yaml")
    with open(cfg, "w") as f:
        f.write("watch:\n  - %s\n  - /etc\nwatch_interval: 1\n" % root)
    env = {"MODELGATE_WATCH": " %s\t/etc \n" % root}
    for name, kw, words in [("config file", {"extra": ("--config", cfg)}, "watch /etc:"),
                            ("MODELGATE_WATCH", {"env": env}, "watch /etc:"),
                            ("--watch-interval 0", {"extra": ("--watch-interval", "0")}, "from 1 to 86400"),
                            ("MODELGATE_WATCH_INTERVAL", {"env": {"MODELGATE_WATCH_INTERVAL": "x"}},
                             "MODELGATE_WATCH_INTERVAL: watch_interval must be")]:
        svc = serve(os.path.join(tmp, "bad"), root, [], expect_start=False, **kw)
        rc = svc.proc.wait(timeout=30)
        err = svc.stderr()
        svc.stop()
        check("start refused: %s" % name, rc == 2 and words in err, "rc %s: %s" % (rc, err[-400:]))


def test_local(tmp, root, m1, m2):
    data = os.path.join(tmp, "var")
    svc = serve(data, root, [m1, m2])
    admin = svc.admin
    try:
        first = wait_for(lambda: finished(svc, admin, m1))
        rep = report(svc, admin, first[0]["uuid"]) if first else {}
        check("watched folder scanned ALLOWED without a POST", rep.get("eval_outcome") == "ALLOWED", rep)
        wait_for(lambda: finished(svc, admin, m2))
        time.sleep(3.5)  # several intervals with nothing changed
        n1, n2 = len(scans_of(svc, admin, m1)), len(scans_of(svc, admin, m2))
        check("unchanged folders not scanned again over 3 intervals", (n1, n2) == (1, 1), (n1, n2))
        check("watch rescans counted", metric(svc, admin, "modelgate_watch_rescans_total") == 2)

        pkl = os.path.join(m1, "model.pkl")
        old = open(pkl, "rb").read()
        st = os.stat(pkl)
        with open(pkl, "wb") as f:
            f.write(pickle.dumps({"weights": [4, 3, 2, 1], "tuned": True}, protocol=2))
        os.utime(pkl, (st.st_atime + 7, st.st_mtime + 7))
        t0 = time.time()
        second = wait_for(lambda: [s for s in finished(svc, admin, m1) if s["uuid"] != first[0]["uuid"]])
        secs = time.time() - t0
        rep = report(svc, admin, second[0]["uuid"]) if second else {}
        check("changed file: new scan within a few seconds (%.1f s)" % secs, second is not None and secs < 5)
        check("changed file: BLOCKED by %s naming model.pkl" % UNCHANGED,
              rep.get("eval_outcome") == "BLOCKED" and named(rep, UNCHANGED) == ["model.pkl"], rep)
        line = "modelgate: verdict changed: %s ALLOWED -> BLOCKED" % m1
        check("changed file: verdict-change line logged", wait_for(lambda: line in svc.stderr(), 5) is not None,
              svc.stderr()[-1500:])
        check("changed file: verdict change counted",
              metric(svc, admin, "modelgate_verdict_changes_total") == 1
              and metric(svc, admin, "modelgate_watch_rescans_total") == 3)
        check("the other watched folder untouched", len(scans_of(svc, admin, m2)) == 1)

        with open(pkl, "wb") as f:  # the approved bytes back, with the approved mtime
            f.write(old)
        os.utime(pkl, (st.st_atime, st.st_mtime))
        third = wait_for(lambda: len(finished(svc, admin, m1)) == 3 and finished(svc, admin, m1))
        rep = report(svc, admin, third[0]["uuid"]) if third else {}
        check("put back with the old mtime: scanned again, ALLOWED", rep.get("eval_outcome") == "ALLOWED", rep)
        check("put back: BLOCKED -> ALLOWED logged",
              wait_for(lambda: "verdict changed: %s BLOCKED -> ALLOWED" % m1 in svc.stderr(), 5) is not None)

        cfg = os.path.join(m1, "config.json")
        st = os.stat(cfg)
        with open(cfg, "rb") as f:
            text = f.read()
        tuned = text.replace(b'"hidden_size": 3', b'"hidden_size": 4')
        with open(cfg, "wb") as f:  # same size, and the mtime set back to the nanosecond: only ctime changes
            f.write(tuned)
        os.utime(cfg, ns=(st.st_atime_ns, st.st_mtime_ns))
        fourth = wait_for(lambda: len(finished(svc, admin, m1)) == 4 and finished(svc, admin, m1))
        rep = report(svc, admin, fourth[0]["uuid"]) if fourth else {}
        check("same size, same mtime, other bytes: seen by ctime, BLOCKED naming config.json",
              len(tuned) == len(text) and tuned != text and os.stat(cfg).st_mtime_ns == st.st_mtime_ns
              and rep.get("eval_outcome") == "BLOCKED" and named(rep, UNCHANGED) == ["config.json"], rep)
    finally:
        stopped(svc, "service stops cleanly")
    return data, admin


def test_restart(data, admin, root, m1, m2):
    """m2 was scanned seconds after it was written and not touched since;
    m1 changed last a moment before its newest scan (not asserted)."""
    svc = serve(data, root, [m1, m2])
    try:
        time.sleep(3)
        check("restart: unchanged folder not scanned again", len(scans_of(svc, admin, m2)) == 1,
              scans_of(svc, admin, m2))
    finally:
        svc.stop()
    with open(os.path.join(m2, "config.json"), "w") as f:
        f.write('{"model_type": "tuned-while-down"}')
    svc = serve(data, root, [m1, m2])
    try:
        got = wait_for(lambda: len(finished(svc, admin, m2)) == 2 and finished(svc, admin, m2))
        rep = report(svc, admin, got[0]["uuid"]) if got else {}
        check("restart: folder changed while down is scanned, BLOCKED naming config.json",
              rep.get("eval_outcome") == "BLOCKED" and named(rep, UNCHANGED) == ["config.json"], rep)
    finally:
        svc.stop()


def test_s3(tmp):
    import s3_test  # the s3rver harness: installed once, run with node --openssl-legacy-provider
    import boto3
    import botocore.config
    if not s3_test.install_s3rver():
        check("s3: s3rver installed", False)
        return
    port = free_port()
    log = open(os.path.join(tmp, "s3rver.log"), "w+")
    proc = subprocess.Popen(["node", "--openssl-legacy-provider", s3_test.S3RVER, "-d", os.path.join(tmp, "s3data"),
                             "-a", "127.0.0.1", "-p", str(port), "--silent", "--configure-bucket", "models"],
                            cwd=s3_test.NODE_DIR, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    svc = None
    try:
        if not check("s3: s3rver starts", s3_test.wait_port(port, proc)):
            return
        s3 = boto3.client("s3", endpoint_url="http://127.0.0.1:%d" % port, aws_access_key_id="S3RVER",
                          aws_secret_access_key="S3RVER", region_name="us-east-1",
                          config=botocore.config.Config(s3={"addressing_style": "path"}))
        s3.put_object(Bucket="models", Key="watch/tiny/model.safetensors", Body=s3_test.safetensors_file())
        s3.put_object(Bucket="models", Key="watch/tiny/config.json", Body=b'{"model_type": "tiny"}')
        uri = "s3://models/watch/tiny/"
        env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:%d" % port, "AWS_ACCESS_KEY_ID": "S3RVER",
               "AWS_SECRET_ACCESS_KEY": "S3RVER"}
        svc = serve(os.path.join(tmp, "s3var"), tmp, [uri], env=env)
        admin = svc.admin
        first = wait_for(lambda: finished(svc, admin, uri))
        rep = report(svc, admin, first[0]["uuid"]) if first else {}
        check("s3: watched prefix scanned ALLOWED at start", rep.get("eval_outcome") == "ALLOWED", rep)
        time.sleep(2.5)
        check("s3: unchanged prefix not scanned again", len(scans_of(svc, admin, uri)) == 1)
        s3.put_object(Bucket="models", Key="watch/tiny/config.json", Body=b'{"model_type": "tuned"}')
        second = wait_for(lambda: len(finished(svc, admin, uri)) == 2 and finished(svc, admin, uri))
        rep = report(svc, admin, second[0]["uuid"]) if second else {}
        check("s3: replaced object (new ETag): scanned again, BLOCKED naming config.json",
              rep.get("eval_outcome") == "BLOCKED" and named(rep, UNCHANGED) == ["config.json"], rep)
        check("s3: verdict-change line logged",
              wait_for(lambda: "verdict changed: %s ALLOWED -> BLOCKED" % uri in svc.stderr(), 5) is not None)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        logged = wait_for(lambda: "modelgate: watch %s: cannot list it" % uri in svc.stderr(), 10)
        st, _, _, _ = svc.request("GET", "/healthz")
        check("s3: server gone: listing failure logged, service still serving", logged is not None and st == 200,
              svc.stderr()[-800:])
        time.sleep(2)
        check("s3: the failure is logged once, not every interval",
              svc.stderr().count("modelgate: watch %s: cannot list it" % uri) == 1)
    finally:
        if svc:
            stopped(svc, "s3: service stops cleanly")
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()


def main():
    tmp = tempfile.mkdtemp(prefix="mg-watch-")
    try:
        root = os.path.join(tmp, "models")
        m1 = model(root, "team-a", "m1")
        m2 = model(root, "team-b", "m2")
        written = time.time()
        test_bad_uris(tmp, root)
        # the restart check compares ctimes with the first scan's time, less a second
        time.sleep(max(0.0, written + 2.5 - time.time()))
        data, admin = test_local(tmp, root, m1, m2)
        test_restart(data, admin, root, m1, m2)
        test_s3(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
