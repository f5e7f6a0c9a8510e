#!/usr/bin/python3
"""make_safetensors_fixtures.py OUTDIR - writes safetensors fixtures and
OUTDIR/expected.tsv.

Debian has no python3-safetensors, so the files come from a small writer
that follows the spec (huggingface/safetensors README, "Format"): an 8-byte
little-endian header length N, N bytes of JSON padded with spaces to a
multiple of 8 (as the reference writer pads), then the data buffer, tensors
laid out in the order the reference writer uses. Malformed files are that
writer's output with one thing broken. Deterministic: no randomness, no
timestamps.
"""
import json
import os
import struct
import sys

BITS = {"BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8, "I16": 16, "U16": 16,
        "F16": 16, "BF16": 16, "I32": 32, "U32": 32, "F32": 32, "C64": 64, "F64": 64, "I64": 64, "U64": 64,
        "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6}


def nbytes(dtype, shape):
    n = 1
    for d in shape:
        n *= d
    return n * BITS[dtype] // 8


def pattern(n, seed):
    return bytes((seed * 31 + i * 7) & 0xFF for i in range(n))


def header_bytes(obj, pad=True, raw=None):
    text = raw if raw is not None else json.dumps(obj, separators=(",", ":")).encode()
    if pad:
        text += b" " * ((8 - len(text) % 8) % 8)
    return text


def write(tensors, metadata=None, pad=True):
    """tensors: list of (name, dtype, shape); returns the file bytes."""
    head = {}
    if metadata is not None:
        head["__metadata__"] = metadata
    data = b""
    for i, (name, dtype, shape) in enumerate(tensors):
        n = nbytes(dtype, shape)
        head[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + n]}
        data += pattern(n, i + 1)
    h = header_bytes(head, pad)
    return struct.pack("<Q", len(h)) + h + data


def raw_file(header, data=b"", n=None):
    """A file with a given header text (bytes) and data; n overrides the length field."""
    return struct.pack("<Q", len(header) if n is None else n) + header + data


def entry(dtype, shape, begin, end):
    return {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}


def main():
    out = sys.argv[1]
    rows = []

    def put(rel, blob, outcome, threats, what):
        path = os.path.join(out, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(blob)
        rows.append("%s\t%s\t%s\t%s" % (rel, outcome, threats, what))

    # ---- benign ----
    put("benign/several_dtypes.safetensors",
        write([("embed.weight", "F32", [4, 8]), ("norm.weight", "F16", [8]), ("lm_head.weight", "BF16", [2, 8]),
               ("position_ids", "I64", [1, 4]), ("mask", "BOOL", [4]), ("codes", "U8", [3]), ("scale", "F64", []),
               ("i16", "I16", [2]), ("u32", "U32", [2]), ("fp8", "F8_E4M3", [4]), ("fp8b", "F8_E5M2", [2]),
               ("cplx", "C64", [1])], {"format": "pt"}),
        "ALLOWED", "-", "a dozen dtypes including a scalar, metadata format=pt")
    put("benign/empty_tensors.safetensors",
        write([("a", "F32", [0]), ("b", "F32", [2, 0, 3]), ("c", "F32", [2])]),
        "ALLOWED", "-", "tensors with a zero dimension take no bytes")
    put("benign/no_tensors.safetensors", write([]), "ALLOWED", "-", "'{}' padded to 8 bytes, no data")
    put("benign/metadata_only.safetensors", write([], {"format": "np", "note": "free text {with} [brackets]"}),
        "ALLOWED", "-", "only __metadata__, no tensors")
    put("benign/subbyte.safetensors", write([("q", "F4", [4]), ("r", "F6_E2M3", [4]), ("s", "F8_E8M0", [2])]),
        "ALLOWED", "-", "sub-byte dtypes whose bit counts fill whole bytes")
    # the reference reader sorts by offsets: header order does not matter
    h = {"z": entry("F32", [2], 0, 8), "a": entry("F32", [1], 8, 12), "__metadata__": {"format": "tf"}}
    put("benign/unordered_header.safetensors", raw_file(header_bytes(h), pattern(12, 3)),
        "ALLOWED", "-", "header keys not in offset order")
    h = {"w": entry("F32", [2], 0, 8)}
    put("benign/unpadded_header.safetensors", raw_file(header_bytes(h, pad=False), pattern(8, 1)),
        "ALLOWED", "-", "header not padded to 8 bytes (older writers)")

    # ---- header length ----
    # a header length that cannot be right makes the file indistinguishable from float16 noise
    # (where '{"' is a common byte pair): unknown format; every reader refuses such a file
    put("malformed/zero_length.safetensors", raw_file(b"", b"{}      ", n=0),
        "ALLOWED", "-", "N == 0: unknown format, refused by readers")
    put("malformed/huge_length.safetensors", raw_file(b'{"a":{}}', b"", n=200_000_000),
        "ALLOWED", "-", "N above the reference reader's 100 MB limit: unknown format, refused by readers")
    put("malformed/length_past_eof.safetensors", raw_file(b'{"w":{"dtype":"F32"', b"", n=4096),
        "ALLOWED", "-", "N larger than the file: unknown format, refused by readers")
    put("malformed/leading_space.safetensors", raw_file(b'  {"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}',
                                                        pattern(4, 1)),
        "BLOCKED", "MG-SFT-400", "header does not begin with '{'")
    # ---- JSON ----
    put("malformed/bad_json.safetensors", raw_file(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}', b""),
        "BLOCKED", "MG-SFT-400", "header JSON cut short")
    put("malformed/bad_utf8.safetensors",
        raw_file(b'{"w\xff":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', pattern(4, 1)),
        "BLOCKED", "MG-SFT-400", "header is not UTF-8")
    put("malformed/nul_padding.safetensors",
        raw_file(b'{"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}\0\0\0\0\0\0', pattern(4, 1)),
        "BLOCKED", "MG-SFT-400", "header padded with NULs (serde_json refuses trailing bytes)")
    # ---- duplicates ----
    dup = (b'{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
           b'"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}')
    put("malicious/duplicate_tensor.safetensors", raw_file(dup, b"\x00\x00\x80\x3f"),
        "BLOCKED", "MG-SFT-401", "one name, two meanings of the same 4 bytes (U8[4] or F32[1])")
    put("malicious/duplicate_field.safetensors",
        raw_file(b'{"w":{"dtype":"F32","dtype":"I32","shape":[1],"data_offsets":[0,4]}}', pattern(4, 1)),
        "BLOCKED", "MG-SFT-401", "a tensor's dtype given twice")
    put("malicious/duplicate_metadata.safetensors",
        raw_file(b'{"__metadata__":{"format":"pt","format":"tf"},"w":{"dtype":"F32","shape":[1],'
                 b'"data_offsets":[0,4]}}', pattern(4, 1)),
        "BLOCKED", "MG-SFT-401", "a metadata key given twice")
    # ---- entries ----
    def one(e, data_len=4, extra=None):
        h = {"w": e}
        if extra:
            h.update(extra)
        return raw_file(header_bytes(h), pattern(data_len, 1))

    put("malformed/unknown_dtype.safetensors", one({"dtype": "F128", "shape": [1], "data_offsets": [0, 4]}),
        "BLOCKED", "MG-SFT-400", "dtype not in the spec")
    put("malformed/missing_dtype.safetensors", one({"shape": [1], "data_offsets": [0, 4]}),
        "BLOCKED", "MG-SFT-400", "no dtype")
    put("malformed/entry_not_object.safetensors", one([0, 4]),
        "BLOCKED", "MG-SFT-400", "a tensor entry that is a list")
    put("malformed/negative_shape.safetensors", one({"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}),
        "BLOCKED", "MG-SFT-400", "negative dimension")
    put("malformed/float_shape.safetensors", one({"dtype": "F32", "shape": [1.0], "data_offsets": [0, 4]}),
        "BLOCKED", "MG-SFT-400", "dimension that is not an integer")
    put("malformed/no_shape.safetensors", one({"dtype": "F32", "data_offsets": [0, 4]}),
        "BLOCKED", "MG-SFT-400", "no shape")
    put("malformed/three_offsets.safetensors", one({"dtype": "F32", "shape": [1], "data_offsets": [0, 4, 8]}),
        "BLOCKED", "MG-SFT-400", "data_offsets with three numbers")
    put("malformed/begin_after_end.safetensors", one({"dtype": "F32", "shape": [1], "data_offsets": [4, 0]}),
        "BLOCKED", "MG-SFT-400", "begin > end")
    put("malformed/size_mismatch.safetensors", one({"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}),
        "BLOCKED", "MG-SFT-400", "range of 4 bytes for 2 F32 elements")
    put("malformed/shape_overflow.safetensors",
        one({"dtype": "F32", "shape": [4294967296, 4294967296, 16], "data_offsets": [0, 4]}),
        "BLOCKED", "MG-SFT-400", "element count overflows 64 bits")
    put("malformed/bits_overflow.safetensors",
        one({"dtype": "F64", "shape": [4611686018427387904], "data_offsets": [0, 4]}),
        "BLOCKED", "MG-SFT-400", "bit count overflows 64 bits")
    put("malformed/subbyte_misaligned.safetensors", one({"dtype": "F4", "shape": [3], "data_offsets": [0, 1]}, 1),
        "BLOCKED", "MG-SFT-400", "3 F4 elements do not fill whole bytes")
    put("malformed/metadata_not_strings.safetensors",
        one({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, 4, {"__metadata__": {"format": "pt", "n": 3}}),
        "BLOCKED", "MG-SFT-400", "__metadata__ with a number value")
    put("malformed/metadata_not_object.safetensors",
        one({"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}, 4, {"__metadata__": "pt"}),
        "BLOCKED", "MG-SFT-400", "__metadata__ that is a string")
    # ---- layout ----
    put("malformed/past_data.safetensors", one({"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, 4),
        "BLOCKED", "MG-SFT-402", "tensor ends past the data buffer")
    h = {"a": entry("F32", [2], 0, 8), "b": entry("F32", [1], 4, 8)}
    put("malicious/overlap.safetensors", raw_file(header_bytes(h), pattern(8, 1)),
        "BLOCKED", "MG-SFT-402", "two tensors share bytes")
    h = {"a": entry("F32", [1], 0, 4), "b": entry("F32", [1], 8, 12)}
    put("malicious/gap.safetensors", raw_file(header_bytes(h), pattern(12, 1)),
        "BLOCKED", "MG-SFT-402", "4 bytes between tensors belong to none (room for a polyglot)")
    hidden = b"\x80\x04\x95\x1c\x00\x00\x00\x00\x00\x00\x00\x8c\x02os\x94\x8c\x06system\x94\x93\x94."
    h = {"a": entry("F32", [1], 0, 4)}
    put("malicious/trailing_bytes.safetensors", raw_file(header_bytes(h), pattern(4, 1) + hidden),
        "BLOCKED", "MG-SFT-402", "a pickle after the last tensor")
    h = {"a": entry("F32", [1], 0, 4), "z": entry("F32", [0], 2, 2)}
    put("malformed/empty_inside.safetensors", raw_file(header_bytes(h), pattern(4, 1)),
        "BLOCKED", "MG-SFT-402", "an empty tensor placed inside another (the reference reader refuses it)")

    rows.sort()
    with open(os.path.join(out, "expected.tsv"), "w") as f:
        f.write("# generated by tests/corpus/make_safetensors_fixtures.py; do not edit\n")
        f.write("\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
