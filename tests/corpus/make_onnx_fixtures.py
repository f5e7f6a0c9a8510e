#!/usr/bin/python3
"""Generate modelgate's ONNX test corpus.

Usage:  /usr/bin/python3 tests/corpus/make_onnx_fixtures.py OUTDIR

Writes OUTDIR/benign/, OUTDIR/malicious/, OUTDIR/malformed/ and the manifest
OUTDIR/expected.tsv, one line per fixture:

    relative/path <TAB> ALLOWED|BLOCKED <TAB> threat,ids|- <TAB> what it tests

Benign models are built with Debian's python3-onnx (onnx.helper, then
SerializeToString); fixtures that need what onnx.helper cannot express (a
field written twice, broken wire bytes) are assembled with the small
protobuf writer below. Nothing is ever loaded: no onnx.load, no runtime.
Output is deterministic (protobuf serialisation is; no timestamps).
"""

import struct

import numpy as np
import onnx
from onnx import TensorProto, helper

from fixturelib import emit, f_bytes, f_varint, key, run, varint

# ---- helpers ----

def opset(version=17, *extra):
    return [helper.make_opsetid("", version)] + [helper.make_opsetid(d, v) for d, v in extra]


def model(graph, opsets=None, functions=None, ir=8):
    m = helper.make_model(graph, opset_imports=opsets or opset(), producer_name="modelgate-fixtures",
                          functions=functions or [])
    m.ir_version = ir
    return m


def ser(m):
    return m.SerializeToString()


def weight(name, shape, seed):
    rng = np.random.default_rng(seed)
    arr = rng.standard_normal(shape).astype(np.float32)
    return helper.make_tensor(name, TensorProto.FLOAT, shape, arr.tobytes(), raw=True)


def vi(name, shape, t=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, t, shape)


def mlp_graph(extra_nodes=(), extra_inits=(), name="mlp"):
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "w2"], ["y0"]),
    ] + list(extra_nodes)
    out = nodes[-1].output[0]
    inits = [weight("w1", [8, 16], 1), weight("b1", [16], 2), weight("w2", [16, 4], 3)] + list(extra_inits)
    return helper.make_graph(nodes, name, [vi("x", [1, 8])], [vi(out, [1, 4])], inits)


def bare_tensor(name, shape):
    t = TensorProto()
    t.name = name
    t.data_type = TensorProto.FLOAT
    t.dims.extend(shape)
    return t


def external_tensor(name, location, shape=(4,)):
    t = bare_tensor(name, list(shape))
    t.data_location = TensorProto.EXTERNAL
    for k, v in (("location", location), ("offset", "0"), ("length", str(4 * int(np.prod(shape))))):
        e = t.external_data.add()
        e.key, e.value = k, v
    return t


def ext_model(location, name="ext"):
    g = helper.make_graph([helper.make_node("Add", ["x", "wext"], ["y"])], name, [vi("x", [4])], [vi("y", [4])],
                          [external_tensor("wext", location)])
    return ser(model(g))


def if_graph(depth, leaf_node=None, leaf_inits=()):
    """A graph whose single If nests `depth` levels of If in its branches."""
    if depth == 0:
        node = leaf_node or helper.make_node("Identity", ["c"], ["out"])
        return helper.make_graph([node], "leaf", [], [vi("out", [1])], list(leaf_inits))
    inner = if_graph(depth - 1, leaf_node, leaf_inits)
    other = helper.make_graph([helper.make_node("Identity", ["c"], ["out"])], "else", [], [vi("out", [1])])
    node = helper.make_node("If", ["cond"], ["out"], then_branch=inner, else_branch=other)
    return helper.make_graph([node], "level%d" % depth, [], [vi("out", [1])])


def if_model(depth, leaf_node=None, leaf_inits=(), opsets=None):
    body = if_graph(depth, leaf_node, leaf_inits)
    g = helper.make_graph(list(body.node), "main", [vi("cond", [], TensorProto.BOOL), vi("c", [1])],
                          [vi("out", [1])])
    return ser(model(g, opsets))


def loop_model(body_node, opsets=None):
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]), body_node],
        "body", [vi("i", [], TensorProto.INT64), vi("cond_in", [], TensorProto.BOOL), vi("v_in", [1])],
        [vi("cond_out", [], TensorProto.BOOL), vi("v_out", [1])])
    node = helper.make_node("Loop", ["n", "c0", "v0"], ["v"], body=body)
    g = helper.make_graph([node], "loop", [vi("n", [], TensorProto.INT64), vi("c0", [], TensorProto.BOOL),
                                           vi("v0", [1])], [vi("v", [1])])
    return ser(model(g, opsets))


# ---- fixtures ----

def benign():
    emit("benign/onnx_mlp.onnx", ser(model(mlp_graph())), "ALLOWED", "-",
         "MatMul/Add/Relu MLP from onnx.helper, float initializers in raw_data")

    emit("benign/onnx_if_nested.onnx", if_model(10), "ALLOWED", "-",
         "If nested 10 levels deep in then_branch subgraphs (31 message levels, under the budget)")

    body = helper.make_node("Add", ["v_in", "v_in"], ["v_out"])
    emit("benign/onnx_loop.onnx", loop_model(body), "ALLOWED", "-", "Loop with a body graph in an attribute")

    fn = helper.make_function("local.fns", "Twice", ["a"], ["b"], [helper.make_node("Add", ["a", "a"], ["b"])],
                              opset_imports=[helper.make_opsetid("", 17)])
    g = helper.make_graph([helper.make_node("Twice", ["x"], ["y"], domain="local.fns")], "fn",
                          [vi("x", [4])], [vi("y", [4])])
    emit("benign/onnx_local_function.onnx", ser(model(g, opset(17, ("local.fns", 1)), [fn])), "ALLOWED", "-",
         "a node calls a function the model defines in its own domain")

    g = mlp_graph([helper.make_node("Gelu", ["y0"], ["y1"], domain="com.microsoft"),
                   helper.make_node("FusedMatMul", ["y1", "w3"], ["y2"], domain="com.microsoft")],
                  [weight("w3", [4, 4], 4)])
    emit("benign/onnx_ms_contrib.onnx", ser(model(g, opset(17, ("com.microsoft", 1)))), "ALLOWED", "-",
         "com.microsoft contrib ops (compiled into ONNX Runtime, no extra library)")

    g = helper.make_graph([helper.make_node("Add", ["x", "wext"], ["t"]),
                           helper.make_node("Add", ["t", "wext2"], ["y"])], "ext", [vi("x", [4])], [vi("y", [4])],
                          [external_tensor("wext", "weights.bin"), external_tensor("wext2", "data/./sub/../w2.bin")])
    emit("benign/onnx_external_ok.onnx", ser(model(g)), "ALLOWED", "-",
         "external data in the model folder: `weights.bin` and `data/./sub/../w2.bin` (stays inside)")

    g = helper.make_graph([helper.make_node("LinearClassifier", ["x"], ["label", "score"], domain="ai.onnx.ml",
                                            coefficients=[1.0, -1.0, 0.5, 0.5], classlabels_ints=[0, 1])],
                          "ml", [vi("x", [1, 2])],
                          [vi("label", [1], TensorProto.INT64), vi("score", [1, 2])])
    emit("benign/onnx_ml_domain.onnx", ser(model(g, opset(17, ("ai.onnx.ml", 3)))), "ALLOWED", "-",
         "ai.onnx.ml LinearClassifier")

    g = helper.make_graph([helper.make_node("Gelu", ["x"], ["t"]),
                           helper.make_node("GroupNormalization", ["t", "s", "b"], ["y"], num_groups=1)],
                          "new", [vi("x", [1, 2, 2]), vi("s", [2]), vi("b", [2])], [vi("y", [1, 2, 2])])
    emit("benign/onnx_new_ops.onnx", ser(model(g, opset(21))), "ALLOWED", "-",
         "operators newer than the installed onnx (Gelu opset 20, GroupNormalization opset 18)")

    sp = helper.make_sparse_tensor(helper.make_tensor("sv", TensorProto.FLOAT, [2], [1.0, 2.0]),
                                   helper.make_tensor("si", TensorProto.INT64, [2], [0, 3]), [4])
    g = helper.make_graph([helper.make_node("Add", ["x", "sv"], ["y"])], "sparse", [vi("x", [4])], [vi("y", [4])],
                          sparse_initializer=[sp])
    emit("benign/onnx_sparse_init.onnx", ser(model(g)), "ALLOWED", "-", "sparse initializer with inline data")

    int4 = bare_tensor("q", [5])
    int4.data_type = 22  # INT4: two elements per byte, 5 elements -> 3 bytes
    int4.raw_data = b"\x12\x34\x05"
    g = helper.make_graph([helper.make_node("Identity", ["q"], ["y"])], "int4", [], [vi("y", [5], 22)], [int4])
    emit("benign/onnx_int4_raw.onnx", ser(model(g, opset(21), ir=10)), "ALLOWED", "-",
         "INT4 raw_data packed two per byte (5 elements in 3 bytes)")

    # a Constant node whose value tensor is inline, inside an If branch
    const = helper.make_node("Constant", [], ["out"], value=helper.make_tensor("cv", TensorProto.FLOAT, [1], [1.0]))
    emit("benign/onnx_constant_in_branch.onnx", if_model(2, const), "ALLOWED", "-",
         "Constant with an inline tensor attribute inside nested If branches")


def malicious():
    g = mlp_graph([helper.make_node("Exec", ["y0"], ["y1"], domain="evil.ops")])
    emit("malicious/onnx_custom_domain.onnx", ser(model(g, opset(17, ("evil.ops", 1)))), "BLOCKED", "MG-ONNX-300",
         "operator from custom domain evil.ops: a native custom-op library must be loaded")

    emit("malicious/onnx_custom_in_loop.onnx",
         loop_model(helper.make_node("Exec", ["v_in"], ["v_out"], domain="evil.ops"), opset(17, ("evil.ops", 1))),
         "BLOCKED", "MG-ONNX-300", "custom-domain op hidden in a Loop body graph")

    emit("malicious/onnx_custom_in_if.onnx",
         if_model(5, helper.make_node("Exec", ["c"], ["out"], domain="evil.ops"), opsets=opset(17, ("evil.ops", 1))),
         "BLOCKED", "MG-ONNX-300", "custom-domain op five If levels down")

    fn = helper.make_function("local.fns", "Wrapper", ["a"], ["b"],
                              [helper.make_node("Exec", ["a"], ["b"], domain="evil.ops")],
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("evil.ops", 1)])
    g = helper.make_graph([helper.make_node("Wrapper", ["x"], ["y"], domain="local.fns")], "fn",
                          [vi("x", [4])], [vi("y", [4])])
    emit("malicious/onnx_custom_in_function.onnx",
         ser(model(g, opset(17, ("local.fns", 1), ("evil.ops", 1)), [fn])), "BLOCKED", "MG-ONNX-300",
         "a model-local function whose body calls a custom-domain op")

    g = mlp_graph([helper.make_node("StringRegexReplace", ["y0"], ["y1"], domain="ai.onnx.contrib")])
    emit("malicious/onnx_extensions_domain.onnx", ser(model(g, opset(17, ("ai.onnx.contrib", 1)))), "BLOCKED",
         "MG-ONNX-300", "ai.onnx.contrib (onnxruntime-extensions) needs its native library")

    g = mlp_graph([helper.make_node("RunShell", ["y0"], ["y1"])])
    emit("malicious/onnx_unknown_std_op.onnx", ser(model(g)), "BLOCKED", "MG-ONNX-302",
         "default-domain op RunShell is not an ONNX operator (MEDIUM, blocking policy)")

    emit("malicious/onnx_ext_absolute.onnx", ext_model("/etc/passwd"), "BLOCKED", "MG-ONNX-401",
         "external data location is an absolute path")
    emit("malicious/onnx_ext_dotdot.onnx", ext_model("a/../../etc/passwd"), "BLOCKED", "MG-ONNX-401",
         "CVE-2024-27318: `a/../../x` escapes after normalisation without a leading ../")
    emit("malicious/onnx_ext_parent.onnx", ext_model("../../../../etc/shadow"), "BLOCKED", "MG-ONNX-401",
         "CVE-2022-25882: leading ../ traversal")
    emit("malicious/onnx_ext_backslash.onnx", ext_model("..\\..\\windows\\win.ini"), "BLOCKED", "MG-ONNX-401",
         "backslash separators (Windows traversal)")
    emit("malicious/onnx_ext_drive.onnx", ext_model("C:/Windows/win.ini"), "BLOCKED", "MG-ONNX-401",
         "drive-letter location")
    emit("malicious/onnx_ext_nul.onnx", ext_model("weights.bin\x00/../../../etc/passwd"), "BLOCKED", "MG-ONNX-401",
         "NUL byte inside the location (readers disagree on its end)")

    sp = helper.make_sparse_tensor(external_tensor("sv", "../../secret.key", (2,)),
                                   helper.make_tensor("si", TensorProto.INT64, [2], [0, 3]), [4])
    g = helper.make_graph([helper.make_node("Add", ["x", "sv"], ["y"])], "sparse", [vi("x", [4])], [vi("y", [4])],
                          sparse_initializer=[sp])
    emit("malicious/onnx_ext_sparse.onnx", ser(model(g)), "BLOCKED", "MG-ONNX-401",
         "traversal through a sparse initializer's values tensor (ONNX Runtime sparse external-data bypass)")

    const = helper.make_node("Constant", [], ["out"], value=external_tensor("cv", "../../../etc/hosts", (1,)))
    emit("malicious/onnx_ext_in_branch.onnx", if_model(3, const), "BLOCKED", "MG-ONNX-401",
         "Constant tensor attribute with external data, three If levels down")

    # NodeProto with domain written twice: protobuf keeps the last ("evil.ops")
    node = (f_bytes(1, "x") + f_bytes(2, "y") + f_bytes(4, "Relu") + f_bytes(7, "") + f_bytes(7, "evil.ops"))
    graph = f_bytes(1, node) + f_bytes(2, "g") + f_bytes(11, f_bytes(1, "x")) + f_bytes(12, f_bytes(1, "y"))
    data = f_varint(1, 8) + f_bytes(2, "modelgate-fixtures") + f_bytes(7, graph) + f_bytes(8, f_bytes(1, "") +
                                                                                       f_varint(2, 17))
    emit("malicious/onnx_domain_twice.onnx", data, "BLOCKED", "MG-ONNX-300",
         "node domain written twice: protobuf keeps the last one (evil.ops), not the first")


def malformed():
    good = ser(model(mlp_graph()))
    emit("malformed/onnx_truncated.onnx", good[: len(good) // 2], "BLOCKED", "MG-ONNX-400",
         "MLP cut in half: the graph's length runs past the end")

    g = mlp_graph()
    g.initializer[0].raw_data = g.initializer[0].raw_data[:-4]
    emit("malformed/onnx_raw_size.onnx", ser(model(g)), "BLOCKED", "MG-ONNX-400",
         "raw_data 4 bytes shorter than dims [8,16] x float32 need")

    g = mlp_graph()
    del g.initializer[1].dims[:]
    g.initializer[1].dims.extend([-4, -4])
    emit("malformed/onnx_negative_dim.onnx", ser(model(g)), "BLOCKED", "MG-ONNX-400",
         "negative dimensions on a tensor with raw_data")

    # a group start (wire type 3) at the top level
    # files that break before showing the shape of a model (named, with a graph or opsets) are
    # indistinguishable from random bytes: reported as an unknown format; runtimes refuse them
    emit("malformed/onnx_group_wire.onnx", f_varint(1, 8) + f_bytes(2, "x") + key(7, 3) + b"\x00" * 8, "ALLOWED",
         "-", "field with the obsolete group wire type, no model shape before it: unknown format")

    emit("malformed/onnx_varint_overflow.onnx", f_varint(1, 8) + f_bytes(2, "x") + key(5, 0) + b"\xff" * 10 + b"\x01",
         "ALLOWED", "-", "model_version varint of 11 bytes, no model shape before it: unknown format")

    emit("malformed/onnx_deep_nesting.onnx", if_model(40), "BLOCKED", "MG-ONNX-400",
         "If nested 40 levels: 121 message levels, past protobuf's recursion limit of 100")

    t = bare_tensor("w", [4])
    t.data_location = TensorProto.EXTERNAL
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [vi("x", [4])], [vi("y", [4])], [t])
    emit("malformed/onnx_ext_no_location.onnx", ser(model(g)), "BLOCKED", "MG-ONNX-400",
         "data_location EXTERNAL without a location entry")

    t = external_tensor("w", "weights.bin")
    t.external_data[1].value = "0x100"
    g = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g", [vi("x", [4])], [vi("y", [4])], [t])
    emit("malformed/onnx_ext_bad_offset.onnx", ser(model(g)), "BLOCKED", "MG-ONNX-400",
         "external data offset `0x100` is not a decimal number")

    g = mlp_graph()
    g.node[2].op_type = ""
    emit("malformed/onnx_no_op_type.onnx", ser(model(g)), "BLOCKED", "MG-ONNX-400", "a node without op_type")

    node = f_bytes(1, "x") + f_bytes(2, "y") + f_bytes(4, "Relu")
    graph = f_bytes(1, node)
    bad = f_varint(1, 8) + key(7, 2) + varint(len(graph) + 50) + graph
    emit("malformed/onnx_length_past_end.onnx", bad, "ALLOWED", "-",
         "graph length 50 bytes longer than the file, nothing named before it: unknown format")


def main():
    run(__doc__, "generated by tests/corpus/make_onnx_fixtures.py (onnx %s)" % onnx.__version__,
        benign, malicious, malformed)


if __name__ == "__main__":
    main()
