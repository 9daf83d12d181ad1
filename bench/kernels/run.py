#!/usr/bin/env python3
"""Quantized linear kernels of the CPU target against this CPU's measured peaks, in one run.

    .venv/bin/python bench/kernels/run.py                       # M = 4096 and 1, N = K = 4096
    .venv/bin/python bench/kernels/run.py --rows 1 --size 2048 --schemes w1a1,w8a8

Each scheme is one layer y[M, N] = x[M, K] W^T: a model whose input x (float32) is quantized in the model
(per tensor) and multiplied by constant random weight codes (per-channel scales) through
qc.quantized_linear, written as MLIR and compiled by quant-compile (the fp32 row: qc.linear on float
weights). quant-run --bench times it (median of --runs after a warm-up, --threads threads). The
activations' quantization is part of the time (O(M K) against the product's O(M N K)).

Peaks are measured in the same run by bench/kernels/peak.c (compiled here with clang -O2
-march=native): VPDPBUSD byte dot products on 12 independent accumulators (64 MACs per instruction),
AND + VPOPCNTQ + add on 12 accumulators (512 one-bit MACs per step), and a 256 MB memcpy. MAC/cycle
divides by the clock /proc/cpuinfo reports (nominal: turbo makes real cycles fewer), so ratios
between rows, and "% of VNNI peak", are the figures to compare.

Last, a W4A16 GEMV (one row, float activations, int4 codes with group-128 scales dequantized in
the kernel) over --gemv-mbytes MiB of codes, far beyond the caches: GB/s of weight bytes read
against the memcpy rate (which counts bytes read and written, as STREAM's copy does); the same
with bitmod4 codes (a datatype per group, decoded by integer ops and selects: --gemv-formats).

Schemes: fp32, w8a8 (uint8 activations with a zero point x int8 weights: dot4 / VNNI), w4a4 (int4 x
int4), w2a2 and w1a1 (unsigned codes) and w2a2s (signed), each bit-plane one also with --bitplane off,
w1a2, w1a4 and w4a1 on bit planes, and w2a2-auto (signed, --bitplane auto: what a compile does by default).
"""

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]

# name -> (weight bits, weight signed, activation bits, activation signed, --bitplane)
SCHEMES = {
    "fp32": None,
    "w8a8": (8, True, 8, False, "auto"),
    "w4a4": (4, True, 4, True, "auto"),
    "w2a2-planes": (2, False, 2, False, "on"),
    "w2a2-dot4": (2, False, 2, False, "off"),
    "w2a2s-planes": (2, True, 2, True, "on"),
    "w1a2-planes": (1, False, 2, False, "on"),
    "w1a4-planes": (1, False, 4, False, "on"),
    "w4a1-planes": (4, False, 1, False, "on"),
    "w2a2-auto": (2, True, 2, True, "auto"),
    "w1a1-planes": (1, False, 1, False, "on"),
    "w1a1-dot4": (1, False, 1, False, "off"),
}


def hex_codes(codes: np.ndarray, bits: int) -> str:
    """A dense<"0x..."> literal of integer codes (MLIR's raw layout: i1 packed
    LSB first, iN one byte each holding the low N bits)."""
    c = codes.astype(np.int64).ravel()
    if bits == 1:
        raw = np.packbits((c & 1).astype(np.uint8), bitorder="little").tobytes()
    else:
        raw = (c & 0xFF).astype(np.uint8).tobytes()
    return '"0x' + raw.hex().upper() + '"'


def model_source(scheme, m, n, k, rng) -> str:
    if scheme is None:
        w = rng.standard_normal((n, k)).astype(np.float32) * 0.05
        return f"""func.func @main(%x: tensor<?x{k}xf32>) -> tensor<?x{n}xf32> attributes {{qc.input_names = ["x"]}} {{
  %w = arith.constant dense<"0x{w.tobytes().hex().upper()}"> : tensor<{n}x{k}xf32>
  %y = qc.linear %x, %w : (tensor<?x{k}xf32>, tensor<{n}x{k}xf32>) -> tensor<?x{n}xf32>
  return %y : tensor<?x{n}xf32>
}}
"""
    wb, ws, ab, as_, _ = scheme
    wlo, whi = (-(1 << (wb - 1)), (1 << (wb - 1)) - 1) if ws else (0, (1 << wb) - 1)
    codes = rng.integers(wlo, whi + 1, (n, k))
    af = ("int" if as_ else "uint") + str(ab)
    wf = ("int" if ws else "uint") + str(wb)
    zp = 0 if as_ else (1 << (ab - 1))
    zlit = zp - (1 << ab) if ab > 1 and zp >= 1 << (ab - 1) else zp
    scales = rng.uniform(0.01, 0.02, n).astype(np.float32)
    return f"""func.func @main(%x: tensor<?x{k}xf32>) -> tensor<?x{n}xf32> attributes {{qc.input_names = ["x"]}} {{
  %xs = arith.constant dense<0.25> : tensor<f32>
  %xz = arith.constant dense<{zlit}> : tensor<i{ab}>
  %xq = qc.quantize %x, %xs, %xz {{format = #qc.format<{af}>}} : (tensor<?x{k}xf32>, tensor<f32>, tensor<i{ab}>) -> tensor<?x{k}xi{ab}>
  %w = arith.constant dense<{hex_codes(codes, wb)}> : tensor<{n}x{k}xi{wb}>
  %ws = arith.constant dense<"0x{scales.tobytes().hex().upper()}"> : tensor<{n}xf32>
  %y = qc.quantized_linear %xq, %xs zero_point %xz weight %w, %ws {{input_format = #qc.format<{af}>, weight_format = #qc.format<{wf}>}} : (tensor<?x{k}xi{ab}>, tensor<f32>, tensor<i{ab}>, tensor<{n}x{k}xi{wb}>, tensor<{n}xf32>) -> tensor<?x{n}xf32>
  return %y : tensor<?x{n}xf32>
}}
"""


def gemv_w4_source(n, k, rng, fmt="int4") -> str:
    """W4A16: float activations, 4-bit weight codes (group 128 scales)
    dequantized in the kernel (qc-cpu-pack-weights stores them two per
    byte); bitmod4 adds a table selector per group (0..3, random)."""
    codes = rng.integers(-8, 8, (n, k))
    scales = rng.uniform(0.01, 0.02, (n, k // 128)).astype(np.float32)
    sel, sel_t = "", ""
    if fmt == "bitmod4":
        sel = f", %sel"
        sel_t = f", tensor<{n}x{k // 128}xi4>"
    head = f"""func.func @main(%x: tensor<?x{k}xf32>) -> tensor<?x{n}xf32> attributes {{qc.input_names = ["x"]}} {{
  %w = arith.constant dense<{hex_codes(codes, 4)}> : tensor<{n}x{k}xi4>
  %ws = arith.constant dense<"0x{scales.tobytes().hex().upper()}"> : tensor<{n}x{k // 128}xf32>
"""
    if sel:
        head += f"  %sel = arith.constant dense<{hex_codes(rng.integers(0, 4, (n, k // 128)), 4)}> : tensor<{n}x{k // 128}xi4>\n"
    return head + f"""  %wd = qc.dequantize %w, %ws{sel} {{axis = 1 : i64, group_size = 128 : i64, format = #qc.format<{fmt}>}} : (tensor<{n}x{k}xi4>, tensor<{n}x{k // 128}xf32>{sel_t}) -> tensor<{n}x{k}xf32>
  %y = qc.linear %x, %wd : (tensor<?x{k}xf32>, tensor<{n}x{k}xf32>) -> tensor<?x{n}xf32>
  return %y : tensor<?x{n}xf32>
}}
"""


def gemv_w4(a, work: Path, copy_bytes_per_s: float, fmt="int4"):
    """One row through a W4A16 layer whose packed codes take --gemv-mbytes
    MB: GB/s of weight bytes (codes, scales and bitmod4's selectors) read
    per call against the memcpy peak."""
    k = 8192
    n = int(a.gemv_mbytes * 2**20 * 2 // k)
    n -= n % 64
    so = work / f"w4gemv-{fmt}.so"
    src = work / f"w4gemv-{fmt}.mlir"
    src.write_text(gemv_w4_source(n, k, np.random.default_rng(2), fmt))
    subprocess.run([str(a.quant_bin / "quant-compile"), str(src), "--quiet", "-o", str(so)], check=True)
    x = work / "xg.npy"
    np.save(x, np.random.default_rng(3).standard_normal((1, k)).astype(np.float32))
    out = subprocess.run([str(a.quant_bin / "quant-run"), str(so), "-i", f"x={x}", "--threads", str(a.threads),
                          "--bench", str(max(a.runs, 10))], check=True, capture_output=True, text=True).stdout
    ms = float(re.search(r"median latency ([0-9.]+) ms", out).group(1))
    wbytes = n * k // 2 + n * (k // 128) * (4 + (fmt == "bitmod4") / 2)
    bw = wbytes / (ms / 1e3)
    print(f"\nW4A16 GEMV ({fmt}, group 128), N = {n}, K = {k}, {wbytes / 2**20:.0f} MiB of weight data: "
          f"{ms:.3f} ms, {bw / 1e9:.1f} GB/s of weights = {100 * bw / copy_bytes_per_s:.0f}% of memcpy's "
          f"{copy_bytes_per_s / 1e9:.1f} GB/s (read + written)", flush=True)


def peaks(work: Path) -> dict:
    exe = work / "peak"
    subprocess.run(["clang-22", "-O2", "-march=native", str(ROOT / "bench" / "kernels" / "peak.c"), "-o", str(exe)],
                   check=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {l.split()[0]: float(l.split()[1]) for l in out.splitlines() if l.strip()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="4096,1", help="M values (%(default)s)")
    p.add_argument("--size", type=int, default=4096, help="N = K (%(default)s)")
    p.add_argument("--schemes", default=",".join(SCHEMES), help="comma-separated (%(default)s)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--gemv-mbytes", type=float, default=64,
                   help="MiB of int4 codes in the W4A16 GEMV row, 0 to skip it (%(default)s)")
    p.add_argument("--gemv-formats", default="int4,bitmod4",
                   help="weight formats of the GEMV row: int4, bitmod4 (%(default)s)")
    p.add_argument("--quant-bin", type=Path, default=ROOT / "build" / "bin")
    a = p.parse_args(argv)
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    mhz = next((float(l.split(":", 1)[1]) for l in open("/proc/cpuinfo") if l.startswith("cpu MHz")), 0.0)
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        pk = peaks(work)
        vnni = pk["vnni_macs_per_s"]
        print(f"CPU: {cpu} ({mhz:.0f} MHz nominal); {a.threads} thread(s); N = K = {a.size}; "
              f"median of {a.runs} runs")
        print(f"peaks (peak.c, same run): VPDPBUSD {vnni / 1e9:.1f} GMAC/s ({vnni / mhz / 1e6:.1f} MAC/cycle), "
              f"AND+VPOPCNTQ {pk['popcount_bit_macs_per_s'] / 1e9:.0f} G one-bit MAC/s, "
              f"memcpy {pk['copy_bytes_per_s'] / 1e9:.1f} GB/s\n")
        print("| scheme | M | ms | GMAC/s | MAC/cycle | % of VNNI peak | vs w8a8 |")
        print("| --- | --- | --- | --- | --- | --- | --- |")
        n = k = a.size
        for m in (int(s) for s in a.rows.split(",")):
            x = work / f"x{m}.npy"
            np.save(x, rng.uniform(-40, 40, (m, k)).astype(np.float32))
            base = None
            for name in a.schemes.split(","):
                scheme = SCHEMES[name]
                so = work / f"{name}.so"
                if not so.exists():
                    src = work / f"{name}.mlir"
                    src.write_text(model_source(scheme, m, n, k, np.random.default_rng(1)))
                    flags = ["--float"] if scheme is None else ["--bitplane", scheme[4]]
                    subprocess.run([str(a.quant_bin / "quant-compile"), str(src), "--quiet", *flags, "-o", str(so)],
                                   check=True)
                out = subprocess.run([str(a.quant_bin / "quant-run"), str(so), "-i", f"x={x}", "--threads",
                                      str(a.threads), "--bench", str(a.runs)],
                                     check=True, capture_output=True, text=True).stdout
                ms = float(re.search(r"median latency ([0-9.]+) ms", out).group(1))
                rate = m * n * k / (ms / 1e3)
                if name == "w8a8":
                    base = rate
                rel = f"{rate / base:.2f}x" if base else "-"
                print(f"| {name} | {m} | {ms:.3f} | {rate / 1e9:.1f} | {rate / mhz / 1e6:.1f} | "
                      f"{100 * rate / vnni / a.threads:.0f}% | {rel} |", flush=True)
        if a.gemv_mbytes > 0:
            for fmt in a.gemv_formats.split(","):
                gemv_w4(a, work, pk["copy_bytes_per_s"], fmt)


if __name__ == "__main__":
    sys.exit(main())
