"""The example MLP, quantized by quant-compile, against an independent numpy
model of the same quantized network (test/e2e/quantized-mlp.test).

usage: quantized_mlp.py prepare OUT_DIR
         writes OUT_DIR/mlp.onnx (examples/mlp_example.py, seed 0),
         OUT_DIR/calib/*.npz (16 calibration samples, x [4, 64]) and
         OUT_DIR/x.npy (the held-out evaluation input, [128, 64]) and
         OUT_DIR/calib-gptq/*.npz (64 samples, x [8, 64]: GPTQ's)
       quantized_mlp.py check OUT_DIR SCHEME MODEL.so
         runs MODEL.so (quant-run, or $QUANT_RUN) on OUT_DIR/x.npy, and on
         its first 12 rows in runs of 1, 3 and 8 rows, and compares every
         output row with the numpy reference of SCHEME (one of SCHEMES)
       quantized_mlp.py check-better OUT_DIR SCHEME MODEL.so
         for rounding other than to nearest (GPTQ): MODEL.so's SQNR against
         onnxruntime's float output must exceed the numpy round-to-nearest
         reference's of SCHEME (same scales, other codes: no elementwise
         comparison)
       quantized_mlp.py stats OUT_DIR QUANTIZED.mlir [--second-moments]
         reads the statistics table qc.stats of `quant-compile --calib
         OUT_DIR/calib --compile-to=quantize` and compares every layer's
         entry with statistics of that layer's input computed here in
         float64 from the numpy float model run over the calibration set
       quantized_mlp.py rows OUT_DIR QUANTIZED.mlir
         checks each layer's row sample (kept with smoothing on) against
         the layer's input rows computed here
       quantized_mlp.py check OUT_DIR config:CHOSEN.json MODEL.so
         as check, for the weight-only mixture that --write-config wrote
         (each layer's weights per its entry, float activations)
       quantized_mlp.py sensitivity OUT_DIR REPORT.json CANDIDATES N [ACTS]
         compares the report's measured sensitivities (mixed precision,
         candidates CANDIDATES as --candidates spells them, crossed with
         ACTS as --act-candidates does)
         with the numpy model's: per layer and candidate, the output's
         relative squared error over the first N calibration samples with
         only that layer's weights quantized, in float64
       quantized_mlp.py optimal REPORT.json AVG_WBITS [LATENCY_MS]
         checks by enumerating every assignment that the report's choice
         minimises the summed sensitivity within AVG_WBITS average bits
         (0: no bound) and, when given, LATENCY_MS of summed candidate
         latencies (as the report gives them)
       quantized_mlp.py latency-budget REPORT.json
         prints a latency budget halfway between the cheapest assignment's
         summed latency and that of the least-error one (a budget that
         binds), from a report made with --latency-budget

The reference reads the weights from mlp.onnx, fake-quantizes them in numpy
(test/lib/quant_reference.py: per output channel, or in groups of G along the
reduced axis; symmetric scale = absmax / qmax rounded to float32 (an all-zero
slot gets 1); x / scale in float32, round half to even, clamp; FP8 e4m3 to the
nearest representable value, ties to the even code, after clamping to
+-448), fake-quantizes every layer's input activation per the scheme (static:
scale = max(|min|, |max|) / qmax from the calibration set, seen by running
this same numpy float model over the calibration samples; dynamic: per row
absmax / qmax in float32), and evaluates the model's float math (Gemm, Relu,
MatMul, Add, Gelu (erf), MatMul, Softmax) in float64, rounding each op's
result to float32 as a float32 model stores it.

Checks:
 (a) max |ours - reference| <= TOL * max |reference| (TOL = 1e-5) on every
     row of the evaluation input whose activation codes are unambiguous.
     Integer accumulation is exact on our side and in float64 here, so what
     remains is float32 rounding of the epilogues, of GELU and of the float
     (dequantized-weight) contractions: ~1e-7 of the output (measured), 100x
     below TOL, while one wrong activation or weight code moves the output by
     ~1e-4..1e-3. The one legitimate discrepancy is an activation within
     float32 rounding of a rounding boundary of its format (x / scale at
     k + 1/2 for integers, a midpoint between neighbouring codes for FP8):
     our float32 activation and the reference's may round to different codes
     there. A row holding an activation closer to a boundary than
     ABS_MARGIN = 1e-5 code steps + REL_MARGIN = 4 float32 ulps of |x / scale|
     (the flips seen were ~2e-6 steps away) is therefore left out of this
     check and counted: such rows must be at most 5% of the rows (expected
     ~0.5-1%: 256 activations per row, each ambiguous with probability
     ~2e-5..5e-5), and even they must agree to 1e-2 * max |reference|.
 (b) SQNR(ours vs onnxruntime's float output) >= SQNR(reference vs the same)
     - 1 dB: the quantization noise is what the scheme implies, the floor is
     derived from the reference, never from our output.
"""

import json
import math
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
SRC = HERE.parent.parent.parent
sys.path.insert(0, str(SRC / "examples"))
sys.path.insert(0, str(SRC / "test" / "lib"))

import quant_reference as qr  # noqa: E402

TOL = 1e-5          # (a): relative to max |reference|
ABS_MARGIN = 1e-5   # an activation this many code steps from a rounding boundary,
REL_MARGIN = 2.4e-7  # plus 4 float32 ulps of x / scale, may round either way
MAX_AMBIGUOUS = 0.05
AMBIGUOUS_TOL = 1e-2
SQNR_SLACK_DB = 1.0

# scheme -> (weight format, weight bits, weight group (0: per channel),
#            activation format (None: float), activation bits, static?
#            [, dynamic scales' share of each row's range (--aclip)])
SCHEMES = {
    "w8a4-dynamic-clip": ("int", 8, 0, "int", 4, False, 0.8),
    "w8a8": ("int", 8, 0, "int", 8, True),
    "w8a8-dynamic": ("int", 8, 0, "int", 8, False),
    "w4a16-g32": ("int", 4, 32, None, 0, False),
    "w4a8": ("int", 4, 0, "int", 8, True),
    "w2a16": ("int", 2, 0, None, 0, False),
    "w2a2-dynamic": ("int", 2, 0, "int", 2, False),
    "w2a2-balanced": ("bint", 2, 0, "int", 2, False),
    "w1a4-ternary": ("bint", 1, 0, "int", 4, False),
    "w2a16-balanced": ("bint", 2, 0, None, 0, False),
    "fp8": ("fp8e4m3", 8, 0, "fp8e4m3", 8, True),
    "w4mix-a16-g32": ("bitmod", 4, 32, None, 0, False),
    "w3mix-a16-channel": ("bitmod", 3, 0, None, 0, False),
}


def f32(a):
    return np.asarray(a, np.float64).astype(np.float32).astype(np.float64)


def fmt_name(kind, bits):
    return kind if kind != "int" else f"int{bits}"


def qmax(kind, bits):
    return qr.FLOAT_FORMATS[kind].max_finite if kind != "int" else float(2 ** (bits - 1) - 1)


# --------------------------------------------------------------------------
# The model, read from the ONNX file.
# --------------------------------------------------------------------------

def load_model(path):
    import onnx
    from onnx import numpy_helper

    m = onnx.load(str(path))
    inits = {t.name: numpy_helper.to_array(t).astype(np.float64) for t in m.graph.initializer}
    ops = [n.op_type for n in m.graph.node]
    assert ops == ["Gemm", "Relu", "MatMul", "Add", "Gelu", "MatMul", "Softmax"], ops
    return m, inits


def attr(node, name, default):
    for a in node.attribute:
        if a.name == name:
            return a.i if a.type == a.INT else (a.f if a.type == a.FLOAT else a.s.decode())
    return default


def gelu(x):
    erf = np.vectorize(math.erf, otypes=[np.float64])
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def layer_weight_nk(node, inits):
    """A layer's weight as [N, K] (output channel first), float64."""
    w = inits[node.input[1]]
    if node.op_type == "Gemm":
        assert attr(node, "transA", 0) == 0 and attr(node, "alpha", 1.0) == 1.0 and attr(node, "beta", 1.0) == 1.0
        return w if attr(node, "transB", 0) else w.T
    return w.T  # MatMul: [K, N]


def mixture_slot(w32, lo, hi, bits):
    """One slot (a group or a channel: float32 values `w32`, extremes lo <= 0
    <= hi) of a bitmod<bits> weight, dequantized: of the integer table (scaled
    as int<bits> is) and each float table with a positive and a negative
    scale (the slot's extremes fitted to the table's), the first of least
    squared error. Values round to the nearest table entry (ties to the
    lower), x / scale in float32."""
    w64 = w32.astype(np.float64)
    best, best_q = None, None
    for cand in range(7):
        table = (cand + 1) // 2
        vals = qr.mixture_table(bits, table)
        if table == 0:
            sc = float(qr.sym_weight_scale(lo, hi, bits))
        else:
            sign = 1.0 if cand % 2 else -1.0
            t = np.sort(vals * sign)
            sc = max(hi / t[-1], lo / t[0]) * sign
        sc = np.float32(sc)
        if not (abs(sc) > 0) or not np.isfinite(sc):
            sc = np.float32(1.0)
        if table == 0:
            q = np.clip(np.rint(w32 / sc), -(1 << (bits - 1)), (1 << (bits - 1)) - 1)
            deq = (q.astype(np.float32) * sc).astype(np.float64)
        else:
            srt = np.sort(vals).astype(np.float32)
            mids = (np.float32(0.5) * (srt[:-1] + srt[1:])).astype(np.float32)
            v = (w32 / sc).astype(np.float32)
            deq = (srt[np.searchsorted(mids, v, side="left")] * sc).astype(np.float64)
        err = float(np.sum((w64 - deq) ** 2))
        if best is None or err < best:
            best, best_q = err, deq
    return best_q


def quantize_weight(w_nk, kind, bits, group):
    """Dequantized weight [N, K] (float32 values) per the scheme. Kind
    "bint": --bit-balance's levels -2^(bits-1) .. 2^(bits-1) (per output
    channel, scale max|w| / 2^(bits-1)), stored as int(bits + 1) codes.
    Kind "bitmod": the mixture of datatypes, a table per slot
    (mixture_slot)."""
    if kind == "bitmod":
        w32 = w_nk.astype(np.float32)
        out = np.empty(w32.shape, np.float64)
        step = group or w32.shape[1]
        for n in range(w32.shape[0]):
            for k0 in range(0, w32.shape[1], step):
                blk = w32[n, k0:k0 + step]
                b64 = blk.astype(np.float64)
                out[n, k0:k0 + step] = mixture_slot(blk, min(b64.min(), 0.0), max(b64.max(), 0.0), bits)
        return out
    if kind == "bint":
        m = 1 << (bits - 1)
        w32 = w_nk.astype(np.float32)
        w64 = w32.astype(np.float64)
        scale = (np.maximum(-np.minimum(w64.min(axis=1), 0.0), np.maximum(w64.max(axis=1), 0.0)) / m)
        scale = scale.astype(np.float32)
        scale[~(np.abs(scale) > 0)] = 1.0
        codes = np.clip(qr.quantize(w32, scale, None, f"int{bits + 1}", axis=0, dtype="float32"), -m, m)
        return qr.dequantize(codes, scale, None, f"int{bits + 1}", axis=0, dtype="float32").astype(np.float64)
    fmt = fmt_name(kind, bits)
    w32 = w_nk.astype(np.float32)
    n, k = w32.shape
    w64 = w32.astype(np.float64)
    if group:
        ng = -(-k // group)
        lo, hi = np.zeros((n, ng)), np.zeros((n, ng))
        for g in range(ng):
            blk = w64[:, g * group:(g + 1) * group]
            lo[:, g], hi[:, g] = np.minimum(blk.min(axis=1), 0.0), np.maximum(blk.max(axis=1), 0.0)
        axis = 1
    else:
        lo, hi = np.minimum(w64.min(axis=1), 0.0), np.maximum(w64.max(axis=1), 0.0)
        axis = 0
    if kind == "int":
        scale = qr.sym_weight_scale(lo, hi, bits).astype(np.float32)
    else:
        scale = (np.maximum(-lo, hi) / qmax(kind, bits)).astype(np.float32)
    scale[~(np.abs(scale) > 0)] = 1.0
    codes = qr.quantize(w32, scale, None, fmt, axis=axis, group=group or None, dtype="float32")
    return qr.dequantize(codes, scale, None, fmt, axis=axis, group=group or None, dtype="float32").astype(np.float64)


def boundary_distance(v, kind, bits):
    """How far each x/scale value `v` is from the nearest rounding boundary of
    the format, as a multiple of the margin within which float32 rounding
    differences may flip the code (ABS_MARGIN code steps + REL_MARGIN |v|);
    < 1: ambiguous; inf where the value saturates."""
    if kind == "int":
        lo, hi = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
        d = np.abs(v - np.floor(v) - 0.5)
        return np.where((v > lo - 0.5) & (v < hi + 0.5), d / (ABS_MARGIN + REL_MARGIN * np.abs(v)), np.inf)
    fmt = qr.FLOAT_FORMATS[kind]
    vals = np.unique(np.concatenate([-fmt.pos_values, fmt.pos_values]))
    mids = (vals[:-1] + vals[1:]) / 2
    gaps = np.diff(vals)
    i = np.clip(np.searchsorted(mids, v), 1, len(mids) - 1)
    margin = lambda j: ABS_MARGIN * gaps[j] + REL_MARGIN * np.abs(v)  # noqa: E731
    d = np.minimum(np.abs(v - mids[i - 1]) / margin(i - 1), np.abs(v - mids[i]) / margin(i))
    return np.where(np.abs(v) <= fmt.max_finite, d, np.inf)


class Reference:
    """The numpy model; `run(x)` returns the output and, per row, the smallest
    boundary distance of any quantized activation."""

    def __init__(self, onnx_path, scheme=None, calib=None):
        self.model, self.inits = load_model(onnx_path)
        self.scheme = SCHEMES[scheme] if scheme else None
        self.wq = {}
        self.act_bits = {}  # layer -> (bits, per row?): dynamic activation rounding outside any scheme
        self.static_scale = {}
        if self.scheme:
            wk, wb, wg = self.scheme[:3]
            for node in self.layers():
                self.wq[node.name] = quantize_weight(layer_weight_nk(node, self.inits), wk, wb, wg)
            if self.scheme[3] and self.scheme[5]:
                ranges = Reference(onnx_path).calibrate(calib)
                for name, (lo, hi) in ranges.items():
                    lo, hi = min(lo, 0.0), max(hi, 0.0)
                    s = np.float32(max(-lo, hi) / qmax(self.scheme[3], self.scheme[4]))
                    self.static_scale[name] = s if s > 0 and np.isfinite(s) else np.float32(1.0)

    def layers(self):
        return [n for n in self.model.graph.node if n.op_type in ("Gemm", "MatMul") and n.input[1] in self.inits]

    def calibrate(self, samples):
        ranges = {}
        for x in samples:
            self.run(x, observe=ranges)
        return ranges

    @staticmethod
    def fake_quantize_rows(x, bits, per_row=True):
        """Symmetric dynamic rounding (mixed precision's activation switch):
        scale = absmax / (2^(bits-1) - 1) in float32, of each row or of the
        whole tensor."""
        fmt = f"int{bits}"
        x32 = x.astype(np.float32)
        absmax = np.abs(x32).max(axis=-1) if per_row else np.abs(x32).max(keepdims=True)
        scale = (absmax / np.float32(2 ** (bits - 1) - 1)).astype(np.float32)
        scale[~(scale > 0)] = 1.0
        if not per_row:
            scale = np.full(x32.shape[0], scale[0], np.float32)
        codes = qr.quantize(x32, scale, None, fmt, axis=0, dtype="float32")
        return qr.dequantize(codes, scale, None, fmt, axis=0, dtype="float32").astype(np.float64)

    def quantize_act(self, name, x, dist):
        ak, ab, static = self.scheme[3], self.scheme[4], self.scheme[5]
        fmt = fmt_name(ak, ab)
        x32 = x.astype(np.float32)
        if static:
            scale = np.asarray(self.static_scale[name], np.float32)
            axis = None
        else:
            # scale = absmax / (qmax / clip), the divisor a float32 constant
            clip = self.scheme[6] if len(self.scheme) > 6 else 1.0
            absmax = np.abs(x32).max(axis=-1)
            scale = (absmax / np.float32(qmax(ak, ab) / clip)).astype(np.float32)
            scale[~(scale > 0)] = 1.0
            axis = 0
        v = qr.divide(x32, qr.broadcast_params(x32.shape, scale, axis), "float32").astype(np.float64)
        d = boundary_distance(v, ak, ab).min(axis=-1)
        np.minimum(dist, d, out=dist)
        codes = qr.quantize(x32, scale, None, fmt, axis=axis, dtype="float32")
        return qr.dequantize(codes, scale, None, fmt, axis=axis, dtype="float32").astype(np.float64)

    def run(self, x, observe=None, inputs=None):
        env = {self.model.graph.input[0].name: f32(x)}
        dist = np.full(x.shape[0], np.inf)
        for node in self.model.graph.node:
            ins = [env.get(i) for i in node.input]
            op = node.op_type
            if op in ("Gemm", "MatMul") and node.input[1] in self.inits:
                a = ins[0]
                if observe is not None:
                    lo, hi = observe.get(node.name, (np.inf, -np.inf))
                    observe[node.name] = (min(lo, float(a.min())), max(hi, float(a.max())))
                if inputs is not None:
                    inputs.setdefault(node.name, []).append(a.copy())
                if self.scheme and self.scheme[3]:
                    a = self.quantize_act(node.name, a, dist)
                if self.act_bits.get(node.name):
                    bits, per_row = self.act_bits[node.name]
                    a = self.fake_quantize_rows(a, bits, per_row)
                w = self.wq[node.name] if node.name in self.wq else f32(layer_weight_nk(node, self.inits))
                y = a @ w.T
                if op == "Gemm" and len(node.input) > 2:
                    y = y + self.inits[node.input[2]]
            elif op == "Add":
                y = ins[0] + (ins[1] if ins[1] is not None else self.inits[node.input[1]])
            elif op == "Relu":
                y = np.maximum(ins[0], 0.0)
            elif op == "Gelu":
                assert attr(node, "approximate", "none") == "none"
                y = gelu(ins[0])
            elif op == "Softmax":
                assert attr(node, "axis", -1) in (-1, 1)
                y = softmax(ins[0])
            else:
                raise NotImplementedError(op)
            env[node.output[0]] = f32(y)
        return env[self.model.graph.output[0].name], dist


# --------------------------------------------------------------------------

def sqnr_db(ref, test):
    ref, test = np.asarray(ref, np.float64), np.asarray(test, np.float64)
    noise = float(np.sum((ref - test) ** 2))
    return math.inf if noise == 0 else 10 * math.log10(float(np.sum(ref ** 2)) / noise)


def prepare(out):
    import onnx

    import mlp_example

    out.mkdir(parents=True, exist_ok=True)
    onnx.save(mlp_example.build_mlp_model(seed=0), out / "mlp.onnx")
    (out / "calib").mkdir(exist_ok=True)
    for i in range(16):  # the example's input distribution, seeds 100.. (evaluation: 7)
        np.savez(out / "calib" / f"sample_{i:02d}.npz", x=mlp_example.make_input(batch=4, seed=100 + i))
    np.save(out / "x.npy", mlp_example.make_input(batch=128, seed=7))
    # GPTQ needs several times more rows than a layer's inputs (128) for a
    # second moment that generalises: 512 rows, seeds 200..
    (out / "calib-gptq").mkdir(exist_ok=True)
    for i in range(64):
        np.savez(out / "calib-gptq" / f"sample_{i:02d}.npz", x=mlp_example.make_input(batch=8, seed=200 + i))
    print("prepared")
    return 0


def check(out, scheme, so, better=False):
    x = np.load(out / "x.npy")
    calib = [np.load(p)["x"] for p in sorted((out / "calib").glob("*.npz"))]
    # The whole input, then its first rows in runs of 1, 3 and 8 rows: the
    # register tiles of 1..7 rows left after full tiles (tiles of powers of
    # two, each decoding a weight-only layer's codes once) get checked too.
    runs = [(0, len(x)), (0, 1), (1, 4), (4, 12)]
    outs = []
    with tempfile.TemporaryDirectory() as tmp:
        for lo, hi in runs:
            xin = os.path.join(tmp, "x.npy")
            np.save(xin, x[lo:hi])
            cmd = [os.environ.get("QUANT_RUN", "quant-run"), str(so), "-i", f"x={xin}", "-o", tmp]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print(f"FAIL: quant-run exit {r.returncode} on rows {lo}..{hi - 1}: {r.stderr.strip()}")
                return 1
            outs.append(np.load(os.path.join(tmp, "y.npy")).astype(np.float64))
    ours = np.concatenate(outs)
    rows = np.concatenate([np.arange(lo, hi) for lo, hi in runs])

    import onnxruntime as ort

    sess = ort.InferenceSession(str(out / "mlp.onnx"), providers=["CPUExecutionProvider"])
    ort_float = sess.run(None, {"x": x})[0].astype(np.float64)[rows]

    if scheme.startswith("config:"):
        ref, dist = mixed_reference(out, scheme[len("config:"):]).run(x)
    else:
        ref, dist = Reference(out / "mlp.onnx", scheme, calib).run(x)
    ref, dist = ref[rows], dist[rows]
    err = np.abs(ours - ref).max(axis=-1)
    scale = float(np.abs(ref).max())
    ambiguous = dist < 1.0
    clear_err = float(err[~ambiguous].max()) if (~ambiguous).any() else 0.0
    amb_err = float(err[ambiguous].max()) if ambiguous.any() else 0.0
    ours_db, ref_db = sqnr_db(ort_float, ours), sqnr_db(ort_float, ref)
    if better:
        print(f"{scheme}: SQNR vs onnxruntime float: ours {ours_db:.2f} dB, round-to-nearest reference {ref_db:.2f} dB")
        ok = ours_db > ref_db
        print(f"{scheme}: {'better' if ok else 'FAIL: not better than round-to-nearest'}")
        return 0 if ok else 1
    print(f"{scheme}: max abs err {clear_err:.3g} (tol {TOL * scale:.3g}) on {int((~ambiguous).sum())} rows; "
          f"{int(ambiguous.sum())}/{len(rows)} rows near a rounding boundary, max abs err {amb_err:.3g}")
    print(f"{scheme}: SQNR vs onnxruntime float: ours {ours_db:.2f} dB, reference {ref_db:.2f} dB")
    fails = []
    if clear_err > TOL * scale:
        worst = int(np.argmax(np.where(ambiguous, -1, err)))
        fails.append(f"max abs err {clear_err:.3g} > {TOL * scale:.3g} (row {worst}: ours {ours[worst]}, "
                     f"reference {ref[worst]})")
    if ambiguous.mean() > MAX_AMBIGUOUS:
        fails.append(f"{ambiguous.mean():.1%} of the rows near a rounding boundary (at most {MAX_AMBIGUOUS:.0%})")
    if amb_err > AMBIGUOUS_TOL * scale:
        fails.append(f"rows near a rounding boundary: max abs err {amb_err:.3g} > {AMBIGUOUS_TOL * scale:.3g}")
    if not ours_db >= ref_db - SQNR_SLACK_DB:
        fails.append(f"SQNR {ours_db:.2f} dB < reference {ref_db:.2f} dB - {SQNR_SLACK_DB:g} dB")
    for f in fails:
        print(f"FAIL: {scheme}: {f}")
    if not fails:
        print(f"{scheme}: ok")
    return 1 if fails else 0


def split_top(text, sep=", "):
    """Splits at `sep` outside <>, [], () and quotes."""
    parts, depth, quote, start, i = [], 0, False, 0, 0
    while i < len(text):
        c = text[i]
        if c == '"':
            quote = not quote
        elif not quote and c in "<[(":
            depth += 1
        elif not quote and c in ">])":
            depth -= 1
        elif not quote and depth == 0 and text.startswith(sep, i):
            parts.append(text[start:i])
            i += len(sep)
            start = i
            continue
        i += 1
    parts.append(text[start:])
    return parts


def matching(text, start, open_c, close_c):
    """Index just past the bracket closing the one at text[start]."""
    depth, quote = 0, False
    for i in range(start, len(text)):
        c = text[i]
        if c == '"':
            quote = not quote
        elif not quote and c == open_c:
            depth += 1
        elif not quote and c == close_c:
            depth -= 1
            if depth == 0:
                return i + 1
    raise ValueError("unbalanced " + open_c)


def parse_value(v, blobs):
    """An MLIR attribute value of #qc.tensor_stats: an integer, a float with
    its type, a dense elements attribute (hex, nested list or splat) or a
    dense_resource blob (hex in the file's resource section: a 4-byte
    alignment, then the data)."""
    v = v.strip()
    if v.startswith("dense_resource<"):
        end = v.index(">")
        name, ty = v[len("dense_resource<"):end], v[end + 1:].strip()
        dims = ty[len(": tensor<"):-1].split("x")
        shape, elt = [int(d) for d in dims[:-1]], dims[-1]
        dtype = {"f32": "<f4", "f64": "<f8", "i64": "<i8"}[elt]
        return np.frombuffer(bytes.fromhex(blobs[name][2 + 8:]), dtype).reshape(shape)
    if v.startswith("dense<"):
        end = matching(v, len("dense"), "<", ">")
        body, ty = v[len("dense<"):end - 1], v[end:].strip()
        assert ty.startswith(": tensor<"), ty
        dims = ty[len(": tensor<"):-1].split("x")
        shape, elt = [int(d) for d in dims[:-1]], dims[-1]
        dtype = {"f32": "<f4", "f64": "<f8", "i64": "<i8"}[elt]
        if body.startswith('"0x'):
            return np.frombuffer(bytes.fromhex(body[3:-1]), dtype).reshape(shape)
        if body.startswith("["):
            import json
            return np.asarray(json.loads(body), dtype).reshape(shape)
        return np.full(shape, float(body), dtype)
    if " : " in v:
        return float(v.split(" : ")[0])
    if v.startswith("["):  # an i64 array (patchKernel)
        return [int(e) for e in v[1:-1].split(",") if e.strip()]
    return int(v)


def parse_stats_table(text):
    """{slot: {field: value}} of the module's qc.stats attribute."""
    import re
    blobs = dict(re.findall(r'^\s*([\w.]+): "(0x[0-9A-Fa-f]*)"', text, re.M))
    start = text.index("qc.stats = {") + len("qc.stats = ")
    body = text[start + 1:matching(text, start, "{", "}") - 1]
    table = {}
    for entry in split_top(body):
        name, value = entry.split(" = ", 1)
        assert value.startswith("#qc.tensor_stats<"), value[:40]
        fields = value[len("#qc.tensor_stats<"):-1]
        table[name.strip('"')] = {
            k: parse_value(v, blobs) for k, v in (f.split(" = ", 1) for f in split_top(fields))}
    return table


def calibration_inputs(out, mlir_path):
    """The calibration samples, the numpy model, each layer's inputs over
    them ({layer: [arrays]}) and the statistics table of `mlir_path`."""
    calib = [np.load(p)["x"] for p in sorted((out / "calib").glob("*.npz"))]
    ref = Reference(out / "mlp.onnx")
    inputs = {}
    for x in calib:
        ref.run(x, inputs=inputs)
    return calib, ref, inputs, parse_stats_table(Path(mlir_path).read_text())


def check_stats(out, mlir_path, second_moments):
    calib, ref, inputs, table = calibration_inputs(out, mlir_path)
    failures = []

    def expect(ok, what):
        if not ok:
            failures.append(what)

    names = [n.name for n in ref.layers()]
    expect(sorted(table) == sorted(names), f"slots {sorted(table)} != layers {sorted(names)}")
    for name in names:
        if name not in table:
            continue
        t = table[name]
        # The numpy model's float32 layer inputs, as rows of K channels.
        a = np.concatenate([v.reshape(-1, v.shape[-1]) for v in inputs[name]]).astype(np.float64)
        scale = float(np.abs(a).max())
        tol = 1e-5 * scale  # our float32 model vs numpy's float64 math
        expect(t["count"] == a.size, f"{name}: count {t['count']} != {a.size}")
        expect(abs(t["min"] - a.min()) <= tol, f"{name}: min {t['min']} != {a.min()}")
        expect(abs(t["max"] - a.max()) <= tol, f"{name}: max {t['max']} != {a.max()}")
        expect(abs(t["sum"] - a.sum()) <= tol * a.size ** 0.5 * 4,
               f"{name}: sum {t['sum']} != {a.sum()}")
        expect(abs(t["sumSq"] - (a * a).sum()) <= 1e-5 * (a * a).sum(),
               f"{name}: sumSq {t['sumSq']} != {(a * a).sum()}")
        expect(t.get("zeros", 0) == int((a == 0).sum()) or name != names[0],
               f"{name}: zeros {t.get('zeros', 0)} != {(a == 0).sum()}")
        hist = t["histogram"]
        expect(int(hist.sum()) == a.size, f"{name}: histogram holds {hist.sum()}")
        expect(t["histRange"] >= scale - tol, f"{name}: histRange {t['histRange']} < {scale}")
        expect(t["channelAxis"] == 1, f"{name}: channelAxis {t['channelAxis']}")
        for field, want in (("channelMin", a.min(0)), ("channelMax", a.max(0)),
                            ("channelSumSq", (a * a).sum(0))):
            got = t[field]
            bound = tol if field != "channelSumSq" else 1e-5 * float(want.max())
            expect(got.shape == want.shape and float(np.abs(got - want).max()) <= bound,
                   f"{name}: {field} differs by {np.abs(got - want).max()}")
        expect(np.all(t["channelCount"] == a.shape[0]), f"{name}: channelCount")
        if second_moments:
            m = a.T @ a / a.shape[0]
            got = t.get("secondMoment")
            expect(got is not None and t["rows"] == a.shape[0],
                   f"{name}: rows {t.get('rows')} != {a.shape[0]}")
            if got is not None:
                err = float(np.abs(got - m).max())
                expect(err <= 1e-5 * float(np.abs(m).max()),
                       f"{name}: second moment differs by {err} (max {np.abs(m).max()})")
        else:
            expect("secondMoment" not in t, f"{name}: unrequested second moment")
    for f in failures:
        print("FAIL", f)
    print(f"stats: {'ok' if not failures else 'FAILED'} ({len(names)} layers, "
          f"{len(calib)} samples)")
    return 1 if failures else 0


def check_row_sample(out, mlir_path):
    """Each layer's row sample (smoothing's) against numpy: min(128, rows)
    distinct rows, each one of the layer's input rows divided by the
    smoothing factors s (read off the table: s_j^2 is numpy's sum of x_j^2
    over the table's channelSumSq; 1 for a slot left unsmoothed)."""
    calib, ref, inputs, table = calibration_inputs(out, mlir_path)
    failures, names = [], [n.name for n in ref.layers()]
    for name in names:
        t = table.get(name, {})
        a = np.concatenate([v.reshape(-1, v.shape[-1]) for v in inputs[name]]).astype(np.float64)
        got = t.get("rowSample")
        if got is None:
            failures.append(f"{name}: no row sample")
            continue
        if got.shape != (min(128, a.shape[0]), a.shape[1]):
            failures.append(f"{name}: row sample of shape {got.shape}, {a.shape} rows")
            continue
        sq = np.asarray(t["channelSumSq"], np.float64)
        want_sq = (a * a).sum(0)
        s = np.where(sq > 0, np.sqrt(want_sq / np.where(sq > 0, sq, 1)), 1.0)
        rows = got.astype(np.float64) * s
        # Nearest input row of each sampled one, relative to the row's size.
        d = ((rows[:, None, :] - a[None, :, :]) ** 2).sum(-1)
        nearest = d.argmin(1)
        err = np.sqrt(d[np.arange(len(rows)), nearest]) / np.sqrt((a[nearest] ** 2).sum(-1) + 1e-30)
        if float(err.max()) > 1e-4:
            failures.append(f"{name}: a sampled row is no input row (relative error {err.max():.2e})")
        if len(set(nearest.tolist())) != len(rows):
            failures.append(f"{name}: an input row is sampled twice")
    return verdict("rows", failures, f"{len(names)} layers")


def verdict(label, fails, detail):
    """Prints each failure and the check's last line; the exit status."""
    for f in fails:
        print("FAIL", f)
    print(f"{label}: {'ok' if not fails else 'FAILED'} ({detail})")
    return 1 if fails else 0


def parse_candidate(spec):
    """--candidates' FORMAT[:GRANULARITY] -> (kind, bits, group)."""
    fmt, _, gran = spec.partition(":")
    kind = "bitmod" if fmt.startswith("bitmod") else "int"
    assert fmt.startswith(kind), spec
    group = int(gran.replace("group:", "").lstrip("g")) if gran.startswith("g") else 0
    return kind, int(fmt[len(kind):]), group


def mixed_reference(out, config):
    """The numpy model of a weight-only mixture: --write-config's entries."""
    ref = Reference(out / "mlp.onnx")
    for name, e in json.loads(Path(config).read_text())["layers"].items():
        assert e["w_format"] in ("int", "bitmod") and not e.get("w_balanced"), e
        gran = e["w_granularity"]
        group = int(gran.split(":")[1]) if gran.startswith("group:") else 0
        node = next(n for n in ref.layers() if n.name == name)
        ref.wq[name] = quantize_weight(layer_weight_nk(node, ref.inits), e["w_format"], e["w_bits"], group)
    return ref


def check_sensitivity(out, report, candidates, n, acts=None):
    calib = [np.load(p)["x"] for p in sorted((out / "calib").glob("*.npz"))][:n]
    prec = json.loads(Path(report).read_text())["precision"]
    base = Reference(out / "mlp.onnx")
    ys = [base.run(x)[0] for x in calib]
    act_list = [0 if a == "none" else int(a) for a in acts.split(",")] if acts else [None]
    cands = [parse_candidate(c) + (a,) for c in candidates.split(",") for a in act_list]
    fails, worst = [], 0.0
    names = [n_.name for n_ in base.layers()]
    if [l["name"] for l in prec["layers"]] != names:
        fails.append(f"layers {[l['name'] for l in prec['layers']]}, expected {names}")
    for layer in prec["layers"]:
        node = next(n_ for n_ in base.layers() if n_.name == layer["name"])
        if len(layer["candidates"]) != len(cands):
            fails.append(f"{node.name}: {len(layer['candidates'])} candidates, expected {len(cands)}")
            continue
        for got, (kind, bits, group, abits) in zip(layer["candidates"], cands):
            ref = Reference(out / "mlp.onnx")
            ref.wq[node.name] = quantize_weight(layer_weight_nk(node, ref.inits), kind, bits, group)
            if abits:
                # per token where the candidate's scheme says so, else one
                # scale for the tensor
                ref.act_bits[node.name] = (abits, "per-token" in got["scheme"])
            num = sum(float(np.sum((ref.run(x)[0] - y) ** 2)) for x, y in zip(calib, ys))
            den = sum(float(np.sum(y ** 2)) for y in ys)
            want = num / den
            rel = abs(got["error"] - want) / want
            worst = max(worst, rel)
            if got["weightBits"] != bits or rel > 0.01:
                fails.append(f"{node.name} {kind}{bits} g{group} a{abits}: error {got['error']:.6g} ({got['weightBits']} bits), "
                             f"numpy {want:.6g}")
    return verdict("sensitivity", fails, f"worst relative difference {worst:.2g}")


def check_optimal(report, budget, latency=None):
    import itertools

    prec = json.loads(Path(report).read_text())["precision"]
    layers = prec["layers"]
    total = sum(l["numWeights"] for l in layers)

    def cost(pick):
        bits = sum(l["candidates"][c]["weightBits"] * l["numWeights"] for l, c in zip(layers, pick)) / total
        ms = sum(l["candidates"][c]["latencyMs"] or 0 for l, c in zip(layers, pick)) if latency else 0
        err = sum(l["candidates"][c]["error"] for l, c in zip(layers, pick))
        return bits, ms, err

    def fits(bits, ms):
        return (not budget or bits <= budget + 1e-12) and (not latency or ms <= latency * (1 + 1e-9))

    best, best_err = None, math.inf
    for pick in itertools.product(*[range(len(l["candidates"])) for l in layers]):
        bits, ms, err = cost(pick)
        if fits(bits, ms) and err < best_err:
            best, best_err = pick, err
    chosen = tuple(l["chosen"] for l in layers)
    bits, ms, got = cost(chosen)
    fails = []
    if not fits(bits, ms):
        fails.append(f"the choice averages {bits:.4f} bits and takes {ms:.6f} ms: over budget")
    if abs(got - best_err) > 1e-12 * best_err:
        fails.append(f"the choice {chosen} sums {got:.6g}; enumeration finds {best} summing {best_err:.6g}")
    if abs(prec["avgWBits"] - bits) > 1e-9:
        fails.append(f"report says {prec['avgWBits']} average bits, the choice has {bits}")
    if latency and abs(prec["latencyMs"] - ms) > 1e-9 * max(ms, 1e-9):
        fails.append(f"report says {prec['latencyMs']} ms, the choice takes {ms}")
    return verdict("optimal", fails, f"choice {chosen}, {bits:.4f} bits")


def binding_latency(report):
    layers = json.loads(Path(report).read_text())["precision"]["layers"]
    cheapest = sum(min(c["latencyMs"] for c in l["candidates"]) for l in layers)
    exact = sum(min(l["candidates"], key=lambda c: c["error"])["latencyMs"] for l in layers)
    print(f"{(cheapest + exact) / 2:.9f}")
    return 0


def main(argv):
    if len(argv) >= 2 and argv[0] == "prepare":
        return prepare(Path(argv[1]))
    if len(argv) == 3 and argv[0] == "rows":
        return check_row_sample(Path(argv[1]), argv[2])
    if len(argv) in (3, 4) and argv[0] == "stats":
        return check_stats(Path(argv[1]), argv[2], argv[3:] == ["--second-moments"])
    if len(argv) in (5, 6) and argv[0] == "sensitivity":
        return check_sensitivity(Path(argv[1]), argv[2], argv[3], int(argv[4]), argv[5] if len(argv) == 6 else None)
    if len(argv) in (3, 4) and argv[0] == "optimal":
        return check_optimal(argv[1], float(argv[2]), float(argv[3]) if len(argv) == 4 else None)
    if len(argv) == 2 and argv[0] == "latency-budget":
        return binding_latency(argv[1])
    if len(argv) == 4 and argv[0] == "check" and argv[2].startswith("config:"):
        return check(Path(argv[1]), argv[2], Path(argv[3]))
    if len(argv) == 4 and argv[0] in ("check", "check-better") and argv[2] in SCHEMES:
        return check(Path(argv[1]), argv[2], Path(argv[3]), argv[0] == "check-better")
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
