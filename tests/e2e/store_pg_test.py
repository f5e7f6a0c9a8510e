#!/usr/bin/python3
"""store_pg_test.py BINARY - the PostgreSQL store through the real binary, on
a throwaway cluster this test starts itself (pglib.py: Debian's server,
initdb in a temporary folder, a unix socket only; never the machine's own).

Checks what the other suites cannot see when they merely run on PostgreSQL
(pg_suites.py): three services starting at once on a new database (one
migrates, the others wait for it; all serve); the store chosen by --store,
by MODELGATE_STORE and by the config key `store`, with no SQLite file
created under --data; a token made by `token create --store` beside a
running service is accepted by it; a scan stored before the database
restarts is read after it, and new scans are stored (the service connects
again); while the database is down (killed) requests that need it answer
500 and the service stays up, and once it is back they answer again;
`rescan --store` works on it; a database that cannot be reached stops the
start with a message that never repeats the URL's password.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pglib import pg_createdb, pg_kill, pg_restart, pg_start, pg_stop, store_rows_at  # noqa: E402
from svclib import EXAMPLES, Checks, Service, free_port  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
CLEAN = os.path.join(EXAMPLES, "clean-model")
check = Checks()


def serve(data, url, extra=None, env=None, how="flag"):
    """A service on `url` given by flag, variable or config file."""
    port = free_port()
    args = ["--listen", "127.0.0.1:%d" % port, "--data", data, "--root", EXAMPLES] + (extra or [])
    env = dict(env or {})
    if how == "flag":
        args += ["--store", url]
    elif how == "env":
        env["MODELGATE_STORE"] = url
    else:
        path = os.path.join(data, "serve.yaml")
        os.makedirs(data, exist_ok=True)
        with open(path, "w") as f:
            f.write("store: %s\n" % url)
        args += ["--config", path]
    return Service(BIN, data, args=args, env=env)


def concurrent_starts(work, pg):
    url = pg_createdb(pg, "mg_race")
    svcs, errors = [None] * 3, []

    def start(i):
        try:
            svcs[i] = serve(os.path.join(work, "race%d" % i), url)
        except RuntimeError as e:
            errors.append(str(e))

    threads = [threading.Thread(target=start, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        check("three services started at once on a new database all listen", not errors and all(svcs), errors)
        versions = [r[0] for r in store_rows_at(url, "SELECT version FROM schema_migrations ORDER BY version")]
        check("the migrations ran once", versions == [1, 2, 3, 4, 5, 6, 7], versions)
        statuses = [s.request("GET", "/healthz")[0] for s in svcs if s]
        check("each answers", statuses == [200, 200, 200], statuses)
    finally:
        for s in svcs:
            if s:
                s.stop()


def chosen_by(work, pg):
    for how in ("flag", "env", "config"):
        url = pg_createdb(pg, "mg_by_" + how)
        data = os.path.join(work, "by-" + how)
        svc = serve(data, url, how=how)
        try:
            said = [line for line in svc.lines if line.startswith("modelgate: store: ")]
            check("store by %s: the service says where (no URL)" % how,
                  len(said) == 1 and said[0].startswith("modelgate: store: PostgreSQL database mg_by_" + how) and
                  "postgresql://" not in said[0], svc.lines)
            tokens = store_rows_at(url, "SELECT role FROM tokens")
            check("store by %s: the first admin token is in the database" % how,
                  svc.admin and tokens == [("admin",)], (svc.admin, tokens))
            check("store by %s: no SQLite file under --data" % how,
                  not os.path.exists(os.path.join(data, "modelgate.db")), os.listdir(data))
        finally:
            svc.stop()


def token(url, data, role):
    p = subprocess.run([BIN, "token", "create", "--role", role, "--store", url], capture_output=True, text=True,
                       timeout=60, cwd=data)
    lines = p.stdout.strip().splitlines()
    return p, (lines[-1] if p.returncode == 0 and lines else "")


def restarts(work, pg):
    url = pg_createdb(pg, "mg_restart")
    data = os.path.join(work, "restart")
    svc = serve(data, url)
    try:
        p, scanner = token(url, data, "scanner")
        check("token create --store beside the service", p.returncode == 0 and scanner.startswith("mg_") and
              "postgresql://" not in p.stdout, (p.returncode, p.stdout, p.stderr))
        st, doc, raw, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": CLEAN}, token=scanner)
        check("the service accepts the token and stores a scan", st == 200 and doc.get("eval_outcome") == "ALLOWED",
              (st, raw[:300]))
        uuid = (doc or {}).get("uuid", "")

        pg_restart(pg)
        st, _, again, _ = svc.request("GET", "/api/v1/scans/%s" % uuid, token=scanner)
        check("after the database restarted: the scan is read (connected again)", st == 200 and again == raw,
              (st, again[:300]))
        st, doc, _, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": CLEAN}, token=scanner)
        check("after the database restarted: a new scan is stored", st == 200 and doc.get("eval_outcome") == "ALLOWED",
              (st, doc))
        uuid2 = (doc or {}).get("uuid", "")
        rows = store_rows_at(url, "SELECT uuid FROM scans WHERE state = 'DONE'")
        check("both scans stored once each", sorted(r[0] for r in rows) == sorted([uuid, uuid2]), (rows, uuid, uuid2))

        # a kill -9 of the database: every acknowledged commit must survive
        # (pglib keeps synchronous_commit on), the scan stored just before too
        pg_kill(pg)
        st, doc, _, _ = svc.request("GET", "/api/v1/scans/%s" % uuid, token=scanner)
        check("database down: 500, store unavailable", st == 500 and "store" in str(doc), (st, doc))
        st, _, _, _ = svc.request("GET", "/healthz")
        check("database down: the service stays up", st == 200 and svc.proc.poll() is None, st)
        pg_restart(pg)
        st, _, again, _ = svc.request("GET", "/api/v1/scans/%s" % uuid, token=scanner)
        check("database back after a crash: the scan is there", st == 200 and again == raw, st)
        st, doc2, _, _ = svc.request("GET", "/api/v1/scans/%s" % uuid2, token=scanner)
        check("database back after a crash: the scan stored just before the kill is there too",
              st == 200 and (doc2 or {}).get("eval_outcome") == "ALLOWED", (st, doc2))
    finally:
        rc = svc.stop()
    check("the service stops cleanly", rc == 0, rc)

    p = subprocess.run([BIN, "rescan", "--store", url], capture_output=True, text=True, timeout=120, cwd=EXAMPLES,
                       env={k: v for k, v in os.environ.items() if not k.startswith("MODELGATE_")})
    check("rescan --store: nothing stale, exit 0", p.returncode == 0 and "0 verdicts changed" in p.stderr,
          (p.returncode, p.stderr[-500:]))


def unreachable(work):
    secret = "s3cr3t-pw"
    url = "postgresql://mg:%s@/modelgate?host=%s&port=1" % (secret, os.path.join(work, "nowhere"))
    data = os.path.join(work, "unreachable")
    os.makedirs(data)
    p = subprocess.run([BIN, "serve", "--listen", "127.0.0.1:%d" % free_port(), "--data", data, "--store", url],
                       capture_output=True, text=True, timeout=60, cwd=data)
    check("an unreachable database stops the start (exit 2)", p.returncode == 2 and
          "store: cannot connect to PostgreSQL" in p.stderr, (p.returncode, p.stderr))
    check("the message does not repeat the password", secret not in p.stdout + p.stderr, p.stderr)
    p = subprocess.run([BIN, "token", "create", "--role", "reader", "--store", url], capture_output=True, text=True,
                       timeout=60, cwd=data)
    check("token create on an unreachable database: exit 2, no password shown",
          p.returncode == 2 and secret not in p.stdout + p.stderr, (p.returncode, p.stderr))


def main():
    work = tempfile.mkdtemp(prefix="mg-storepg-")
    pg = None
    try:
        t0 = time.time()
        pg = pg_start(work)
        print("# PostgreSQL started in %.1f s" % (time.time() - t0))
        concurrent_starts(work, pg)
        chosen_by(work, pg)
        restarts(work, pg)
        unreachable(work)
    except Exception as e:  # a crash of the test itself is a failure, not a silent pass
        check("store_pg test ran to the end", False, repr(e))
    finally:
        if pg is not None:
            pg_stop(pg)
        shutil.rmtree(work, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
