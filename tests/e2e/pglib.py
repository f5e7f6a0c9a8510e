"""pglib.py - a throwaway PostgreSQL cluster for the suites that run the
service on the PostgreSQL store (pg_suites.py), and the suites' own look into
whichever store the service under test uses.

The cluster is Debian's PostgreSQL server (/usr/lib/postgresql/N/bin, the
newest N), initialised in a temporary folder by the test itself: never the
machine's own cluster. It listens only on a unix socket in that folder
(listen_addresses is empty: nothing on the network); the port is a free TCP
port all the same, since it names the socket and keeps the URL ordinary.
initdb and postgres refuse to run as root, so as root they run as the
`postgres` user (runuser) and the folder is handed to that user.

For speed, and for this reason only, the flushes to disk are switched off
(fsync, full_page_writes): a crash of the machine may lose the cluster, which
is thrown away anyway. synchronous_commit stays on, so a commit's WAL is
written to the kernel before it is acknowledged: a killed postgres (pg_kill)
recovers every acknowledged commit, as a real one does.

pg_start(tmp_dir) returns the libpq URL of its database `modelgate`; that
URL (a str) is also the handle pg_stop, pg_restart, pg_kill and pg_createdb
take. A cluster is removed when the test stops it, when the Python process
exits, and, if the process is killed outright, by a small watcher process
that stops the cluster once the test's process is gone.

store_rows/store_run let a suite read or change the service's store
directly (to move a time back, or to see what is stored): the SQLite file
under --data, or, when MODELGATE_TEST_STORE names a PostgreSQL database, that
database through psql.
"""
import atexit
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import tempfile
import time
import urllib.parse

# the settings a test cluster starts with (appended to its postgresql.conf)
SETTINGS = """
# tests/e2e/pglib.py: a throwaway test cluster, never data anyone keeps
listen_addresses = ''
port = {port}
unix_socket_directories = '{sock}'
# test only: durability off for speed (the cluster is deleted after the run)
fsync = off
synchronous_commit = on
full_page_writes = off
max_connections = 200  # room for several services on one database
"""
_running = []  # clusters this process started and has not stopped


class Cluster:
    """One test cluster: its folder (owned by the cluster's user), data
    folder, socket folder, port, log, programs, the postgres process and the
    watcher."""

    def __init__(self, bindir, root):
        self.bindir, self.root = bindir, root
        self.sock, self.data, self.log = root, os.path.join(root, "data"), os.path.join(root, "log")
        self.port = 0
        self.proc = self.watcher = None


class Pg(str):
    """The libpq URL of one database of a test cluster, with the cluster
    (`.cluster`): what pg_stop, pg_restart, pg_kill and pg_createdb take."""

    cluster = None


def pg_bindir():
    """The newest Debian PostgreSQL server's programs, or None."""
    found = [d for d in glob.glob("/usr/lib/postgresql/*/bin") if os.access(os.path.join(d, "initdb"), os.X_OK)]
    found.sort(key=lambda d: int(re.sub(r"\D", "", d.split("/")[-2]) or 0))
    return found[-1] if found else None


def _as_owner(argv):
    """argv run as the cluster's owner: `postgres` when we are root."""
    return (["runuser", "-u", "postgres", "--"] + argv) if os.geteuid() == 0 else argv


def _run(c, argv, timeout=60):
    p = subprocess.run(_as_owner(argv), cwd=c.root, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError("%s failed (%d): %s%s\n--- postgres log ---\n%s" % (
            os.path.basename(argv[0]), p.returncode, p.stdout[-1000:], p.stderr[-2000:], _log_tail(c)))
    return p.stdout


def _log_tail(c):
    try:
        with open(c.log, errors="replace") as f:
            return f.read()[-3000:]
    except OSError:
        return ""


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _url(c, dbname):
    url = Pg("postgresql://postgres@/%s?host=%s&port=%d" % (dbname, urllib.parse.quote(c.sock, safe="/"), c.port))
    url.cluster = c
    return url


def _watch(c):
    """A watcher in its own session: when this process is gone (even by
    SIGKILL) while the cluster's folder still exists, it stops the cluster
    and removes the folder."""
    # a zombie counts as gone: a container's init may reap it late
    script = ('pid=$1 root=$2; shift 2; '
              'alive() { read -r s < "/proc/$pid/stat" || return 1; s=${s##*) }; [ "${s%% *}" != Z ]; }; '
              'while alive && [ -d "$root" ]; do sleep 0.5; done; '
              'if [ -d "$root" ]; then "$@" stop -D "$root/data" -m immediate -w -t 20; rm -rf "$root"; fi')
    argv = ["sh", "-c", script, "pglib-watch", str(os.getpid()), c.root]
    return subprocess.Popen(argv + _as_owner([os.path.join(c.bindir, "pg_ctl")]), stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def pg_start(tmp_dir):
    """initdb and start a cluster in a new folder under `tmp_dir`, create the
    database `modelgate`; its URL, which is also the cluster's handle. As
    root, `tmp_dir` is made traversable (not readable) by other users, since
    the `postgres` user must reach the folder inside it."""
    bindir = pg_bindir()
    if not bindir:
        raise RuntimeError("no PostgreSQL server under /usr/lib/postgresql (Debian package postgresql)")
    c = Cluster(bindir, tempfile.mkdtemp(prefix="pg.", dir=os.path.abspath(tmp_dir)))
    if len(os.path.join(c.sock, ".s.PGSQL.65535")) > 100:  # sun_path holds 108 bytes
        shutil.rmtree(c.root)
        raise RuntimeError("socket path too long under %s" % tmp_dir)
    if os.geteuid() == 0:
        os.chmod(tmp_dir, os.stat(tmp_dir).st_mode | 0o111)
        shutil.chown(c.root, "postgres", "postgres")
    _running.append(c)
    c.watcher = _watch(c)
    try:
        _run(c, [os.path.join(bindir, "initdb"), "-D", c.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                 "--locale=C", "--no-sync", "--no-instructions"])
        c.port = _free_port()
        with open(os.path.join(c.data, "postgresql.conf"), "a") as f:
            f.write(SETTINGS.format(port=c.port, sock=c.sock.replace("'", "''")))
        _postgres_start(c)
        return pg_createdb(_url(c, "postgres"), "modelgate")
    except BaseException:
        _stop(c)
        raise


def _postgres_start(c, timeout=30):
    """Starts postgres as this process's child (runuser's, as root: runuser
    waits for it), so that a postmaster killed later is reaped at once and
    its stale lock file never names a zombie; waits until it takes
    connections, as pg_ctl -w does."""
    with open(c.log, "ab") as log:
        c.proc = subprocess.Popen(_as_owner([os.path.join(c.bindir, "postgres"), "-D", c.data]), cwd=c.root,
                                  stdin=subprocess.DEVNULL, stdout=log, stderr=log)
    deadline = time.time() + timeout
    while time.time() < deadline:
        if c.proc.poll() is not None:
            raise RuntimeError("postgres exited (%d):\n%s" % (c.proc.returncode, _log_tail(c)))
        pid = _postmaster_pid(c, "ready")
        if pid:
            return
        time.sleep(0.02)
    raise RuntimeError("postgres not ready within %d s:\n%s" % (timeout, _log_tail(c)))


def _postmaster_pid(c, status=None):
    """The running postmaster's pid from its lock file (when its status line
    says `status`, if given), or None."""
    try:
        with open(os.path.join(c.data, "postmaster.pid")) as f:
            lines = f.read().splitlines()
        pid = int(lines[0])
    except (OSError, ValueError, IndexError):
        return None
    if status and (len(lines) < 8 or lines[7].strip() != status):
        return None
    return pid if _alive(pid) else None


def _alive(pid):
    """Whether `pid` is a process that has not exited (a zombie has)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _children(pid):
    out = []
    for stat in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(stat) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                out.append(int(stat.split("/")[2]))
        except (OSError, IndexError, ValueError):
            continue
    return out


def _postgres_stop(c, timeout=30):
    """Fast shutdown (SIGINT to the postmaster: clients are disconnected, a
    shutdown checkpoint is written); waits for postgres to exit."""
    pid = _postmaster_pid(c)
    if pid:
        os.kill(pid, signal.SIGINT)
    if c.proc is not None:
        c.proc.wait(timeout)
        c.proc = None


def _kill(c, timeout=20):
    pid = _postmaster_pid(c)
    pids = ([pid] + _children(pid)) if pid else []
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if c.proc is not None:
        c.proc.wait(timeout)
        c.proc = None
    deadline = time.time() + timeout
    while any(_alive(p) for p in pids):
        if time.time() > deadline:
            raise RuntimeError("postgres processes alive after SIGKILL: %s" % [p for p in pids if _alive(p)])
        time.sleep(0.02)


def _stop(c):
    if c.watcher is not None and c.watcher.poll() is None:
        c.watcher.terminate()
        c.watcher.wait()
    try:
        _postgres_stop(c)
    except subprocess.TimeoutExpired:
        _kill(c)
    shutil.rmtree(c.root, ignore_errors=True)
    if c in _running:
        _running.remove(c)


def pg_stop(url):
    """Stops the cluster (fast: clients are disconnected) and deletes its
    folder. Stopping twice is harmless."""
    _stop(url.cluster)


def pg_kill(url):
    """kill -9 of the whole server, as when its machine is lost: postmaster
    and every backend at once, no shutdown checkpoint. The cluster stays down;
    pg_restart brings it back through crash recovery."""
    _kill(url.cluster)


def pg_restart(url):
    """Stops the cluster (fast, if it runs) and starts it again on the same
    socket; after pg_kill this is the start after a crash."""
    c = url.cluster
    _postgres_stop(c)
    _postgres_start(c)


def pg_createdb(url, name):
    """A new empty database `name` (lowercase letters, digits, _) in the
    cluster of `url`; its URL (the cluster's handle as well)."""
    c = url.cluster
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", name):
        raise ValueError("database name %r" % name)
    _run(c, [os.path.join(c.bindir, "createdb"), "-h", c.sock, "-p", str(c.port), "-U", "postgres", name])
    return _url(c, name)


def psql(url, sql, params=()):
    """Runs `sql` with psql on the database at `url`; `?` in it stand for
    `params`, passed as psql variables and quoted by psql as literals (no
    value is pasted into the text). psql's output (unaligned, tuples only);
    RuntimeError when a statement fails."""
    parts = sql.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError("%d placeholders for %d values" % (len(parts) - 1, len(params)))
    text = parts[0] + "".join(":'p%d'%s" % (i, part) for i, part in enumerate(parts[1:]))
    argv = [os.path.join(pg_bindir() or "/usr/bin", "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]
    for i, v in enumerate(params):
        argv += ["-v", "p%d=%s" % (i, v)]
    p = subprocess.run(argv + ["-f", "-", str(url)], input=text + ";\n", capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError("psql: %s (%s)" % (p.stderr.strip()[-1000:], sql[:200]))
    return p.stdout


_made = set()  # the data folders' databases made by this process


def test_store(data=None):
    """The PostgreSQL URL the suites run the service on (MODELGATE_TEST_STORE),
    or None: then the store is the SQLite file under --data. With `data`,
    the database of that data folder: a store per folder, as the SQLite file
    is, made empty on first use in MODELGATE_TEST_STORE's cluster (so a
    suite that starts services on several folders sees each start on a new
    store, and a restart on the same folder finds its store again)."""
    url = os.environ.get("MODELGATE_TEST_STORE") or None
    if url is None or data is None:
        return url
    name = "mg_d" + hashlib.sha1(os.path.abspath(data).encode()).hexdigest()[:20]
    if name not in _made:
        if not psql(url, "SELECT 1 FROM pg_database WHERE datname = ?", (name,)).strip():
            psql(url, "CREATE DATABASE " + name)  # a name of hex digits: nothing to quote
        _made.add(name)
    parts = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit(parts._replace(path="/" + name))


def _distinct(pairs):
    if len({k for k, _ in pairs}) != len(pairs):
        raise ValueError("give the selected columns distinct names: %s" % [k for k, _ in pairs])
    return dict(pairs)


def store_rows_at(url, sql, params=()):
    """The rows (tuples) of one SELECT on the database at `url`; the
    columns need distinct names (the rows come back as JSON objects)."""
    out = psql(url, "SELECT coalesce(json_agg(t), '[]') FROM (%s) t" % sql, params)
    return [tuple(row.values()) for row in json.loads(out, object_pairs_hook=_distinct)]


def store_rows(data, sql, params=()):
    """The rows (tuples) of one SELECT on the service's store."""
    url = test_store(data)
    if url is None:
        db = sqlite3.connect(os.path.join(data, "modelgate.db"), timeout=10)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()
    return store_rows_at(url, sql, params)


def store_run(data, sql, params=()):
    """One statement that changes the service's store, committed."""
    url = test_store(data)
    if url is None:
        db = sqlite3.connect(os.path.join(data, "modelgate.db"), timeout=10)
        try:
            db.execute(sql, params)
            db.commit()
        finally:
            db.close()
        return
    psql(url, sql, params)


@atexit.register
def _stop_all():
    for c in list(_running):
        _stop(c)


def _self_test():
    """python3 pglib.py: start, query, restart, kill and restart, stop; times."""
    tmp = tempfile.mkdtemp(prefix="mg-pglib-")
    try:
        t0 = time.time()
        url = pg_start(tmp)
        t1 = time.time()
        print("started in %.2fs: %s" % (t1 - t0, url))
        psql(url, "CREATE TABLE t (v text)")
        psql(url, "INSERT INTO t VALUES (?)", ("it's\nhere",))
        print("rows:", store_rows_at(url, "SELECT v FROM t"))
        t2 = time.time()
        pg_restart(url)
        print("restarted in %.2fs, rows: %s" % (time.time() - t2, store_rows_at(url, "SELECT v FROM t")))
        pg_kill(url)
        t3 = time.time()
        pg_restart(url)
        print("killed, restarted in %.2fs, rows: %s, crash recovery: %s" % (
            time.time() - t3, store_rows_at(url, "SELECT v FROM t"),
            "not properly shut down" in _log_tail(url.cluster)))
        other = pg_createdb(url, "other")
        print("createdb:", store_rows_at(other, "SELECT current_database()"))
        t4 = time.time()
        pg_stop(url)
        print("stopped in %.2fs; folder left: %s" % (time.time() - t4, os.listdir(tmp)))
    finally:
        _stop_all()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    _self_test()
