"""qc.linear with dequantized constant weights (the contraction that
dequantizes each weight element where it multiplies it), compiled to a
model.so and compared with numpy in float64: random codes, scales and zero
points written into a .mlir file, y = x @ ((q - zp) * s).T computed here.

Cases (K = 16): uint4 asymmetric in groups of 4 along K with N = 32 (codes
in panels of 32 columns); int4 with one per-tensor scale, N = 20 (no panel
divides it: the [K, N] layout); uint4 asymmetric per output channel, N = 16.

usage: check_dequantized_linear.py OUTDIR ROWS
Prints one line per case and "ok", or FAIL lines; non-zero exit on failure.
"""
import os
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "lib"))
import mlir_model  # noqa: E402
from mlir_model import lit  # noqa: E402

K = 16


def i4(v):
    """MLIR literal of 4-bit codes (two's complement as i4)."""
    v = np.asarray(v)
    return np.where(v >= 8, v - 16, v)


def cases(rng):
    # name, codes [N, K] (unsigned value), scale, zp (or None), attrs, format
    n = 32
    q = rng.integers(0, 16, (n, K))
    s = rng.uniform(0.01, 0.1, (n, K // 4)).astype(np.float32)
    z = rng.integers(0, 16, (n, K // 4))
    yield "uint4_group4_asym", q, s, z, "axis = 1 : i64, group_size = 4 : i64", "uint4"
    n = 20
    q = rng.integers(-8, 8, (n, K))
    s = np.array(rng.uniform(0.01, 0.1), np.float32)
    yield "int4_tensor", q, s, None, "", "int4"
    n = 16
    q = rng.integers(0, 16, (n, K))
    s = rng.uniform(0.01, 0.1, n).astype(np.float32)
    z = rng.integers(0, 16, n)
    yield "uint4_channel_asym", q, s, z, "axis = 0 : i64", "uint4"


def ttype(shape, elt):
    return "tensor<" + "".join(f"{d}x" for d in shape) + elt + ">"


def main():
    out, rows = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(11)
    cs = list(cases(rng))
    body, results, names = [], [], []
    for name, q, s, z, attrs, fmt in cs:
        n = q.shape[0]
        qt, st = ttype(q.shape, "i4"), ttype(s.shape, "f32")
        body.append(f"  %q_{name} = arith.constant dense<{lit(i4(q))}> : {qt}")
        body.append(f"  %s_{name} = arith.constant dense<{lit(s, '{:.9e}')}> : {st}")
        operands, types = f"%q_{name}, %s_{name}", f"{qt}, {st}"
        if z is not None:
            zt = ttype(z.shape, "i4")
            body.append(f"  %z_{name} = arith.constant dense<{lit(i4(z))}> : {zt}")
            operands, types = operands + f", %z_{name}", types + f", {zt}"
        sep = ", " if attrs else ""
        body.append(f"  %w_{name} = qc.dequantize {operands} {{{attrs}{sep}format = #qc.format<{fmt}>}} : "
                    f"({types}) -> tensor<{n}x{K}xf32>")
        body.append(f"  %y_{name} = qc.linear %x, %w_{name} : (tensor<?x{K}xf32>, tensor<{n}x{K}xf32>) "
                    f"-> tensor<?x{n}xf32>")
        results.append((f"%y_{name}", f"tensor<?x{n}xf32>"))
        names.append(name)
    src = (f"func.func @main(%x: tensor<?x{K}xf32>) -> ({', '.join(t for _, t in results)}) attributes "
           f"{{qc.input_names = [\"x\"], qc.output_names = [{', '.join(chr(34) + n + chr(34) for n in names)}]}} {{\n"
           + "\n".join(body)
           + f"\n  return {', '.join(v for v, _ in results)} : {', '.join(t for _, t in results)}\n}}\n")
    x = rng.standard_normal((rows, K)).astype(np.float32)
    try:
        outputs = mlir_model.compile_and_run(src, out, {"x": x}, "dq")
    except RuntimeError as e:
        print("FAIL:", e)
        return 1
    want = {}
    for name, q, s, z, attrs, fmt in cs:
        qd = q.astype(np.float64)
        sd = s.astype(np.float64)
        zd = np.zeros(()) if z is None else z.astype(np.float64)
        if "group" in name:
            sd, zd = np.repeat(sd, 4, axis=1), np.repeat(zd, 4, axis=1)
        elif s.ndim == 1:
            sd, zd = sd[:, None], (zd[:, None] if z is not None else zd)
        w = (qd - zd) * sd
        want[name] = x.astype(np.float64) @ w.T
    return 1 if mlir_model.report(want, outputs) else 0


if __name__ == "__main__":
    sys.exit(main())
