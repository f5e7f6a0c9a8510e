#!/usr/bin/python3
"""Generate modelgate's TensorFlow (SavedModel / GraphDef) test corpus.

Usage:  /usr/bin/python3 tests/corpus/make_tf_fixtures.py OUTDIR

Writes OUTDIR/benign/, OUTDIR/malicious/, OUTDIR/malformed/ and the manifest
OUTDIR/expected.tsv (relpath, ALLOWED|BLOCKED, threat ids or -, what it tests).

TensorFlow is not packaged by Debian, so the models are written with the
small protobuf writer below, field by field from TensorFlow's .proto files
(saved_model.proto, meta_graph.proto, graph.proto, node_def.proto,
function.proto, attr_value.proto, saver.proto), and shaped like real exports:
tf.saved_model.save output (a serving signature calling a traced function
through StatefulPartitionedCall, a saver whose save/restore nodes call the
traced __inference__traced_save/_restore functions holding SaveV2, RestoreV2
and MergeV2Checkpoints), a TF1 SavedModel with its `save/` saver scope and a
vocabulary asset, and a frozen GraphDef. Nothing is ever loaded.
Output is deterministic.
"""

import struct

from fixturelib import emit, key, run, varint
from fixturelib import f_bytes as fb
from fixturelib import f_varint as fv


def ff32(num, x):
    return key(num, 5) + struct.pack("<f", x)


# ---- TensorFlow messages ----
DT_FLOAT, DT_INT32, DT_STRING, DT_BOOL, DT_RESOURCE = 1, 3, 7, 10, 20


def shape(*dims):  # TensorShapeProto {2 dim {1 size}}
    return b"".join(fb(2, fv(1, d)) for d in dims)


def attr(k, value):  # map<string, AttrValue> entry
    return fb(5, fb(1, k) + fb(2, value))


def a_type(t):
    return fv(6, t)


def a_shape(*dims):
    return fb(7, shape(*dims))


def a_s(s):
    return fb(2, s)


def a_func(name):
    return fb(10, fb(1, name))


def a_types(*ts):
    return fb(1, b"".join(fv(6, t) for t in ts))


def tensor_str(*vals):  # TensorProto {1 dtype, 2 shape, 8 string_val}
    return fb(8, fv(1, DT_STRING) + fb(2, shape(len(vals)) if len(vals) != 1 else b"") +
              b"".join(fb(8, v) for v in vals))


def tensor_float(n, seed):
    data = struct.pack("<%df" % n, *[((i * 37 + seed) % 17) / 17.0 for i in range(n)])
    return fb(8, fv(1, DT_FLOAT) + fb(2, shape(n)) + fb(4, data))  # tensor_content


def node(name, op, inputs=(), attrs=b""):
    return fb(1, name) + fb(2, op) + b"".join(fb(3, i) for i in inputs) + attrs


def graph_node(*args, **kw):
    return fb(1, node(*args, **kw))


def function(name, inputs, outputs, nodes, ret=()):
    sig = fb(1, name) + b"".join(fb(2, fb(1, i) + fv(2, DT_FLOAT)) for i in inputs) + \
        b"".join(fb(3, fb(1, o) + fv(2, DT_FLOAT)) for o in outputs)
    body = fb(1, sig) + b"".join(fb(3, n) for n in nodes)
    body += b"".join(fb(4, fb(1, k) + fb(2, v)) for k, v in ret)
    return fb(1, body)


def library(*functions):
    return fb(2, b"".join(functions))


VERSIONS = fb(4, fv(1, 1645) + fv(2, 12))


def saved_model(graph, saver=b"", assets=b"", tf_version="2.15.0"):
    info = fb(1, fb(4, "serve") + fb(5, tf_version) + fb(6, "v" + tf_version + "-rc1-8-g6887368d6d4"))
    sig = fb(5, fb(1, "serving_default") +
             fb(2, fb(1, fb(1, "x") + fb(2, fb(1, "serving_default_x:0") + fv(2, DT_FLOAT))) +
                fb(2, fb(1, "output_0") + fb(2, fb(1, "StatefulPartitionedCall:0") + fv(2, DT_FLOAT))) +
                fb(3, "tensorflow/serving/predict")))
    objects = fb(7, fb(1, fb(1, fb(1, "0") + fb(2, "signatures"))))
    meta = info + fb(2, graph) + (fb(3, saver) if saver else b"") + sig + assets + objects
    return fv(1, 1) + fb(2, meta)


def saver_def(filename, save, restore):
    return fb(1, filename) + fb(2, save) + fb(3, restore) + fv(4, 5) + fv(5, 1) + ff32(6, 10000.0) + fv(7, 2)


# ---- TF2: tf.saved_model.save of a Dense layer ----

def serving_fn(extra=()):
    return function("__inference_serving_default_110", ["x", "readvariableop_resource", "biasadd_resource"],
                    ["identity"], [
                        node("dense/MatMul/ReadVariableOp", "ReadVariableOp", ["readvariableop_resource"],
                             attr("dtype", a_type(DT_FLOAT))),
                        node("dense/MatMul", "MatMul", ["x", "dense/MatMul/ReadVariableOp:value:0"],
                             attr("T", a_type(DT_FLOAT))),
                        node("dense/BiasAdd/ReadVariableOp", "ReadVariableOp", ["biasadd_resource"],
                             attr("dtype", a_type(DT_FLOAT))),
                        node("dense/BiasAdd", "BiasAdd", ["dense/MatMul:product:0",
                                                          "dense/BiasAdd/ReadVariableOp:value:0"],
                             attr("T", a_type(DT_FLOAT))),
                        node("dense/Relu", "Relu", ["dense/BiasAdd:output:0"], attr("T", a_type(DT_FLOAT))),
                        node("Identity", "Identity", ["dense/Relu:activations:0"], attr("T", a_type(DT_FLOAT))),
                    ] + list(extra), ret=[("identity", "Identity:output:0")])


def wrapper_fn():
    return function("__inference_signature_wrapper_123", ["x", "unknown", "unknown_0"], ["identity"], [
        node("StatefulPartitionedCall", "StatefulPartitionedCall", ["x", "unknown", "unknown_0"],
             attr("f", a_func("__inference_serving_default_110")) + attr("Tin", a_types(DT_FLOAT, DT_RESOURCE,
                                                                                        DT_RESOURCE))),
        node("Identity", "Identity", ["StatefulPartitionedCall:output:0"], attr("T", a_type(DT_FLOAT))),
    ], ret=[("identity", "Identity:output:0")])


def traced_save_fn(extra=()):
    return function("__inference__traced_save_200", ["file_prefix", "savev2_dense_kernel", "savev2_dense_bias",
                                                      "savev2_const"], ["identity_1"], [
        node("StaticRegexFullMatch", "StaticRegexFullMatch", ["file_prefix"], attr("pattern", a_s("^s3://.*"))),
        node("Const", "Const", [], attr("dtype", a_type(DT_STRING)) + attr("value", tensor_str(".part"))),
        node("Const_1", "Const", [], attr("dtype", a_type(DT_STRING)) + attr("value", tensor_str("_temp/part"))),
        node("Select", "Select", ["StaticRegexFullMatch:output:0", "Const:output:0", "Const_1:output:0"]),
        node("StringJoin", "StringJoin", ["file_prefix", "Select:output:0"]),
        node("num_shards", "Const", [], attr("dtype", a_type(DT_INT32))),
        node("ShardedFilename/shard", "Const", [], attr("dtype", a_type(DT_INT32))),
        node("ShardedFilename", "ShardedFilename", ["StringJoin:output:0", "ShardedFilename/shard:output:0",
                                                    "num_shards:output:0"]),
        node("SaveV2/tensor_names", "Const", [], attr("value", tensor_str("dense/kernel", "dense/bias"))),
        node("SaveV2/shape_and_slices", "Const", [], attr("value", tensor_str("", ""))),
        node("SaveV2", "SaveV2", ["ShardedFilename:filename:0", "SaveV2/tensor_names:output:0",
                                  "SaveV2/shape_and_slices:output:0", "savev2_dense_kernel",
                                  "savev2_dense_bias"], attr("dtypes", a_types(DT_FLOAT, DT_FLOAT))),
        node("MergeV2Checkpoints/checkpoint_prefixes", "Pack", ["ShardedFilename:filename:0", "^SaveV2"]),
        node("MergeV2Checkpoints", "MergeV2Checkpoints", ["MergeV2Checkpoints/checkpoint_prefixes:output:0",
                                                          "file_prefix"]),
        node("Identity", "Identity", ["file_prefix", "^MergeV2Checkpoints"]),
        node("Identity_1", "Identity", ["Identity:output:0"]),
        node("NoOp", "NoOp", ["^MergeV2Checkpoints"]),
    ] + list(extra), ret=[("identity_1", "Identity_1:output:0")])


def traced_restore_fn(extra=()):
    return function("__inference__traced_restore_230", ["file_prefix", "assignvariableop_dense_kernel",
                                                         "assignvariableop_1_dense_bias"], ["identity_3"], [
        node("RestoreV2/tensor_names", "Const", [], attr("value", tensor_str("dense/kernel", "dense/bias"))),
        node("RestoreV2/shape_and_slices", "Const", [], attr("value", tensor_str("", ""))),
        node("RestoreV2", "RestoreV2", ["file_prefix", "RestoreV2/tensor_names:output:0",
                                        "RestoreV2/shape_and_slices:output:0"],
             attr("dtypes", a_types(DT_FLOAT, DT_FLOAT))),
        node("Identity", "Identity", ["RestoreV2:tensors:0"]),
        node("AssignVariableOp", "AssignVariableOp", ["assignvariableop_dense_kernel", "Identity:output:0"]),
        node("Identity_1", "Identity", ["RestoreV2:tensors:1"]),
        node("AssignVariableOp_1", "AssignVariableOp", ["assignvariableop_1_dense_bias", "Identity_1:output:0"]),
        node("NoOp_1", "NoOp", ["^AssignVariableOp", "^AssignVariableOp_1"]),
        node("Identity_2", "Identity", ["file_prefix", "^NoOp_1"]),
        node("Identity_3", "Identity", ["Identity_2:output:0"]),
    ] + list(extra), ret=[("identity_3", "Identity_3:output:0")])


def initializer_fn(filename_input="asset_path_placeholder", extra=()):
    return function("__inference__initializer_300", ["asset_path_placeholder", "hash_table_handle"], [], [
        node("InitializeTableFromTextFileV2", "InitializeTableFromTextFileV2",
             ["hash_table_handle", filename_input], attr("key_index", fv(3, (1 << 64) - 2)) +
             attr("value_index", fv(3, (1 << 64) - 1))),
    ] + list(extra))


def tf2_graph(serving=None, save=None, restore=None, init=None, extra_nodes=(), extra_fns=()):
    nodes = [
        graph_node("serving_default_x", "Placeholder", attrs=attr("dtype", a_type(DT_FLOAT)) + attr("shape",
                                                                                                    a_shape(1, 8))),
        graph_node("saver_filename", "Placeholder", attrs=attr("dtype", a_type(DT_STRING))),
        graph_node("dense/kernel", "VarHandleOp", attrs=attr("dtype", a_type(DT_FLOAT)) +
                   attr("shape", a_shape(8, 4)) + attr("shared_name", a_s("dense/kernel"))),
        graph_node("dense/bias", "VarHandleOp", attrs=attr("dtype", a_type(DT_FLOAT)) + attr("shape", a_shape(4)) +
                   attr("shared_name", a_s("dense/bias"))),
        graph_node("hash_table", "HashTableV2", attrs=attr("key_dtype", a_type(DT_STRING))),
        graph_node("Const", "Const", attrs=attr("dtype", a_type(DT_STRING)) + attr("value", tensor_str("vocab"))),
        graph_node("StatefulPartitionedCall", "StatefulPartitionedCall", ["serving_default_x", "dense/kernel",
                                                                         "dense/bias"],
                   attrs=attr("f", a_func("__inference_signature_wrapper_123"))),
        graph_node("StatefulPartitionedCall_1", "StatefulPartitionedCall", ["saver_filename", "dense/kernel",
                                                                           "dense/bias", "Const"],
                   attrs=attr("f", a_func("__inference__traced_save_200"))),
        graph_node("StatefulPartitionedCall_2", "StatefulPartitionedCall", ["saver_filename", "dense/kernel",
                                                                           "dense/bias"],
                   attrs=attr("f", a_func("__inference__traced_restore_230"))),
    ] + [graph_node(*n[:3], attrs=n[3] if len(n) > 3 else b"") for n in extra_nodes]
    lib = library(wrapper_fn(), serving or serving_fn(), save or traced_save_fn(), restore or traced_restore_fn(),
                  init or initializer_fn(), *extra_fns)
    return b"".join(nodes) + lib + VERSIONS


TF2_SAVER = saver_def("saver_filename:0", "StatefulPartitionedCall_1:0", "StatefulPartitionedCall_2")


def tf2(**kw):
    return saved_model(tf2_graph(**kw), TF2_SAVER)


# ---- TF1: SavedModelBuilder with a `save/` scope and a vocabulary asset ----

def tf1_graph(extra=()):
    nodes = [
        node("x", "Placeholder", attrs=attr("dtype", a_type(DT_FLOAT))),
        node("w", "VariableV2", attrs=attr("dtype", a_type(DT_FLOAT)) + attr("shape", a_shape(8, 4))),
        node("w/read", "Identity", ["w"]),
        node("MatMul", "MatMul", ["x", "w/read"]),
        node("hash_table", "HashTableV2"),
        node("Const_1", "Const", attrs=attr("value", tensor_str("/tmp/export/assets/vocab.txt"))),
        node("hash_table/table_init", "InitializeTableFromTextFileV2", ["hash_table", "Const_1"]),
        node("save/filename/input", "Const", attrs=attr("value", tensor_str("model"))),
        node("save/filename", "PlaceholderWithDefault", ["save/filename/input"]),
        node("save/Const", "PlaceholderWithDefault", ["save/filename"]),
        node("save/SaveV2/tensor_names", "Const", attrs=attr("value", tensor_str("w"))),
        node("save/SaveV2/shape_and_slices", "Const", attrs=attr("value", tensor_str(""))),
        node("save/SaveV2", "SaveV2", ["save/Const", "save/SaveV2/tensor_names", "save/SaveV2/shape_and_slices",
                                       "w"]),
        node("save/control_dependency", "Identity", ["save/Const", "^save/SaveV2"]),
        node("save/RestoreV2/tensor_names", "Const", attrs=attr("value", tensor_str("w"))),
        node("save/RestoreV2/shape_and_slices", "Const", attrs=attr("value", tensor_str(""))),
        node("save/RestoreV2", "RestoreV2", ["save/Const", "save/RestoreV2/tensor_names",
                                             "save/RestoreV2/shape_and_slices"]),
        node("save/Assign", "Assign", ["w", "save/RestoreV2"]),
        node("save/restore_all", "NoOp", ["^save/Assign"]),
    ] + list(extra)
    return b"".join(fb(1, n) for n in nodes) + VERSIONS


TF1_SAVER = saver_def("save/Const:0", "save/control_dependency:0", "save/restore_all")
TF1_ASSET = fb(6, fb(1, fb(1, "Const_1:0") + fv(2, DT_STRING)) + fb(2, "vocab.txt"))


def tf1(extra=(), assets=TF1_ASSET):
    return saved_model(tf1_graph(extra), TF1_SAVER, assets, tf_version="1.15.5")


# ---- frozen GraphDef ----

def frozen(extra=()):
    nodes = [
        node("input", "Placeholder", attrs=attr("dtype", a_type(DT_FLOAT)) + attr("shape", a_shape(1, 8))),
        node("dense/kernel", "Const", attrs=attr("dtype", a_type(DT_FLOAT)) + attr("value", tensor_float(32, 1))),
        node("dense/bias", "Const", attrs=attr("dtype", a_type(DT_FLOAT)) + attr("value", tensor_float(4, 2))),
        node("dense/MatMul", "MatMul", ["input", "dense/kernel"], attr("T", a_type(DT_FLOAT))),
        node("dense/BiasAdd", "BiasAdd", ["dense/MatMul", "dense/bias"], attr("T", a_type(DT_FLOAT))),
        node("dense/Relu", "Relu", ["dense/BiasAdd"], attr("T", a_type(DT_FLOAT))),
        node("output", "Softmax", ["dense/Relu"], attr("T", a_type(DT_FLOAT))),
    ] + list(extra)
    return b"".join(fb(1, n) for n in nodes) + VERSIONS


# ---- fixtures ----

def benign():
    emit("benign/tf2_saved_model.pb", tf2(), "ALLOWED", "-",
         "TF2 SavedModel: serving function (MatMul/BiasAdd/Relu) via StatefulPartitionedCall, saver functions "
         "with SaveV2/RestoreV2/MergeV2Checkpoints, vocabulary initialiser fed by a function argument (asset)")
    emit("benign/tf1_saved_model.pb", tf1(), "ALLOWED", "-",
         "TF1 SavedModel: SaveV2/RestoreV2 under the `save/` saver scope, vocabulary file from asset_file_def")
    emit("benign/tf_frozen_graph.pb", frozen(), "ALLOWED", "-", "frozen GraphDef with Const weights")
    # If/While bodies are functions: reached through `then_branch`/`body` attributes
    cond = function("cond_true_10", ["a"], ["b"], [node("Relu", "Relu", ["a"])])
    loop = function("while_body_20", ["a"], ["b"], [node("AddV2", "AddV2", ["a", "a"])])
    extra = [("If", "StatelessIf", ["serving_default_x", "serving_default_x"],
              attr("then_branch", a_func("cond_true_10")) + attr("else_branch", a_func("cond_true_10"))),
             ("While", "StatelessWhile", ["serving_default_x"], attr("body", a_func("while_body_20")) +
              attr("cond", a_func("cond_true_10")))]
    emit("benign/tf2_control_flow.pb", tf2(extra_nodes=extra, extra_fns=[cond, loop]), "ALLOWED", "-",
         "StatelessIf/StatelessWhile whose branches are library functions")


def malicious():
    readfile = [node("path", "Const", attrs=attr("value", tensor_str("/etc/passwd"))),
                node("ReadFile", "ReadFile", ["path:output:0"])]
    emit("malicious/tf2_readfile_in_serving.pb", tf2(serving=serving_fn(readfile)), "BLOCKED", "MG-TF-300",
         "ReadFile of /etc/passwd inside the serving function")

    emit("malicious/tf_frozen_writefile.pb", frozen([node("path", "Const", attrs=attr("value", tensor_str(
        "/home/user/.bashrc"))), node("WriteFile", "WriteFile", ["path", "output"])]), "BLOCKED", "MG-TF-300",
        "WriteFile in a frozen GraphDef")

    save_in_serving = [node("prefix", "Const", attrs=attr("value", tensor_str("/tmp/exfil"))),
                       node("SaveV2", "SaveV2", ["prefix:output:0", "x", "x", "x"])]
    emit("malicious/tf2_savev2_in_serving.pb", tf2(serving=serving_fn(save_in_serving)), "BLOCKED", "MG-TF-300",
         "SaveV2 in the serving function, outside the saver")

    evil_restore = [node("target", "Const", attrs=attr("value", tensor_str("/etc/cron.d/job"))),
                    node("WriteFile", "WriteFile", ["target:output:0", "file_prefix"])]
    emit("malicious/tf2_writefile_in_restore.pb", tf2(restore=traced_restore_fn(evil_restore)), "BLOCKED",
         "MG-TF-300", "WriteFile smuggled into the traced restore function (file ops are never the saver's)")

    write_in_restore = [node("SaveV2", "SaveV2", ["file_prefix", "RestoreV2/tensor_names:output:0",
                                                  "RestoreV2/shape_and_slices:output:0", "Identity:output:0"])]
    emit("malicious/tf2_savev2_in_restore.pb", tf2(restore=traced_restore_fn(write_in_restore)), "BLOCKED",
         "MG-TF-300", "SaveV2 inside the traced restore function: a checkpoint write that runs at load time")

    # a function with SaveV2 called by the saver and by the serving function
    shared = function("__inference_shared_400", ["p"], [], [node("SaveV2", "SaveV2", ["p", "p", "p", "p"])])
    serving = serving_fn([node("call", "StatefulPartitionedCall", ["x"], attr("f", a_func("__inference_shared_400")))])
    save = traced_save_fn([node("call", "StatefulPartitionedCall", ["file_prefix"],
                                attr("f", a_func("__inference_shared_400")))])
    emit("malicious/tf2_saver_fn_shared.pb", tf2(serving=serving, save=save, extra_fns=[shared]), "BLOCKED",
         "MG-TF-300", "a SaveV2 function reached from the saver and from the serving signature")

    emit("malicious/tf1_writefile_in_save_scope.pb",
         tf1([node("save/evil", "WriteFile", ["save/Const", "x"])]), "BLOCKED", "MG-TF-300",
         "WriteFile named inside the TF1 `save/` scope")
    emit("malicious/tf1_savev2_outside_scope.pb",
         tf1([node("exfil/SaveV2", "SaveV2", ["save/Const", "save/SaveV2/tensor_names",
                                              "save/SaveV2/shape_and_slices", "w"])]), "BLOCKED", "MG-TF-300",
         "SaveV2 outside the TF1 saver scope")
    emit("malicious/tf1_vocab_not_asset.pb", tf1(assets=b""), "BLOCKED", "MG-TF-300",
         "InitializeTableFromTextFileV2 reads a literal path that is not a registered asset")

    emit("malicious/tf_frozen_pyfunc.pb", frozen([node("py", "PyFunc", ["output"], attr("token", a_s("pyfunc_0")))]),
         "BLOCKED", "MG-TF-301", "PyFunc in a frozen GraphDef")
    emit("malicious/tf2_eagerpyfunc_in_fn.pb",
         tf2(serving=serving_fn([node("cb", "EagerPyFunc", ["x"], attr("token", a_s("pyfunc_3")))])),
         "BLOCKED", "MG-TF-301", "EagerPyFunc inside the serving function")

    emit("malicious/tf_frozen_custom_op.pb", frozen([node("k", "Addons>ImageProjectiveTransformV2", ["output"])]),
         "BLOCKED", "MG-TF-302", "a custom op (TF Addons) outside TensorFlow's public op set (MEDIUM, blocking)")

    lit = [node("vocab_path", "Const", attrs=attr("value", tensor_str("/etc/passwd")))]
    emit("malicious/tf2_vocab_literal_path.pb", tf2(init=initializer_fn("vocab_path:output:0", lit)), "BLOCKED",
         "MG-TF-300", "vocabulary initialiser reading a literal /etc/passwd instead of its asset argument")

    emit("malicious/tf_frozen_printv2_file.pb",
         frozen([node("p", "PrintV2", ["output"], attr("output_stream", a_s("file:///tmp/leak.txt")))]),
         "BLOCKED", "MG-TF-300", "PrintV2 with output_stream file://")

    body = function("while_body_20", ["a"], ["b"], [node("m", "MatchingFiles", ["a"])])
    extra = [("While", "While", ["serving_default_x"], attr("body", a_func("while_body_20")))]
    emit("malicious/tf2_matchingfiles_in_while.pb", tf2(extra_nodes=extra, extra_fns=[body]), "BLOCKED",
         "MG-TF-300", "MatchingFiles in a While body function")

    emit("malicious/tf_frozen_dataservice.pb",
         frozen([node("ds", "DataServiceDatasetV4", ["output"])]), "BLOCKED", "MG-TF-300",
         "tf.data service dataset contacting an address from the graph")


def malformed():
    good = tf2()
    emit("malformed/tf2_truncated.pb", good[: len(good) // 2], "BLOCKED", "MG-TF-400",
         "SavedModel cut in half")
    bad_node = fb(1, "n") + fb(2, "Relu") + key(5, 3) + b"\x00\x00"
    g = graph_node("x", "Placeholder") + fb(1, bad_node) + VERSIONS
    emit("malformed/tf2_group_in_node.pb", saved_model(g, TF2_SAVER), "BLOCKED", "MG-TF-400",
         "a NodeDef holding a group wire-type field")
    g = graph_node("x", "Placeholder") + fb(1, fb(1, "n") + key(2, 2) + b"\xff" * 10 + b"\x01") + VERSIONS
    emit("malformed/tf_frozen_bad_varint.pb", g, "BLOCKED", "MG-TF-400", "length varint of 11 bytes inside a NodeDef")
    g = graph_node("x", "Placeholder") + fb(1, fb(1, "no_op_here")) + VERSIONS
    emit("malformed/tf_frozen_no_op.pb", g, "BLOCKED", "MG-TF-400", "a NodeDef without an op")
    g = graph_node("x", "Placeholder") + key(1, 2) + varint(200) + node("y", "Relu")
    emit("malformed/tf_frozen_length_past_end.pb", g, "BLOCKED", "MG-TF-400", "NodeDef length past the end")


def main():
    run(__doc__, "generated by tests/corpus/make_tf_fixtures.py", benign, malicious, malformed)


if __name__ == "__main__":
    main()
