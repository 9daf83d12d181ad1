"""A small CNN for qc-rotate's online transforms over convolution inputs.

usage: rotate_convs.py build OUT_DIR
       rotate_convs.py compare MODEL.onnx EVAL_DIR ROTATED.so PLAIN.so --min-gain DB

`build` writes OUT_DIR/conv.onnx, calibration samples in OUT_DIR/calib and
held-out samples in OUT_DIR/eval (one .npz each, input `x` [1, 8, 12, 16]).
The network: a first 3x3 convolution (8 -> 24; 8 channels are too few for
an online transform), a depthwise 3x3 (never rotated), a 1x1 (24 -> 48), a
3x3 with zero padding and a 1x1 reading the same input (48 -> 48 each: one
shared transform), a 1x3 with padding (48 -> 48), a 1x1 (48 -> 24), global
average pooling and a Gemm head. Each rotatable weight row has a few
entries 25x the others, like PP-OCRv4's pointwise convolutions after their
squeeze-and-excitation gates: what 4-bit per-channel steps serve worst.

`compare` runs both libraries (quant-run) and onnxruntime on every held-out
sample and prints each one's SQNR against onnxruntime's float output; it
fails unless the rotated one is at least DB better.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

C0, H, W = 8, 12, 16


def weight(rng, m, c, kh=1, kw=1, outliers=True):
    w = rng.standard_normal((m, c, kh, kw)) / np.sqrt(c * kh * kw)
    if outliers:
        for o in range(m):
            idx = rng.choice(c, size=2, replace=False)
            w[o, idx] *= 25.0
    return w.astype(np.float32)


def build(out: Path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(11)
    nodes, inits = [], []

    def conv(name, x, w, pads=(0, 0, 0, 0), group=1):
        inits.append(numpy_helper.from_array(w, name + ".w"))
        inits.append(numpy_helper.from_array((0.1 * rng.standard_normal(w.shape[0])).astype(np.float32),
                                             name + ".b"))
        nodes.append(helper.make_node("Conv", [x, name + ".w", name + ".b"], [name], name=name,
                                      kernel_shape=list(w.shape[2:]), pads=list(pads), group=group))
        return name

    def act(op, x, name):
        nodes.append(helper.make_node(op, [x], [name], name=name))
        return name

    a = act("Relu", conv("c0", "x", weight(rng, 24, C0, 3, 3, False), (1, 1, 1, 1)), "r0")
    d = act("HardSwish", conv("dw", a, weight(rng, 24, 1, 3, 3, False), (1, 1, 1, 1), group=24), "h0")
    b = act("Relu", conv("pw1", d, weight(rng, 48, 24)), "r1")
    c3 = conv("c3", b, weight(rng, 48, 48, 3, 3), (1, 1, 1, 1))
    c1 = conv("c1", b, weight(rng, 48, 48))
    nodes.append(helper.make_node("Add", [c3, c1], ["sum"], name="sum"))
    s = act("Relu", "sum", "r2")
    e = act("Relu", conv("c13", s, weight(rng, 48, 48, 1, 3), (0, 1, 0, 1)), "r3")
    f = act("Relu", conv("pw2", e, weight(rng, 24, 48)), "r4")
    nodes.append(helper.make_node("GlobalAveragePool", [f], ["gap"], name="gap"))
    nodes.append(helper.make_node("Flatten", ["gap"], ["flat"], name="flat"))
    inits.append(numpy_helper.from_array((rng.standard_normal((10, 24)) / 5).astype(np.float32), "head.w"))
    inits.append(numpy_helper.from_array(np.zeros(10, np.float32), "head.b"))
    nodes.append(helper.make_node("Gemm", ["flat", "head.w", "head.b"], ["y"], name="head", transB=1))
    graph = helper.make_graph(nodes, "rotate_convs",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, C0, H, W])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    out.mkdir(parents=True, exist_ok=True)
    onnx.save(model, out / "conv.onnx")
    for sub, n, seed in (("calib", 16, 1), ("eval", 16, 2)):
        (out / sub).mkdir(exist_ok=True)
        r = np.random.default_rng(seed)
        for i in range(n):
            # Smooth maps with a per-channel offset, not white noise.
            z = r.standard_normal((1, C0, H + 2, W + 2))
            z = (z[..., :-2, :-2] + z[..., 1:-1, 1:-1] + z[..., 2:, 2:]) / 2 + r.uniform(-0.5, 0.5, (1, C0, 1, 1))
            np.savez(out / sub / f"s{i:02d}.npz", x=z.astype(np.float32))
    print("rotate convs: built")


def sqnr(ref, got):
    ref = np.asarray(ref, np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / np.sum((ref - np.asarray(got, np.float64)) ** 2))


def compare(a):
    import onnxruntime as ort

    sess = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"])
    samples = [np.load(p)["x"] for p in sorted(Path(a.eval_dir).glob("*.npz"))]
    ref = np.concatenate([sess.run(None, {"x": x})[0] for x in samples])
    got = {}
    with tempfile.TemporaryDirectory() as tmp:
        for key, so in (("rotated", a.rotated), ("plain", a.plain)):
            outs = []
            for i, x in enumerate(samples):
                path = os.path.join(tmp, f"x{i}.npy")
                np.save(path, x)
                r = subprocess.run([os.environ.get("QUANT_RUN", "quant-run"), so, "-i", f"x={path}", "-o", tmp],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    print(f"quant-run {so} failed: {r.stderr.strip()}")
                    return 1
                outs.append(np.load(os.path.join(tmp, "y.npy")))
            got[key] = sqnr(ref, np.concatenate(outs))
    gain = got["rotated"] - got["plain"]
    print(f"SQNR against onnxruntime FP32: rotated {got['rotated']:.2f} dB, plain {got['plain']:.2f} dB, "
          f"gain {gain:.2f} dB")
    ok = gain >= a.min_gain
    print("rotate convs: ok" if ok else f"rotate convs: FAIL (gain {gain:.2f} dB < {a.min_gain} dB)")
    return 0 if ok else 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build")
    b.add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("model")
    c.add_argument("eval_dir")
    c.add_argument("rotated")
    c.add_argument("plain")
    c.add_argument("--min-gain", type=float, required=True)
    a = p.parse_args()
    if a.cmd == "build":
        build(a.out)
        return 0
    return compare(a)


if __name__ == "__main__":
    sys.exit(main())
