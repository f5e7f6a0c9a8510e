#!/usr/bin/python3
"""pg_suites.py BINARY - the service suites (service, service_ops, rescan,
watch), the gateway and session suites again, with the service on the
PostgreSQL store instead of SQLite.

One throwaway PostgreSQL cluster is started for the run (tests/e2e/pglib.py:
Debian's server, initdb in a temporary folder, a unix socket only), and each
suite runs unchanged with MODELGATE_TEST_STORE set to a database's URL in
it. svclib's Service then starts `modelgate serve --store URL` and
`token create --store URL` with the database of its --data folder (one per
folder, made on first use, as the SQLite file is one per folder:
pglib.test_store), and the checks that look into the store directly do so
with psql. service_ops leaves out its two checks of SQLite's recovery at
start (on PostgreSQL a dead worker's lease runs out instead: cluster_test). When the unit
tests take a PostgreSQL URL (MODELGATE_TEST_PG), BINARY's sibling `unit`
runs against a fresh database too.

Every line of the suites is printed with the suite's name; their counts add
up to one closing "N passed, N failed" line. A binary without --store (the
backend has not landed) is one failure, said as such.
"""
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
from pglib import pg_createdb, pg_start, pg_stop  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
PY = "/usr/bin/python3"
SUITES = ("service", "gateway", "session", "service_ops", "rescan", "watch")
SUITE_TIMEOUT = 180  # seconds; one suite alone takes well under a minute
RESULT = re.compile(r"^(\d+) passed, (\d+) failed")


def has_store_flag():
    p = subprocess.run([BIN, "serve", "--help"], capture_output=True, text=True, timeout=60)
    return "--store" in p.stdout + p.stderr


def unit_takes_pg():
    """Whether the unit tests read MODELGATE_TEST_PG (a store test on PostgreSQL)."""
    for path in glob.glob(os.path.join(ROOT, "tests", "unit", "*.[ch]")):
        with open(path, errors="replace") as f:
            if "MODELGATE_TEST_PG" in f.read():
                return True
    return False


def kill_group(p):
    """SIGKILL to the suite and what it started (its own process group)."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def run(name, argv, env):
    """Runs one suite, printing its lines with its name; (passed, failed).
    No result line, a timeout, or a non-zero exit with no failed check is
    one failure more."""
    t0 = time.time()
    p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, cwd=ROOT,
                         start_new_session=True)
    timer = threading.Timer(SUITE_TIMEOUT, kill_group, (p,))
    timer.start()
    result = None
    try:
        for raw in p.stdout:
            line = raw.decode(errors="replace").rstrip("\n")
            m = RESULT.match(line)
            if m:
                result = (int(m.group(1)), int(m.group(2)))
            elif line.startswith(("ok ", "FAIL ")):
                word, rest = line.split(" ", 1)
                print("%s %s: %s" % (word, name, rest), flush=True)
            else:
                print(line, flush=True)
        rc = p.wait()
    finally:
        timer.cancel()
        if p.poll() is None:
            kill_group(p)
            p.wait()
        p.stdout.close()
    took = time.time() - t0
    if result is None:
        print("FAIL %s: no result line (exit %s, %.0f s%s)" % (name, rc, took,
              ", killed after %d s" % SUITE_TIMEOUT if took >= SUITE_TIMEOUT else ""), flush=True)
        return 0, 1
    passed, failed = result
    if rc != 0 and failed == 0:
        print("FAIL %s: exit %d with no failed check" % (name, rc), flush=True)
        failed = 1
    print("# %s on PostgreSQL: %d passed, %d failed (%.1f s)" % (name, passed, failed, took), flush=True)
    return passed, failed


def main():
    if not has_store_flag():
        print("FAIL postgres: `modelgate serve --help` does not mention --store")
        print("0 passed, 1 failed: modelgate has no --store yet")
        return 1
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the cluster is stopped on the way out
    t0 = time.time()
    work = tempfile.mkdtemp(prefix="mg-pgsuites-")
    total_pass = total_fail = 0
    pg = None
    try:
        try:
            pg = pg_start(work)
            print("# PostgreSQL cluster started in %.1f s: %s" % (time.time() - t0, pg), flush=True)
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            print("FAIL postgres: the test cluster did not start: %s" % e)
            print("0 passed, 1 failed")
            return 1
        for name in SUITES:
            env = dict(os.environ, MODELGATE_TEST_STORE=pg_createdb(pg, "mg_" + name))
            p, f = run(name, [PY, os.path.join(HERE, "%s_test.py" % name), BIN], env)
            total_pass, total_fail = total_pass + p, total_fail + f
        unit = os.path.join(os.path.dirname(BIN), "unit")
        if unit_takes_pg():
            env = dict(os.environ, MODELGATE_TEST_PG=pg_createdb(pg, "mg_unit"))
            p, f = run("unit", [unit], env)
            total_pass, total_fail = total_pass + p, total_fail + f
        else:
            print("# unit: the unit tests do not read MODELGATE_TEST_PG: not run on PostgreSQL")
    finally:
        if pg is not None:
            pg_stop(pg)
        shutil.rmtree(work, ignore_errors=True)
    print("# took %.1f s" % (time.time() - t0))
    print("%d passed, %d failed" % (total_pass, total_fail))
    return 1 if total_fail else 0


if __name__ == "__main__":
    sys.exit(main())
