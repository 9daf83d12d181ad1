"""quant-compile --emit=onnx-qdq against the model.so of the same options
(test/e2e/qdq-export.test).

usage: qdq_export.py prepare OUT_DIR
         writes OUT_DIR/cnn.onnx (a small CNN built here: a strided 3x3
         convolution with padding, a depthwise 3x3 convolution, a 1x1
         convolution, ReLU/Sigmoid, global average pooling and a Gemm;
         dynamic batch, height and width), its calibration set
         OUT_DIR/cnn-calib/*.npy and evaluation input OUT_DIR/img.npy
       qdq_export.py check MODEL.onnx EXPORTED.onnx MODEL.so NAME=FILE.npy...
           [--tol T] [--min-weights N] [--float] [--expect OP=N]
           [--reimported SO2]
         loads EXPORTED.onnx (onnx.checker), counts its weight
         DequantizeLinear nodes (an integer initializer as input: the
         weights are stored as codes; at least N) and its QuantizeLinear
         nodes, runs it with onnxruntime (every graph optimization level:
         as written, basic and all) and MODEL.so with quant-run on the
         same inputs, and checks for every output that
           - the relative L2 distance between the two is <= T (default
             1e-2: float summation orders differ, so now and then an
             activation lands on the other side of a rounding boundary
             and its code differs by one step, which moves a small
             model's output by ~5e-3; without such a flip the distance is
             ~1e-7), and
           - unless --float, it is below a quarter of MODEL.so's distance
             to onnxruntime running the float MODEL.onnx: the export
             carries the quantization, not the float model.
         onnxruntime's level "all" is reported but not required where its
         fusions reject the graph, nor where a quantized run misses on an
         x86 CPU without VNNI, whose u8s8 kernels saturate (see
         docs/onnx-support.md). With
         --reimported SO2 (EXPORTED.onnx compiled again by quant-compile
         --float: its Q/DQ imported as qc ops), SO2 must agree with
         MODEL.so the same way: the export means what the model.so computes.
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

INT_TYPES = {TensorProto.INT8, TensorProto.UINT8, TensorProto.INT16,
             TensorProto.UINT16, 21, 22}  # 21, 22: UINT4, INT4


def prepare(out):
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)

    def init(name, shape, scale=0.3):
        return numpy_helper.from_array(
            (rng.standard_normal(shape) * scale).astype(np.float32), name)

    inits = [init("w1", (16, 3, 3, 3)), init("b1", (16,), 0.1),
             init("w2", (16, 1, 3, 3)), init("b2", (16,), 0.1),
             init("w3", (24, 16, 1, 1)), init("b3", (24,), 0.1),
             init("w4", (24, 10)), init("b4", (10,), 0.1)]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1",
                         kernel_shape=[3, 3], strides=[2, 2],
                         pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], name="dw",
                         kernel_shape=[3, 3], group=16, pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["c2"], ["s2"]),
        helper.make_node("Mul", ["c2", "s2"], ["r2"]),
        helper.make_node("Conv", ["r2", "w3", "b3"], ["c3"], name="pw"),
        helper.make_node("Relu", ["c3"], ["r3"]),
        helper.make_node("GlobalAveragePool", ["r3"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "w4", "b4"], ["y"], name="fc"),
    ]
    graph = helper.make_graph(
        nodes, "cnn",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                       ["N", 3, "H", "W"])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])],
        inits)
    model = helper.make_model(graph,
                              opset_imports=[helper.make_opsetid("", 17)],
                              ir_version=8)
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "cnn.onnx"))
    os.makedirs(os.path.join(out, "cnn-calib"), exist_ok=True)
    for i in range(8):
        np.save(os.path.join(out, "cnn-calib", "s%d.npy" % i),
                rng.standard_normal((1, 3, 20, 24)).astype(np.float32))
    np.save(os.path.join(out, "img.npy"),
            rng.standard_normal((2, 3, 20, 24)).astype(np.float32))
    print("prepared")


def rel(a, b):
    a = a.astype(np.float64)
    b = b.astype(np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(a), 1e-30))


def check(a):
    model = onnx.load(a.exported)
    onnx.checker.check_model(model)
    inits = {t.name: t for t in model.graph.initializer}
    weights = sum(1 for n in model.graph.node
                  if n.op_type == "DequantizeLinear" and n.input[0] in inits
                  and inits[n.input[0]].data_type in INT_TYPES)
    quants = sum(1 for n in model.graph.node if n.op_type == "QuantizeLinear")
    print("exported: %d weight DequantizeLinear, %d QuantizeLinear, "
          "opset %d" % (weights, quants, model.opset_import[0].version))
    ok = weights >= a.min_weights
    for spec in a.expect:
        op, n = spec.split("=")
        count = sum(1 for node in model.graph.node if node.op_type == op)
        print("%s: %d" % (op, count))
        if count < int(n):
            print("FAIL: %d %s nodes, expected at least %s" % (count, op, n))
            ok = False
    if not ok:
        print("FAIL: %d weight DequantizeLinear, expected at least %d"
              % (weights, a.min_weights))
    feeds = {}
    for spec in a.inputs:
        name, path = spec.split("=", 1)
        feeds[name] = np.load(path)
    def run_so(so):
        with tempfile.TemporaryDirectory() as tmp:
            args = [os.environ.get("QUANT_RUN", "quant-run"), so, "-o", tmp]
            for name, path in (s.split("=", 1) for s in a.inputs):
                args += ["-i", "%s=%s" % (name, path)]
            r = subprocess.run(args, capture_output=True, text=True)
            if r.returncode != 0:
                print("FAIL: quant-run: " + r.stderr)
                return None
            return {o.name: np.load(os.path.join(tmp, o.name + ".npy"))
                    for o in model.graph.output}
    ours = run_so(a.so)
    if ours is None:
        return 1
    ref = ort.InferenceSession(a.model).run(None, feeds)
    refs = dict(zip([o.name for o in onnx.load(a.model).graph.output], ref))
    levels = [("as written", ort.GraphOptimizationLevel.ORT_DISABLE_ALL),
              ("basic", ort.GraphOptimizationLevel.ORT_ENABLE_BASIC),
              ("all", ort.GraphOptimizationLevel.ORT_ENABLE_ALL)]
    for label, level in levels:
        so = ort.SessionOptions()
        so.graph_optimization_level = level
        try:
            sess = ort.InferenceSession(a.exported, so)
            outs = sess.run(None, feeds)
        except Exception as e:  # onnxruntime's fusions, level "all" only
            msg = str(e).splitlines()[0][:200]
            print("onnxruntime %s: rejected (%s)" % (label, msg))
            if label != "all":
                ok = False
            continue
        for o, got in zip(sess.get_outputs(), outs):
            d = rel(ours[o.name], got)
            q = rel(refs[o.name], ours[o.name]) if o.name in refs else 0.0
            line = "%s vs onnxruntime %s: relative L2 %.3g (model.so vs " \
                   "float: %.3g)" % (o.name, label, d, q)
            good = d <= a.tol and (a.float or d < 0.25 * q)
            if not good and label == "all" and not a.float and not has_vnni():
                # Level "all" fuses Q/DQ pairs into integer kernels whose
                # x86 form without VNNI (vpmaddubsw) sums pairs of u8 x s8
                # products in saturating int16: onnxruntime's documented
                # reason for reduce_range. Reported, not required.
                print(line + "  (not required: this CPU has no VNNI, onnxruntime's u8s8 kernels saturate)")
                continue
            print(line + ("" if good else "  FAIL"))
            ok = ok and good
    if a.reimported:
        again = run_so(a.reimported)
        if again is None:
            return 1
        for name, got in again.items():
            d = rel(ours[name], got)
            q = rel(refs[name], ours[name]) if name in refs else 0.0
            good = d <= a.tol and (a.float or d < 0.25 * q)
            print("%s vs the export compiled again: relative L2 %.3g%s"
                  % (name, d, "" if good else "  FAIL"))
            ok = ok and good
    print("qdq export: ok" if ok else "qdq export: FAILED")
    return 0 if ok else 1


def has_vnni() -> bool:
    """True where the x86 CPU has AVX-VNNI or AVX512-VNNI (or the host is
    not x86 / /proc/cpuinfo is unreadable: then nothing is excused)."""
    try:
        with open("/proc/cpuinfo") as f:
            text = f.read()
    except OSError:
        return True
    if "flags" not in text:
        return True
    return "avx512_vnni" in text or "avx_vnni" in text


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("out")
    pc = sub.add_parser("check")
    pc.add_argument("model")
    pc.add_argument("exported")
    pc.add_argument("so")
    pc.add_argument("inputs", nargs="+")
    pc.add_argument("--tol", type=float, default=1e-2)
    pc.add_argument("--min-weights", type=int, default=0)
    pc.add_argument("--float", action="store_true")
    pc.add_argument("--reimported")
    pc.add_argument("--expect", action="append", default=[], metavar="OP=N",
                    help="at least N nodes of type OP")
    a = p.parse_args()
    if a.cmd == "prepare":
        prepare(a.out)
        return 0
    return check(a)


if __name__ == "__main__":
    sys.exit(main())
