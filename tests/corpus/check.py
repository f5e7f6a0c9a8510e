#!/usr/bin/python3
"""check.py BINARY - runs the real scanner on every committed fixture and
compares with the expected verdicts in tests/corpus/*/expected.tsv.

Manifest lines: path<TAB>OUTCOME<TAB>THREATS<TAB>what it tests. ALLOWED with
THREATS `-` means no finding at all; otherwise every listed threat id must
be reported. Exit codes must match the outcome (0 allowed, 1 blocked).
Prints `ok`/`FAIL` per fixture and a closing "N passed, N failed" line.
"""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SEV = {"LOW": 1, "MEDIUM": 2, "HIGH": 3, "CRITICAL": 4}


def check(binary, path, outcome, threats):
    proc = subprocess.run([binary, "scan", "--format", "json", path], capture_output=True, timeout=300)
    if proc.returncode not in (0, 1, 2):
        return "exit %d (crash?): %s" % (proc.returncode, proc.stderr.decode(errors="replace")[-400:])
    try:
        rep = json.loads(proc.stdout)
    except ValueError as e:
        return "bad JSON: %s" % e
    want_rc = {"ALLOWED": 0, "BLOCKED": 1, "ERROR": 2}[outcome]
    found = [f for file in rep["files"] for f in file["findings"]]
    ids = {f["threat"] for f in found}
    if rep["eval_outcome"] != outcome or proc.returncode != want_rc:
        return "outcome %s (exit %d), want %s; findings: %s" % (
            rep["eval_outcome"], proc.returncode, outcome,
            "; ".join("%s %s" % (f["threat"], f["message"][:90]) for f in found) or "none")
    if threats == ["-"]:
        if found:
            return "expected no finding, got: %s" % "; ".join(
                "%s %s" % (f["threat"], f["message"][:90]) for f in found)
        return None
    missing = [t for t in threats if t not in ids]
    if missing:
        return "missing %s; got %s" % (",".join(missing), ",".join(sorted(ids)) or "none")
    for f in found:
        if not isinstance(f["offset"], int) or f["offset"] < 0:
            return "bad offset in %s" % f
    return None


def main():
    binary = sys.argv[1]
    only = sys.argv[2] if len(sys.argv) > 2 else None
    passed = failed = 0
    for sub in sorted(os.listdir(HERE)):
        manifest = os.path.join(HERE, sub, "expected.tsv")
        if not os.path.isfile(manifest):
            continue
        for line in open(manifest, encoding="utf-8"):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cols = line.split("\t")
            rel, outcome, threats = cols[0], cols[1], cols[2].split(",")
            if only and only not in "%s/%s" % (sub, rel):
                continue
            err = check(binary, os.path.join(HERE, sub, rel), outcome, threats)
            name = "%s/%s" % (sub, rel)
            if err:
                failed += 1
                print("FAIL %s: %s" % (name, err))
            else:
                passed += 1
                print("ok %s" % name)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
