#!/usr/bin/python3
"""systemd_test.py BINARY - the systemd units of deploy/systemd/ started by a
real systemd (docs/deploy.md, "systemd").

The manager is /lib/systemd/systemd as the system manager (PID 1) of new
PID, mount, cgroup, UTS and IPC namespaces that this test creates
(unshare), so it needs root but touches nothing of the machine's own
systemd: its unit path (SYSTEMD_UNIT_PATH) is only the test's folder; /run
is a fresh tmpfs in its mount namespace, and /tmp, /var/tmp, /var/lib and
/var/cache are the test's folders mounted there, so DynamicUser=,
StateDirectory=, CacheDirectory= and PrivateTmp= write nothing outside the
test's folder; its cgroup tree is a new child of the test's own cgroup v2
group (its cgroup namespace's root), removed at the end. The manager logs to
a pseudo-terminal bound over /dev/console in its namespace; the test reads
it. The services share the machine's network, so the test reaches them on
127.0.0.1. The test's folder is seen inside as /run/modelgate-test.

The units started are the shipped files, copied with two mechanical
substitutions only, because the install location differs:
`/usr/local/bin/modelgate` becomes the tested BINARY (a copy under
/run/modelgate-test/bin) and `/etc/modelgate/` becomes
/run/modelgate-test/etc/. Test-only settings are a drop-in for every
service (service.d/50-test.conf): each unit's output appended to a file the
test reads (no journald runs in the namespace) and ASAN_OPTIONS with leak
checking off (LeakSanitizer needs ptrace, which the units' seccomp filter
forbids; the other suites check leaks). The environment file is the shipped
modelgate.env with the test's values appended (later lines win), and
/etc/modelgate/pgpass holds the password of a database role that may only
log in with it. The manager needs targets the units refer to
(sysinit.target, network-online.target, ...): empty stand-ins.

Checks: `systemd-analyze verify` accepts the shipped files; modelgate.service
(SQLite, API and gateway) becomes active, runs as a dynamic user with its
store in its StateDirectory, answers /healthz on both ports and scans;
modelgate-api.service, two modelgate-worker@ instances and
modelgate-gateway.service on a throwaway PostgreSQL (pglib.py) become
active, the API and the gateway answer /healthz, scans posted to the API are
run by a worker (each exactly once, none by the API) and stored; the
sandbox is in force (non-root user, NoNewPrivs, no capabilities, seccomp,
LimitNOFILE on the gateway); a worker killed with -9 is restarted by
systemd (Restart=on-failure) and scans again; `systemctl stop` of each unit
ends it with SIGTERM and systemd records a clean exit (no SIGKILL, no
timeout).
"""
import glob
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pglib import pg_start, pg_stop, psql, store_rows_at  # noqa: E402
from svclib import EXAMPLES, ROOT, Checks, free_port, http_request, wait_for  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
SHIPPED = os.path.join(ROOT, "deploy", "systemd")
UNITS = ["modelgate.service", "modelgate-api.service", "modelgate-worker@.service", "modelgate-gateway.service"]
INSIDE = "/run/modelgate-test"  # the test's folder, inside the manager's namespaces
SYSTEMD = "/lib/systemd/systemd"
PASSWORD = "mg-systemd-test-password"
STUB_TARGETS = ["sysinit", "basic", "sockets", "paths", "timers", "local-fs", "network", "network-online",
                "multi-user", "shutdown"]
check = Checks()
# what systemd logs when a stop was not clean
BAD_STOP = r"Failed with result|Killing|timed out|code=killed|status=[1-9]"

# Runs as PID 1 of the new namespaces: private mounts (unshare made them
# private: nothing here reaches the machine), then exec systemd.
INNER = r"""
set -e
w=$1 tty=$2
mount -t cgroup2 cgroup2 /sys/fs/cgroup
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir /run/modelgate-test
mount --bind "$w" /run/modelgate-test
for d in var/lib var/cache var/tmp tmp; do mount --bind "$w/$d" "/$d"; done
mount --make-rshared /
mount --bind "$tty" /dev/console
exec env -i container=modelgate-test SYSTEMD_UNIT_PATH=/run/modelgate-test/units \
    PATH=/usr/sbin:/usr/bin:/sbin:/bin "$3" --unit=modelgate-test.target --log-target=console \
    --log-level=debug --log-color=no
"""
# Moves itself into the new cgroup, then makes the namespaces.
OUTER = ('echo $$ > "$1/cgroup.procs" && exec unshare --pid --mount --cgroup --uts --ipc --fork --mount-proc '
         '--propagation private sh -c "$2" inner "$3" "$4" "$5"')
# Cleans up if this process dies without doing it (kill -9).
WATCH = ('me=$1 pid=$2 cg=$3 work=$4; while kill -0 "$me" 2>/dev/null; do sleep 0.5; done; '
         'kill -9 "$pid" 2>/dev/null; sleep 1; find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null; '
         'rm -rf "$work"')


def substituted(text, binary, etc):
    """A shipped unit with the two install paths replaced."""
    return text.replace("/usr/local/bin/modelgate", binary).replace("/etc/modelgate/", etc)


def install(work):
    """The units, stand-in targets and test drop-in under work/units; the
    binary, environment file and pgpass under work/bin and work/etc."""
    for d in ("units/service.d", "bin", "etc", "logs", "models", "var/lib", "var/cache", "var/tmp", "tmp"):
        os.makedirs(os.path.join(work, d), exist_ok=True)
    for d in ("tmp", "var/tmp"):
        os.chmod(os.path.join(work, d), 0o1777)
    shutil.copy(BIN, os.path.join(work, "bin", "modelgate"))
    for name in UNITS:
        with open(os.path.join(SHIPPED, name)) as f:
            text = f.read()
        with open(os.path.join(work, "units", name), "w") as f:
            f.write(substituted(text, INSIDE + "/bin/modelgate", INSIDE + "/etc/"))
    with open(os.path.join(work, "units", "modelgate-test.target"), "w") as f:
        f.write("[Unit]\nDescription=systemd_test.py: nothing but the manager\n")
    for t in STUB_TARGETS:
        with open(os.path.join(work, "units", t + ".target"), "w") as f:
            f.write("[Unit]\nDescription=systemd_test.py: stand-in for %s.target\n" % t)
    asan = "detect_leaks=0:abort_on_error=0:halt_on_error=1"
    with open(os.path.join(work, "units", "service.d", "50-test.conf"), "w") as f:
        f.write("# systemd_test.py: test-only settings for every service\n[Service]\n"
                "Environment=ASAN_OPTIONS=%s UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1\n"
                "StandardOutput=append:%s/logs/%%n.log\nStandardError=inherit\n" % (asan, INSIDE))
    for m in ("clean-model", "tampered-model"):
        shutil.copytree(os.path.join(EXAMPLES, m), os.path.join(work, "models", m))
    for dirpath, dirs, files in os.walk(os.path.join(work, "models")):
        os.chmod(dirpath, 0o755)
        for name in files:
            os.chmod(os.path.join(dirpath, name), 0o644)
    pgpass = os.path.join(work, "etc", "pgpass")
    with open(pgpass, "w") as f:
        f.write("*:*:modelgate:modelgate:%s\n" % PASSWORD)
    os.chmod(pgpass, 0o600)


def write_env(work, values):
    """The shipped modelgate.env with `values` appended."""
    with open(os.path.join(SHIPPED, "modelgate.env")) as f:
        text = f.read()
    text += "\n# systemd_test.py\n" + "".join("%s=%s\n" % kv for kv in values.items())
    with open(os.path.join(work, "etc", "modelgate.env"), "w") as f:
        f.write(text)
    os.chmod(os.path.join(work, "etc", "modelgate.env"), 0o600)


def verify(work):
    """systemd-analyze verify on the shipped files, the install paths
    replaced by where they are on this machine (it checks that ExecStart's
    program exists)."""
    d = os.path.join(work, "verify")
    os.makedirs(d)
    for name in UNITS:
        with open(os.path.join(SHIPPED, name)) as f:
            text = f.read()
        with open(os.path.join(d, name), "w") as f:
            f.write(substituted(text, os.path.join(work, "bin", "modelgate"), os.path.join(work, "etc") + "/"))
    p = subprocess.run(["systemd-analyze", "verify", "--man=no"] + UNITS, cwd=d, capture_output=True, text=True,
                       timeout=60)
    out = (p.stdout + p.stderr).strip()
    check("systemd-analyze verify accepts the shipped units", p.returncode == 0 and "modelgate" not in out, out)


def cgroup2_dir():
    """This process's cgroup in the cgroup v2 hierarchy (the unified one on
    a hybrid machine), as a path under its mount point."""
    mnt = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            if fields[fields.index("-") + 1] == "cgroup2":
                mnt = fields[4]
                break
    with open("/proc/self/cgroup") as f:
        path = [line[3:].strip() for line in f if line.startswith("0::")]
    if not mnt or not path:
        raise RuntimeError("no cgroup v2 hierarchy mounted")
    return mnt + path[0]


class Manager:
    """systemd as PID 1 of its own namespaces (see the module's comment)."""

    def __init__(self, work):
        self.work, self.pid1, self.watcher = work, None, None
        self.log_path = os.path.join(work, "manager.log")
        self.cgroup = tempfile.mkdtemp(prefix="modelgate-systemd-test-", dir=cgroup2_dir())
        self.master, self.slave = os.openpty()
        self.log = open(self.log_path, "ab")
        threading.Thread(target=self._drain, daemon=True).start()
        self.proc = subprocess.Popen(["sh", "-c", OUTER, "outer", self.cgroup, INNER, work,
                                      os.ttyname(self.slave), SYSTEMD], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log, start_new_session=True)
        deadline = time.time() + 20
        while time.time() < deadline and self.pid1 is None and self.proc.poll() is None:
            kids = open("/proc/%d/task/%d/children" % (self.proc.pid, self.proc.pid)).read().split()
            if kids and os.readlink("/proc/%s/exe" % kids[0]).endswith("/systemd"):
                self.pid1 = int(kids[0])
            time.sleep(0.05)
        if self.pid1 is None:
            raise RuntimeError("systemd did not start:\n" + self.log_text()[-3000:])
        self.watcher = subprocess.Popen(["sh", "-c", WATCH, "watch", str(os.getpid()), str(self.pid1), self.cgroup,
                                         work], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        state = ""
        while time.time() < deadline and state not in ("running", "degraded"):
            state = self.systemctl("is-system-running").stdout.strip()
            time.sleep(0.05)
        if state not in ("running", "degraded"):
            raise RuntimeError("systemd is %r:\n%s" % (state, self.log_text()[-3000:]))

    def _drain(self):
        while True:
            try:
                data = os.read(self.master, 65536)
            except OSError:
                return
            if not data:
                return
            self.log.write(data)
            self.log.flush()

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read().replace("\r\n", "\n")

    def inside(self, *argv, timeout=60):
        """A command run in the manager's namespaces (its /run, its PIDs)."""
        return subprocess.run(["nsenter", "-t", str(self.pid1), "-m", "-p", "-C"] + list(argv),
                              capture_output=True, text=True, timeout=timeout)

    def systemctl(self, *args):
        return self.inside("systemctl", "--no-pager", *args)

    def show(self, unit, *props):
        out = self.systemctl("show", unit, "-p", ",".join(props)).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def status(self, unit):
        return self.systemctl("status", "--lines=0", unit).stdout

    def proc_file(self, unit, name):
        """/proc/MAINPID/<name> of a unit's main process, or ''."""
        pid = self.show(unit, "MainPID").get("MainPID", "0")
        if pid == "0":
            return ""
        return self.inside("cat", "/proc/%s/%s" % (pid, name)).stdout

    def close(self):
        if self.pid1:
            try:
                os.kill(self.pid1, signal.SIGKILL)  # PID 1 gone: the kernel ends its whole namespace
            except ProcessLookupError:
                pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        deadline = time.time() + 10
        while os.path.isdir(self.cgroup) and time.time() < deadline:
            for d in sorted((d for d, _, _ in os.walk(self.cgroup)), key=len, reverse=True):
                try:
                    os.rmdir(d)
                except OSError:
                    pass
            time.sleep(0.1)
        if os.path.isdir(self.cgroup):
            print("# cgroup %s could not be removed" % self.cgroup)
        if self.watcher:
            self.watcher.terminate()
            self.watcher.wait()
        os.close(self.slave)
        os.close(self.master)
        self.log.close()


def unit_log(work, unit):
    try:
        with open(os.path.join(work, "logs", unit + ".log"), errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def healthz(port, timeout=30):
    def ok():
        try:
            return http_request(port, "GET", "/healthz", timeout=5)[0] == 200
        except OSError:
            return False
    return wait_for(ok, timeout)


def admin_token(work, unit):
    m = wait_for(lambda: re.search(r"^admin token: (\S+)$", unit_log(work, unit), re.M), 20)
    return m.group(1) if m else ""


def scan(port, token, model, wait=True):
    """POST /api/v1/scans of a model under work/models: (status, doc)."""
    import json
    body = json.dumps({"model_uri": "%s/models/%s" % (INSIDE, model)}).encode()
    path = "/api/v1/scans" + ("?wait=true&timeout=60" if wait else "")
    st, _, raw = http_request(port, "POST", path, body, {"Content-Type": "application/json",
                                                         "Authorization": "Bearer " + token}, timeout=90)
    try:
        return st, json.loads(raw)
    except ValueError:
        return st, {}


def start(mgr, *units):
    p = mgr.systemctl("start", *units)
    for u in units:
        st = mgr.show(u, "ActiveState", "SubState")
        check("%s becomes active" % u, p.returncode == 0 and st.get("ActiveState") == "active",
              (p.stderr, st, mgr.status(u)))


def sandboxed(mgr, unit, what):
    """The unit's main process runs as a non-root user, with no_new_privs,
    no capabilities and a seccomp filter."""
    status = mgr.proc_file(unit, "status")
    f = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
    uid = f.get("Uid", "0").split()[0]
    check("%s runs sandboxed (%s)" % (unit, what),
          uid != "0" and f.get("NoNewPrivs", "").strip() == "1" and f.get("CapEff", "").strip() == "0" * 16 and
          f.get("CapBnd", "").strip() == "0" * 16 and f.get("Seccomp", "").strip() == "2", status)


def stopped_cleanly(mgr, work, units):
    """systemctl stop; systemd records each main process as exited with
    status 0 and the unit as deactivated successfully, none killed or timed
    out; modelgate logged that SIGTERM stopped it."""
    before = mgr.log_text()
    t0 = time.time()
    p = mgr.systemctl("stop", *units)
    took = time.time() - t0
    new = mgr.log_text()[len(before):]
    for u in units:
        lines = [line for line in new.splitlines() if line.startswith(u + ":")]
        check("systemctl stop %s: a clean exit (SIGTERM, exit 0)" % u,
              p.returncode == 0 and any("Deactivated successfully" in line for line in lines) and
              any("Main process exited, code=exited, status=0/SUCCESS" in line for line in lines) and
              not any(re.search(BAD_STOP, line) for line in lines) and
              "signal 15, stopping" in unit_log(work, u), (p.stderr, lines))
    print("# stopped %s in %.1f s" % (" ".join(units), took))


def single_node(mgr, work):
    api, gw = free_port(), free_port()
    write_env(work, {"MODELGATE_LISTEN": "127.0.0.1:%d" % api, "MODELGATE_GATEWAY": "127.0.0.1:%d" % gw,
                     "MODELGATE_ROOTS": INSIDE + "/models"})
    unit = "modelgate.service"
    start(mgr, unit)
    check("modelgate.service answers /healthz (API and gateway)", healthz(api) and healthz(gw), unit_log(work, unit))
    sandboxed(mgr, unit, "dynamic user")
    token = admin_token(work, unit)
    st, doc = scan(api, token, "tampered-model")
    check("modelgate.service scans a model", st == 200 and doc.get("eval_outcome") == "BLOCKED", (st, doc))
    limits = mgr.proc_file(unit, "limits")
    check("modelgate.service: LimitNOFILE applies", re.search(r"Max open files\s+16384\s+16384", limits), limits)
    stopped_cleanly(mgr, work, [unit])
    db = os.path.join(work, "var", "lib", "private", "modelgate", "modelgate.db")
    st_dir = os.stat(os.path.dirname(db)) if os.path.exists(db) else None
    rows = []
    if st_dir:
        con = sqlite3.connect(db)
        rows = con.execute("SELECT state, eval_outcome FROM scans").fetchall()
        con.close()
    check("the SQLite store is in the StateDirectory, owned by the dynamic user, mode 0700",
          st_dir and st_dir.st_uid != 0 and (st_dir.st_mode & 0o777) == 0o700 and rows == [("DONE", "BLOCKED")],
          (st_dir, rows, sorted(glob.glob(os.path.join(work, "var", "lib", "**"), recursive=True))[:20]))


def pg_role(url):
    """A role `modelgate` that owns the database and must give its password
    over the socket (the rest of the cluster stays trust, for the test)."""
    psql(url, "CREATE ROLE modelgate LOGIN PASSWORD '%s'" % PASSWORD)
    psql(url, "ALTER DATABASE modelgate OWNER TO modelgate")
    hba = os.path.join(url.cluster.data, "pg_hba.conf")
    with open(hba) as f:
        text = f.read()
    with open(hba, "w") as f:
        f.write("local modelgate modelgate scram-sha-256\n" + text)
    psql(url, "SELECT pg_reload_conf()")
    os.chmod(url.cluster.root, 0o711)  # the units' users reach the socket in it


def ran(work, units, uuid):
    pat = re.compile(r"^modelgate: scan %s (ALLOWED|BLOCKED|ERROR) in " % re.escape(uuid), re.M)
    return [len(pat.findall(unit_log(work, u))) for u in units]


def cluster(mgr, work, url):
    pg_role(url)
    inside_url = "postgresql://modelgate@/modelgate?host=%s/%s&port=%d" % (
        INSIDE, os.path.basename(url.cluster.root), url.cluster.port)
    api, gw = free_port(), free_port()
    write_env(work, {"MODELGATE_STORE": inside_url, "MODELGATE_LISTEN": "127.0.0.1:%d" % api,
                     "MODELGATE_GATEWAY": "127.0.0.1:%d" % gw, "MODELGATE_ROOTS": INSIDE + "/models"})
    workers = ["modelgate-worker@1.service", "modelgate-worker@2.service"]
    start(mgr, "modelgate-api.service")
    check("modelgate-api.service answers /healthz", healthz(api), unit_log(work, "modelgate-api.service"))
    check("the API logs in as `modelgate` with the password of the pgpass credential",
          "as modelgate" in unit_log(work, "modelgate-api.service"), unit_log(work, "modelgate-api.service"))
    start(mgr, *workers)
    token = admin_token(work, "modelgate-api.service")
    got = [scan(api, token, m) for m in ("clean-model", "tampered-model")]
    check("scans posted to the api unit finish with their verdicts",
          [(st, d.get("eval_outcome")) for st, d in got] == [(200, "ALLOWED"), (200, "BLOCKED")], got)
    uuids = [d.get("uuid", "") for _, d in got]
    rows = {r[0]: r[1:] for r in store_rows_at(url, "SELECT uuid, state, attempts, eval_outcome FROM scans")}
    check("each report is stored once, DONE, claimed once",
          all(rows.get(u) in (("DONE", 1, "ALLOWED"), ("DONE", 1, "BLOCKED")) for u in uuids) and len(rows) == 2,
          rows)
    counts = [ran(work, workers, u) for u in uuids]
    check("each scan ran exactly once, on a worker@ instance", all(sum(c) == 1 for c in counts), counts)
    check("the api unit ran none", all(ran(work, ["modelgate-api.service"], u) == [0] for u in uuids))

    # the gateway runs queued scans too: it starts once the workers' scans are done
    start(mgr, "modelgate-gateway.service")
    check("modelgate-gateway.service answers /healthz", healthz(gw), unit_log(work, "modelgate-gateway.service"))
    for u in ["modelgate-api.service", workers[0], "modelgate-gateway.service"]:
        sandboxed(mgr, u, "dynamic user")
    limits = mgr.proc_file("modelgate-gateway.service", "limits")
    check("the gateway's LimitNOFILE applies", re.search(r"Max open files\s+16384\s+16384", limits), limits)
    check("the gateway's blob cache is in its CacheDirectory",
          os.path.isdir(os.path.join(work, "var", "cache", "private", "modelgate-gateway")),
          sorted(glob.glob(os.path.join(work, "var", "cache", "**"), recursive=True))[:20])
    check("the API needs no folder of its own",
          not os.path.exists(os.path.join(work, "var", "lib", "private", "modelgate-api")))

    killed(mgr, work, api, token, workers[0], [workers[1], "modelgate-gateway.service"])
    stopped_cleanly(mgr, work, [workers[0], "modelgate-api.service"])


def killed(mgr, work, api, token, unit, others):
    """kill -9 of a worker's main process: systemd starts it again; with
    `others` (the units that could run scans) stopped, it runs one."""
    pid = mgr.show(unit, "MainPID").get("MainPID", "0")
    p = mgr.inside("kill", "-9", pid)
    check("kill -9 of %s's main process" % unit, pid != "0" and p.returncode == 0, (pid, p.stderr))

    def restarted():
        st = mgr.show(unit, "NRestarts", "ActiveState", "MainPID")
        return st if st.get("NRestarts") == "1" and st.get("ActiveState") == "active" and \
            st.get("MainPID") not in ("0", pid) else None
    st = wait_for(restarted, 20)
    log = mgr.log_text()
    check("systemd restarts the killed worker (Restart=on-failure)",
          st and "%s: Main process exited, code=killed, status=9/KILL" % unit in log,
          (mgr.show(unit, "NRestarts", "ActiveState", "MainPID"), log[-2000:]))
    stopped_cleanly(mgr, work, others)
    st, doc = scan(api, token, "clean-model")
    check("the restarted worker runs a scan", st == 200 and doc.get("eval_outcome") == "ALLOWED" and
          ran(work, [unit], doc.get("uuid", "")) == [1], (st, doc))


def steps(work):
    install(work)
    verify(work)
    t0 = time.time()
    mgr = Manager(work)
    print("# systemd manager ready in %.1f s" % (time.time() - t0))
    url = None
    try:
        single_node(mgr, work)
        url = pg_start(work)
        cluster(mgr, work, url)
    finally:
        if check.failed:
            print("--- manager log ---\n" + mgr.log_text()[-4000:])
            for log in sorted(glob.glob(os.path.join(work, "logs", "*.log"))):
                print("--- %s ---\n%s" % (os.path.basename(log), open(log, errors="replace").read()[-1500:]))
        mgr.close()
        if url:
            pg_stop(url)


def main():
    if os.geteuid() != 0:
        check("runs as root (systemd as PID 1 of new namespaces needs it)", False, "euid %d" % os.geteuid())
        return check.summary()
    work = tempfile.mkdtemp(prefix="mg-systemd-")
    os.chmod(work, 0o755)  # the units' users reach the binary and models in it
    t0 = time.time()
    try:
        steps(work)
    except Exception as e:
        import traceback
        traceback.print_exc()
        check("the suite ran to the end", False, repr(e))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("# %.1f s" % (time.time() - t0))
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
