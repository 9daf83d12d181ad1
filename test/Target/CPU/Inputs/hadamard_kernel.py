"""The CPU target's fast Walsh-Hadamard transform against qc.hadamard's reference.

usage: hadamard_kernel.py WORK_DIR

For each size (every form of the qc.hadamard family: powers of two below and
above a vector register, one Paley factor of each order, two Paley factors),
the reference matrix H / sqrt(n) is qc.hadamard's constant folder applied to
the identity (quant-opt --canonicalize, computed in double by
lib/Support/Hadamard.cpp); numpy checks that it is symmetric and orthogonal.
The kernel is qc.hadamard compiled by quant-compile, run by quant-run on
random rows (a dynamic row count, and a 3-D input) at 1 and 2 threads, and
compared with x @ (H / sqrt(n)) in float64. Prints "hadamard kernel: ok" or
the first failure.
"""

import subprocess
import sys
from pathlib import Path

import numpy as np

SIZES = [4, 8, 64, 96, 80, 112, 144, 576, 1536]


def reference(work: Path, n: int) -> np.ndarray:
    eye = np.eye(n, dtype=np.float32)
    src = work / f"ref{n}.mlir"
    src.write_text(f"""func.func @main(%x: tensor<1xf32>) -> tensor<{n}x{n}xf32> {{
  %c = arith.constant dense<"0x{eye.tobytes().hex().upper()}"> : tensor<{n}x{n}xf32>
  %h = qc.hadamard %c : tensor<{n}x{n}xf32>
  return %h : tensor<{n}x{n}xf32>
}}
""")
    out = subprocess.run(["quant-opt", "--canonicalize", "--mlir-print-elementsattrs-with-hex-if-larger=1", str(src)], check=True, capture_output=True,
                         text=True).stdout
    hexdata = out.split('dense<"0x', 1)[1].split('"', 1)[0]
    h = np.frombuffer(bytes.fromhex(hexdata), dtype=np.float32).reshape(n, n).astype(np.float64)
    if not np.allclose(h, h.T, atol=0) or not np.allclose(h @ h, np.eye(n), atol=1e-5):
        raise SystemExit(f"n={n}: the reference is not a symmetric orthonormal matrix")
    if not np.allclose(np.abs(h) * np.sqrt(n), 1, atol=1e-5):
        raise SystemExit(f"n={n}: the reference's entries are not +-1/sqrt(n)")
    return h


def kernel(work: Path, n: int, shape: str, name: str) -> Path:
    src = work / f"{name}.mlir"
    src.write_text(f"""func.func @main(%x: tensor<{shape}x{n}xf32>) -> tensor<{shape}x{n}xf32> {{
  %y = qc.hadamard %x : tensor<{shape}x{n}xf32>
  return %y : tensor<{shape}x{n}xf32>
}}
""")
    so = work / f"{name}.so"
    subprocess.run(["quant-compile", str(src), "--float", "--quiet", "-o", str(so)], check=True)
    return so


def run(work: Path, so: Path, x: np.ndarray, threads: int) -> np.ndarray:
    np.save(work / "x.npy", x)
    out = work / "out"
    subprocess.run(["quant-run", str(so), "-i", f"input_0={work / 'x.npy'}", "-o", str(out),
                    "--threads", str(threads)], check=True, capture_output=True)
    return np.load(out / "output_0.npy")


def main():
    work = Path(sys.argv[1])
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    for n in SIZES:
        h = reference(work, n)
        for shape, rows in (("?", (37,)), ("3x5", (3, 5))):
            so = kernel(work, n, shape, f"k{n}_{len(rows)}")
            x = rng.standard_normal(rows + (n,)).astype(np.float32) * rng.uniform(0.1, 10, rows + (1,))
            want = x.astype(np.float64) @ h
            for threads in (1, 2):
                got = run(work, so, x.astype(np.float32), threads)
                err = np.linalg.norm(got - want) / np.linalg.norm(want)
                if not err < 1e-6:
                    raise SystemExit(f"n={n} shape={rows} threads={threads}: rel_l2 {err:.3g}")
    print("hadamard kernel: ok")


if __name__ == "__main__":
    main()
