"""Reference quantize/dequantize for quant's qc dialect, in numpy alone.

Written from the rules in docs/quantization.md, sharing nothing with the
C++ (lib/Support/QuantMath.cpp, the linalg lowering): float formats are
tables of every code's value decoded from its bit fields, and rounding picks
the nearest table entry, ties to the even code. Tests import this module
(sys.path.insert(0, "<src>/test/lib")).

Conventions: codes are int64 arrays holding the format's value (integer
formats) or its bit pattern, `width` bits with the sign bit on top (float
formats). `dtype` is the float type the op computes in: x, scale and the
dequantized result all have it ("bfloat16" is emulated in float32 arrays
whose values are bfloat16 numbers).
"""

import numpy as np

BF16 = "bfloat16"


class FloatFormat:
    """A sign/exponent/mantissa format; `special` says which codes are not
    finite: "ieee" (all-ones exponent: inf or NaN), "ones" (only the
    all-ones magnitude is NaN) or None (every code is a finite number)."""

    def __init__(self, name, ebits, mbits, bias, special):
        self.name, self.ebits, self.mbits, self.bias = name, ebits, mbits, bias
        self.special = special
        self.width = 1 + ebits + mbits
        self.values = np.array([self.decode(c) for c in range(1 << self.width)])
        # Non-negative finite codes in increasing code (= value) order.
        half = 1 << (self.width - 1)
        self.pos_codes = np.array([c for c in range(half) if np.isfinite(self.values[c])])
        self.pos_values = self.values[self.pos_codes]
        assert np.all(np.diff(self.pos_values) > 0)
        self.max_finite = self.pos_values[-1]
        if special == "ieee":  # quiet NaN: exponent all ones, mantissa MSB
            self.nan_code = (((1 << ebits) - 1) << mbits) | (1 << (mbits - 1))
        elif special == "ones":
            self.nan_code = half - 1
        else:
            self.nan_code = None

    def decode(self, code):
        sign = -1.0 if code >> (self.width - 1) else 1.0
        e = (code >> self.mbits) & ((1 << self.ebits) - 1)
        m = code & ((1 << self.mbits) - 1)
        if self.special == "ieee" and e == (1 << self.ebits) - 1:
            return sign * np.inf if m == 0 else np.nan
        if self.special == "ones" and (code & ((1 << (self.width - 1)) - 1)) == (1 << (self.width - 1)) - 1:
            return np.nan
        if e == 0:  # subnormal: 0.m * 2^(1 - bias)
            return sign * m * 2.0 ** (1 - self.bias - self.mbits)
        return sign * ((1 << self.mbits) + m) * 2.0 ** (e - self.bias - self.mbits)

    @property
    def min_normal(self):
        return 2.0 ** (1 - self.bias)

    @property
    def min_subnormal(self):
        return 2.0 ** (1 - self.bias - self.mbits)


FLOAT_FORMATS = {
    f.name: f
    for f in [
        FloatFormat("fp8e4m3", 4, 3, 7, "ones"),
        FloatFormat("fp8e5m2", 5, 2, 15, "ieee"),
        FloatFormat("fp6e3m2", 3, 2, 3, None),
        FloatFormat("fp6e2m3", 2, 3, 1, None),
        FloatFormat("fp4e2m1", 2, 1, 1, None),
    ]
}


# Mixture formats (bitmod3, bitmod4), from the table in docs/quantization.md:
# per bit width, table 0 is two's complement and tables 1..3 a sign and a
# magnitude whose negative-zero code is the special value.
MIXTURE_MAGNITUDES = {4: [0, 0.5, 1, 1.5, 2, 3, 4, 6], 3: [0, 1, 2, 4]}
MIXTURE_SPECIALS = {4: [2.5, 5, 8], 3: [3, 6, 8]}


def mixture_table(bits, table):
    """The 2^bits values (indexed by code) of one table of bitmod<bits>."""
    half = 1 << (bits - 1)
    if table == 0:
        return np.array([c if c < half else c - 2 * half for c in range(2 * half)], dtype=np.float64)
    mags = MIXTURE_MAGNITUDES[bits]
    vals = mags + [-m for m in mags]
    vals[half] = MIXTURE_SPECIALS[bits][table - 1]
    return np.array(vals, dtype=np.float64)


def parse_format(name):
    """("float", FloatFormat), ("int", bits, signed) or ("mixture", bits)
    for a #qc.format name."""
    if name in FLOAT_FORMATS:
        return ("float", FLOAT_FORMATS[name])
    if name.startswith("bitmod"):
        return ("mixture", int(name[6:]))
    signed = not name.startswith("uint")
    bits = int(name[4:] if not signed else name[3:])
    return ("int", bits, signed)


def int_range(bits, signed):
    return (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)


FULL_RANGE_MAX_BITS = 4


def sym_weight_scale(lo, hi, bits):
    """Symmetric integer weight scales (float64, before rounding to float32)
    from each slot's extremes `lo` <= 0 <= `hi`: at most FULL_RANGE_MAX_BITS
    bits, the extreme value (the negative one on a tie) / -2^(bits-1), so it
    lands on the lowest code and the scale is negative for a positive
    extreme; wider, max(-lo, hi) / (2^(bits-1) - 1)."""
    lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
    if bits <= FULL_RANGE_MAX_BITS:
        return np.where(-lo >= hi, lo, hi) / float(-(1 << (bits - 1)))
    return np.maximum(-lo, hi) / float((1 << (bits - 1)) - 1)


def round_bf16(a):
    """float32 values rounded to the nearest bfloat16, ties to even."""
    a = np.asarray(a, dtype=np.float32)
    u = a.view(np.uint32).astype(np.uint64)
    r = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)
    return np.where(np.isnan(a), a, r)


def _np_dtype(dtype):
    return np.float32 if dtype == BF16 else np.dtype(dtype).type


def to_dtype(a, dtype):
    """Rounds (float64 or integer) values to `dtype`, nearest-even."""
    with np.errstate(over="ignore"):  # overflow to inf is the result
        if dtype == BF16:
            # int64/float64 -> float32 is exact for every value passed here
            # (at most 18 significant bits), so this is a single rounding.
            return round_bf16(np.asarray(a, dtype=np.float32))
        return np.asarray(a).astype(dtype)


def divide(x, s, dtype):
    """x / s correctly rounded in `dtype`. numpy divides float16 in float32
    and rounds; both float16 and bfloat16 quotients are exact after that
    double rounding (24 >= 2p + 2)."""
    t = _np_dtype(dtype)
    with np.errstate(all="ignore"):  # inf and NaN quotients are results
        q = np.asarray(x, dtype=t) / np.asarray(s, dtype=t)
    return round_bf16(q) if dtype == BF16 else q


def multiply(a, s, dtype):
    t = _np_dtype(dtype)
    with np.errstate(all="ignore"):
        p = np.asarray(a, dtype=t) * np.asarray(s, dtype=t)
    return round_bf16(p) if dtype == BF16 else p


def broadcast_params(shape, scale, axis=None, group=None):
    """The scale (or zero point) of every element of a `shape` tensor."""
    scale = np.asarray(scale)
    if axis is None:
        return np.broadcast_to(scale, shape)
    axis = axis % len(shape)
    if group is None:
        s = scale.reshape([-1 if i == axis else 1 for i in range(len(shape))])
        return np.broadcast_to(s, shape)
    return np.repeat(scale, group, axis=axis).take(np.arange(shape[axis]), axis=axis)


def round_to_float_format(v, fmt):
    """Codes of float64 values `v` in `fmt`: saturate to +-max finite, round
    to the nearest representable value, ties to the even code; NaN -> the
    format's NaN, or +0 where it has none. The sign survives underflow."""
    v = np.asarray(v, dtype=np.float64)
    a = np.minimum(np.abs(v), fmt.max_finite)
    vals = fmt.pos_values
    lo = np.clip(np.searchsorted(vals, a, side="right") - 1, 0, len(vals) - 1)
    hi = np.minimum(lo + 1, len(vals) - 1)
    mid = (vals[lo] + vals[hi]) / 2  # exact: few significant bits
    lo_code, hi_code = fmt.pos_codes[lo], fmt.pos_codes[hi]
    pick_hi = (a > mid) | ((a == mid) & (hi_code % 2 == 0))
    code = np.where(pick_hi, hi_code, lo_code)
    code = code | np.where(np.signbit(v), 1 << (fmt.width - 1), 0)
    nan = fmt.nan_code if fmt.nan_code is not None else 0
    return np.where(np.isnan(a), nan, code).astype(np.int64)


def quantize(x, scale, zero_point, fmt_name, axis=None, group=None, dtype="float32"):
    """qc.quantize: codes of `x` (int64 array)."""
    kind = parse_format(fmt_name)
    x = np.asarray(x)
    s = broadcast_params(x.shape, scale, axis, group)
    v = divide(x, s, dtype).astype(np.float64)
    if kind[0] == "float":
        return round_to_float_format(v, kind[1])
    bits, signed = kind[1], kind[2]
    lo, hi = int_range(bits, signed)
    z = np.zeros(x.shape, np.int64) if zero_point is None else broadcast_params(x.shape, zero_point, axis, group)
    with np.errstate(invalid="ignore"):
        q = np.clip(np.rint(v) + z, lo, hi)  # np.rint: half to even
    return np.where(np.isnan(v), z, q).astype(np.int64)


def dequantize(q, scale, zero_point, fmt_name, axis=None, group=None, dtype="float32"):
    """qc.dequantize of codes `q`: values in `dtype` (float32 arrays for
    bfloat16)."""
    kind = parse_format(fmt_name)
    q = np.asarray(q, dtype=np.int64)
    s = broadcast_params(q.shape, scale, axis, group)
    if kind[0] == "float":
        fmt = kind[1]
        values = fmt.values[q & ((1 << fmt.width) - 1)]
        return multiply(to_dtype(values, dtype), s, dtype)
    if kind[0] == "mixture":  # zero_point: the per-slot table selectors
        bits = kind[1]
        sel = broadcast_params(q.shape, zero_point, axis, group).astype(np.int64)
        tables = np.stack([mixture_table(bits, t) for t in range(4)])
        values = tables[sel, q & ((1 << bits) - 1)]
        return multiply(to_dtype(values, dtype), s, dtype)
    z = 0 if zero_point is None else broadcast_params(q.shape, zero_point, axis, group)
    return multiply(to_dtype(q - z, dtype), s, dtype)


def storage_bits(code, fmt_name):
    """A code as the unsigned bits of its storage type (what a bitcast of the
    storage value to iB followed by a zero-extension reads)."""
    kind = parse_format(fmt_name)
    width = kind[1].width if kind[0] == "float" else kind[1]
    return np.asarray(code, dtype=np.int64) & ((1 << width) - 1)


def gptq_codes(w, h, scales, bits):
    """GPTQ (Frantar et al. 2022, Algorithm 1) in float64 on a symmetric
    integer grid fixed beforehand (static groups): `w` [N, K], `h` [K, K]
    (any positive multiple of E[x x^T]), `scales` [N, K] float32, one per
    element. Columns in order of decreasing H_jj (act-order, a stable sort),
    1% of H's mean diagonal added to it, one column at a time along the
    upper Cholesky factor of H^-1 (no lazy blocks: the same result up to
    float rounding). Returns the integer codes [N, K]."""
    lo, hi = int_range(bits, True)
    n, k = w.shape
    w = w.astype(np.float64).copy()
    h = np.asarray(h, np.float64).copy()
    sc = np.asarray(scales, np.float32)
    perm = np.argsort(-np.diag(h), kind="stable")
    w, h, sc = w[:, perm], h[perm][:, perm], sc[:, perm]
    h += 0.01 * np.mean(np.diag(h)) * np.eye(k)
    u = np.linalg.cholesky(np.linalg.inv(h)).T  # upper: H^-1 = u^T u
    q = np.zeros((n, k), np.int64)
    for i in range(k):
        q[:, i] = np.clip(np.rint(np.float32(w[:, i]) / sc[:, i]), lo, hi)
        deq = (q[:, i].astype(np.float32) * sc[:, i]).astype(np.float64)
        err = (w[:, i] - deq) / u[i, i]
        w[:, i + 1:] -= np.outer(err, u[i, i + 1:])
    out = np.empty_like(q)
    out[:, perm] = q
    return out
