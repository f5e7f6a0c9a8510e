#!/usr/bin/python3
"""ui_test.py BINARY - the dashboard end to end in a real headless browser.

A real `BINARY serve` on 127.0.0.1 (free port, temporary --data, --root the
repository's examples/ and a temporary folder of models written here) is
seeded with real scans through the REST API: examples/clean-model (ALLOWED),
examples/tampered-model (BLOCKED: a pickle calling posix.system), a model
blocked for its license (a README with `license: gpl-3.0`, not approved by
default) and a hostile model whose folder name, file name and pickle strings
carry `<script>` and `<img onerror>` payloads (the pickle is written here as
raw protocol opcodes and never loaded). An admin token comes from the first
start, a reader token from `modelgate token create`. The same service runs
the Hub gateway (`--gateway`) in front of tests/e2e/standin_hub.py, whose
root holds a clean repo (a small safetensors file and an approved license)
and a blocked one whose pickle strings carry an `<img onerror>` payload; a
few real requests to the gateway (the revision API of both, a HEAD of the
clean file) leave real decisions in its audit trail for the gateway page.

Then tests/e2e/ui_browser.mjs drives Debian's Chromium with npm's
playwright-core (installed once into build/node/playwright, never a browser
download) through the scenario of issue 8: sign in, read the BLOCKED scan,
prove the payloads are shown as text and no script ran, change the approved
licenses and see a re-run flip to ALLOWED, read the gateway's decisions
and filter them, sign out, and as a reader fail to
edit the policies (server enforced, CSRF included). Its ok/FAIL lines are
counted here, with what a browser cannot show: asset paths and headers, a
foreign Origin refused, and the store after the browser (one policy version,
its author).
Screenshots of every page go to build/screenshots/. Prints ok/FAIL per check
and "N passed, N failed".
"""
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import (EXAMPLES, ROOT, Checks, Service, StandInHub, free_port, http_request, model_card,  # noqa: E402
                    node_modules, npm_install, safetensors_header, write_tree)

BIN = os.path.abspath(sys.argv[1])
HERE = os.path.dirname(os.path.abspath(__file__))
DRIVER = os.path.join(HERE, "ui_browser.mjs")
PLAYWRIGHT_VERSION = "1.64.1"  # built against Chromium 156, Debian 12's
PLAYWRIGHT = os.path.join(node_modules("playwright"), "playwright-core", "index.mjs")
# /usr/bin/chromium is Debian's shell wrapper; this is the browser it starts
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.access(p, os.X_OK)), None)
SHOTS = os.path.join(ROOT, "build", "screenshots")
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
       "base-uri 'none'; form-action 'self'; frame-ancestors 'none'")
SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=2">'
XSS_DIR = IMG + " <script>window.__xss=1"  # a folder name cannot hold the "/" of </script>
XSS_FILE = "weights" + IMG + ".pkl"
UNAPPROVED = "gpl-3.0"  # not in the default approved_licenses (docs/policies.md)
GW_IMG = '<img src=x onerror="window.__xss=3">'  # in the blocked repo's pickle, so in its decision's reason
GW_CLEAN = "acme/tiny-weights"
GW_BLOCKED = "acme/pickled-weights"  # a safe name: the payload is in the file, not the repo id
check = Checks()


def install_playwright():
    """npm install playwright-core once into build/node/playwright. It has no
    install script, and PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD makes sure nothing
    fetches a browser: Debian's Chromium is the one used."""
    return npm_install("playwright", "playwright-core@" + PLAYWRIGHT_VERSION,
                       env={"PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}) is not None


def hostile_pickle(module=SCRIPT, name=IMG):
    """Protocol 2 opcodes by hand: GLOBAL with the payloads as module and name,
    a BINUNICODE string constant carrying both, TUPLE1, REDUCE, STOP."""
    text = (module + name).encode()
    return (b"\x80\x02" + b"c" + module.encode() + b"\n" + name.encode() + b"\n" +
            b"X" + struct.pack("<I", len(text)) + text + b"\x85R.")


def write_models(root):
    """root/team/<hostile name>/ and root/team/licensed/; their paths."""
    xss = os.path.join(root, "team", XSS_DIR)
    os.makedirs(xss)
    with open(os.path.join(xss, XSS_FILE), "wb") as f:
        f.write(hostile_pickle())
    licensed = os.path.join(root, "team", "licensed")
    os.makedirs(licensed)
    with open(os.path.join(licensed, "README.md"), "w") as f:
        f.write("---\nlicense: %s\n---\n# A small model under a license nobody approved yet\n" % UNAPPROVED)
    with open(os.path.join(licensed, "config.json"), "w") as f:
        f.write('{"model_type": "demo", "hidden_size": 8}\n')
    return xss, licensed


def write_hub_repos(root):
    """The stand-in hub's main branches: GW_CLEAN (a 16-float safetensors
    file, an approved license) and GW_BLOCKED (the same card, and a pickle
    importing builtins.<GW_IMG>: suspicious code, so BLOCKED)."""
    head, size = safetensors_header(16)
    write_tree(os.path.join(root, GW_CLEAN, "main"),
               {"README.md": model_card("mit"), "model.safetensors": head + b"\0" * (size - len(head))})
    write_tree(os.path.join(root, GW_BLOCKED, "main"),
               {"README.md": model_card("mit"), "pytorch_model.bin": hostile_pickle("builtins", GW_IMG)})


def json_of(body):
    """The JSON object in body, {} when it is not one."""
    try:
        doc = json.loads(body)
    except ValueError:
        return {}
    return doc if isinstance(doc, dict) else {}


def gateway_request(port, method, path):
    """A request to the gateway, again while it answers 503 (a scan still
    running: what clients do); (status, headers, body)."""
    deadline = time.time() + 60
    while True:
        st, hdrs, body = http_request(port, method, path)
        if st != 503 or time.time() > deadline:
            return st, hdrs, body
        time.sleep(0.1)


def gateway_decisions(svc, port):
    """Real gateway decisions: the revision API of both repos and a HEAD of
    the clean file. The audit rows are written behind the answers, so the
    API is polled until all three are there. {repo: [decision]}."""
    deadline = time.time() + 30
    while True:
        try:
            st, _, _ = http_request(port, "GET", "/healthz", timeout=5)
            break
        except OSError as e:
            if time.time() > deadline:
                check("serve --gateway: the gateway answers", False, e)
                return {}
            time.sleep(0.05)
    st, hdrs, body = gateway_request(port, "GET", "/api/models/%s/revision/main" % GW_CLEAN)
    sha = json_of(body).get("sha") if st == 200 else None
    check("gateway: the clean repo's revision API -> 200 with its commit", st == 200 and sha, (st, body[:300]))
    st, hdrs, _ = gateway_request(port, "HEAD", "/%s/resolve/main/model.safetensors" % GW_CLEAN)
    check("gateway: HEAD of the clean repo's file -> 200 at that commit",
          st == 200 and hdrs.get("x-repo-commit") == sha, (st, hdrs))
    st, hdrs, body = gateway_request(port, "GET", "/api/models/%s/revision/main" % GW_BLOCKED)
    check("gateway: the blocked repo's revision API -> 403 GatedRepo, the payload in its error",
          st == 403 and hdrs.get("x-error-code") == "GatedRepo" and GW_IMG in str(json_of(body).get("error")),
          (st, hdrs, body[:300]))
    ds = []
    while time.time() < deadline:
        st, doc, _, _ = svc.request("GET", "/api/v1/gateway/decisions?limit=100", token=svc.admin)
        ds = (doc or {}).get("decisions") or []
        if len(ds) >= 3:
            break
        time.sleep(0.05)
    by = {r: [d for d in ds if d.get("repo") == r] for r in (GW_CLEAN, GW_BLOCKED)}
    check("gateway: three decisions in the audit trail, two ALLOWED for the clean repo (revision, resolve)",
          len(ds) == 3 and sorted((d.get("action"), d.get("outcome")) for d in by[GW_CLEAN]) ==
          [("resolve", "ALLOWED"), ("revision", "ALLOWED")], ds)
    b = by[GW_BLOCKED][0] if len(by[GW_BLOCKED]) == 1 else {}
    check("gateway: ... one BLOCKED for the blocked repo, its reason carrying the payload, its scan named",
          b.get("outcome") == "BLOCKED" and GW_IMG in (b.get("reason") or "") and b.get("scan_uuid"), by[GW_BLOCKED])
    return by


def seed(svc, uri, want):
    """One real scan through the API; its report (or {})."""
    st, rep, _, _ = svc.request("POST", "/api/v1/scans?wait=true", {"model_uri": uri}, token=svc.admin)
    rep = rep or {}
    check("seed: %s is %s" % (os.path.basename(uri)[:40], want), st == 200 and rep.get("eval_outcome") == want,
          (st, rep.get("eval_outcome"), rep.get("policy_violations")))
    return rep


def finding_of(rep, filename, threat):
    for f in rep.get("files") or []:
        if f.get("path", "").endswith(filename):
            for fd in f.get("findings") or []:
                if fd.get("threat") == threat:
                    return f, fd
    return {}, {}


def asset_checks(svc):
    """What the browser cannot see well: headers on an API answer, asset
    types, unknown and escaping asset paths."""
    st, _, body, hdrs = svc.request("GET", "/")
    check("GET / serves the page shell", st == 200 and b"/ui/app.js" in body and
          hdrs.get("content-type", "").startswith("text/html"), (st, hdrs.get("content-type"), body[:200]))
    st, _, _, hdrs = svc.request("GET", "/ui/app.js")
    check("GET /ui/app.js is JavaScript", st == 200 and "javascript" in hdrs.get("content-type", ""),
          (st, hdrs.get("content-type")))
    st, _, _, hdrs = svc.request("GET", "/api/v1/scans?limit=1", token=svc.admin)
    check("API answers carry the CSP and nosniff too", st == 200 and hdrs.get("content-security-policy") == CSP and
          hdrs.get("x-content-type-options") == "nosniff", (st, hdrs))
    for path in ("/ui/nope.js", "/ui/../Makefile", "/ui/..%2fMakefile", "/ui/js/../../Makefile", "/ui/"):
        st, _, body, _ = svc.request("GET", path)
        check("unknown or escaping asset %s: 404" % path, st == 404, (st, body[:100]))


def origin_checks(svc, clean_uri):
    """A browser always sends its own Origin, so the foreign-Origin rule is
    checked here: a cookie request with the right CSRF token but another
    origin is refused; the same request from the service's origin passes."""
    st, doc, _, hdrs = svc.request("POST", "/api/v1/session", {"token": svc.admin})
    cookie = hdrs.get("set-cookie", "").split(";")[0]
    csrf = (doc or {}).get("csrf_token", "")
    check("POST /api/v1/session: 200 with a cookie and a CSRF token", st == 200 and cookie.startswith("mg_session=") and
          len(csrf) == 64, (st, doc, hdrs.get("set-cookie")))
    own = "http://127.0.0.1:%d" % svc.port
    body = {"model_uri": clean_uri}
    for origin, want in (("http://evil.example", 403), ("http://127.0.0.1:%d" % (svc.port + 1), 403), (own, 202)):
        st, doc, _, _ = svc.request("POST", "/api/v1/scans", body,
                                    headers={"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": origin})
        check("cookie POST with Origin %s: %d" % (origin, want), st == want, (st, doc))
        if st == 202:
            svc.wait_done(doc.get("uuid"), svc.admin)
    st, doc, _, _ = svc.request("DELETE", "/api/v1/session", headers={"Cookie": cookie, "X-CSRF-Token": csrf})
    check("DELETE /api/v1/session with the CSRF token: 204", st == 204, (st, doc))


def run_browser(cfg, tmp):
    """Runs the driver; counts its ok/FAIL lines; False when it died."""
    path = os.path.join(tmp, "ui.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODELGATE_", "AWS_", "HF_"))}
    env.update(HOME=tmp, PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD="1")
    try:
        p = subprocess.run(["node", DRIVER, path], capture_output=True, text=True, timeout=150, env=env)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        p = subprocess.CompletedProcess(e.cmd, -1, out, "timed out after 150 s")
    for line in p.stdout.splitlines():
        if line.startswith("ok "):
            check(line[3:], True)
        elif line.startswith("FAIL "):
            check(line[5:], False)
        elif line.strip():
            print("#", line)
    return check("browser driver ran to its end (exit 0)", p.returncode == 0 and "driver done" in p.stdout,
                 (p.returncode, p.stderr[-3000:]))


def after_browser(svc, licensed_model_uuid):
    """The store after the browser: the admin's save is one version with its
    author; the reader's forged PUT stored nothing."""
    st, doc, _, _ = svc.request("GET", "/api/v1/policies/versions", token=svc.admin)
    versions = (doc or {}).get("versions") or []
    check("one policy version stored (the admin's save, not the reader's PUT)", st == 200 and len(versions) == 1,
          (st, doc))
    v = versions[0] if versions else {}
    check("the stored version names the admin as author and holds the new license",
          "(admin)" in str(v.get("author")) and UNAPPROVED in (v.get("yaml") or ""), v)
    st, doc, _, _ = svc.request("GET", "/api/v1/scans?outcome=ALLOWED&model=%s" % licensed_model_uuid,
                                token=svc.admin)
    check("the licensed model has an ALLOWED scan now", st == 200 and len((doc or {}).get("scans") or []) >= 1,
          (st, doc))


def main():
    if not CHROMIUM:
        check("setup: Debian's chromium is installed (make deps)", False)
        return check.summary()
    if not install_playwright():
        check("setup: npm install playwright-core@" + PLAYWRIGHT_VERSION, False)
        return check.summary()
    os.makedirs(SHOTS, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix="mg-ui-")
    svc = hub = None
    try:
        models = os.path.join(tmp, "models")
        xss, licensed = write_models(models)
        write_hub_repos(os.path.join(tmp, "hub"))
        hub = StandInHub(os.path.join(tmp, "hub"), os.path.join(tmp, "hub.jsonl"))
        data = os.path.join(tmp, "data")
        gw_port = free_port()
        svc = Service(BIN, data, args=["--listen", "127.0.0.1:%d" % free_port(), "--data", data, "--root", EXAMPLES,
                                       "--root", models, "--gateway", "127.0.0.1:%d" % gw_port,
                                       "--upstream", hub.url])
        check("first start prints an admin token", bool(svc.admin and svc.admin.startswith("mg_")), svc.lines)
        reader = svc.token(BIN, "reader")
        check("token create --role reader", reader.startswith("mg_"), reader)
        clean = seed(svc, os.path.join(EXAMPLES, "clean-model"), "ALLOWED")
        tampered = seed(svc, os.path.join(EXAMPLES, "tampered-model"), "BLOCKED")
        hostile = seed(svc, xss, "BLOCKED")
        lic = seed(svc, licensed, "BLOCKED")
        check("the licensed model is blocked for its license only",
              [v.get("policy_id") for v in lic.get("policy_violations") or []] == ["license-valid"],
              lic.get("policy_violations"))
        f, fd = finding_of(tampered, "extra_data.pkl", "MG-PKL-100")
        with open(os.path.join(EXAMPLES, "tampered-model", "extra_data.pkl"), "rb") as fh:
            sha = hashlib.sha256(fh.read()).hexdigest()
        check("the tampered report names extra_data.pkl with its sha256 and offset",
              f.get("sha256") == sha and isinstance(fd.get("offset"), int), (f, fd))
        decisions = gateway_decisions(svc, gw_port)
        st, threats, _, _ = svc.request("GET", "/api/v1/threats", token=reader)
        threats = (threats or {}).get("threats") or []
        pkl100 = next((t for t in threats if t.get("id") == "MG-PKL-100"), {})
        asset_checks(svc)
        origin_checks(svc, clean.get("model_uri"))
        st, doc, _, _ = svc.request("GET", "/api/v1/scans?outcome=ALLOWED", token=reader)
        allowed = len((doc or {}).get("scans") or [])
        cfg = {
            "playwright": PLAYWRIGHT, "chromium": CHROMIUM, "base": "http://127.0.0.1:%d" % svc.port,
            "shots": SHOTS, "csp": CSP, "admin": svc.admin, "reader": reader,
            "script": SCRIPT, "img": IMG, "xssDir": XSS_DIR, "xssFile": XSS_FILE, "unapproved": UNAPPROVED,
            "clean": {"uuid": clean.get("uuid"), "uri": clean.get("model_uri"), "allowed": allowed},
            "tampered": {"uuid": tampered.get("uuid"), "model": tampered.get("model_uuid"), "sha256": sha,
                         "offset": fd.get("offset"), "file": "extra_data.pkl"},
            "xss": {"uuid": hostile.get("uuid"), "model": hostile.get("model_uuid"), "uri": xss},
            "licensed": {"uuid": lic.get("uuid"), "model": lic.get("model_uuid"), "uri": lic.get("model_uri")},
            "rulesVersion": tampered.get("rules_version", "?"),
            "threat": {"id": "MG-PKL-100", "title": pkl100.get("title", "?")}, "threatCount": len(threats),
            "gateway": {"clean": GW_CLEAN, "blocked": GW_BLOCKED, "img": GW_IMG,
                        "counts": {r: len(ds) for r, ds in decisions.items()},
                        "blockedScan": ((decisions.get(GW_BLOCKED) or [{}])[0]).get("scan_uuid")},
        }
        if run_browser(cfg, tmp):
            after_browser(svc, lic.get("model_uuid"))
    finally:
        if svc:
            code = svc.stop()
            with open(svc.log_path, errors="replace") as f:
                log = f.read()
            check("the service stops cleanly (exit 0, no sanitizer report)", code == 0 and "Sanitizer" not in log,
                  (code, log[-3000:]))
        if hub:
            hub.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    return check.summary()


if __name__ == "__main__":
    sys.exit(main())
