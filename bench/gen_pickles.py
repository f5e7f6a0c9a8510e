#!/usr/bin/python3
"""Generates the pickle benchmark inputs (run with Debian's /usr/bin/python3).

    /usr/bin/python3 bench/gen_pickles.py [OUTDIR]      (default: build/bench)
    /usr/bin/python3 bench/gen_pickles.py --profile [OUTDIR]
                      the same shapes ~10x smaller, for valgrind (default:
                      build/bench/profile; used by bench/profile.sh)

Inputs (each skipped when it already exists; written to a temporary name and
renamed, so an interrupted run never leaves a partial input behind):

  large_blob.pkl      1 GiB of payload: 32 byte strings of 16 MiB and 32 numpy
                      arrays of 16 MiB (float32/float16/int64/uint8), protocol 5
  many_dicts.pkl      a list of ~4.7 M dicts {'id', 'name', 'score', 'tags'},
                      ~200 MiB, protocol 4
  sklearn_rf.pkl      a fitted sklearn RandomForestClassifier (23 fully grown
                      trees, 100k samples x 8 features, 10 classes), ~198 MiB,
                      protocol 5
  small/              10,000 small pickles (0.2-1 KiB), protocols 2-5
  inputs.json         what was generated: sizes, counts, how

Everything is deterministic (fixed seeds, fixed counts). Only benign objects
are written, with pickle.dump/pickle.dumps; nothing is ever loaded.
"""
import json
import os
import pickle
import sys
import time

import numpy as np

MiB = 1 << 20
GiB = 1 << 30

LARGE_PIECE = 16 * MiB
LARGE_PIECES = 64  # 32 byte strings + 32 arrays = 1 GiB of payload
DICTS_TARGET = 200 * MiB
RF_TREES = 23
RF_SAMPLES = 100_000
SMALL_FILES = 10_000


def log(msg):
    print(f"gen_pickles: {msg}", file=sys.stderr, flush=True)


def write_atomic(path, write):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        write(f)
    os.replace(tmp, path)


def gen_large_blob(path, piece=LARGE_PIECE, pieces=LARGE_PIECES):
    rng = np.random.default_rng(20261125)
    dtypes = [np.float32, np.float16, np.int64, np.uint8]
    blobs, tensors = [], {}
    for i in range(pieces // 2):
        blobs.append(rng.bytes(piece))
        dt = np.dtype(dtypes[i % len(dtypes)])
        n = piece // dt.itemsize
        if dt.kind == "f":
            a = rng.standard_normal(n, dtype=np.float32).astype(dt, copy=False)
        else:
            a = rng.integers(0, np.iinfo(dt).max, size=n, dtype=dt)
        tensors[f"layer{i}.weight"] = a.reshape(1024, n // 1024)
    obj = {"format": "modelgate-bench-large-blob", "version": 1, "tensors": tensors, "blobs": blobs}
    write_atomic(path, lambda f: pickle.dump(obj, f, protocol=5))
    return {
        "what": f"dict of {pieces // 2} numpy arrays ({piece // MiB} MiB each, float32/float16/int64/uint8, "
        "in-band BYTEARRAY8 via numpy.core.numeric._frombuffer) and "
        f"{pieces // 2} bytes objects ({piece // MiB} MiB each, BINBYTES)",
        "protocol": 5,
        "payload_bytes": pieces * piece,
    }


def dict_records(n):
    return [{"id": i, "name": f"user{i}", "score": i * 0.5, "tags": ["a", "b"]} for i in range(n)]


def gen_many_dicts(path, target=DICTS_TARGET):
    # size per record from a sample, then the count that makes ~200 MiB
    sample = 100_000
    per = len(pickle.dumps(dict_records(sample), protocol=4)) / sample
    n = int(target / per)
    # names grow longer with i: correct the count once from the real size
    n = int(n * target / len(pickle.dumps(dict_records(n), protocol=4)))
    recs = dict_records(n)
    write_atomic(path, lambda f: pickle.dump(recs, f, protocol=4))
    return {
        "what": "list of dicts {'id': i, 'name': f'user{i}', 'score': i*0.5, 'tags': ['a','b']}",
        "protocol": 4,
        "records": n,
        "approx_opcodes": approx_opcodes_per_record() * n,
    }


def approx_opcodes_per_record():
    import pickletools  # parses only; nothing is loaded

    k = 1000
    a = sum(1 for _ in pickletools.genops(pickle.dumps(dict_records(k), protocol=4)))
    b = sum(1 for _ in pickletools.genops(pickle.dumps(dict_records(2 * k), protocol=4)))
    return round((b - a) / k)


def gen_sklearn_rf(path, trees=RF_TREES):
    from sklearn.datasets import make_classification
    from sklearn.ensemble import RandomForestClassifier

    X, y = make_classification(
        n_samples=RF_SAMPLES, n_features=8, n_informative=8, n_redundant=0, n_classes=10,
        flip_y=0.3, random_state=0)
    t = time.time()
    rf = RandomForestClassifier(n_estimators=trees, random_state=0, n_jobs=2).fit(X, y)
    fit_s = time.time() - t
    write_atomic(path, lambda f: pickle.dump(rf, f, protocol=5))
    import sklearn

    return {
        "what": f"sklearn {sklearn.__version__} RandomForestClassifier(n_estimators={trees}, "
        f"random_state=0) fitted on make_classification(n_samples={RF_SAMPLES}, n_features=8, "
        "n_classes=10, flip_y=0.3, random_state=0); fully grown trees",
        "protocol": 5,
        "nodes": int(sum(e.tree_.node_count for e in rf.estimators_)),
        "fit_seconds": round(fit_s, 1),
    }


def small_object(i):
    kind = i % 4
    if kind == 0:
        return {"id": i, "name": f"item{i}", "score": i * 0.25, "tags": ["x", "y", "z"][: 1 + i % 3]}
    if kind == 1:
        return {"layer": f"block{i % 12}.attn", "shape": (i % 7 + 1, 3),
                "weights": np.arange(16 + i % 48, dtype=np.float32) * 0.5}
    if kind == 2:
        return [(j, f"tok{j}", j / 7.0) for j in range(i % 20 + 5)]
    return {"config": {"lr": 1e-3 * (1 + i % 5), "epochs": i % 50, "optimizer": "adam",
                       "betas": (0.9, 0.999)}, "vocab": {f"w{j}": j for j in range(i % 30)},
            "bias": np.full(8, i, dtype=np.int64)}


def gen_small(dirpath, files=SMALL_FILES):
    tmp = dirpath + ".tmp"
    if os.path.isdir(tmp):
        for name in os.listdir(tmp):
            os.unlink(os.path.join(tmp, name))
    else:
        os.makedirs(tmp)
    total = 0
    for i in range(files):
        data = pickle.dumps(small_object(i), protocol=2 + i % 4)
        total += len(data)
        with open(os.path.join(tmp, f"p{i:05d}.pkl"), "wb") as f:
            f.write(data)
    os.replace(tmp, dirpath)
    return {"what": f"{files:,} small pickles: dicts, lists of tuples, small numpy arrays; protocols 2-5",
            "files": files, "total_bytes": total}


FULL = [
    ("large_blob.pkl", gen_large_blob),
    ("many_dicts.pkl", gen_many_dicts),
    ("sklearn_rf.pkl", gen_sklearn_rf),
    ("small", gen_small),
]

# --profile: the same shapes, ~10x smaller, for valgrind (bench/profile.sh)
PROFILE = [
    ("large_blob.pkl", lambda p: gen_large_blob(p, piece=4 * MiB, pieces=16)),
    ("many_dicts.pkl", lambda p: gen_many_dicts(p, target=20 * MiB)),
    ("sklearn_rf.pkl", lambda p: gen_sklearn_rf(p, trees=3)),
    ("small", lambda p: gen_small(p, files=1000)),
]


def main():
    args = [a for a in sys.argv[1:] if a != "--profile"]
    profile = "--profile" in sys.argv[1:]
    out = args[0] if args else ("build/bench/profile" if profile else "build/bench")
    os.makedirs(out, exist_ok=True)
    info_path = os.path.join(out, "inputs.json")
    info = {}
    if os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
    jobs = PROFILE if profile else FULL
    for name, fn in jobs:
        path = os.path.join(out, name)
        if os.path.exists(path) and name in info:
            continue
        if os.path.exists(path):
            log(f"{name} exists (no record of how it was made; kept)")
            continue
        log(f"generating {path} ...")
        t = time.time()
        rec = fn(path)
        rec["generated_in_s"] = round(time.time() - t, 1)
        if os.path.isfile(path):
            rec["bytes"] = os.path.getsize(path)
        info[name] = rec
        with open(info_path + ".tmp", "w") as f:
            json.dump(info, f, indent=2)
        os.replace(info_path + ".tmp", info_path)
        log(f"{name}: done in {rec['generated_in_s']} s")


if __name__ == "__main__":
    main()
