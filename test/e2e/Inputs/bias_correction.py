"""Bias correction of convolutions (quant-compile --bias-correction), end to
end against onnxruntime's float model (test/e2e/bias-correction.test).

  prepare OUT   writes OUT/single.onnx (one 1x1 convolution) and
                OUT/chain.onnx (3x3 convolution with padding, ReLU, depthwise
                3x3, ReLU, 1x1 convolution), random weights (seed 7), and
                calibration / evaluation sets OUT/calib, OUT/eval of images
                made of flat blocks plus a little noise: inside a block every
                position rounds the same way, so static int8 activations add
                a coherent per-channel offset, the error the correction is for.
  check OUT MODEL SET OFF.so ON.so
                runs both libraries (quant-run, or $QUANT_RUN) on every sample
                of OUT/SET and onnxruntime's float MODEL.onnx, and compares the
                per-output-channel mean error (quantized - float, over samples
                and positions) of the two:
                  single, on its calibration set: a convolution is linear and
                  a 1x1 one reads each position once, so the weights'
                  computed part (from the input's channel means) and the
                  activations' measured part together cancel the mean error
                  exactly up to float32 accumulation: max |mean error| with correction <= 1e-4 of
                  the output's RMS, and at least 20x below the uncorrected;
                  chain, on held-out data: the corrected mean error's RMS over
                  channels is at most half the uncorrected one.
                Prints "MODEL: ok" or FAIL lines (exit 1).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent / "lib"))

from quant_run import finish, run_so  # noqa: E402


def build(path: Path, chain: bool, rng: np.random.Generator) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def const(name, a):
        inits.append(numpy_helper.from_array(a.astype(np.float32), name))
        return name

    c_in = 6
    if not chain:
        w = rng.standard_normal((12, c_in, 1, 1)) * 0.5
        b = rng.standard_normal(12) * 0.1
        nodes.append(helper.make_node("Conv", ["x", const("w", w), const("b", b)], ["y"], name="conv",
                                      kernel_shape=[1, 1]))
        out_shape = [1, 12, 14, 14]
    else:
        w1 = rng.standard_normal((12, c_in, 3, 3)) * 0.3
        b1 = rng.standard_normal(12) * 0.2
        w2 = rng.standard_normal((12, 1, 3, 3)) * 0.4
        b2 = rng.standard_normal(12) * 0.2
        w3 = rng.standard_normal((8, 12, 1, 1)) * 0.4
        b3 = rng.standard_normal(8) * 0.1
        nodes += [
            helper.make_node("Conv", ["x", const("w1", w1), const("b1", b1)], ["c1"], name="conv1",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
            helper.make_node("Conv", ["r1", const("w2", w2), const("b2", b2)], ["c2"], name="dw",
                             kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=12),
            helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
            helper.make_node("Conv", ["r2", const("w3", w3), const("b3", b3)], ["y"], name="conv3",
                             kernel_shape=[1, 1]),
        ]
        out_shape = [1, 8, 14, 14]
    g = helper.make_graph(nodes, "bias_correction",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, c_in, 14, 14])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)


def blocks(rng: np.random.Generator) -> np.ndarray:
    """[1, 6, 14, 14]: per channel, flat 7x7 blocks of random level, noise 1%."""
    levels = rng.uniform(-1.0, 1.0, size=(1, 6, 2, 2))
    x = np.repeat(np.repeat(levels, 7, axis=2), 7, axis=3)
    return (x + 0.01 * rng.standard_normal(x.shape)).astype(np.float32)


def prepare(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    build(out / "single.onnx", False, rng)
    build(out / "chain.onnx", True, rng)
    for name, n, seed in (("calib", 16, 1), ("eval", 16, 2)):
        d = out / name
        d.mkdir(exist_ok=True)
        r = np.random.default_rng(seed)
        for i in range(n):
            np.savez(d / f"sample_{i:03d}.npz", x=blocks(r))
    print("prepared")


def channel_mean_error(so: str, model: Path, samples: list[Path]) -> tuple[np.ndarray, float]:
    import onnxruntime as ort

    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    err, ref_sq, n = 0.0, 0.0, 0
    for s in samples:
        x = np.load(s)["x"]
        ref = sess.run(None, {"x": x})[0].astype(np.float64)
        got = run_so(so, s)
        if got.shape != ref.shape:
            raise SystemExit(f"FAIL: output shape {got.shape}, onnxruntime {ref.shape}")
        err = err + (got - ref).sum(axis=(0, 2, 3))
        ref_sq += float((ref**2).sum())
        n += ref.size // ref.shape[1]
    return err / n, float(np.sqrt(ref_sq / (n * ref.shape[1])))


def check(out: Path, model: str, set_name: str, off: str, on: str) -> int:
    samples = sorted((out / set_name).glob("*.npz"))
    e_off, rms = channel_mean_error(off, out / f"{model}.onnx", samples)
    e_on, _ = channel_mean_error(on, out / f"{model}.onnx", samples)
    print(f"{model}: output rms {rms:.4g}; per-channel mean error max |off| {np.abs(e_off).max():.3g}, "
          f"max |on| {np.abs(e_on).max():.3g}; rms off {np.sqrt((e_off**2).mean()):.3g}, "
          f"on {np.sqrt((e_on**2).mean()):.3g}")
    fails = []
    if model == "single":
        if np.abs(e_on).max() > 1e-4 * rms:
            fails.append(f"corrected mean error {np.abs(e_on).max():.3g} > 1e-4 x output rms {rms:.3g}")
        if np.abs(e_on).max() * 20 > np.abs(e_off).max():
            fails.append("correction removes less than 95% of the largest channel's mean error")
    else:
        if np.sqrt((e_on**2).mean()) > 0.5 * np.sqrt((e_off**2).mean()):
            fails.append("corrected mean error's rms is above half the uncorrected one")
    return finish(fails, f"{model}: ok")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "prepare":
        prepare(Path(argv[1]))
        return 0
    if len(argv) == 6 and argv[0] == "check":
        return check(Path(argv[1]), argv[2], argv[3], argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
