"""Runs the compiled qc_ops.mlir on random inputs and checks every output
against a float64 numpy computation of the op's definition.

usage: check_qc_ops.py MODEL.so OUTDIR [--rows N]
"""
import os
import subprocess
import sys

import numpy as np


def hadamard(n):
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(n)


def main():
    so, out = sys.argv[1], sys.argv[2]
    rows = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    rng = np.random.default_rng(rows)
    f = {
        "x": rng.standard_normal((rows, 8)).astype(np.float32),
        "w": rng.standard_normal((4, 8)).astype(np.float32),
        "g": rng.standard_normal(8).astype(np.float32),
        "a": rng.standard_normal((2, 3, 8)).astype(np.float32),
        "b": rng.standard_normal((2, 5, 8)).astype(np.float32),
    }
    os.makedirs(out, exist_ok=True)
    args = [os.environ.get("QUANT_RUN", "quant-run"), so, "-o", out]
    for k, v in f.items():
        np.save(os.path.join(out, "in_" + k + ".npy"), v)
        args += ["-i", f"{k}={os.path.join(out, 'in_' + k + '.npy')}"]
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode:
        print("quant-run failed:", r.stderr.strip())
        return 1
    x, w, g = (f[k].astype(np.float64) for k in "xwg")
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    ref = {
        "linear": x @ w.T,
        "rms": x / np.sqrt((x * x).mean(-1, keepdims=True) + 1e-5) * g,
        "ln": (x - mean) / np.sqrt(var + 1e-5) * g + g,
        "had": x @ hadamard(8),
        "bmm": f["a"].astype(np.float64) @ np.swapaxes(f["b"], 1, 2).astype(np.float64),
    }
    worst = 0.0
    for name, want in ref.items():
        got = np.load(os.path.join(out, name + ".npy"))
        if got.shape != want.shape:
            print(f"{name}: shape {got.shape} != {want.shape}")
            return 1
        err = np.linalg.norm(got - want) / np.linalg.norm(want)
        worst = max(worst, err)
        print(f"{name}: rel_l2 {err:.2e}")
    print("ok" if worst < 1e-5 else f"FAIL {worst:.2e}")
    return 0 if worst < 1e-5 else 1


if __name__ == "__main__":
    sys.exit(main())
