#!/usr/bin/env python3
"""Checks that a change to the compiler leaves every end-to-end model's outputs bit-identical.

A refactoring of the compiler (moving phases, renaming passes, splitting
libraries) must not change what a model computes. This script compiles each
model under each scheme, runs the model.so on fixed inputs with quant-run and
records a SHA-256 of every output's bytes:

  check_bit_identical.py record ref.json [--bin DIR]    before the change
  check_bit_identical.py check ref.json [--bin DIR]     after it: exit 1 on any difference

Models: mlp (examples/mlp_example.py), rec and det (PP-OCRv4), minilm
(all-MiniLM-L6-v2), taken from ~/.cache/quant/models (scripts/fetch_models.py).
Schemes: the rows of bench/quant_vs_ort (float, W8A8 static, W8A8 dynamic,
W4A16 g128, W4A8 static, FP8 static); calibration and evaluation inputs come
from bench/quant_vs_ort/quant_data.py with fixed seeds. Every model is
compiled for fixed input shapes and --mcpu native, so a record is valid on the
machine that made it only (generated code depends on the CPU's vector unit).

--bin names the directory holding quant-compile and quant-run (default
build/bin); the runtime archive is found next to it as quant-compile does.
--llvm-ir also records a SHA-256 of the optimised LLVM IR (--emit=llvm) of
each compile: equal IR means equal machine code, so speed cannot have moved
either (what a refactoring that must not change code wants to show).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench" / "quant_vs_ort"))
sys.path.insert(0, str(ROOT / "bench" / "fp32"))

import quant_data as qd  # noqa: E402
import run as fp32  # noqa: E402  (bench/fp32/run.py: model files and inputs)

SCHEMES = [
    ("float", ["--float"]),
    ("w8a8-static", ["--calib", "CALIB"]),
    ("w8a8-dynamic", []),
    ("w4a16-g128", ["--wbits", "4", "--granularity", "group:128", "--abits", "none"]),
    ("w4a8", ["--wbits", "4", "--calib", "CALIB"]),
    ("fp8", ["--wformat", "fp8e4m3", "--aformat", "fp8e4m3", "--calib", "CALIB"]),
]
MODELS = ["mlp", "rec", "det", "minilm"]


def digest_outputs(out_dir: Path) -> dict[str, str]:
    digests = {}
    for f in sorted(out_dir.glob("*.npy")):
        a = np.load(f)
        h = hashlib.sha256()
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
        digests[f.stem] = h.hexdigest()
    return digests


def run_model(args, key: str, work: Path) -> dict[str, dict]:
    models_dir = Path(args.models_dir).expanduser()
    model = fp32.model_file(key, models_dir, work)
    if model is None:
        raise SystemExit(f"{key}: no model; run scripts/fetch_models.py --models {key}")
    calib = qd.make_samples(key, args.calib_samples, 1000)
    evals = qd.make_samples(key, 2, 2000)
    calib_dir = qd.save_npz_dir(calib, work / "calib")
    eval_dir = qd.save_npz_dir(evals, work / "eval")
    shape_args = []
    for name, arr in evals[0].items():
        shape_args += ["--input-shape", f"{name}=" + ",".join(str(d) for d in arr.shape)]
    results = {}
    for scheme, flags in SCHEMES:
        so = work / f"{scheme}.so"
        flags = [str(calib_dir) if f == "CALIB" else f for f in flags]
        cmd = [str(Path(args.bin) / "quant-compile"), str(model), *flags, *shape_args, "--quiet", "-o", str(so)]
        t0 = time.time()
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            results[scheme] = {"error": f"quant-compile exit {r.returncode}: {r.stderr.strip()[-300:]}"}
            print(f"{key} {scheme}: compile failed", file=sys.stderr)
            continue
        outs = {}
        for i, sample in enumerate(sorted(eval_dir.glob("*.npz"))):
            od = work / f"{scheme}-out{i}"
            od.mkdir(exist_ok=True)
            r = subprocess.run([str(Path(args.bin) / "quant-run"), str(so), str(sample), "--threads", "1",
                                "-o", str(od)], capture_output=True, text=True)
            if r.returncode != 0:
                outs[f"sample{i}"] = {"error": r.stderr.strip()[-300:]}
                continue
            outs[f"sample{i}"] = digest_outputs(od)
        if args.llvm_ir:
            ll = work / f"{scheme}.ll"
            cmd = [str(Path(args.bin) / "quant-compile"), str(model), *flags, *shape_args, "--quiet",
                   "--emit=llvm", "-o", str(ll)]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                outs["llvm-ir"] = {"error": r.stderr.strip()[-300:]}
            else:
                text = "\n".join(ln for ln in ll.read_text().splitlines()
                                 if not ln.startswith(("; ModuleID", "source_filename")))
                outs["llvm-ir"] = hashlib.sha256(text.encode()).hexdigest()
        results[scheme] = outs
        print(f"{key} {scheme}: {time.time() - t0:.1f} s", file=sys.stderr)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["record", "check"])
    p.add_argument("file", help="the record (JSON) to write or to compare with")
    p.add_argument("--bin", default=str(ROOT / "build" / "bin"), help="directory with quant-compile and quant-run")
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    p.add_argument("--models-dir", default=str(fp32.fetch_models.DEFAULT_DEST))
    p.add_argument("--calib-samples", type=int, default=8)
    p.add_argument("--llvm-ir", action="store_true", help="also compare the optimised LLVM IR of every compile")
    args = p.parse_args(argv)
    keys = [k for k in args.models.split(",") if k]
    for k in keys:
        if k not in MODELS:
            p.error(f"unknown model '{k}' (one of {', '.join(MODELS)})")
    record = {}
    with tempfile.TemporaryDirectory(prefix="quant-bitid-") as tmp:
        for key in keys:
            work = Path(tmp) / key
            work.mkdir()
            record[key] = run_model(args, key, work)
    if args.mode == "record":
        Path(args.file).write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
        n = sum(len(v) for v in record.values())
        print(f"recorded {n} model/scheme pairs in {args.file}")
        return 0
    ref = json.loads(Path(args.file).read_text())
    same = differ = 0
    for key in keys:
        for scheme, _ in SCHEMES:
            a = ref.get(key, {}).get(scheme)
            b = record[key].get(scheme)
            if a is None:
                print(f"{key} {scheme}: not in the record")
                differ += 1
            elif a == b and "error" not in json.dumps(a):
                same += 1
                print(f"{key} {scheme}: identical")
            else:
                differ += 1
                print(f"{key} {scheme}: DIFFERENT (record {a}, now {b})")
    print(f"{same} identical, {differ} different")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
