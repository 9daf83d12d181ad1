#!/usr/bin/env python3
"""Which special values the mixture formats (bitmod3, bitmod4) should use:
round-to-nearest weight SQNR of SmolLM2-135M's linear weights in groups of
128, with the integer table alone and with the integer table plus float
tables of each set of special values (docs/quantization.md, "Mixture
formats"). numpy only; the per-slot choice as lib/Dialect/QC/Transforms/
WeightGrid.cpp makes it (integer table scaled as intN, float tables with a
scale of either sign fitted to the slot's extremes, least squared error).

    .venv/bin/python bench/llm/mixture_tables.py [--model PATH] [--per-matrix N]
"""
import argparse
import itertools
from pathlib import Path

import numpy as np

MAGNITUDES = {4: [0, 0.5, 1, 1.5, 2, 3, 4, 6], 3: [0, 1, 2, 4]}
CANDIDATES = {4: [2.5, 3.5, 5, 7, 8, 10, 12], 3: [1.5, 3, 5, 6, 8]}


def int_error(g, bits):
    lo, hi = np.minimum(g.min(1, keepdims=True), 0), np.maximum(g.max(1, keepdims=True), 0)
    s = np.where(-lo >= hi, lo, hi) / -(2 ** (bits - 1))
    s[s == 0] = 1
    q = np.clip(np.round(g / s), -(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    return ((q * s - g) ** 2).sum(1)


def float_error(g, bits, special):
    mags = MAGNITUDES[bits]
    table = np.array(sorted(set(mags + [-m for m in mags] + [special])))
    lo, hi = np.minimum(g.min(1, keepdims=True), 0), np.maximum(g.max(1, keepdims=True), 0)
    best = None
    for sign in (1, -1):  # a negative scale: the table mirrored
        t = np.sort(table * sign)
        s = np.maximum(hi / t[-1], lo / t[0])
        s[s == 0] = 1
        mids = (t[:-1] + t[1:]) / 2
        q = t[np.searchsorted(mids, g / s)]
        e = ((q * s - g) ** 2).sum(1)
        best = e if best is None else np.minimum(best, e)
    return best


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", type=Path,
                   default=Path.home() / ".cache/quant/models/SmolLM2-135M-Instruct/smollm2-135m.onnx")
    p.add_argument("--per-matrix", type=int, default=4000, help="groups sampled from every third matrix")
    a = p.parse_args()
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(a.model))
    mats = [numpy_helper.to_array(t) for t in m.graph.initializer
            if len(t.dims) == 2 and min(t.dims) >= 576 and max(t.dims) < 40000]  # block linears, not the head
    rng = np.random.default_rng(0)
    groups = []
    for w in mats[::3]:
        w = w.T  # MatMul weights are [K, N]: groups along K
        k = w.shape[1] // 128 * 128
        g = w[:, :k].reshape(-1, 128)
        groups.append(g[rng.choice(len(g), min(len(g), a.per_matrix), replace=False)])
    g = np.concatenate(groups).astype(np.float64)
    sig = float((g ** 2).sum())
    db = lambda e: 10 * np.log10(sig / e.sum())
    print(f"{len(g)} groups of 128 from {len(mats[::3])} of {len(mats)} linear weights")
    print("| bits | tables | SQNR dB |\n| --- | --- | --- |")
    for bits in (4, 3):
        ei = int_error(g, bits)
        print(f"| {bits} | int alone | {db(ei):.2f} |")
        errs = {sv: float_error(g, bits, sv) for sv in CANDIDATES[bits]}
        rows = []
        for n in (2, 3):
            for combo in itertools.combinations(CANDIDATES[bits], n):
                rows.append((db(np.minimum.reduce([ei] + [errs[s] for s in combo])), combo))
        for v, combo in sorted(rows, reverse=True)[:8]:
            print(f"| {bits} | int + float with {', '.join(map(str, combo))} | {v:.2f} |")


if __name__ == "__main__":
    main()
