#!/usr/bin/python3
"""folders_test.py BINARY - checks that need a real folder: ONNX external data
through links (symlink, hard link, missing file), symbolic links out of the
model folder, and the Hugging Face cache layout whose snapshot files are links
into the repository's blobs/ folder. Prints ok/FAIL and "N passed, N failed".
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile

import onnx
from onnx import TensorProto, helper

BIN = os.path.abspath(sys.argv[1])
ROOT_CORPUS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "corpus")
passed = failed = 0


def check(name, cond, detail=""):
    global passed, failed
    if cond:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name, detail)


def scan(path):
    p = subprocess.run([BIN, "scan", "--format", "json", path], capture_output=True, timeout=120)
    return p.returncode, json.loads(p.stdout) if p.stdout else None


def threats(rep):
    return {(f["path"], x["threat"]) for f in rep["files"] for x in f["findings"]}


def onnx_with_external(folder, location):
    """A real ONNX model (written by python3-onnx) whose weight lives in `location`."""
    os.makedirs(folder, exist_ok=True)
    w = helper.make_tensor("w", TensorProto.FLOAT, [2], [0.0, 0.0])
    w.data_location = TensorProto.EXTERNAL
    w.ClearField("float_data")
    for k, v in (("location", location), ("offset", "0"), ("length", "8")):
        e = w.external_data.add()
        e.key, e.value = k, v
    node = helper.make_node("Add", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])], [w])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    with open(os.path.join(folder, "model.onnx"), "wb") as f:
        f.write(model.SerializeToString())


def main():
    tmp = tempfile.mkdtemp(prefix="mg-folders-")
    try:
        outside = os.path.join(tmp, "secret.bin")
        with open(outside, "wb") as f:
            f.write(b"\x00" * 8)
        good = os.path.join(tmp, "good")
        onnx_with_external(good, "weights.bin")
        with open(os.path.join(good, "weights.bin"), "wb") as f:
            f.write(b"\x00" * 8)
        rc, rep = scan(good)
        check("onnx: external data inside the folder passes", rc == 0 and not threats(rep), rep and threats(rep))

        link = os.path.join(tmp, "link")
        onnx_with_external(link, "weights.bin")
        os.symlink(outside, os.path.join(link, "weights.bin"))
        rc, rep = scan(link)
        check("onnx: external data that is a symlink out of the folder is MG-ONNX-401",
              rc == 1 and ("model.onnx", "MG-ONNX-401") in threats(rep), rep and threats(rep))
        check("onnx: the link itself is reported as leaving the folder",
              ("weights.bin", "MG-HF-401") in threats(rep), rep and threats(rep))

        hard = os.path.join(tmp, "hard")
        onnx_with_external(hard, "weights.bin")
        os.link(outside, os.path.join(hard, "weights.bin"))
        rc, rep = scan(hard)
        check("onnx: external data with a second hard link is MG-ONNX-401",
              rc == 1 and ("model.onnx", "MG-ONNX-401") in threats(rep), rep and threats(rep))

        missing = os.path.join(tmp, "missing")
        onnx_with_external(missing, "weights.bin")
        rc, rep = scan(missing)
        check("onnx: missing external data is MG-ONNX-400", rc == 1 and ("model.onnx", "MG-ONNX-400") in threats(rep),
              rep and threats(rep))

        # a Hugging Face cache: snapshots/<rev>/file -> ../../blobs/<hash>
        repo = os.path.join(tmp, "hub", "models--acme--tiny")
        blobs = os.path.join(repo, "blobs")
        snap = os.path.join(repo, "snapshots", "0123abcd")
        os.makedirs(blobs)
        os.makedirs(snap)
        with open(os.path.join(blobs, "aaaa"), "w") as f:
            f.write('{"model_type": "llama"}\n')
        os.symlink("../../blobs/aaaa", os.path.join(snap, "config.json"))
        rc, rep = scan(snap)
        check("hf cache: snapshot links into blobs/ are followed, not reported",
              rc == 0 and not threats(rep) and rep["files"][0]["status"] == "SCANNED", rep and threats(rep))
        os.symlink(outside, os.path.join(snap, "evil.bin"))
        rc, rep = scan(snap)
        check("hf cache: a link elsewhere is still MG-HF-401", rc == 1 and ("evil.bin", "MG-HF-401") in threats(rep),
              rep and threats(rep))
        rc, rep = scan(os.path.join(snap, "config.json"))
        check("a linked file named directly is scanned (links are the caller's choice)",
              rep and rep["files"][0]["status"] == "SCANNED", rep)
        # a zip with two zip64 end records: the locator points at one (PyTorch's reader), the
        # record right before the locator is the other (Python's zipfile)
        ck = os.path.join(ROOT_CORPUS, "containers", "benign", "torch_linear_state_dict.pt")
        data = open(ck, "rb").read()
        loc = data.rfind(b"PK\x06\x07")
        rec = data.rfind(b"PK\x06\x06", 0, loc)
        check("fixture: the checkpoint has zip64 end records", loc > 0 and rec > 0 and rec + 56 == loc)
        real = data[rec:loc]
        moved = data[:rec] + real + real + data[loc:]  # the locator still says `rec`
        two = os.path.join(tmp, "two_end_records.pt")
        with open(two, "wb") as f:
            f.write(moved)
        rc, rep = scan(two)
        check("zip64: two end records are a parser differential (MG-ARV-401)",
              rc == 1 and (two, "MG-ARV-401") in threats(rep), rep and threats(rep))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
