#!/usr/bin/env python3
"""Throughput of the CPU target's online Hadamard transform (qc.hadamard) against memcpy, in one run.

    .venv/bin/python bench/hadamard/run.py                  # rows of 576, 1536, 4096 floats
    .venv/bin/python bench/hadamard/run.py --sizes 1536 --mbytes 64 --threads 1,2

For each row size n, a model `y = qc.hadamard(x)` over x: [R, n] float32
(R rows filling --mbytes MB) is compiled by quant-compile and timed by
quant-run --bench (median of --runs runs after a warm-up). The peer is a
memcpy of the same bytes (numpy.copyto between two preallocated arrays,
median of --runs), measured in the same run. GB/s counts the bytes read plus
the bytes written (2 * R * n * 4) for both, so 100% means the transform moves
its data as fast as a copy does.
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]


def memcpy_seconds(nbytes: int, runs: int) -> float:
    src = np.random.default_rng(0).standard_normal(nbytes // 4).astype(np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        np.copyto(dst, src)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def kernel_seconds(bin_dir: Path, work: Path, n: int, rows: int, threads: int, runs: int) -> float:
    src = work / f"h{n}.mlir"
    so = work / f"h{n}.so"
    if not so.exists():
        src.write_text(f"""func.func @main(%x: tensor<?x{n}xf32>) -> tensor<?x{n}xf32> {{
  %y = qc.hadamard %x : tensor<?x{n}xf32>
  return %y : tensor<?x{n}xf32>
}}
""")
        subprocess.run([str(bin_dir / "quant-compile"), str(src), "--float", "--quiet", "-o", str(so)], check=True)
    x = work / f"x{n}.npy"
    if not x.exists():
        np.save(x, np.random.default_rng(n).standard_normal((rows, n)).astype(np.float32))
    out = subprocess.run([str(bin_dir / "quant-run"), str(so), "-i", f"input_0={x}", "--threads", str(threads),
                          "--bench", str(runs)], check=True, capture_output=True, text=True).stdout
    m = re.search(r"median latency ([0-9.]+) ms", out)
    if not m:
        raise SystemExit(f"quant-run printed no median latency:\n{out}")
    return float(m.group(1)) / 1e3


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", default="576,1536,4096", help="row sizes n (%(default)s)")
    p.add_argument("--mbytes", type=float, default=32, help="MB per tensor (%(default)s)")
    p.add_argument("--threads", default="1", help="quant-run threads, comma-separated (%(default)s)")
    p.add_argument("--runs", type=int, default=20)
    p.add_argument("--quant-bin", type=Path, default=ROOT / "build" / "bin")
    a = p.parse_args(argv)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    print(f"CPU: {cpu}; {a.mbytes:g} MB per tensor; median of {a.runs} runs\n")
    print("| n | rows | threads | hadamard GB/s | memcpy GB/s | hadamard / memcpy |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for n in (int(s) for s in a.sizes.split(",")):
            rows = max(1, int(a.mbytes * 1e6) // (4 * n))
            nbytes = rows * n * 4
            for t in (int(s) for s in a.threads.split(",")):
                k = kernel_seconds(a.quant_bin, work, n, rows, t, a.runs)
                c = memcpy_seconds(nbytes, a.runs)
                kg, cg = 2 * nbytes / k / 1e9, 2 * nbytes / c / 1e9
                print(f"| {n} | {rows} | {t} | {kg:.1f} | {cg:.1f} | {kg / cg:.2f} |", flush=True)


if __name__ == "__main__":
    sys.exit(main())
