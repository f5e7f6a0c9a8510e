#!/usr/bin/python3
"""stage_test.py - remote models are judged from the bytes the verdict needs.

build/test/stage_check stages models through a stand-in source that serves
ranged reads of local files, with nothing fetched up front, and compares the
staged scan's findings with a full read of the same files. This suite runs it
over every corpus fixture (each alone, and each fixture folder as one model)
and over large models written here, where it also bounds what was fetched:
headers and pickle members, not tensor bytes.

Fixtures are written with the standard library only (zipfile, struct,
pickle.dumps of plain data): nothing is ever loaded.
"""
import os
import re
import struct
import subprocess
import sys
import tempfile
import zipfile
import json

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CHECK = os.path.join(ROOT, "build/test/stage_check")
passed = failed = 0


def result(ok, name, why=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name, why)


def run(paths):
    out = subprocess.run([CHECK] + paths, capture_output=True, text=True, timeout=600)
    lines = {}
    for line in out.stdout.splitlines():
        m = re.match(r"^(ok|FAIL) (\S+)(.*)$", line)
        if m:
            lines[m.group(2)] = (m.group(1), m.group(3))
    return lines, out


def fetched(rest):
    m = re.search(r"fetched (\d+) of (\d+) bytes in (\d+) requests", rest)
    return tuple(int(x) for x in m.groups()) if m else None


# ---- the corpus ----
corpus = os.path.join(ROOT, "tests/corpus")
files, folders = [], []
for fmt in sorted(os.listdir(corpus)):
    d = os.path.join(corpus, fmt)
    if not os.path.isdir(d) or fmt.startswith("__"):
        continue
    for kind in sorted(os.listdir(d)):
        k = os.path.join(d, kind)
        if not os.path.isdir(k):
            continue
        for name in sorted(os.listdir(k)):
            p = os.path.join(k, name)
            if os.path.isfile(p) and not os.path.islink(p):
                files.append(p)
            elif os.path.isdir(p) and not any(os.path.islink(os.path.join(a, f))
                                              for a, _, fs in os.walk(p) for f in fs):
                folders.append(p)
lines, out = run(files + folders)
bad = [f"{p}{r}" for p, (s, r) in lines.items() if s != "ok"]
result(len(lines) == len(files) + len(folders) and not bad,
       f"corpus: {len(files)} files and {len(folders)} folders staged agree with full reads",
       "; ".join(bad[:5]) or out.stderr[-2000:])

# ---- large models ----
rand = lambda n: os.urandom(n)
MiB = 1 << 20


def safetensors(path, data_len):
    hdr = json.dumps({"w": {"dtype": "U8", "shape": [data_len], "data_offsets": [0, data_len]},
                      "__metadata__": {"format": "pt"}}).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hdr)) + hdr + rand(data_len))


def malicious_pickle():
    # protocol 2: GLOBAL posix system, a string, TUPLE1, REDUCE, STOP: raw opcodes, never loaded
    return b"\x80\x02cposix\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03."


def torch_zip(path, tensors, extra=None, deflate_extra=False):
    import pickle
    state = {f"layer{i}.weight": i for i in range(len(tensors))}
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps(state, protocol=2))
        z.writestr("archive/byteorder", "little")
        for i, n in enumerate(tensors):
            z.writestr(f"archive/data/{i}", rand(n))
        if extra:
            z.writestr(zipfile.ZipInfo("archive/extra_data.pkl"), extra,
                       compress_type=zipfile.ZIP_DEFLATED if deflate_extra else zipfile.ZIP_STORED)
        z.writestr("archive/version", "3\n")


def gguf(path, ntokens, data_len, template):
    def s(b):
        return struct.pack("<Q", len(b)) + b
    kv = [(b"general.architecture", 8, s(b"llama")),
          (b"tokenizer.chat_template", 8, s(template.encode()))]
    toks = b"".join(s(f"tok{i}".encode()) for i in range(ntokens))
    kv.append((b"tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, ntokens) + toks))
    body = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv))
    for k, t, v in kv:
        body += s(k) + struct.pack("<I", t) + v
    body += s(b"w") + struct.pack("<I", 1) + struct.pack("<Q", data_len) + struct.pack("<IQ", 0, 0)
    body += b"\0" * ((32 - len(body) % 32) % 32)
    with open(path, "wb") as f:
        f.write(body + rand(data_len))


tmp = tempfile.mkdtemp(prefix="stage_test.")
cases = {}  # path -> (max fraction fetched or None, expect a finding?)
p = os.path.join(tmp, "weights.safetensors")
safetensors(p, 16 * MiB)
cases[p] = 0.02
p = os.path.join(tmp, "clean.pt")
torch_zip(p, [4 * MiB] * 4)
cases[p] = 0.10
p = os.path.join(tmp, "tampered.pt")
torch_zip(p, [4 * MiB] * 4, extra=malicious_pickle())
cases[p] = 0.10
p = os.path.join(tmp, "tampered-deflated.pt")
torch_zip(p, [4 * MiB] * 4, extra=malicious_pickle() * 100, deflate_extra=True)
cases[p] = 0.10
p = os.path.join(tmp, "model.gguf")
gguf(p, 200000, 16 * MiB, "{{ ''.__class__.__mro__[1].__subclasses__() }}")
cases[p] = 0.25
p = os.path.join(tmp, "big.pkl")
with open(p, "wb") as f:  # a pickle is only judged whole
    f.write(b"\x80\x04\x95" + struct.pack("<Q", 3 * MiB + 14) + b"\x8e" + struct.pack("<Q", 3 * MiB) + rand(3 * MiB) + b"\x94.")
cases[p] = None
poly = os.path.join(tmp, "polyglot.safetensors")  # a safetensors file that is also a zip at its end
safetensors(poly, 4 * MiB)
with open(poly, "ab") as f, open(os.path.join(tmp, "tampered.pt"), "rb") as z:
    f.write(z.read())
cases[poly] = None
repo = os.path.join(tmp, "repo")
os.makedirs(repo)
safetensors(os.path.join(repo, "model.safetensors"), 8 * MiB)
with open(os.path.join(repo, "config.json"), "w") as f:
    json.dump({"model_type": "llama", "auto_map": {"AutoModel": "modeling.Model"}}, f)
cases[repo] = 0.05

lines, out = run(list(cases))
for path, limit in cases.items():
    status, rest = lines.get(path, ("missing", out.stderr[-500:]))
    name = os.path.relpath(path, tmp)
    if status != "ok":
        result(False, f"{name}: staged scan agrees with a full read", rest)
        continue
    got, total, requests = fetched(rest)
    if limit is None:
        result(got >= total * 0.99 or name.startswith("polyglot"), f"{name}: agrees ({got} of {total} bytes)")
    else:
        result(got <= total * limit, f"{name}: agrees, fetched {got} of {total} bytes in {requests} requests",
               f"more than {limit:.0%}")

# the tampered checkpoint must be caught by the staged scan itself
BIN = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "build/test/modelgate")
rep = subprocess.run([BIN, "scan", "--format", "json",
                      os.path.join(tmp, "tampered.pt")], capture_output=True, text=True)
result(rep.returncode == 1 and "extra_data.pkl" in rep.stdout,
       "tampered checkpoint is BLOCKED by a full scan (and the staged scan agreed above)")
subprocess.run(["rm", "-rf", tmp])
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
