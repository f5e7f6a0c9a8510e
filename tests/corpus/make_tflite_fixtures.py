#!/usr/bin/python3
"""Generate modelgate's TensorFlow Lite test corpus.

Usage:  /usr/bin/python3 tests/corpus/make_tflite_fixtures.py OUTDIR

Writes OUTDIR/benign/, OUTDIR/malicious/, OUTDIR/malformed/ and the manifest
OUTDIR/expected.tsv (relpath, ALLOWED|BLOCKED, threat ids or -, what it tests).

TFLite models are FlatBuffers (tensorflow/lite/schema/schema.fbs). Neither
TensorFlow nor its converter is packaged by Debian, so models are written by
the small FlatBuffer writer below, following the encoding
(https://flatbuffers.dev/internals/): a table is preceded by its vtable and
starts with the soffset back to it; reference fields hold an offset forward
to their target; vectors are a u32 count and their elements. The models are
shaped like converter output: buffer 0 empty, a min_runtime_version metadata
entry, builtin options tables. Nothing is ever loaded. Output is
deterministic.
"""

import struct

from fixturelib import emit, run


# ---- FlatBuffer writer (front to back: a referrer precedes its targets) ----
# Objects: Table({slot: value}), Vec(kind, items), Str(bytes); scalar values
# are (fmt, value) with a struct format ("<B", "<b", "<i", "<I", "<Q").

class Table:
    def __init__(self, fields):
        self.fields = fields


class Vec:
    def __init__(self, fmt, items):
        self.fmt, self.items = fmt, items  # fmt: struct format, or "table"


class Str:
    def __init__(self, s):
        self.s = s.encode() if isinstance(s, str) else s


class Writer:
    def __init__(self):
        self.buf = bytearray(b"\0\0\0\0TFL3")

    def pad(self, n):
        while len(self.buf) % n:
            self.buf.append(0)

    def u32_at(self, pos, v):
        self.buf[pos:pos + 4] = struct.pack("<I", v & 0xFFFFFFFF)

    def place(self, obj):
        if isinstance(obj, Str):
            self.pad(4)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(obj.s)) + obj.s + b"\0"
            return pos
        if isinstance(obj, Vec):
            self.pad(8)
            pos = len(self.buf)
            self.buf += struct.pack("<I", len(obj.items))
            if obj.fmt != "table":
                for it in obj.items:
                    self.buf += struct.pack(obj.fmt, it)
                return pos
            slots = []
            for _ in obj.items:
                slots.append(len(self.buf))
                self.buf += b"\0\0\0\0"
            for slot, it in zip(slots, obj.items):
                self.u32_at(slot, self.place(it) - slot)
            return pos
        return self.table(obj)

    def table(self, t):
        nslots = max(t.fields) + 1 if t.fields else 0
        # inline layout: soffset, then fields in slot order, each aligned
        layout, off = {}, 4
        for slot in sorted(t.fields):
            v = t.fields[slot]
            size = struct.calcsize(v[0]) if isinstance(v, tuple) else 4
            off = (off + size - 1) // size * size
            layout[slot] = (off, size)
            off += size
        objlen = (off + 3) // 4 * 4
        vt = struct.pack("<HH", 4 + 2 * nslots, objlen) + b"".join(
            struct.pack("<H", layout[s][0] if s in layout else 0) for s in range(nslots))
        self.pad(2)
        vtpos = len(self.buf)
        self.buf += vt
        self.pad(8)
        pos = len(self.buf)
        self.buf += struct.pack("<i", pos - vtpos) + b"\0" * (objlen - 4)
        refs = []
        for slot, (o, size) in layout.items():
            v = t.fields[slot]
            if isinstance(v, tuple):
                self.buf[pos + o:pos + o + size] = struct.pack(v[0], v[1])
            else:
                refs.append((pos + o, v))
        for at, child in refs:
            self.u32_at(at, self.place(child) - at)
        return pos


def build(model):
    w = Writer()
    root = w.table(model)
    w.u32_at(0, root)
    return bytes(w.buf)


# ---- TFLite ----
ADD, FULLY_CONNECTED, CUSTOM, GELU = 0, 9, 32, 150
FLOAT32 = 0
OPT_FULLY_CONNECTED, OPT_ADD = 8, 11


def opcode(builtin, custom=None, version=1):
    f = {0: ("<b", min(builtin, 127)), 2: ("<i", version), 3: ("<i", builtin)}
    if custom is not None:
        f[1] = Str(custom)
    return Table(f)


def tensor(name, shape, buf):
    return Table({0: Vec("<i", shape), 1: ("<B", FLOAT32), 2: ("<I", buf), 3: Str(name)})


def operator(idx, inputs, outputs, opt_type=0, opt=None, extra=None):
    f = {0: ("<I", idx), 1: Vec("<i", inputs), 2: Vec("<i", outputs)}
    if opt_type:
        f[3] = ("<B", opt_type)
        f[4] = opt
    f.update(extra or {})
    return Table(f)


def buffer(data=b""):
    return Table({0: Vec("<B", list(data))} if data else {})


def model(codes, tensors, ops, buffers, inputs=(0,), outputs=None, version=3, extra=None):
    sub = Table({0: Vec("table", tensors), 1: Vec("<i", list(inputs)),
                 2: Vec("<i", list(outputs if outputs is not None else [len(tensors) - 1])),
                 3: Vec("table", ops), 4: Str("main")})
    meta = Table({0: Str("min_runtime_version"), 1: ("<I", len(buffers))})
    f = {0: ("<I", version), 1: Vec("table", codes), 2: Vec("table", [sub]), 3: Str("MLIR Converted."),
         4: Vec("table", buffers + [buffer(b"1.5.0\0\0\0\0\0\0\0\0\0\0\0")]), 6: Vec("table", [meta])}
    f.update(extra or {})
    return Table(f)


def weights(n, seed):
    return struct.pack("<%df" % n, *[((i * 31 + seed) % 13) / 13.0 for i in range(n)])


def add_model(codes=None, op_extra=None, idx=0, inputs=(0, 1), **kw):
    tensors = [tensor("x", [1, 4], 1), tensor("c", [1, 4], 2), tensor("y", [1, 4], 3)]
    ops = [operator(idx, list(inputs), [2], OPT_ADD, Table({0: ("<b", 0)}), op_extra)]
    bufs = [buffer(), buffer(), buffer(weights(4, 1)), buffer()]
    return model(codes or [opcode(ADD)], tensors, ops, bufs, **kw)


def fc_model():
    tensors = [tensor("x", [1, 8], 1), tensor("w", [4, 8], 2), tensor("b", [4], 3), tensor("h", [1, 4], 4),
               tensor("y", [1, 4], 5)]
    ops = [operator(0, [0, 1, 2], [3], OPT_FULLY_CONNECTED, Table({0: ("<b", 1)})),
           operator(1, [3], [4])]
    bufs = [buffer(), buffer(), buffer(weights(32, 2)), buffer(weights(4, 3)), buffer(), buffer()]
    return model([opcode(FULLY_CONNECTED, version=9), opcode(GELU)], tensors, ops, bufs)


def custom_model(name, deprecated_only=False):
    code = Table({0: ("<b", CUSTOM), 1: Str(name)}) if deprecated_only else opcode(CUSTOM, name)
    tensors = [tensor("x", [1, 4], 1), tensor("y", [1, 4], 2)]
    ops = [operator(0, [0], [1], extra={5: Vec("<B", [0x6b, 0x01, 0x01])})]
    return model([code], tensors, ops, [buffer(), buffer(), buffer()])


def benign():
    emit("benign/tflite_add.tflite", build(add_model()), "ALLOWED", "-",
         "ADD of an input and a constant, AddOptions, buffer 0 empty, min_runtime_version metadata")
    emit("benign/tflite_fully_connected.tflite", build(fc_model()), "ALLOWED", "-",
         "FULLY_CONNECTED (version 9) then GELU (code 150: deprecated_builtin_code holds the 127 placeholder)")
    emit("benign/tflite_optional_input.tflite", build(add_model(inputs=(0, -1))), "ALLOWED", "-",
         "an operator input of -1 (optional tensor)")


def malicious():
    emit("malicious/tflite_custom_op.tflite", build(custom_model("MyEvilOp")), "BLOCKED", "MG-TFLITE-300",
         "custom operator MyEvilOp (native code registered by the application)")
    emit("malicious/tflite_flex_readfile.tflite", build(custom_model("FlexReadFile")), "BLOCKED", "MG-TFLITE-300",
         "Flex op FlexReadFile (TensorFlow ReadFile through the Select TF ops delegate)")
    emit("malicious/tflite_custom_deprecated_code.tflite", build(custom_model("OldCustom", True)), "BLOCKED",
         "MG-TFLITE-300", "CUSTOM given only in deprecated_builtin_code (older writers)")


def patch_u32(data, pos, v):
    return data[:pos] + struct.pack("<I", v) + data[pos + 4:]


def malformed():
    good = build(add_model())
    emit("malformed/tflite_truncated.tflite", good[: len(good) // 2], "BLOCKED", "MG-TFLITE-400",
         "model cut in half: references point past the end")
    emit("malformed/tflite_root_past_end.tflite", patch_u32(good, 0, len(good) + 64), "BLOCKED", "MG-TFLITE-400",
         "root table offset beyond the file")
    emit("malformed/tflite_opcode_index.tflite", build(add_model(idx=5)), "BLOCKED", "MG-TFLITE-400",
         "operator opcode_index 5 with one operator code")
    emit("malformed/tflite_tensor_index.tflite", build(add_model(inputs=(0, 7))), "BLOCKED", "MG-TFLITE-400",
         "operator input names tensor 7 of 3")
    tensors = [tensor("x", [1, 4], 1), tensor("y", [1, 4], 99)]
    emit("malformed/tflite_buffer_index.tflite",
         build(model([opcode(ADD)], tensors, [operator(0, [0, 0], [1])], [buffer(), buffer()])), "BLOCKED",
         "MG-TFLITE-400", "tensor uses buffer 99 of 3")
    emit("malformed/tflite_large_custom_options.tflite",
         build(add_model(op_extra={9: ("<Q", 1 << 40), 10: ("<Q", 16)})), "BLOCKED", "MG-TFLITE-400",
         "large_custom_options_offset past the end of the file")
    tensors = [tensor("x", [1, 4], 1), tensor("y", [1, 4], 2)]
    bufs = [buffer(), Table({1: ("<Q", 1 << 33), 2: ("<Q", 4096)}), buffer()]
    emit("malformed/tflite_buffer_offset.tflite",
         build(model([opcode(ADD)], tensors, [operator(0, [0, 0], [1])], bufs)), "BLOCKED", "MG-TFLITE-400",
         "external buffer (offset/size) beyond the file")
    nameless = model([Table({3: ("<i", CUSTOM)})], [tensor("x", [1], 1), tensor("y", [1], 1)],
                     [operator(0, [0], [1])], [buffer(), buffer()])
    emit("malformed/tflite_custom_no_name.tflite", build(nameless), "BLOCKED", "MG-TFLITE-400",
         "CUSTOM operator code without custom_code")
    emit("malformed/tflite_schema_version.tflite", build(add_model(version=2)), "BLOCKED", "MG-TFLITE-400",
         "schema version 2 (the interpreter requires 3)")
    # the operator_codes vector: make its count huge
    data = bytearray(good)
    root = struct.unpack_from("<I", data, 0)[0]
    vt = root - struct.unpack_from("<i", data, root)[0]
    fo = struct.unpack_from("<H", data, vt + 4 + 2 * 1)[0]
    codes = root + fo + struct.unpack_from("<I", data, root + fo)[0]
    struct.pack_into("<I", data, codes, 0x10000000)
    emit("malformed/tflite_vector_count.tflite", bytes(data), "BLOCKED", "MG-TFLITE-400",
         "operator_codes vector declares 268435456 elements")
    data = bytearray(good)
    struct.pack_into("<i", data, root, -0x100000)
    emit("malformed/tflite_vtable_offset.tflite", bytes(data), "BLOCKED", "MG-TFLITE-400",
         "root table's soffset points its vtable outside the file")


def main():
    run(__doc__, "generated by tests/corpus/make_tflite_fixtures.py", benign, malicious, malformed)


if __name__ == "__main__":
    main()
