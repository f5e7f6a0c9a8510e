"""fixturelib.py - what the fixture generators share: writing a fixture and
its manifest line, the run/manifest boilerplate of every generator, and a
protobuf wire-format writer (ONNX, TensorFlow). Standard library only.
"""
import os
import sys

_out = None
_manifest = []


def emit(rel, data, outcome, threats, what):
    """Writes one fixture and records its expected verdict."""
    path = os.path.join(_out, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    _manifest.append((rel, outcome, threats, what))


def run(usage, header, *builders):
    """`SCRIPT OUTDIR`: runs the builders, then writes OUTDIR/expected.tsv."""
    global _out
    if len(sys.argv) != 2:
        sys.exit(usage)
    _out = sys.argv[1]
    os.makedirs(_out, exist_ok=True)
    for build in builders:
        build()
    with open(os.path.join(_out, "expected.tsv"), "w", encoding="utf-8") as f:
        f.write("# %s; do not edit\n" % header)
        for rel, outcome, threats, what in sorted(_manifest):
            f.write("%s\t%s\t%s\t%s\n" % (rel, outcome, threats, what))


# ---- protobuf wire format (writer only) ----

def varint(v):
    out = bytearray()
    while True:
        b = v & 0x7F
        v >>= 7
        if v:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def key(num, wire):
    return varint(num << 3 | wire)


def f_varint(num, v):
    return key(num, 0) + varint(v)


def f_bytes(num, b):
    if isinstance(b, str):
        b = b.encode()
    return key(num, 2) + varint(len(b)) + b
