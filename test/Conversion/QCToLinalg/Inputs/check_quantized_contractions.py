"""qc.quantized_linear and qc.quantized_contraction compiled to a model.so and
compared with numpy in float64.

The ops are written directly (not formed from QDQ), with random codes,
scales, zero points and inputs. Each op appears twice: with constant weight
codes, which the CPU target computes on the codes
(qc-cpu-lower-quantized-contractions: i32 accumulation, dot4 on VNNI hosts),
and with weight codes quantized at run time from a function input, which it
leaves to qc-convert-to-linalg's float lowering. Activations are quantized in
the function by qc.quantize; test/lib/quant_reference.py quantizes them
independently (round half to even, saturate) and computes sum(dequantize(x) *
dequantize(w)) in float64.

Cases:
  linear_*: x [R, 24] uint8 per tensor with a zero point, W [10, 24] int8 per
    output channel, bias [10];
  conv_*: a 1-D convolution out[t, o] = init[t, o] + sum_{c, k} x[t + k, c] *
    w[o, c, k], x [8, 8] int8 per tensor, w [5, 8, 3] int8 per output
    channel, init [6, 5].

usage: check_quantized_contractions.py OUTDIR ROWS
Prints one line per case and "ok", or FAIL lines; non-zero exit on failure.
"""
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "lib"))
import mlir_model  # noqa: E402
from mlir_model import flit, lit  # noqa: E402
import quant_reference as ref  # noqa: E402

K, N = 24, 10
T, C, O, KW = 6, 8, 5, 3


def ttype(shape, elt):
    return "tensor<" + "".join(f"{d}x" for d in shape) + elt + ">"


def to_i8(v):
    """Unsigned byte values as the i8 literals MLIR stores."""
    v = np.asarray(v)
    return np.where(v >= 128, v - 256, v)


def main():
    out, rows = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((rows, K)).astype(np.float32)
    xs, xz = np.float32(0.02), 131  # uint8 with a zero point
    wl = rng.integers(-127, 128, (N, K))
    wls = rng.uniform(0.005, 0.02, N).astype(np.float32)
    bias = rng.standard_normal(N).astype(np.float32)
    wf = (wl * wls[:, None] + rng.uniform(-0.4, 0.4, (N, K)) * wls[:, None]).astype(np.float32)
    u = rng.standard_normal((T + KW - 1, C)).astype(np.float32)
    us = np.float32(0.03)
    wc = rng.integers(-127, 128, (O, C, KW))
    wcs = rng.uniform(0.005, 0.02, O).astype(np.float32)
    wcf = (wc * wcs[:, None, None]).astype(np.float32)
    init = rng.standard_normal((T, O)).astype(np.float32)

    fi8 = "#qc.format<int8>"
    xt, wt = f"tensor<?x{K}xi8>", f"tensor<{N}x{K}xi8>"
    lin_attrs = f"{{input_format = #qc.format<uint8>, weight_format = {fi8}}}"
    ut, ct = f"tensor<{T + KW - 1}x{C}xi8>", f"tensor<{O}x{C}x{KW}xi8>"
    conv_attrs = (
        "{indexing_maps = [affine_map<(t, o, c, k) -> (t + k, c)>, affine_map<(t, o, c, k) -> (o, c, k)>, "
        "affine_map<(t, o, c, k) -> (t, o)>], iterator_types = [\"parallel\", \"parallel\", \"reduction\", "
        f"\"reduction\"], rhs_channel_dims = array<i64: 0>, lhs_format = {fi8}, rhs_format = {fi8}}}")
    src = f"""func.func @main(%x: tensor<?x{K}xf32>, %wf: tensor<{N}x{K}xf32>, %u: tensor<{T + KW - 1}x{C}xf32>,
                 %wcf: tensor<{O}x{C}x{KW}xf32>)
    -> (tensor<?x{N}xf32>, tensor<?x{N}xf32>, tensor<{T}x{O}xf32>, tensor<{T}x{O}xf32>)
    attributes {{qc.input_names = ["x", "wf", "u", "wcf"],
                qc.output_names = ["linear_const", "linear_runtime", "conv_const", "conv_runtime"]}} {{
  %xs = arith.constant dense<{flit(xs)}> : tensor<f32>
  %xz = arith.constant dense<{to_i8(xz)}> : tensor<i8>
  %xq = qc.quantize %x, %xs, %xz {{format = #qc.format<uint8>}} : (tensor<?x{K}xf32>, tensor<f32>, tensor<i8>) -> {xt}
  %wl = arith.constant dense<{lit(wl)}> : {wt}
  %wls = arith.constant dense<{flit(wls)}> : tensor<{N}xf32>
  %b = arith.constant dense<{flit(bias)}> : tensor<{N}xf32>
  %y0 = qc.quantized_linear %xq, %xs zero_point %xz weight %wl, %wls bias %b {lin_attrs}
      : ({xt}, tensor<f32>, tensor<i8>, {wt}, tensor<{N}xf32>, tensor<{N}xf32>) -> tensor<?x{N}xf32>
  %wq = qc.quantize %wf, %wls {{axis = 0 : i64, format = {fi8}}} : (tensor<{N}x{K}xf32>, tensor<{N}xf32>) -> {wt}
  %y1 = qc.quantized_linear %xq, %xs zero_point %xz weight %wq, %wls bias %b {lin_attrs}
      : ({xt}, tensor<f32>, tensor<i8>, {wt}, tensor<{N}xf32>, tensor<{N}xf32>) -> tensor<?x{N}xf32>
  %us = arith.constant dense<{flit(us)}> : tensor<f32>
  %uq = qc.quantize %u, %us {{format = {fi8}}} : (tensor<{T + KW - 1}x{C}xf32>, tensor<f32>) -> {ut}
  %wc = arith.constant dense<{lit(wc)}> : {ct}
  %wcs = arith.constant dense<{flit(wcs)}> : tensor<{O}xf32>
  %init = arith.constant dense<{flit(init)}> : tensor<{T}x{O}xf32>
  %y2 = qc.quantized_contraction %uq, %us weight %wc, %wcs init %init {conv_attrs}
      : ({ut}, tensor<f32>, {ct}, tensor<{O}xf32>, tensor<{T}x{O}xf32>) -> tensor<{T}x{O}xf32>
  %wcq = qc.quantize %wcf, %wcs {{axis = 0 : i64, format = {fi8}}}
      : (tensor<{O}x{C}x{KW}xf32>, tensor<{O}xf32>) -> {ct}
  %y3 = qc.quantized_contraction %uq, %us weight %wcq, %wcs init %init {conv_attrs}
      : ({ut}, tensor<f32>, {ct}, tensor<{O}xf32>, tensor<{T}x{O}xf32>) -> tensor<{T}x{O}xf32>
  return %y0, %y1, %y2, %y3 : tensor<?x{N}xf32>, tensor<?x{N}xf32>, tensor<{T}x{O}xf32>, tensor<{T}x{O}xf32>
}}
"""
    try:
        got = mlir_model.compile_and_run(src, out, {"x": x, "wf": wf, "u": u, "wcf": wcf}, "qc")
    except RuntimeError as e:
        print("FAIL:", e)
        return 1

    def deq(q, scale, zp=0):
        return (q - zp) * np.asarray(scale, np.float64)

    xd = deq(ref.quantize(x, xs, np.int64(xz), "uint8"), xs, xz)
    wld = wl * wls.astype(np.float64)[:, None]
    wqd = deq(ref.quantize(wf, wls, None, "int8", axis=0), wls[:, None])
    ud = deq(ref.quantize(u, us, None, "int8"), us)
    wcd = wc * wcs.astype(np.float64)[:, None, None]
    wcqd = deq(ref.quantize(wcf, wcs, None, "int8", axis=0), wcs[:, None, None])

    def conv(w):
        y = init.astype(np.float64).copy()
        for k in range(KW):
            y += ud[k:k + T] @ w[:, :, k].T
        return y

    want = {
        "linear_const": xd @ wld.T + bias,
        "linear_runtime": xd @ wqd.T + bias,
        "conv_const": conv(wcd),
        "conv_runtime": conv(wcqd),
    }
    return 1 if mlir_model.report(want, got) else 0

if __name__ == "__main__":
    sys.exit(main())
