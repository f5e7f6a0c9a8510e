#!/usr/bin/python3
"""make_hdf5_fixtures.py OUTDIR - HDF5 files and Keras 2 `.h5` models.

Benign files are written by h5py (Debian's python3-h5py) shaped exactly as
tf.keras 2 `model.save("x.h5")` writes them: root attributes model_config
and training_config (JSON, as bytes -> h5py variable-length strings),
keras_version and backend, and the model_weights group with one group per
layer. Malicious files carry the payloads of make_keras_fixtures.py in the
same places, plus HDF5-level attacks (external storage, external links,
virtual datasets, a pickle in the user block). Malformed files are benign
files with bytes patched at offsets found by parsing them here. Nothing is
ever loaded with Keras.
"""
import io
import json
import os
import struct
import sys

import h5py
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_keras_fixtures as kf  # noqa: E402


def keras2_h5(model_config, training_config=None, fixed=False, libver=None, userblock=0, extra=None):
    """Bytes of a Keras 2 style .h5 model."""
    bio = io.BytesIO()
    kw = {"libver": libver} if libver else {}
    if userblock:
        kw["userblock_size"] = userblock
    with h5py.File(bio, "w", **kw) as f:
        def put(k, v):
            f.attrs[k] = np.bytes_(v.encode()) if fixed else v.encode()
        f.attrs["keras_version"] = np.bytes_(b"2.15.0") if fixed else "2.15.0"
        f.attrs["backend"] = np.bytes_(b"tensorflow") if fixed else "tensorflow"
        put("model_config", json.dumps(model_config))
        if training_config is not None:
            put("training_config", json.dumps(training_config))
        mw = f.create_group("model_weights")
        mw.attrs["layer_names"] = np.array([b"dense", b"dense_1"], dtype="S7")
        mw.attrs["backend"] = "tensorflow"
        mw.attrs["keras_version"] = "2.15.0"
        for lname, shape in (("dense", (4, 8)), ("dense_1", (8, 1))):
            g = mw.create_group(lname)
            g.attrs["weight_names"] = np.array([("%s/kernel:0" % lname).encode(), ("%s/bias:0" % lname).encode()])
            sub = g.create_group(lname)
            sub.create_dataset("kernel:0", data=np.zeros(shape, dtype="float32"), track_times=False)
            sub.create_dataset("bias:0", data=np.zeros(shape[1:], dtype="float32"), track_times=False)
        if extra:
            extra(f)
    return zero_times(bio.getvalue())


def lookup3(data, initval=0):
    """Bob Jenkins' lookup3 hashlittle, as HDF5 checksums its metadata."""
    M = 0xffffffff
    rot = lambda x, k: ((x << k) | (x >> (32 - k))) & M
    n = len(data)
    a = b = c = (0xdeadbeef + n + initval) & M
    i = 0
    while n - i > 12:
        a = (a + int.from_bytes(data[i:i + 4], "little")) & M
        b = (b + int.from_bytes(data[i + 4:i + 8], "little")) & M
        c = (c + int.from_bytes(data[i + 8:i + 12], "little")) & M
        a = (a - c) & M; a ^= rot(c, 4); c = (c + b) & M
        b = (b - a) & M; b ^= rot(a, 6); a = (a + c) & M
        c = (c - b) & M; c ^= rot(b, 8); b = (b + a) & M
        a = (a - c) & M; a ^= rot(c, 16); c = (c + b) & M
        b = (b - a) & M; b ^= rot(a, 19); a = (a + c) & M
        c = (c - b) & M; c ^= rot(b, 4); b = (b + a) & M
        i += 12
    if n - i == 0:
        return c
    tail = data[i:] + bytes(12 - (n - i))
    a = (a + int.from_bytes(tail[0:4], "little")) & M
    b = (b + int.from_bytes(tail[4:8], "little")) & M
    c = (c + int.from_bytes(tail[8:12], "little")) & M
    c ^= b; c = (c - rot(b, 14)) & M
    a ^= c; a = (a - rot(c, 11)) & M
    b ^= a; b = (b - rot(a, 25)) & M
    c ^= b; c = (c - rot(b, 16)) & M
    a ^= c; a = (a - rot(c, 4)) & M
    b ^= a; b = (b - rot(a, 14)) & M
    c ^= b; c = (c - rot(b, 24)) & M
    return c


def zero_times(data):
    """Version 2 object headers store access/modify/change/birth times: zero
    them (and fix each header's checksum) so the fixtures are reproducible."""
    b = bytearray(data)
    i = b.find(b"OHDR")
    while i >= 0:
        flags = b[i + 5]
        if b[i + 4] == 2 and flags & 0x20:
            b[i + 6:i + 22] = bytes(16)
            at = i + 22 + (4 if flags & 0x10 else 0)
            w = 1 << (flags & 3)
            size = int.from_bytes(b[at:at + w], "little")
            end = at + w + size
            struct.pack_into("<I", b, end, lookup3(bytes(b[i:end])))
        i = b.find(b"OHDR", i + 4)
    return bytes(b)


def plain_h5():
    bio = io.BytesIO()
    with h5py.File(bio, "w") as f:
        f.create_dataset("images", data=np.arange(64, dtype="uint8").reshape(8, 8), track_times=False)
        f.create_group("meta").attrs["source"] = "synthetic"
    return bio.getvalue()


def weights_only_h5():
    bio = io.BytesIO()
    with h5py.File(bio, "w") as f:
        f.attrs["layer_names"] = np.array([b"dense"])
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = "2.15.0"
        f.create_group("dense/dense").create_dataset("kernel:0", data=np.zeros((4, 8), "float32"), track_times=False)
    return bio.getvalue()


# ---- helpers to find structures in h5py's output (never by loading) ----

def root_header(b):
    """(offset of the v1 root object header, base) of a superblock v0 file at 0."""
    assert b[:8] == b"\x89HDF\r\n\x1a\n" and b[8] == 0
    return struct.unpack_from("<Q", b, 24 + 8 * 4 + 8)[0]


def find_vlen_ref(b, attr_name):
    """Offset of the 16-byte vlen reference (len, collection, index) of a root attribute."""
    i = b.index(attr_name.encode() + b"\x00")
    # v1 attribute message: name padded to 8, datatype (20 -> 24), dataspace 8, then data
    name_len = len(attr_name) + 1
    return i + ((name_len + 7) & ~7) + 24 + 8


def main():
    out = sys.argv[1]
    rows = []

    def write(rel, data, outcome, threats, what):
        p = os.path.join(out, rel)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        with open(p, "wb") as f:
            f.write(data)
        rows.append((rel, outcome, threats, what))

    seq3 = kf.sequential3([kf.dense3("dense", 8), kf.dense3("dense_1", 1, "linear")])
    seq2 = kf.sequential2([kf.dense2("dense", 8), kf.dense2("dense_1", 1, "linear")])
    good = keras2_h5(seq2, kf.TRAINING2)
    write("benign/keras2_sequential.h5", good, "ALLOWED", "-",
          "tf.keras 2 model.save('x.h5') layout, h5py 3 variable-length string attributes")
    write("benign/keras2_fixed_strings.h5", keras2_h5(seq2, kf.TRAINING2, fixed=True), "ALLOWED", "-",
          "the same with fixed-length string attributes (h5py 2 era files)")
    tc = json.loads(json.dumps(kf.TRAINING2))
    tc["optimizer_config"]["class_name"] = "Custom>Adam"
    tc["optimizer_config"]["config"]["is_legacy_optimizer"] = False
    write("benign/keras2_custom_adam.h5", keras2_h5(seq2, tc), "ALLOWED", "-",
          "tf.keras 2.11+ training_config naming its optimizer `Custom>Adam`")
    write("benign/keras3_config_latest.h5", keras2_h5(seq3, None, libver="latest"), "ALLOWED", "-",
          "superblock v3 and version 2 object headers (libver='latest')")
    write("benign/userblock.h5", keras2_h5(seq2, kf.TRAINING2, userblock=512), "ALLOWED", "-",
          "a 512-byte user block before the superblock")
    write("benign/plain_data.h5", plain_h5(), "ALLOWED", "-", "an HDF5 data file that is not a Keras model")
    write("benign/weights_only.h5", weights_only_h5(), "ALLOWED", "-", "Keras 2 save_weights() layout")

    for name, outcome, threats, what, c3, c2, tc in kf.payloads():
        if name.startswith("benign/"):
            continue
        cfg = c2 if c2 is not None else c3
        write(name + ".h5", keras2_h5(cfg, tc), outcome, threats, what + " (model_config of an .h5)")
    for name, data, threats, what in kf.malformed():
        b = keras2_h5({"placeholder": True})
        bio = io.BytesIO()
        with h5py.File(bio, "w") as f:
            f.attrs["model_config"] = data
            f.attrs["keras_version"] = "2.15.0"
        write(name + ".h5", bio.getvalue(), "BLOCKED", threats, what + " (model_config of an .h5)")

    # HDF5-level attacks
    def external(f):
        f.create_dataset("model_weights/dense/dense/ext", shape=(16,), dtype="uint8",
                         external=[("/etc/passwd", 0, 16)], track_times=False)
    write("malicious/external_storage.h5", keras2_h5(seq2, kf.TRAINING2, extra=external), "BLOCKED",
          "MG-KERAS-102", "a weight dataset stored in /etc/passwd (External Data Files message, CVE-2026-1669)")

    def extlink(f):
        f["model_weights/dense/link"] = h5py.ExternalLink("/etc/secret.h5", "/data")
    write("malicious/external_link.h5", keras2_h5(seq2, kf.TRAINING2, extra=extlink), "BLOCKED", "MG-KERAS-102",
          "an external link to another file inside the weights")

    def vds(f):
        layout = h5py.VirtualLayout(shape=(4,), dtype="float32")
        layout[:] = h5py.VirtualSource("/etc/other.h5", "data", shape=(4,))
        f.create_virtual_dataset("model_weights/virtual", layout)
    write("malicious/virtual_dataset.h5", keras2_h5(seq2, kf.TRAINING2, libver="latest", extra=vds), "BLOCKED",
          "MG-KERAS-102", "a virtual dataset mapping data from another file")
    ub = bytearray(keras2_h5(seq2, kf.TRAINING2, userblock=512))
    ub[:len(kf.EVIL_PICKLE)] = kf.EVIL_PICKLE
    write("malicious/pickle_userblock.h5", bytes(ub), "BLOCKED", "MG-PKL-100",
          "a pickle in the user block, for loaders that sniff the first bytes (torch.load)")

    # malformed structure
    write("malformed/truncated.h5", good[:200], "BLOCKED", "MG-KERAS-400", "the file ends inside the root header")
    bad = bytearray(good)
    struct.pack_into("<Q", bad, 24 + 8 * 4 + 8, len(good) + 4096)
    write("malformed/root_outside.h5", bytes(bad), "BLOCKED", "MG-KERAS-400",
          "the root object header address points past the end")
    bad = bytearray(good)
    root = root_header(good)
    # first message of the root header is the continuation (type 0x10): point it at the header itself
    assert struct.unpack_from("<H", bad, root + 16)[0] == 0x10
    struct.pack_into("<Q", bad, root + 24, root)
    write("malformed/continuation_cycle.h5", bytes(bad), "BLOCKED", "MG-KERAS-400",
          "a header continuation that leads back to the header (a cycle)")
    bad = bytearray(good)
    ref = find_vlen_ref(good, "model_config")
    struct.pack_into("<I", bad, ref + 12, 999)
    write("malformed/gheap_bad_index.h5", bytes(bad), "BLOCKED", "MG-KERAS-400",
          "model_config points at a global heap object that does not exist")
    bad = bytearray(good)
    bad[8] = 7
    write("malformed/superblock_version.h5", bytes(bad), "BLOCKED", "MG-KERAS-400", "superblock version 7")

    def many_attrs(f):
        for i in range(12):
            f.attrs["extra_%d" % i] = i
    write("malformed/dense_attributes.h5", keras2_h5(seq2, None, libver="latest", extra=many_attrs), "BLOCKED",
          "MG-KERAS-400", "root attributes in dense storage (fractal heap): not read, so not passed")

    with open(os.path.join(out, "expected.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
