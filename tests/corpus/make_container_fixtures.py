#!/usr/bin/python3
"""Generate modelgate's committed container test corpus.

Usage:  /usr/bin/python3 tests/corpus/make_container_fixtures.py OUTDIR

Containers are the formats that wrap pickles or tensors: PyTorch zip and
legacy checkpoints, TorchScript archives, NumPy .npy/.npz, joblib (plain and
compressed), zip, tar, 7z and single compressed streams.  The script writes
OUTDIR/benign/, OUTDIR/malicious/, OUTDIR/malformed/ and the manifest
OUTDIR/expected.tsv, one line per fixture:

    relative/path <TAB> ALLOWED|BLOCKED <TAB> threat,ids|- <TAB> what it tests

THREATS lists the ids that must appear in the scan report (others may appear
too); `ALLOWED` with `-` means the scanner must report no finding at all.

Safety rules this script keeps:
  * Nothing is ever deserialised: no pickle.load(s), torch.load, torch.jit.load,
    joblib.load, numpy.load(allow_pickle=True).  pickletools.genops (a
    disassembler) and zipfile (reading member bytes) are the only readers.
  * Benign fixtures are the real output of torch.save, torch.jit.save,
    numpy.save(z), joblib.dump, tarfile, 7z, gzip/bz2/lzma/zstd/lz4.
  * Malicious streams are hand-assembled bytes (see `payload_p2` and
    `P0_CALL`) whose only action is `echo modelgate-fixture`.

Determinism: output is byte-identical on every run.  The script re-executes
itself with PYTHONHASHSEED=0 and single-threaded BLAS/OpenMP; seeds are
fixed; zip dates are 1980-01-01; tar mtimes/uids are 0; gzip mtime is 0;
7z stores no timestamps; the one address-derived value torch writes (the
storage keys of a legacy checkpoint, str(storage._cdata)) is renumbered
(see `det_legacy`); numpy's savez is run with zipfile's clock frozen.
Generate twice and diff to check.
"""

import os
import sys

_ENV = {
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TZ": "UTC",
}
if any(os.environ.get(k) != v for k, v in _ENV.items()):
    env = dict(os.environ)
    env.update(_ENV)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import bz2  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import gzip  # noqa: E402
import io  # noqa: E402
import lzma  # noqa: E402
import pickle  # noqa: E402
import pickletools  # noqa: E402
import shutil  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import tarfile  # noqa: E402
import tempfile  # noqa: E402
import types  # noqa: E402
import warnings  # noqa: E402
import zipfile  # noqa: E402
import zlib  # noqa: E402

warnings.filterwarnings("ignore")

CMD = "echo modelgate-fixture"
# Protocol-0 opcodes that call posix.system(CMD) and POP the result: spliced in
# before the final STOP of a real pickle they leave its result unchanged.
P0_CALL = b"cposix\nsystem\n(S'" + CMD.encode() + b"'\ntR0"

OUT = None
MANIFEST = []
MAX_SIZE = 300 * 1024


def emit(rel, data, outcome, threats, what):
    """Write one fixture and remember its manifest line."""
    assert outcome in ("ALLOWED", "BLOCKED"), outcome
    assert "\t" not in what and "\n" not in what
    assert rel not in {m[0] for m in MANIFEST}, rel
    assert len(data) < MAX_SIZE, (rel, len(data))
    with open(os.path.join(OUT, rel), "wb") as f:
        f.write(data)
    MANIFEST.append((rel, outcome, threats or "-", what))


def B(name, data, what):
    emit("benign/" + name, data, "ALLOWED", "-", what)


def M(name, data, threats, what, outcome="BLOCKED"):
    emit("malicious/" + name, data, outcome, threats, what)


def F(name, data, threats, what, outcome="BLOCKED"):
    emit("malformed/" + name, data, outcome, threats, what)


# ---------------------------------------------------------------------------
# Payloads and pickle surgery (bytes only; nothing is unpickled).
# ---------------------------------------------------------------------------


def payload_p2(cmd=CMD):
    """Protocol-2 pickle: posix.system(cmd).  The length prefix is computed."""
    c = cmd.encode()
    return b"\x80\x02cposix\nsystem\nq\x00X" + struct.pack("<I", len(c)) + c + b"q\x01\x85q\x02Rq\x03."


def payload_p0(cmd=CMD):
    """Protocol-0 pickle: posix.system(cmd)."""
    return P0_CALL[:-1] + b"."


def stream_end(data, off=0):
    """Offset just past the STOP of the pickle starting at data[off]."""
    for op, _arg, pos in pickletools.genops(io.BytesIO(data[off:])):
        if op.name == "STOP":
            return off + pos + 1
    raise ValueError("no STOP")


def insert_before_stop(p, ins, framed):
    """Splice opcodes `ins` in before the final STOP of pickle `p`.

    For protocol 4+ streams (framed=True) the last FRAME is grown so the
    stream stays well formed: the insertion is inside the final frame.
    """
    assert p[-1:] == b".", p[-8:]
    out = bytearray(p[:-1] + ins + b".")
    if framed:
        for pos in range(len(p) - 9, -1, -1):
            if p[pos] == 0x95 and struct.unpack_from("<Q", p, pos + 1)[0] == len(p) - pos - 9:
                struct.pack_into("<Q", out, pos + 1, len(p) - pos - 9 + len(ins))
                break
        else:
            raise AssertionError("final FRAME not found")
    return bytes(out)


# ---------------------------------------------------------------------------
# A byte-exact zip writer: every field can be set independently, local header
# and central directory can disagree on purpose.  Dates are 1980-01-01 00:00.
# ---------------------------------------------------------------------------

DOS_TIME, DOS_DATE = 0, (0 << 9) | (1 << 5) | 1


def zm(name, data, method=0, **kw):
    """One member spec for build_zip.

    kw: flags, crc (central+local), lcrc, lname (local name), lmethod,
    lcsize/lusize, csize/usize (both headers), comp (pre-compressed bytes),
    ext_attr, made_by.
    """
    d = dict(name=name, data=data, method=method)
    d.update(kw)
    return d


def build_zip(members, prepend=b"", fix_offsets=False):
    out = bytearray(prepend)
    base = 0 if fix_offsets else len(prepend)
    central = bytearray()
    for m in members:
        data = m["data"]
        if "comp" in m:
            comp = m["comp"]
        elif m["method"] == 8:
            co = zlib.compressobj(6, zlib.DEFLATED, -15)
            comp = co.compress(data) + co.flush()
        else:
            comp = data
        crc = m.get("crc", zlib.crc32(data) & 0xFFFFFFFF)
        csize = m.get("csize", len(comp))
        usize = m.get("usize", len(data) if "comp" not in m else m["usize"])
        name = m["name"].encode()
        lname = m.get("lname", m["name"]).encode()
        flags = m.get("flags", 0)
        offset = len(out) - base
        out += struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, m.get("lflags", flags), m.get("lmethod", m["method"]),
                           DOS_TIME, DOS_DATE, m.get("lcrc", crc), m.get("lcsize", csize), m.get("lusize", usize),
                           len(lname), 0) + lname
        out += comp
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, m.get("made_by", (3 << 8) | 20), 20, flags,
                               m["method"], DOS_TIME, DOS_DATE, crc, csize, usize, len(name), 0, 0, 0, 0,
                               m.get("ext_attr", 0o100644 << 16), offset) + name
    cd_off = len(out) - base
    out += central
    out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(members), len(members), len(central), cd_off, 0)
    return bytes(out)


def zip_members(blob):
    """[(name, bytes)] of a zip, in central-directory order (reading only)."""
    with zipfile.ZipFile(io.BytesIO(blob)) as z:
        return [(i.filename, z.read(i)) for i in z.infolist()]


def rezip(members, replace=None, extra=()):
    """Stored zip of (name, bytes) pairs, with some member bytes replaced."""
    replace = replace or {}
    specs = [zm(n, replace.get(n, d)) for n, d in members]
    return build_zip(specs + list(extra))


@contextlib.contextmanager
def frozen_zip_clock():
    """Make zipfile stamp members 1980-01-01 (numpy's savez uses ZipFile.open)."""
    import time
    saved = zipfile.time
    zipfile.time = types.SimpleNamespace(time=lambda: 315532800.0,
                                         localtime=lambda t=None: time.gmtime(315532800))
    try:
        yield
    finally:
        zipfile.time = saved


# ---------------------------------------------------------------------------
# tar, 7z and single-stream compressors.
# ---------------------------------------------------------------------------


def tar_bytes(entries):
    """entries: (name, bytes | None, kind, linkname); kind in file/dir/sym/hard."""
    bio = io.BytesIO()
    with tarfile.open(fileobj=bio, mode="w", format=tarfile.GNU_FORMAT) as t:
        for name, data, kind, link in entries:
            ti = tarfile.TarInfo(name)
            ti.mtime = 0
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            ti.mode = 0o644
            if kind == "file":
                ti.size = len(data)
                t.addfile(ti, io.BytesIO(data))
                continue
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
            elif kind == "sym":
                ti.type, ti.linkname, ti.mode = tarfile.SYMTYPE, link, 0o777
            elif kind == "hard":
                ti.type, ti.linkname = tarfile.LNKTYPE, link
            t.addfile(ti)
    return bio.getvalue()


def tar_file(name, data):
    return (name, data, "file", None)


def gz(data, level=9):
    return gzip.compress(data, compresslevel=level, mtime=0)


def cli(args, data):
    return subprocess.run(args, input=data, stdout=subprocess.PIPE, check=True).stdout


def zst(data):
    return cli(["zstd", "-q", "-c", "-19", "--no-progress"], data)


def lz4(data):
    return cli(["lz4", "-q", "-c", "-9"], data)


def sevenzip(files):
    """7z archive (via the `7z` CLI) of (relative path, bytes) files."""
    with tempfile.TemporaryDirectory() as td:
        src = os.path.join(td, "src")
        os.mkdir(src)
        for rel, data in files:
            p = os.path.join(src, rel)
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "wb") as f:
                f.write(data)
        for root, dirs, fnames in os.walk(src):
            for d in dirs:
                os.chmod(os.path.join(root, d), 0o755)
                os.utime(os.path.join(root, d), (0, 0))
            for fn in fnames:
                os.chmod(os.path.join(root, fn), 0o644)
                os.utime(os.path.join(root, fn), (0, 0))
        out = os.path.join(td, "out.7z")
        tops = sorted({rel.split("/")[0] for rel, _ in files})
        subprocess.run(["7z", "a", "-t7z", "-bd", "-bso0", "-bsp0", "-mx=9", "-mmt=1", "-mtm=off", "-mtc=off",
                        "-mta=off", "-mtr=off", out] + tops, cwd=src, check=True)
        with open(out, "rb") as f:
            return f.read()


# ---------------------------------------------------------------------------
# PyTorch helpers.
# ---------------------------------------------------------------------------

import numpy as np  # noqa: E402
import torch  # noqa: E402


def tsave(obj, **kw):
    """torch.save into memory: the zip root folder is then `archive/`."""
    bio = io.BytesIO()
    torch.save(obj, bio, **kw)
    return bio.getvalue()


def split_legacy(data):
    """The 5 stacked pickles of a legacy checkpoint and the storage bytes."""
    streams, off = [], 0
    for _ in range(5):
        end = stream_end(data, off)
        streams.append(data[off:end])
        off = end
    return streams, data[off:]


def det_legacy(data):
    """Renumber the storage keys of a legacy torch.save output.

    torch 1.13 names each storage str(storage._cdata) (a memory address) in the
    object pickle and the key list, and writes the storages sorted by that
    string.  Rename them "0", "1", ... in order of first use in the object
    pickle, re-sort the key list and the storage records the way torch does;
    the result is exactly what torch would write for those addresses.
    """
    streams, tail = split_legacy(data)
    keys = [a for op, a, _ in pickletools.genops(io.BytesIO(streams[4])) if op.name == "BINUNICODE"]
    assert keys == sorted(keys)
    keyset = set(keys)
    memo, top, order, types_ = {}, None, [], {}
    for op, arg, _ in pickletools.genops(io.BytesIO(streams[3])):
        if op.name in ("BINPUT", "LONG_BINPUT", "PUT"):
            memo[arg] = top
            continue
        if op.name == "GLOBAL":
            cur = arg
        elif op.name in ("BINGET", "LONG_BINGET", "GET"):
            cur = memo.get(arg)
        elif op.name == "BINUNICODE":
            cur = arg
            if arg in keyset and arg not in types_:
                assert top and top.endswith("Storage"), (top, arg)
                types_[arg] = top.split(" ")[1]
                order.append(arg)
        else:
            cur = None
        top = cur
    assert sorted(order) == keys, (order, keys)
    rec, off = {}, 0
    for k in keys:
        n = struct.unpack_from("<Q", tail, off)[0]
        size = 8 + n * torch.empty(0, dtype=getattr(torch, types_[k]).dtype).element_size()
        rec[k] = tail[off:off + size]
        off += size
    assert off == len(tail), (off, len(tail))
    new = {k: str(i) for i, k in enumerate(order)}
    obj = streams[3]
    for k in keys:
        pat = b"X" + struct.pack("<I", len(k)) + k.encode()
        assert obj.count(pat) == 1, k
        obj = obj.replace(pat, b"X" + struct.pack("<I", len(new[k])) + new[k].encode())
    newkeys = sorted(new.values())
    inv = {v: k for k, v in new.items()}
    return (streams[0] + streams[1] + streams[2] + obj + pickle.dumps(newkeys, protocol=2)
            + b"".join(rec[inv[k]] for k in newkeys))


def tsave_legacy(obj):
    bio = io.BytesIO()
    torch.save(obj, bio, _use_new_zipfile_serialization=False)
    return det_legacy(bio.getvalue())


def models():
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4)
    return collections.OrderedDict([
        ("linear", torch.nn.Linear(3, 2)),
        ("conv2d", torch.nn.Conv2d(1, 2, 3)),
        ("batchnorm", torch.nn.BatchNorm2d(3)),
        ("lstm", lstm),
        ("embedding", torch.nn.Embedding(10, 4)),
    ])


def optim_states():
    torch.manual_seed(0)
    out = {}
    for name, cls, kw in (("sgd_momentum", torch.optim.SGD, dict(lr=0.1, momentum=0.9)),
                          ("adam", torch.optim.Adam, dict(lr=1e-3))):
        m = torch.nn.Linear(3, 2)
        opt = cls(m.parameters(), **kw)
        m(torch.randn(4, 3)).sum().backward()
        opt.step()
        out[name] = opt.state_dict()
    return out


def dtype_tensors():
    torch.manual_seed(0)
    i = torch.tensor([[0, 1, 2], [2, 0, 1]])
    return collections.OrderedDict([
        ("fp16", {"w": torch.randn(2, 3).to(torch.float16)}),
        ("bf16", {"w": torch.randn(2, 3).to(torch.bfloat16)}),
        ("int8", {"w": torch.arange(-4, 4, dtype=torch.int8)}),
        ("complex64", {"w": torch.complex(torch.randn(3), torch.randn(3))}),
        ("sparse_coo", {"w": torch.sparse_coo_tensor(i, torch.tensor([1.0, 2.0, 3.0]), (3, 3))}),
    ])


def base_torch_zip():
    torch.manual_seed(0)
    return tsave(torch.nn.Linear(3, 2).state_dict())


# ---------------------------------------------------------------------------
# Benign.
# ---------------------------------------------------------------------------


def benign_torch():
    for name, m in models().items():
        B(f"torch_{name}_state_dict.pt", tsave(m.state_dict()),
          f"torch.save (zip) of an nn.{type(m).__name__} state_dict")
        B(f"torch_{name}_state_dict_legacy.pt", tsave_legacy(m.state_dict()),
          f"torch.save legacy (_use_new_zipfile_serialization=False) of an nn.{type(m).__name__} state_dict")
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.ReLU(),
                              torch.nn.Dropout(0.1), torch.nn.Linear(8, 2), torch.nn.Softmax(dim=1))
    B("torch_sequential_whole_module.pt", tsave(seq),
      "torch.save (zip) of a whole nn.Sequential of built-in layers (module classes in the pickle)")
    for name, sd in optim_states().items():
        B(f"torch_optim_{name}.pt", tsave(sd), f"torch.save (zip) of an optimizer state_dict ({name}, one step)")
        B(f"torch_optim_{name}_legacy.pt", tsave_legacy(sd),
          f"torch.save legacy of an optimizer state_dict ({name}, one step)")
    torch.manual_seed(0)
    B("torch_linear_state_dict_p4.pt", tsave(torch.nn.Linear(3, 2).state_dict(), pickle_protocol=4),
      "torch.save (zip) with pickle_protocol=4 (framed data.pkl)")
    for name, t in dtype_tensors().items():
        B(f"torch_{name}.pt", tsave(t), f"torch.save (zip) of a {name} tensor")
    mixed = {k: v["w"] for k, v in dtype_tensors().items() if k != "sparse_coo"}
    B("torch_mixed_dtypes_legacy.pt", tsave_legacy(mixed),
      "torch.save legacy of fp16/bf16/int8/complex64 tensors (storage records of 4 element sizes)")


def benign_numpy():
    rs = np.random.RandomState(0)

    def npsave(a, **kw):
        bio = io.BytesIO()
        np.save(bio, a, **kw)
        return bio.getvalue()

    B("npy_float32.npy", npsave(rs.randn(3, 4).astype(np.float32)), "np.save of a float32 array")
    B("npy_int64_fortran.npy", npsave(np.asfortranarray(np.arange(12, dtype=np.int64).reshape(3, 4))),
      "np.save of a Fortran-ordered int64 array")
    st = np.zeros(3, dtype=[("id", "<i4"), ("xy", "<f8", (2,)), ("tag", "S4")])
    st["id"] = [1, 2, 3]
    B("npy_structured.npy", npsave(st), "np.save of a structured array (nested field shapes)")
    B("npy_object_strings.npy", npsave(np.array(["alpha", "beta", "gamma"], dtype=object), allow_pickle=True),
      "np.save(allow_pickle=True) of an object array of str (data is a pickle of numpy reconstruct)")
    arrays = dict(weight=rs.randn(4, 3).astype(np.float32), bias=np.zeros(4), step=np.arange(5))
    with frozen_zip_clock():
        bio = io.BytesIO()
        np.savez(bio, **arrays)
        B("npz_plain.npz", bio.getvalue(), "np.savez of three arrays (stored zip64 members)")
        bio = io.BytesIO()
        np.savez_compressed(bio, **arrays)
        B("npz_compressed.npz", bio.getvalue(), "np.savez_compressed of three arrays (deflated members)")


JOBLIB_CODECS = ("zlib", "gzip", "bz2", "xz", "lzma")


def jdump(obj, compress=0):
    bio = io.BytesIO()
    import joblib
    joblib.dump(obj, bio, compress=compress)
    return bio.getvalue()


def sk_models():
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    rs = np.random.RandomState(0)
    X = rs.randn(40, 4)
    y = (X[:, 0] + X[:, 1] > 0).astype(int)
    return collections.OrderedDict([
        ("random_forest", RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)),
        ("logistic_regression", LogisticRegression().fit(X, y)),
        ("standard_scaler", StandardScaler().fit(X)),
        ("pipeline", Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]).fit(X, y)),
    ])


def array_dict():
    rs = np.random.RandomState(0)
    return {"weights": rs.randn(3, 4).astype(np.float32), "bias": np.zeros(4), "classes": np.arange(3),
            "name": "tiny"}


def benign_joblib():
    for name, m in sk_models().items():
        plain = jdump(m)
        B(f"joblib_{name}.joblib", plain, f"joblib.dump of a fitted sklearn {type(m).__name__}")
        for codec in JOBLIB_CODECS:
            B(f"joblib_{name}_{codec}.joblib", jdump(m, (codec, 3)),
              f"joblib.dump of a fitted sklearn {type(m).__name__}, compress=('{codec}', 3)")
        B(f"joblib_{name}.joblib.lz4", lz4(plain),
          f"lz4 frame (lz4 CLI) of a plain joblib {type(m).__name__}, as joblib compress='lz4' writes")
    B("joblib_array_dict.joblib", jdump(array_dict()),
      "joblib.dump of a dict of numpy arrays (inline raw array buffers between pickle opcodes)")


def benign_archives():
    sd = base_torch_zip()
    tar = tar_bytes([("model", None, "dir", None), tar_file("model/pytorch_model.pt", sd),
                     tar_file("model/config.json", b'{"in_features": 3, "out_features": 2}\n')])
    B("tar_state_dict.tar", tar, "tar (GNU) holding a torch.save state dict and a config.json")
    B("tar_state_dict.tar.gz", gz(tar), "gzip of that tar")
    B("sevenzip_state_dict.7z", sevenzip([("model/pytorch_model.pt", sd)]),
      "7z a of a folder holding a torch.save state dict")
    p = pickle.dumps({"lr": 0.01, "epochs": 3, "layers": [4, 8, 2], "name": "tiny"}, protocol=4)
    B("pickle_dict.pkl.gz", gz(p), "gzip single stream of a pickled dict")
    B("pickle_dict.pkl.bz2", bz2.compress(p, 9), "bzip2 single stream of a pickled dict")
    B("pickle_dict.pkl.xz", lzma.compress(p, format=lzma.FORMAT_XZ), "xz single stream of a pickled dict")
    B("pickle_dict.pkl.zst", zst(p), "zstd single stream (zstd CLI) of a pickled dict")
    B("pickle_dict.pkl.lz4", lz4(p), "lz4 frame (lz4 CLI) of a pickled dict")


# ---------------------------------------------------------------------------
# Malicious.
# ---------------------------------------------------------------------------


def malicious_torch_zip():
    base = zip_members(base_torch_zip())
    names = [n for n, _ in base]
    assert names == ["archive/data.pkl", "archive/data/0", "archive/data/1", "archive/version"], names
    good = dict(base)["archive/data.pkl"]
    pay = payload_p2()
    rest = [(n, d) for n, d in base if n != "archive/data.pkl"]

    def specs(**over):
        """Members of the base checkpoint, data.pkl replaced by the payload with field overrides."""
        return [zm("archive/data.pkl", pay, **over)] + [zm(n, d) for n, d in rest]

    M("torch_zip_payload_data_pkl.pt", rezip(base, {"archive/data.pkl": pay}), "MG-PKL-100",
      "PyTorch zip whose archive/data.pkl is a posix.system payload")
    M("torch_zip_payload_data_pkl_deflated.pt",
      build_zip([zm("archive/data.pkl", pay, 8)] + [zm(n, d) for n, d in rest]), "MG-PKL-100",
      "PyTorch zip, payload data.pkl deflate-compressed (member must be inflated before scanning)")
    M("torch_zip_payload_data_txt.pt", rezip(base, extra=[zm("archive/data.txt", pay)]), "MG-PKL-100",
      "benign PyTorch zip plus a payload pickle named archive/data.txt (CVE-2025-1889: scan by content, not name)")
    M("torch_zip_payload_storage_member.pt", rezip(base, {"archive/data/0": pay}), "MG-PKL-100",
      "PyTorch zip whose storage member archive/data/0 holds a payload pickle")
    M("torch_zip_name_mismatch.pt", build_zip(specs(lname="archive/data.bin")), "MG-ARV-401,MG-PKL-100",
      "payload data.pkl: central directory says archive/data.pkl, local header archive/data.bin (CVE-2025-1944)")
    M("torch_zip_method_mismatch.pt", build_zip(specs(lmethod=8)), "MG-ARV-401,MG-PKL-100",
      "payload data.pkl stored: central directory says method 0, local header says deflate")
    M("torch_zip_size_mismatch.pt", build_zip(specs(lcsize=4, lusize=4)), "MG-ARV-401,MG-PKL-100",
      "payload data.pkl: local header sizes 4, central directory the real sizes")
    for bit in (0x1, 0x20, 0x40):
        M(f"torch_zip_flag_{bit:#04x}.pt", build_zip(specs(flags=bit)), "MG-ARV-401,MG-PKL-100",
          f"payload data.pkl (plain bytes) with general-purpose flag bit {bit:#x} set (CVE-2025-1945)")
    bad = (zlib.crc32(pay) ^ 0xDEADBEEF) & 0xFFFFFFFF
    M("torch_zip_bad_crc_payload.pt", build_zip(specs(crc=bad)), "MG-PKL-100,MG-ARV-405",
      "payload data.pkl whose CRC (local and central) is wrong: still scanned (CVE-2025-10156)")
    M("torch_zip_bad_central_crc_payload.pt", build_zip(specs(crc=bad, lcrc=zlib.crc32(pay))), "MG-PKL-100",
      "payload data.pkl whose central-directory CRC alone is wrong (CVE-2025-10156)")
    M("torch_zip_duplicate_payload_second.pt",
      build_zip([zm("archive/data.pkl", good), zm("archive/data.pkl", pay)] + [zm(n, d) for n, d in rest]),
      "MG-ARV-402,MG-PKL-100", "archive/data.pkl twice: benign first, payload second (last-wins readers)")
    M("torch_zip_duplicate_payload_first.pt",
      build_zip([zm("archive/data.pkl", pay), zm("archive/data.pkl", good)] + [zm(n, d) for n, d in rest]),
      "MG-ARV-402,MG-PKL-100", "archive/data.pkl twice: payload first, benign second (first-wins readers)")
    M("torch_zip_duplicate_case.pt", rezip(base, extra=[zm("archive/Data.pkl", pay)]), "MG-ARV-402,MG-PKL-100",
      "archive/data.pkl and archive/Data.pkl (payload): names equal on case-insensitive file systems")
    M("torch_zip_member_outside_root.pt", rezip(base, extra=[zm("other/data.pkl", pay)]), "MG-PYTCH-401,MG-PKL-100",
      "benign PyTorch zip plus a payload other/data.pkl outside the archive/ root")
    M("torch_zip_benign_member_outside_root.pt", rezip(base, extra=[zm("notes/readme.txt", b"hello\n")]),
      "MG-PYTCH-401", "benign PyTorch zip plus a harmless text member outside the archive/ root")
    M("torch_zip_pickle_prepended.pt", build_zip([zm(n, d) for n, d in base], prepend=pay), "MG-ARV-401,MG-PKL-100",
      "payload pickle prepended to a benign PyTorch zip, offsets not fixed: torch.load sees no PK magic and unpickles "
      "it as a legacy checkpoint; Python zipfile shifts offsets and sees a clean zip")
    M("torch_zip_junk_prepended.pt", build_zip([zm(n, d) for n, d in base], prepend=b"MODELGATE" * 8),
      "MG-ARV-401", "non-pickle bytes prepended to a benign PyTorch zip, offsets not fixed (zipfile shifts them)")
    bad_zip = rezip(base, {"archive/data.pkl": pay})
    M("zip_in_zip_payload.zip", build_zip([zm("bundle/readme.txt", b"model bundle\n"), zm("bundle/model.pt", bad_zip)]),
      "MG-PKL-100", "zip holding a PyTorch zip whose data.pkl is the payload (nested archives are scanned)")
    M("zip_in_zip_payload_deflated.zip", build_zip([zm("model.pt", bad_zip, 8)]),
      "MG-PKL-100", "zip holding a deflated PyTorch zip whose data.pkl is the payload")
    M("torch_zip_bad_crc_benign_member.pt",
      build_zip([zm(n, d, crc=(zlib.crc32(d) ^ 1) & 0xFFFFFFFF) if n == "archive/data/0" else zm(n, d)
                 for n, d in base]),
      "MG-ARV-405", "benign PyTorch zip, one storage member has a wrong CRC: a parser differential, so "
      "Model Files Are Well-Formed (HIGH) blocks it")


def malicious_torchscript():
    torch.manual_seed(0)
    bio = io.BytesIO()
    torch.jit.save(torch.jit.script(torch.nn.Linear(3, 2)), bio)
    ts = bio.getvalue()
    M("torchscript_linear.pt", ts, "MG-TCHST-300",
      "torch.jit.save of torch.jit.script(nn.Linear): TorchScript code runs at inference (blocked by design)")
    mem = zip_members(ts)
    code = [n for n, _ in mem if "/code/" in n and n.endswith(".py")]
    assert len(code) == 1, code
    src = dict(mem)[code[0]]
    for tag, line in (("os_system", b"    os.system(\"echo modelgate-fixture\")\n"),
                      ("eval", b"    eval(\"print('modelgate-fixture')\")\n")):
        M(f"torchscript_linear_code_{tag}.pt", rezip(mem, {code[0]: src + line}), "MG-TCHST-300,MG-TCHST-301",
          f"TorchScript archive whose {code[0].split('/', 1)[1]} has `{line.strip().decode()}` appended")


def malicious_torch_legacy():
    torch.manual_seed(0)
    leg = tsave_legacy(torch.nn.Linear(3, 2).state_dict())
    s, tail = split_legacy(leg)
    M("torch_legacy_payload_magic.pt", payload_p2() + b"".join(s[1:]) + tail, "MG-PKL-100",
      "legacy checkpoint whose first (magic-number) pickle is the payload: runs before the magic check fails")
    for i, what in ((1, "protocol-version"), (2, "sys-info"), (3, "object"), (4, "storage-key")):
        parts = list(s)
        parts[i] = insert_before_stop(parts[i], P0_CALL, framed=False)
        M(f"torch_legacy_payload_{what.replace('-', '_')}.pt", b"".join(parts) + tail, "MG-PKL-100",
          f"legacy checkpoint whose pickle #{i + 1} ({what}) calls posix.system before its STOP")
    M("raw_pickle_p2_model.pt", payload_p2(), "MG-PKL-100",
      "raw protocol-2 payload pickle named .pt (torch.load's legacy path unpickles it)")
    M("raw_pickle_p0_pytorch_model.bin", payload_p0(), "MG-PKL-100",
      "raw protocol-0 payload pickle named .bin (CVE-2025-10155: no PROTO opcode, no zip magic)")


def malicious_joblib():
    plain = jdump(array_dict())
    bad = insert_before_stop(plain, P0_CALL, framed=True)
    what = "joblib.dump of a dict of arrays with posix.system spliced in after the last raw array buffer"
    M("joblib_payload_after_array.joblib", bad, "MG-PKL-100", what)
    comp = {
        "zlib": zlib.compress(bad, 3),
        "gzip": gz(bad, 3),
        "bz2": bz2.compress(bad, 3),
        "xz": lzma.compress(bad, format=lzma.FORMAT_XZ, preset=3),
        "lzma": lzma.compress(bad, format=lzma.FORMAT_ALONE, preset=3),
        "zstd": zst(bad),
        "lz4": lz4(bad),
    }
    for codec, data in comp.items():
        M(f"joblib_payload_after_array_{codec}.joblib", data, "MG-PKL-100", f"{what}, {codec}-compressed")
    M("joblib_payload_after_array.pkl.gz", gz(bad), "MG-PKL-100", f"{what}, gzip-compressed, named .pkl.gz")


def malicious_numpy():
    bio = io.BytesIO()
    np.save(bio, np.array(["alpha", "beta"], dtype=object), allow_pickle=True)
    real = bio.getvalue()
    assert real[:8] == b"\x93NUMPY\x01\x00"
    hlen = struct.unpack_from("<H", real, 8)[0]
    npy = real[:10 + hlen] + payload_p2()
    M("npy_object_payload.npy", npy, "MG-PKL-100", "object-dtype .npy whose data pickle is the payload")
    rs = np.random.RandomState(0)
    bio = io.BytesIO()
    np.save(bio, rs.randn(3).astype(np.float32))
    M("npz_object_payload.npz", build_zip([zm("weight.npy", bio.getvalue()), zm("labels.npy", npy)]), "MG-PKL-100",
      ".npz holding a float .npy and the object .npy whose pickle is the payload")
    M("npz_object_payload_deflated.npz", build_zip([zm("labels.npy", npy, 8)]), "MG-PKL-100",
      ".npz (deflated member) holding the object .npy whose pickle is the payload")


def malicious_archives():
    base = zip_members(base_torch_zip())
    pay = payload_p2()
    bad_zip = rezip(base, {"archive/data.pkl": pay})
    tree = dict(base)
    # nullifAI: the PyTorch folder compressed with 7z instead of zip.
    tree_pay = dict(tree, **{"archive/data.pkl": pay})
    M("nullifai_7z_payload.bin", sevenzip(sorted(tree_pay.items())), "MG-PKL-100",
      "nullifAI: PyTorch archive/ folder compressed with 7z instead of zip, data.pkl is the payload")
    broken = pay[:-1] + b"0" + b"\xffMODELGATE-BROKEN\x00\x01\x02"
    M("nullifai_7z_broken_stream.bin", sevenzip(sorted(dict(tree, **{"archive/data.pkl": broken}).items())),
      "MG-PKL-100,MG-PKL-400",
      "nullifAI: 7z PyTorch folder whose data.pkl is the payload, stream broken right after REDUCE (invalid opcode)")
    M("sevenzip_torch_zip_payload.7z", sevenzip([("model/pytorch_model.pt", bad_zip)]), "MG-PKL-100",
      "7z holding a PyTorch zip whose data.pkl is the payload")
    M("tar_torch_zip_payload.tar", tar_bytes([tar_file("model/pytorch_model.pt", bad_zip)]), "MG-PKL-100",
      "tar holding a PyTorch zip whose data.pkl is the payload")
    M("tar_torch_zip_payload.tar.gz", gz(tar_bytes([tar_file("model/pytorch_model.pt", bad_zip)])), "MG-PKL-100",
      "tar.gz holding a PyTorch zip whose data.pkl is the payload")
    for ext, data in (("gz", gz(pay)), ("bz2", bz2.compress(pay)), ("xz", lzma.compress(pay)), ("zst", zst(pay)),
                      ("lz4", lz4(pay))):
        M(f"payload_p2.pkl.{ext}", data, "MG-PKL-100", f"{ext} single stream of a payload pickle")

    benign = pickle.dumps({"lr": 0.01}, protocol=2)
    # Paths that escape, and links.  Member bytes are benign: the path alone must block.
    M("tar_traversal.tar", tar_bytes([tar_file("model/config.pkl", benign), tar_file("../evil.pkl", benign)]),
      "MG-ARV-403", "tar member ../evil.pkl (benign content): path traversal")
    M("tar_traversal_nested.tar", tar_bytes([tar_file("model/../../evil.pkl", benign)]),
      "MG-ARV-403", "tar member model/../../evil.pkl: traversal hidden mid-path")
    M("tar_absolute.tar", tar_bytes([tar_file("/tmp/modelgate-evil.pkl", benign)]),
      "MG-ARV-403", "tar member with an absolute path /tmp/modelgate-evil.pkl")
    M("tar_symlink.tar", tar_bytes([tar_file("model/config.pkl", benign),
                                    ("model/pytorch_model.bin", None, "sym", "/etc/passwd")]),
      "MG-ARV-403", "tar symlink member model/pytorch_model.bin -> /etc/passwd")
    M("tar_symlink_relative.tar", tar_bytes([("model/weights", None, "sym", "../../../home")]),
      "MG-ARV-403", "tar symlink member pointing to ../../../home")
    M("tar_hardlink.tar", tar_bytes([tar_file("model/config.pkl", benign),
                                     ("model/copy.pkl", None, "hard", "/etc/passwd")]),
      "MG-ARV-403", "tar hardlink member model/copy.pkl -> /etc/passwd")
    M("tar_duplicate_member.tar", tar_bytes([tar_file("model/data.pkl", benign),
                                             tar_file("model/data.pkl", pickle.dumps({"lr": 0.5}, protocol=2))]),
      "MG-ARV-402", "tar with model/data.pkl twice, both benign (first-read inspector vs last-wins extractor)")
    M("tar_duplicate_payload_last.tar",
      tar_bytes([tar_file("model/data.pkl", benign), tar_file("model/data.pkl", pay)]), "MG-ARV-402,MG-PKL-100",
      "NeMo-style differential: model/data.pkl twice, benign first, payload last")
    M("zip_traversal.zip", build_zip([zm("model/config.pkl", benign), zm("../../evil.pkl", benign)]),
      "MG-ARV-403", "zip member ../../evil.pkl (benign content): path traversal")
    M("zip_traversal_backslash.zip", build_zip([zm("..\\..\\evil.pkl", benign)]),
      "MG-ARV-403", "zip member ..\\..\\evil.pkl: traversal with Windows separators")
    M("zip_absolute.zip", build_zip([zm("/tmp/modelgate-evil.pkl", benign)]),
      "MG-ARV-403", "zip member with an absolute path /tmp/modelgate-evil.pkl")
    M("zip_drive_letter.zip", build_zip([zm("C:/modelgate/evil.pkl", benign)]),
      "MG-ARV-403", "zip member with a drive-letter path C:/modelgate/evil.pkl")
    M("zip_symlink.zip", build_zip([zm("model/config.pkl", benign),
                                    zm("model/pytorch_model.bin", b"/etc/passwd", ext_attr=0o120777 << 16)]),
      "MG-ARV-403", "zip member whose unix mode is a symlink (target /etc/passwd)")

    # Bombs.
    n = 50 * 1024 * 1024
    co, crc, comp = zlib.compressobj(9, zlib.DEFLATED, -15), 0, bytearray()
    chunk = bytes(1 << 20)
    for _ in range(n >> 20):
        comp += co.compress(chunk)
        crc = zlib.crc32(chunk, crc)
    comp += co.flush()
    M("zip_deflate_bomb.zip", build_zip([zm("weights.bin", b"", 8, comp=bytes(comp), usize=n, crc=crc)]),
      "MG-ARV-404", f"zip member deflating {n >> 20} MiB of zeros from {len(comp)} bytes")
    M("torch_zip_deflate_bomb.pt",
      build_zip([zm(nm, d) for nm, d in base if nm != "archive/version"]
                + [zm("archive/data/2", b"", 8, comp=bytes(comp), usize=n, crc=crc),
                   zm("archive/version", dict(base)["archive/version"])]),
      "MG-ARV-404", "PyTorch zip with an extra 50 MiB zero storage member deflated ~1000x")
    n = 100 * 1024 * 1024
    bio = io.BytesIO()
    with gzip.GzipFile(fileobj=bio, mode="wb", compresslevel=9, mtime=0) as g:
        g.write(b"\x80\x04\x8e" + struct.pack("<Q", n))
        for _ in range(n >> 20):
            g.write(chunk)
        g.write(b"\x94.")
    M("gzip_bomb.pkl.gz", bio.getvalue(), "MG-ARV-404",
      f"gzip of a pickle holding one {n >> 20} MiB bytes object of zeros (~1000x)")


# ---------------------------------------------------------------------------
# Malformed.
# ---------------------------------------------------------------------------


def malformed():
    zipb = base_torch_zip()
    eocd = zipb.rfind(b"PK\x05\x06")
    cd_size, cd_off = struct.unpack_from("<II", zipb, eocd + 12)
    F("zip_truncated_in_central_directory.pt", zipb[:cd_off + cd_size // 2], "MG-ARV-400",
      "PyTorch zip cut in the middle of its central directory (no end record)")
    F("zip_truncated_in_member.pt", zipb[:len(zipb) // 3], "MG-ARV-400", "PyTorch zip cut inside its first members")
    base = zip_members(zipb)
    F("zip_method_99.pt", build_zip([zm(n, d, 99) if n == "archive/data.pkl" else zm(n, d) for n, d in base]),
      "MG-ARV-400", "PyTorch zip whose data.pkl claims compression method 99 (AES; unsupported)")
    F("zip_method_14_lzma.zip", build_zip([zm("weights.pkl", pickle.dumps([1, 2, 3], protocol=2), 14)]),
      "MG-ARV-400", "zip member with compression method 14 (LZMA; unsupported by PyTorch)")

    torch.manual_seed(0)
    leg = tsave_legacy(torch.nn.Linear(3, 2).state_dict())
    s, tail = split_legacy(leg)
    head = b"".join(s)
    last = len(tail) - 8 - 2 * 4  # bias record: 8-byte count + 2 floats
    assert struct.unpack_from("<Q", tail, last)[0] == 2
    grown = bytearray(tail)
    struct.pack_into("<Q", grown, last, 1 << 40)
    F("torch_legacy_storage_past_end.pt", head + bytes(grown), "MG-PYTCH-400",
      "legacy checkpoint whose last storage record claims 2^40 elements")
    F("torch_legacy_truncated_storage.pt", leg[:-5], "MG-PYTCH-400",
      "legacy checkpoint cut 5 bytes before the end of its last storage")
    F("torch_legacy_missing_storages.pt", head, "MG-PYTCH-400",
      "legacy checkpoint with all 5 pickles but none of the storage records")
    F("torch_legacy_broken_object_pickle.pt", s[0] + s[1] + s[2] + s[3][: len(s[3]) // 2], "MG-PYTCH-400",
      "legacy checkpoint cut in the middle of its object pickle (4th of 5 stacked pickles)")

    bio = io.BytesIO()
    np.save(bio, np.arange(6, dtype=np.float32))
    npy = bio.getvalue()
    F("npy_header_len_past_end.npy", npy[:8] + struct.pack("<H", 60000) + npy[10:], "MG-NPY-400",
      ".npy whose header length (60000) runs past the end of the file")
    F("npy_data_short.npy", npy[:-8], "MG-NPY-400", ".npy whose float32 data is 8 bytes shorter than shape (6,)")

    d = {"table": np.arange(1234, dtype=np.float32), "name": "x"}
    plain = jdump(d)
    pat = b"M\xd2\x04\x85"  # BININT2 1234, TUPLE1: the shape
    assert plain.count(pat) == 1
    F("joblib_shape_past_end.joblib", plain.replace(pat, b"M\xff\xff\x85"), "MG-JOBLIB-400",
      "joblib array whose shape (edited 1234 -> 65535 float32) claims more bytes than the file has")

    p = pickle.dumps({"lr": 0.01, "layers": list(range(64))}, protocol=4)
    F("pickle_truncated.pkl.gz", gz(p)[:-12], "MG-ARV-400", "gzip of a pickle cut before its end (no trailer)")
    F("pickle_truncated.pkl.bz2", bz2.compress(p)[:-10], "MG-ARV-400", "bzip2 stream of a pickle cut before its end")
    F("pickle_truncated.pkl.xz", lzma.compress(p)[:-10], "MG-ARV-400", "xz stream of a pickle cut before its end")
    F("pickle_truncated.pkl.zst", zst(p)[:-6], "MG-ARV-400", "zstd stream of a pickle cut before its end")
    tar = tar_bytes([tar_file("model/pytorch_model.pt", zipb)])
    F("tar_truncated.tar", tar[:512 + len(zipb) // 2], "MG-ARV-400", "tar cut in the middle of its only member")
    sz = sevenzip([("model/pytorch_model.pt", zipb)])
    F("sevenzip_truncated.7z", sz[:len(sz) // 2], "MG-ARV-400", "7z cut in half (header at the end is missing)")


def main():
    global OUT
    if len(sys.argv) != 2:
        sys.exit("usage: make_container_fixtures.py OUTDIR")
    OUT = sys.argv[1]
    for sub in ("benign", "malicious", "malformed"):
        d = os.path.join(OUT, sub)
        if os.path.isdir(d):  # this script owns these directories: drop stale fixtures
            shutil.rmtree(d)
        os.makedirs(d)

    benign_torch()
    benign_numpy()
    benign_joblib()
    benign_archives()
    malicious_torch_zip()
    malicious_torchscript()
    malicious_torch_legacy()
    malicious_joblib()
    malicious_numpy()
    malicious_archives()
    malformed()

    with open(os.path.join(OUT, "expected.tsv"), "w", encoding="utf-8", newline="\n") as f:
        for line in sorted(MANIFEST):
            f.write("\t".join(line) + "\n")
    counts = collections.Counter(rel.split("/")[0] for rel, *_ in MANIFEST)
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), "total=%d" % len(MANIFEST))


if __name__ == "__main__":
    main()
