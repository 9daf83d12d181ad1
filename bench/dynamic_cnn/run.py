#!/usr/bin/env python3
"""Dynamic-shape CNN benchmark (a benchmark, not a test): PP-OCRv4 det and rec
compiled as they ship (no --input-shape: batch, height and width dynamic)
against the same models compiled for one shape, and against onnxruntime on
the same file at other sizes.

For det (benchmark size 640x640; others 960x960 and 480x640) and rec (48x320;
others 48x160 and 48x640), batch 1, and each scheme (FP32: --float; W8A8:
--calib over 16 rendered-text samples at the benchmark size, the default
static scheme) it measures, with the timing of bench/fp32/run.py (quant-run
--bench N --threads T; onnxruntime's FP32 session, sequential, default
optimisations; medians):

  - at the benchmark size: the static .so (--input-shape x=1,3,H,W) and the
    dynamic .so, and their ratio (target: dynamic within 10%);
  - at every size: the dynamic .so that also carries a variant specialized
    for the benchmark size (--specialize x=1,3,H,W): at that size it runs the
    variant (ratio to the static .so), at the others its dynamic code;
  - at every size: the dynamic .so against onnxruntime FP32 (ms, ratio) and
    the SQNR of its output against onnxruntime's on 4 rendered-text inputs of
    that size (bench/quant_vs_ort/quant_data.py, the same images for every
    row of a size).

Prints one markdown table; --out also writes it, with the machine line.
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
sys.path.insert(0, str(REPO_ROOT / "bench" / "quant_vs_ort"))
import quant_data as qd  # noqa: E402


def _load_fp32_bench():
    spec = importlib.util.spec_from_file_location("fp32_bench", REPO_ROOT / "bench" / "fp32" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fb = _load_fp32_bench()

SIZES = {"det": [(640, 640), (960, 960), (480, 640)], "rec": [(48, 320), (48, 160), (48, 640)]}


def images(key: str, h: int, w: int, n: int, seed: int) -> np.ndarray:
    return np.concatenate([qd.make_image(key, np.random.default_rng([seed, i]), h, w) for i in range(n)])


def sqnr(runner: str, so: Path, sess, xs: np.ndarray, work: Path) -> float:
    num = den = 0.0
    for i in range(xs.shape[0]):
        x = xs[i:i + 1]
        np.save(work / "s.npy", x)
        out = work / "s_out"
        r = subprocess.run([runner, str(so), "-i", f"x={work / 's.npy'}", "-o", str(out)], capture_output=True,
                           text=True)
        if r.returncode:
            raise RuntimeError(r.stderr.strip())
        y = np.load(next(out.glob("*.npy"))).astype(np.float64)
        ref = sess.run(None, {"x": x})[0].astype(np.float64)
        num += float((ref ** 2).sum())
        den += float(((ref - y) ** 2).sum())
    return 10 * np.log10(num / den) if den > 0 else float("inf")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="bench/dynamic_cnn/run.py", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", default="det,rec")
    p.add_argument("--schemes", default="fp32,w8a8")
    p.add_argument("--threads", default="1")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    p.add_argument("--models-dir", type=Path, default=Path.home() / ".cache" / "quant" / "models")
    p.add_argument("--work-dir", type=Path)
    p.add_argument("--out", type=Path)
    a = p.parse_args(argv)
    import onnxruntime as ort

    compiler = str(a.build_dir / "bin" / "quant-compile")
    runner = str(a.build_dir / "bin" / "quant-run")
    threads = [int(t) for t in a.threads.split(",")]
    tmp = tempfile.TemporaryDirectory() if not a.work_dir else None
    work = a.work_dir or Path(tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    lines = ["| model | size | scheme | threads | static .so ms | dynamic .so ms | dynamic / static | "
             "dynamic + variant .so ms | dynamic + variant / static | "
             "onnxruntime FP32 ms | dynamic / onnxruntime | SQNR dB (vs onnxruntime FP32) |",
             "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for key in a.models.split(","):
        model = a.models_dir / f"ppocr-v4-{key}.onnx"
        (bh, bw) = SIZES[key][0]
        calib = work / f"{key}_calib"
        if not calib.exists():
            qd.save_npz_dir(qd.make_samples(key, 16, 1000, "text"), calib)
        sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
        for scheme in a.schemes.split(","):
            flags = ["--float"] if scheme == "fp32" else ["--calib", str(calib), "--quiet"]
            dyn = work / f"{key}_{scheme}_dyn.so"
            static = work / f"{key}_{scheme}_static.so"
            variant = work / f"{key}_{scheme}_variant.so"
            subprocess.run([compiler, str(model), *flags, "-o", str(dyn)], check=True, capture_output=True)
            subprocess.run([compiler, str(model), *flags, "--specialize", f"x=1,3,{bh},{bw}", "-o", str(variant)],
                           check=True, capture_output=True)
            subprocess.run([compiler, str(model), *flags, "--input-shape", f"x=1,3,{bh},{bw}", "-o", str(static)],
                           check=True, capture_output=True)
            for (h, w) in SIZES[key]:
                x = images(key, h, w, 1, 7)
                np.save(work / "x.npy", x)
                args = ["-i", f"x={work / 'x.npy'}"]
                quality = sqnr(runner, dyn, sess, images(key, h, w, 4, 3000), work)
                for t in threads:
                    d_ms = fb.quant_run_median_ms(runner, dyn, args, t, a.runs, 200.0, 600)
                    v_ms = fb.quant_run_median_ms(runner, variant, args, t, a.runs, 200.0, 600)
                    s_ms = (fb.quant_run_median_ms(runner, static, args, t, a.runs, 200.0, 600)
                            if (h, w) == (bh, bw) else None)
                    o_ms = fb.ort_median_ms(model, {"x": x}, t, a.runs, 3, 200.0)
                    lines.append(f"| {key} | {h}x{w} | {scheme.upper()} | {t} | {fb.fmt(s_ms)} | {d_ms:.3f} | "
                                 f"{'—' if s_ms is None else f'{d_ms / s_ms:.3f}'} | {v_ms:.3f} | "
                                 f"{'—' if s_ms is None else f'{v_ms / s_ms:.3f}'} | {o_ms:.3f} | "
                                 f"{d_ms / o_ms:.3f} | {quality:.2f} |")
                    print(lines[-1], flush=True)
    text = "\n".join([fb.machine_line(), ""] + lines)
    print()
    print(text)
    if a.out:
        a.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
