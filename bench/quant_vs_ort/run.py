#!/usr/bin/env python3
"""Quantized benchmark: quant's quantized model.so against onnxruntime's int8 quantizer (a benchmark, not a test).

For each model (mlp: examples/mlp_example.py's MLP at batch 1; det: PP-OCRv4
detection at 1x3x640x640; rec: PP-OCRv4 recognition at 1x3x48x320; minilm:
all-MiniLM-L6-v2 at batch 1, sequence 128) it

  1. makes a calibration set of C samples (--calib-samples, default 16) and a
     held-out evaluation set of E samples (--eval-samples, default 8), with
     seeds other than the benchmark input's: "real-looking" inputs from
     bench/quant_vs_ort/quant_data.py (smooth random pages with text-like
     strokes normalised as PP-OCR does, or with --images text real English
     text rendered with Pillow; random token ids between [CLS] and
     [SEP] with attention mask 1; the MLP example's input distribution), saved
     as .npz directories (one sample per file, keyed by input name);
  2. runs onnxruntime's float model on the evaluation set: the reference of
     every SQNR and cosine below;
  3. onnxruntime rows: ORT FP32 (the reference itself), and ORT int8 QDQ:
     onnxruntime.quantization.quantize_static over the SAME calibration
     samples with QuantFormat.QDQ, per_channel=True, weights QInt8,
     activations QUInt8 (ORT's defaults), CalibrationMethod.MinMax, after
     ORT's quant_pre_process (symbolic shape inference where it works, and
     ONNX-level optimisation); when the preprocessed model does not quantize
     into a loadable model, the unprocessed one is quantized instead (the
     notes say which);
  4. our rows, each compiled with quant-compile at the benchmark shapes:
       FP32         --float
       W8A8         --calib CALIB                 (static per-tensor; the default range
                                                  selection and bias correction)
       W8A8 dyn     (no --calib)                  (dynamic per-token)
       W4A16 g128   --wbits 4 --granularity group:128 --abits none
       W4A8         --wbits 4 --calib CALIB
       FP8          --wformat fp8e4m3 --aformat fp8e4m3 --calib CALIB
     and for det and rec, whose batch, height and width are dynamic as
     shipped, two more rows compiled WITHOUT --input-shape (one .so for
     every size, run at the benchmark shape):
       FP32, dynamic shapes   --float
       W8A8, dynamic shapes   --calib CALIB
     each run with quant-run on every evaluation sample;
  5. for every row: SQNR (dB) = 10 log10(sum ref^2 / sum (ref - q)^2) of the
     first output over all evaluation samples, cosine similarity, the median
     latency on the benchmark input for each thread count T (ours:
     `quant-run --bench N --threads T`; onnxruntime: the same session setup
     and timing as bench/fp32/run.py; both with more runs where N take under
     --min-time-ms in all, as there), the size of the .so (ORT rows: the
     .onnx file) and the compile (ORT int8: quantize) seconds.

Prints one markdown table per model and a summary of the targets: our W8A8
SQNR >= ORT int8's, our W8A8 latency <= ORT int8's, our W8A8 >= 1.5x faster
than our FP32. A row that fails shows "—" and the reason goes into the notes;
the script carries on.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE))

import quant_data as qd  # noqa: E402


def _load_fp32_bench():
    """bench/fp32/run.py as a module (its helpers: model_inputs, model_file,
    ort_median_ms, parse_median_ms, machine_line, ...)."""
    spec = importlib.util.spec_from_file_location("bench_fp32_run", REPO_ROOT / "bench" / "fp32" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fp32 = _load_fp32_bench()

PROG = "bench/quant_vs_ort/run.py"
ALL_MODELS = fp32.ALL_MODELS
CALIB_SEED, EVAL_SEED = 1000, 2000  # the benchmark input uses bench/fp32's seed 0 and another generator

# (row name, quant-compile flags; CALIB stands for the calibration directory)
OUR_ROWS = [
    ("FP32", ["--float"]),
    ("W8A8", ["--calib", "CALIB"]),
    ("W8A8 dyn", []),
    ("W4A16 g128", ["--wbits", "4", "--granularity", "group:128", "--abits", "none"]),
    ("W4A8", ["--wbits", "4", "--calib", "CALIB"]),
    ("FP8", ["--wformat", "fp8e4m3", "--aformat", "fp8e4m3", "--calib", "CALIB"]),
]
# Models whose batch, height and width are dynamic as shipped: these rows
# compile them without --input-shape (one .so for every size) and run them
# on the same inputs, to compare with the rows compiled for the benchmark
# shape (bench/dynamic_cnn/run.py has other sizes).
DYNAMIC_MODELS = ("det", "rec")
DYNAMIC_ROWS = [
    ("FP32, dynamic shapes", ["--float"]),
    ("W8A8, dynamic shapes", ["--calib", "CALIB"]),
]


def last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else "no message"


def sanitize(name: str) -> str:
    """quant-run's file name for an output (characters outside [A-Za-z0-9_.-] become '_')."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


class Row:
    def __init__(self, scheme: str):
        self.scheme = scheme
        self.sqnr = self.cos = self.size_mb = self.compile_s = None
        self.sqnr_all: dict[str, float] = {}
        self.ms: dict[int, float | None] = {}
        self.notes: list[str] = []  # what went wrong
        self.info: list[str] = []  # how the row was made

    def record(self) -> dict:
        return {"scheme": self.scheme, "sqnr_db": _json_num(self.sqnr), "cosine": self.cos,
                "sqnr_db_per_output": {k: _json_num(v) for k, v in self.sqnr_all.items()},
                "ms": {str(t): v for t, v in self.ms.items()}, "size_mb": self.size_mb,
                "compile_s": self.compile_s, "notes": self.notes, "info": self.info}


def _json_num(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float) and math.isinf(v):
        return 999.0 if v > 0 else -999.0
    return v


def fmt_db(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if math.isinf(v):
        return "∞" if v > 0 else "-∞"
    return f"{v:.2f}"


def fmt(v, digits=3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def fmt_ms(v) -> str:
    """Three significant digits at least (a microsecond model in ms: 0.000812)."""
    if v is None:
        return "—"
    digits = 3
    while digits < 8 and v < 10 ** (2 - digits):
        digits += 1
    return f"{v:.{digits}f}"


def metrics(row: Row, ref: list[list[np.ndarray]], test: list[list[np.ndarray]], out_names: list[str]) -> None:
    for i, name in enumerate(out_names):
        r, t = qd.concat_output(ref, i), qd.concat_output(test, i)
        row.sqnr_all[name] = qd.sqnr_db(r, t)
        if i == 0:
            row.sqnr = row.sqnr_all[name]
            row.cos = qd.cosine(r, t)


def run_ours_on_samples(runner: str, so: Path, eval_dir: Path, out_names: list[str], timeout: float,
                        work: Path) -> list[list[np.ndarray]]:
    """quant-run on every evaluation .npz; the outputs in model order."""
    outs = []
    for npz in sorted(eval_dir.glob("*.npz")):
        odir = work / "out"
        shutil.rmtree(odir, ignore_errors=True)
        r = fp32.run([runner, str(so), "-i", str(npz), "-o", str(odir)], timeout)
        if r.returncode != 0:
            raise RuntimeError(f"quant-run on {npz.name} exit {r.returncode}: {last_line(r.stderr)}")
        outs.append([np.load(odir / f"{sanitize(n)}.npy") for n in out_names])
    return outs


def bench_ours(runner: str, so: Path, in_args: list[str], threads: list[int], runs: int, min_ms: float,
               timeout: float, row: Row) -> None:
    for t in threads:
        try:
            row.ms[t] = fp32.quant_run_median_ms(runner, so, in_args, t, runs, min_ms, timeout)
        except RuntimeError as e:
            row.ms[t] = None
            row.notes.append(f"T={t}: {e}")
        except subprocess.TimeoutExpired:
            row.ms[t] = None
            row.notes.append(f"T={t}: quant-run timed out after {timeout:g} s")


def ort_loads(model: Path) -> str | None:
    try:
        qd.ort_session(model, 1)
        return None
    except Exception as e:  # noqa: BLE001
        return last_line(str(e))


def ort_int8(model: Path, out: Path, calib: list[dict], row: Row) -> Path | None:
    """quantize_static (preprocessed first; unprocessed when that fails)."""
    t0 = time.perf_counter()
    info = qd.ort_quantize_static(model, out, calib, preprocess=True)
    err = ort_loads(out)
    if err is None:
        row.info.append("quant_pre_process: " + ("yes" + ("" if info.get("symbolic_shape_inference")
                                                           else " (without symbolic shape inference)")
                                                  if info["preprocessed"] else
                                                  f"failed ({info.get('preprocess_error', '?')[:120]}), not used"))
    else:
        row.info.append(f"the preprocessed model quantizes into a model onnxruntime cannot load ({err[:160]}); "
                         "quantized without quant_pre_process")
        qd.ort_quantize_static(model, out, calib, preprocess=False)
        err = ort_loads(out)
        if err is not None:
            raise RuntimeError(f"quantize_static's model does not load: {err}")
    row.compile_s = time.perf_counter() - t0
    return out


def bench_model(key: str, args, compiler: str | None, runner: str | None, threads: list[int], work: Path,
                models_dir: Path) -> tuple[list[Row], list[str]]:
    problems: list[str] = []
    model = fp32.model_file(key, models_dir, work)
    if model is None:
        msg = f"{key}: no model at {fp32.fetch_models.model_path(models_dir, key)} (run scripts/fetch_models.py --models {key})"
        return [], [msg]
    import onnx

    out_names = [o.name for o in onnx.load(str(model), load_external_data=False).graph.output]
    feeds = fp32.model_inputs(key)
    in_args, shape_args = [], []
    for name, arr in feeds.items():
        path = work / f"bench_{sanitize(name)}.npy"
        np.save(path, arr)
        in_args += ["-i", f"{name}={path}"]
        shape_args += ["--input-shape", f"{name}=" + ",".join(str(d) for d in arr.shape)]
    calib = qd.make_samples(key, args.calib_samples, CALIB_SEED, args.images)
    evals = qd.make_samples(key, args.eval_samples, EVAL_SEED, args.images)
    calib_dir = qd.save_npz_dir(calib, work / "calib")
    eval_dir = qd.save_npz_dir(evals, work / "eval")
    log(f"{key}: {model}; {args.calib_samples} calibration, {args.eval_samples} evaluation samples")
    ref = qd.ort_outputs(model, evals)

    rows: list[Row] = []
    # onnxruntime FP32: the reference.
    row = Row("ORT FP32")
    rows.append(row)
    metrics(row, ref, ref, out_names)
    row.size_mb = model.stat().st_size / 1e6
    for t in threads:
        row.ms[t] = fp32.ort_median_ms(model, feeds, t, args.runs, args.warmup, args.min_time_ms)
    log(f"  ORT FP32: {row.ms}")
    # onnxruntime int8 QDQ.
    row = Row("ORT int8 QDQ")
    rows.append(row)
    try:
        q = ort_int8(model, work / "ort_int8.onnx", calib, row)
        metrics(row, ref, qd.ort_outputs(q, evals), out_names)
        row.size_mb = q.stat().st_size / 1e6
        for t in threads:
            row.ms[t] = fp32.ort_median_ms(q, feeds, t, args.runs, args.warmup, args.min_time_ms)
    except Exception as e:  # noqa: BLE001 - a failing row never stops the benchmark
        row.notes.append(f"failed: {type(e).__name__}: {last_line(str(e))[:300]}")
    log(f"  ORT int8: SQNR {fmt_db(row.sqnr)} dB, {row.ms}")

    if compiler:
        ours = [(scheme, flags, shape_args) for scheme, flags in our_rows(args)]
        if key in DYNAMIC_MODELS:
            ours += [(scheme, flags, []) for scheme, flags in DYNAMIC_ROWS
                     if not args.rows or scheme in [r.strip() for r in args.rows.split(",")]]
        for scheme, flags, shapes in ours:
            row = Row(scheme)
            rows.append(row)
            so = work / f"{sanitize(scheme)}.so"
            so.unlink(missing_ok=True)
            cmd = [compiler, str(model), "-o", str(so), "--quiet"] + \
                [str(calib_dir) if f == "CALIB" else f for f in flags] + shapes
            t0 = time.perf_counter()
            try:
                r = fp32.run(cmd, args.timeout)
                if r.returncode != 0:
                    row.notes.append(f"quant-compile exit {r.returncode}: {last_line(r.stderr)}")
                    log(f"  {scheme}: {row.notes[-1]}")
                    continue
                row.compile_s = time.perf_counter() - t0
            except subprocess.TimeoutExpired:
                row.notes.append(f"quant-compile timed out after {args.timeout:g} s")
                continue
            row.size_mb = so.stat().st_size / 1e6
            try:
                metrics(row, ref, run_ours_on_samples(runner, so, eval_dir, out_names, args.timeout, work), out_names)
            except (RuntimeError, OSError, subprocess.TimeoutExpired) as e:
                row.notes.append(f"evaluation: {e}")
            bench_ours(runner, so, in_args, threads, args.runs, args.min_time_ms, args.timeout, row)
            log(f"  {scheme}: compile {fmt(row.compile_s, 1)} s, SQNR {fmt_db(row.sqnr)} dB, {row.ms}")
    for r in rows:
        problems += [f"{key} {r.scheme}: {n}" for n in r.notes]
    return rows, problems


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def model_table(key: str, rows: list[Row], threads: list[int]) -> list[str]:
    head = "| scheme | SQNR dB | cosine | " + " | ".join(f"ms {t}T" for t in threads) + " | .so MB | compile s |"
    sep = "| --- | ---: | ---: | " + " | ".join("---:" for _ in threads) + " | ---: | ---: |"
    lines = [f"### {key}", "", head, sep]
    for r in rows:
        sqnr = "ref" if r.scheme == "ORT FP32" else fmt_db(r.sqnr)
        cos = "ref" if r.scheme == "ORT FP32" else fmt(r.cos, 4)
        size = fmt(r.size_mb, 2) + (" (.onnx)" if r.scheme.startswith("ORT") and r.size_mb is not None else "")
        cells = [r.scheme, sqnr, cos] + [fmt_ms(r.ms.get(t)) for t in threads] + [size, fmt(r.compile_s, 1)]
        if r.notes and r.sqnr is None and all(r.ms.get(t) is None for t in threads):
            cells = [r.scheme] + ["—"] * (len(cells) - 1)
        lines.append("| " + " | ".join(cells) + " |")
    notes = [f"- {r.scheme}: {n}" for r in rows for n in r.info + r.notes]
    if notes:
        lines += ["", *notes]
    return lines


def summary(results: dict[str, list[Row]], threads: list[int]) -> list[str]:
    lines = ["### Targets", "", "| model | W8A8 SQNR >= ORT int8's | "
             + " | ".join(f"W8A8 / ORT int8 latency {t}T (<= 1)" for t in threads) + " | "
             + " | ".join(f"FP32 / W8A8 latency {t}T (>= 1.5)" for t in threads) + " |",
             "| --- | --- | " + " | ".join("---:" for _ in threads) * 1 + " | " + " | ".join("---:" for _ in threads) + " |"]
    for key, rows in results.items():
        by = {r.scheme: r for r in rows}
        ours, ort8, f32 = by.get("W8A8"), by.get("ORT int8 QDQ"), by.get("FP32")
        if ours and ort8 and ours.sqnr is not None and ort8.sqnr is not None \
                and not math.isnan(ours.sqnr) and not math.isnan(ort8.sqnr):
            sq = f"{'yes' if ours.sqnr >= ort8.sqnr else 'no'} ({fmt_db(ours.sqnr)} vs {fmt_db(ort8.sqnr)})"
        else:
            sq = "—"
        cells = [key, sq]
        for t in threads:
            a, b = (ours.ms.get(t) if ours else None), (ort8.ms.get(t) if ort8 else None)
            cells.append(f"{a / b:.2f} {'yes' if a <= b else 'no'}" if a and b else "—")
        for t in threads:
            a, b = (f32.ms.get(t) if f32 else None), (ours.ms.get(t) if ours else None)
            cells.append(f"{a / b:.2f} {'yes' if a / b >= 1.5 else 'no'}" if a and b else "—")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def our_rows(args) -> list[tuple[str, list[str]]]:
    """OUR_ROWS as --rows selects them, then --custom's."""
    keep = [r.strip() for r in args.rows.split(",")] if args.rows else None
    rows = [(n, f) for n, f in OUR_ROWS if keep is None or n in keep]
    for c in args.custom:
        name, _, flags = c.partition("=")
        rows.append((name, flags.split()))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    fp32.add_common_args(p, timeout=900)
    p.add_argument("--calib-samples", type=int, default=16, help="calibration samples (default: %(default)s)")
    p.add_argument("--eval-samples", type=int, default=8, help="held-out evaluation samples (default: %(default)s)")
    p.add_argument("--images", choices=["synthetic", "text"], default="synthetic",
                   help="det/rec inputs: synthetic pages of text-like strokes, or real English text rendered "
                        "with Pillow and the DejaVu fonts (default: %(default)s)")
    p.add_argument("--rows", default="", help="our rows to run, comma-separated names of OUR_ROWS (default: all)")
    p.add_argument("--custom", action="append", default=[], metavar="NAME=FLAGS",
                   help="one more row of ours: quant-compile FLAGS (CALIB: the calibration directory), repeatable; "
                        "e.g. 'mixed 4.5=--calib CALIB --avg-wbits 4.5'")
    args = p.parse_args(argv)
    names = [n for n, _ in OUR_ROWS + DYNAMIC_ROWS]
    if args.rows and not all(r.strip() in names for r in args.rows.split(",")):
        p.error(f"--rows: names are {', '.join(names)}")
    models, threads, compiler, runner = fp32.parse_common(p, args, PROG)
    if args.calib_samples < 1 or args.eval_samples < 1:
        p.error("--calib-samples and --eval-samples must be at least 1")

    load_start = os.getloadavg()[0]
    own_work = args.work_dir is None
    work_root = Path(tempfile.mkdtemp(prefix="quant-qbench-")) if own_work else args.work_dir.resolve()
    models_dir = args.models_dir.expanduser().resolve()
    results: dict[str, list[Row]] = {}
    problems: list[str] = []
    try:
        for key in models:
            work = work_root / key
            work.mkdir(parents=True, exist_ok=True)
            try:
                rows, probs = bench_model(key, args, compiler, runner, threads, work, models_dir)
            except Exception as e:  # noqa: BLE001 - one model failing never stops the others
                rows, probs = [], [f"{key}: {type(e).__name__}: {last_line(str(e))[:300]}"]
            for msg in probs:
                log(f"{PROG}: {msg}")
            problems += probs
            if rows:
                results[key] = rows
    finally:
        if own_work:
            shutil.rmtree(work_root, ignore_errors=True)

    machine = fp32.machine_line()
    load = f"load average (1 min) {load_start:.2f} at the start, {os.getloadavg()[0]:.2f} at the end"
    text = [f"Quantized vs onnxruntime, batch 1, latency = median of {args.runs} runs (more where they take under "
            f"{args.min_time_ms:g} ms in all); SQNR and cosine of the first "
            f"output against onnxruntime FP32 over {args.eval_samples} held-out samples; calibration "
            f"{args.calib_samples} samples; det/rec images: {args.images}. Machine: {machine}; {load} (latencies are only comparable on an "
            "otherwise idle machine).", ""]
    for key, rows in results.items():
        text += model_table(key, rows, threads) + [""]
    if results:
        text += summary(results, threads)
    missing = [m for m in models if m not in results]
    if missing:
        text += ["", "Not measured: " + "; ".join(pr for pr in problems if pr.split(":")[0] in missing)]
    out = "\n".join(text)
    print(out)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(out + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine, "load": load, "runs": args.runs,
                                         "min_time_ms": args.min_time_ms, "calib_samples": args.calib_samples,
                                         "eval_samples": args.eval_samples,
                                         "results": {k: [r.record() for r in rows] for k, rows in results.items()},
                                         "problems": problems}, indent=1) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
