"""Runs a compiled model.so (through quant-run) and onnxruntime on the same
random inputs and checks the relative L2 error of every output.

usage: check_vs_ort.py MODEL.onnx MODEL.so --shape NAME=d0,d1,... [...]
                       [--tol 1e-5] [--seed 0] [--threads T]
"""
import argparse
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort

TYPES = {1: np.float32, 6: np.int32, 7: np.int64, 9: np.bool_, 11: np.float64}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("onnx_model")
    p.add_argument("so")
    p.add_argument("--shape", action="append", default=[])
    p.add_argument("--tol", type=float, default=1e-5)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, help="quant-run --threads T (default: quant-run's)")
    p.add_argument("--int-range", action="append", default=[],
                   help="NAME=LO,HI: integer input values in [LO, HI) (default 0,8)")
    a = p.parse_args()
    shapes = {}
    for s in a.shape:
        name, dims = s.split("=")
        shapes[name] = [int(d) for d in dims.split(",")]
    ranges = {}
    for s in a.int_range:
        name, lohi = s.split("=")
        lo, hi = lohi.split(",")
        ranges[name] = (int(lo), int(hi))
    model = onnx.load(a.onnx_model)
    init = {t.name for t in model.graph.initializer}
    rng = np.random.default_rng(a.seed)
    feeds = {}
    for vi in model.graph.input:
        if vi.name in init:
            continue
        dtype = TYPES[vi.type.tensor_type.elem_type]
        dims = shapes.get(vi.name) or [d.dim_value for d in vi.type.tensor_type.shape.dim]
        if np.issubdtype(dtype, np.floating):
            feeds[vi.name] = rng.standard_normal(dims).astype(dtype)
        else:
            lo, hi = ranges.get(vi.name, (0, 8))
            feeds[vi.name] = rng.integers(lo, hi, dims).astype(dtype)
    with tempfile.TemporaryDirectory() as tmp:
        args = [os.environ.get("QUANT_RUN", "quant-run"), a.so, "-o", tmp]  # QUANT_RUN: path override
        if a.threads:
            args += ["--threads", str(a.threads)]
        for name, v in feeds.items():
            path = os.path.join(tmp, "in_" + name + ".npy")
            np.save(path, v)
            args += ["-i", f"{name}={path}"]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            print("quant-run failed:", r.stderr.strip())
            return 1
        sess = ort.InferenceSession(a.onnx_model, providers=["CPUExecutionProvider"])
        refs = sess.run(None, feeds)
        worst = 0.0
        for vi, ref in zip(model.graph.output, refs):
            name = "".join(c if c.isalnum() or c in "_.-" else "_" for c in vi.name)
            got = np.load(os.path.join(tmp, name + ".npy"))
            if got.shape != ref.shape:
                print(f"{vi.name}: shape {got.shape} != onnxruntime {ref.shape}")
                return 1
            den = np.linalg.norm(ref.astype(np.float64))
            err = np.linalg.norm((got - ref).astype(np.float64)) / (den if den else 1.0)
            worst = max(worst, err)
            print(f"{vi.name}: shape {list(got.shape)} rel_l2 {err:.3g}")
    print("ok" if worst <= a.tol else f"FAIL: rel_l2 {worst:.3g} > {a.tol}")
    return 0 if worst <= a.tol else 1


if __name__ == "__main__":
    sys.exit(main())
