#!/usr/bin/python3
"""gateway_test.py BINARY - the Hub gateway end to end, with the real JS client.

Real processes on 127.0.0.1: tests/e2e/standin_hub.py as the upstream hub (a
hub port and a "CDN" port, Xet headers on, small LFS threshold and tree
pages, one private repo, one renamed repo), `BINARY serve --gateway` in front
of it, and npm's @huggingface/hub 2.17.5 (installed once into
build/node/hfhub, driven by tests/e2e/hfjs.mjs) downloading through the
gateway. Repos are written here from real bytes: safetensors, a pickle that
calls posix.system and a GGUF file with a template-injection chat template
(both from tests/corpus), model cards with approved and unapproved licenses.

Checked: a clean repo downloads byte-identical and no client byte ever came
from the CDN or from Xet; the headers clients need on /resolve; tree pages
that point back at the gateway; both paths-info bodies; malicious and
unlicensed repos refused (403 + the report) by snapshotDownload, downloadFile
and HEAD; a branch moved to a malicious commit refused at the new commit;
private repos, renamed repos, datasets and spaces; LFS bytes that do not match
their sha256 never delivered; 50 clients at once cause one scan; the audit
trail; fail-closed when the upstream is gone; verdicts kept across a restart;
orgs and models the policy denies refused without asking the upstream. Prints
ok/FAIL per check and "N passed, N failed".
"""
import hashlib
import http.client
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse

BIN = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
HFJS = os.path.join(HERE, "hfjs.mjs")
CORPUS = os.path.join(ROOT, "tests", "corpus")
HFHUB_SPEC = "@huggingface/hub@2.17.5"
TOKEN = "hf_gatewaytest0123456789"  # the JS client insists on the hf_ prefix
TEST_UA = "modelgate-gateway-test"  # this script's own requests to the stand-in
XET_ACCEPT = "application/vnd.xet-fileinfo+json, */*"
LOAD_TIME = "Detected No Arbitrary Code Execution At Model Load Time"
LICENSE_VALID = "License Is Valid For Use"

sys.path.insert(0, HERE)
from svclib import (Checks, Service, StandInHub, free_port, http_request, model_card, node_modules,  # noqa: E402
                    npm_install, safetensors_header, write_file, write_tree)

NODE_DIR = os.path.dirname(node_modules("hfhub"))  # hfjs.mjs loads the client from here

check = Checks()


def install_hfhub():
    """npm install @huggingface/hub once into build/node/hfhub."""
    return npm_install("hfhub", HFHUB_SPEC) is not None


# ------------------------------------------------------------------ repos ----

def corpus(rel):
    with open(os.path.join(CORPUS, rel), "rb") as f:
        return f.read()


def safetensors(seed, n=2048):
    """A real safetensors file: one F32 tensor of n values (8 KiB: LFS here)."""
    head, _ = safetensors_header(n)
    return head + hashlib.sha256(seed.encode()).digest() * (4 * n // 32)


def clean_model(seed):
    return {"README.md": model_card("apache-2.0"), "config.json": b'{"model_type": "bert", "hidden_size": 8}\n',
            "model.safetensors": safetensors(seed)}


def make_repos(root):
    """Writes every repo's main branch under root; returns {repo: {path: bytes}}."""
    repos = {}
    clean = clean_model("clean")
    clean.update({"generation_config.json": b'{"max_length": 20}\n',
                  "tokenizer/tokenizer.json": b'{"version": "1.0", "model": {"type": "BPE"}}\n',
                  "tokenizer/vocab.txt": b"[PAD]\n[UNK]\nhello\n"})
    repos["acme/clean"] = clean
    evil = clean_model("evil-pickle")
    evil["pytorch_model.bin"] = corpus("pickle/malicious/posix_system_p0.pkl")
    repos["acme/evil-pickle"] = evil
    repos["acme/evil-gguf"] = {"README.md": model_card("apache-2.0"),
                               "model.gguf": corpus("gguf/malicious/ssti_lipsum_globals.gguf")}
    bad = clean_model("bad-license")
    bad["README.md"] = model_card("cc-by-nc-4.0")
    repos["acme/bad-license"] = bad
    for name in ("private", "moving", "crowd", "down", "tampered", "denied"):
        repos["acme/" + name] = clean_model(name)
    repos["shady/model"] = clean_model("shady")
    repos["datasets/acme/data"] = {"README.md": model_card("mit"), "data/train.csv": b"text,label\nhello,1\nbye,0\n"}
    repos["spaces/acme/demo"] = {"README.md": model_card("mit"), "index.html": b"<html><body>demo</body></html>\n"}
    for repo, files in repos.items():
        write_tree(os.path.join(root, repo, "main"), files)
    write_file(os.path.join(root, "acme/private/.private"), b"")
    return repos


def replace_branch(root, repo, files):
    """Moves a branch: its folder gets other files (a new commit upstream)."""
    folder = os.path.join(root, repo, "main")
    shutil.rmtree(folder)
    write_tree(folder, files)


# -------------------------------------------------------------- processes ----

class StandIn(StandInHub):
    """The stand-in hub of these checks; fixed ports so it can be stopped and
    started again."""

    def __init__(self, root, log_path, port=0, cdn_port=0):
        super().__init__(root, log_path, "--port", str(port), "--cdn-port", str(cdn_port), "--xet",
                         "--lfs-threshold", "1024", "--page-size", "3", "--token", TOKEN, "--token-scope", "private",
                         "--rename", "acme/old-clean=acme/clean", "--corrupt-match", "^acme/tampered/")

    def api(self, path, headers=None):
        """This script's own request to the stand-in (marked by its User-Agent)."""
        h = {"User-Agent": TEST_UA}
        h.update(headers or {})
        return self.request("GET", path, headers=h, timeout=60)

    def commit(self, repo, rev="main", kind="models", headers=None):
        h = {"User-Agent": TEST_UA, "Authorization": "Bearer " + TOKEN}
        h.update(headers or {})
        return super().commit(repo, rev, kind, h)


class Gateway:
    """`BINARY serve --gateway` in front of the stand-in: the REST API on
    self.svc.port, the gateway on self.port."""

    def __init__(self, data, upstream, port=None, extra=()):
        self.port = port or free_port()
        self.url = "http://127.0.0.1:%d" % self.port
        args = ["--listen", "127.0.0.1:%d" % free_port(), "--data", data,
                "--gateway", "127.0.0.1:%d" % self.port, "--upstream", upstream, "--revision-ttl", "0"] + list(extra)
        self.svc = Service(BIN, data, args=args)
        if not self.wait_gateway_line():
            err = self.svc.stderr()[-2000:]
            self.svc.stop()
            raise RuntimeError("no gateway line: %r %s" % (self.svc.lines, err))

    def wait_gateway_line(self, timeout=30):
        def read():
            while not any("gateway listening on" in x for x in self.svc.lines):
                line = self.svc.proc.stdout.readline().decode(errors="replace")
                if not line:
                    return
                self.svc.lines.append(line.rstrip("\n"))
        t = threading.Thread(target=read, daemon=True)
        t.start()
        t.join(timeout)
        return any("gateway listening on" in x for x in self.svc.lines)

    def req(self, method, path, body=None, headers=None):
        return http_request(self.port, method, path, body, headers)

    def stop(self):
        return self.svc.stop()


def hfjs(cmd, timeout=60):
    """Runs tests/e2e/hfjs.mjs with one command; its JSON answer."""
    try:
        p = subprocess.run(["node", HFJS, json.dumps(cmd)], capture_output=True, text=True, timeout=timeout,
                           env=dict(os.environ, HFHUB_DIR=NODE_DIR))
    except subprocess.TimeoutExpired:
        return {"ok": False, "name": "timeout", "message": "no answer within %d s" % timeout}
    try:
        return json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {"ok": False, "name": "driver", "message": "rc %d stdout %r stderr %r" % (
            p.returncode, p.stdout[-500:], p.stderr[-1500:])}


def snapshot_files(folder):
    """{relative path: bytes} of a snapshot folder (its files are links to blobs)."""
    out = {}
    for dirpath, _, names in os.walk(folder):
        for n in names:
            full = os.path.join(dirpath, n)
            with open(full, "rb") as f:
                out[os.path.relpath(full, folder).replace(os.sep, "/")] = f.read()
    return out


def brief(r):
    """A JS answer without the bulky report, for failure messages."""
    r = dict(r)
    if isinstance(r.get("data"), dict):
        d = r["data"]
        r["data"] = {k: d.get(k) for k in ("error", "eval_outcome", "revision", "uuid", "model_uri")}
        r["data"]["policies"] = [v.get("policy_name") for v in d.get("policy_violations") or []]
    return r


def blob_oid(data):
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


# ------------------------------------------------------------------ tests ----

class Ctx:
    def __init__(self, work, root, repos, hub, gw):
        self.work, self.root, self.repos, self.hub, self.gw = work, root, repos, hub, gw
        self.n = 0

    def tmp(self, what):
        self.n += 1
        return os.path.join(self.work, "%s.%d" % (what, self.n))

    def snap(self, repo, kind="model", **kw):
        cmd = {"op": "snapshot", "repo": repo, "type": kind, "hubUrl": self.gw.url, "cacheDir": self.tmp("cache")}
        cmd.update(kw)
        return hfjs(cmd)

    def file(self, repo, path, kind="model", **kw):
        cmd = {"op": "file", "repo": repo, "type": kind, "path": path, "hubUrl": self.gw.url, "out": self.tmp("file")}
        cmd.update(kw)
        return hfjs(cmd)

    def read(self, r):
        with open(r["path"], "rb") as f:
            return f.read()

    def scans(self, uri_prefix):
        st, doc, _, _ = self.gw.svc.request("GET", "/api/v1/scans?limit=1000", token=self.admin)
        return [s for s in (doc or {}).get("scans", []) if s.get("model_uri", "").startswith(uri_prefix)] \
            if st == 200 else None

    def decisions(self, query):
        st, doc, _, _ = self.gw.svc.request("GET", "/api/v1/gateway/decisions?limit=1000&" + query, token=self.admin)
        return (doc or {}).get("decisions") if st == 200 else None


def test_standin(c):
    """The stand-in's Xet, spaces and private repos are live, so the checks
    below that they never reach a client can fail."""
    st, h, body = c.hub.api("/acme/clean/resolve/main/model.safetensors", {"Accept": XET_ACCEPT, "Range": "bytes=0-0"})
    check("standin: an LFS resolve asking for Xet gets Xet file info (Link, X-Xet-Hash)",
          st == 200 and "xet-fileinfo" in h.get("content-type", "") and h.get("x-xet-hash") and
          'rel="xet-auth"' in h.get("link", ""), (st, h))
    st, h, _ = c.hub.api("/acme/private/resolve/main/config.json")
    check("standin: a .private repo without token -> 401 RepoNotFound",
          st == 401 and h.get("x-error-code") == "RepoNotFound", (st, h))
    st, _, body = c.hub.api("/acme/private/resolve/main/config.json", {"Authorization": "Bearer " + TOKEN})
    check("standin: ... with the token -> the file", st == 200 and body == c.repos["acme/private"]["config.json"], st)
    st, _, body = c.hub.api("/spaces/acme/demo/resolve/main/index.html")
    check("standin: spaces", st == 200 and body == c.repos["spaces/acme/demo"]["index.html"], st)


def test_clean(c):
    files = c.repos["acme/clean"]
    sha = c.hub.commit("acme/clean")
    c.clean_sha = sha
    r = c.snap("acme/clean")
    got = snapshot_files(r["path"]) if r.get("ok") else {}
    check("clean: snapshotDownload through the gateway succeeds", r.get("ok"), brief(r))
    check("clean: ... every file byte-identical, none missing or extra", got == files,
          sorted(set(got) ^ set(files)) or [p for p in files if got.get(p) != files[p]])
    check("clean: ... into the snapshot of the upstream commit", r.get("ok") and r["path"].endswith("/" + sha),
          (r.get("path"), sha))
    r = c.file("acme/clean", "model.safetensors")
    check("clean: downloadFile of the LFS file byte-identical",
          r.get("ok") and c.read(r) == files["model.safetensors"], brief(r))
    r = c.file("acme/clean", "tokenizer/vocab.txt", revision=sha)
    check("clean: downloadFile by commit sha of a file in a folder",
          r.get("ok") and c.read(r) == files["tokenizer/vocab.txt"], brief(r))
    r = c.file("acme/clean", "nope.txt")
    check("clean: downloadFile of a missing file -> null (404 EntryNotFound)", r.get("ok") and r["path"] is None,
          brief(r))


def no_xet_headers(h):
    return not any(k.startswith("x-xet") for k in h) and "link" not in h and "location" not in h


def test_headers(c):
    files = c.repos["acme/clean"]
    st_bytes = files["model.safetensors"]
    sha = c.clean_sha
    size = len(st_bytes)
    st, h, body = c.gw.req("HEAD", "/acme/clean/resolve/main/model.safetensors")
    check("resolve: HEAD of an LFS file: 200 (not a redirect), X-Repo-Commit = the commit",
          st == 200 and h.get("x-repo-commit") == sha, (st, h))
    check("resolve: ... X-Linked-Etag = sha256, X-Linked-Size and Content-Length = the real size, an ETag",
          h.get("x-linked-etag") == '"%s"' % hashlib.sha256(st_bytes).hexdigest() and
          h.get("x-linked-size") == str(size) and h.get("content-length") == str(size) and h.get("etag"), h)
    check("resolve: ... Accept-Ranges bytes, no X-Xet-*, no Link, no Location",
          h.get("accept-ranges") == "bytes" and no_xet_headers(h), h)
    st, h, body = c.gw.req("GET", "/acme/clean/resolve/main/model.safetensors",
                           headers={"Range": "bytes=0-0", "Accept": XET_ACCEPT, "Accept-Encoding": "identity"})
    check("resolve: the JS probe (Range bytes=0-0, Accept Xet) -> 206, Content-Range, 1 byte, not Xet",
          st == 206 and h.get("content-range") == "bytes 0-0/%d" % size and body == st_bytes[:1] and
          "xet" not in h.get("content-type", "") and no_xet_headers(h), (st, h, body[:100]))
    st, h, body = c.gw.req("GET", "/acme/clean/resolve/%s/model.safetensors" % sha, headers={"Range": "bytes=100-1099"})
    check("resolve: Range bytes=100-1099 -> those bytes",
          st == 206 and body == st_bytes[100:1100] and h.get("content-range") == "bytes 100-1099/%d" % size, (st, h))
    st, h, body = c.gw.req("GET", "/acme/clean/resolve/main/model.safetensors", headers={"Range": "bytes=8000-"})
    check("resolve: Range bytes=8000- (a resumed download) -> the rest",
          st == 206 and body == st_bytes[8000:] and h.get("content-range") == "bytes 8000-%d/%d" % (size - 1, size),
          (st, h))
    st, h, body = c.gw.req("GET", "/acme/clean/resolve/%s/model.safetensors" % sha)
    check("resolve: GET by sha -> 200 and the whole file", st == 200 and body == st_bytes, (st, h, len(body)))
    cfg = files["config.json"]
    st, h, _ = c.gw.req("HEAD", "/acme/clean/resolve/main/config.json")
    check("resolve: HEAD of a regular file: 200, Content-Length, ETag, X-Repo-Commit",
          st == 200 and h.get("content-length") == str(len(cfg)) and h.get("etag") and
          h.get("x-repo-commit") == sha and no_xet_headers(h), (st, h))
    st, h, body = c.gw.req("GET", "/acme/clean/resolve/main/config.json")
    check("resolve: GET of a regular file", st == 200 and body == cfg, (st, h))
    st, h, _ = c.gw.req("GET", "/acme/clean/resolve/main/nope.txt")
    check("resolve: a missing file -> 404 EntryNotFound with X-Repo-Commit",
          st == 404 and h.get("x-error-code") == "EntryNotFound" and h.get("x-repo-commit") == sha, (st, h))
    st, h, body = c.gw.req("GET", "/acme/clean/raw/main/model.safetensors")
    check("raw: an LFS file's pointer", st == 200 and
          ("oid sha256:" + hashlib.sha256(st_bytes).hexdigest()).encode() in body, (st, h, body[:200]))
    st, h, _ = c.gw.req("GET", "/api/models/acme/clean/xet-read-token/" + sha)
    check("xet-read-token -> 404", st == 404, (st, h))
    st, _, body = c.gw.req("GET", "/healthz")
    check("healthz", st == 200 and json.loads(body or b"{}") == {"status": "ok"}, (st, body))
    st, h, body = c.gw.req("GET", "/api/models/acme/clean/revision/main?expand=sha&expand=private")
    doc = json.loads(body) if st == 200 else {}
    check("revision API: 200, the upstream's JSON (sha)", doc.get("sha") == sha, (st, body[:300]))


def test_tree(c):
    files = c.repos["acme/clean"]
    want = set(files) | {"tokenizer"}
    path = "/api/models/acme/clean/tree/main?recursive=true&expand=false"
    seen, links, pages = [], [], 0
    while path and pages < 10:
        st, h, body = c.gw.req("GET", path)
        pages += 1
        if st != 200:
            check("tree: page %d through the gateway" % pages, False, (st, h, body[:300]))
            return
        seen += [e["path"] for e in json.loads(body)]
        link = h.get("link")
        path = None
        if link:
            links.append(link)
            url = link.split(">")[0].lstrip("<")
            u = urllib.parse.urlsplit(url)
            path = u.path + "?" + u.query if u.query else u.path
    check("tree: paginated (page size 3) with Link rel=next", pages >= 3 and len(links) == pages - 1, links)
    check("tree: every Link points at the gateway's base URL",
          links and all(x.startswith("<%s/api/models/acme/clean/tree/" % c.gw.url) and 'rel="next"' in x
                        for x in links), links)
    check("tree: the pages together list the repo once", sorted(seen) == sorted(want), seen)


def test_paths_info(c):
    sha = c.clean_sha
    body = json.dumps({"paths": ["config.json", "model.safetensors"], "expand": True})
    st, h, out = c.gw.req("POST", "/api/models/acme/clean/paths-info/" + sha, body=body,
                          headers={"Content-Type": "application/json"})
    doc = json.loads(out) if st == 200 else []
    lfs = [e for e in doc if e.get("path") == "model.safetensors"]
    check("paths-info: JSON body -> both entries, the LFS one with its sha256",
          sorted(e.get("path") for e in doc) == ["config.json", "model.safetensors"] and lfs and
          lfs[0].get("lfs", {}).get("oid") == hashlib.sha256(c.repos["acme/clean"]["model.safetensors"]).hexdigest(),
          (st, out[:500]))
    st, h, out = c.gw.req("POST", "/api/models/acme/clean/paths-info/main",
                          body="paths=config.json&paths=tokenizer&expand=false",
                          headers={"Content-Type": "application/x-www-form-urlencoded"})
    doc = json.loads(out) if st == 200 else []
    check("paths-info: form body -> a file and a folder",
          sorted(e.get("path") for e in doc) == ["config.json", "tokenizer"], (st, out[:500]))


def check_refusal(what, r, policy, fname=None, revision=None):
    d = r.get("data") if isinstance(r.get("data"), dict) else {}
    viol = d.get("policy_violations") or []
    names = [v.get("policy_name") for v in viol]
    ok = check("%s: refused, 403, message starts 'Blocked by modelgate'" % what,
               not r.get("ok") and r.get("statusCode") == 403 and
               str(r.get("message", "")).startswith("Blocked by modelgate"), brief(r))
    if not ok:
        return d
    check("%s: ... error.data is the report: BLOCKED, violations name '%s'" % (what, policy),
          d.get("eval_outcome") == "BLOCKED" and policy in names and d.get("uuid"), brief(r))
    check("%s: ... the message names the first violated policy" % what,
          viol and viol[0].get("policy_name", "?") in r.get("message", ""), (r.get("message"), names))
    if fname:
        files = [i.get("file", "") for v in viol for i in v.get("issues_by_file") or []]
        check("%s: ... the report names %s" % (what, fname), any(f.endswith(fname) for f in files), files)
    if revision:
        check("%s: ... judged at commit %s" % (what, revision[:12]), d.get("revision") == revision,
              (d.get("revision"), revision))
    return d


def test_blocked(c):
    cases = [("acme/evil-pickle", LOAD_TIME, "pytorch_model.bin"), ("acme/evil-gguf", LOAD_TIME, "model.gguf"),
             ("acme/bad-license", LICENSE_VALID, None)]
    c.blocked_uuid = {}
    for repo, policy, fname in cases:
        sha = c.hub.commit(repo)
        d = check_refusal("blocked %s snapshotDownload" % repo, c.snap(repo), policy, fname, sha)
        c.blocked_uuid[repo] = d.get("uuid")
        check_refusal("blocked %s downloadFile" % repo, c.file(repo, "README.md"), policy, fname, sha)
        st, h, body = c.gw.req("HEAD", "/%s/resolve/main/README.md" % repo)
        check("blocked %s: HEAD resolve -> 403, X-Error-Code GatedRepo, X-Error-Message" % repo,
              st == 403 and h.get("x-error-code") == "GatedRepo" and
              h.get("x-error-message", "").startswith("Blocked by modelgate"), (st, h))
        f = fname or "model.safetensors"
        st, h, body = c.gw.req("GET", "/%s/resolve/main/%s" % (repo, f))
        check("blocked %s: GET of %s -> 403 JSON, not a byte of the file" % (repo, f),
              st == 403 and h.get("content-type", "").startswith("application/json") and
              c.repos[repo][f] not in body, (st, h, body[:200]))


def test_branch_moved(c):
    repo = "acme/moving"
    old = c.hub.commit(repo)
    r = c.snap(repo)
    check("moved: main approved and downloaded first", r.get("ok") and r["path"].endswith("/" + old), brief(r))
    evil = {"README.md": model_card("apache-2.0"), "config.json": b'{"model_type": "bert"}\n',
            "pytorch_model.bin": corpus("pickle/malicious/posix_system_p0.pkl")}
    replace_branch(c.root, repo, evil)
    new = c.hub.commit(repo)
    check("moved: upstream main now is another commit", new and new != old, (old, new))
    check_refusal("moved: snapshotDownload of main", c.snap(repo), LOAD_TIME, "pytorch_model.bin", new)
    check_refusal("moved: downloadFile of main", c.file(repo, "config.json"), LOAD_TIME, None, new)
    st, h, _ = c.gw.req("HEAD", "/%s/resolve/main/config.json" % repo)
    check("moved: HEAD of main -> 403 GatedRepo", st == 403 and h.get("x-error-code") == "GatedRepo", (st, h))


def test_private(c):
    files = c.repos["acme/private"]
    for when in ("before", "after"):
        r = c.file("acme/private", "config.json")
        d = r.get("data") if isinstance(r.get("data"), dict) else {}
        check("private: no token (%s an allowed download) -> the upstream's 401/404, not a report" % when,
              not r.get("ok") and r.get("statusCode") in (401, 404) and "eval_outcome" not in d, brief(r))
        if when == "before":
            r = c.file("acme/private", "model.safetensors", accessToken=TOKEN)
            check("private: with the token -> the LFS file byte-identical",
                  r.get("ok") and c.read(r) == files["model.safetensors"], brief(r))
            r = c.snap("acme/private", accessToken=TOKEN)
            check("private: snapshotDownload with the token",
                  r.get("ok") and snapshot_files(r["path"]) == files, brief(r))
    r = c.file("acme/private", "config.json", accessToken="hf_not_the_token")
    check("private: a wrong token -> 401, not a report",
          not r.get("ok") and r.get("statusCode") == 401 and "eval_outcome" not in (r.get("data") or {}), brief(r))
    st, h, _ = c.gw.req("HEAD", "/acme/private/resolve/main/config.json")
    check("private: HEAD without token -> 401/404 RepoNotFound (upstream's)",
          st in (401, 404) and h.get("x-error-code") == "RepoNotFound", (st, h))
    log = [e for e in c.hub.log() if e["listener"] == "hub" and e["ua"] != TEST_UA and "acme/private" in e["path"]]
    check("private: the token went to the upstream hub", any(e["auth"] == "Bearer " + TOKEN for e in log),
          [(e["path"], e["auth"]) for e in log][:10])


def test_renamed(c):
    files = c.repos["acme/clean"]
    st, h, _ = c.gw.req("GET", "/acme/old-clean/resolve/main/config.json")
    check("renamed: the upstream's relative 307 passes through",
          st == 307 and h.get("location") == "/acme/clean/resolve/main/config.json", (st, h))
    for p in ("config.json", "model.safetensors"):
        r = c.file("acme/old-clean", p)
        check("renamed: downloadFile %s on the old name -> the file" % p, r.get("ok") and c.read(r) == files[p],
              brief(r))


def test_dataset_space(c):
    for repo, kind, prefix in (("acme/data", "dataset", "datasets/"), ("acme/demo", "space", "spaces/")):
        files = c.repos[prefix + repo]
        sha = c.hub.commit(repo, kind=kind + "s")
        r = c.snap(repo, kind)
        check("%s: snapshotDownload byte-identical" % kind,
              r.get("ok") and snapshot_files(r["path"]) == files, brief(r))
        scans = c.scans("hf://%s%s@" % (prefix, repo))
        check("%s: scanned as hf://%s%s@<sha>" % (kind, prefix, repo),
              scans and all(s["model_uri"] == "hf://%s%s@%s" % (prefix, repo, sha) for s in scans),
              scans)
        ds = c.decisions("repo=" + repo)
        check("%s: decisions with repo_type %s" % (kind, kind),
              ds and all(d.get("repo_type") == kind and d.get("outcome") == "ALLOWED" for d in ds), ds and ds[:2])


def test_tampered(c):
    """The CDN serves an LFS file whose bytes do not match its sha256: no
    client may end up with it."""
    r = c.file("acme/tampered", "model.safetensors")
    check("tampered: downloadFile of an LFS file the CDN corrupts fails (promptly)",
          not r.get("ok") and r.get("name") != "timeout", brief(r))
    conn = http.client.HTTPConnection("127.0.0.1", c.gw.port, timeout=30)
    try:
        conn.request("GET", "/acme/tampered/resolve/main/model.safetensors")
        resp = conn.getresponse()
        st, body = resp.status, resp.read()
        whole = st == 200 and len(body) == len(c.repos["acme/tampered"]["model.safetensors"])
    except (http.client.HTTPException, ConnectionError) as e:  # cut short: what a mismatch must do
        st, body, whole = repr(e), b"", False
    except TimeoutError:
        st, body, whole = "no answer in 30 s", b"", True
    finally:
        conn.close()
    check("tampered: a plain GET never completes with the corrupt bytes (refused or cut short)", not whole,
          (st, len(body)))


def test_denied(c):
    """Orgs and models denied by the policy: refused before any upstream call.
    Runs last: a new policy makes every verdict new."""
    pol = "policies:\n  org-not-blocked:\n    denied_orgs: [shady]\n  model-not-blocked:\n" \
          "    denied_models: [acme/denied]\n"
    st, doc, _, _ = c.gw.svc.request("PUT", "/api/v1/policies", raw=pol.encode(), token=c.admin,
                                     headers={"Content-Type": "application/yaml"})
    if not check("denied: PUT /api/v1/policies with denied_orgs and denied_models", st == 200, (st, doc)):
        return
    for repo in ("shady/model", "acme/denied"):
        before = len(c.hub.log())
        st, h, _ = c.gw.req("HEAD", "/%s/resolve/main/config.json" % repo)
        check("denied: HEAD %s -> 403 GatedRepo, X-Error-Message" % repo,
              st == 403 and h.get("x-error-code") == "GatedRepo" and
              h.get("x-error-message", "").startswith("Blocked by modelgate"), (st, h))
        r = c.snap(repo)
        check("denied: snapshotDownload %s -> 403 'Blocked by modelgate'" % repo,
              not r.get("ok") and r.get("statusCode") == 403 and
              str(r.get("message", "")).startswith("Blocked by modelgate"), brief(r))
        asked = [e["path"] for e in c.hub.log()[before:] if repo in e["path"]]
        check("denied: ... the upstream was never asked about %s" % repo, not asked, asked)


def test_crowd(c):
    files = c.repos["acme/crowd"]
    before = c.scans("hf://acme/crowd@")
    t0 = time.time()
    r = hfjs({"op": "many", "n": 50, "repo": "acme/crowd", "hubUrl": c.gw.url, "cacheDir": c.tmp("crowd")})
    took = time.time() - t0
    results = r.get("results") or []
    bad = [brief(x) for x in results if not x.get("ok")]
    check("crowd: 50 concurrent snapshotDownloads of a new repo all succeed (%.1fs)" % took,
          r.get("ok") and len(results) == 50, bad[:3] or r)
    same = [x for x in results if x.get("ok") and snapshot_files(x["path"]) == files]
    check("crowd: ... every one byte-identical", len(same) == 50, len(same))
    after = c.scans("hf://acme/crowd@")
    check("crowd: ... exactly one scan of the repo", before == [] and after is not None and len(after) == 1,
          (before, after))


def test_audit(c):
    ds = c.decisions("repo=acme/clean")
    check("audit: decisions of acme/clean listed", ds, ds)
    if not ds:
        return
    check("audit: ... only that repo, as a model", all(d.get("repo") == "acme/clean" and
                                                      d.get("repo_type") == "model" for d in ds),
          [(d.get("repo"), d.get("repo_type")) for d in ds])
    allowed = [d for d in ds if d.get("outcome") == "ALLOWED"]
    check("audit: ALLOWED decisions with the commit and a scan uuid",
          allowed and all(d.get("commit") == c.clean_sha and d.get("scan_uuid") for d in allowed), allowed[:3])
    check("audit: both entry points: action revision (path null) and resolve (path set)",
          any(d.get("action") == "revision" and d.get("path") is None for d in ds) and
          any(d.get("action") == "resolve" and d.get("path") == "model.safetensors" for d in ds),
          [(d.get("action"), d.get("path")) for d in ds][:10])
    check("audit: anonymous callers", all(d.get("caller") == "anonymous" for d in ds), {d.get("caller") for d in ds})
    c.clean_scan = {d.get("scan_uuid") for d in allowed}
    scans = c.scans("hf://acme/clean@")
    check("audit: one scan of acme/clean for all its downloads, the one the decisions name",
          scans is not None and len(scans) == 1 and c.clean_scan == {scans[0]["uuid"]}, (scans, c.clean_scan))
    blocked = c.decisions("repo=acme/evil-pickle&outcome=BLOCKED")
    check("audit: BLOCKED decisions of acme/evil-pickle name the commit and the report's uuid",
          blocked and all(d.get("outcome") == "BLOCKED" and d.get("commit") == c.hub.commit("acme/evil-pickle") and
                          d.get("scan_uuid") == c.blocked_uuid.get("acme/evil-pickle") and d.get("reason")
                          for d in blocked), blocked and blocked[:2])
    priv = [d for d in c.decisions("repo=acme/private") or [] if d.get("outcome") == "ALLOWED"]
    want = "token:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    check("audit: the private repo's downloads name the caller's token digest",
          priv and all(d.get("caller") == want for d in priv), [d.get("caller") for d in priv])


def test_no_bypass(c):
    """Over the whole run: no client request ever reached the CDN or Xet."""
    log = c.hub.log()
    cdn = [e for e in log if e["listener"] == "cdn"]
    client_cdn = [e for e in cdn if e["ua"] == "node" or "xet" in (e["accept"] or "")]
    check("bypass: the gateway fetched LFS bytes from the CDN, no client did",
          cdn and not client_cdn, client_cdn[:3] or len(cdn))
    check("bypass: the CDN never got an Authorization header", all(e["auth"] is None for e in cdn),
          [e for e in cdn if e["auth"]][:3])
    ours = [e for e in log if e["listener"] == "hub" and e["ua"] != TEST_UA]
    check("bypass: no Xet file info was ever sent upstream of a client",
          ours and not any(e.get("xet") for e in ours), [e for e in ours if e.get("xet")][:3])
    xet = [e for e in ours if "/xet-read-token/" in e["path"] or e["path"].startswith("/cas/")]
    check("bypass: nobody asked the hub for Xet tokens or reconstructions", not xet, xet[:3])
    resolves = [e for e in ours if "/resolve/" in e["path"]]
    check("bypass: the gateway asks /resolve with Accept */*",
          resolves and all(e["accept"] == "*/*" for e in resolves), {e["accept"] for e in resolves})


def test_upstream_down(c):
    c.hub.stop()
    st, h, body = c.gw.req("GET", "/acme/down/resolve/main/config.json")
    check("down: a new repo with the upstream gone -> 502 with X-Error-Message",
          st == 502 and h.get("x-error-message"), (st, h, body[:200]))
    st, h, body = c.gw.req("HEAD", "/acme/clean/resolve/main/config.json")
    check("down: a branch of an allowed repo cannot be resolved -> 502, not the file", st == 502, (st, h))
    r = c.snap("acme/clean")
    check("down: snapshotDownload -> 502", not r.get("ok") and r.get("statusCode") == 502, brief(r))


def stopped_clean(gw, what):
    """Stops the service: SIGTERM ends it with 0, and the sanitizers said nothing."""
    rc = gw.stop()
    with open(gw.svc.log_path, errors="replace") as f:
        err = f.read()
    bad = [x for x in err.splitlines() if "Sanitizer" in x or "runtime error:" in x]
    check("%s: SIGTERM stops the service with exit 0, no sanitizer report" % what, rc == 0 and not bad,
          (rc, bad[:5], err[-1500:] if bad else ""))


def test_restart(c):
    c.hub = StandIn(c.root, c.hub.log_path, c.hub.port, c.hub.cdn_port)
    port = c.gw.port
    stopped_clean(c.gw, "restart")
    c.gw = Gateway(c.data, c.hub.url, port=port)
    files = c.repos["acme/clean"]
    r = c.snap("acme/clean")
    check("restart: snapshotDownload after a restart", r.get("ok") and snapshot_files(r["path"]) == files, brief(r))
    scans = c.scans("hf://acme/clean@")
    check("restart: the stored verdict was used: still one scan of acme/clean",
          scans is not None and len(scans) == 1, scans)
    ds = [d for d in c.decisions("repo=acme/clean") or [] if d.get("outcome") == "ALLOWED"]
    check("restart: every ALLOWED decision names that one scan",
          ds and {d.get("scan_uuid") for d in ds} == c.clean_scan, {d.get("scan_uuid") for d in ds})
    r = c.snap("acme/evil-pickle")
    check("restart: a blocked repo is still refused", not r.get("ok") and r.get("statusCode") == 403, brief(r))


def main():
    if not install_hfhub():
        check("setup: npm install " + HFHUB_SPEC, False)
        return check.summary()
    work = tempfile.mkdtemp(prefix="gateway_test.")
    root = os.path.join(work, "root")
    data = os.path.join(work, "data")
    repos = make_repos(root)
    hub = gw = c = None
    t0 = time.time()
    try:
        hub = StandIn(root, os.path.join(work, "hub.jsonl"))
        try:
            gw = Gateway(data, hub.url)
        except RuntimeError as e:
            check("setup: serve --gateway starts", False, e)
            return check.summary()
        c = Ctx(work, root, repos, hub, gw)
        c.admin = gw.svc.admin
        c.data = data
        check("setup: the first start prints an admin token", bool(c.admin), gw.svc.lines)
        for test in (test_standin, test_clean, test_headers, test_tree, test_paths_info, test_blocked,
                     test_branch_moved, test_private, test_renamed, test_dataset_space, test_tampered, test_crowd,
                     test_audit, test_no_bypass, test_upstream_down, test_restart, test_denied,
                     lambda ctx: stopped_clean(ctx.gw, "end")):
            t1 = time.time()
            try:
                test(c)
                print("# %s: %.1fs" % (getattr(test, "__name__", "test"), time.time() - t1))
            except Exception:  # one broken answer must not hide the other checks
                check("%s ran to its end" % getattr(test, "__name__", "test"), False, traceback.format_exc())
        print("took %.1fs" % (time.time() - t0))
    finally:  # stopping twice is harmless
        for p in (c.hub if c else hub, c.gw if c else gw):
            if p:
                p.stop()
        if check.failed == 0:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print("work folder kept:", work)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
