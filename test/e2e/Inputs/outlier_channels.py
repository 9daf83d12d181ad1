"""Outlier channels computed in float (quant-compile --outlier-channels),
end to end (test/e2e/outlier-channels.test).

  prepare OUT   writes OUT/linear.onnx (one Gemm, x [R, 48] -> y [R, 24], random
                weights and bias, seed 3) and calibration / evaluation sets
                OUT/calib, OUT/eval of rows of standard normals whose input
                channels 5, 20 and 41 are scaled by 40, 25 and 60 (the few
                massive channels of an LLM's activations).
  check OUT N OFF.so ON.so static|token
                runs both libraries (quant-run, or $QUANT_RUN) on OUT/eval and
                compares them with
                  (a) a float64 numpy model of the decomposition with the N
                      largest calibrated channels S: per-row symmetric int8
                      weights fitted and rounded with S's columns zero, a
                      static int8 activation scale from the calibrated extremes
                      of the other channels (token: per row, from the row's
                      other channels), plus x[:, S] W[:, S]^T in float:
                      ON.so's output within 1e-5 of the output's range on
                      every row whose activation codes are not within float32
                      rounding of a rounding boundary (at most 5% of rows are
                      not compared);
                  (b) onnxruntime's float model: ON.so's SQNR at least 20 dB
                      above OFF.so's (the same scheme without the split, whose
                      static scale must cover the outliers).
                Prints "ok" or FAIL lines (exit 1).
  report OUT N REPORT.json
                the report names the N channels and gives the narrowed range
                (the other channels' calibrated extremes, from numpy).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent.parent
sys.path.insert(0, str(SRC / "test" / "lib"))

import quant_reference as qr  # noqa: E402
from quant_run import finish, run_so  # noqa: E402

K, N, ROWS = 48, 24, 16
OUTLIERS = {5: 40.0, 20: 25.0, 41: 60.0}


def rows(rng: np.random.Generator) -> np.ndarray:
    x = rng.standard_normal((ROWS, K))
    for c, f in OUTLIERS.items():
        x[:, c] *= f
    return x.astype(np.float32)


def prepare(out: Path) -> None:
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(3)
    w = (rng.standard_normal((N, K)) * 0.2).astype(np.float32)
    b = (rng.standard_normal(N) * 0.1).astype(np.float32)
    g = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="fc", transB=1)], "outliers",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [ROWS, K])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [ROWS, N])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, out / "linear.onnx")
    for name, n, seed in (("calib", 8, 1), ("eval", 8, 2)):
        d = out / name
        d.mkdir(exist_ok=True)
        r = np.random.default_rng(seed)
        for i in range(n):
            np.savez(d / f"sample_{i:03d}.npz", x=rows(r))
    print("prepared")


def sqnr(ref: np.ndarray, got: np.ndarray) -> float:
    return float(10 * np.log10((ref**2).sum() / max(((ref - got) ** 2).sum(), 1e-300)))


def check(out: Path, n: int, off: str, on: str, mode: str) -> int:
    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper

    m = onnx.load(out / "linear.onnx")
    init = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    w, b = init["w"].astype(np.float64), init["b"].astype(np.float64)
    calib = np.concatenate([np.load(p)["x"] for p in sorted((out / "calib").glob("*.npz"))])
    amax = np.abs(calib).max(axis=0)
    s = np.sort(np.argsort(-amax, kind="stable")[:n])
    rest = np.setdiff1d(np.arange(K), s)
    # Weights: per output row, symmetric int8 over the quantized columns.
    wq_in = w.copy()
    wq_in[:, s] = 0.0
    lo, hi = np.minimum(wq_in.min(axis=1), 0), np.maximum(wq_in.max(axis=1), 0)
    ws = qr.sym_weight_scale(lo, hi, 8).astype(np.float32)
    ws = np.where(ws == 0, np.float32(1), ws)
    wcodes = qr.quantize(wq_in.astype(np.float32), ws, None, "int8", axis=0)
    wdq = qr.dequantize(wcodes, ws, None, "int8", axis=0).astype(np.float64)
    # Activations: a static scale from the other channels' calibrated
    # extremes, or per row (token) the other channels' absolute maximum / 127
    # (in float32, as the compiled model divides).
    a_lo = min(float(calib[:, rest].min()), 0.0)
    a_hi = max(float(calib[:, rest].max()), 0.0)
    static_scale = np.float32(max(-a_lo, a_hi) / 127.0)
    sess = ort.InferenceSession(str(out / "linear.onnx"), providers=["CPUExecutionProvider"])
    fails = []
    refs, gots_on, gots_off, skipped, total = [], [], [], 0, 0
    for p in sorted((out / "eval").glob("*.npz")):
        x = np.load(p)["x"]
        if mode == "token":
            a_scale = (np.abs(x[:, rest]).max(axis=1) / np.float32(127)).astype(np.float32)[:, None]
        else:
            a_scale = static_scale
        v = x.astype(np.float64) / a_scale.astype(np.float64)
        # Rows with an activation within float32 rounding of a boundary may
        # round either way in the compiled model.
        frac = np.abs(v - np.floor(v) - 0.5)
        near = (frac[:, rest] <= 1e-5 + 2.4e-7 * np.abs(v[:, rest])).any(axis=1)
        xm = x.copy()
        xm[:, s] = 0.0  # zero in the dynamic scale's input; zero weight columns anyway
        xdq = qr.dequantize(qr.quantize(xm, a_scale, None, "int8"), a_scale, None, "int8").astype(np.float64)
        ref = xdq @ wdq.T + x[:, s].astype(np.float64) @ w[:, s].T + b
        got = run_so(on, p)
        scale = np.abs(ref).max()
        bad = (np.abs(got - ref) > 1e-5 * scale).any(axis=1) & ~near
        if bad.any():
            i = int(np.argmax(bad))
            fails.append(f"{p.name}: row {i} differs from the numpy model by "
                         f"{np.abs(got[i] - ref[i]).max():.3g} (output range {scale:.3g})")
        skipped += int(near.sum())
        total += len(near)
        refs.append(sess.run(None, {"x": x})[0].astype(np.float64))
        gots_on.append(got)
        gots_off.append(run_so(off, p))
    if skipped > 0.05 * total:
        fails.append(f"{skipped} of {total} rows near a rounding boundary (more than 5%)")
    ref, on_y, off_y = np.concatenate(refs), np.concatenate(gots_on), np.concatenate(gots_off)
    s_on, s_off = sqnr(ref, on_y), sqnr(ref, off_y)
    print(f"outlier channels {list(map(int, s))}: SQNR against onnxruntime {s_on:.1f} dB with, "
          f"{s_off:.1f} dB without; {skipped} of {total} rows not compared")
    if s_on < s_off + 20:
        fails.append(f"SQNR with the split {s_on:.1f} dB is not 20 dB above {s_off:.1f} dB")
    return finish(fails, "ok")


def report(out: Path, n: int, path: str) -> int:
    import json

    calib = np.concatenate([np.load(p)["x"] for p in sorted((out / "calib").glob("*.npz"))])
    s = np.sort(np.argsort(-np.abs(calib).max(axis=0), kind="stable")[:n])
    rest = np.setdiff1d(np.arange(K), s)
    want = [min(float(calib[:, rest].min()), 0.0), max(float(calib[:, rest].max()), 0.0)]
    layer = json.load(open(path))["layers"][0]
    fails = []
    if layer["outlierChannels"] != [int(c) for c in s]:
        fails.append(f"outlierChannels {layer['outlierChannels']}, numpy {list(map(int, s))}")
    if not np.allclose(layer["actRange"], want, rtol=1e-6, atol=0):
        fails.append(f"actRange {layer['actRange']}, numpy {want}")
    return finish(fails, "report: ok")


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "prepare":
        prepare(Path(argv[1]))
        return 0
    if len(argv) == 4 and argv[0] == "report":
        return report(Path(argv[1]), int(argv[2]), argv[3])
    if len(argv) == 6 and argv[0] == "check" and argv[5] in ("static", "token"):
        return check(Path(argv[1]), int(argv[2]), argv[3], argv[4], argv[5])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
