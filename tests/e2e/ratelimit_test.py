#!/usr/bin/python3
"""ratelimit_test.py BINARY - back-pressure of the scanner service, end to end
with the real binary and real processes on 127.0.0.1:

- per-token rate limits (--rate-limit/--rate-burst, MODELGATE_RATE_LIMIT,
  the config file's rate_limit): a burst of requests with one token gets 429
  with Retry-After after the burst, another token is not affected, requests
  without a token (/healthz) and with a bad token (401) are not limited, the
  token works again after Retry-After, /metrics counts the refusals; the
  default configuration limits nothing;
- /metrics: the age of the oldest scan waiting for a worker
  (modelgate_queue_oldest_seconds), 0 once nothing waits.

Prints ok/FAIL per check and "N passed, N failed".
"""
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from svclib import Checks, Service, free_port, make_big_model, run_suite  # noqa: E402

BIN = os.path.abspath(sys.argv[1])
check = Checks()


def metric(text, name):
    m = re.search(rb"^" + re.escape(name.encode()) + rb" ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else None


def burst(svc, token, n, path="/api/v1/scans"):
    """n requests one after the other: [(status, doc, headers)]."""
    out = []
    for _ in range(n):
        st, doc, _, hdrs = svc.request("GET", path, token=token)
        out.append((st, doc, hdrs))
    return out


def limited(work):
    data = os.path.join(work, "limited")
    svc = Service(BIN, data, args=["--listen", "127.0.0.1:%d" % free_port(), "--data", data, "--root", work,
                                   "--rate-limit", "5", "--rate-burst", "5"])
    try:
        a, b = svc.admin, svc.token(BIN, "reader")
        t0 = time.time()
        got = burst(svc, a, 20)
        elapsed = time.time() - t0
        codes = [st for st, _, _ in got]
        refused = [(doc, hdrs) for st, doc, hdrs in got if st == 429]
        # the bucket holds 5 and refills 5 per second while the burst runs
        most = 5 + int(5 * elapsed) + 1
        check("a burst of 20 with one token: the first 5 pass, then 429s", codes[:5] == [200] * 5 and refused and
              codes.count(200) <= most and all(st in (200, 429) for st in codes), (codes, elapsed))
        check("429: Retry-After 1 (seconds, rounded up) and a 'rate limit: ...' error",
              all(h.get("retry-after") == "1" and (d or {}).get("error", "").startswith("rate limit: ")
                  for d, h in refused), refused[:2])
        got_b = burst(svc, b, 5)
        check("another token is not affected", [st for st, _, _ in got_b] == [200] * 5, got_b)
        anon = [svc.request("GET", "/healthz")[0] for _ in range(20)]
        check("requests without a token (/healthz) are not limited", anon == [200] * 20, anon)
        bad = [svc.request("GET", "/api/v1/scans", token="mg_" + "0" * 64)[0] for _ in range(10)]
        check("a bad token gets 401, never 429", bad == [401] * 10, bad)
        time.sleep(1.0)
        st, _, _, _ = svc.request("GET", "/api/v1/scans", token=a)
        check("after Retry-After the token works again", st == 200, st)
        n429 = len(refused)
        st, _, text, _ = svc.request("GET", "/metrics", token=b)
        check("/metrics counts the refusals", st == 200 and metric(text, "modelgate_rate_limited_total") == n429 and
              b'modelgate_http_requests_total{status="429"} %d\n' % n429 in text, text[-700:])
    finally:
        svc.stop()


def unlimited(work):
    data = os.path.join(work, "default")
    svc = Service(BIN, data, roots=[work])
    try:
        codes = [st for st, _, _ in burst(svc, svc.admin, 60)]
        check("the default configuration limits nothing", codes == [200] * 60, codes)
        st, _, text, _ = svc.request("GET", "/metrics", token=svc.admin)
        check("default: modelgate_rate_limited_total 0", metric(text, "modelgate_rate_limited_total") == 0,
              text[-400:])
    finally:
        svc.stop()


def configured(work):
    data = os.path.join(work, "configured")
    env = {"MODELGATE_RATE_LIMIT": "1", "MODELGATE_RATE_BURST": "3"}
    svc = Service(BIN, data, args=["--listen", "127.0.0.1:%d" % free_port(), "--data", data, "--root", work],
                  env=env)
    try:
        codes = [st for st, _, _ in burst(svc, svc.admin, 4)]
        check("MODELGATE_RATE_LIMIT/_BURST: 3 pass, then 429", codes == [200, 200, 200, 429], codes)
    finally:
        svc.stop()
    cfg = os.path.join(work, "rl.yaml")
    with open(cfg, "w") as f:
        f.write("rate_limit: 1\n")
    data = os.path.join(work, "configured-file")
    svc = Service(BIN, data, args=["--config", cfg, "--listen", "127.0.0.1:%d" % free_port(), "--data", data,
                                   "--root", work])
    try:
        got = burst(svc, svc.admin, 3)
        check("config file rate_limit 1 (burst defaults to the rate): the 2nd request is 429",
              [st for st, _, _ in got][:2] == [200, 429] and got[1][2].get("retry-after") == "1", got)
    finally:
        svc.stop()
    data = os.path.join(work, "bad")
    svc = Service(BIN, data, args=["--listen", "127.0.0.1:%d" % free_port(), "--data", data, "--rate-limit", "x"],
                  expect_start=False)
    svc.proc.wait(timeout=30)
    err = svc.stderr()
    check("--rate-limit x is refused, naming the flag", svc.proc.returncode == 2 and "--rate-limit" in err, err)


def oldest(work):
    big = make_big_model(os.path.join(work, "big"), 3000)
    data = os.path.join(work, "oldest")
    svc = Service(BIN, data, args=["--listen", "127.0.0.1:%d" % free_port(), "--data", data, "--root", work,
                                   "--workers", "1", "--queue", "8"])
    tok = svc.admin
    try:
        st, _, text, _ = svc.request("GET", "/metrics", token=tok)
        check("nothing waits: modelgate_queue_oldest_seconds 0", metric(text, "modelgate_queue_oldest_seconds") == 0,
              text[-900:])
        uuids = []
        for _ in range(3):
            st, doc, _, _ = svc.request("POST", "/api/v1/scans", {"model_uri": big}, token=tok)
            uuids.append((doc or {}).get("uuid"))
        t0 = time.time()
        time.sleep(0.6)
        st, _, text, _ = svc.request("GET", "/metrics", token=tok)
        age = metric(text, "modelgate_queue_oldest_seconds")
        _, last, _, _ = svc.request("GET", "/api/v1/scans/%s" % uuids[-1], token=tok)
        waited = time.time() - t0
        check("scans wait: the oldest one's age in /metrics", (last or {}).get("state") == "QUEUED" and
              age is not None and 0.5 <= age <= waited + 1.0, (age, waited, last))
        for u in uuids:
            svc.wait_done(u, tok)
        st, _, text, _ = svc.request("GET", "/metrics", token=tok)
        check("all done: modelgate_queue_oldest_seconds 0 again", metric(text, "modelgate_queue_oldest_seconds") == 0,
              text[-900:])
    finally:
        svc.stop()


def steps(work):
    for step in (limited, unlimited, configured, oldest):
        step(work)


sys.exit(run_suite(check, "mg-ratelimit-", "rate limit test", steps))
