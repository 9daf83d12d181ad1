#!/usr/bin/env python3
"""Weight-only quantization at few rows: quant against onnxruntime's 4-bit
MatMulNBits (a benchmark, not a test).

The model is a stack of linear layers of the shape a transformer decoder's
MLP has (default: 2 blocks of MatMul 1024 -> 4096, Relu, MatMul 4096 -> 1024,
each MatMul followed by a bias Add; 64 MiB of FP32 weights, more than the
caches hold), with a dynamic row dimension. At one to a few rows (a decoder
generating one token per sequence) a linear layer streams its whole weight
per call, so reading 4-bit codes instead of FP32 weights is what makes it
fast: the codes must be dequantized in registers, where they are multiplied
(docs/quantization.md, "Execution").

For each variant it compiles (or quantizes) the model once:

  ours fp32    quant-compile --float
  ours w8a16   quant-compile --wbits 8 --abits none (per output channel)
  ours w4a16   quant-compile --wbits 4 --granularity group:128 --abits none
  ours fp8     quant-compile --wformat fp8e4m3 --abits none
  ort fp32     the model in onnxruntime
  ort w4       onnxruntime.quantization's MatMulNBitsQuantizer (4 bits,
               block 128, symmetric): com.microsoft.MatMulNBits nodes

and, for each row count R and thread count T, measures the median latency
(ours: `quant-run MODEL.so -i x=ROWS.npy --bench N --threads T`; onnxruntime:
intra_op_num_threads=T, sequential, warm-up runs, then N timed runs; the
variants alternate over --rounds rounds and the median round counts), and
the output SQNR of each quantized variant against onnxruntime's FP32 output
at R rows. It prints a markdown table: rows | threads | the median ms of
each variant | ours w4a16 / ours fp32 | ours w4a16 / ort w4.

  .venv/bin/python bench/weight_only/run.py [--rows 1,4,16,64] [--threads 1,2]
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent.parent
PROG = "bench/weight_only/run.py"


def _load_fp32_bench():
    """bench/fp32/run.py as a module (ort_median_ms, parse_median_ms,
    machine_line, run, fmt)."""
    spec = importlib.util.spec_from_file_location("bench_fp32_run", REPO_ROOT / "bench" / "fp32" / "run.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


fp32 = _load_fp32_bench()

OURS = {
    "ours fp32": ["--float"],
    "ours w8a16": ["--wbits", "8", "--abits", "none"],
    "ours w4a16": ["--wbits", "4", "--granularity", "group:128", "--abits", "none"],
    "ours fp8": ["--wformat", "fp8e4m3", "--abits", "none"],
}


def build_model(path: Path, width: int, hidden: int, blocks: int, seed: int) -> None:
    """`blocks` x (MatMul width->hidden + bias, Relu, MatMul hidden->width +
    bias), input x [N, width], weights ~ N(0, 1/fan_in)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(seed)
    inits, nodes = [], []
    cur = "x"
    for b in range(blocks):
        for i, (k, n) in enumerate(((width, hidden), (hidden, width))):
            w = (rng.standard_normal((k, n)) / np.sqrt(k)).astype(np.float32)
            bias = (0.1 * rng.standard_normal(n)).astype(np.float32)
            wn, bn = f"w{b}_{i}", f"b{b}_{i}"
            inits += [numpy_helper.from_array(w, wn), numpy_helper.from_array(bias, bn)]
            mm, add = f"mm{b}_{i}", f"add{b}_{i}"
            nodes.append(helper.make_node("MatMul", [cur, wn], [mm], name=mm))
            out = "y" if (b == blocks - 1 and i == 1) else add
            nodes.append(helper.make_node("Add", [mm, bn], [out], name=add))
            cur = out
            if i == 0:
                nodes.append(helper.make_node("Relu", [cur], [f"relu{b}"], name=f"relu{b}"))
                cur = f"relu{b}"
    graph = helper.make_graph(nodes, "decoder_mlp",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", width])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", width])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def ort_w4(src: Path, dst: Path) -> None:
    """onnxruntime's own 4-bit weight-only quantization of `src`."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    q = MatMulNBitsQuantizer(onnx.load(src), block_size=128, is_symmetric=True)
    q.process()
    q.model.save_model_to_file(str(dst), False)


def sqnr_db(ref, test) -> float:
    ref, test = np.asarray(ref, np.float64), np.asarray(test, np.float64)
    noise = float(np.sum((ref - test) ** 2))
    return float("inf") if noise == 0 else 10 * np.log10(float(np.sum(ref ** 2)) / noise)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", default="1,4,16,64", help="comma-separated row counts (default: %(default)s)")
    p.add_argument("--threads", default="1,2", help="comma-separated thread counts (default: %(default)s)")
    p.add_argument("--runs", type=int, default=30, help="timed runs per measurement (default: %(default)s)")
    p.add_argument("--warmup", type=int, default=3, help="untimed onnxruntime runs first (default: %(default)s)")
    p.add_argument("--rounds", type=int, default=3,
                   help="alternating rounds over the variants; the table gives the median of the rounds' "
                        "medians (default: %(default)s)")
    p.add_argument("--width", type=int, default=1024, help="model width (default: %(default)s)")
    p.add_argument("--hidden", type=int, default=4096, help="hidden width of each block (default: %(default)s)")
    p.add_argument("--blocks", type=int, default=2, help="MLP blocks (default: %(default)s)")
    p.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build",
                   help="build directory holding bin/quant-compile and bin/quant-run (default: %(default)s)")
    p.add_argument("--timeout", type=float, default=900, help="seconds per tool call (default: %(default)s)")
    p.add_argument("--work-dir", type=Path, help="keep the models and .so files here (default: a temporary directory)")
    p.add_argument("--out", type=Path, help="also write the table (with the machine line) to this markdown file")
    args = p.parse_args(argv)
    try:
        rows = [int(r) for r in args.rows.split(",") if r.strip()]
        threads = [int(t) for t in args.threads.split(",") if t.strip()]
    except ValueError:
        p.error("--rows and --threads take comma-separated integers")
    if not rows or not threads or min(rows + threads) < 1:
        p.error("--rows and --threads need positive integers")
    if args.rounds < 1 or args.runs < 1:
        p.error("--rounds and --runs need positive integers")
    compiler = args.build_dir.resolve() / "bin" / "quant-compile"
    runner = args.build_dir.resolve() / "bin" / "quant-run"
    for tool in (compiler, runner):
        if not tool.is_file():
            print(f"{PROG}: error: {tool} not found (build it first or pass --build-dir)", file=sys.stderr)
            return 2

    tmp = None
    if args.work_dir:
        work = args.work_dir
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="quant-weight-only-")
        work = Path(tmp.name)
    model = work / "decoder_mlp.onnx"
    build_model(model, args.width, args.hidden, args.blocks, seed=0)
    ortq = work / "decoder_mlp_ort_w4.onnx"
    ort_w4(model, ortq)
    sos = {}
    for name, flags in OURS.items():
        so = work / (name.replace(" ", "_") + ".so")
        r = fp32.run([str(compiler), str(model), *flags, "--quiet", "-o", str(so)], args.timeout)
        if r.returncode != 0:
            print(f"{PROG}: error: quant-compile {' '.join(flags)} failed: {r.stderr.strip()}", file=sys.stderr)
            return 1
        sos[name] = so

    import onnxruntime as ort

    rng = np.random.default_rng(1)
    names = list(OURS) + ["ort fp32", "ort w4"]
    table, acc = [], {}
    for n in rows:
        x = rng.standard_normal((n, args.width)).astype(np.float32)
        xin = work / f"x_{n}.npy"
        np.save(xin, x)
        ref = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        out_dir = work / f"out_{n}"
        for name, so in sos.items():
            r = fp32.run([str(runner), str(so), "-i", f"x={xin}", "-o", str(out_dir)], args.timeout)
            if r.returncode != 0:
                print(f"{PROG}: error: quant-run {so.name} failed: {r.stderr.strip()}", file=sys.stderr)
                return 1
            acc[(name, n)] = sqnr_db(ref, np.load(out_dir / "y.npy"))
        acc[("ort w4", n)] = sqnr_db(
            ref, ort.InferenceSession(str(ortq), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0])
        for t in threads:
            # Rounds alternate the variants, so that a slow spell of this
            # (shared, noisy) machine does not land on one variant only.
            rounds = {k: [] for k in names}
            for _ in range(args.rounds):
                for name, so in sos.items():
                    r = fp32.run([str(runner), str(so), "-i", f"x={xin}", "-o", str(out_dir),
                                  "--bench", str(args.runs), "--threads", str(t)], args.timeout)
                    v = fp32.parse_median_ms(r.stdout + r.stderr) if r.returncode == 0 else None
                    if v is not None:
                        rounds[name].append(v)
                rounds["ort fp32"].append(fp32.ort_median_ms(model, {"x": x}, t, args.runs, args.warmup))
                rounds["ort w4"].append(fp32.ort_median_ms(ortq, {"x": x}, t, args.runs, args.warmup))
            ms = {k: statistics.median(v) if v else None for k, v in rounds.items()}
            table.append((n, t, ms))

    def ratio(a, b):
        return None if a is None or b is None or b == 0 else a / b

    lines = [f"Machine: {fp32.machine_line()}",
             f"Model: {args.blocks} x (MatMul {args.width} -> {args.hidden}, Relu, MatMul {args.hidden} -> "
             f"{args.width}), {4 * 2 * args.blocks * args.width * args.hidden / 2**20:.0f} MiB of FP32 weights; "
             f"median of {args.rounds} alternating rounds of {args.runs}-run medians",
             "",
             "| rows | threads | " + " | ".join(f"{n} ms" for n in names)
             + " | ours w4a16 / ours fp32 | ours w4a16 / ort w4 |",
             "| ---: | ---: | " + " | ".join("---:" for _ in names) + " | ---: | ---: |"]
    for n, t, ms in table:
        lines.append(f"| {n} | {t} | " + " | ".join(fp32.fmt(ms[k]) for k in names)
                     + f" | {fp32.fmt(ratio(ms['ours w4a16'], ms['ours fp32']), 2)}"
                     + f" | {fp32.fmt(ratio(ms['ours w4a16'], ms['ort w4']), 2)} |")
    lines += ["", "Output SQNR against onnxruntime FP32 (dB):", "",
              "| rows | " + " | ".join(k for k in names if k != "ort fp32") + " |",
              "| ---: | " + " | ".join("---:" for k in names if k != "ort fp32") + " |"]
    for n in rows:
        lines.append(f"| {n} | " + " | ".join(fp32.fmt(acc[(k, n)], 2) for k in names if k != "ort fp32") + " |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    if tmp:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
