#!/usr/bin/python3
"""noise_test.py BINARY - benign data that is no model format must raise no
finding: random bytes, raw float16/float32/int8 arrays of every size (what
PyTorch storages and raw weight dumps look like), zeros, and the plain texts
of Debian's common licenses. Weak format probes that claim noise are the
false positives a benign corpus exposes. Prints "N passed, N failed".
"""
import collections
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile

import numpy as np

BIN = os.path.abspath(sys.argv[1])


def main():
    tmp = tempfile.mkdtemp(prefix="mg-noise-")
    passed = failed = 0
    try:
        r = random.Random(7)
        rs = np.random.RandomState(7)
        for i in range(3000):
            n = r.choice([16, 64, 300, 4096, 20000, 70000])
            kind = i % 5
            if kind == 0:
                b = bytes(r.getrandbits(8) for _ in range(min(n, 4096))) + os.urandom(max(0, n - 4096))
            elif kind == 1:
                b = rs.randn(n // 4).astype(np.float32).tobytes()
            elif kind == 2:
                b = (rs.randn(n // 2) * 0.02).astype(np.float16).tobytes()
            elif kind == 3:
                b = rs.randint(-128, 127, n).astype(np.int8).tobytes()
            else:
                b = bytes(n)
            with open(os.path.join(tmp, "noise%04d.bin" % i), "wb") as f:
                f.write(b)
        lic = "/usr/share/common-licenses"
        if os.path.isdir(lic):
            shutil.copytree(lic, os.path.join(tmp, "licenses"), symlinks=False)
        p = subprocess.run([BIN, "scan", "--format", "json", "--no-hash", tmp], capture_output=True, timeout=300)
        rep = json.loads(p.stdout)
        found = [(f["path"], f["format"], x["threat"], x["message"][:80]) for f in rep["files"] for x in f["findings"]]
        formats = collections.Counter(f["format"] for f in rep["files"] if f["path"].startswith("noise"))
        ok = not found
        print(("ok" if ok else "FAIL"), "no finding on %d files of noise and plain text" % len(rep["files"]))
        for x in found[:20]:
            print("    ", x)
        passed, failed = passed + ok, failed + (not ok)
        claimed = {k: v for k, v in formats.items() if k != "unknown"}
        ok = not claimed
        print(("ok" if ok else "FAIL"), "noise is claimed by no format", claimed if claimed else "")
        passed, failed = passed + ok, failed + (not ok)
        shutil.rmtree(os.path.join(tmp, "licenses"), ignore_errors=True)  # licenses are judged by policy
        p = subprocess.run([BIN, "scan", "--format", "json", "--no-hash", tmp], capture_output=True, timeout=300)
        rep = json.loads(p.stdout)
        ok = p.returncode == 0 and rep["eval_outcome"] == "ALLOWED"
        print(("ok" if ok else "FAIL"), "the noise folder is ALLOWED (exit %d)" % p.returncode,
              "" if ok else rep["policy_violations"])
        passed, failed = passed + ok, failed + (not ok)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
