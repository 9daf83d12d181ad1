"""Compile a .mlir file into a model.so with quant-compile and run it with
quant-run: what the numeric tests written on qc ops share.

    import mlir_model
    outputs = mlir_model.compile_and_run(src_text, out_dir, {"x": x})

lit / flit write the dense literals of the sources.

quant-compile / quant-run come from $QUANT_COMPILE / $QUANT_RUN or the PATH
(lit puts the build's bin first). Raises RuntimeError with the tool's stderr
when either fails.
"""
import os
import subprocess

import numpy as np


def lit(a, fmt="{}"):
    """A nested MLIR dense literal of array `a`, each element formatted by
    `fmt`."""
    a = np.asarray(a)
    if a.ndim == 0:
        return fmt.format(a.item())
    return "[" + ", ".join(lit(x, fmt) for x in a) + "]"


def flit(a):
    """An f32 dense literal of `a` with every digit float32 needs."""
    return lit(np.asarray(a, np.float32), "{:.9e}")


def compile_and_run(src, out, inputs, name="model", flags=()):
    """Writes `src` to OUT/NAME.mlir, compiles OUT/NAME.so (quant-compile
    with `flags` added), runs it on `inputs` (name -> array, saved as .npy)
    and returns {output name: array}."""
    os.makedirs(out, exist_ok=True)
    mlir = os.path.join(out, name + ".mlir")
    with open(mlir, "w") as f:
        f.write(src)
    so = os.path.join(out, name + ".so")
    r = subprocess.run([os.environ.get("QUANT_COMPILE", "quant-compile"), mlir, "--quiet", *flags, "-o", so],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("quant-compile: " + r.stderr.strip())
    args = []
    for k, v in inputs.items():
        path = os.path.join(out, k + ".npy")
        np.save(path, v)
        args += ["-i", f"{k}={path}"]
    res = os.path.join(out, name + "_out")
    r = subprocess.run([os.environ.get("QUANT_RUN", "quant-run"), so, *args, "-o", res],
                       capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError("quant-run: " + r.stderr.strip())
    return {f[:-4]: np.load(os.path.join(res, f)) for f in os.listdir(res) if f.endswith(".npy")}


def report(want, got, tol=1e-6):
    """Prints one line per output of `want` (name -> float64 reference):
    its relative L2 error against `got`, FAIL past `tol` or on a shape
    mismatch, then "ok" or a FAIL summary. Returns the number of failures."""
    failed = 0
    for name, w in want.items():
        g = got[name]
        ok = g.shape == w.shape
        err = np.linalg.norm(g - w) / np.linalg.norm(w) if ok else float("inf")
        ok = ok and err < tol
        failed += not ok
        print(f"{name}: rel_l2 {err:.2e}{'' if ok else ' FAIL'}")
    print("ok" if not failed else f"FAIL: {failed} case(s)")
    return failed
