"""Writes small ONNX models for the importer's lit tests.

usage: make_onnx.py KIND OUT_DIR
KIND: mlp | weights | named-dims | unnamed-dims | runtime-shapes | runtime-slice | contractions |
      unsupported |
      malformed | extdata-good |
      extdata-dotdot | extdata-absolute | extdata-symlink | extdata-hardlink |
      extdata-short
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(model, path):
    model.ir_version = 10  # what onnxruntime 1.23 accepts
    onnx.save(model, path)


def mlp(out):
    rng = np.random.default_rng(1)
    w1 = rng.standard_normal((16, 32)).astype(np.float32)
    b1 = rng.standard_normal(32).astype(np.float32)
    w2 = rng.standard_normal((32, 8)).astype(np.float32)
    g = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "W1", "b1"], ["h"]),
            helper.make_node("Relu", ["h"], ["r"]),
            helper.make_node("MatMul", ["r", "W2"], ["m"]),
            helper.make_node("Softmax", ["m"], ["y"], axis=-1),
        ],
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 8])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(w2, "W2")],
    )
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
         os.path.join(out, "mlp.onnx"))


def weights(out):
    """Constant weights on every path the importer copies or shares: Gemm
    with transB 0 and 1, alpha 1 and not, one weight read by two MatMuls
    (tied) and also returned (through Identity), one read by a Gemm and
    then by an Add."""
    rng = np.random.default_rng(2)
    a = rng.standard_normal((12, 20)).astype(np.float32)   # [K, N]
    bt = rng.standard_normal((20, 12)).astype(np.float32)  # [N, K]
    tied = rng.standard_normal((20, 20)).astype(np.float32)
    c = rng.standard_normal((20, 12)).astype(np.float32)
    g = helper.make_graph(
        [
            helper.make_node("Gemm", ["x", "A"], ["g0"], alpha=0.5),
            helper.make_node("Gemm", ["x", "Bt"], ["g1"], transB=1),
            helper.make_node("Gemm", ["x", "Bt"], ["g2"], transB=1, alpha=2.0),
            helper.make_node("Add", ["g0", "g1"], ["s0"]),
            helper.make_node("Add", ["s0", "g2"], ["s1"]),
            helper.make_node("MatMul", ["s1", "T"], ["t0"]),
            helper.make_node("Relu", ["t0"], ["r0"]),
            helper.make_node("MatMul", ["r0", "T"], ["t1"]),
            helper.make_node("Identity", ["T"], ["t_out"]),
            helper.make_node("MatMul", ["t1", "C"], ["m"]),
            helper.make_node("Add", ["m", "x"], ["y0"]),
            helper.make_node("Transpose", ["C"], ["ct"]),
            helper.make_node("MatMul", ["x", "ct"], ["y1"]),
        ],
        "weights",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 12])],
        [helper.make_tensor_value_info("y0", TensorProto.FLOAT, ["N", 12]),
         helper.make_tensor_value_info("y1", TensorProto.FLOAT, ["N", 20]),
         helper.make_tensor_value_info("t_out", TensorProto.FLOAT, [20, 20])],
        [numpy_helper.from_array(a, "A"), numpy_helper.from_array(bt, "Bt"),
         numpy_helper.from_array(tied, "T"), numpy_helper.from_array(c, "C")],
    )
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
         os.path.join(out, "weights.onnx"))


def named_dims(out):
    """y = a + b + c with a, b [batch, seq] and c [seq]: the dimensions
    named alike must agree at run time. Also writes inputs that agree
    (a, b, c: batch 2, seq 5) and ones that do not (b_short: seq 3,
    c_long: seq 7)."""
    g = helper.make_graph(
        [helper.make_node("Add", ["a", "b"], ["s"]),
         helper.make_node("Add", ["s", "c"], ["y"])],
        "named",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, ["batch", "seq"]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, ["batch", "seq"]),
         helper.make_tensor_value_info("c", TensorProto.FLOAT, ["seq"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq"])],
    )
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
         os.path.join(out, "named.onnx"))
    rng = np.random.default_rng(3)
    for name, shape in (("a", (2, 5)), ("b", (2, 5)), ("c", (5,)),
                        ("b_short", (2, 3)), ("c_long", (7,))):
        np.save(os.path.join(out, name + ".npy"),
                rng.standard_normal(shape).astype(np.float32))


def unnamed_dims(out):
    """y = a @ b with a, b [?, ?] and z = x @ W with x [?, ?] and a constant
    W [6, 3]; no dimension has a name. The inner extents must agree at run
    time (a's dim 1 with b's dim 0, x's dim 1 with 6). Also writes agreeing
    inputs (a 3x4, b 4x2, x 5x6) and ones that do not (b_bad 5x2, x_bad
    5x7)."""
    rng = np.random.default_rng(4)
    w = rng.standard_normal((6, 3)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["y"]),
         helper.make_node("MatMul", ["x", "W"], ["z"])],
        "unnamed",
        [helper.make_tensor_value_info("a", TensorProto.FLOAT, [None, None]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [None, None]),
         helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(w, "W")],
    )
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
         os.path.join(out, "unnamed.onnx"))
    np.save(os.path.join(out, "W.npy"), w)
    for name, shape in (("a", (3, 4)), ("b", (4, 2)), ("x", (5, 6)),
                        ("b_bad", (5, 2)), ("x_bad", (5, 7))):
        np.save(os.path.join(out, name + ".npy"),
                rng.standard_normal(shape).astype(np.float32))


def runtime_shapes(out):
    """Extents and indices read from tensor values: z = Reshape(Relu(x), s)
    + y, e = Expand(v, t) and g = Gather(T, i), with x [?], s int64 [2],
    y [?, ?], v [?], t int64 [2], a constant table T [4, 3] and i int64
    [?]. Writes agreeing inputs (x 6, s [2, 3], y 2x3, v 3, t [2, 3], i
    [0, 3, -4, 1]) and ones that break one check each: s_bad [4, 2] (holds
    8, not 6), s_t [3, 2] (the reshape is fine but meets y's 2x3 in the
    Add), t_bad [2, 4] (4 against v's 3), i_bad [1, 4] (4 is past the
    table's 4 rows)."""
    rng = np.random.default_rng(5)
    table = rng.standard_normal((4, 3)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["x1"], name="relu"),
         helper.make_node("Reshape", ["x1", "s"], ["r"], name="reshape"),
         helper.make_node("Add", ["r", "y"], ["z"], name="add"),
         helper.make_node("Expand", ["v", "t"], ["e"], name="expand"),
         helper.make_node("Gather", ["T", "i"], ["g"], name="gather")],
        "runtime_shapes",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None]),
         helper.make_tensor_value_info("s", TensorProto.INT64, [2]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None]),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, [None]),
         helper.make_tensor_value_info("t", TensorProto.INT64, [2]),
         helper.make_tensor_value_info("i", TensorProto.INT64, [None])],
        [helper.make_tensor_value_info("z", TensorProto.FLOAT, [None, None]),
         helper.make_tensor_value_info("e", TensorProto.FLOAT, [None, None]),
         helper.make_tensor_value_info("g", TensorProto.FLOAT, [None, 3])],
        [numpy_helper.from_array(table, "T")],
    )
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
         os.path.join(out, "shapes.onnx"))
    for name, shape in (("x", (6,)), ("y", (2, 3)), ("v", (3,))):
        np.save(os.path.join(out, name + ".npy"),
                rng.standard_normal(shape).astype(np.float32))
    np.save(os.path.join(out, "T.npy"), table)
    for name, value in (("s", [2, 3]), ("t", [2, 3]), ("s_bad", [4, 2]),
                        ("s_t", [3, 2]), ("t_bad", [2, 4]),
                        ("i", [0, 3, -4, 1]), ("i_bad", [1, 4])):
        np.save(os.path.join(out, name + ".npy"), np.array(value, np.int64))


def runtime_slice(out):
    """y = Slice(x, starts, ends, axes, steps) with every operand an input:
    x [?, ?] float, the others int64 [2]. Writes x (6x7), a negative and a
    positive step (starts [4, -7], ends [-10, 7], axes [0, 1], steps [-2,
    3]: rows 4, 2, 0 and columns 0, 3, 6), and steps_bad [1, 0]."""
    rng = np.random.default_rng(7)
    g = helper.make_graph(
        [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"],
                          ["y"], name="slice")],
        "runtime_slice",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, None])] +
        [helper.make_tensor_value_info(v, TensorProto.INT64, [2])
         for v in ("starts", "ends", "axes", "steps")],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, None])],
    )
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
         os.path.join(out, "slice.onnx"))
    np.save(os.path.join(out, "x.npy"),
            rng.standard_normal((6, 7)).astype(np.float32))
    for name, value in (("starts", [4, -7]), ("ends", [-10, 7]),
                        ("axes", [0, 1]), ("steps", [-2, 3]),
                        ("steps_bad", [1, 0])):
        np.save(os.path.join(out, name + ".npy"), np.array(value, np.int64))


def contractions(out):
    """A Conv (constant weight), a ConvTranspose and a MatMul of two
    activations: the contractions whose bodies the importer builds
    itself."""
    rng = np.random.default_rng(5)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    wt = rng.standard_normal((4, 2, 2, 2)).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
         helper.make_node("ConvTranspose", ["c", "WT"], ["t"], strides=[2, 2]),
         helper.make_node("MatMul", ["a", "b"], ["y"])],
        "contractions",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8]),
         helper.make_tensor_value_info("a", TensorProto.FLOAT, [4, 5]),
         helper.make_tensor_value_info("b", TensorProto.FLOAT, [5, 6])],
        [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 2, 16, 16]),
         helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 6])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(wt, "WT")],
    )
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]),
         os.path.join(out, "contractions.onnx"))


def unsupported(out):
    g = helper.make_graph(
        [helper.make_node("Hardmax", ["x"], ["y"], name="hm")], "u",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
         os.path.join(out, "unsupported.onnx"))


def rebind(out):
    """Two nodes write 'h'; a third writes the input's name."""
    for name, second in (("rebind", "h"), ("rebind-input", "x")):
        g = helper.make_graph(
            [helper.make_node("Relu", ["x"], ["h"], name="first"),
             helper.make_node("Neg", ["h"], [second], name="second"),
             helper.make_node("Abs", [second], ["y"], name="third")], "r",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])])
        save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
             os.path.join(out, name + ".onnx"))


def mixed_types(out):
    """MatMul of a float32 input by a float64 initializer: invalid ONNX that
    numpy 2 makes easy (float32 / np.float64 is float64)."""
    w = numpy_helper.from_array(np.ones((3, 4), np.float64), "w")
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "m",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
         os.path.join(out, "mixed-types.onnx"))


def malformed(out):
    with open(os.path.join(out, "malformed.onnx"), "wb") as f:
        f.write(b"\x08\x07this is not a protobuf \xff\xff\xff")


def extdata(out, kind):
    """x + W where W lives in external data named by `kind`."""
    w = np.arange(8, dtype=np.float32)
    tensor = numpy_helper.from_array(w, "W")
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    loc = "weights.bin"
    data_path = os.path.join(out, "weights.bin")
    outside = os.path.join(os.path.dirname(os.path.abspath(out)), "outside.bin")
    with open(outside, "wb") as f:
        f.write(w.tobytes())
    if kind == "good" or kind == "short":
        with open(data_path, "wb") as f:
            f.write(w.tobytes()[: 16 if kind == "short" else 32])
    elif kind == "dotdot":
        loc = "../outside.bin"
    elif kind == "absolute":
        loc = outside
    elif kind == "symlink":
        if os.path.lexists(data_path):
            os.remove(data_path)
        os.symlink(outside, data_path)
    elif kind == "hardlink":
        if os.path.lexists(data_path):
            os.remove(data_path)
        os.link(outside, data_path)
    for k, v in (("location", loc), ("offset", "0"), ("length", "32")):
        e = tensor.external_data.add()
        e.key, e.value = k, v
    g = helper.make_graph(
        [helper.make_node("Add", ["x", "W"], ["y"])], "ext",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [8])], [tensor])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]),
         os.path.join(out, "ext.onnx"))


def main():
    kind, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    if kind.startswith("extdata-"):
        extdata(out, kind[len("extdata-"):])
    else:
        {"mlp": mlp, "weights": weights, "named-dims": named_dims,
         "unnamed-dims": unnamed_dims,
         "runtime-shapes": runtime_shapes, "runtime-slice": runtime_slice, "contractions": contractions,
         "unsupported": unsupported, "rebind": rebind, "mixed-types": mixed_types,
         "malformed": malformed}[kind](out)


if __name__ == "__main__":
    main()
