"""A float64 numpy model of qc-smooth-fold's alpha search on the @search_token
group of qc-smooth-fold.mlir (read from that file): int4 per-channel
symmetric weights (the extreme on code -8, quant_reference.sym_weight_scale),
int8 activations per token (the row sample) or per tensor (static). Loss per
candidate s: sum_j sum_n (w s - q(w s))_nj^2 E[x_j^2] / s_j^2 plus the
activation's rounding noise step^2 / 12 times the smoothed weight's squared
norm (docs/quantization.md, "Accuracy passes"). Prints the best alpha of each
mode and how much worse the runner-up is."""

import re
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2].parent / "lib"))
import quant_reference as qr  # noqa: E402

src = Path(sys.argv[1]).read_text()
stats = re.search(r'"tok" = #qc.tensor_stats<(.*?)>>,', src, re.S).group(1)
x = np.array(eval(re.search(r"rowSample = dense<(\[\[.*?\]\])>", stats).group(1)))
energy = np.array(eval(re.search(r"channelSumSq = dense<(\[.*?\])>", stats).group(1))) / 64
amax = np.array(eval(re.search(r"channelMax = dense<(\[.*?\])>", stats).group(1)))
body = src[src.rindex("func.func @search_token("):]
w = np.array(eval(re.search(r"arith.constant dense<(\[\[.*?\]\])>", body).group(1)))
wmax = np.abs(w).max(0)


def fake_quant(ws):
    lo = np.minimum(ws.min(1, keepdims=True), 0.0)
    hi = np.maximum(ws.max(1, keepdims=True), 0.0)
    sc = qr.sym_weight_scale(lo, hi, 4)
    return np.clip(np.rint(ws / sc), -8, 7) * sc


def loss(s, token):
    ws = w * s
    d = ws - fake_quant(ws)
    y = x / s
    if token:
        step2 = np.mean([(max(-min(r.min(), 0), max(r.max(), 0)) / 127) ** 2 for r in y])
    else:
        step2 = (max(-min(y.min(), 0), y.max()) / 127) ** 2
    return (d ** 2 * energy / s ** 2).sum() + step2 / 12 * (ws ** 2).sum()


alphas = [None] + [round(a, 2) for a in np.arange(0, 1.0001, 0.05)]
for mode, token in (("token", True), ("tensor", False)):
    ls = [loss(np.ones(4), token)] + [loss(amax ** a / wmax ** (1 - a), token) for a in alphas[1:]]
    o = np.argsort(ls)
    print(f"{mode}: alpha {alphas[o[0]]}, runner-up {100 * (ls[o[1]] / ls[o[0]] - 1):.0f}% worse")
