"""Models quantized elsewhere (QuantizeLinear / DequantizeLinear) compiled by
quant and compared with onnxruntime running the same QDQ model.

  qdq_import.py prepare DIR   writes DIR/*.onnx:
    mlp-qdq.onnx      onnxruntime quantize_static of a random MLP (QDQ,
                      uint8 activations, int8 per-channel weights)
    cnn-qdq.onnx      the same for a small CNN (per-tensor weights)
    cnn-qop.onnx      the CNN in onnxruntime's operator format (QLinearConv,
                      per-channel weights, int32 biases), with reduce_range
                      (7-bit weights): with full int8 weights onnxruntime's
                      own QLinearConv kernel saturated one output of this
                      model by 17 steps (its u8 x s8 products summed in 16
                      bits), where quant matched a float64 numpy reference
    blocked.onnx      MatMul by int4 weights dequantized in blocks of 16
                      along K (DequantizeLinear-21, hand-built), uint4 codes
                      of a second input with a zero point
    uint8-io.onnx     uint8 codes in (a graph input), uint8 codes out
    uint8-add.onnx    Add reading uint8 codes (refused)
    nbits-asym.onnx   onnxruntime's MatMulNBitsQuantizer (4-bit blocks of 16
                      with zero points; K = 24, a partial last block)
    nbits-sym.onnx    the same, symmetric blocks of 32 (no zero points)
    dynamic.onnx      onnxruntime quantize_dynamic: DynamicQuantizeLinear,
                      MatMulInteger and the float rescale after them;
                      compared with a numpy run of the ONNX definitions
                      (exactly) and with onnxruntime (within 5% of the
                      output's range: its DynamicQuantizeLinear and
                      MatMulInteger differ from the definitions by a code
                      now and then; this model's output by 0.033 of 1.3)
  qdq_import.py check DIR NAME.onnx NAME.so   runs both on random inputs

Each output is compared with onnxruntime's two ways: with graph optimizations
off (Q/DQ executed as written, in float: must agree to float rounding except
at rounding ties, bound 1 step of the last quantizer) and with them on
(onnxruntime's integer kernels: within a few steps).
"""

import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper


def save(model, path):
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, path)


def float_mlp(rng):
    w1 = (rng.standard_normal((24, 40)) / np.sqrt(24)).astype(np.float32)
    b1 = (rng.standard_normal(40) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((40, 8)) / np.sqrt(40)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]),
             helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h"]),
             helper.make_node("MatMul", ["h", "w2"], ["y"])]
    g = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 8])],
        [numpy_helper.from_array(w1, "w1"), numpy_helper.from_array(b1, "b1"),
         numpy_helper.from_array(w2, "w2")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), {"x": (4, 24)}


def float_cnn(rng):
    w = (rng.standard_normal((8, 3, 3, 3)) * 0.3).astype(np.float32)
    b = (rng.standard_normal(8) * 0.1).astype(np.float32)
    w2 = (rng.standard_normal((4, 8, 1, 1)) * 0.3).astype(np.float32)
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r"]),
             helper.make_node("Conv", ["r", "w2"], ["y"])]
    g = helper.make_graph(
        nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 10, 10])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 10, 10])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b"),
         numpy_helper.from_array(w2, "w2")])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), {"x": (1, 3, 10, 10)}


class Reader:
    def __init__(self, shapes, rng, count=16):
        self.samples = [{k: rng.standard_normal(s).astype(np.float32) for k, s in shapes.items()}
                        for _ in range(count)]

    def get_next(self):
        return self.samples.pop() if self.samples else None


def ort_quantize(model, shapes, rng, out, per_channel, operators=False):
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    src = out + ".float.onnx"
    save(model, src)
    fmt = QuantFormat.QOperator if operators else QuantFormat.QDQ
    quantize_static(src, out, Reader(shapes, rng), quant_format=fmt,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    per_channel=per_channel, reduce_range=operators)
    m = onnx.load(out)
    ops = {n.op_type for n in m.graph.node}
    want = {"QLinearConv", "QuantizeLinear"} if operators else {"QuantizeLinear", "DequantizeLinear"}
    assert want <= ops, ops


def blocked(rng, out):
    """y = x @ dequant(Wq int4 [32, 6], blocks of 16 along K) + DQ(u, uint4)."""
    k, n, block = 32, 6, 16
    codes = rng.integers(-8, 8, size=(k, n))
    scale = (rng.random((k // block, n)) * 0.1 + 0.01).astype(np.float32)
    wq = helper.make_tensor("wq", TensorProto.INT4, [k, n], codes.flatten().tolist())
    us = np.array(0.05, np.float32)
    uz = helper.make_tensor("uz", TensorProto.UINT4, [], [7])
    nodes = [helper.make_node("DequantizeLinear", ["wq", "ws"], ["w"], axis=0, block_size=block),
             helper.make_node("MatMul", ["x", "w"], ["m"]),
             helper.make_node("QuantizeLinear", ["u", "us", "uz"], ["uq"]),
             helper.make_node("DequantizeLinear", ["uq", "us", "uz"], ["ud"]),
             helper.make_node("Add", ["m", "ud"], ["y"])]
    g = helper.make_graph(
        nodes, "blocked",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [3, k]),
         helper.make_tensor_value_info("u", TensorProto.FLOAT, [3, n])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [3, n])],
        [wq, numpy_helper.from_array(scale, "ws"), numpy_helper.from_array(us, "us"), uz])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)]), out)


def uint8_io(out):
    """uint8 codes in, dequantized, scaled by a float input, requantized
    per axis to uint8 codes out."""
    nodes = [helper.make_node("DequantizeLinear", ["q", "s", "z"], ["x"]),
             helper.make_node("Mul", ["x", "f"], ["y"]),
             helper.make_node("QuantizeLinear", ["y", "ys", "yz"], ["yq"], axis=1)]
    g = helper.make_graph(
        nodes, "uint8io",
        [helper.make_tensor_value_info("q", TensorProto.UINT8, [2, 3, 5]),
         helper.make_tensor_value_info("f", TensorProto.FLOAT, [2, 3, 5])],
        [helper.make_tensor_value_info("yq", TensorProto.UINT8, [2, 3, 5])],
        [numpy_helper.from_array(np.array(0.02, np.float32), "s"),
         numpy_helper.from_array(np.array(128, np.uint8), "z"),
         numpy_helper.from_array(np.array([0.01, 0.03, 0.02], np.float32), "ys"),
         numpy_helper.from_array(np.array([100, 128, 90], np.uint8), "yz")])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out)


def uint8_add(out):
    nodes = [helper.make_node("Add", ["q", "q"], ["y"], name="add_codes")]
    g = helper.make_graph(
        nodes, "uint8add", [helper.make_tensor_value_info("q", TensorProto.UINT8, [4])],
        [helper.make_tensor_value_info("y", TensorProto.UINT8, [4])])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), out)


def ort_nbits(model, out, block, symmetric):
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
    q = MatMulNBitsQuantizer(model, block_size=block, is_symmetric=symmetric)
    q.process()
    m = q.model.model
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("MatMulNBits") == 2, ops
    save(m, out)


def ort_dynamic(model, out):
    from onnxruntime.quantization import QuantType, quantize_dynamic
    src = out + ".float.onnx"
    save(model, src)
    quantize_dynamic(src, out, weight_type=QuantType.QInt8)
    ops = {n.op_type for n in onnx.load(out).graph.node}
    assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops, ops


def prepare(d):
    os.makedirs(d, exist_ok=True)
    rng = np.random.default_rng(5)
    m, shapes = float_mlp(rng)
    ort_quantize(m, shapes, rng, os.path.join(d, "mlp-qdq.onnx"), per_channel=True)
    m, shapes = float_cnn(rng)
    ort_quantize(m, shapes, rng, os.path.join(d, "cnn-qdq.onnx"), per_channel=False)
    ort_quantize(m, shapes, rng, os.path.join(d, "cnn-qop.onnx"), per_channel=True, operators=True)
    blocked(rng, os.path.join(d, "blocked.onnx"))
    m, _ = float_mlp(rng)
    # (the quantizers rewrite the model they are given: a copy each)
    for name, block, sym in (("nbits-asym", 16, False), ("nbits-sym", 32, True)):
        copy = onnx.ModelProto()
        copy.CopyFrom(m)
        ort_nbits(copy, os.path.join(d, name + ".onnx"), block, sym)
    ort_dynamic(m, os.path.join(d, "dynamic.onnx"))
    uint8_io(os.path.join(d, "uint8-io.onnx"))
    uint8_add(os.path.join(d, "uint8-add.onnx"))
    print("prepared")


def last_step(model):
    """The scale of the quantizer right before each output (None if the
    output is not requantized by a QDQ pair)."""
    producers = {o: n for n in model.graph.node for o in n.output}
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    steps = {}
    for out in model.graph.output:
        n = producers.get(out.name)
        while n is not None and n.op_type not in ("DequantizeLinear", "QuantizeLinear"):
            n = producers.get(n.input[0]) if n.op_type in ("Relu", "Identity") else None
        steps[out.name] = float(np.max(inits[n.input[1]])) if n is not None else None
    return steps


def numpy_run(model, feeds):
    """The model's ops by their ONNX definitions in numpy (the ops of
    onnxruntime's quantize_dynamic MLP), f32 as the definitions say."""
    env = dict(feeds)
    env.update({t.name: numpy_helper.to_array(t) for t in model.graph.initializer})
    for n in model.graph.node:
        a = [env[i] for i in n.input]
        if n.op_type == "DynamicQuantizeLinear":
            x = a[0].astype(np.float32)
            lo, hi = np.float32(min(0, x.min())), np.float32(max(0, x.max()))
            scale = np.float32((hi - lo) / np.float32(255))
            zp = np.clip(np.rint(-lo / scale), 0, 255)
            q = np.clip(np.rint(x / scale) + zp, 0, 255)
            out = [q.astype(np.uint8), np.array(scale, np.float32), np.array(zp, np.uint8)]
        elif n.op_type == "MatMulInteger":
            za = a[2].astype(np.int64) if len(a) > 2 else 0
            zb = a[3].astype(np.int64) if len(a) > 3 else 0
            out = [((a[0].astype(np.int64) - za) @ (a[1].astype(np.int64) - zb)).astype(np.int32)]
        elif n.op_type == "Cast":
            out = [a[0].astype(np.float32)]
        elif n.op_type == "Mul":
            out = [(a[0] * a[1]).astype(np.float32)]
        elif n.op_type == "Add":
            out = [(a[0] + a[1]).astype(np.float32)]
        elif n.op_type == "Relu":
            out = [np.maximum(a[0], 0)]
        else:
            raise ValueError(n.op_type)
        env.update(zip(n.output, out))
    return [env[o.name] for o in model.graph.output]


def check(d, onnx_path, so_path):
    model = onnx.load(onnx_path)
    rng = np.random.default_rng(11)
    inits = {t.name for t in model.graph.initializer}
    feeds = {}
    for i in model.graph.input:
        if i.name in inits:
            continue
        tt = i.type.tensor_type
        shape = [dim.dim_value or 3 for dim in tt.shape.dim]
        if tt.elem_type == TensorProto.UINT8:
            feeds[i.name] = rng.integers(0, 256, size=shape).astype(np.uint8)
        else:
            feeds[i.name] = rng.standard_normal(shape).astype(np.float32)
    args = []
    for name, a in feeds.items():
        np.save(os.path.join(d, name + ".npy"), a)
        args += ["-i", f"{name}={os.path.join(d, name + '.npy')}"]
    outdir = os.path.join(d, "out-" + os.path.basename(so_path))
    subprocess.run(["quant-run", so_path, *args, "-o", outdir], check=True)
    steps = last_step(model)
    if "DynamicQuantizeLinear" in {n.op_type for n in model.graph.node}:
        for o, ref in zip(model.graph.output, numpy_run(model, feeds)):
            got = np.load(os.path.join(outdir, o.name + ".npy"))
            diff = np.abs(got - ref).max()
            print(f"{o.name} vs the ONNX definitions in numpy: max |diff| {diff:.3g}")
            assert diff <= 1e-6 * np.abs(ref).max(), diff
            steps[o.name] = 0.05 * (ref.max() - ref.min())  # onnxruntime's drift
    for level, what in ((ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "as written"),
                        (ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "optimized")):
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        sess = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])
        refs = sess.run(None, feeds)
        for o, ref in zip(model.graph.output, refs):
            got = np.load(os.path.join(outdir, o.name + ".npy"))
            assert got.dtype == ref.dtype and got.shape == ref.shape, (got.dtype, got.shape, ref.dtype, ref.shape)
            diff = np.abs(got.astype(np.float64) - ref.astype(np.float64))
            if np.issubdtype(ref.dtype, np.integer):
                bound = 1 if what == "as written" else 2  # codes
                frac = np.mean(diff > 0)
                print(f"{o.name} vs onnxruntime {what}: max code difference {diff.max():.0f}, "
                      f"{100 * frac:.2f}% of codes differ")
                assert diff.max() <= bound, diff.max()
            else:
                step = steps[o.name]
                scale = step if step else np.abs(ref).max() * 1e-5
                bound = (1.0 if what == "as written" else 4.0) * scale + 1e-5 * np.abs(ref).max()
                print(f"{o.name} vs onnxruntime {what}: max |diff| {diff.max():.3g} "
                      f"({diff.max() / scale:.2f} steps)")
                assert diff.max() <= bound, (diff.max(), bound)
    print("qdq: ok")


if __name__ == "__main__":
    if sys.argv[1] == "prepare":
        prepare(sys.argv[2])
    else:
        check(sys.argv[2], sys.argv[3], sys.argv[4])
