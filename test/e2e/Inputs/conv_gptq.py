"""GPTQ for convolutions, end to end, against numpy.

Three convolutions on an input with correlated channels and smooth spatial
structure: `convA` 3x3, stride 2, padding 1 (6 -> 8 channels), `convB` 1x1
on relu(convA) (8 -> 10), and `convC` 3x3 with dilation 2, padding 2 on the
same input as convA (6 -> 5). `quant-compile --calib --weight-rounding gptq
--compile-to=quantize` (W4 weights per output channel, float activations)
is checked against numpy, which shares nothing with quant's code:

- the statistics table: each windowed convolution's own slot holds the
  mean second moment of its im2col vectors (the padded input read at
  o * stride + k * dilation, entries in (c, ky, kx) order), to float32
  accuracy; the pointwise one's is its input's channel moment;
- the codes: GPTQ in float64 on the weight as [M, C * kh * kw] with that
  Hessian (the table's float32 copy, so that act-order sorts the same
  numbers; per-channel scales from the unmodified weight, act-order, 1%
  damping; Frantar et al. 2022, Algorithm 1): >= 99% of the codes equal,
  the output error tr(D H D^T) within 1% of numpy's and well below
  round-to-nearest's.

  conv_gptq.py prepare OUT
  conv_gptq.py check OUT quantize.mlir
"""

import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parents[1] / "lib"))
import quant_reference as qr  # noqa: E402
from quantized_mlp import parse_stats_table  # noqa: E402

SAMPLES, C_IN, SIZE = 24, 6, 13
BITS = 4
# name: (weight shape, stride, pad, dilation, input)
CONVS = {
    "convA": ((8, C_IN, 3, 3), 2, 1, 1, "x"),
    "convB": ((10, 8, 1, 1), 1, 0, 1, "a"),
    "convC": ((5, C_IN, 3, 3), 1, 2, 2, "x"),
}


def f32(x):
    return np.asarray(x, dtype=np.float32)


def weights():
    rng = np.random.default_rng(5)
    return {n: f32(rng.standard_normal(spec[0]) * 0.2) for n, spec in CONVS.items()}


def im2col(x, k, stride, pad, dil):
    """[positions, C * k * k] vectors of x [C, H, W] (float64)."""
    xp = np.pad(x.astype(np.float64), ((0, 0), (pad, pad), (pad, pad)))
    c, h, w = xp.shape
    span = (k - 1) * dil + 1
    oh, ow = (h - span) // stride + 1, (w - span) // stride + 1
    cols = np.empty((oh * ow, c * k * k))
    for i in range(oh):
        for j in range(ow):
            win = xp[:, i * stride:i * stride + span:dil, j * stride:j * stride + span:dil]
            cols[i * ow + j] = win.reshape(-1)
    return cols, (oh, ow)


def conv(x, w, stride, pad, dil):
    cols, (oh, ow) = im2col(x, w.shape[2], stride, pad, dil)
    return (cols @ w.reshape(w.shape[0], -1).astype(np.float64).T).T.reshape(w.shape[0], oh, ow)


def prepare(out):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out.mkdir(parents=True, exist_ok=True)
    ws = weights()
    nodes, inits = [], []
    for name, (shape, stride, pad, dil, src) in CONVS.items():
        inits.append(numpy_helper.from_array(ws[name], name + ".w"))
        nodes.append(helper.make_node(
            "Conv", [src, name + ".w"], [name + ".y"], name=name, kernel_shape=list(shape[2:]),
            strides=[stride, stride], pads=[pad] * 4, dilations=[dil, dil]))
        if name == "convA":
            nodes.append(helper.make_node("Relu", ["convA.y"], ["a"], name="relu"))
    graph = helper.make_graph(
        nodes, "convs", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C_IN, SIZE, SIZE])],
        [helper.make_tensor_value_info("convB.y", TensorProto.FLOAT, [1, 10, 7, 7]),
         helper.make_tensor_value_info("convC.y", TensorProto.FLOAT, [1, 5, SIZE, SIZE])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, out / "convs.onnx")
    # Channels mixed and each map smoothed: a Hessian far from diagonal.
    rng = np.random.default_rng(9)
    mix = rng.standard_normal((C_IN, C_IN)) * 0.5 + np.eye(C_IN)
    (out / "calib").mkdir(exist_ok=True)
    for s in range(SAMPLES):
        z = rng.standard_normal((C_IN, SIZE + 2, SIZE + 2))
        z = (z[:, :-2, :-2] + z[:, 1:-1, 1:-1] + z[:, 2:, 2:] + z[:, 1:-1, :-2]) / 2
        x = np.einsum("dc,chw->dhw", mix, z) + 0.3
        np.savez(out / "calib" / f"sample_{s:03d}.npz", x=f32(x[None]))
    print("prepared")


def sym_scales(w2):
    """Per row: symmetric scale of the row's extremes (the extreme on code -8)."""
    lo = np.minimum(w2.min(1).astype(np.float64), 0.0)
    hi = np.maximum(w2.max(1).astype(np.float64), 0.0)
    s = f32(qr.sym_weight_scale(lo, hi, BITS))
    s[~(np.abs(s) > 0)] = 1.0
    return s


def round_codes(v, s):
    return np.clip(np.rint(f32(v) / s), -8, 7).astype(np.int64)


def codes_of(text, shape):
    """The i4 constant of `shape` in quant-compile's output (a nested list or
    hex bytes, one per code)."""
    ty = "x".join(map(str, shape)) + "xi4"
    m = re.search(r'arith\.constant dense<("0x[0-9A-Fa-f]+"|\[[^>]*?\])> : tensor<%s>' % ty, text)
    if not m:
        sys.exit(f"no tensor<{ty}> constant in the output")
    body = m.group(1)
    if body.startswith('"0x'):
        raw = np.frombuffer(bytes.fromhex(body[3:-1]), np.uint8).astype(np.int64)
        codes = ((raw & 15) ^ 8) - 8
    else:
        codes = np.array(eval(body), np.int64)
    return codes.reshape(shape[0], -1)


def check(out, mlir):
    text = Path(mlir).read_text()
    table = parse_stats_table(text)
    ws = weights()
    calib = [np.load(p)["x"][0] for p in sorted((out / "calib").glob("*.npz"))]
    ok = True
    inputs = {"x": calib}
    inputs["a"] = [np.maximum(conv(x, ws["convA"], 2, 1, 1), 0) for x in calib]
    for name, (shape, stride, pad, dil, src) in CONVS.items():
        rows = np.concatenate([im2col(x, shape[2], stride, pad, dil)[0] for x in inputs[src]])
        h = rows.T @ rows / rows.shape[0]
        slot = name + "#patch" if shape[2] > 1 else name
        if name == "convC" and slot not in table:
            slot = next((k for k in table if k.startswith("convC#patch")), slot)
        t = table.get(slot, {})
        got = t.get("secondMoment")
        if got is None or got.shape != h.shape:
            print(f"{name}: no second moment of shape {h.shape} in slot '{slot}' "
                  f"(slots: {sorted(table)})")
            ok = False
            continue
        herr = float(np.abs(got - h).max() / np.abs(h).max())
        if t["rows"] != rows.shape[0] or herr > 1e-5:
            print(f"{name}: rows {t['rows']} (numpy {rows.shape[0]}), second moment off by {herr:.2e}")
            ok = False
        # GPTQ from the table's float32 H, checked above against numpy's:
        # the order of columns (act-order) sorts H's diagonal, whose
        # entries for one channel's taps nearly tie, so the reference must
        # sort the same numbers.
        h = got.astype(np.float64)
        w2 = ws[name].reshape(shape[0], -1)
        s = sym_scales(w2)[:, None]
        ref = qr.gptq_codes(w2, h, np.broadcast_to(s, w2.shape), BITS)
        rtn = round_codes(w2, s)
        q = codes_of(text, shape)

        def err(codes):
            d = w2.astype(np.float64) - f32(f32(codes) * s).astype(np.float64)
            return float(np.einsum("nk,kl,nl->", d, h, d))

        same = float(np.mean(q == ref))
        e_rtn, e_ref, e_q = err(rtn), err(ref), err(q)
        print(f"{name}: H {h.shape[0]}x{h.shape[0]} over {rows.shape[0]} vectors; "
              f"{same * 100:.1f}% of codes equal numpy's GPTQ; output error "
              f"rtn {e_rtn:.4g}, numpy gptq {e_ref:.4g}, quant {e_q:.4g}")
        if same < 0.99 or abs(e_q - e_ref) > 0.01 * e_ref or not e_q < 0.9 * e_rtn:
            ok = False
    print("conv gptq: ok" if ok else "conv gptq: MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    cmd, out = sys.argv[1], Path(sys.argv[2])
    if cmd == "prepare":
        prepare(out)
    else:
        sys.exit(check(out, sys.argv[3]))
