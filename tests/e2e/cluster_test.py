#!/usr/bin/python3
"""cluster_test.py BINARY - many modelgate processes on one PostgreSQL
database, sharing its job queue (docs/deploy.md, "Many nodes"), on a
throwaway cluster this test starts itself (pglib.py).

Two `serve --role api` processes accept scans and run none; three
`serve --role worker` processes run them. Checks: 500 scans posted at once
through both APIs (half of them waiting for their report) all finish, each
run exactly once (one row each, DONE, one attempt, one "scan UUID" line in
all the workers' logs together, none in the APIs'); a worker killed with -9
in the middle of a scan loses its lease and another worker runs the scan;
the database restarted while scans run, every scan still finishes; two
`modelgate gateway` replicas on the database, asked for the same new repo of
a stand-in hub at once, cause exactly one scan; --role on a SQLite store is
refused.

Back-pressure and duplicates, on a database with no worker: --queue is the
limit of the whole shared queue (an API that queued nothing itself answers
429 once the other filled it; /metrics shows the database's depth and the
oldest scan's age on every API); a hub commit queued twice joins one scan
only under the same license and policy (a PUT policy makes the next one a
scan of its own). A policy PUT through an API process: the workers
re-evaluate the stored models and that API reports the changed verdict. A
gateway caller's hub token is never stored: the
gateway's own workers run the scans it queued for a private repo, though an
idle worker process without the token waits on the same queue.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pglib import pg_createdb, pg_restart, pg_start, pg_stop, psql, store_rows_at  # noqa: E402
from svclib import (EXAMPLES, Checks, Service, StandInHub, free_port, http_request, make_big_model,  # noqa: E402
                    model_card, safetensors_header, write_tree)

BIN = os.path.abspath(sys.argv[1])
MODELS = [os.path.join(EXAMPLES, "clean-model"), os.path.join(EXAMPLES, "tampered-model")]
check = Checks()


class Proc:
    """One modelgate process started with `args` in its own data folder,
    ready once a stdout line starts with `ready`."""

    def __init__(self, work, name, args, ready):
        self.data = os.path.join(work, name)
        os.makedirs(self.data, exist_ok=True)
        self.log_path = os.path.join(self.data, "serve.log")
        self.log = open(self.log_path, "ab")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "AWS_", "HF_"))}
        env["HOME"] = self.data
        self.proc = subprocess.Popen([BIN] + args + ["--data", self.data], stdout=subprocess.PIPE, stderr=self.log,
                                     cwd=self.data, env=env)
        line = self.proc.stdout.readline().decode(errors="replace")
        while line and not line.startswith(ready):
            line = self.proc.stdout.readline().decode(errors="replace")
        if not line:
            raise RuntimeError("%s did not start: %s" % (name, self.stderr()[-2000:]))

    def stderr(self):
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self, sig=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()
        self.log.close()


def worker(work, url, name, roots):
    """`serve --role worker`: no HTTP, ready when it says so."""
    args = ["serve", "--role", "worker", "--workers", "2", "--store", url]
    for r in roots:
        args += ["--root", r]
    return Proc(work, name, args, "modelgate: worker:")


def api(work, url, name, roots, queue=1000):
    args = ["--listen", "127.0.0.1:%d" % free_port(), "--data", os.path.join(work, name), "--store", url,
            "--role", "api", "--queue", str(queue)]
    for r in roots:
        args += ["--root", r]
    return Service(BIN, os.path.join(work, name), args=args)


def ran(procs, uuid):
    """How many times the processes' logs say scan `uuid` finished."""
    pat = re.compile(r"^modelgate: scan %s (ALLOWED|BLOCKED|ERROR) in " % re.escape(uuid), re.M)
    return sum(len(pat.findall(p.stderr())) for p in procs)


def at_once(n, fn):
    """fn(0) ... fn(n - 1) on n threads started together; their results."""
    out = [None] * n

    def one(i):
        out[i] = fn(i)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def post_many(apis, token, n):
    """n scans posted at once, alternately through each API, every other one
    with ?wait=true; [(uuid, status of the POST, outcome when it waited)]."""
    def one(i):
        svc = apis[i % len(apis)]
        wait = i % 2 == 0
        path = "/api/v1/scans" + ("?wait=true&timeout=120" if wait else "")
        body = {"model_uri": MODELS[i % len(MODELS)], "labels": {"n": str(i)}}  # n requests, n scans
        st, doc, _, _ = svc.request("POST", path, body, token=token)
        doc = doc or {}
        return (doc.get("uuid"), st, doc.get("eval_outcome") if wait else None)

    return at_once(n, one)


def rows(url):
    return store_rows_at(url, "SELECT uuid, state, attempts, eval_outcome FROM scans")


MANY = 500


def many_scans(url, apis, workers, token):
    t0 = time.time()
    got = post_many(apis, token, MANY)
    uuids = [g[0] for g in got if g[0]]
    check("%d concurrent POSTs through two APIs are all accepted" % MANY,
          len(uuids) == MANY and all(g[1] in (200, 202) for g in got), [g for g in got if g[1] not in (200, 202)][:3])
    waited = [g for i, g in enumerate(got) if i % 2 == 0]
    check("every ?wait=true answers the finished report on an api-only process",
          all(g[1] == 200 and g[2] in ("ALLOWED", "BLOCKED") for g in waited),
          [g for g in waited if g[1] != 200][:3])
    for u in uuids:
        apis[0].wait_done(u, token, timeout=60)
    r = {row[0]: row for row in rows(url)}
    check("one row per scan, each DONE", set(r) == set(uuids) and all(r[u][1] == "DONE" for u in uuids),
          [r.get(u) for u in uuids if not r.get(u) or r[u][1] != "DONE"][:3])
    check("each scan was claimed once", all(r[u][2] == 1 for u in uuids if u in r),
          [r[u] for u in uuids if u in r and r[u][2] != 1][:3])
    counts = [ran(workers, u) for u in uuids]
    check("each scan ran exactly once over the three workers", counts == [1] * len(uuids),
          [(u, c) for u, c in zip(uuids, counts) if c != 1][:3])
    per = [sum(ran([w], u) for u in uuids) for w in workers]
    check("more than one worker ran scans", sum(1 for n in per if n) > 1, per)
    check("the api processes ran none", sum(ran(apis, u) for u in uuids[:20]) == 0)
    check("clean model ALLOWED, tampered BLOCKED",
          all(r[u][3] == ("ALLOWED" if i % 2 == 0 else "BLOCKED") for i, u in enumerate(uuids) if u in r))
    print("# %d scans in %.1f s" % (MANY, time.time() - t0))


def lease_of(url, uuid):
    got = store_rows_at(url, "SELECT state, lease_owner FROM scans WHERE uuid = ?", (uuid,))
    return got[0] if got else (None, None)


def killed_worker(url, apis, workers, token, big):
    st, doc, _, _ = apis[1].request("POST", "/api/v1/scans", {"model_uri": big}, token=token)
    uuid = (doc or {}).get("uuid", "")
    owner, deadline = None, time.time() + 20
    while time.time() < deadline:
        state, owner = lease_of(url, uuid)
        if state == "RUNNING" and owner:
            break
        time.sleep(0.05)
    victim = next((w for w in workers if owner and (":%d:" % w.proc.pid) in owner), None)
    check("a worker holds the big scan's lease", st == 202 and victim is not None, (st, owner))
    if not victim:
        return workers
    victim.proc.send_signal(signal.SIGKILL)
    victim.proc.wait()
    rest = [w for w in workers if w is not victim]
    st, doc = apis[0].wait_done(uuid, token, timeout=40)
    row = [r for r in rows(url) if r[0] == uuid]
    check("the scan of the killed worker finishes on another one",
          st == 200 and doc.get("eval_outcome") == "ALLOWED" and row and row[0][1] == "DONE" and row[0][2] == 2 and
          sum(ran([w], uuid) for w in rest) == 1, (st, row, [ran([w], uuid) for w in rest]))
    victim.stop()
    return rest


def db_restart(url, apis, workers, token, big):
    uuids = []
    for i in range(12):
        model = big if i % 3 == 0 else MODELS[i % 2]
        st, doc, _, _ = apis[i % 2].request("POST", "/api/v1/scans", {"model_uri": model, "labels": {"n": str(i)}},
                                            token=token)
        uuids.append((doc or {}).get("uuid"))
    time.sleep(0.3)
    pg_restart(url)
    done = []
    for u in uuids:
        st, doc = apis[0].wait_done(u, token, timeout=45)
        done.append(st == 200 and (doc or {}).get("eval_outcome") in ("ALLOWED", "BLOCKED"))
    r = {row[0]: row for row in rows(url)}
    check("the database restarted mid-run: every scan finishes, once in the store",
          all(done) and all(u in r and r[u][1] == "DONE" for u in uuids),
          [(u, r.get(u)) for u, d in zip(uuids, done) if not d][:3])


def reevaluation(apis, workers, token):
    """A policy put in force through an API process (which runs no scans)
    makes the stored models be re-evaluated by the workers; the API, which
    queued the re-evaluations and alone knows the verdicts before them,
    reports the one that changed."""
    deny = b"policies:\n  org-not-blocked:\n    denied_orgs: [examples]\n"
    st, _, _, _ = apis[0].request("PUT", "/api/v1/policies", raw=deny, token=token,
                                  headers={"Content-Type": "application/yaml"})
    line = "modelgate: verdict changed: %s ALLOWED -> BLOCKED" % MODELS[0]
    deadline = time.time() + 60
    while time.time() < deadline and line not in apis[0].stderr():
        time.sleep(0.2)
    check("a re-evaluation run by a worker: the API that queued it reports the changed verdict",
          st == 200 and line in apis[0].stderr(), apis[0].stderr()[-1500:])
    check("... and no worker claims to know the verdict before it",
          not any("verdict changed" in w.stderr() for w in workers))


def gateway_replicas(work, pg):
    """Two `modelgate gateway` processes on one database in front of one
    (slow) stand-in hub, asked for the same new repo at once."""
    url = pg_createdb(pg, "mg_gateways")
    root = os.path.join(work, "hub")
    head, _ = safetensors_header(2048)
    write_tree(os.path.join(root, "acme", "fresh", "main"),
               {"README.md": model_card("apache-2.0"), "config.json": b'{"model_type": "bert"}\n',
                "model.safetensors": head + b"\x01\x02\x03\x04" * 2048})
    hub = StandInHub(root, os.path.join(work, "hub.log"), "--delay-ms", "100")
    gws = []
    try:
        for i in range(2):
            port = free_port()
            gw = Proc(work, "gw%d" % i, ["gateway", "--listen", "127.0.0.1:%d" % port, "--upstream", hub.url,
                                         "--store", url, "--revision-ttl", "0"], "modelgate: gateway listening on")
            gw.port = port
            gws.append(gw)
        got = at_once(8, lambda i: http_request(gws[i % 2].port, "GET", "/api/models/acme/fresh/revision/main",
                                                timeout=60)[0])
        scans = store_rows_at(url, "SELECT uuid, state FROM scans WHERE model_uri LIKE 'hf://acme/fresh@%'")
        check("two gateway replicas asked for a new repo at once: all answered 200", got == [200] * 8, got)
        check("... and the repo was scanned exactly once", len(scans) == 1 and scans[0][1] == "DONE", scans)
    finally:
        for gw in gws:
            gw.stop()
        hub.stop()


def metric(svc, token, name):
    """The value /metrics gives `name`, None when it is not there."""
    st, _, text, _ = svc.request("GET", "/metrics", token=token)
    m = re.search(r"^%s (\S+)$" % re.escape(name), text.decode(errors="replace"), re.M) if st == 200 else None
    return float(m.group(1)) if m else None


def post(svc, token, uri, license=None, labels=None):
    body = {"model_uri": uri}
    if license:
        body["license"] = license
    if labels:
        body["labels"] = labels
    st, doc, _, hdrs = svc.request("POST", "/api/v1/scans", body, token=token)
    return st, (doc or {}).get("uuid"), hdrs


POLICY_B = b"global_threshold: HIGH\n"


def duplicates(url, a, token):
    """A hub commit queued twice joins one scan only when license and policy
    are the same (nothing runs: no worker is on this database)."""
    uri = "hf://acme/twice@" + "0123456789abcdef" * 2 + "01234567"
    s1, u1, _ = post(a, token, uri, "mit")
    s2, u2, _ = post(a, token, uri, "mit")
    s3, u3, _ = post(a, token, uri, "apache-2.0")
    check("the same hub commit and license queued twice: one scan, joined", s1 == s2 == 202 and u1 and u1 == u2,
          (s1, s2, u1, u2))
    check("... another license: a scan of its own", s3 == 202 and u3 and u3 != u1, (s3, u3))
    st, _, _, _ = a.request("PUT", "/api/v1/policies", raw=POLICY_B, token=token,
                            headers={"Content-Type": "application/yaml"})
    s4, u4, _ = post(a, token, uri, "mit")
    check("... another policy in force: a scan of its own", st == 200 and s4 == 202 and u4 not in (u1, u3), (st, s4))
    got = store_rows_at(url, "SELECT count(*) FROM scans WHERE model_uri = ?", (uri,))
    check("... three rows in the store for four requests", got and got[0][0] == 3, got)
    # a local folder: joined while the first waits, unless the caller's labels differ
    s5, u5, _ = post(a, token, MODELS[1], labels={"run": "1"})
    s6, u6, _ = post(a, token, MODELS[1], labels={"run": "1"})
    s7, u7, _ = post(a, token, MODELS[1], labels={"run": "2"})
    check("the same folder queued twice while the first waits: one scan", s5 == s6 == 202 and u5 and u5 == u6,
          (s5, s6, u5, u6))
    check("... other labels: a scan of its own", s7 == 202 and u7 and u7 != u5, (s7, u7))


def back_pressure(work, pg):
    """--queue 10 on two APIs of one database without a worker."""
    url = pg_createdb(pg, "mg_limit")
    a = api(work, url, "lim1", [EXAMPLES], queue=10)
    b = api(work, url, "lim2", [EXAMPLES], queue=10)
    try:
        token = a.admin
        duplicates(url, a, token)
        time.sleep(1.2)  # past the processes' own count of the queue (every 0.5 s)
        sts = [post(a, token, MODELS[i % 2], labels={"n": str(i)})[0] for i in range(5)]
        st, _, hdrs = post(a, token, MODELS[0], labels={"n": "x"})
        check("one API fills the shared queue to --queue 10, then answers 429 with Retry-After",
              sts == [202] * 5 and st == 429 and hdrs.get("retry-after", "").isdigit(), (sts, st, hdrs))
        time.sleep(0.7)  # the other API's count of the database's queue is at most 0.5 s old
        st, _, hdrs = post(b, token, MODELS[1], labels={"n": "y"})
        check("... and so does the other API, which queued none of them", st == 429 and "retry-after" in hdrs, st)
        waiting = store_rows_at(url, "SELECT count(*) FROM scans WHERE state = 'PENDING'")
        check("... nothing is stored for a refused scan", waiting and waiting[0][0] == 10, waiting)
        depth = [metric(s, token, "modelgate_queue_depth") for s in (a, b)]
        oldest = metric(b, token, "modelgate_queue_oldest_seconds")
        check("/metrics on either API: the database's queue depth", depth == [10.0, 10.0], depth)
        check("... and the oldest waiting scan's age", oldest is not None and 1.0 <= oldest < 120, oldest)
        check("... and the limit", metric(b, token, "modelgate_queue_capacity") == 10.0)
        # one waiting scan whose workers died three times already (as three kill -9 would leave it)
        doomed = psql(url, "UPDATE scans SET attempts = 3 WHERE uuid = (SELECT uuid FROM scans"
                           " WHERE state = 'PENDING' AND model_uri NOT LIKE 'hf://%' LIMIT 1) RETURNING uuid").split()
        w = worker(work, url, "limw", [EXAMPLES])
        try:
            deadline, st = time.time() + 60, 429
            while time.time() < deadline and st == 429:
                time.sleep(0.2)
                st, uuid, _ = post(b, token, MODELS[0])
            check("a worker drains the queue: the API accepts scans again", st == 202, st)
            st, doc = b.wait_done(doomed[0], token, timeout=30) if doomed else (0, {})
            check("a scan interrupted three times is stored as ERROR saying so, not run a fourth time",
                  st == 200 and doc.get("eval_outcome") == "ERROR" and "interrupted 3 times" in json.dumps(doc) and
                  not re.search(r"scan %s (ALLOWED|BLOCKED)" % doomed[0], w.stderr()), (st, doc, doomed))
        finally:
            w.stop()
    finally:
        a.stop()
        b.stop()


def token_affinity(work, pg):
    """A gateway asked for private repos with the caller's hub token; an idle
    worker process without any token waits on the same queue. Every scan
    must be run by the gateway, which holds the token (never stored)."""
    url = pg_createdb(pg, "mg_affinity")
    root = os.path.join(work, "hub2")
    repos = ["acme/secret%d" % i for i in range(4)]
    head, _ = safetensors_header(1024)
    for r in repos:
        write_tree(os.path.join(root, r, "main"),
                   {"README.md": model_card("apache-2.0"), "config.json": b'{"model_type": "bert"}\n',
                    "model.safetensors": head + b"\x00" * 4096})
        open(os.path.join(root, r, ".private"), "w").close()
    secret = "hf_affinity_test_token"
    hub = StandInHub(root, os.path.join(work, "hub2.log"), "--token", secret, "--token-scope", "private")
    cfg = os.path.join(work, "affinity.yaml")
    with open(cfg, "w") as f:
        f.write("hub_endpoint: %s\n" % hub.url)
    idle = Proc(work, "idlew", ["serve", "--role", "worker", "--workers", "4", "--store", url, "--config", cfg],
                "modelgate: worker:")
    port = free_port()
    gw = Proc(work, "gwtok", ["gateway", "--listen", "127.0.0.1:%d" % port, "--upstream", hub.url, "--store", url,
                              "--workers", "1"], "modelgate: gateway listening on")
    try:
        got = at_once(len(repos), lambda i: http_request(port, "GET", "/api/models/%s/revision/main" % repos[i],
                                                         headers={"Authorization": "Bearer " + secret},
                                                         timeout=60)[0])
        scans = store_rows_at(url, "SELECT model_uri, eval_outcome, lease_owner, CASE WHEN eval_outcome <> 'ALLOWED'"
                                   " THEN substr(report, 1, 600) END AS why FROM scans")
        check("private repos through a gateway with the caller's token: all answered 200", got == [200] * 4, got)
        mine = ":%d:" % gw.proc.pid
        check("... each scanned once, ALLOWED, by the gateway that holds the token",
              len(scans) == 4 and all(s[1] == "ALLOWED" and mine in (s[2] or "") for s in scans), scans)
    finally:
        gw.stop()
        idle.stop()
        hub.stop()


def sqlite_refuses(work):
    p = subprocess.run([BIN, "serve", "--role", "worker", "--data", os.path.join(work, "sq")], capture_output=True,
                       text=True, timeout=30)
    check("--role on a SQLite store is refused", p.returncode != 0 and "PostgreSQL" in p.stderr, p.stderr)


def main():
    work = tempfile.mkdtemp(prefix="mg-cluster-")
    pg = pg_start(work)
    procs = []
    try:
        sqlite_refuses(work)
        url = pg_createdb(pg, "mg_cluster")
        big = make_big_model(os.path.join(work, "big", "model"), nfiles=3000)
        roots = [EXAMPLES, os.path.dirname(big)]
        apis = [api(work, url, "api1", roots)]
        procs += apis
        token = apis[0].admin
        apis.append(api(work, url, "api2", roots))
        procs.append(apis[1])
        workers = [worker(work, url, "worker%d" % i, roots) for i in range(3)]
        procs += workers
        check("the api processes say they run no scans", all(", 0 workers," in "\n".join(a.lines) for a in apis),
              apis[0].lines)
        many_scans(url, apis, workers, token)
        workers = killed_worker(url, apis, workers, token, big)
        db_restart(url, apis, workers, token, big)
        reevaluation(apis, workers, token)
        gateway_replicas(work, pg)
        back_pressure(work, pg)
        token_affinity(work, pg)
    except BaseException:
        for p in procs:  # what the processes said, for the failure's reader
            print("# log of %s:\n%s" % (p.data, p.stderr()[-3000:]))
        raise
    finally:
        for p in procs:
            p.stop()
        pg_stop(pg)
        shutil.rmtree(work, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
