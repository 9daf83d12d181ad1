#!/usr/bin/env python3
"""Checks and times quant's generated tensor-core linear kernels on a GPU.

Loads the PTX that bench/gpu/make_linear_kernels.py wrote (through CuPy, which
the GPU machines have; the model.so's own CUDA runtime is not built yet), runs
every kernel on random data at several row counts (both tile variants at
every M, so each is checked beyond the rows it is chosen for) against a numpy
reference: integer kernels against exact int64 sums (then the same f32 scale
arithmetic, allowed 2 ulp for a fused multiply-add), float kernels against
float64 on the f16-rounded operands. Then times the SmolLM2-shaped kernels
against cuBLAS through torch (f16 matmul, int8 torch._int_mm).

  python3 bench/gpu/linear_kernels.py --ptx bench/gpu/out/linear_kernels.sm_90a.ptx

Prints one line per kernel and M, a timing table, and "N passed, N failed".
"""
import argparse
import re
import sys

import numpy as np

NAME = re.compile(r"linear_(s8|f16)_n(\d+)_k(\d+)(_xrow|_xtensor)?(_xzp)?(_xu8)?"
                  r"(_wchannel|_wtensor)?(_bias)?_b(\d+)x(\d+)x(\d+)_w(\d+)x(\d+)$")


def parse(name):
    m = NAME.match(name)
    if not m:
        return None
    g = m.groups()
    return dict(name=name, kind=g[0], n=int(g[1]), k=int(g[2]),
                xrow=g[3] == "_xrow", xzp=bool(g[4]), xu8=bool(g[5]),
                wch=g[6] == "_wchannel", bias=bool(g[7]), bm=int(g[8]),
                bn=int(g[9]), warps=int(g[11]) * int(g[12]))


def desc(cp, a):
    """A memref descriptor's arguments: allocated, aligned, offset, sizes, strides."""
    strides = [s // a.itemsize for s in a.strides]
    return [a, a, np.int64(0)] + [np.int64(d) for d in a.shape] + \
        [np.int64(s) for s in strides]


def make_case(cp, spec, m, rng):
    n, k = spec["n"], spec["k"]
    args, ref = [], None
    if spec["kind"] == "f16":
        x = rng.standard_normal((m, k)).astype(np.float16)
        w = (rng.standard_normal((n, k)) / np.sqrt(k)).astype(np.float16)
        b = rng.standard_normal(n).astype(np.float32)
        ref = x.astype(np.float64) @ w.astype(np.float64).T
        if spec["bias"]:
            ref = ref + b
        dx, dw = cp.asarray(x), cp.asarray(w)
        dy = cp.full((m, n), np.nan, np.float32)
        args = desc(cp, dx) + desc(cp, dw)
        if spec["bias"]:
            args += desc(cp, cp.asarray(b))
        args += desc(cp, dy)
        return args, dy, ref, "f16"
    if spec["xu8"]:
        xv = rng.integers(0, 256, (m, k))
        xbytes = xv.astype(np.uint8).view(np.int8)
    else:
        xv = rng.integers(-128, 128, (m, k))
        xbytes = xv.astype(np.int8)
    w = rng.integers(-127, 128, (n, k)).astype(np.int8)
    rows = m if spec["xrow"] else 1
    xs = (rng.random(rows) * 0.02 + 0.001).astype(np.float32)
    xz = rng.integers(-20, 20, rows).astype(np.int32) if not spec["xu8"] else \
        rng.integers(100, 156, rows).astype(np.int32)
    ws = (rng.random(n if spec["wch"] else 1) * 0.02 + 0.001).astype(np.float32)
    wsum = w.astype(np.int64).sum(1).astype(np.int32)
    b = rng.standard_normal(n).astype(np.float32)
    z = xz if spec["xzp"] else np.zeros(rows, np.int32)
    acc = xv.astype(np.int64) @ w.astype(np.int64).T - \
        z.astype(np.int64)[:, None] * wsum.astype(np.int64)[None, :]
    ref = acc.astype(np.float32) * (xs[:, None] * ws[None, :]).astype(np.float32)
    if spec["bias"]:
        ref = ref + b
    dy = cp.full((m, n), np.nan, np.float32)
    args = desc(cp, cp.asarray(xbytes)) + desc(cp, cp.asarray(xs))
    if spec["xzp"]:
        args += desc(cp, cp.asarray(xz))
    args += desc(cp, cp.asarray(w)) + desc(cp, cp.asarray(ws))
    if spec["xzp"] or spec["xu8"]:
        args += desc(cp, cp.asarray(wsum))
    if spec["bias"]:
        args += desc(cp, cp.asarray(b))
    args += desc(cp, dy)
    return args, dy, ref, "s8"


def launch(fn, spec, m, args):
    grid = ((spec["n"] + spec["bn"] - 1) // spec["bn"],
            (m + spec["bm"] - 1) // spec["bm"], 1)
    fn(grid, (32 * spec["warps"], 1, 1), tuple(args))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--ptx", required=True)
    ap.add_argument("--rows", default="1,7,16,17,64,100,257")
    ap.add_argument("--no-timing", action="store_true")
    a = ap.parse_args()
    import cupy as cp
    ptx = open(a.ptx).read()
    names = sorted(set(re.findall(r"\.entry (\w+)", ptx)))
    mod = cp.RawModule(path=a.ptx)
    rng = np.random.default_rng(0)
    passed = failed = 0
    for name in names:
        spec = parse(name)
        if spec is None:
            print(f"SKIP {name}: not a linear kernel name this script knows")
            continue
        fn = mod.get_function(name)
        for m in [int(r) for r in a.rows.split(",")]:
            args, dy, ref, kind = make_case(cp, spec, m, rng)
            launch(fn, spec, m, args)
            cp.cuda.runtime.deviceSynchronize()
            y = cp.asnumpy(dy)
            if kind == "s8":
                err = np.abs(y - ref)
                tol = 2 * np.spacing(np.abs(ref).astype(np.float32)) + 1e-30
                ok = bool(np.all(err <= tol)) and not np.isnan(y).any()
                what = f"max error {err.max():.3g} (2 ulp allowed)"
            else:
                rel = np.linalg.norm(y - ref) / max(np.linalg.norm(ref), 1e-30)
                ok = bool(rel < 2e-3) and not np.isnan(y).any()
                what = f"relative error {rel:.2e} (< 2e-3)"
            passed += ok
            failed += not ok
            print(f"{'PASS' if ok else 'FAIL'} {name} M={m}: {what}")
    if not a.no_timing:
        time_kernels(cp, mod, names, rng)
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


def time_kernels(cp, mod, names, rng):
    import torch
    print("\n| kernel | M | N | K | quant (us) | cuBLAS via torch (us) | ratio |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")

    def bench(f, reps=50):
        f()
        cp.cuda.runtime.deviceSynchronize()
        start, stop = cp.cuda.Event(), cp.cuda.Event()
        times = []
        for _ in range(5):
            start.record()
            for _ in range(reps):
                f()
            stop.record()
            stop.synchronize()
            times.append(cp.cuda.get_elapsed_time(start, stop) * 1e3 / reps)
        return float(np.median(times))

    for name in names:
        spec = parse(name)
        if not spec or (spec["n"], spec["k"]) not in [(576, 576), (1536, 576),
                                                     (576, 1536)]:
            continue
        for m in ([1] if spec["bm"] == 16 else [512]):
            args, dy, ref, kind = make_case(cp, spec, m, rng)
            fn = mod.get_function(name)
            t = bench(lambda: launch(fn, spec, m, args))
            if kind == "f16":
                x = torch.randn(m, spec["k"], device="cuda", dtype=torch.float16)
                w = torch.randn(spec["n"], spec["k"], device="cuda",
                                dtype=torch.float16)
                peer = bench(lambda: torch.matmul(x, w.t()))
            elif m >= 32:
                x = torch.randint(-128, 127, (m, spec["k"]), device="cuda",
                                  dtype=torch.int8)
                w = torch.randint(-128, 127, (spec["k"], spec["n"]),
                                  device="cuda", dtype=torch.int8)
                peer = bench(lambda: torch._int_mm(x, w))
            else:
                x = torch.randn(m, spec["k"], device="cuda", dtype=torch.float16)
                w = torch.randn(spec["n"], spec["k"], device="cuda",
                                dtype=torch.float16)
                peer = bench(lambda: torch.matmul(x, w.t()))
            print(f"| {name} | {m} | {spec['n']} | {spec['k']} | {t:.1f} | "
                  f"{peer:.1f} | {t / peer:.2f} |")


if __name__ == "__main__":
    sys.exit(main())
