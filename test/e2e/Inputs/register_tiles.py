"""Numeric test of the register-tiled contraction code (qc-cpu-vectorize-contractions)
and the polynomial math (qc-cpu-approximate-math): builds small ONNX models whose
shapes exercise full tiles, leftover rows, masked lane tails, stride-2 and
gathered (stride 3, dilated) reads, groups, pooling and outer-axis reductions;
compiles each for several x86-64 levels (vector widths 128/256/512 bits where
the host runs them) and compares with onnxruntime on random inputs; then checks
Erf/Exp/Tanh against float64 math. Integer (W8A8, W4A8) models compiled for
the host, where 4-way dot products (VNNI) take the dot4 layout, must give the
same outputs as for x86-64-v3 without VNNI (the plain i32 kernels that
test/e2e/quantized-mlp.test checks against numpy): a differential test that
exercises vpdpbusd wherever the host has it.

usage: register_tiles.py OUTDIR [--mcpu CPU ...]
Prints one line per case and "register tiles: N ok, M failed"; non-zero exit
status on any failure.
"""
import argparse
import math
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

RNG = np.random.default_rng(7)


def model(nodes, inputs, inits, out="y"):
    g = h.make_graph(nodes, "g", [h.make_tensor_value_info(n, T.FLOAT, s) for n, s in inputs],
                     [h.make_tensor_value_info(out, T.FLOAT, None)],
                     [nh.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)])
    m.ir_version = 10
    return m


def w(*shape):
    return RNG.standard_normal(shape) / math.sqrt(np.prod(shape[1:]) if len(shape) > 1 else 1)


def conv(name, x, cout, k, **attrs):
    cin = x[1] // attrs.get("group", 1)
    return name, model([h.make_node("Conv", ["x", "W", "B"], ["y"], **attrs)], [("x", x)],
                       {"W": w(cout, cin, *k), "B": w(cout)})


def cases():
    yield "matmul 13x37x53", model([h.make_node("MatMul", ["x", "W"], ["y"])], [("x", [1, 13, 37])], {"W": w(37, 53)})
    yield "matmul 128x64x1536", model([h.make_node("MatMul", ["x", "W"], ["y"])], [("x", [1, 128, 64])], {"W": w(64, 1536)})
    yield "matmul 1x40x7", model([h.make_node("MatMul", ["x", "W"], ["y"])], [("x", [1, 40])], {"W": w(40, 7)})
    yield "gemm transB bias", model([h.make_node("Gemm", ["x", "W", "B"], ["y"], transB=1)], [("x", [5, 64])],
                                    {"W": w(40, 64), "B": w(40)})
    yield "batch matmul 2x3x9x16x11", model([h.make_node("MatMul", ["a", "b"], ["y"])],
                                           [("a", [2, 3, 9, 16]), ("b", [2, 3, 16, 11])], {})
    yield conv("conv 3x3 s1", [1, 16, 17, 45], 32, (3, 3), pads=[1, 1, 1, 1])
    yield conv("conv 3x3 s2", [1, 8, 21, 37], 24, (3, 3), pads=[1, 1, 1, 1], strides=[2, 2])
    yield conv("conv 3x3 s3", [1, 8, 20, 41], 12, (3, 3), strides=[3, 3])
    yield conv("conv 3x3 dil2", [1, 8, 19, 30], 10, (3, 3), dilations=[2, 2], pads=[2, 2, 2, 2])
    yield conv("conv groups 4", [1, 16, 15, 23], 32, (3, 3), group=4, pads=[1, 1, 1, 1])
    yield conv("conv depthwise", [1, 24, 33, 50], 24, (5, 5), group=24, pads=[2, 2, 2, 2])
    yield conv("conv 1x1", [1, 48, 12, 100], 40, (1, 1))
    yield conv("conv 1x7 asym", [1, 6, 9, 70], 9, (1, 7), pads=[0, 3, 0, 2])
    # ConvTranspose with stride == kernel: the non-overlapping path.
    yield "convtranspose 2x2 s2 bias", model(
        [h.make_node("ConvTranspose", ["x", "W", "B"], ["y"], kernel_shape=[2, 2], strides=[2, 2])],
        [("x", [1, 8, 13, 37])], {"W": w(8, 12, 2, 2), "B": w(12)})
    yield "convtranspose 2x3 s(2,3) groups 2", model(
        [h.make_node("ConvTranspose", ["x", "W"], ["y"], kernel_shape=[2, 3], strides=[2, 3], group=2)],
        [("x", [1, 8, 9, 21])], {"W": w(8, 5, 2, 3)})
    yield "convtranspose 1d k3 s3", model(
        [h.make_node("ConvTranspose", ["x", "W"], ["y"], kernel_shape=[3], strides=[3])],
        [("x", [2, 6, 40])], {"W": w(6, 4, 3)})
    yield "maxpool 3x3 s2", model([h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2])],
                                  [("x", [1, 16, 40, 45])], {})
    yield "avgpool 3x3 pad", model([h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], pads=[1, 1, 1, 1],
                                                count_include_pad=0)], [("x", [1, 5, 17, 29])], {})
    yield "reducesum axis 1", model([h.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=0)],
                                    [("x", [3, 50, 77])], {"axes": np.array([1])})


def fix_axes(m):
    # ReduceSum's axes initializer is int64.
    for i, t in enumerate(m.graph.initializer):
        if t.name == "axes":
            m.graph.initializer[i].CopyFrom(nh.from_array(np.array([1], np.int64), "axes"))
    return m


def compile_and_run(base, so, flags, feeds):
    """Compiles BASE.onnx into SO with FLAGS, runs it on FEEDS; output y as
    float64, or an error message."""
    r = subprocess.run(["quant-compile", base + ".onnx", *flags, "-o", so], capture_output=True, text=True)
    if r.returncode:
        return f"compile failed: {r.stderr.strip()[-300:]}"
    args = ["quant-run", so, "-o", so + "_out"]
    for k, v in feeds.items():
        np.save(f"{base}_{k}.npy", v)
        args += ["-i", f"{k}={base}_{k}.npy"]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        return f"run failed: {r.stderr.strip()[-300:]}"
    return np.load(os.path.join(so + "_out", "y.npy")).astype(np.float64)


def run_case(name, m, mcpu, out):
    base = os.path.join(out, name.replace(" ", "_") + "_" + mcpu)
    onnx.save(fix_axes(m), base + ".onnx")
    sess = ort.InferenceSession(base + ".onnx", providers=["CPUExecutionProvider"])
    feeds = {i.name: RNG.standard_normal(i.shape).astype(np.float32) for i in sess.get_inputs()}
    got = compile_and_run(base, base + ".so", ["--float", "--mcpu", mcpu], feeds)
    if isinstance(got, str):
        return got
    ref = sess.run(None, feeds)[0].astype(np.float64)
    if got.shape != ref.shape:
        return f"shape {got.shape} != {ref.shape}"
    err = np.linalg.norm(got - ref) / np.linalg.norm(ref)
    # Summation order differs from onnxruntime's (float rounding only): any
    # indexing or masking error is O(1) relative.
    worst = np.max(np.abs(got - ref)) / np.max(np.abs(ref))
    if not (err <= 1e-6 and worst <= 1e-5):
        return f"rel_l2 {err:.3g} max abs err / max |ref| {worst:.3g}"
    return None


def math_case(op, mcpu, out):
    """Erf/Exp/Tanh over wide and narrow ranges and the special values: at most
    8 ulp from float64 where the result is a normal float, 1e-37 absolute below."""
    x = np.concatenate([RNG.uniform(-100, 100, 4096), RNG.uniform(-10, 10, 4096), RNG.standard_normal(4096),
                        RNG.uniform(-1e-3, 1e-3, 1024),
                        [0.0, -0.0, np.inf, -np.inf, np.nan, 88.72, -87.3, -104.0, 89.0, -3.4e38, 3.4e38, 1e-30]])
    x = x.astype(np.float32)
    base = os.path.join(out, f"math_{op}_{mcpu}")
    onnx.save(model([h.make_node(op, ["x"], ["y"])], [("x", [x.size])], {}), base + ".onnx")
    np.save(base + "_x.npy", x)
    r = subprocess.run(["quant-compile", base + ".onnx", "--float", "--mcpu", mcpu, "-o", base + ".so"],
                       capture_output=True, text=True)
    if r.returncode:
        return f"compile failed: {r.stderr.strip()[-300:]}"
    r = subprocess.run(["quant-run", base + ".so", "-i", f"x={base}_x.npy", "-o", base + "_out"],
                       capture_output=True, text=True)
    if r.returncode:
        return f"run failed: {r.stderr.strip()[-300:]}"
    got = np.load(os.path.join(base + "_out", "y.npy")).astype(np.float64)
    fn = {"Erf": np.vectorize(math.erf), "Exp": np.exp, "Tanh": np.tanh}[op]
    with np.errstate(all="ignore"):
        ref = fn(x.astype(np.float64)).astype(np.float32).astype(np.float64)
    if not np.array_equal(np.isnan(got), np.isnan(ref)) or not np.array_equal(np.isinf(got), np.isinf(ref)):
        return "NaN/Inf differ"
    fin = np.isfinite(ref)
    normal = fin & (np.abs(ref) >= np.finfo(np.float32).tiny)
    ulp = np.abs(got[normal] - ref[normal]) / np.spacing(np.abs(ref[normal]).astype(np.float32))
    tiny = fin & ~normal
    if ulp.max() > 8 or (tiny.any() and np.abs(got[tiny] - ref[tiny]).max() > 1e-37):
        return f"max ulp {ulp.max():.3g}"
    return None


def int8_cases():
    """Matmuls and convolutions whose reductions split by 4 (dot4) or not."""
    yield "w8a8 matmul 13x64x40", model([h.make_node("MatMul", ["x", "W"], ["y"])], [("x", [1, 13, 64])],
                                        {"W": w(64, 40)})
    yield "w8a8 matmul 128x96x200", model([h.make_node("MatMul", ["x", "W"], ["y"])], [("x", [1, 128, 96])],
                                          {"W": w(96, 200)})
    yield conv("w8a8 conv 3x3 s1", [1, 16, 13, 37], 24, (3, 3), pads=[1, 1, 1, 1])
    yield conv("w8a8 conv 1x1", [1, 32, 7, 45], 20, (1, 1))
    yield conv("w8a8 conv 3x3 s2", [1, 8, 21, 37], 12, (3, 3), pads=[1, 1, 1, 1], strides=[2, 2])
    yield conv("w8a8 conv groups 2", [1, 16, 9, 20], 8, (3, 3), group=2, pads=[1, 1, 1, 1])
    yield conv("w8a8 conv c=6", [1, 6, 9, 20], 8, (3, 3))
    # 4-bit weights with 8-bit activations: the codes stay packed in the
    # artifact and are widened to bytes for the same kernels.
    yield "w4a8 matmul 13x64x40", model([h.make_node("MatMul", ["x", "W"], ["y"])], [("x", [1, 13, 64])],
                                        {"W": w(64, 40)})
    yield conv("w4a8 conv 3x3 s1", [1, 16, 13, 37], 24, (3, 3), pads=[1, 1, 1, 1])
    yield conv("w4a8 conv 1x1", [1, 32, 7, 45], 20, (1, 1))
    yield conv("w4a8 conv groups 2", [1, 16, 9, 20], 8, (3, 3), group=2, pads=[1, 1, 1, 1])


# Output SQNR against float that each weight width stays above on these
# layers: about 6 dB per weight bit (8-bit activations cost less than
# 4-bit weights); measured 41-44 dB at W8A8 and 19-23 dB at W4A8 here.
MIN_SQNR_DB = {"w8a8": 25, "w4a8": 14}


def int8_case(name, m, host, out):
    base = os.path.join(out, name.replace(" ", "_").replace("=", ""))
    onnx.save(m, base + ".onnx")
    sess = ort.InferenceSession(base + ".onnx", providers=["CPUExecutionProvider"])
    feeds = {i.name: RNG.standard_normal(i.shape).astype(np.float32) for i in sess.get_inputs()}
    got = {}
    scheme = name.split()[0]
    flags = ["--wbits", "4"] if scheme == "w4a8" else []
    for mcpu in (host, "x86-64-v3"):
        got[mcpu] = compile_and_run(base, f"{base}_{mcpu}.so", ["--quiet", "--mcpu", mcpu, *flags], feeds)
        if isinstance(got[mcpu], str):
            return f"{got[mcpu]} ({mcpu})"
    ref = sess.run(None, feeds)[0].astype(np.float64)
    a, b = got[host], got["x86-64-v3"]
    diff = np.max(np.abs(a - b)) / np.max(np.abs(b))
    sqnr = 10 * np.log10(np.sum(ref ** 2) / np.sum((a - ref) ** 2))
    # Integer accumulation is exact; only the float epilogue may round
    # differently.
    if diff > 1e-6 or sqnr < MIN_SQNR_DB[scheme]:
        return f"host vs x86-64-v3 {diff:.3g}, SQNR vs float {sqnr:.1f} dB"
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("out")
    p.add_argument("--mcpu", action="append", default=[])
    a = p.parse_args()
    os.makedirs(a.out, exist_ok=True)
    ok = failed = 0
    for mcpu in a.mcpu or ["native"]:
        results = [(n, run_case(n, m, mcpu, a.out)) for n, m in cases()]
        results += [(f"math {op}", math_case(op, mcpu, a.out)) for op in ("Erf", "Exp", "Tanh")]
        for name, err in results:
            print(f"{mcpu} {name}: {'ok' if err is None else 'FAIL ' + err}")
            ok += err is None
            failed += err is not None
    host = (a.mcpu or ["native"])[0]
    for name, m in int8_cases():
        err = int8_case(name, m, host, a.out)
        print(f"{host} {name}: {'ok' if err is None else 'FAIL ' + err}")
        ok += err is None
        failed += err is not None
    print(f"register tiles: {ok} ok, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
