"""A float64 numpy model of qc-smooth-fold's alpha search on the @search_token
group of qc-smooth-fold.mlir (read from that file): int4 per-channel
symmetric weights (the extreme on code -8, quant_reference.sym_weight_scale),
int8 activations per token (the row sample) or per tensor (static). Loss per
candidate s: sum_j sum_n (w s - q(w s))_nj^2 E[x_j^2] / s_j^2 plus the
activation's rounding noise step^2 / 12 times the smoothed weight's squared
norm, plus, for static activations, the expected clipping of unseen rows:
per channel and side, a Gaussian tail whose scale puts the observed extreme
over n = 64 rows at the 1 / (n + 1) quantile (at least the channel's RMS),
its mean squared excess past the threshold range * s_j, times the squared
norm of weight column j (docs/quantization.md, "Accuracy passes"). Prints
the best alpha of each mode and how much worse the runner-up is."""

import math
import re
import sys
from pathlib import Path
from statistics import NormalDist

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2].parent / "lib"))
import quant_reference as qr  # noqa: E402

src = Path(sys.argv[1]).read_text()
stats = re.search(r'"tok" = #qc.tensor_stats<(.*?)>>,', src, re.S).group(1)
x = np.array(eval(re.search(r"rowSample = dense<(\[\[.*?\]\])>", stats).group(1)))
energy = np.array(eval(re.search(r"channelSumSq = dense<(\[.*?\])>", stats).group(1))) / 64
amax = np.array(eval(re.search(r"channelMax = dense<(\[.*?\])>", stats).group(1)))
amin = np.array(eval(re.search(r"channelMin = dense<(\[.*?\])>", stats).group(1)))
body = src[src.rindex("func.func @search_token("):]
w = np.array(eval(re.search(r"arith.constant dense<(\[\[.*?\]\])>", body).group(1)))
wmax = np.abs(w).max(0)


def fake_quant(ws):
    lo = np.minimum(ws.min(1, keepdims=True), 0.0)
    hi = np.maximum(ws.max(1, keepdims=True), 0.0)
    sc = qr.sym_weight_scale(lo, hi, 4)
    return np.clip(np.rint(ws / sc), -8, 7) * sc


def tail_scale(extreme, n, rms):
    if extreme <= 0:
        return 0.0
    return max(rms, extreme / NormalDist().inv_cdf(1 - 1 / (n + 1)))


def excess_sq(u):
    """E[(z - u)^2; z > u] for a standard normal z."""
    q = 0.5 * math.erfc(u / math.sqrt(2))
    return max(0.0, (1 + u * u) * q - u * math.exp(-u * u / 2) / math.sqrt(2 * math.pi))


rms = np.sqrt(energy)
tails = [(tail_scale(amax[j], 64, rms[j]), tail_scale(-amin[j], 64, rms[j])) for j in range(4)]


def clip(s, r):
    total = 0.0
    for j, (hi, lo) in enumerate(tails):
        e = sum(t * t * excess_sq(r * s[j] / t) for t in (hi, lo) if t > 0)
        total += e * (w[:, j] ** 2).sum()
    return total


def loss(s, token):
    ws = w * s
    d = ws - fake_quant(ws)
    y = x / s
    if token:
        step2 = np.mean([(max(-min(r.min(), 0), max(r.max(), 0)) / 127) ** 2 for r in y])
    else:
        r = max(-min(y.min(), 0), y.max())
        step2 = (r / 127) ** 2
    total = (d ** 2 * energy / s ** 2).sum() + step2 / 12 * (ws ** 2).sum()
    return total if token else total + clip(s, r)


alphas = [None] + [round(a, 2) for a in np.arange(0, 1.0001, 0.05)]
for mode, token in (("token", True), ("tensor", False)):
    ls = [loss(np.ones(4), token)] + [loss(amax ** a / wmax ** (1 - a), token) for a in alphas[1:]]
    o = np.argsort(ls)
    print(f"{mode}: alpha {alphas[o[0]]}, runner-up {100 * (ls[o[1]] / ls[o[0]] - 1):.1f}% worse")
