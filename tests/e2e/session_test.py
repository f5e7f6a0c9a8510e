#!/usr/bin/python3
"""session_test.py BINARY - the dashboard's server side end to end: the
real binary (`modelgate serve`) on 127.0.0.1 with a free port and a
temporary --data store (or, run by pg_suites.py, the PostgreSQL database
MODELGATE_TEST_STORE names), seeded with real scans of examples/.

Checks the files compiled in from web/ (served at / and /ui/ without a
token, content types, byte for byte, 404 for anything else; and
mk/embed_dir.sh itself on binary files), the security headers on every kind
of answer, sessions (sign in with admin, scanner and reader tokens; the
cookie's exact attributes; cookie auth on reads; CSRF token and Origin on
writes; roles still enforced; sign out kills the cookie at once; an expired
session refused and deleted; the store keeps only the cookie's hash), the
overview's counts (by outcome over the last day and week, the newest
BLOCKED scans with their policies, the gateway's decisions), the policy
history with authors, and the report download. Prints ok/FAIL per check and
a closing "N passed, N failed" line.
"""
import calendar
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import EXAMPLES, ROOT, Checks, Service, free_port, make_big_model  # noqa: E402
from pglib import store_rows, store_run  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
CLEAN = os.path.join(EXAMPLES, "clean-model")
TAMPERED = os.path.join(EXAMPLES, "tampered-model")
WEB = os.path.join(ROOT, "web")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SECURITY = {"content-security-policy": CSP, "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer", "x-frame-options": "DENY"}
COOKIE_RE = re.compile(r"mg_session=([0-9a-f]{64}); Path=/; HttpOnly; SameSite=Strict; Max-Age=43200")
CLEARED = "mg_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"
TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
GOOD_POLICY = b"policies:\n  approved-format:\n    state: BLOCKING\n"
check = Checks()


def secure(headers):
    """The security headers every answer carries, exactly."""
    return all(headers.get(k) == v for k, v in SECURITY.items())


def sha(text):
    return hashlib.sha256(text.encode()).hexdigest()


def stamp(seconds_ago):
    """A stored created_at (RFC 3339 UTC, microseconds) `seconds_ago` before now."""
    t = time.time() - seconds_ago
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)


class Session:
    """A browser's view: the cookie value and the CSRF token."""

    def __init__(self, svc, token):
        self.svc = svc
        self.status, self.doc, _, self.headers = svc.request("POST", "/api/v1/session", {"token": token})
        m = COOKIE_RE.fullmatch(self.headers.get("set-cookie", ""))
        self.cookie = m.group(1) if m else None
        self.csrf = (self.doc or {}).get("csrf_token")

    def request(self, method, path, body=None, raw=None, csrf=True, origin=None, cookie=None):
        """csrf: True sends the session's token, a string sends that, None none."""
        headers = {"Cookie": cookie or ("mg_session=%s" % self.cookie)}
        if csrf is True:
            headers["X-CSRF-Token"] = self.csrf or ""
        elif csrf:
            headers["X-CSRF-Token"] = csrf
        if origin:
            headers["Origin"] = origin
        return self.svc.request(method, path, body=body, raw=raw, headers=headers)


# ---- the dashboard's files ----

def web_files():
    """(relative path, absolute path) of every file mk/embed_dir.sh compiles in."""
    out = []
    for d, dirs, files in os.walk(WEB):
        dirs[:] = [x for x in dirs if not x.startswith(".")]
        for f in files:
            rel = os.path.relpath(os.path.join(d, f), WEB)
            if not f.startswith(".") and re.fullmatch(r"[A-Za-z0-9._/-]+", rel):
                out.append((rel, os.path.join(d, f)))
    return sorted(out)


def assets(svc):
    built = os.path.getmtime(BIN)
    st, _, body, h = svc.request("GET", "/")
    index = os.path.join(WEB, "index.html")
    check("GET / without a token: 200 text/html with the security headers",
          st == 200 and h.get("content-type") == TYPES[".html"] and secure(h), (st, h))
    if os.path.getmtime(index) <= built:  # else web/ changed after this binary was built
        check("GET / is web/index.html byte for byte", body == open(index, "rb").read(), body[:200])
    files = web_files()
    check("web/ has index.html and app.js", {"index.html", "app.js"} <= {r for r, _ in files}, files)
    for rel, path in files:
        st, _, body, h = svc.request("GET", "/ui/" + rel)
        want = TYPES.get(os.path.splitext(rel)[1])
        check("GET /ui/%s: 200 %s, security headers" % (rel, want),
              st == 200 and (want is None or h.get("content-type") == want) and secure(h), (st, h))
        if os.path.getmtime(path) <= built:
            check("GET /ui/%s: the file byte for byte" % rel, body == open(path, "rb").read(), len(body))
    st, _, body, h = svc.request("HEAD", "/ui/app.js")
    check("HEAD /ui/app.js: 200, no body", st == 200 and body == b"" and secure(h), (st, body[:50]))
    for path in ("/ui/nothing.js", "/ui/", "/ui/../Makefile", "/ui/%2e%2e/Makefile", "/ui/js", "/ui//app.js",
                 "/ui/app.js/", "/ui/APP.JS"):
        st, doc, _, h = svc.request("GET", path)
        check("GET %s: 404 with the security headers" % path, st == 404 and (doc or {}).get("error") and secure(h),
              (st, doc))
    st, _, _, h = svc.request("POST", "/", raw=b"x")
    check("POST /: 405", st == 405 and secure(h), st)
    st, _, _, h = svc.request("GET", "/healthz")
    check("healthz carries the security headers", st == 200 and secure(h), h)
    st, _, _, h = svc.request("GET", "/api/v1/scans")
    check("a 401 carries the security headers", st == 401 and secure(h), h)


def generator():
    """mk/embed_dir.sh on binary files: compiled and read back, every byte
    comes out; hidden files and unservable names are left out."""
    work = tempfile.mkdtemp(prefix="mg-embed-")
    try:
        src = os.path.join(work, "web")
        os.makedirs(os.path.join(src, "js"))
        os.makedirs(os.path.join(src, ".git"))
        files = {"all.bin": bytes(range(256)) * 3, "empty.css": b"", "js/quote.js": b'a"b\\c\n\x00\xff"',
                 "page.html": "<p>\u00e9t\u00e9</p>".encode()}
        for rel, data in files.items():
            with open(os.path.join(src, rel), "wb") as f:
                f.write(data)
        for rel in (".swp", ".git/config", "a b.js"):
            with open(os.path.join(src, rel), "wb") as f:
                f.write(b"skip me")
        gen = subprocess.run([os.path.join(ROOT, "mk", "embed_dir.sh"), src], capture_output=True, timeout=60)
        c = os.path.join(work, "t.c")
        with open(c, "w") as f:
            f.write(gen.stdout.decode() + r'''
#include <stdio.h>
int main(void)
{
    for (size_t i = 0; i < mg_web_nfiles; i++) {
        printf("%s %zu %s\n", mg_web_files[i].path, mg_web_files[i].len, mg_web_files[i].type);
        fwrite(mg_web_files[i].bytes, 1, mg_web_files[i].len, stdout);
        printf("\n");
    }
    return mg_web_files[mg_web_nfiles].path != 0;
}
''')
        exe = os.path.join(work, "t")
        cc = subprocess.run(["cc", "-std=c11", "-Wall", "-Wextra", "-Werror", "-o", exe, c], capture_output=True,
                            timeout=60)
        out = subprocess.run([exe], capture_output=True, timeout=60).stdout if cc.returncode == 0 else b""
        want = b""
        for rel in sorted(files):
            ext = os.path.splitext(rel)[1]
            ctype = TYPES.get(ext, "application/octet-stream")
            want += b"%s %d %s\n" % (rel.encode(), len(files[rel]), ctype.encode()) + files[rel] + b"\n"
        check("embed_dir.sh: every byte of every file, types by extension, hidden and odd names skipped",
              gen.returncode == 0 and cc.returncode == 0 and out == want and b"skipping" in gen.stderr,
              (gen.stderr[-300:], cc.stderr[-500:], out[:200]))
        gen = subprocess.run([os.path.join(ROOT, "mk", "embed_dir.sh"), os.path.join(work, "none")],
                             capture_output=True, timeout=60)
        check("embed_dir.sh on a missing folder: an empty table",
              gen.returncode == 0 and b"mg_web_nfiles = 0;" in gen.stdout, gen.stdout[-200:])
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---- sessions ----

def sign_in(svc, admin, scanner, reader):
    a = Session(svc, admin)
    check("sign in (admin): 200 with role, CSRF token and expiry",
          a.status == 200 and a.doc.get("role") == "admin" and re.fullmatch(r"[0-9a-f]{64}", a.csrf or ""), a.doc)
    check("the cookie: mg_session=<64 hex>; Path=/; HttpOnly; SameSite=Strict; Max-Age=43200",
          a.cookie is not None, a.headers.get("set-cookie"))
    check("the sign-in answer carries the security headers", secure(a.headers), a.headers)
    exp = (a.doc or {}).get("expires_at", "")
    try:
        left = calendar.timegm(time.strptime(exp[:19], "%Y-%m-%dT%H:%M:%S")) - time.time()
    except ValueError:
        left = -1
    check("expires_at: RFC 3339, 12 hours from now", exp.endswith("Z") and abs(left - 43200) < 120, (exp, left))
    s, r = Session(svc, scanner), Session(svc, reader)
    check("sign in (scanner, reader): their roles", s.doc.get("role") == "scanner" and r.doc.get("role") == "reader"
          and s.cookie and r.cookie and len({a.cookie, s.cookie, r.cookie}) == 3, (s.doc, r.doc))

    for token, why in (("mg_" + "0" * 64, "unknown token"), ("mg_" + "0" * 500, "a too long token"),
                       (admin + "x", "a token with a byte more")):
        st, doc, _, h = svc.request("POST", "/api/v1/session", {"token": token})
        check("sign in with %s: 401, no cookie" % why, st == 401 and "set-cookie" not in h and (doc or {}).get("error"),
              (st, doc, h))
    for raw in (b'{"tok": "x"}', b'{"token": 1}', b'["mg_"]', b"token=mg_", b""):
        st, doc, _, h = svc.request("POST", "/api/v1/session", raw=raw)
        check("sign in with the body %r: 400, no cookie" % raw[:20], st == 400 and "set-cookie" not in h, (st, doc))
    st, doc, _, h = svc.request("POST", "/api/v1/session", {"token": admin}, headers={"Origin": "http://evil.example"})
    check("sign in from another origin: 403, no cookie", st == 403 and "set-cookie" not in h, (st, doc))

    st, doc, _, h = a.request("GET", "/api/v1/session", csrf=None)
    check("GET /session with the cookie: the same session", st == 200 and doc == a.doc and secure(h), (st, doc))
    st, doc, _, _ = svc.request("GET", "/api/v1/session")
    check("GET /session without a cookie: 401", st == 401, (st, doc))
    st, doc, _, _ = svc.request("GET", "/api/v1/session", token=admin)
    check("GET /session with a bearer token: 401 (no session)", st == 401, (st, doc))
    for path in ("/api/v1/scans", "/api/v1/models", "/api/v1/threats", "/api/v1/policies", "/metrics"):
        st, _, _, _ = r.request("GET", path, csrf=None)
        check("GET %s with a reader's cookie, no CSRF token: 200" % path, st == 200, st)
    st, _, _, _ = r.request("GET", "/api/v1/scans", csrf=None,
                            cookie="theme=dark; mg_session=%s ;other=1" % r.cookie)
    check("the session cookie among other cookies", st == 200, st)
    for cookie, why in (("mg_session=" + "a" * 63, "short"), ("mg_session=" + "A" * 64, "uppercase"),
                        ("mg_session=" + "0" * 64, "unknown"), ("mg_session=" + r.csrf, "the CSRF token")):
        st, doc, _, h = r.request("GET", "/api/v1/scans", csrf=None, cookie=cookie)
        check("a cookie %s: 401, and the browser is told to drop it" % why,
              st == 401 and h.get("set-cookie") == CLEARED, (st, doc, h.get("set-cookie")))
    st, _, _, _ = svc.request("GET", "/api/v1/scans", token="mg_" + "1" * 64, headers={"Cookie": "mg_session=" + a.cookie})
    check("a bearer token beats the cookie (an unknown one is 401)", st == 401, st)
    return a, s, r


def writes(svc, a, s, r, admin):
    """CSRF token and Origin on every write made with a cookie; roles as for
    tokens. Stores policy versions 2 and 3 by cookie (version 1 was stored
    before authors were recorded: main() puts it in the store itself)."""
    own = "http://127.0.0.1:%d" % svc.port
    put = "/api/v1/policies"
    _, before, _, _ = svc.request("GET", put, token=admin)
    mine = a.csrf or "0" * 64
    wrong = mine[:-1] + ("1" if mine[-1] == "0" else "0")
    for csrf, why in ((None, "no"), (r.csrf, "another session's"), (wrong, "a wrong"),
                      (mine.upper().replace("0", "O"), "an uppercase")):
        st, doc, _, h = a.request("PUT", put, raw=GOOD_POLICY, csrf=csrf)
        check("PUT /policies by cookie with %s CSRF token: 403" % why,
              st == 403 and doc == {"error": "missing or wrong CSRF token"} and secure(h), (st, doc))
    for origin in ("http://evil.example", "null", "http://127.0.0.1:%d" % free_port(), "http://127.0.0.1",
                   own + ".evil.example", "ftp://127.0.0.1:%d" % svc.port):
        st, doc, _, _ = a.request("PUT", put, raw=GOOD_POLICY, origin=origin)
        check("PUT /policies by cookie from Origin %s: 403" % origin, st == 403 and "Origin" in (doc or {}).get(
            "error", ""), (st, doc))
    _, now, _, _ = svc.request("GET", put, token=admin)
    check("refused writes changed nothing", now == before, now)
    st, v2, _, _ = a.request("PUT", put, raw=GOOD_POLICY)
    check("PUT /policies by an admin's cookie with its CSRF token: 200", st == 200 and v2.get("version") == 2,
          (st, v2))
    other = GOOD_POLICY + b"global_threshold: HIGH\n"
    st, v3, _, _ = a.request("PUT", put, raw=other, origin=own)
    check("... and with this service's Origin: 200", st == 200 and v3.get("version") == 3, (st, v3))
    st, doc, _, _ = a.request("PUT", put, raw=other, origin="https://127.0.0.1:%d" % svc.port)
    check("... and with its https:// Origin (behind a TLS proxy): 200", st == 200 and doc.get("version") == 4,
          (st, doc))
    st, doc, _, _ = r.request("PUT", put, raw=GOOD_POLICY, origin=own)
    check("PUT /policies by a reader's cookie with its CSRF token: 403 (role)",
          st == 403 and "admin" in (doc or {}).get("error", ""), (st, doc))
    st, doc, _, _ = r.request("POST", "/api/v1/scans", {"model_uri": CLEAN})
    check("POST /scans by a reader's cookie: 403", st == 403 and "scanner" in (doc or {}).get("error", ""), (st, doc))
    probe = {"model_uri": CLEAN, "labels": {"probe": "no-csrf"}}
    st, doc, _, _ = s.request("POST", "/api/v1/scans?wait=true", probe, csrf=None)
    listed = svc.request("GET", "/api/v1/scans?limit=1000", token=admin)[1]["scans"]
    check("POST /scans by a scanner's cookie without CSRF token: 403, nothing stored",
          st == 403 and not [x for x in listed if x.get("labels") == probe["labels"]], (st, doc))
    st, rep, _, _ = s.request("POST", "/api/v1/scans?wait=true", {"model_uri": CLEAN}, origin=own)
    check("POST /scans by a scanner's cookie with its CSRF token: the report",
          st == 200 and rep.get("eval_outcome") in ("ALLOWED", "BLOCKED"), (st, rep))
    st, doc, _, _ = svc.request("POST", "/api/v1/tokens", {"role": "reader"}, token=admin,
                                headers={"Origin": "http://evil.example"})
    check("bearer-token writes need no CSRF token (and no Origin check)", st == 201, (st, doc))
    st, doc, _, _ = a.request("POST", "/api/v1/tokens", {"role": "admin"})
    check("POST /tokens by an admin's cookie with its CSRF token: 201", st == 201, (st, doc))
    return (doc or {}).get("token", ""), [v2, v3]


def history(svc, a, r, admin, admin2, puts):
    """GET /api/v1/policies/versions: newest first, authors, pages."""
    st, v5, _, _ = svc.request("PUT", "/api/v1/policies", raw=GOOD_POLICY, token=admin2)
    check("PUT /policies by bearer (a second admin): version 5", st == 200 and v5.get("version") == 5, (st, v5))
    st, doc, _, h = a.request("GET", "/api/v1/policies/versions", csrf=None)
    vs = (doc or {}).get("versions", [])
    who = lambda tok: "token:%s (admin)" % sha(tok)[:12]  # noqa: E731
    check("versions: every stored version, newest first", st == 200 and [v.get("version") for v in vs] ==
          [5, 4, 3, 2, 1] and doc.get("next_cursor") is None and secure(h), (st, doc))
    check("versions: the author of each (null before authors were recorded)",
          [v.get("author") for v in vs] == [who(admin2), who(admin), who(admin), who(admin), None],
          [v.get("author") for v in vs])
    check("versions: digest and time as PUT answered them, the file as stored",
          len(vs) == 5 and [(v["digest"], v["created_at"]) for v in vs[2:4]] ==
          [(p["digest"], p["created_at"]) for p in reversed(puts)] and vs[3]["yaml"] == GOOD_POLICY.decode() and
          vs[0]["digest"] == v5.get("digest"), vs)
    st, p1, _, _ = a.request("GET", "/api/v1/policies/versions?limit=2", csrf=None)
    st2, p2, _, _ = a.request("GET", "/api/v1/policies/versions?limit=2&cursor=%s" % (p1 or {}).get("next_cursor"),
                              csrf=None)
    st3, p3, _, _ = a.request("GET", "/api/v1/policies/versions?limit=2&cursor=%s" % (p2 or {}).get("next_cursor"),
                              csrf=None)
    pages = [[v["version"] for v in (p or {}).get("versions", [])] for p in (p1, p2, p3)]
    check("versions: pages of 2 (5 4, 3 2, 1), the last with next_cursor null",
          st == st2 == st3 == 200 and pages == [[5, 4], [3, 2], [1]] and p3.get("next_cursor") is None, pages)
    for bad in ("cursor=abc", "cursor=0", "cursor=-1", "cursor=9999999999", "limit=0", "limit=1001"):
        st, doc, _, _ = a.request("GET", "/api/v1/policies/versions?" + bad, csrf=None)
        check("versions?%s: 400" % bad, st == 400 and (doc or {}).get("error"), (st, doc))
    st, doc, _, _ = r.request("GET", "/api/v1/policies/versions", csrf=None)
    check("versions by a reader's cookie: 403", st == 403, (st, doc))
    st, doc, _, _ = r.request("GET", "/api/v1/policies", csrf=None)
    check("GET /policies by a reader's cookie: the set in force", st == 200 and doc.get("version") == 5, (st, doc))


def sign_out(svc, data, a, admin):
    other = Session(svc, admin)
    st, doc, _, _ = a.request("DELETE", "/api/v1/session", csrf=None)
    check("DELETE /session without the CSRF token: 403, the session lives",
          st == 403 and a.request("GET", "/api/v1/session", csrf=None)[0] == 200, (st, doc))
    st, doc, body, h = a.request("DELETE", "/api/v1/session")
    check("DELETE /session: 204, the cookie cleared", st == 204 and body == b"" and h.get("set-cookie") == CLEARED and
          secure(h), (st, doc, h))
    st, doc, _, h = a.request("GET", "/api/v1/scans", csrf=None)
    check("the ended session's cookie: 401 at once, the browser told to drop it",
          st == 401 and h.get("set-cookie") == CLEARED, (st, doc))
    st, _, _, _ = a.request("PUT", "/api/v1/policies", raw=GOOD_POLICY)
    check("... also for a write with its CSRF token", st == 401, st)
    gone = store_rows(data, "SELECT COUNT(*) FROM sessions WHERE hash = ?", (sha(a.cookie),))[0][0]
    check("the session is deleted from the store", gone == 0, gone)
    st, _, _, _ = other.request("GET", "/api/v1/session", csrf=None)
    check("another session of the same token lives on", st == 200, st)
    st, _, _, _ = svc.request("DELETE", "/api/v1/session", token=admin)
    check("DELETE /session with a bearer token: 401 (no session)", st == 401, st)


def expiry(svc, data, reader):
    r = Session(svc, reader)
    rows = store_rows(data, "SELECT hash, role, csrf FROM sessions")
    check("the store keeps the cookie's SHA-256, never the cookie",
          (sha(r.cookie), "reader", r.csrf) in rows and all(r.cookie not in row for row in rows), rows)
    st, _, _, _ = r.request("GET", "/api/v1/scans", csrf=None)
    check("a fresh session works", st == 200, st)
    # 12 hours pass: the expiry is moved back, as the clock would move forward
    store_run(data, "UPDATE sessions SET expires_at = ? WHERE hash = ?", (stamp(1)[:23] + "Z", sha(r.cookie)))
    st, doc, _, h = r.request("GET", "/api/v1/scans", csrf=None)
    check("an expired session: 401, cookie dropped", st == 401 and h.get("set-cookie") == CLEARED and
          "expired" in (doc or {}).get("error", ""), (st, doc))
    left = store_rows(data, "SELECT COUNT(*) FROM sessions WHERE hash = ?", (sha(r.cookie),))[0][0]
    check("an expired session is deleted when presented", left == 0, left)


# ---- overview and report download ----

def scan(svc, admin, uri, **extra):
    body = {"model_uri": uri}
    body.update(extra)
    st, rep, _, _ = svc.request("POST", "/api/v1/scans?wait=true", body, token=admin)
    return rep if st == 200 else {}


def overview(svc, data, admin, reader):
    """A fresh store seeded with real scans; some are moved back in time and
    gateway decisions are written as the gateway writes them."""
    c1, c2 = scan(svc, admin, CLEAN), scan(svc, admin, CLEAN)
    t_old, t_new = scan(svc, admin, TAMPERED), scan(svc, admin, "file://" + TAMPERED)
    err = scan(svc, admin, "s3://bucket/models/x/", license="mit")
    check("seeded: 2 ALLOWED, 2 BLOCKED, 1 ERROR",
          [x.get("eval_outcome") for x in (c1, c2, t_old, t_new, err)] ==
          ["ALLOWED", "ALLOWED", "BLOCKED", "BLOCKED", "ERROR"], [x.get("eval_outcome") for x in (c1, c2, t_old, t_new, err)])
    store_run(data, "UPDATE scans SET created_at = ? WHERE uuid = ?", (stamp(3 * 86400), c1.get("uuid")))
    store_run(data, "UPDATE scans SET created_at = ? WHERE uuid = ?", (stamp(9 * 86400), t_old.get("uuid")))
    for i, (outcome, ago) in enumerate((("BLOCKED", 60), ("BLOCKED", 3600), ("ALLOWED", 10), ("ERROR", 2 * 86400))):
        store_run(data, "INSERT INTO gateway_decisions (uuid, created_at, caller, repo_type, repo, action, outcome)"
                  " VALUES (?, ?, 'anonymous', 'model', 'ns/name', 'revision', ?)",
                  ("00000000-0000-4000-8000-%012d" % i, stamp(ago), outcome))

    st, doc, _, h = reader.request("GET", "/api/v1/overview", csrf=None)
    doc = doc or {}
    check("GET /overview by a reader's cookie: 200", st == 200 and secure(h), (st, doc))
    check("scans of the last day by outcome (one ALLOWED moved 3 days back, one BLOCKED 9)",
          doc.get("scans", {}).get("last_day") == {"ALLOWED": 1, "BLOCKED": 1, "ERROR": 1, "PENDING": 0}, doc)
    check("scans of the last week by outcome",
          doc.get("scans", {}).get("last_week") == {"ALLOWED": 2, "BLOCKED": 1, "ERROR": 1, "PENDING": 0}, doc)
    check("the gateway's decisions of the last day",
          doc.get("gateway") == {"last_day": {"ALLOWED": 1, "BLOCKED": 2, "ERROR": 0}}, doc.get("gateway"))
    lb = doc.get("latest_blocked", [])
    names = [v["policy_name"] for v in t_new.get("policy_violations") or []]
    check("latest_blocked: the BLOCKED scans, newest first", [x.get("uuid") for x in lb] ==
          [t_new.get("uuid"), t_old.get("uuid")], lb)
    first = lb[0] if lb else {}
    check("latest_blocked: model and the violated policies read from the report",
          names and first.get("policies") == names and first.get("model_uri") == t_new.get("model_uri") and
          first.get("namespace") == t_new.get("namespace") and first.get("model_name") == "tampered-model" and
          first.get("created_at") == t_new.get("created_at"), (first, names))
    _, pol, _, _ = svc.request("GET", "/api/v1/policies", token=admin)
    check("what judges: scanner, rules, policy version and digest",
          doc.get("scanner_version") == t_new.get("scanner_version") and
          doc.get("rules_version") == t_new.get("rules_version") and
          doc.get("policy") == {"version": pol.get("version"), "digest": pol.get("digest")}, doc)
    check("the queue: idle, capacity 64", doc.get("queue") == {"depth": 0, "capacity": 64, "running": 0},
          doc.get("queue"))
    st, _, _, _ = svc.request("GET", "/api/v1/overview")
    check("GET /overview without a token: 401", st == 401, st)
    st, _, _, _ = svc.request("POST", "/api/v1/overview", raw=b"{}", token=admin)
    check("POST /overview: 405", st == 405, st)
    return t_new


def report_download(svc, admin, reader, big, tampered):
    uuid = tampered.get("uuid", "")
    st, _, text, _ = svc.request("GET", "/api/v1/scans/" + uuid, token=admin)
    st2, _, body, h = reader.request("GET", "/api/v1/scans/%s/report.json" % uuid, csrf=None)
    check("report.json by a reader's cookie: the stored report byte for byte",
          st == st2 == 200 and body == text and h.get("content-type") == "application/json" and secure(h), (st, st2))
    check("report.json: Content-Disposition names the file",
          h.get("content-disposition") == 'attachment; filename="modelgate-%s.json"' % uuid, h)
    for path, want in (("/api/v1/scans/00000000-0000-4000-8000-000000000000/report.json", 404),
                       ("/api/v1/scans/nope/report.json", 404), ("/api/v1/scans/%s/report.jsonx" % uuid, 404),
                       ("/api/v1/scans/%s/other" % uuid, 404), ("/api/v1/scans/%s/report.json/x" % uuid, 404),
                       ("/api/v1/scans/%s/report.json" % ("a" * 300), 404)):
        st, doc, _, h = svc.request("GET", path, token=admin)
        check("GET %s: %d" % (path[:70], want), st == want and "content-disposition" not in h, (st, doc))
    st, _, _, _ = svc.request("GET", "/api/v1/scans/%s/report.json" % uuid)
    check("report.json without a token: 401", st == 401, st)
    st, _, _, _ = svc.request("DELETE", "/api/v1/scans/%s/report.json" % uuid, token=admin)
    check("DELETE report.json: 405", st == 405, st)
    # one worker busy with a big model: a scan behind it is not finished yet
    st1, slow, _, _ = svc.request("POST", "/api/v1/scans", {"model_uri": big}, token=admin)
    st2, queued, _, _ = svc.request("POST", "/api/v1/scans", {"model_uri": CLEAN}, token=admin)
    q = (queued or {}).get("uuid", "")
    st, doc, _, h = svc.request("GET", "/api/v1/scans/%s/report.json" % q, token=admin)
    _, now, _, _ = svc.request("GET", "/api/v1/scans/" + q, token=admin)
    if (now or {}).get("eval_outcome") == "PENDING":  # still not finished after the download was asked for
        check("report.json of an unfinished scan: 409", st == 409 and "content-disposition" not in h, (st, doc))
    _, ov, _, _ = svc.request("GET", "/api/v1/overview", token=admin)
    pending = ov.get("scans", {}).get("last_day", {}).get("PENDING")
    still = sum(1 for u in (slow.get("uuid"), q)
                if svc.request("GET", "/api/v1/scans/" + u, token=admin)[1].get("eval_outcome") == "PENDING")
    check("overview: scans not finished count as PENDING", st1 == st2 == 202 and still <= pending <= 2, (still, pending))
    for u in (slow.get("uuid"), q):
        svc.wait_done(u, admin)


def main():
    work = tempfile.mkdtemp(prefix="mg-session-")
    data = os.path.join(work, "data")
    big = make_big_model(os.path.join(work, "models", "big"))
    svc = None
    try:
        generator()
        # S3 at a closed port: an s3:// scan is a quick ERROR
        svc = Service(BIN, data, args=["--listen", "127.0.0.1:%d" % free_port(), "--data", data, "--root", EXAMPLES,
                                       "--root", os.path.join(work, "models"), "--workers", "1"],
                      env={"MODELGATE_S3_ENDPOINT": "http://127.0.0.1:%d" % free_port(), "AWS_ACCESS_KEY_ID": "x",
                           "AWS_SECRET_ACCESS_KEY": "y", "AWS_REGION": "us-east-1"})
        admin = svc.admin
        scanner, reader = svc.token(BIN, "scanner"), svc.token(BIN, "reader")
        assets(svc)
        a, s, r = sign_in(svc, admin, scanner, reader)
        tampered = overview(svc, data, admin, r)
        report_download(svc, admin, r, big, tampered)
        # a version stored before authors were recorded (as a store migrated from schema 3 holds it)
        store_run(data, "INSERT INTO policies (version, yaml, digest, created_at) VALUES "
                  "(1, 'global_threshold: MEDIUM\n', 'sha256:old', '2025-01-01T00:00:00.000Z')")
        admin2, puts = writes(svc, a, s, r, admin)
        history(svc, a, r, admin, admin2, puts)
        sign_out(svc, data, a, admin)
        expiry(svc, data, reader)
        rc = svc.stop()
        check("the service stops cleanly (exit 0, no sanitizer report)", rc == 0, rc)
        svc = None
    except Exception as e:  # a crash of the test itself is a failure, not a silent pass
        check("session test ran to the end", False, repr(e))
    finally:
        if svc is not None:
            if check.failed:
                print("--- serve.log ---")
                print(svc.stderr()[-4000:])
            svc.stop()
        shutil.rmtree(work, ignore_errors=True)
    return check.summary()


sys.exit(main())
