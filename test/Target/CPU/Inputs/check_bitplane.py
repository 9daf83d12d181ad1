"""Bit-plane integer layers (qc-bitplane, #qc.encoding<bitplane>) against an
int64 numpy reference and against the same model compiled without them.

One model holds a qc.quantized_linear for every weight bits x activation
bits pair, W1..W8 x A1..A8, twice: both operands unsigned (uintW weights,
uintA activations) and both signed (intW, intA); and a few with mixed
signedness. Every activation has a random zero point (so the epilogue's
zero-point term runs too). Activations are quantized in the function by
qc.quantize at scale 1 from random floats, weights are random constant
codes, K = 100 (not a multiple of the 64-bit words) and 3 rows.

With unit scales and no bias each output is the integer sum
sum_k (x_q - z_x) w_q exactly (|sum| < 2^24, exact in f32), so the check is
equality, not a tolerance:
  - --bitplane on: every output equals the int64 reference;
  - --bitplane off (the i32 / dot4 kernels): likewise;
  - a second model with random scales and a bias (the float epilogue):
    --bitplane on and off give bitwise identical outputs, and both are
    within 1e-6 (relative L2) of a float64 reference.
It also checks that `on` lowered every layer as bit planes (math.ctpop in
the linalg IR, one per pair of planes) and `off` none.

usage: check_bitplane.py OUTDIR
"""
import os
import re
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "lib"))
import mlir_model  # noqa: E402
from mlir_model import flit, lit  # noqa: E402
import quant_reference as ref  # noqa: E402

K, N, ROWS = 100, 5, 3


def fmt(bits, signed):
    return ("int" if signed else "uint") + str(bits)


def storage(code, bits):
    """A code as the signless iB literal MLIR prints (two's complement)."""
    code = int(code) & ((1 << bits) - 1)
    return code - (1 << bits) if bits > 1 and code >= 1 << (bits - 1) else code


def cases():
    out = []
    for wb in range(1, 9):
        for ab in range(1, 9):
            out.append((wb, False, ab, False))
            out.append((wb, True, ab, True))
    out += [(1, True, 1, False), (2, False, 3, True), (4, True, 8, False), (8, False, 4, True),
            (3, True, 2, False), (1, False, 7, True)]
    return out


def build(rng, scaled):
    """The model's source, its reference outputs (float64) and the x input."""
    x = rng.uniform(-300, 300, (ROWS, K)).astype(np.float32)
    lines, names, want, quants = [], [], {}, {}
    one = flit(np.float32(1))
    for idx, (wb, ws, ab, xs_) in enumerate(cases()):
        af = fmt(ab, xs_)
        if af not in quants:
            lo, hi = ref.int_range(ab, xs_)
            z = int(rng.integers(lo, hi + 1))
            s = np.float32(rng.uniform(2, 40)) if scaled else np.float32(1)
            q = f"%xq{len(quants)}"
            lines.append(f"  %xs{len(quants)} = arith.constant dense<{flit(s)}> : tensor<f32>")
            lines.append(f"  %xz{len(quants)} = arith.constant dense<{storage(z, ab)}> : tensor<i{ab}>")
            lines.append(f"  {q} = qc.quantize %x, %xs{len(quants)}, %xz{len(quants)} {{format = #qc.format<{af}>}}"
                         f" : (tensor<?x{K}xf32>, tensor<f32>, tensor<i{ab}>) -> tensor<?x{K}xi{ab}>")
            codes = ref.quantize(x, s, np.int64(z), af)
            quants[af] = (q, f"%xs{len(quants)}", f"%xz{len(quants)}", codes, z, s)
        q, qs, qz, codes, z, s = quants[af]
        lo, hi = ref.int_range(wb, ws)
        w = rng.integers(lo, hi + 1, (N, K))
        sw = (rng.uniform(0.001, 0.01, N) if scaled else np.ones(N)).astype(np.float32)
        bias = rng.standard_normal(N).astype(np.float32) if scaled else None
        wt = f"tensor<{N}x{K}xi{wb}>"
        lines.append(f"  %w{idx} = arith.constant dense<{lit(np.vectorize(lambda c: storage(c, wb))(w))}> : {wt}")
        lines.append(f"  %ws{idx} = arith.constant dense<{flit(sw)}> : tensor<{N}xf32>")
        btxt, btype = "", ""
        if scaled:
            lines.append(f"  %b{idx} = arith.constant dense<{flit(bias)}> : tensor<{N}xf32>")
            btxt, btype = f" bias %b{idx}", f", tensor<{N}xf32>"
        lines.append(
            f"  %y{idx} = qc.quantized_linear {q}, {qs} zero_point {qz} weight %w{idx}, %ws{idx}{btxt}"
            f" {{input_format = #qc.format<{af}>, weight_format = #qc.format<{fmt(wb, ws)}>}}"
            f" : (tensor<?x{K}xi{ab}>, tensor<f32>, tensor<i{ab}>, {wt}, tensor<{N}xf32>{btype}) -> tensor<?x{N}xf32>")
        name = f"w{wb}{'s' if ws else 'u'}_a{ab}{'s' if xs_ else 'u'}"
        names.append((name, f"%y{idx}"))
        acc = (codes - z) @ w.T  # int64
        if scaled:
            want[name] = acc.astype(np.float64) * np.float64(s) * sw.astype(np.float64) + bias
        else:
            want[name] = acc
    otypes = ", ".join(f"tensor<?x{N}xf32>" for _ in names)
    src = (f"func.func @main(%x: tensor<?x{K}xf32>) -> ({otypes})\n"
           f"    attributes {{qc.input_names = [\"x\"], qc.output_names = [{', '.join(repr(n) for n, _ in names)}]}} {{\n"
           + "\n".join(lines) + "\n"
           f"  return {', '.join(v for _, v in names)} : {otypes}\n}}\n").replace("'", '"')
    return src, want, x


def count_ctpop(src, out, mode):
    path = os.path.join(out, f"count_{mode}.mlir")
    with open(path, "w") as f:
        f.write(src)
    r = subprocess.run([os.environ.get("QUANT_COMPILE", "quant-compile"), path, "--quiet", "--bitplane", mode,
                        "--compile-to=linalg", "-o", "-"], capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(r.stderr)
    return len(re.findall(r"math\.ctpop", r.stdout))


def main():
    out = sys.argv[1]
    rng = np.random.default_rng(11)
    failed = 0
    src, want, x = build(rng, scaled=False)
    n = len(want)
    on = mlir_model.compile_and_run(src, os.path.join(out, "exact_on"), {"x": x}, flags=["--bitplane", "on"])
    off = mlir_model.compile_and_run(src, os.path.join(out, "exact_off"), {"x": x}, flags=["--bitplane", "off"])
    for name, w in want.items():
        for mode, got in (("on", on), ("off", off)):
            g = got[name].astype(np.float64)
            if g.shape != w.shape or not np.array_equal(g, w):
                print(f"FAIL: {name} --bitplane {mode}: max |diff| {np.abs(g - w).max()}")
                failed += 1
    print(f"exact: {n} layers, {failed} mismatches")
    # One population count per pair of planes in each layer's contraction.
    pairs = sum(wb * ab for wb, _, ab, _ in cases())
    c_on, c_off = count_ctpop(src, out, "on"), count_ctpop(src, out, "off")
    print(f"bit-plane popcounts: on {c_on} of {pairs}, off {c_off}")
    if c_on != pairs or c_off != 0:
        print(f"FAIL: expected {pairs} and 0 population counts")
        failed += 1

    src, want, x = build(rng, scaled=True)
    on = mlir_model.compile_and_run(src, os.path.join(out, "scaled_on"), {"x": x}, flags=["--bitplane", "on"])
    off = mlir_model.compile_and_run(src, os.path.join(out, "scaled_off"), {"x": x}, flags=["--bitplane", "off"])
    same = sum(np.array_equal(on[k].view(np.uint32), off[k].view(np.uint32)) for k in want)
    print(f"scaled: {same} of {len(want)} outputs bitwise identical on/off")
    if same != len(want):
        failed += 1
        print("FAIL: --bitplane on and off differ")
    worst = max(np.linalg.norm(on[k] - w) / np.linalg.norm(w) for k, w in want.items())
    print(f"scaled: worst rel_l2 vs float64 {worst:.2e}")
    if not worst < 1e-6:
        failed += 1
        print("FAIL: scaled outputs off the float64 reference")
    print("ok" if not failed else f"FAIL: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
