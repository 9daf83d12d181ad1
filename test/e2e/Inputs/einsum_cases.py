"""Einsum equations (ellipses, broadcasting, implicit outputs, repeated
subscripts, dynamic dimensions) compiled by quant-compile --float and run by
quant-run, against numpy.einsum in float64 (test/e2e/einsum.test).

usage: einsum_cases.py OUT_DIR
  For each case: builds a one-node ONNX model (opset 12), random normal
  float32 inputs, compiles and runs it ($QUANT_COMPILE, $QUANT_RUN), and
  checks shape and relative L2 error <= 1e-5 against numpy.einsum on the
  float64 inputs. Then the bad equations must fail with exit status 2 and
  a message naming the problem. Prints one line per case and "all ok".
"""

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

# (equation, input shapes, symbolic dims per input or None, run shapes)
CASES = [
    ("...ij,...jk->...ik", [(2, 1, 3, 4), (5, 4, 6)]),
    ("...ii->...i", [(2, 3, 3)]),
    ("i...,i...", [(2, 3, 4), (2, 3, 4)]),
    ("...j,j->...", [(4, 5, 6), (6,)]),
    ("ab...,b->a...", [(3, 4, 2, 5), (4,)]),
    ("bij,bjk", [(3, 2, 4), (3, 4, 5)]),
    ("ij,jk", [(2, 1), (3, 4)]),
    ("ij,kj->ik", [(1, 5), (3, 5)]),
    ("ij->", [(3, 4)]),
    ("Ba,aC->CB", [(3, 4), (4, 5)]),
    ("ii", [(4, 4)]),
    ("bhqd,bhkd->bhqk", [(1, 2, 3, 8), (1, 2, 5, 8)]),
    ("...qd,...kd->...qk", [(2, 3, 4, 8), (1, 3, 5, 8)]),
]
# A dynamic leading dimension, given at run time.
DYNAMIC = ("...ij,jk->...ik", [("N", 3, 4), (4, 2)], [(5, 3, 4), (4, 2)])
BAD = [
    ("ij,jk->ik", [(2, 3), (4, 5)], "subscript dimensions differ"),
    ("...i...,i", [(2, 3, 4), (4,)], "more than one '...'"),
    ("ij->k", [(2, 3)], "is not in any input"),
    ("ijk", [(2, 3)], "does not match input rank"),
    ("...i->i", [(2, 3, 4)], "has no '...'"),
]


def model(eq, shapes, path):
    import onnx
    from onnx import TensorProto, helper

    names = [f"x{i}" for i in range(len(shapes))]
    inputs = [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in zip(names, shapes)]
    out = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    g = helper.make_graph([helper.make_node("Einsum", names, ["y"], equation=eq)], "einsum", inputs, [out])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 12)]), str(path))
    return names


def run_case(out, k, eq, shapes, run_shapes=None):
    compile_ = os.environ.get("QUANT_COMPILE", "quant-compile")
    runner = os.environ.get("QUANT_RUN", "quant-run")
    d = out / f"case{k}"
    d.mkdir(parents=True, exist_ok=True)
    names = model(eq, shapes, d / "m.onnx")
    r = subprocess.run([compile_, str(d / "m.onnx"), "--float", "-o", str(d / "m.so")], capture_output=True, text=True)
    if r.returncode != 0:
        return f"compile failed ({r.returncode}): {r.stderr.strip()}"
    rng = np.random.default_rng(k)
    xs = [rng.standard_normal(s).astype(np.float32) for s in (run_shapes or shapes)]
    args = []
    for n, x in zip(names, xs):
        np.save(d / f"{n}.npy", x)
        args += ["-i", f"{n}={d / (n + '.npy')}"]
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([runner, str(d / "m.so"), *args, "-o", tmp], capture_output=True, text=True)
        if r.returncode != 0:
            return f"run failed ({r.returncode}): {r.stderr.strip()}"
        got = np.load(Path(tmp) / "y.npy")
    ref = np.einsum(eq, *[x.astype(np.float64) for x in xs])
    if got.shape != ref.shape:
        return f"shape {got.shape}, numpy {ref.shape}"
    err = np.linalg.norm(got - ref) / max(np.linalg.norm(ref), 1e-30)
    if not err <= 1e-5:
        return f"relative L2 error {err:.3g}"
    return None


def main(argv):
    if len(argv) != 1:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    out = Path(argv[0])
    fails = 0
    cases = [(eq, s, None) for eq, s in CASES] + [DYNAMIC]
    for k, (eq, shapes, run_shapes) in enumerate(cases):
        why = run_case(out, k, eq, shapes, run_shapes)
        print(f"{'FAIL' if why else 'ok'}: {eq} {shapes}" + (f": {why}" if why else ""))
        fails += bool(why)
    compile_ = os.environ.get("QUANT_COMPILE", "quant-compile")
    for k, (eq, shapes, want) in enumerate(BAD):
        d = out / f"bad{k}"
        d.mkdir(parents=True, exist_ok=True)
        model(eq, shapes, d / "m.onnx")
        r = subprocess.run([compile_, str(d / "m.onnx"), "--float", "-o", str(d / "m.so")], capture_output=True, text=True)
        good = r.returncode == 2 and want in r.stderr and r.stderr.count("\n") == 1
        print(f"{'ok' if good else 'FAIL'}: bad {eq}: exit {r.returncode}: {r.stderr.strip()}")
        fails += not good
    print("all ok" if not fails else f"{fails} failed")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
