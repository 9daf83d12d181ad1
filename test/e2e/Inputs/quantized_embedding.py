"""Quantized embedding tables (Gather of a constant [V, H] table) end to end,
against an independent numpy reference (test/e2e/quantized-embedding.test).

usage: quantized_embedding.py prepare OUT_DIR
         writes OUT_DIR/emb.onnx: two outputs, `rows` = Gather(table, ids)
         (table [53, 40] float32 random normal with a few outlier rows and
         one all-zero row; ids [3, 7] int64 with negative indices) and
         `proj` = MatMul(Gather(table, ids), W [40, 24]) (the embedding
         feeding a layer); OUT_DIR/ids.npy and the float reference outputs.
       quantized_embedding.py check OUT_DIR SCHEME MODEL.so
         runs MODEL.so with quant-run ($QUANT_RUN) and compares `rows` with
         the table fake-quantized in numpy with test/lib/quant_reference.py
         (scales as docs/quantization.md gives them: per row, in groups
         along H, or per tensor; symmetric absmax / qmax, or asymmetric
         (max - min) / (2^b - 1) with an integer zero point) and gathered
         with numpy's own indexing. `rows` must match the reference bit for
         bit (a dequantized code is one float32 product, exact in both);
         the SQNR of both against the float rows is printed, and ours must
         not be below the reference's (minus 0.01 dB). `proj` is checked
         against the float64 product of the reference rows and W
         fake-quantized in the same scheme (the model is compiled
         weight-only, --abits none) to 1e-4 relative L2 error: only the
         order of float sums differs.
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent / "lib"))

import quant_reference as qr  # noqa: E402

V, H, N = 53, 40, 24

# scheme -> (format, bits, granularity, group, asym)
SCHEMES = {
    "w8-row": ("int", 8, "channel", 0, False),
    "w8-tensor": ("int", 8, "tensor", 0, False),
    "w4-g16": ("int", 4, "group", 16, False),
    "w3-row-asym": ("int", 3, "channel", 0, True),
    "w1-row": ("int", 1, "channel", 0, True),  # one bit is always min/max
    "fp8-row": ("fp8e4m3", 8, "channel", 0, False),
    "fp4-g16": ("fp4e2m1", 4, "group", 16, False),
}


def make_model(out):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(7)
    table = rng.standard_normal((V, H)).astype(np.float32)
    table[5] *= 40.0  # outlier rows: per-row scales matter
    table[11, 3] = 300.0
    table[17] = 0.0  # an all-zero row: scale 1
    w = (rng.standard_normal((H, N)) / np.sqrt(H)).astype(np.float32)
    ids = rng.integers(-V, V, size=(3, 7)).astype(np.int64)
    ids[0, 0], ids[0, 1], ids[0, 2], ids[0, 3] = 5, 11, 17, -1
    g = helper.make_graph(
        [
            helper.make_node("Gather", ["table", "ids"], ["rows"], name="embed", axis=0),
            helper.make_node("MatMul", ["rows", "w"], ["proj"], name="proj"),
        ],
        "emb",
        [helper.make_tensor_value_info("ids", TensorProto.INT64, [3, 7])],
        [
            helper.make_tensor_value_info("rows", TensorProto.FLOAT, [3, 7, H]),
            helper.make_tensor_value_info("proj", TensorProto.FLOAT, [3, 7, N]),
        ],
        [numpy_helper.from_array(table, "table"), numpy_helper.from_array(w, "w")],
    )
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(m)
    onnx.save(m, str(out / "emb.onnx"))
    np.save(out / "ids.npy", ids)
    np.save(out / "table.npy", table)
    np.save(out / "w.npy", w)


def fake_quant(mat, kind, bits, gran, group, asym):
    """A [R, C] matrix dequantized (float32) per the scheme, with
    quant_reference: a scale per row, per group of C, or per tensor."""
    t = mat.astype(np.float32)
    V, H = t.shape
    fmt = kind if kind != "int" else (f"uint{bits}" if asym else f"int{bits}")
    if gran == "tensor":
        blocks, axis, grp = t.reshape(1, -1), None, None
    elif gran == "channel":
        blocks, axis, grp = t, 0, None
    else:
        ng = -(-H // group)
        pad = np.full((V, ng * group), np.nan, np.float32)
        pad[:, :H] = t
        blocks, axis, grp = pad.reshape(V * ng, group), 1, group
    b64 = blocks.astype(np.float64)
    lo = np.minimum(np.nanmin(b64, axis=1), 0.0)
    hi = np.maximum(np.nanmax(b64, axis=1), 0.0)
    if kind != "int":
        scale = np.maximum(-lo, hi) / qr.FLOAT_FORMATS[kind].max_finite
        zp = None
    elif asym:
        scale = (hi - lo) / float(2 ** bits - 1)
    else:
        scale = qr.sym_weight_scale(lo, hi, bits)
    scale = scale.astype(np.float32)
    scale[~((np.abs(scale) > 0) & np.isfinite(scale))] = 1.0
    if kind == "int" and asym:
        zp = np.clip(np.rint(-lo / scale.astype(np.float64)), 0, 2 ** bits - 1).astype(np.int64)
    elif kind == "int":
        zp = None
    if gran == "tensor":
        scale, zp = scale[0], (None if zp is None else zp[0])
    elif gran == "group":
        scale = scale.reshape(V, -1)
        zp = None if zp is None else zp.reshape(V, -1)
    q = qr.quantize(t, scale, zp, fmt, axis=axis, group=grp)
    return qr.dequantize(q, scale, zp, fmt, axis=axis, group=grp).astype(np.float32)


def sqnr_db(ref, test):
    ref, test = np.asarray(ref, np.float64), np.asarray(test, np.float64)
    noise = np.sum((ref - test) ** 2)
    return 200.0 if noise == 0 else 10 * np.log10(np.sum(ref ** 2) / noise)


def run_so(so, ids_path):
    runner = os.environ.get("QUANT_RUN", "quant-run")
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([runner, str(so), "-i", f"ids={ids_path}", "-o", tmp],
                           capture_output=True, text=True)
        if r.returncode != 0:
            raise SystemExit(f"FAIL: quant-run: exit {r.returncode}: {r.stderr.strip()}")
        return {n: np.load(Path(tmp) / f"{n}.npy") for n in ("rows", "proj")}


def check(out, scheme, so):
    table, w = np.load(out / "table.npy"), np.load(out / "w.npy")
    ids = np.load(out / "ids.npy")
    got = run_so(so, out / "ids.npy")
    fails = []
    if scheme == "float":
        ref_table = table
    else:
        ref_table = fake_quant(table, *SCHEMES[scheme])
    ref_rows = ref_table[ids]  # numpy indexing: negative ids from the end
    mism = np.sum(got["rows"].view(np.uint32) != ref_rows.astype(np.float32).view(np.uint32))
    if mism:
        fails.append(f"rows: {mism} of {ref_rows.size} values differ from the reference "
                     f"(max abs {np.max(np.abs(got['rows'] - ref_rows)):.3g})")
    float_rows = table[ids]
    ours_db, ref_db = sqnr_db(float_rows, got["rows"]), sqnr_db(float_rows, ref_rows)
    if not ours_db >= ref_db - 0.01:
        fails.append(f"rows SQNR {ours_db:.2f} dB < reference {ref_db:.2f} dB")
    # The MatMul's weight [K, N] in the same scheme: per output channel N,
    # groups along K (weight-only: --abits none).
    wq = w.T if scheme == "float" else fake_quant(w.T, *SCHEMES[scheme])
    ref_proj = ref_rows.astype(np.float64) @ wq.astype(np.float64).T
    rel = np.linalg.norm(got["proj"] - ref_proj) / np.linalg.norm(ref_proj)
    if not rel <= 1e-4:
        fails.append(f"proj: relative L2 error {rel:.3g} > 1e-4")
    print(f"{scheme}: rows SQNR {ours_db:.2f} dB (reference {ref_db:.2f} dB), "
          f"{mism} mismatches; proj rel L2 {rel:.2e}")
    for f in fails:
        print(f"FAIL: {scheme}: {f}")
    if not fails:
        print(f"{scheme}: ok")
    return 1 if fails else 0


def main(argv):
    if len(argv) == 2 and argv[0] == "prepare":
        out = Path(argv[1])
        out.mkdir(parents=True, exist_ok=True)
        make_model(out)
        print("prepared")
        return 0
    if len(argv) == 4 and argv[0] == "check" and (argv[2] in SCHEMES or argv[2] == "float"):
        return check(Path(argv[1]), argv[2], Path(argv[3]))
    print(__doc__.split("\n\n")[1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
