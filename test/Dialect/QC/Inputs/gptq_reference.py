"""qc-quantize's weight rounding against numpy implementations.

A linear layer [N, K] = [24, 80] (K not a multiple of the group size 32: a
partial last group) whose input has correlated channels and a few outliers;
its second moment H = X^T X / T goes into the module's statistics table. The
layer is quantized by quant-opt (W4, groups of 32, symmetric) three ways and
the codes compared with this file's numpy versions, written from the papers,
not from quant's code:

- rtn: round to nearest; every code must be equal.
- gptq: GPTQ (Frantar et al. 2022, Algorithm 1) in float64 with static
  groups (scales from the unmodified weight), act-order, damping 1% of the
  mean diagonal, one column at a time (no lazy blocks: the same result up to
  float rounding). Codes may differ only where float summation order moves a
  value across a rounding boundary: >= 99% must be equal, and the output
  error tr(D H D^T) of quant's codes must be within 1% of numpy's and well
  below round-to-nearest's.
- clip: AWQ's clipping search, per group the ratio in {1, 0.95, ..., 0.5}
  minimising sum_k (w_k - q_k)^2 E[x_k^2] (weight-only).
- clip, bitmod4: the same search over (ratio, table, scale sign) pairs for
  the mixture format (docs/quantization.md, "Mixture formats"); codes and
  table selectors must be equal.
"""

import re
import subprocess
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2].parent / "lib"))
import quant_reference as qr  # noqa: E402

N, K, T, G = 24, 80, 256, 32
BITS = 4


def f32(x):
    return np.asarray(x, dtype=np.float32)


def grid_scales(w, ratio=None):
    """Per (row, group) symmetric scales of the extremes times `ratio`
    (quant_reference.sym_weight_scale: the extreme on code -8), rounded to
    f32."""
    groups = -(-K // G)
    s = np.empty((N, groups), np.float32)
    for g in range(groups):
        blk = w[:, g * G:(g + 1) * G].astype(np.float64)
        lo = np.minimum(blk.min(1), 0.0)
        hi = np.maximum(blk.max(1), 0.0)
        if ratio is not None:
            lo, hi = lo * ratio[:, g], hi * ratio[:, g]
        sc = f32(qr.sym_weight_scale(lo, hi, BITS))
        sc[~(np.abs(sc) > 0)] = 1.0
        s[:, g] = sc
    return s


def round_codes(v, scale):
    """clamp(round_half_even(f32(v) / scale)) in float32, as quantization is specified."""
    return np.clip(np.rint(f32(v) / scale), -8, 7).astype(np.int64)


def col_scales(s):
    return np.repeat(s, G, axis=1)[:, :K]


def gptq(w, h, s):
    return qr.gptq_codes(w, h, col_scales(s), BITS)


def clip_search(w, energy):
    groups = -(-K // G)
    best = np.full((N, groups), np.inf)
    ratio = np.ones((N, groups))
    for step in range(11):
        r = 1.0 - 0.05 * step
        s = grid_scales(w, np.full((N, groups), r))
        q = round_codes(w, col_scales(s))
        d = w.astype(np.float64) - f32(f32(q) * col_scales(s)).astype(np.float64)
        loss = (d * d * energy[None, :])
        per = np.stack([loss[:, g * G:(g + 1) * G].sum(1) for g in range(groups)], 1)
        better = per < best
        best[better], ratio[better] = per[better], r
    s = grid_scales(w, ratio)
    return round_codes(w, col_scales(s))


def mixture_clip_search(w, energy):
    """Codes (low 4 bits) and table selectors of bitmod4 groups of G: per
    group, the first (ratio, choice) of least energy-weighted error; choice
    0 is int4 (scaled as int4 is), 2t-1 / 2t float table t with a positive /
    negative scale fitting the group's clipped extremes to the table's."""
    groups = -(-K // G)
    codes = np.zeros((N, K), np.int64)
    sel = np.zeros((N, groups), np.int64)
    for n in range(N):
        for g in range(groups):
            blk = f32(w[n, g * G:(g + 1) * G])
            b64 = blk.astype(np.float64)
            e = energy[g * G:(g + 1) * G]
            lo0, hi0 = min(b64.min(), 0.0), max(b64.max(), 0.0)
            best = None
            for step in range(11):
                r = 1.0 - 0.05 * step
                lo, hi = lo0 * r, hi0 * r
                for c in range(7):
                    table = (c + 1) // 2
                    vals = qr.mixture_table(BITS, table)
                    if table == 0:
                        sc = np.float32(qr.sym_weight_scale(lo, hi, BITS))
                    else:
                        sign = 1.0 if c % 2 else -1.0
                        t = np.sort(vals * sign)
                        sc = np.float32(max(hi / t[-1], lo / t[0]) * sign)
                    if not (abs(sc) > 0) or not np.isfinite(sc):
                        sc = np.float32(1.0)
                    if table == 0:
                        q = np.clip(np.rint(blk / sc), -8, 7)
                        deq = f32(f32(q) * sc).astype(np.float64)
                        code = q.astype(np.int64) & 15
                    else:
                        order = np.argsort(vals, kind="stable")
                        srt = f32(vals[order])
                        mids = f32(np.float32(0.5) * (srt[:-1] + srt[1:]))
                        idx = np.searchsorted(mids, f32(blk / sc), side="left")
                        deq = f32(srt[idx] * sc).astype(np.float64)
                        code = order[idx]
                    loss = float(np.sum((b64 - deq) ** 2 * e))
                    if best is None or loss < best:
                        best = loss
                        codes[n, g * G:(g + 1) * G], sel[n, g] = code, table
    return codes, sel


def dense(a, fmt):
    if a.ndim == 1:
        return "[" + ", ".join(fmt(v) for v in a) + "]"
    return "[" + ", ".join(dense(r, fmt) for r in a) + "]"


def module_text(w, x, h):
    e = lambda v: f"{float(v):.9e}"
    stats = (
        f'"fc" = #qc.tensor_stats<count = {T * K}, min = {e(x.min())} : f64, max = {e(x.max())} : f64, '
        f"sum = {e(x.sum())} : f64, sumSq = {e((x.astype(np.float64) ** 2).sum())} : f64, channelAxis = -1, "
        f"channelMin = dense<{dense(x.min(0), e)}> : tensor<{K}xf64>, "
        f"channelMax = dense<{dense(x.max(0), e)}> : tensor<{K}xf64>, "
        f"channelSumSq = dense<{dense((x.astype(np.float64) ** 2).sum(0), e)}> : tensor<{K}xf64>, "
        f"channelCount = dense<{T}> : tensor<{K}xi64>, rows = {T}, "
        f"secondMoment = dense<{dense(h, e)}> : tensor<{K}x{K}xf32>>"
    )
    return (
        f"module attributes {{qc.stats = {{{stats}}}}} {{\n"
        f"  func.func @main(%x: tensor<4x{K}xf32>) -> tensor<4x{N}xf32> {{\n"
        f"    %w = arith.constant dense<{dense(w, e)}> : tensor<{N}x{K}xf32>\n"
        f'    %y = qc.linear %x, %w {{qc.act_slot = "fc"}} : (tensor<4x{K}xf32>, tensor<{N}x{K}xf32>) -> tensor<4x{N}xf32>\n'
        f"    return %y : tensor<4x{N}xf32>\n  }}\n}}\n"
    )


def quant_codes(quant_opt, src, options, selectors=False):
    pipe = f"builtin.module(func.func(qc-quantize{{w-bits=4 w-granularity=group group-size={G} a-bits=0 {options}}}))"
    r = subprocess.run([quant_opt, src, f"--pass-pipeline={pipe}", "--mlir-print-elementsattrs-with-hex-if-larger=-1"], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"quant-opt failed: {r.stderr}")
    found = []
    for shape in [(N, K)] + ([(N, -(-K // G))] if selectors else []):
        m = re.search(r"arith\.constant dense<(\[\[[^>]*?\]\])> : tensor<%dx%dxi4>" % shape, r.stdout)
        if not m:
            sys.exit(f"no i4 {shape} constant in quant-opt's output:\n" + r.stdout[:2000])
        found.append(np.array(eval(m.group(1)), np.int64))
    return found if selectors else found[0]


def main():
    quant_opt, work = sys.argv[1], Path(sys.argv[2])
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(11)
    mix = rng.standard_normal((K, K)) * 0.3 + np.eye(K)
    x = rng.standard_normal((T, K)) @ mix
    x[:, [3, 41, 77]] *= 12.0  # outlier channels
    x = f32(x)
    w = f32(rng.standard_normal((N, K)) * 0.05)
    h = f32(x.astype(np.float64).T @ x.astype(np.float64) / T)
    src = work / "linear.mlir"
    src.write_text(module_text(w, x, h))

    hd = h.astype(np.float64)

    def out_err(codes, s):
        d = w.astype(np.float64) - f32(f32(codes) * col_scales(s)).astype(np.float64)
        return float(np.einsum("nk,kl,nl->", d, hd, d))

    s = grid_scales(w)
    ok = True
    rtn_ref = round_codes(w, col_scales(s))
    rtn = quant_codes(quant_opt, str(src), "")
    if not np.array_equal(rtn, rtn_ref):
        print(f"rtn: {np.mean(rtn != rtn_ref) * 100:.2f}% of codes differ from numpy")
        ok = False

    gq_ref = gptq(w, h, s)
    gq = quant_codes(quant_opt, str(src), "weight-rounding=gptq")
    same = np.mean(gq == gq_ref)
    e_rtn, e_ref, e_q = out_err(rtn_ref, s), out_err(gq_ref, s), out_err(gq, s)
    print(f"gptq: {same * 100:.2f}% codes equal; output error rtn {e_rtn:.4g}, numpy gptq {e_ref:.4g}, quant gptq {e_q:.4g}")
    if same < 0.99 or abs(e_q - e_ref) > 0.01 * e_ref or not e_q < 0.8 * e_rtn:
        ok = False

    energy = (x.astype(np.float64) ** 2).sum(0) / T
    cl_ref = clip_search(w, energy)
    cl = quant_codes(quant_opt, str(src), "clip-search=true")
    if not np.array_equal(cl, cl_ref):
        print(f"clip: {np.mean(cl != cl_ref) * 100:.2f}% of codes differ from numpy")
        ok = False
    mc_ref, ms_ref = mixture_clip_search(w, energy)
    mc, ms = quant_codes(quant_opt, str(src), "w-format=bitmod clip-search=true", selectors=True)
    print(f"clip bitmod4: tables chosen {np.bincount(ms_ref.ravel(), minlength=4).tolist()} (int, 2.5, 5, 8)")
    if not np.array_equal(mc & 15, mc_ref) or not np.array_equal(ms, ms_ref):
        print(f"clip bitmod4: {np.mean((mc & 15) != mc_ref) * 100:.2f}% of codes and "
              f"{np.mean(ms != ms_ref) * 100:.2f}% of selectors differ from numpy")
        ok = False
    print("weight rounding: ok" if ok else "weight rounding: MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
