"""Compiles qc.quantize / qc.dequantize for every format and granularity to
model.so files and checks them bit for bit against test/lib/quant_reference.py.

Each case is one (format, granularity, float type, shape) and gives a model
three outputs: the codes of quantize(x) widened to i32, dequantize of a
tensor holding every code of the format (a sample for 16-bit formats), and
dequantize(quantize(x)), which exercises the fusion of the two generics.
The inputs hit the edges: every representable value, exact ties k + 1/2 and
midpoints of float codes (times power-of-two scales, so the quotient is the
tie), values just off the ties, saturation and far beyond it, +-inf, NaN,
+-0, subnormals of the format and of the input type.

usage: check_quantize.py SRC_ROOT OUTDIR [--only SUBSTRING] [--jobs N]
"""
import argparse
import concurrent.futures
import json
import os
import subprocess
import sys

import numpy as np

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(sys.argv[1], "test", "lib"))
import quant_reference as ref  # noqa: E402

INT_FORMATS = ["int2", "int3", "int4", "int8", "uint4", "uint8", "int16"]
FLOAT_FORMATS = ["fp8e4m3", "fp8e5m2", "fp6e3m2", "fp6e2m3", "fp4e2m1"]
# name: (axis, group_size)
GRANULARITIES = {"t": (None, None), "c0": (0, None), "c1": (1, None), "g1": (1, 32), "g0": (0, 4)}
MLIR_TYPE = {"float32": "f32", "float16": "f16", "float64": "f64", ref.BF16: "bf16"}
STORAGE = {"fp8e4m3": "f8E4M3FN", "fp8e5m2": "f8E5M2", "fp6e3m2": "f6E3M2FN", "fp6e2m3": "f6E2M3FN", "fp4e2m1": "f4E2M1FN"}


CASES_PER_MODEL = 8


class Case:
    def __init__(self, fmt, gran, dtype="float32", shape=(16, 128), zp=None, dynamic=False, folded=False):
        self.fmt, self.dtype, self.shape, self.dynamic = fmt, dtype, tuple(shape), dynamic
        self.folded = folded
        self.axis, self.group = GRANULARITIES[gran] if isinstance(gran, str) else gran
        kind = ref.parse_format(fmt)
        self.is_float = kind[0] == "float"
        # Mixture formats: dequantize only (weights are quantized at compile
        # time), the "zero point" their per-slot table selectors.
        self.is_mixture = kind[0] == "mixture"
        self.width = kind[1].width if self.is_float else kind[1]
        self.signed = not self.is_float and not self.is_mixture and kind[2]
        # Zero points: always for unsigned formats, for signed ones where asked.
        self.has_zp = self.is_mixture or (not self.is_float and (zp if zp is not None else not self.signed))
        g = gran if isinstance(gran, str) else f"a{self.axis}g{self.group or 0}".replace("-", "m")
        dims = "x".join(map(str, shape))
        self.name = (f"{fmt}_{g}_{MLIR_TYPE[dtype]}_{dims}{'_zp' if self.has_zp else ''}"
                     f"{'_dyn' if dynamic else ''}{'_folded' if folded else ''}")

    @property
    def scale_shape(self):
        if self.axis is None:
            return ()
        a = self.axis % len(self.shape)
        if self.group is None:
            return (self.shape[a],)
        return tuple(-(-d // self.group) if i == a else d for i, d in enumerate(self.shape))

    @property
    def storage(self):
        return STORAGE[self.fmt] if self.is_float else f"i{self.width}"

    def io_dtype(self):
        """numpy dtype of x, scale and float outputs at the model boundary."""
        return np.float32 if self.dtype == ref.BF16 else np.dtype(self.dtype).type


def make_inputs(case, rng):
    """x, scale, zero point (or None) and dequantize codes for a case."""
    shape, n = case.shape, int(np.prod(case.shape))
    # Scales: powers of two (quotients of the targets below are exact) and
    # arbitrary values, side by side.
    ss = case.scale_shape
    pow2 = 2.0 ** rng.integers(-6, 4, size=ss)
    arb = rng.uniform(0.01, 3.0, size=ss)
    scale = np.where(rng.random(ss) < 0.6, pow2, arb)
    scale = ref.to_dtype(scale, case.dtype)
    zp = None
    if case.is_mixture:
        # Scales of both signs; every selector, the first four slots one each.
        scale = np.where(rng.random(ss) < 0.5, -scale, scale)
        zp = rng.integers(0, 4, size=ss)
        zp.flat[: min(4, zp.size)] = np.arange(min(4, zp.size))
    elif case.has_zp:
        lo, hi = ref.int_range(case.width, case.signed)
        zp = rng.integers(lo, hi + 1, size=ss)
        if zp.size > 2:  # the extremes as well
            zp.flat[0], zp.flat[1] = lo, hi
    s = ref.broadcast_params(shape, scale, case.axis, case.group).astype(np.float64)

    if case.is_mixture:
        targets = np.array([1.0])  # x is unused: no qc.quantize
    elif case.is_float:
        f = ref.FLOAT_FORMATS[case.fmt]
        v = f.pos_values
        mids = (v[:-1] + v[1:]) / 2
        targets = np.concatenate([
            v, mids, mids * (1 + 2.0**-20), mids * (1 - 2.0**-20),
            [f.max_finite * 1.0625, f.max_finite * 1.5, f.max_finite * 2, 1e6, 1e30, np.inf,
             f.min_subnormal / 2, f.min_subnormal * 0.75, f.min_subnormal / 4, 1e-30],
        ])
    else:
        lo, hi = ref.int_range(case.width, case.signed)
        zlo = 0 if zp is None else zp.min()
        zhi = 0 if zp is None else zp.max()
        k = np.arange(lo - zhi - 2, hi - zlo + 3, dtype=np.float64)
        if k.size > 600:
            k = np.concatenate([k[:100], k[-100:], rng.choice(k, 400)])
        targets = np.concatenate([
            k, k + 0.5, k - 0.5, k + 0.5 + 2.0**-12, k + 0.5 - 2.0**-12,
            [1e6, 1e30, np.inf, 1e-30, 0.25],
        ])
    targets = np.concatenate([targets, -targets, [0.0, -0.0, np.nan, np.nan]])
    pick = np.concatenate([rng.permutation(targets.size), rng.integers(0, targets.size, max(0, n - targets.size))])[:n]
    with np.errstate(over="ignore", invalid="ignore"):
        x = targets[pick] * s.reshape(-1)
        x = np.where(rng.random(n) < 0.1, rng.standard_normal(n) * s.reshape(-1) * 8, x)
    # Subnormals of the input type and random specials in a few places.
    tiny = np.finfo(np.float32).smallest_subnormal * np.array([1, -3, 1000, -(2**20)])
    x[rng.integers(0, n, 4)] = tiny
    x = ref.to_dtype(x.reshape(shape), case.dtype)

    # Every code (a sample with the extremes for formats of more than 11 bits).
    if case.width <= 11:
        codes = np.arange(1 << case.width)
    else:
        codes = np.concatenate([np.arange(256), np.arange((1 << case.width) - 256, 1 << case.width), rng.integers(0, 1 << case.width, 2048)])
    codes = np.concatenate([rng.permutation(codes), rng.choice(codes, max(0, n - codes.size))])[:n]
    if not case.is_float and case.signed:  # the value the code's bits mean
        codes = np.where(codes >= 1 << (case.width - 1), codes - (1 << case.width), codes)
    return x, scale, zp, codes.reshape(shape).astype(np.int64)


def tensor_type(shape, elt, dynamic=False):
    dims = ["?" if dynamic and i == 0 else str(d) for i, d in enumerate(shape)]
    return f"tensor<{'x'.join(dims + [elt])}>"


class Emitter:
    def __init__(self):
        self.lines, self.n = [], 0

    def fresh(self):
        self.n += 1
        return f"%v{self.n}"

    def emit(self, line):
        self.lines.append("  " + line)

    def elementwise(self, src, shape, src_elt, dst_elt, body, dynamic=False):
        """A linalg.generic applying `body` (a list of ops from %a to %r)."""
        rank = len(shape)
        dims = ", ".join(f"d{i}" for i in range(rank))
        m = f"affine_map<({dims}) -> ({dims})>"
        dyn = ""
        if dynamic:
            c, d = self.fresh(), self.fresh()
            self.emit(f"{c} = arith.constant 0 : index")
            self.emit(f"{d} = tensor.dim {src}, {c} : {tensor_type(shape, src_elt, True)}")
            dyn = d
        e, r = self.fresh(), self.fresh()
        dt = tensor_type(shape, dst_elt, dynamic)
        self.emit(f"{e} = tensor.empty({dyn}) : {dt}")
        iters = ", ".join(['"parallel"'] * rank)
        self.emit(f"{r} = linalg.generic {{indexing_maps = [{m}, {m}], iterator_types = [{iters}]}}"
                  f" ins({src} : {tensor_type(shape, src_elt, dynamic)}) outs({e} : {dt}) {{")
        self.emit(f"^bb0(%a: {src_elt}, %o: {dst_elt}):")
        for op in body:
            self.emit("  " + op)
        self.emit(f"  linalg.yield %r : {dst_elt}")
        self.emit(f"}} -> {dt}")
        return r


def constant(em, value, ttype):
    """An arith.constant holding numpy array `value` bit for bit."""
    v = em.fresh()
    em.emit(f'{v} = arith.constant dense<"0x{np.ascontiguousarray(value).tobytes().hex().upper()}"> : {ttype}')
    return v


def emit_case(em, case, data, args, results):
    """Appends the case's ops to `em`; records its arguments and results.
    Folded cases take x, scale and zero point as constants, so qc.quantize
    folds (lib/Support/QuantMath.cpp) before it could be lowered."""
    n, elt, st = case.name, MLIR_TYPE[case.dtype], case.storage
    io = "f32" if case.dtype == ref.BF16 else elt
    shape, ss, dyn = case.shape, case.scale_shape, case.dynamic
    sdyn = dyn and case.axis is not None and case.axis % len(shape) == 0 and case.group is None
    xt, st_t = tensor_type(shape, io, dyn), tensor_type(ss, io, sdyn)
    if case.folded:
        x = constant(em, np.asarray(data[0], dtype=case.io_dtype()), xt)
        s = constant(em, np.asarray(data[1], dtype=case.io_dtype()), st_t)
    else:
        args += [(f"%{n}_x", xt, n + "_x"), (f"%{n}_s", st_t, n + "_s")]
        x, s = f"%{n}_x", f"%{n}_s"
    if case.dtype == ref.BF16:
        x = em.elementwise(x, shape, "f32", "bf16", ["%r = arith.truncf %a : f32 to bf16"], dyn)
        s = em.elementwise(s, ss, "f32", "bf16", ["%r = arith.truncf %a : f32 to bf16"], sdyn) if ss else _rank0(em, s, "f32", "bf16", "arith.truncf")
    zp = ""
    zpt = ""
    if case.has_zp and case.folded:
        z = em.fresh()
        em.emit(f"{z} = arith.constant dense<{json.dumps(np.asarray(data[2]).tolist())}> : {tensor_type(ss, st)}")
        zp, zpt = f", {z}", f", {tensor_type(ss, st)}"
    elif case.has_zp:
        args.append((f"%{n}_z", tensor_type(ss, "i32", sdyn), n + "_z"))
        trunc = [f"%r = arith.trunci %a : i32 to {st}"]
        z = em.elementwise(f"%{n}_z", ss, "i32", st, trunc, sdyn) if ss else _rank0(em, f"%{n}_z", "i32", st, "arith.trunci")
        zp, zpt = f", {z}", f", {tensor_type(ss, st, sdyn)}"
    attrs = [f"format = #qc.format<{case.fmt}>"]
    if case.axis is not None:
        attrs.append(f"axis = {case.axis} : i64")
    if case.group is not None:
        attrs.append(f"group_size = {case.group} : i64")
    attrs = "{" + ", ".join(attrs) + "}"
    ft, qt, sct = tensor_type(shape, elt, dyn), tensor_type(shape, st, dyn), tensor_type(ss, elt, sdyn)
    iw = f"i{case.width}"
    if case.is_mixture:
        args.append((f"%{n}_c", tensor_type(shape, "i32", dyn), n + "_c"))
        c = em.elementwise(f"%{n}_c", shape, "i32", st, [f"%r = arith.trunci %a : i32 to {iw}"], dyn)
        d = em.fresh()
        em.emit(f"{d} = qc.dequantize {c}, {s}{zp} {attrs} : ({qt}, {sct}{zpt}) -> {ft}")
        results.append((d, ft, n + "_d"))
        return
    q = em.fresh()
    em.emit(f"{q} = qc.quantize {x}, {s}{zp} {attrs} : ({ft}, {sct}{zpt}) -> {qt}")
    widen = ([f"%b = arith.bitcast %a : {st} to {iw}"] if case.is_float else []) + [
        f"%r = arith.{'extsi' if case.signed else 'extui'} {'%b' if case.is_float else '%a'} : {iw} to i32"]
    results.append((em.elementwise(q, shape, st, "i32", widen, dyn), tensor_type(shape, "i32", dyn), n + "_q"))
    args.append((f"%{n}_c", tensor_type(shape, "i32", dyn), n + "_c"))
    narrow = [f"%{'b' if case.is_float else 'r'} = arith.trunci %a : i32 to {iw}"] + (
        [f"%r = arith.bitcast %b : {iw} to {st}"] if case.is_float else [])
    c = em.elementwise(f"%{n}_c", shape, "i32", st, narrow, dyn)
    for src, suffix in ((c, "_d"), (q, "_rt")):
        d = em.fresh()
        em.emit(f"{d} = qc.dequantize {src}, {s}{zp} {attrs} : ({qt}, {sct}{zpt}) -> {ft}")
        results.append((d, ft, n + suffix))


def _rank0(em, src, a, b, op):
    """`op` on a rank-0 tensor, through a linalg.generic of rank 0."""
    e, r = em.fresh(), em.fresh()
    em.emit(f"{e} = tensor.empty() : tensor<{b}>")
    em.emit(f"{r} = linalg.generic {{indexing_maps = [affine_map<() -> ()>, affine_map<() -> ()>], iterator_types = []}}"
            f" ins({src} : tensor<{a}>) outs({e} : tensor<{b}>) {{")
    em.emit(f"^bb0(%a: {a}, %o: {b}):")
    em.emit(f"  %r = {op} %a : {a} to {b}")
    em.emit(f"  linalg.yield %r : {b}")
    em.emit(f"}} -> tensor<{b}>")
    return r


def build_module(cases, data):
    em, args, results = Emitter(), [], []
    for c in cases:
        emit_case(em, c, data[c.name], args, results)
    sig = ", ".join(f"{a}: {t}" for a, t, _ in args)
    res = ", ".join(t for _, t, _ in results)
    names = lambda xs: "[" + ", ".join(f'"{nm}"' for _, _, nm in xs) + "]"
    head = (f"func.func @main({sig}) -> ({res})\n"
            f"    attributes {{qc.input_names = {names(args)}, qc.output_names = {names(results)}}} {{")
    ret = f"  return {', '.join(v for v, _, _ in results)} : {res}"
    return "\n".join([head] + em.lines + [ret, "}"]) + "\n"


def all_cases():
    cases = []
    for f in INT_FORMATS + FLOAT_FORMATS:
        for i, g in enumerate(GRANULARITIES):
            cases.append(Case(f, g, zp=bool(i % 2) if f.startswith("int") else None))
    # Other widths, signed and unsigned.
    for f in ["int1", "uint1", "uint2", "int5", "int6", "int7", "uint7", "int9", "uint12", "int12", "uint16"]:
        cases += [Case(f, "t", zp=True), Case(f, "g1")]
    # Partial last group; rank 3 with axis -1; dynamic leading dimension.
    cases += [Case(f, (1, 24)) for f in ["int4", "uint8", "fp4e2m1", "fp8e4m3"]]
    cases += [Case(f, (-1, 16), shape=(2, 6, 40)) for f in ["int8", "fp6e3m2"]]
    cases += [Case(f, (-2, None), shape=(3, 5, 16), zp=True) for f in ["int4", "fp8e5m2"]]
    cases += [Case(f, g, dynamic=True) for f, g in [("int8", "c0"), ("uint4", "c1"), ("fp8e4m3", "g1"), ("fp4e2m1", "g0")]]
    # Big enough for qc-cpu-parallelize to tile dim 0 in chunks of 3 rows, which
    # do not align with groups of 4 rows.
    cases += [Case(f, g, shape=(36, 512)) for f, g in [("int4", "g0"), ("fp4e2m1", "g0"), ("uint8", "g1"), ("fp8e4m3", "c0")]]
    # f16, bf16 and f64 inputs and scales.
    for dtype, pairs in [
        ("float16", [("int8", "c1"), ("uint16", "t"), ("fp8e4m3", "t"), ("fp8e5m2", "g0"), ("fp4e2m1", "g1")]),
        (ref.BF16, [("int4", "c0"), ("int16", "t"), ("fp8e5m2", "g1"), ("fp6e2m3", "c1")]),
        ("float64", [("int8", "t"), ("uint8", "g1"), ("fp8e4m3", "c1"), ("fp6e3m2", "g0")]),
    ]:
        cases += [Case(f, g, dtype=dtype, zp=True) for f, g in pairs]
    # Constant operands: qc.quantize's folder against the same reference.
    grans = list(GRANULARITIES)
    cases += [Case(f, grans[i % len(grans)], zp=True, folded=True) for i, f in enumerate(INT_FORMATS + FLOAT_FORMATS)]
    cases += [Case(f, "c1", dtype="float16", zp=True, folded=True) for f in ["int8", "fp8e5m2"]]
    # Mixture formats (dequantize only): each granularity, a partial last
    # group, a dynamic leading dimension, f16/bf16/f64 scales, folded codes.
    for f in ["bitmod4", "bitmod3"]:
        cases += [Case(f, g) for g in GRANULARITIES]
        cases += [Case(f, (1, 24)), Case(f, "c1", dynamic=True), Case(f, "g0", shape=(36, 512))]
        cases += [Case(f, "g1", dtype=d) for d in ("float16", ref.BF16, "float64")]
        cases += [Case(f, "c0", folded=True)]
    return cases


def bit_equal(got, want):
    return got.view(f"u{got.itemsize}") == want.view(f"u{want.itemsize}")


def same_bits(got, want):
    """Bitwise equality, any NaN matching any NaN."""
    return bool(np.all(bit_equal(got, want) | (np.isnan(got) & np.isnan(want))))


def check(case, x, scale, zp, codes, out):
    """Error lines for one case (empty when it matches bit for bit)."""
    errs = []
    kw = dict(axis=case.axis, group=case.group, dtype=case.dtype)
    io = case.io_dtype()
    if case.is_mixture:
        want = ref.dequantize(codes, scale, zp, case.fmt, **kw).astype(io)
        got = np.load(os.path.join(out, case.name + "_d.npy"))
        if got.shape != want.shape or not same_bits(got, want):
            bad = np.argwhere(got != want) if got.shape == want.shape else [()]
            errs.append(f"{case.name}: dequantize: {len(bad)} values differ, first at {tuple(bad[0])}")
        return errs
    want_q = ref.quantize(x, scale, zp, case.fmt, **kw)
    got_q = np.load(os.path.join(out, case.name + "_q.npy")).astype(np.int64)
    want_q_out = ref.storage_bits(want_q, case.fmt) if case.is_float else want_q
    if got_q.shape != want_q.shape or not np.array_equal(got_q, want_q_out):
        bad = np.argwhere(got_q != want_q_out)
        i = tuple(bad[0])
        errs.append(f"{case.name}: quantize: {len(bad)} codes differ, first at {i}: x={x[i]!r} "
                    f"scale={ref.broadcast_params(x.shape, scale, case.axis, case.group)[i]!r} got {got_q[i]} want {want_q_out[i]}")
    for suffix, q in (("_d", codes), ("_rt", want_q)):
        want = ref.dequantize(q, scale, zp, case.fmt, **kw).astype(io)
        got = np.load(os.path.join(out, case.name + suffix + ".npy"))
        if got.shape != want.shape or got.dtype != want.dtype:
            errs.append(f"{case.name}: dequantize{suffix}: got {got.dtype}{got.shape}, want {want.dtype}{want.shape}")
        elif not same_bits(got, want):
            bad = np.argwhere(~(bit_equal(got, want) | (np.isnan(got) & np.isnan(want))))
            i = tuple(bad[0])
            errs.append(f"{case.name}: dequantize{suffix}: {len(bad)} values differ, first at {i}: "
                        f"code {q[i]} got {got[i]!r} want {want[i]!r}")
    return errs


def compile_and_run(path, mcases, data):
    """Builds, compiles and runs one model; an error message or None."""
    with open(path + ".mlir", "w") as f:
        f.write(build_module(mcases, data))
    r = subprocess.run(["quant-compile", path + ".mlir", "-o", path + ".so"], capture_output=True, text=True)
    if r.returncode:
        return f"{path}: quant-compile failed:\n{r.stderr.strip()}"
    inputs = {}
    for c in mcases:
        x, scale, zp, codes = data[c.name]
        io = c.io_dtype()
        if not c.folded:
            inputs[c.name + "_x"] = np.asarray(x, dtype=io)
            inputs[c.name + "_s"] = np.asarray(scale, dtype=io)
        if zp is not None and not c.folded:
            inputs[c.name + "_z"] = np.asarray(zp, dtype=np.int32)
        inputs[c.name + "_c"] = codes.astype(np.int32)
    np.savez(path + "_in.npz", **inputs)
    r = subprocess.run(["quant-run", path + ".so", path + "_in.npz", "-o", path + "_out"], capture_output=True, text=True)
    if r.returncode:
        return f"{path}: quant-run failed:\n{r.stderr.strip()}"
    return None


def main():
    p = argparse.ArgumentParser()
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--only", default="", help="run the cases whose name contains this")
    p.add_argument("--jobs", type=int, default=2)
    args = p.parse_args()
    os.makedirs(args.out, exist_ok=True)
    rng = np.random.default_rng(7)
    cases = [c for c in all_cases() if args.only in c.name]
    data = {c.name: make_inputs(c, rng) for c in cases}
    # Small models: LLVM's time grows faster than linearly with the size of
    # a model's one function.
    models = {}
    for i, c in enumerate(cases):
        models.setdefault(os.path.join(args.out, f"m{i // CASES_PER_MODEL}"), []).append(c)
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        runs = {path: pool.submit(compile_and_run, path, mcases, data) for path, mcases in models.items()}
    failures = []
    for path, mcases in models.items():
        err = runs[path].result()
        if err:
            print(err)
            return 1
        for c in mcases:
            errs = check(c, *data[c.name], path + "_out")
            failures += errs
            print(f"{c.name}: {'FAIL' if errs else 'ok'}")
    for e in failures:
        print(e)
    print(f"{len(cases) - len({e.split(':')[0] for e in failures})}/{len(cases)} cases bit-exact")
    print("FAIL" if failures else "ALL OK")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
