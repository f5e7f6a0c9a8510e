#!/usr/bin/python3
"""s3_test.py - the S3 source against a real local S3 server and a strict stand-in.

1. s3rver 3.7.1 (npm, installed once into build/node/s3rver) runs on a free
   port, seeded with boto3. build/test/s3_probe (tests/e2e/s3_probe.c) drives
   the S3 source directly: listing (folder markers, sibling prefixes,
   pagination over more than 1000 keys with small pages and s3rver's
   base64 continuation tokens), ranged reads compared byte for byte, keys
   with spaces, + = & % ~ and non-ASCII, single objects, limits, a missing
   bucket, bad credentials, the AWS profile files, an endpoint nobody
   listens on.
2. s3rver never checks signatures, so a stand-in S3 in this process does:
   it recomputes every request's SigV4 with botocore (whose canonical query
   and path come from urllib's quoting, not ours), refuses a URL whose
   encoding is not the canonical one, and plays hostile: keys with "..",
   keys outside the prefix, a DOCTYPE, a pagination loop, wrong ranges,
   objects that change between listing and reading, errors, slowness.
3. When `modelgate scan` takes s3:// URIs, the issue's scenario through the
   real command: a clean model is ALLOWED; with extra_data.pkl calling
   posix.system it is BLOCKED naming the file; deleting the file ALLOWS it
   again. The pickle is written as raw opcode bytes and never loaded.
"""
import base64
import concurrent.futures
import datetime
import hashlib
import http.server
import json
import re
import urllib.error
import urllib.request
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from xml.sax.saxutils import escape

import boto3
import botocore.config
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODELGATE = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/test/modelgate"))
PROBE = os.path.join(os.path.dirname(MODELGATE), "s3_probe")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import node_modules, npm_install  # noqa: E402

S3RVER_SPEC = "s3rver@3.7.1"
NODE_DIR = os.path.dirname(node_modules("s3rver"))  # s3rver runs here (watch_test.py too)
S3RVER = os.path.join(node_modules("s3rver"), "s3rver", "bin", "s3rver.js")
SRC_ENOTFOUND, SRC_EDENIED, SRC_EUPSTREAM, SRC_ELIMIT, SRC_EINVAL = -3, -4, -5, -6, -2
passed = failed = 0


def result(ok, name, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name, why)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, secs=20):
    end = time.time() + secs
    while time.time() < end:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def install_s3rver():
    """npm install s3rver once into build/node/s3rver (watch_test.py calls it too)."""
    return npm_install("s3rver", S3RVER_SPEC) is not None


class Probe:
    """Runs s3_probe with a clean AWS environment (HOME points nowhere real)."""

    def __init__(self, home):
        self.home = home

    def env(self, endpoint, key="S3RVER", secret="S3RVER", extra=None):
        e = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        e["HOME"] = self.home
        if endpoint:
            e["AWS_ENDPOINT_URL"] = endpoint
        if key is not None:
            e["AWS_ACCESS_KEY_ID"] = key
            e["AWS_SECRET_ACCESS_KEY"] = secret
        e.update(extra or {})
        return e

    def run(self, args, env, timeout=120):
        t = time.time()
        r = subprocess.run([PROBE] + args, capture_output=True, text=True, env=env, timeout=timeout)
        out = {"rc": None, "objs": {}, "secs": time.time() - t, "stderr": r.stderr, "exit": r.returncode}
        for line in r.stdout.splitlines():
            k, _, v = line.partition(" ")
            if k == "obj":
                p, size, etag = v.split("\t")
                out["objs"][p] = (int(size), etag)
            elif k == "rc":
                out["rc"] = int(v)
            else:
                out[k] = v
        if "Sanitizer" in r.stderr or "runtime error:" in r.stderr or r.returncode not in (0, 1):
            out["rc"] = "crashed"  # a leak, a sanitizer report or a crash fails whatever was asserted
        return out


def brief(r):
    return f"rc={r.get('rc')} err={r.get('err')} exit={r.get('exit')} stderr={r.get('stderr', '')[-600:]}"


# ---------------------------------------------------------------- s3rver ----

def s3rver_suite(probe, port, s3):
    ep = f"http://127.0.0.1:{port}"
    env = probe.env(ep)
    rnd = os.urandom(300_000)
    special = {
        "uni/space name.bin": os.urandom(1000),
        "uni/a+b=c&d%e~f.bin": os.urandom(2000),
        "uni/\u65e5\u672c\u8a9e \u30e2\u30c7\u30eb/weights.bin": os.urandom(3000),
        "uni/\u00fc(1)!*'.txt": b"umlaut",
    }
    seeds = {
        "team-a/bert/config.json": b'{"model_type": "bert"}',
        "team-a/bert/model.bin": rnd,
        "team-a/bert/sub/tokenizer.json": b"{}",
        "team-a/bert/": b"",  # folder marker
        "team-a/bert2/other.bin": b"not this model",
        "team-a/bert/empty.txt": b"",
        **special,
    }
    for k, v in seeds.items():
        s3.put_object(Bucket="models", Key=k, Body=v)
    many = {f"many/shard-{i:05d}.bin": str(i).encode() for i in range(1050)}
    with concurrent.futures.ThreadPoolExecutor(8) as ex:
        list(ex.map(lambda kv: s3.put_object(Bucket="models", Key=kv[0], Body=kv[1]), many.items()))

    # listing
    r = probe.run(["list", "s3://models/team-a/bert/"], env)
    want = {"config.json", "model.bin", "sub/tokenizer.json", "empty.txt"}
    result(r["rc"] == 0 and set(r["objs"]) == want, "list: relative paths, folder marker and sibling prefix left out",
           brief(r) + f" got {sorted(r['objs'])}")
    etag = s3.head_object(Bucket="models", Key="team-a/bert/model.bin")["ETag"]
    result(r["objs"].get("model.bin") == (len(rnd), etag) and r["objs"].get("empty.txt", (None,))[0] == 0,
           "list: sizes and ETags as S3 states them", str(r["objs"].get("model.bin")))
    result(r.get("ns") == "models" and r.get("name") == "bert" and r.get("rev") == "-",
           "list: namespace is the bucket, name the last prefix segment, no revision", brief(r))
    r2 = probe.run(["list", "s3://models/team-a/bert"], env)
    result(r2["rc"] == 0 and set(r2["objs"]) == want, "list: a prefix without its trailing / is the same folder",
           brief(r2))

    # ranged reads
    out = os.path.join(probe.home, "read.bin")
    spans = [(1, 1), (0, 4096), (123_456, 10_000), (len(rnd) - 1, 1), (len(rnd) - 70_000, 70_000)]
    args = ["read", "s3://models/team-a/bert/"]
    for off, n in spans:
        args += ["model.bin", str(off), str(n), out]
    if os.path.exists(out):
        os.unlink(out)
    r = probe.run(args, env)
    got = open(out, "rb").read() if os.path.exists(out) else b""
    ok = r["rc"] == 0 and all(got[o:o + n] == rnd[o:o + n] for o, n in spans)
    result(ok, "read: byte ranges land at their offsets with the object's bytes", brief(r))
    holes = set(range(len(got))) - {i for o, n in spans for i in range(o, o + n)}
    result(r["rc"] == 0 and all(got[i] == 0 for i in list(holes)[:5000]),
           "read: nothing outside the asked ranges was written", brief(r))
    # s3rver 3.7.1 answers "Range: bytes=0-0" with the whole object (it reads end 0 as "no end"):
    # an answer that is not the range asked for must be an error, with nothing written
    if os.path.exists(out):
        os.unlink(out)
    r = probe.run(["read", "s3://models/team-a/bert/", "model.bin", "0", "1", out], env)
    result(r["rc"] == SRC_EUPSTREAM and "range" in r.get("err", "") and
           (not os.path.exists(out) or not any(open(out, "rb").read())),
           "read: s3rver's whole-object answer to bytes=0-0 is refused, nothing written", brief(r))
    whole = os.path.join(probe.home, "whole.json")
    r = probe.run(["read", "s3://models/team-a/bert/", "config.json", "0", str(len(seeds["team-a/bert/config.json"])),
                   whole], env)
    result(r["rc"] == 0 and open(whole, "rb").read() == seeds["team-a/bert/config.json"],
           "read: a whole small object", brief(r))

    # keys that need encoding, in the path and in the listing's prefix
    r = probe.run(["list", "s3://models/uni/"], env)
    result(r["rc"] == 0 and set(r["objs"]) == {k[4:] for k in special},
           "list: keys with spaces, + = & % ~ ( ) ! * ' and non-ASCII", brief(r) + f" {sorted(r['objs'])}")
    ok = r["rc"] == 0
    for k, v in special.items():
        o = os.path.join(probe.home, "sp.bin")
        if os.path.exists(o):
            os.unlink(o)
        rr = probe.run(["read", "s3://models/uni/", k[4:], "1", str(len(v) - 1), o], env)
        ok = ok and rr["rc"] == 0 and open(o, "rb").read()[1:] == v[1:]
    result(ok, "read: keys with spaces, + = & % ~ and non-ASCII fetch their own bytes")
    rr = probe.run(["list", "s3://models/uni/\u65e5\u672c\u8a9e \u30e2\u30c7\u30eb/"], env)
    result(rr["rc"] == 0 and set(rr["objs"]) == {"weights.bin"} and rr.get("name") == "\u65e5\u672c\u8a9e \u30e2\u30c7\u30eb",
           "list: a non-ASCII prefix with a space", brief(rr))

    # pagination over more than 1000 keys
    r = probe.run(["list", "s3://models/many/"], env)
    result(r["rc"] == 0 and set(r["objs"]) == {k[5:] for k in many}, "pagination: 1050 keys in pages of 1000",
           brief(r) + f" count={r.get('count')}")
    r = probe.run(["--page-keys", "97", "list", "s3://models/many/"], env)
    result(r["rc"] == 0 and set(r["objs"]) == {k[5:] for k in many} and int(r.get("count", 0)) == 1050,
           "pagination: 1050 keys in pages of 97 (continuation tokens with + / =)", brief(r))
    r = probe.run(["--page-keys", "100", "--max-pages", "5", "list", "s3://models/many/"], env)
    result(r["rc"] == SRC_ELIMIT and "pages" in r.get("err", ""), "limits: more pages than max_pages", brief(r))
    r = probe.run(["--max-files", "1000", "list", "s3://models/many/"], env)
    result(r["rc"] == SRC_ELIMIT and "1000 files" in r.get("err", ""), "limits: more files than max_files", brief(r))

    # one object
    r = probe.run(["list", "s3://models/team-a/bert/model.bin"], env)
    result(r["rc"] == 0 and r["objs"] == {"model.bin": (len(rnd), etag)} and r.get("name") == "model.bin",
           "single object: s3://bucket/key", brief(r))
    o = os.path.join(probe.home, "single.bin")
    r = probe.run(["read", "s3://models/team-a/bert/model.bin", "model.bin", "1000", "24", o], env)
    result(r["rc"] == 0 and open(o, "rb").read()[1000:1024] == rnd[1000:1024], "single object: ranged read", brief(r))

    # not there
    r = probe.run(["list", "s3://no-such-bucket/x/"], env)
    result(r["rc"] == SRC_ENOTFOUND and "NoSuchBucket" in r.get("err", ""), "errors: a missing bucket is not found",
           brief(r))
    r = probe.run(["list", "s3://models/team-b/"], env)
    result(r["rc"] == SRC_ENOTFOUND and "no objects under s3://models/team-b/" in r.get("err", ""),
           "errors: an empty prefix is not found", brief(r))
    r = probe.run(["list", "s3://models/team-a/nothing"], env)
    result(r["rc"] == SRC_ENOTFOUND, "errors: no object and no folder of that name", brief(r))
    s3.put_object(Bucket="models", Key="gone/a.bin", Body=b"0123456789")
    r = probe.run(["list", "s3://models/gone/"], env)
    s3.delete_object(Bucket="models", Key="gone/a.bin")
    rr = probe.run(["list", "s3://models/gone/"], env)
    result(r["rc"] == 0 and rr["rc"] == SRC_ENOTFOUND, "errors: a prefix whose objects were deleted", brief(rr))

    # credentials
    r = probe.run(["list", "s3://models/team-a/bert/"], probe.env(ep, key="NOPE", secret="x"))
    result(r["rc"] == SRC_EDENIED and "InvalidAccessKeyId" in r.get("err", ""),
           "credentials: an unknown access key is denied", brief(r))
    creds = os.path.join(probe.home, "creds.ini")
    with open(creds, "w") as f:
        f.write("[default]\naws_access_key_id = NOPE\naws_secret_access_key = x\n"
                "[ci]\naws_access_key_id = S3RVER\naws_secret_access_key = S3RVER\n")
    penv = probe.env(ep, key=None, extra={"AWS_SHARED_CREDENTIALS_FILE": creds, "AWS_PROFILE": "ci"})
    r = probe.run(["list", "s3://models/team-a/bert/"], penv)
    result(r["rc"] == 0 and set(r["objs"]) == want, "credentials: AWS_PROFILE from the shared credentials file",
           brief(r))
    penv.pop("AWS_PROFILE")
    r = probe.run(["list", "s3://models/team-a/bert/"], penv)
    result(r["rc"] == SRC_EDENIED, "credentials: the default profile is used without AWS_PROFILE", brief(r))
    os.makedirs(os.path.join(probe.home, ".aws"), exist_ok=True)
    shutil.copy(creds, os.path.join(probe.home, ".aws/credentials"))
    henv = probe.env(ep, key=None, extra={"AWS_PROFILE": "ci"})
    r = probe.run(["list", "s3://models/team-a/bert/"], henv)
    os.unlink(os.path.join(probe.home, ".aws/credentials"))
    result(r["rc"] == 0, "credentials: ~/.aws/credentials", brief(r))
    r = probe.run(["list", "s3://models/team-a/bert/"], probe.env(ep, extra={"AWS_PROFILE": "nope"}))
    result(r["rc"] == SRC_EINVAL and "nope" in r.get("err", ""), "credentials: a named profile that does not exist",
           brief(r))

    # URIs refused before any request
    for uri, why in [("s3://Models/x/", "upper case"), ("s3://ab/x/", "too short"), ("s3://a_b_c/x/", "underscore"),
                     ("s3://192.168.1.1/x/", "an IP address"), ("s3://models..x/y/", "two dots"),
                     ("s3://models/a\x01b/", "a control byte")]:
        r = probe.run(["list", uri], env)
        result(r["rc"] == SRC_EINVAL and r.get("err"), f"uri: refused ({why})", brief(r))
    r = probe.run(["list", "s3://models/x/"], probe.env("http://user:pw@127.0.0.1:1"))
    result(r["rc"] == SRC_EINVAL and "endpoint" in r.get("err", ""), "uri: an endpoint with user info is refused",
           brief(r))

    # nobody listening: an upstream error, fast
    dead = free_port()
    r = probe.run(["list", "s3://models/team-a/bert/"], probe.env(f"http://127.0.0.1:{dead}"))
    result(r["rc"] == SRC_EUPSTREAM and r["secs"] < 5, "errors: an unreachable endpoint fails fast as upstream",
           brief(r) + f" {r['secs']:.1f}s")


# ------------------------------------------------------- strict stand-in ----

class Standin(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port, objects, keys):
        super().__init__(("127.0.0.1", port), StandinHandler)
        self.objects = objects  # bucket -> {key: bytes}
        self.keys = keys        # access key -> (secret, region)
        self.log = []           # (method, raw path, has authorization)
        self.bad_signatures = []


def canonical_path(raw_path):
    return urllib.parse.quote(urllib.parse.unquote(raw_path), safe="/~")


def canonical_query(raw_query):
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True, strict_parsing=bool(raw_query))
    return "&".join(urllib.parse.quote(k, safe="-_.~") + "=" + urllib.parse.quote(v, safe="-_.~")
                    for k, v in sorted(pairs)), dict(pairs)


class StandinHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def s3_error(self, status, code, msg):
        self.send(status, f"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code>"
                          f"<Message>{escape(msg)}</Message></Error>".encode(), [("Content-Type", "application/xml")])

    def verify(self, raw_path, raw_query):
        """Real S3's checks, with botocore as the independent signer."""
        auth = self.headers.get("Authorization")
        if not auth:
            return None  # anonymous
        try:
            cred = auth.split("Credential=")[1].split(",")[0]
            key, day, region, service, term = cred.split("/")
            signed = auth.split("SignedHeaders=")[1].split(",")[0].split(";")
            sig = auth.split("Signature=")[1]
        except (IndexError, ValueError):
            return "AuthorizationHeaderMalformed"
        if key not in self.server.keys:
            return "InvalidAccessKeyId"
        secret, want_region = self.server.keys[key]
        date = self.headers.get("x-amz-date", "")
        if region != want_region or service != "s3" or term != "aws4_request" or not date.startswith(day):
            return "AuthorizationHeaderMalformed"
        when = datetime.datetime.strptime(date, "%Y%m%dT%H%M%SZ").replace(tzinfo=datetime.timezone.utc)
        if abs((datetime.datetime.now(datetime.timezone.utc) - when).total_seconds()) > 900:
            return "RequestTimeTooSkewed"
        if not {"host", "x-amz-date", "x-amz-content-sha256"} <= set(signed):
            return "AccessDenied"
        if self.headers.get("x-amz-security-token") and "x-amz-security-token" not in signed:
            return "AccessDenied"
        canon_q, _ = canonical_query(raw_query)
        if raw_path != canonical_path(raw_path) or raw_query != canon_q:
            self.server.bad_signatures.append(("encoding", raw_path, raw_query))
            return "SignatureDoesNotMatch"
        headers = {h: self.headers.get(h) for h in signed}
        req = AWSRequest(method=self.command, url=f"http://{self.headers['Host']}{raw_path}",
                         headers=headers, params=dict(urllib.parse.parse_qsl(raw_query, keep_blank_values=True)))
        req.context["timestamp"] = date
        signer = S3SigV4Auth(Credentials(key, secret, self.headers.get("x-amz-security-token")), "s3", region)
        want = signer.signature(signer.string_to_sign(req, signer.canonical_request(req)), req)
        if want != sig:
            self.server.bad_signatures.append((raw_path, raw_query, signer.canonical_request(req)))
            return "SignatureDoesNotMatch"
        return None

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        raw_path, _, raw_query = self.path.partition("?")
        self.server.log.append((self.command, self.path, "Authorization" in self.headers))
        bad = self.verify(raw_path, raw_query)
        if bad:
            return self.s3_error(403, bad, "refused by the stand-in")
        bucket, _, key = urllib.parse.unquote(raw_path)[1:].partition("/")
        objs = self.server.objects.get(bucket)
        if objs is None:
            return self.s3_error(404, "NoSuchBucket", "The specified bucket does not exist")
        if bucket == "evil-slow":
            time.sleep(4)
        if bucket == "evil-500":
            return self.s3_error(500, "InternalError", "We encountered an internal error. Please try again.")
        if bucket == "evil-denied":
            return self.s3_error(403, "AccessDenied", "Access Denied")
        if not key:
            return self.listing(bucket, objs, canonical_query(raw_query)[1])
        if key not in objs or bucket == "evil-ghost" and key.endswith("ghost.bin"):
            return self.s3_error(404, "NoSuchKey", "The specified key does not exist.")
        self.read(bucket, key, objs[key])

    def listing(self, bucket, objs, q):
        if q.get("list-type") != "2":
            return self.s3_error(400, "InvalidArgument", "list-type=2 expected")
        prefix, n = q.get("prefix", ""), int(q.get("max-keys", "1000"))
        if bucket == "evil-ghost":  # listed, but gone when read
            objs[prefix + "ghost.bin"] = b"boo!!"
        keys = sorted(k for k in objs if k.startswith(prefix))
        start = 0
        if "continuation-token" in q:
            start = int(base64.b64decode(q["continuation-token"])[3:].decode())
        page, nxt = keys[start:start + n], start + n
        extra = ""
        if bucket == "evil-dotdot":
            page = page + [prefix + "sub/../../escape.bin"]
        if bucket == "evil-outside":
            page = page + ["elsewhere/x.bin"]
        if bucket == "evil-doctype":
            extra = '<!DOCTYPE ListBucketResult [<!ENTITY x "team">]>'
        truncated = nxt < len(keys) or bucket == "evil-loop"
        # tokens carry + / = like S3's and s3rver's do
        token = base64.b64encode(b"\xfb\xef\xbe" + str(nxt if bucket != "evil-loop" else 0).encode()).decode()
        body = [f'<?xml version="1.0" encoding="UTF-8"?>{extra}'
                '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
                f"<Name>{bucket}</Name><Prefix>{escape(prefix)}</Prefix><KeyCount>{len(page)}</KeyCount>"
                f"<MaxKeys>{n}</MaxKeys><IsTruncated>{'true' if truncated else 'false'}</IsTruncated>"]
        if truncated:
            body.append(f"<NextContinuationToken>{token}</NextContinuationToken>")
        for k in page:
            data = objs.get(k, b"")
            body.append(f"<Contents><Key>{escape(k)}</Key><ETag>&quot;{hashlib.md5(data).hexdigest()}&quot;</ETag>"
                        f"<Size>{len(data)}</Size><StorageClass>STANDARD</StorageClass></Contents>")
        body.append("</ListBucketResult>")
        self.send(200, "".join(body).encode(), [("Content-Type", "application/xml")])

    def read(self, bucket, key, data):
        etag = '"' + hashlib.md5(data + (b"!" if bucket == "evil-etag" else b"")).hexdigest() + '"'
        rng = self.headers.get("Range")
        if self.command == "HEAD":
            return self.head(data, etag)
        if not rng:
            return self.send(200, data, [("ETag", etag)])
        if self.headers.get("If-Match", etag) != etag:
            return self.s3_error(412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold")
        a, b = (int(x) for x in rng[len("bytes="):].split("-"))
        auth = self.headers.get("Authorization")
        if auth and "range" not in auth.split("SignedHeaders=")[1].split(",")[0].split(";"):
            return self.s3_error(400, "InvalidRequest", "the stand-in wants the Range header signed")
        if bucket == "evil-whole":
            return self.send(200, data, [("ETag", etag)])
        shift = 1 if bucket == "evil-range" else 0
        total = len(data) + (1 if bucket == "evil-size" else 0)
        self.send(206, data[a + shift:b + 1 + shift],
                  [("ETag", etag), ("Content-Range", f"bytes {a + shift}-{b + shift}/{total}")])

    def head(self, data, etag):
        self.send_response(200)
        self.send_header("ETag", etag)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()


def standin_suite(probe):
    port = free_port()
    model = {"m/config.json": b'{"a": 1}', "m/w e+i=g/h~ts.bin": os.urandom(5000), "m/\u00e9.bin": b"x" * 77}
    more = {f"m/p/{i:03d}.bin": bytes([i]) * 3 for i in range(25)}
    names = ["strict", "evil-dotdot", "evil-outside", "evil-doctype", "evil-loop", "evil-range", "evil-whole",
             "evil-size", "evil-etag", "evil-500", "evil-denied", "evil-slow", "evil-ghost"]
    objects = {b: dict(model) for b in names}
    objects["strict"].update(more)
    srv = Standin(port, objects, {"AKIDSTANDIN": ("se/cr+et=", "eu-west-3")})
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    ep = f"http://127.0.0.1:{port}"
    env = probe.env(ep, key="AKIDSTANDIN", secret="se/cr+et=", extra={"AWS_REGION": "eu-west-3",
                                                                       "AWS_SESSION_TOKEN": "tok/+=en"})
    try:
        r = probe.run(["--page-keys", "4", "list", "s3://strict/m/"], env)
        want = {k[2:] for k in list(model) + list(more)}
        result(r["rc"] == 0 and set(r["objs"]) == want and not srv.bad_signatures,
               "signature: botocore agrees with every signed listing page (tokens with + / =, session token)",
               brief(r) + f" {srv.bad_signatures[:2]}")
        pages = [p for m, p, a in srv.log if "list-type=2" in p]
        result(len(pages) == 7 and all(a for _, _, a in srv.log), "signature: 7 pages of 4, every request signed",
               f"{len(pages)} pages")
        o, o2 = os.path.join(probe.home, "strict.bin"), os.path.join(probe.home, "strict2.bin")
        k = "w e+i=g/h~ts.bin"
        r = probe.run(["read", "s3://strict/m/", k, "10", "4000", o, "\u00e9.bin", "0", "77", o2], env)
        data = model["m/" + k]
        result(r["rc"] == 0 and open(o, "rb").read()[10:4010] == data[10:4010] and
               open(o2, "rb").read() == model["m/\u00e9.bin"] and not srv.bad_signatures,
               "signature: botocore agrees with ranged reads of keys that need encoding (Range signed)",
               brief(r) + f" {srv.bad_signatures[:2]}")
        r = probe.run(["list", "s3://strict/m/config.json"], env)
        result(r["rc"] == 0 and r["objs"].get("config.json", (0,))[0] == 8 and not srv.bad_signatures,
               "signature: botocore agrees with a signed HEAD", brief(r))
        srv.log.clear()
        r = probe.run(["list", "s3://strict/m/"], probe.env(ep, key=None))
        result(r["rc"] == 0 and srv.log and not any(a for _, _, a in srv.log),
               "anonymous: no credentials, no Authorization header", brief(r))
        r = probe.run(["list", "s3://strict/m/"], probe.env(ep, key="AKIDSTANDIN", secret="wrong",
                                                             extra={"AWS_REGION": "eu-west-3"}))
        result(r["rc"] == SRC_EDENIED and "SignatureDoesNotMatch" in r.get("err", ""),
               "signature: a wrong secret is refused by a verifying server", brief(r))
        srv.bad_signatures.clear()

        o = os.path.join(probe.home, "evil.bin")
        cases = [
            (["list", "s3://evil-dotdot/m/"], SRC_EUPSTREAM, "not a safe relative path", "a key with .. in it"),
            (["list", "s3://evil-outside/m/"], SRC_EUPSTREAM, "outside the prefix", "a key outside the prefix"),
            (["list", "s3://evil-doctype/m/"], SRC_EUPSTREAM, "DOCTYPE", "a listing with a DOCTYPE"),
            (["list", "s3://evil-loop/m/"], SRC_EUPSTREAM, "NextContinuationToken", "a pagination loop"),
            (["read", "s3://evil-range/m/", "config.json", "1", "5", o], SRC_EUPSTREAM, "range", "a shifted range"),
            (["read", "s3://evil-whole/m/", "config.json", "1", "5", o], SRC_EUPSTREAM, "", "the whole object"),
            (["read", "s3://evil-size/m/", "config.json", "1", "5", o], SRC_EUPSTREAM, "changed",
             "a new size (the bytes may land; the read fails)"),
            (["read", "s3://evil-etag/m/", "config.json", "1", "5", o], SRC_EUPSTREAM, "changed",
             "a replaced object (If-Match: 412)"),
            (["read", "s3://evil-ghost/m/", "ghost.bin", "0", "5", o], SRC_ENOTFOUND, "NoSuchKey",
             "an object deleted after the listing"),
            (["list", "s3://evil-500/m/"], SRC_EUPSTREAM, "InternalError", "a 500 with its S3 error code"),
            (["list", "s3://evil-denied/m/"], SRC_EDENIED, "AccessDenied", "a 403"),
            (["--timeout", "1", "list", "s3://evil-slow/m/"], SRC_EUPSTREAM, "", "a server slower than the timeout"),
        ]
        for args, rc, words, why in cases:
            if os.path.exists(o):
                os.unlink(o)
            r = probe.run(args, env)
            wrote = os.path.exists(o) and any(open(o, "rb").read()) and "evil-size" not in " ".join(args)
            result(r["rc"] == rc and words in r.get("err", "") and not wrote and r["secs"] < 10,
                   f"hostile: {why} is an error", brief(r))
    finally:
        srv.shutdown()
        srv.server_close()


# ------------------------------------------------------------ the command ----

def pickle_posix_system():
    """Protocol 2 opcodes for posix.system('id'): written as bytes, never loaded."""
    return b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def safetensors_file():
    header = json.dumps({"w": {"dtype": "F32", "shape": [2, 2], "data_offsets": [0, 16]}}).encode()
    header += b" " * (-len(header) % 8)
    return struct.pack("<Q", len(header)) + header + struct.pack("<4f", 1, 2, 3, 4)


def cli_suite(probe, port, s3):
    help_text = subprocess.run([MODELGATE, "scan", "--help"], capture_output=True, text=True).stdout
    if "s3://" not in help_text:
        print("skip cli: `modelgate scan --help` does not mention s3:// yet")
        return
    env = probe.env(f"http://127.0.0.1:{port}")
    s3.put_object(Bucket="models", Key="scenario/tiny/model.safetensors", Body=safetensors_file())
    s3.put_object(Bucket="models", Key="scenario/tiny/config.json", Body=b'{"model_type": "tiny"}')

    def scan():
        r = subprocess.run([MODELGATE, "scan", "--format", "json", "s3://models/scenario/tiny/"], capture_output=True,
                           text=True, env=env, timeout=120)
        try:
            rep = json.loads(r.stdout)
        except ValueError:
            rep = {}
        return r.returncode, rep, r.stderr[-800:]

    rc, rep, err = scan()
    result(rc == 0 and rep.get("eval_outcome") == "ALLOWED" and rep.get("model_uri") == "s3://models/scenario/tiny/",
           "cli: a clean model in S3 is ALLOWED", f"exit {rc} {rep.get('eval_outcome')} {err}")
    s3.put_object(Bucket="models", Key="scenario/tiny/extra_data.pkl", Body=pickle_posix_system())
    rc, rep, err = scan()
    named = any(i.get("file", "").endswith("extra_data.pkl")
                for v in rep.get("policy_violations") or [] for i in v.get("issues_by_file", []))
    result(rc == 1 and rep.get("eval_outcome") == "BLOCKED" and named,
           "cli: the same model plus extra_data.pkl (posix.system) is BLOCKED naming the file",
           f"exit {rc} {rep.get('eval_outcome')} {json.dumps(rep.get('policy_violations'))[:400]} {err}")
    s3.delete_object(Bucket="models", Key="scenario/tiny/extra_data.pkl")
    rc, rep, err = scan()
    result(rc == 0 and rep.get("eval_outcome") == "ALLOWED", "cli: ALLOWED again once the file is deleted",
           f"exit {rc} {rep.get('eval_outcome')} {err}")
    r = subprocess.run([MODELGATE, "scan", "--format", "json", "s3://models/scenario/none/"], capture_output=True,
                       text=True, env=env, timeout=60)
    result(r.returncode == 2 and "ALLOWED" not in r.stdout,
           "cli: a prefix with no objects is an error (exit 2), never ALLOWED", f"exit {r.returncode} {r.stdout[:300]}")


def service_suite(probe, port, s3, proc):
    """The issue's scenario through `modelgate serve`, then the S3 server gone: ERROR, never ALLOWED."""
    env = probe.env(f"http://127.0.0.1:{port}")
    home = tempfile.mkdtemp(prefix="mg-s3svc-")
    sport = free_port()
    log = open(os.path.join(home, "serve.log"), "w+")
    svc = subprocess.Popen([MODELGATE, "serve", "--listen", f"127.0.0.1:{sport}", "--data", os.path.join(home, "var"),
                            "--root", home], env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if not wait_port(sport, svc):
            log.seek(0)
            result(False, "service: starts", log.read()[-1500:])
            return
        log.seek(0)
        token = re.search(r"mg_[0-9a-f]{64}", log.read())
        headers = {"Authorization": f"Bearer {token.group(0) if token else ''}", "Content-Type": "application/json"}

        def scan(uri):
            req = urllib.request.Request(f"http://127.0.0.1:{sport}/api/v1/scans?wait=true", method="POST",
                                         data=json.dumps({"model_uri": uri}).encode(), headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=120) as r:
                    return r.status, json.loads(r.read())
            except urllib.error.HTTPError as e:
                return e.code, {}

        s3.put_object(Bucket="models", Key="svc/tiny/model.safetensors", Body=safetensors_file())
        st, rep = scan("s3://models/svc/tiny/")
        result(st == 200 and rep.get("eval_outcome") == "ALLOWED", "service: a clean S3 model is ALLOWED",
               f"{st} {rep.get('eval_outcome')}")
        s3.put_object(Bucket="models", Key="svc/tiny/extra_data.pkl", Body=pickle_posix_system())
        st, rep = scan("s3://models/svc/tiny/")
        named = any(i.get("file", "").endswith("extra_data.pkl")
                    for v in rep.get("policy_violations") or [] for i in v.get("issues_by_file", []))
        result(st == 200 and rep.get("eval_outcome") == "BLOCKED" and named,
               "service: plus extra_data.pkl (posix.system) it is BLOCKED naming the file", f"{st} {rep.get('eval_outcome')}")
        s3.delete_object(Bucket="models", Key="svc/tiny/extra_data.pkl")
        st, rep = scan("s3://models/svc/tiny/")
        result(st == 200 and rep.get("eval_outcome") == "ALLOWED", "service: ALLOWED again once the file is deleted",
               f"{st} {rep.get('eval_outcome')}")
        st, rep = scan("https://evil.example/ns/name")
        result(st == 400, "service: an https URI on a host that is not the configured hub is refused (SSRF)", f"{st}")
        os.killpg(proc.pid, signal.SIGKILL)  # the S3 server is gone
        proc.wait()
        st, rep = scan("s3://models/svc/tiny/")
        result(st == 200 and rep.get("eval_outcome") == "ERROR" and rep.get("files", [{}])[0].get("status") == "ERROR",
               "service: S3 unreachable gives an ERROR report, never ALLOWED", f"{st} {rep.get('eval_outcome')}")
    finally:
        svc.terminate()
        try:
            svc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            svc.kill()
            svc.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


def main():
    if not os.path.exists(PROBE):
        result(False, "setup", f"{PROBE} is missing (make build/test/s3_probe)")
        return
    if not install_s3rver():
        result(False, "setup", "npm install %s failed" % S3RVER_SPEC)
        return
    home = tempfile.mkdtemp(prefix="mg-s3test-")
    data = os.path.join(home, "s3data")
    port = free_port()
    log = open(os.path.join(home, "s3rver.log"), "w+")
    proc = subprocess.Popen(["node", "--openssl-legacy-provider", S3RVER, "-d", data, "-a", "127.0.0.1", "-p",
                             str(port), "--silent", "--configure-bucket", "models"], cwd=NODE_DIR,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if not wait_port(port, proc):
            log.seek(0)
            result(False, "setup", "s3rver did not start: " + log.read()[-2000:])
            return
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", aws_access_key_id="S3RVER",
                          aws_secret_access_key="S3RVER", region_name="us-east-1",
                          config=botocore.config.Config(s3={"addressing_style": "path"}))
        probe = Probe(home)
        s3rver_suite(probe, port, s3)
        standin_suite(probe)
        cli_suite(probe, port, s3)
        service_suite(probe, port, s3, proc)  # last: it stops the S3 server
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    t0 = time.time()
    main()
    print(f"({time.time() - t0:.1f}s)")
    print(f"{passed} passed, {failed} failed")
    sys.exit(1 if failed else 0)
