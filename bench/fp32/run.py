#!/usr/bin/env python3
"""FP32 benchmark: quant's compiled .so against onnxruntime (a benchmark, not a test).

For each model (mlp: examples/mlp_example.py's MLP at batch 1; det: PP-OCRv4
detection at 1x3x640x640; rec: PP-OCRv4 recognition at 1x3x48x320; minilm:
all-MiniLM-L6-v2 at batch 1, sequence 128) it

  1. compiles the model with `quant-compile MODEL --float -o MODEL.so
     --input-shape NAME=...` (the benchmark shapes) and records the seconds;
  2. for each thread count T, measures the median latency of our .so with
     `quant-run MODEL.so -i NAME=x.npy ... --bench N --threads T` (the number
     on the line quant-run prints with `median`), and of onnxruntime's FP32 CPU
     session (intra_op_num_threads=T, inter_op_num_threads=1, sequential
     execution, default graph optimisations) on the same inputs: warm-up runs,
     then N timed runs, median. Where N runs take less than --min-time-ms
     (200 ms) in all, both are timed again over as many runs as that takes
     (up to 1,000,000): a model of a microsecond is measured over 200 ms, not
     over 50 microseconds;

Rows for det and rec compiled as shipped (dynamic batch, height and width;
no --input-shape) follow: "det:dyn" and "rec:dyn" run that .so at the
benchmark shape (compare with the "det" and "rec" rows: the cost of
dynamic shapes), "det:dyn@960x960", "det:dyn@480x640", "rec:dyn@48x160"
and "rec:dyn@48x640" at other sizes, against onnxruntime on the same file
(--models picks any of these; the default runs them all);

and prints a markdown table: model | threads | ours ms | onnxruntime ms |
ratio (ours/ort) | compile s. With --ort-only only the onnxruntime column is
measured (no quant binaries needed). The real models come from
scripts/fetch_models.py (run it first).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
sys.path.insert(0, str(REPO_ROOT / "examples"))
sys.path.insert(0, str(REPO_ROOT / "scripts"))

import fetch_models  # noqa: E402
import mlp_example  # noqa: E402

PROG = "bench/fp32/run.py"
ALL_MODELS = ("mlp", "det", "rec", "minilm")
# PP-OCR det and rec as shipped have dynamic batch, height and width:
# "KEY:dyn" compiles them without --input-shape (one .so for every size) and
# runs the benchmark input; "KEY:dyn@HxW" runs that .so at another size.
# bench/fp32 measures these rows too unless --models says otherwise.
DYNAMIC_SPECS = ("det:dyn", "rec:dyn", "det:dyn@960x960", "det:dyn@480x640", "rec:dyn@48x160",
                 "rec:dyn@48x640")


def parse_spec(spec: str) -> tuple[str, bool, tuple[int, int] | None]:
    """(model key, compiled without --input-shape, (H, W) override) of a
    --models entry: KEY, KEY:dyn or KEY:dyn@HxW (det and rec only)."""
    key, _, rest = spec.partition(":")
    if not rest:
        return key, False, None
    kind, _, size = rest.partition("@")
    if kind != "dyn" or key not in ("det", "rec"):
        raise ValueError(spec)
    if not size:
        return key, True, None
    h, _, w = size.partition("x")
    return key, True, (int(h), int(w))


def model_inputs(key: str, seed: int = 0, size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """The benchmark inputs of each model (fixed seed); det and rec at
    `size` (H, W) when given."""
    rng = np.random.default_rng(seed)
    if size and key in ("det", "rec"):
        return {"x": rng.uniform(-1.0, 1.0, (1, 3, *size)).astype(np.float32)}
    if key == "mlp":
        return {mlp_example.INPUT_NAME: mlp_example.make_input(batch=1, seed=seed + 1)}
    if key == "det":
        return {"x": rng.uniform(-1.0, 1.0, (1, 3, 640, 640)).astype(np.float32)}
    if key == "rec":
        return {"x": rng.uniform(-1.0, 1.0, (1, 3, 48, 320)).astype(np.float32)}
    if key == "minilm":
        seq = 128
        ids = rng.integers(1000, 30000, (1, seq), dtype=np.int64)
        ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
        return {"input_ids": ids, "attention_mask": np.ones((1, seq), np.int64),
                "token_type_ids": np.zeros((1, seq), np.int64)}
    raise KeyError(key)


def model_file(key: str, models_dir: Path, work: Path) -> Path | None:
    if key == "mlp":
        import onnx

        p = work / "mlp.onnx"
        onnx.save(mlp_example.build_mlp_model(seed=0), p)
        return p
    p = fetch_models.model_path(models_dir, key)
    return p if p.is_file() else None


MAX_RUNS = 1_000_000  # cap of --min-time-ms's extra runs


def runs_for(runs: int, median_ms: float, min_ms: float) -> int:
    """How many runs a measurement needs: `runs`, or more so that they take at
    least `min_ms` in all at `median_ms` each (a model of a few microseconds
    would otherwise be timed over a few microseconds, mostly noise)."""
    if min_ms <= 0 or median_ms <= 0 or runs * median_ms >= min_ms:
        return runs
    return min(MAX_RUNS, max(runs, math.ceil(min_ms / median_ms)))


def ort_median_ms(model: Path, feeds: dict, threads: int, runs: int, warmup: int, min_ms: float = 0.0) -> float:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        sess.run(None, feeds)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    for _ in range(runs_for(runs, statistics.median(times), min_ms) - runs):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


_MEDIAN_RE = re.compile(r"([0-9]+(?:\.[0-9]*)?(?:[eE][-+]?[0-9]+)?)\s*ms")


def parse_median_ms(text: str) -> float | None:
    """The latency on quant-run's line containing 'median' (the number followed by 'ms' after the word, else the first)."""
    for line in text.splitlines():
        if "median" not in line.lower():
            continue
        after = line[line.lower().index("median"):]
        m = _MEDIAN_RE.search(after) or _MEDIAN_RE.search(line)
        if m:
            return float(m.group(1))
    return None


def run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)


def quant_run_median_ms(runner: str, so: Path, in_args: list[str], threads: int, runs: int, min_ms: float,
                        timeout: float) -> float:
    """Median latency of `quant-run SO --bench N --threads T`: N = `runs`, and
    once more with enough runs for `min_ms` in all when those were faster.
    Raises RuntimeError (what went wrong) or subprocess.TimeoutExpired."""
    def once(n: int) -> float:
        r = run([runner, str(so)] + in_args + ["--bench", str(n), "--threads", str(threads)], timeout)
        if r.returncode != 0:
            raise RuntimeError(f"quant-run exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1]}")
        ms = parse_median_ms(r.stdout + "\n" + r.stderr)
        if ms is None:
            raise RuntimeError("no 'median ... ms' line in quant-run's output")
        return ms

    ms = once(runs)
    more = runs_for(runs, ms, min_ms)
    return once(more) if more > runs else ms


def fmt(v, digits=3):
    return "—" if v is None else f"{v:.{digits}f}"


def machine_line() -> str:
    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    import onnxruntime as ort

    return (f"{cpu or 'unknown CPU'}, {os.cpu_count()} logical cores; Python {platform.python_version()}, "
            f"onnxruntime {ort.__version__}, numpy {np.__version__}")


def add_common_args(p: argparse.ArgumentParser, timeout: float) -> None:
    """The options bench/fp32 and bench/quant_vs_ort share."""
    p.add_argument("--models", default=",".join(ALL_MODELS),
                   help=f"comma-separated subset of {','.join(ALL_MODELS)} (default: all)")
    p.add_argument("--runs", type=int, default=50, help="timed runs per measurement (default: %(default)s)")
    p.add_argument("--min-time-ms", type=float, default=200.0,
                   help="time more runs than --runs where they would take less than this many ms in all, so "
                        "microsecond models are measured over enough runs (default: %(default)s; 0: exactly --runs)")
    p.add_argument("--warmup", type=int, default=5, help="untimed onnxruntime runs first (default: %(default)s)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default: %(default)s)")
    p.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build",
                   help="build directory holding bin/quant-compile and bin/quant-run (default: %(default)s)")
    p.add_argument("--models-dir", type=Path, default=fetch_models.DEFAULT_DEST,
                   help="where scripts/fetch_models.py put the real models (default: %(default)s)")
    p.add_argument("--ort-only", action="store_true", help="measure onnxruntime only (no quant binaries needed)")
    p.add_argument("--timeout", type=float, default=timeout,
                   help="seconds allowed per quant-compile / quant-run call (default: %(default)s)")
    p.add_argument("--work-dir", type=Path, help="keep models, inputs and compiled .so files here (default: a temporary directory)")
    p.add_argument("--out", type=Path, help="also write the table(s) (with the machine line) to this markdown file")
    p.add_argument("--json", type=Path, help="also write the measurements as JSON")


def parse_common(p: argparse.ArgumentParser, args, prog: str, specs: bool = False):
    """(models, threads, compiler, runner) from the shared options; the tools
    are None with --ort-only. Exits with a clear message on bad values or
    missing tools. With `specs`, KEY:dyn[@HxW] entries are allowed too."""
    models = [m.strip() for m in args.models.split(",") if m.strip()]

    def known(m: str) -> bool:
        if m in ALL_MODELS:
            return True
        try:
            return specs and parse_spec(m)[0] in ALL_MODELS
        except ValueError:
            return False

    bad = [m for m in models if not known(m)]
    if bad or not models:
        p.error(f"unknown model(s) {bad}; choose from {','.join(ALL_MODELS)}")
    try:
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        p.error("--threads takes comma-separated integers")
    if args.ort_only:
        return models, threads, None, None
    tools = []
    for name in ("quant-compile", "quant-run"):
        tool = args.build_dir.resolve() / "bin" / name
        if not tool.is_file():
            print(f"{prog}: error: {name} not found at {tool} (build it first, pass --build-dir, or use --ort-only)",
                  file=sys.stderr)
            sys.exit(2)
        tools.append(str(tool))
    return models, threads, tools[0], tools[1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_args(p, timeout=600)
    p.add_argument("--no-input-shape", action="store_true",
                   help="do not pass the benchmark shapes to quant-compile with --input-shape")
    args = p.parse_args(argv)
    models, threads, compiler, runner = parse_common(p, args, PROG, specs=True)
    if args.models == ",".join(ALL_MODELS):
        models += list(DYNAMIC_SPECS)

    own_work = args.work_dir is None
    work_root = Path(tempfile.mkdtemp(prefix="quant-bench-")) if own_work else args.work_dir.resolve()
    models_dir = args.models_dir.expanduser().resolve()
    rows, records, problems = [], [], []
    try:
        for spec in models:
            key, dynamic, size = parse_spec(spec)
            work = work_root / spec.replace(":", "_").replace("@", "_")
            work.mkdir(parents=True, exist_ok=True)
            model = model_file(key, models_dir, work)
            if model is None:
                msg = f"{key}: no model at {fetch_models.model_path(models_dir, key)} (run scripts/fetch_models.py --models {key})"
                print(f"{PROG}: {msg}", file=sys.stderr)
                problems.append(msg)
                continue
            feeds = model_inputs(key, size=size)
            in_args, shape_args = [], []
            for name, arr in feeds.items():
                path = work / f"{re.sub(r'[^A-Za-z0-9._-]', '_', name)}.npy"
                np.save(path, arr)
                in_args += ["-i", f"{name}={path}"]
                shape_args += ["--input-shape", f"{name}=" + ",".join(str(d) for d in arr.shape)]
            shape_desc = "; ".join(f"{n} {list(a.shape)} {a.dtype}" for n, a in feeds.items())
            print(f"{key}: {model} ({shape_desc})", file=sys.stderr, flush=True)

            compile_s, so, compile_err = None, work / "model.so", None
            if compiler:
                cmd = [compiler, str(model), "--float", "-o", str(so)] + \
                    ([] if args.no_input_shape or dynamic else shape_args)
                t0 = time.perf_counter()
                try:
                    r = run(cmd, args.timeout)
                    compile_s = time.perf_counter() - t0
                    if r.returncode != 0:
                        compile_err = f"quant-compile exit {r.returncode}: {(r.stderr.strip().splitlines() or [''])[-1]}"
                except subprocess.TimeoutExpired:
                    compile_err = f"quant-compile timed out after {args.timeout:g} s"
                if compile_err:
                    print(f"{PROG}: {key}: {compile_err}", file=sys.stderr)
                    problems.append(f"{key}: {compile_err}")
                    compile_s = None
            for t in threads:
                ours = None
                if compiler and not compile_err:
                    msg = None
                    try:
                        ours = quant_run_median_ms(runner, so, in_args, t, args.runs, args.min_time_ms, args.timeout)
                    except RuntimeError as e:
                        msg = f"{key} T={t}: {e}"
                    except subprocess.TimeoutExpired:
                        msg = f"{key} T={t}: quant-run timed out after {args.timeout:g} s"
                    if msg:
                        print(f"{PROG}: {msg}", file=sys.stderr)
                        problems.append(msg)
                ort_ms = ort_median_ms(model, feeds, t, args.runs, args.warmup, args.min_time_ms)
                ratio = ours / ort_ms if ours is not None and ort_ms else None
                rows.append(f"| {spec} | {t} | {fmt(ours)} | {fmt(ort_ms)} | {fmt(ratio, 2)} | {fmt(compile_s, 2)} |")
                records.append({"model": spec, "threads": t, "ours_ms": ours, "ort_ms": ort_ms, "ratio": ratio,
                                "compile_s": compile_s, "runs": args.runs, "inputs": shape_desc})
                ours_txt = f"ours {fmt(ours)} ms, " if compiler else ""
                print(f"  T={t}: {ours_txt}onnxruntime {fmt(ort_ms)} ms", file=sys.stderr, flush=True)
    finally:
        if own_work:
            shutil.rmtree(work_root, ignore_errors=True)

    header = [
        f"FP32, batch 1, median of {args.runs} runs (more where they take under {args.min_time_ms:g} ms in all). "
        f"Machine: {machine_line()}.",
        "",
        "| model | threads | ours ms | onnxruntime ms | ratio (ours/ort) | compile s |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    table = "\n".join(header + rows)
    print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(table + "\n")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"machine": machine_line(), "results": records, "problems": problems}, indent=1) + "\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
