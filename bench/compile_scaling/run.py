#!/usr/bin/env python3
"""Compile time against graph size (issue 22: "compile time linear in the
number of nodes").

    .venv/bin/python bench/compile_scaling/run.py                       # chains of 2,500 .. 20,000 nodes
    .venv/bin/python bench/compile_scaling/run.py --nodes 5000,10000 --kinds chain,ladder

Kinds of graph, all on x: float32 [4, 64]:
  chain   alternating Neg and Tanh, one after the other (one long
          elementwise run: what fusion and the greedy rewriters see)
  ladder  y_i = Tanh(y_{i-1}) + y_{i-2}: every value has two uses, so
          little fuses
Each model is compiled by quant-compile --float --timing; the table gives
the wall time of the compile, its slowest phase, the peak RSS and the time
per 1,000 nodes (flat when compile time is linear in the node count).
"""

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import onnx
from onnx import TensorProto, helper

ROOT = Path(__file__).resolve().parents[2]


def build(kind: str, n: int, path: Path) -> None:
    nodes = []
    if kind == "chain":
        prev = "x"
        for i in range(n):
            nodes.append(helper.make_node("Tanh" if i % 2 else "Neg", [prev], [f"t{i}"]))
            prev = f"t{i}"
    elif kind == "ladder":
        a, b = "x", "x"
        for i in range(n // 2):
            nodes.append(helper.make_node("Tanh", [b], [f"h{i}"]))
            nodes.append(helper.make_node("Add", [f"h{i}", a], [f"t{i}"]))
            a, b = b, f"t{i}"
    else:
        raise SystemExit(f"unknown kind {kind}")
    nodes[-1].output[0] = "y"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 64])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 64])
    m = helper.make_model(helper.make_graph(nodes, kind, [x], [y]),
                          opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(path))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--nodes", default="2500,5000,10000,20000")
    p.add_argument("--kinds", default="chain,ladder")
    p.add_argument("--build-dir", type=Path, default=ROOT / "build")
    a = p.parse_args(argv)
    qc = a.build_dir / "bin" / "quant-compile"
    print("| graph | nodes | compile (s) | per 1,000 nodes (s) | slowest phase | peak RSS (GiB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in a.kinds.split(","):
            for n in (int(v) for v in a.nodes.split(",")):
                model = Path(tmp) / f"{kind}{n}.onnx"
                build(kind, n, model)
                t = time.perf_counter()
                r = subprocess.run([str(qc), str(model), "--float", "--timing", "-o", str(Path(tmp) / "m.so")],
                                   capture_output=True, text=True)
                wall = time.perf_counter() - t
                if r.returncode != 0:
                    print(f"| {kind} | {n} | failed: {r.stderr.strip().splitlines()[-1]} | | | |")
                    continue
                phases = re.findall(r"time: (.+?)\s+([0-9.]+) s .*peak\s+([0-9.]+) GiB", r.stderr)
                slow = max(phases, key=lambda ph: float(ph[1]))
                peak = max(float(ph[2]) for ph in phases)
                print(f"| {kind} | {n} | {wall:.2f} | {wall / n * 1000:.3f} | {slow[0].strip()} ({float(slow[1]):.2f} s) "
                      f"| {peak:.2f} |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
