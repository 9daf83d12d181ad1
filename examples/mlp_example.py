#!/usr/bin/env python3
"""End-to-end example: a small float MLP through quant, checked against onnxruntime.

Builds an ONNX model with onnx.helper (weights from numpy, fixed seed):

    x float32 [N, 64]                      N is dynamic
    Gemm 64->128 (+bias), Relu
    MatMul 128->64, Add bias, Gelu (opset 20; --act sigmoid uses Sigmoid at opset 17)
    MatMul 64->10, Softmax(axis=-1)        -> y float32 [N, 10]

writes it and a random input (fixed seed) to the output directory, compiles it
with `quant-compile --float`, runs it with `quant-run`, runs onnxruntime on the
same input, and prints the first rows of both, the maximum absolute error, the
relative L2 error and `match: yes` when the relative L2 error is <= 1e-5
(exit 1 otherwise). Then it quantizes the same model with quant's default
scheme (W8A8: INT8 per-channel weights, INT8 static per-tensor activations
calibrated on 16 generated samples), writes the HTML report, runs it and
prints its SQNR and argmax agreement against onnxruntime's float output
(--no-quant skips this part). With --no-compile only the model, the input
and the onnxruntime output are produced.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
REPO_ROOT = HERE.parent
PROG = "mlp_example.py"

IN_FEATURES, HIDDEN1, HIDDEN2, CLASSES = 64, 128, 64, 10
INPUT_NAME, OUTPUT_NAME = "x", "y"


def build_mlp_model(seed: int = 0, act: str = "gelu") -> onnx.ModelProto:
    """The example MLP as an ONNX model (float32 weights drawn from numpy with `seed`)."""
    if act not in ("gelu", "sigmoid"):
        raise ValueError(f"act must be 'gelu' or 'sigmoid', not {act!r}")
    rng = np.random.default_rng(seed)

    def dense(fan_in, shape):
        return (rng.standard_normal(shape) / np.sqrt(fan_in)).astype(np.float32)

    w1 = dense(IN_FEATURES, (HIDDEN1, IN_FEATURES))  # Gemm with transB=1: [out, in]
    b1 = (0.1 * rng.standard_normal(HIDDEN1)).astype(np.float32)
    w2 = dense(HIDDEN1, (HIDDEN1, HIDDEN2))  # MatMul: [in, out]
    b2 = (0.1 * rng.standard_normal(HIDDEN2)).astype(np.float32)
    w3 = dense(HIDDEN2, (HIDDEN2, CLASSES))

    inits = [
        numpy_helper.from_array(w1, "fc1.weight"),
        numpy_helper.from_array(b1, "fc1.bias"),
        numpy_helper.from_array(w2, "fc2.weight"),
        numpy_helper.from_array(b2, "fc2.bias"),
        numpy_helper.from_array(w3, "fc3.weight"),
    ]
    nodes = [
        helper.make_node("Gemm", [INPUT_NAME, "fc1.weight", "fc1.bias"], ["fc1"], name="fc1", transB=1),
        helper.make_node("Relu", ["fc1"], ["relu1"], name="relu1"),
        helper.make_node("MatMul", ["relu1", "fc2.weight"], ["fc2_mm"], name="fc2_matmul"),
        helper.make_node("Add", ["fc2_mm", "fc2.bias"], ["fc2"], name="fc2_bias"),
        helper.make_node("Gelu" if act == "gelu" else "Sigmoid", ["fc2"], ["act2"], name="act2"),
        helper.make_node("MatMul", ["act2", "fc3.weight"], ["logits"], name="fc3"),
        helper.make_node("Softmax", ["logits"], [OUTPUT_NAME], name="softmax", axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["N", IN_FEATURES])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, ["N", CLASSES])],
        initializer=inits,
    )
    opset = 20 if act == "gelu" else 17  # Gelu is an opset-20 op
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="quant-mlp-example")
    model.ir_version = 9  # readable by onnxruntime 1.23 (and older)
    onnx.checker.check_model(model, full_check=True)
    return model


def make_input(batch: int = 4, seed: int = 1) -> np.ndarray:
    """Random input x [batch, 64] float32 with a fixed seed."""
    return np.random.default_rng(seed).standard_normal((batch, IN_FEATURES)).astype(np.float32)


def run_onnxruntime(model_path: Path, x: np.ndarray, threads: int = 1) -> np.ndarray:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    return sess.run([OUTPUT_NAME], {INPUT_NAME: x})[0]


def errors(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(max abs error, relative L2 error) computed in float64."""
    a, b = ours.astype(np.float64), ref.astype(np.float64)
    max_abs = float(np.max(np.abs(a - b))) if a.size else 0.0
    denom = float(np.linalg.norm(b))
    rel_l2 = float(np.linalg.norm(a - b)) / denom if denom else float(np.linalg.norm(a - b))
    return max_abs, rel_l2


def tool_paths(build_dir: Path) -> tuple[Path, Path]:
    paths = []
    for name in ("quant-compile", "quant-run"):
        p = build_dir / "bin" / name
        if not p.is_file():
            print(f"{PROG}: error: {name} not found at {p} (build it first, pass --build-dir, or use --no-compile)",
                  file=sys.stderr)
            sys.exit(2)
        paths.append(p)
    return paths[0], paths[1]


def run_tool(cmd: list[str], what: str) -> None:
    print("$ " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.stdout.strip():
        print(r.stdout.rstrip())
    if r.returncode != 0:
        sys.exit(f"{PROG}: error: {what} failed (exit {r.returncode}): {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else 'no message'}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out-dir", type=Path, default=HERE / "out", help="where the model, input and outputs go (default: %(default)s)")
    p.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build",
                   help="build directory holding bin/quant-compile and bin/quant-run (default: %(default)s)")
    p.add_argument("--batch", type=int, default=4, help="rows of the random input (default: %(default)s)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights (default: %(default)s); the input uses seed+1")
    p.add_argument("--act", choices=("gelu", "sigmoid"), default="gelu", help="activation after the second layer (default: %(default)s)")
    p.add_argument("--rows", type=int, default=2, help="output rows to print (default: %(default)s)")
    p.add_argument("--tolerance", type=float, default=1e-5, help="largest relative L2 error that matches (default: %(default)g)")
    p.add_argument("--no-compile", action="store_true", help="build the model and input and run onnxruntime only")
    p.add_argument("--no-quant", action="store_true", help="skip the quantized (W8A8) compile")
    args = p.parse_args(argv)

    if not args.no_compile:
        compiler, runner = tool_paths(args.build_dir.resolve())
    out = args.out_dir.resolve()
    out.mkdir(parents=True, exist_ok=True)
    model_path, x_path = out / "mlp.onnx", out / "x.npy"
    onnx.save(build_mlp_model(args.seed, args.act), model_path)
    x = make_input(args.batch, args.seed + 1)
    np.save(x_path, x)
    print(f"model: {model_path}\ninput: {x_path} {list(x.shape)} float32")

    np.set_printoptions(precision=6, suppress=True, linewidth=120)
    ref = run_onnxruntime(model_path, x)
    np.save(out / "y_onnxruntime.npy", ref)
    print(f"onnxruntime y[:{args.rows}] =\n{ref[: args.rows]}")
    if args.no_compile:
        print("--no-compile: skipped quant-compile and quant-run")
        return 0

    so_path, res_dir = out / "mlp.so", out / "quant_out"
    run_tool([str(compiler), str(model_path), "--float", "-o", str(so_path)], "quant-compile")
    run_tool([str(runner), str(so_path), "-i", f"{INPUT_NAME}={x_path}", "-o", str(res_dir)], "quant-run")
    y_path = res_dir / f"{OUTPUT_NAME}.npy"
    if not y_path.is_file():
        sys.exit(f"{PROG}: error: quant-run wrote no {y_path}")
    ours = np.load(y_path, allow_pickle=False)
    print(f"quant y[:{args.rows}] =\n{ours[: args.rows]}")
    if ours.shape != ref.shape or ours.dtype != ref.dtype:
        print(f"shape/dtype: quant {list(ours.shape)} {ours.dtype}, onnxruntime {list(ref.shape)} {ref.dtype}")
        print("match: no")
        return 1
    max_abs, rel_l2 = errors(ours, ref)
    print(f"max abs error: {max_abs:.3e}")
    print(f"relative L2 error: {rel_l2:.3e}")
    ok = rel_l2 <= args.tolerance
    print(f"match: {'yes' if ok else 'no'}")
    if ok and not args.no_quant:
        ok = quantized(compiler, runner, model_path, x_path, ref, out)
    return 0 if ok else 1


def quantized(compiler, runner, model_path: Path, x_path: Path, ref: np.ndarray, out: Path) -> bool:
    """W8A8 with static activations: calibrate, compile, run, compare with the float reference."""
    calib = out / "calib"
    calib.mkdir(exist_ok=True)
    for i in range(16):
        np.savez(calib / f"sample_{i:02d}.npz", **{INPUT_NAME: make_input(batch=8, seed=100 + i)})
    so_path, res_dir, report = out / "mlp_w8a8.so", out / "quant_w8a8_out", out / "report.html"
    run_tool([str(compiler), str(model_path), "--calib", str(calib), "--report", str(report), "--quiet",
              "-o", str(so_path)], "quant-compile (W8A8)")
    run_tool([str(runner), str(so_path), "-i", f"{INPUT_NAME}={x_path}", "-o", str(res_dir)], "quant-run (W8A8)")
    q = np.load(res_dir / f"{OUTPUT_NAME}.npy", allow_pickle=False).astype(np.float64)
    r = ref.astype(np.float64)
    noise = ((r - q) ** 2).sum()
    sqnr = float("inf") if noise == 0 else 10 * np.log10((r ** 2).sum() / noise)
    agree = float((q.argmax(-1) == r.argmax(-1)).mean())
    print(f"W8A8 (static, 16 calibration samples): SQNR {sqnr:.1f} dB vs onnxruntime float, "
          f"argmax agreement {agree:.2f}; report: {report}")
    return True


if __name__ == "__main__":
    sys.exit(main())
