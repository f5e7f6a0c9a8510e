#!/usr/bin/python3
"""standin_hub.py - a stand-in Hugging Face hub for tests: serves model,
dataset and space repositories from a folder, with the endpoints, headers and
errors of the real Hub that download clients depend on (see
../shared/design/hub-and-s3.md, sections 2-4), and a second listener that plays
the LFS CDN (a different port, so a different origin).

Layout of --root:
    ROOT/<ns>/<name>/<rev>/...files...         a model repo; every folder is a branch
    ROOT/datasets/<ns>/<name>/<rev>/...        a dataset repo
    ROOT/spaces/<ns>/<name>/<rev>/...          a space repo
    ROOT/<ns>/<name>/.tags.json                optional {"v1.0": "main"}: tags naming a branch folder
    ROOT/<ns>/<name>/.private                  a private repo (any kind): see --token-scope
A branch folder's name is URL-decoded, so a folder `refs%2Fpr%2F1` is the
revision `refs/pr/1`. Each branch gets a deterministic commit sha: sha1 over
its sorted (path, git blob oid) list and its name. Nothing about a branch is
cached but file hashes (keyed by path, inode, size, mtime and ctime; small
files are always hashed again), so a test that replaces the files of a branch
folder moves the branch: the next request sees the new commit.

Files larger than --lfs-threshold are LFS files: their tree entry carries
`lfs: {oid: sha256, size, pointerSize}` and /resolve answers 302 to the CDN
listener with a signed URL. Files larger than --hash-max are hashed over
their data extents only (SEEK_DATA/SEEK_HOLE: offsets and bytes), so a
multi-GiB sparse file is never read whole; their oids are then not the
sha256/sha1 of the full content (the only deviation from the Hub). Bodies
are served by pread() of the requested range, never whole.

Endpoints (models; /api/datasets/..., /datasets/..., /api/spaces/... and
/spaces/... alike):
    GET  /api/models/NS/NAME[/revision/REV][?expand=K...]
    GET  /api/models/NS/NAME/tree/REV[/PATH][?recursive=true&expand=false&cursor=C]
    POST /api/models/NS/NAME/paths-info/REV       JSON or form body
    HEAD|GET /NS/NAME/resolve/REV/PATH            Range supported
    HEAD|GET /NS/NAME/raw/REV/PATH                LFS files: the pointer text
    GET  /api/models/NS/NAME/xet-read-token/REV   (--xet) a read token
    CDN: HEAD|GET /repos/AA/BB/SHA256?...&Expires=E&Signature=S
Errors as the Hub sends them: X-Error-Code (RepoNotFound, RevisionNotFound,
EntryNotFound) and X-Error-Message headers plus a JSON {"error": ...} body.

Options: --root DIR, --host H, --port P (0: any), --cdn-port P, --token T
(every hub request must carry `Authorization: Bearer T`; with --token-scope
private only requests for repos marked .private must, as the Hub's private
repos: 401 + RepoNotFound without it, other repos stay public), --page-size N,
--lfs-threshold BYTES, --hash-max BYTES, --delay-ms N and --fail-status N
(faults for hub requests whose path matches --fault-match, default
"/resolve/"), --ignore-range (answer 200 with the whole file, as a server
without range support does), --cdn-hops N (the CDN redirects N more times, relative
Locations), --cdn-base URL and --link-base URL (what LFS Locations and tree
Link headers point at: to test clients against foreign hosts),
--corrupt-match REGEX (the CDN flips the last byte of LFS files whose path
under --root matches: content that does not match its sha256), --rename
OLD=NEW (a renamed repo: 307 with a relative Location), --log FILE (one
JSON line per request: listener, method, path, range, auth, accept, ua
(User-Agent), status, xet: true when the answer was Xet file info).
--xet: LFS files are Xet-backed, as most on the Hub are: their tree and
paths-info entries carry xetHash, their /resolve answers carry `X-Xet-Hash`
and `Link: <...xet-read-token/SHA>; rel="xet-auth", <.../cas/reconstruction/H>;
rel="xet-reconstruction-info"`, and a /resolve whose Accept names
application/vnd.xet-fileinfo+json gets a 200 with that Content-Type and a small
JSON body instead of a redirect to the bytes (what makes clients download from
the Xet CAS, around a proxy that does not strip it; /cas/ itself is not served).
Revision "HEAD" is main. Not served: legacy one-segment repo ids, Xet content,
uploads.

When ready it prints one JSON line on stdout:
    {"port": P, "cdn_port": Q, "url": "http://127.0.0.1:P", "cdn_url": "..."}
and serves until SIGTERM or SIGINT.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import re
import signal
import stat
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
SHA_RE = re.compile(r"^[0-9a-f]{40}$")
DATE = "2024-01-01T00:00:00.000Z"
CHUNK = 1 << 20
MAX_BODY = 1 << 20
SMALL = 1 << 16
XET_INFO = "application/vnd.xet-fileinfo+json"


class HubError(Exception):
    """An error answer the way the Hub sends it."""

    def __init__(self, status, message, code=None, headers=None):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code
        self.headers = headers or {}


def git_blob_oid(size, chunks):
    h = hashlib.sha1(b"blob %d\0" % size)
    for c in chunks:
        h.update(c)
    return h.hexdigest()


def read_chunks(path, size, hash_max):
    """The bytes a hash covers: the whole file, or for a file over hash_max
    its data extents (offset and bytes), so holes of sparse files are skipped."""
    with open(path, "rb") as f:
        fd = f.fileno()
        if size <= hash_max:
            while True:
                b = f.read(CHUNK)
                if not b:
                    return
                yield b
        yield b"size %d\n" % size
        off = 0
        while off < size:
            try:
                start = os.lseek(fd, off, os.SEEK_DATA)
                end = os.lseek(fd, start, os.SEEK_HOLE)
            except OSError:
                return
            yield b"extent %d %d\n" % (start, end)
            pos = start
            while pos < end:
                b = os.pread(fd, min(CHUNK, end - pos), pos)
                if not b:
                    break
                yield b
                pos += len(b)
            off = end


class Store:
    """The repos under --root, their revisions, files and hashes (cached by
    path, size and mtime, so edits between requests are seen)."""

    def __init__(self, root, lfs_threshold, hash_max):
        self.root = os.path.abspath(root)
        self.lfs_threshold = lfs_threshold
        self.hash_max = hash_max
        self.lock = threading.Lock()
        self.hashes = {}
        self.blobs = {}  # lfs sha256 -> absolute path, for the CDN

    def repo_dir(self, kind, ns, name):
        if not NAME_RE.match(ns) or not NAME_RE.match(name) or ".." in ns + name:
            return None
        base = os.path.join(self.root, kind + "s") if kind in ("dataset", "space") else self.root
        d = os.path.join(base, ns, name)
        return d if os.path.isdir(d) and not os.path.islink(d) else None

    def file_info(self, path, st):
        # small files are hashed every time: a file rewritten in place within
        # one timestamp tick keeps size and mtime, and must still be seen
        key = (path, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
        with self.lock:
            hit = self.hashes.get(key) if st.st_size > SMALL else None
        if hit:
            return hit
        size = st.st_size
        if size > self.lfs_threshold:
            h = hashlib.sha256()
            for c in read_chunks(path, size, self.hash_max):
                h.update(c)
            sha = h.hexdigest()
            pointer = ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (sha, size)).encode()
            info = {"oid": git_blob_oid(len(pointer), [pointer]), "lfs": {"oid": sha, "size": size,
                                                                          "pointerSize": len(pointer)}}
        else:
            info = {"oid": git_blob_oid(size, read_chunks(path, size, self.hash_max)), "lfs": None}
        with self.lock:
            self.hashes[key] = info
            if info["lfs"]:
                self.blobs[info["lfs"]["oid"]] = path
        return info

    def branches(self, repo):
        """{revision name: folder} of a repo's branch folders."""
        out = {}
        for e in sorted(os.listdir(repo)):
            p = os.path.join(repo, e)
            if not e.startswith(".") and os.path.isdir(p) and not os.path.islink(p):
                out[urllib.parse.unquote(e)] = p
        return out

    def snapshot(self, folder, rev_name):
        """Files of a branch folder: {path: (abs, size, info)} and its commit sha."""
        files = {}
        for dirpath, dirnames, filenames in os.walk(folder):
            dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
            for fn in sorted(filenames):
                full = os.path.join(dirpath, fn)
                st = os.lstat(full)
                if not stat.S_ISREG(st.st_mode):
                    continue
                rel = os.path.relpath(full, folder).replace(os.sep, "/")
                files[rel] = (full, st.st_size, self.file_info(full, st))
        h = hashlib.sha1()
        for rel in sorted(files):
            h.update(("%s %s\n" % (rel, files[rel][2]["oid"])).encode())
        h.update(("rev %s\n" % rev_name).encode())
        return files, h.hexdigest()

    def revision(self, repo, rev):
        """(files, commit sha) of a branch, tag or commit sha; None if unknown."""
        branches = self.branches(repo)
        if rev == "HEAD" and "main" in branches:  # the default branch, as the JS client asks for it
            rev = "main"
        if rev in branches:
            return self.snapshot(branches[rev], rev)
        tags = {}
        try:
            with open(os.path.join(repo, ".tags.json")) as f:
                tags = json.load(f)
        except (OSError, ValueError):
            pass
        if isinstance(tags.get(rev), str) and tags[rev] in branches:
            return self.snapshot(branches[tags[rev]], tags[rev])
        if SHA_RE.match(rev):
            for name, folder in branches.items():
                files, sha = self.snapshot(folder, name)
                if sha == rev:
                    return files, sha
        return None

    def known_revision(self, repo, rev):
        if rev in self.branches(repo) or rev == "HEAD":
            return True
        return self.revision(repo, rev) is not None


def xet_hash(lfs_oid):
    """A stand-in Xet hash of an LFS file (64 hex, derived from its sha256)."""
    return hashlib.sha256(("xet " + lfs_oid).encode()).hexdigest()


def entries(files, xet=False):
    """Tree entries of a snapshot, directories included, sorted by path."""
    dirs = {}
    for rel, (_, _, info) in files.items():
        parts = rel.split("/")
        for i in range(1, len(parts)):
            dirs.setdefault("/".join(parts[:i]), []).append(info["oid"])
    out = []
    for rel, (_, size, info) in files.items():
        e = {"type": "file", "oid": info["oid"], "size": size, "path": rel}
        if info["lfs"]:
            e["size"] = info["lfs"]["size"]
            e["lfs"] = dict(info["lfs"])
            if xet:
                e["xetHash"] = xet_hash(info["lfs"]["oid"])
        out.append(e)
    for d, oids in dirs.items():
        oid = hashlib.sha1(("tree\n" + "\n".join(sorted(oids))).encode()).hexdigest()
        out.append({"type": "directory", "oid": oid, "size": 0, "path": d})
    out.sort(key=lambda e: e["path"])
    return out


class Hub:
    def __init__(self, args):
        self.args = args
        self.store = Store(args.root, args.lfs_threshold, args.hash_max)
        self.secret = os.urandom(16)
        self.renames = dict(r.split("=", 1) for r in args.rename)
        self.log_lock = threading.Lock()
        self.log = open(args.log, "a") if args.log else None
        self.fault = re.compile(args.fault_match)
        self.url = self.cdn_url = None

    def record(self, listener, handler, status):
        if not self.log:
            return
        line = json.dumps({"t": round(time.time(), 6), "listener": listener, "method": handler.command,
                           "path": handler.path, "range": handler.headers.get("Range"),
                           "auth": handler.headers.get("Authorization"), "accept": handler.headers.get("Accept"),
                           "ua": handler.headers.get("User-Agent"), "status": status,
                           "xet": getattr(handler, "xet_sent", False)})
        with self.log_lock:
            self.log.write(line + "\n")
            self.log.flush()

    def sign(self, oid, expires):
        return hmac.new(self.secret, ("%s\n%d" % (oid, expires)).encode(), hashlib.sha256).hexdigest()


def parse_range(value, size):
    """(first, last) of a single `bytes=` range, None for no usable Range
    (ignored: the whole file is sent), or "unsatisfiable"."""
    if not value:
        return None
    m = re.fullmatch(r"\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*", value)
    if not m or (not m.group(1) and not m.group(2)):
        return None
    a, b = m.group(1), m.group(2)
    if not a:
        n = int(b)
        if n == 0:
            return "unsatisfiable"
        return (max(0, size - n), size - 1) if size else "unsatisfiable"
    first = int(a)
    last = int(b) if b else size - 1
    if b and last < first:
        return None
    if first >= size:
        return "unsatisfiable"
    return first, min(last, size - 1)


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    hub = None
    listener = ""

    def log_message(self, fmt, *a):
        pass

    def log_request(self, code="-", size="-"):
        try:
            code = int(code)
        except (TypeError, ValueError):
            code = 0
        self.hub.record(self.listener, self, code)

    def send(self, status, body=b"", headers=None, ctype="application/json"):
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body or status not in (204, 304):
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and body:
            self.wfile.write(body)

    def send_json(self, status, doc, headers=None):
        self.send(status, json.dumps(doc).encode(), headers)

    def send_error_hub(self, e):
        h = dict(e.headers)
        if e.code:
            h["X-Error-Code"] = e.code
        h["X-Error-Message"] = e.message
        self.send_json(e.status, {"error": e.message}, h)

    def send_file(self, path, size, headers, etag, corrupt=False):
        """200 or 206 with the bytes of one range, read by pread() in chunks
        (with corrupt, the file's last byte flipped)."""
        rng = None if self.hub.args.ignore_range else parse_range(self.headers.get("Range"), size)
        h = dict(headers)
        h["ETag"] = '"%s"' % etag
        h["Accept-Ranges"] = "bytes"
        if rng == "unsatisfiable":
            h["Content-Range"] = "bytes */%d" % size
            return self.send(416, b"", h)
        first, last, status = (0, size - 1, 200) if rng is None else (rng[0], rng[1], 206)
        if status == 206:
            h["Content-Range"] = "bytes %d-%d/%d" % (first, last, size)
        n = last - first + 1 if size else 0
        self.send_response(status)
        for k, v in h.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        self.end_headers()
        if self.command == "HEAD" or n == 0:
            return
        with open(path, "rb") as f:
            pos = first
            while pos <= last:
                b = os.pread(f.fileno(), min(CHUNK, last + 1 - pos), pos)
                if not b:
                    break
                if corrupt and pos + len(b) == size:
                    b = b[:-1] + bytes([b[-1] ^ 0xFF])
                self.wfile.write(b)
                pos += len(b)

    def guarded(self, fn):
        try:
            fn()
        except HubError as e:
            self.send_error_hub(e)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class HubHandler(Base):
    listener = "hub"

    def do_GET(self):
        self.guarded(self.route)

    def do_HEAD(self):
        self.guarded(self.route)

    def do_POST(self):
        self.guarded(self.route)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > MAX_BODY:
            self.close_connection = True
            raise HubError(413, "Request body too large")
        return self.rfile.read(n) if n > 0 else b""

    def check_auth(self, repo=None):
        """Every request needs the token (--token-scope all); with scope
        private only those for a repo marked .private (called again once the
        repo is found)."""
        token = self.hub.args.token
        got = self.headers.get("Authorization")
        if token is None:
            return
        if self.hub.args.token_scope == "private" and not (repo and self.is_private(repo)):
            return
        if got is None:
            raise HubError(401, "Invalid username or password.", "RepoNotFound")
        if not hmac.compare_digest(got.encode(), ("Bearer " + token).encode()):
            raise HubError(401, "Invalid credentials in Authorization header")

    def is_private(self, repo):
        return os.path.isfile(os.path.join(repo, ".private"))

    def find_repo(self, kind, ns, name):
        repo = self.hub.store.repo_dir(kind, ns, name)
        if repo is None:
            status = 404 if self.headers.get("Authorization") else 401
            msg = "Repository not found" if status == 404 else "Invalid username or password."
            raise HubError(status, msg, "RepoNotFound")
        self.check_auth(repo)
        return repo

    def renamed(self, ns, name, new_prefix_fmt, rest_raw):
        """A renamed repo answers 307 with a relative Location, as the Hub does."""
        new = self.hub.renames.get("%s/%s" % (ns, name))
        if not new:
            return False
        loc = new_prefix_fmt % new + rest_raw
        self.send(307, b"", {"Location": loc}, "text/plain")
        return True

    def faults(self):
        a = self.hub.args
        if not self.hub.fault.search(self.path):
            return
        if a.delay_ms:
            time.sleep(a.delay_ms / 1000.0)
        if a.fail_status:
            raise HubError(a.fail_status, "Injected failure")

    def route(self):
        self.xet_sent = False  # one handler serves every request of a keep-alive connection
        if self.command == "POST":
            payload = self.body()
        url = urllib.parse.urlsplit(self.path)
        raw = url.path
        self.faults()
        m = re.match(r"^/api/(models|datasets|spaces)/([^/]+)/([^/]+)(/.*)?$", raw)
        if m:
            kind = m.group(1)[:-1]
            ns, name, rest = m.group(2), m.group(3), m.group(4) or ""
            self.check_auth()
            if self.renamed(ns, name, "/api/%s/%%s" % m.group(1), rest + ("?" + url.query if url.query else "")):
                return
            repo = self.find_repo(kind, ns, name)
            if self.command == "POST":
                pm = re.match(r"^/paths-info/(.+)$", rest)
                if not pm:
                    raise HubError(404, "Not Found")
                return self.paths_info(repo, urllib.parse.unquote(pm.group(1)), payload)
            if rest == "" or rest.startswith("/revision/"):
                rev = urllib.parse.unquote(rest[len("/revision/"):]) if rest else "main"
                return self.repo_info(kind, ns, name, repo, rev, url.query)
            if rest.startswith("/tree/"):
                return self.tree(kind, ns, name, repo, rest[len("/tree/"):], url)
            if rest.startswith("/xet-read-token/") and self.hub.args.xet:
                return self.send_json(200, {"accessToken": "xet_" + self.hub.sign("read", 0)[:32],
                                            "exp": int(time.time()) + 3600, "casUrl": self.hub.url + "/cas"})
            raise HubError(404, "Not Found")
        m = re.match(r"^/(datasets/|spaces/)?([^/]+)/([^/]+)/(resolve|raw)/(.+)$", raw)
        if m and self.command in ("GET", "HEAD"):
            kind = m.group(1)[:-2] if m.group(1) else "model"
            ns, name = m.group(2), m.group(3)
            self.check_auth()
            prefix = "/" + (m.group(1) or "") + "%s/" + m.group(4) + "/"
            if self.renamed(ns, name, prefix, m.group(5)):
                return
            api = "/api/%ss/%s/%s" % (kind, ns, name)
            return self.resolve(self.find_repo(kind, ns, name), m.group(5), m.group(4) == "raw", api)
        raise HubError(404, "Not Found")

    def split_rev(self, repo, rest):
        """A revision and a path from `rev/path`: the longest leading run of
        segments that names a revision (refs/pr/1 may come unencoded)."""
        segs = urllib.parse.unquote(rest).split("/")
        for i in range(len(segs), 0, -1):
            rev = "/".join(segs[:i])
            if self.hub.store.known_revision(repo, rev):
                return rev, "/".join(segs[i:])
        raise HubError(404, "Invalid rev id: %s" % segs[0], "RevisionNotFound")

    def snapshot(self, repo, rev):
        got = self.hub.store.revision(repo, rev)
        if got is None:
            raise HubError(404, "Invalid rev id: %s" % rev, "RevisionNotFound")
        return got

    def repo_info(self, kind, ns, name, repo, rev, query):
        files, sha = self.snapshot(repo, rev)
        rid = "%s/%s" % (ns, name)
        doc = {"_id": hashlib.sha1(rid.encode()).hexdigest()[:24], "id": rid, "author": ns, "sha": sha,
               "lastModified": DATE, "createdAt": DATE,
               "private": self.hub.args.token is not None and (
                   self.hub.args.token_scope == "all" or self.is_private(repo)),
               "gated": False, "disabled": False, "downloads": 0, "likes": 0, "tags": [],
               "siblings": [{"rfilename": p} for p in sorted(files)]}
        if kind == "model":
            doc["modelId"] = rid
            doc["library_name"] = None
        expand = urllib.parse.parse_qs(query).get("expand")
        if expand:
            doc = {k: v for k, v in doc.items() if k in expand or k in ("_id", "id")}
        self.send_json(200, doc)

    def tree(self, kind, ns, name, repo, rest, url):
        rev, sub = self.split_rev(repo, rest)
        files, sha = self.snapshot(repo, rev)
        q = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        qd = dict(q)
        recursive = qd.get("recursive", "false").lower() == "true"
        all_entries = entries(files, self.hub.args.xet)
        sub = sub.strip("/")
        if sub and not any(e["path"] == sub and e["type"] == "directory" for e in all_entries):
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        pre = sub + "/" if sub else ""
        chosen = [e for e in all_entries if e["path"].startswith(pre)
                  and (recursive or "/" not in e["path"][len(pre):])]
        try:
            start = int(base64.b64decode(qd.get("cursor", "MA==").encode(), validate=True)) if "cursor" in qd else 0
        except ValueError:
            raise HubError(400, "Invalid cursor")
        if start < 0 or start > len(chosen):
            raise HubError(400, "Invalid cursor")
        size = self.hub.args.page_size
        page = chosen[start:start + size]
        headers = {}
        if start + size < len(chosen):
            cursor = base64.b64encode(str(start + size).encode()).decode()
            nq = [(k, v) for k, v in q if k != "cursor"] + [("cursor", cursor)]
            base = self.hub.args.link_base or self.hub.url
            headers["Link"] = '<%s%s?%s>; rel="next"' % (base.rstrip("/"), url.path, urllib.parse.urlencode(nq))
        self.send_json(200, page, headers)

    def paths_info(self, repo, rev, payload):
        files, sha = self.snapshot(repo, rev)
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        try:
            if ctype == "application/json":
                doc = json.loads(payload or b"{}")
                paths, expand = doc.get("paths", []), doc.get("expand", False) is True
            else:
                form = urllib.parse.parse_qs(payload.decode(), keep_blank_values=True)
                paths = form.get("paths", [])
                expand = (form.get("expand", ["false"])[-1]).lower() == "true"
        except (ValueError, AttributeError, UnicodeDecodeError):
            raise HubError(400, "Invalid body")
        if not isinstance(paths, list) or not all(isinstance(p, str) for p in paths):
            raise HubError(400, "paths must be a list of strings")
        by_path = {e["path"]: e for e in entries(files, self.hub.args.xet)}
        out = []
        for p in paths:
            e = by_path.get(p.strip("/"))
            if e is None:
                continue
            e = dict(e)
            if expand:
                e["lastCommit"] = {"id": sha, "title": "Upload", "date": DATE}
                if e["type"] == "file":
                    e["securityFileStatus"] = {"status": "safe", "avScan": {"virusFound": False},
                                               "pickleImportScan": None}
            out.append(e)
        self.send_json(200, out)

    def resolve(self, repo, rest, raw=False, api=""):
        rev, path = self.split_rev(repo, rest)
        files, sha = self.snapshot(repo, rev)
        if path not in files:
            raise HubError(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        full, size, info = files[path]
        if raw and info["lfs"]:  # /raw/ answers the LFS pointer, as git stores it
            lfs = info["lfs"]
            pointer = ("version https://git-lfs.github.com/spec/v1\noid sha256:%s\nsize %d\n" % (
                lfs["oid"], lfs["size"])).encode()
            return self.send(200, pointer, {"ETag": '"%s"' % info["oid"], "X-Repo-Commit": sha}, "text/plain")
        if info["lfs"] and not raw:
            oid = info["lfs"]["oid"]
            expires = int(time.time()) + 3600
            query = urllib.parse.urlencode({
                "response-content-disposition": 'attachment; filename="%s"' % path.rsplit("/", 1)[-1],
                "Expires": expires, "Signature": self.hub.sign(oid, expires)})
            hops = "/hop/%d" % self.hub.args.cdn_hops if self.hub.args.cdn_hops else ""
            base = (self.hub.args.cdn_base or self.hub.cdn_url).rstrip("/")
            loc = "%s%s/repos/%s/%s/%s?%s" % (base, hops, oid[:2], oid[2:4], oid, query)
            h = {"X-Linked-Size": str(size), "X-Linked-Etag": '"%s"' % oid, "ETag": '"%s"' % info["oid"],
                 "X-Repo-Commit": sha}
            if self.hub.args.xet:
                return self.resolve_xet(h, api, sha, oid, size, loc)
            h["Location"] = loc
            return self.send(302, b"", h, "text/plain")
        self.send_file(full, size, {"X-Repo-Commit": sha}, info["oid"])


    def resolve_xet(self, headers, api, sha, oid, size, loc):
        """An Xet-backed LFS file: the Xet headers on the redirect, or the Xet
        file info itself when the client asks for it."""
        h = dict(headers)
        xh = xet_hash(oid)
        recon = "%s/cas/reconstruction/%s" % (self.hub.url, xh)
        h["X-Xet-Hash"] = xh
        h["Link"] = '<%s%s/xet-read-token/%s>; rel="xet-auth", <%s>; rel="xet-reconstruction-info"' % (
            self.hub.url, api, sha, recon)
        if XET_INFO in (self.headers.get("Accept") or ""):
            self.xet_sent = True
            doc = {"casUrl": self.hub.url + "/cas", "hash": xh, "refreshUrl": "%s%s/xet-read-token/%s" % (
                self.hub.url, api, sha), "reconstructionUrl": recon, "etag": oid, "size": size}
            return self.send(200, json.dumps(doc).encode(), h, XET_INFO)
        h["Location"] = loc
        return self.send(302, b"", h, "text/plain")


class CdnHandler(Base):
    """The LFS CDN: content-addressed, signed URLs, no Authorization needed."""
    listener = "cdn"

    def do_GET(self):
        self.guarded(self.serve)

    def do_HEAD(self):
        self.guarded(self.serve)

    def serve(self):
        url = urllib.parse.urlsplit(self.path)
        m = re.match(r"^/hop/(\d+)(/repos/.*)$", url.path)
        if m:
            k = int(m.group(1)) - 1
            loc = ("/hop/%d" % k if k > 0 else "") + m.group(2) + "?" + url.query
            return self.send(302, b"", {"Location": loc}, "text/plain")
        m = re.match(r"^/repos/([0-9a-f]{2})/([0-9a-f]{2})/([0-9a-f]{64})$", url.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        if not m or m.group(3)[:4] != m.group(1) + m.group(2):
            raise HubError(404, "NoSuchKey")
        oid = m.group(3)
        try:
            expires = int(q.get("Expires", ""))
        except ValueError:
            raise HubError(403, "AccessDenied")
        if expires < time.time() or not hmac.compare_digest(q.get("Signature", ""), self.hub.sign(oid, expires)):
            raise HubError(403, "AccessDenied")
        with self.hub.store.lock:
            path = self.hub.store.blobs.get(oid)
        try:
            st = os.stat(path) if path else None
        except OSError:
            st = None
        info = self.hub.store.file_info(path, st) if st else None
        if not info or not info["lfs"] or info["lfs"]["oid"] != oid:  # the file was replaced meanwhile
            raise HubError(404, "NoSuchKey")
        rel = os.path.relpath(path, self.hub.store.root).replace(os.sep, "/")
        corrupt = bool(self.hub.args.corrupt_match and re.search(self.hub.args.corrupt_match, rel))
        self.send_file(path, st.st_size, {}, hashlib.md5(oid.encode()).hexdigest(), corrupt)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--root", required=True)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cdn-port", type=int, default=0)
    ap.add_argument("--token")
    ap.add_argument("--token-scope", choices=("all", "private"), default="all")
    ap.add_argument("--xet", action="store_true")
    ap.add_argument("--page-size", type=int, default=1000)
    ap.add_argument("--lfs-threshold", type=int, default=10 << 20)
    ap.add_argument("--hash-max", type=int, default=64 << 20)
    ap.add_argument("--delay-ms", type=int, default=0)
    ap.add_argument("--fail-status", type=int, default=0)
    ap.add_argument("--fault-match", default="/resolve/")
    ap.add_argument("--cdn-hops", type=int, default=0)
    ap.add_argument("--ignore-range", action="store_true")
    ap.add_argument("--cdn-base")
    ap.add_argument("--link-base")
    ap.add_argument("--rename", action="append", default=[])
    ap.add_argument("--corrupt-match")
    ap.add_argument("--log")
    args = ap.parse_args()
    if args.page_size < 1:
        ap.error("--page-size must be at least 1")

    hub = Hub(args)
    handlers = []
    for cls in (HubHandler, CdnHandler):
        handlers.append(type(cls.__name__, (cls,), {"hub": hub}))
    # Python's default listen backlog of 5 drops SYNs when a scan opens many
    # connections at once (a 1 s retransmit then shows up as a slow verdict)
    ThreadingHTTPServer.request_queue_size = 128
    srv = ThreadingHTTPServer((args.host, args.port), handlers[0])
    cdn = ThreadingHTTPServer((args.host, args.cdn_port), handlers[1])
    for s in (srv, cdn):
        s.daemon_threads = True
    hub.url = "http://%s:%d" % (args.host, srv.server_address[1])
    hub.cdn_url = "http://%s:%d" % (args.host, cdn.server_address[1])
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in (srv, cdn)]
    for t in threads:
        t.start()
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    print(json.dumps({"port": srv.server_address[1], "cdn_port": cdn.server_address[1],
                      "url": hub.url, "cdn_url": hub.cdn_url}), flush=True)
    while not stop.wait(0.5):
        pass
    for s in (srv, cdn):
        s.shutdown()
        s.server_close()


if __name__ == "__main__":
    sys.exit(main())
