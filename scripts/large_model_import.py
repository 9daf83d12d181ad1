#!/usr/bin/env python3
"""Imports an ONNX model with large external data and measures what the
import reads and holds.

usage: scripts/large_model_import.py [--size-mb MB] [--work-dir DIR] [--keep]
                                     [--check] [--build-dir DIR]

Writes a chain of MatMul layers ([1, 4096] x [4096, 4096] float32 weights,
64 MiB each, the last one cut to reach the size) whose weights all live in
one external data file (weights.bin, with offsets), as models above 2 GiB
must be stored (protobuf's limit for one file). Then runs

    quant-compile MODEL --float --compile-to=import --emit=none

and reads, from the finished process (before it is reaped), /proc/PID/io's
rchar (bytes passed through read calls) and from wait4 its peak resident
memory; then prints the imported IR with --elide-weights once more to
check it. Prints a markdown table: external bytes, bytes read, read/external,
peak RSS, RSS/external, seconds; and checks the imported IR declares every
weight once with its shape.

With --check it exits 1 unless every weight is in the IR, the bytes read are
at most the external bytes + 8 MiB (each byte read once: the model file and
the rest are small) and the peak RSS is at most the external bytes + 256 MiB
(each weight held once). Default size 2300 MB (above 2 GiB, protobuf's limit
for one file); the test suite runs it at 192 MB.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
DIM = 4096
MIB = 1 << 20


def write_model(out, size_bytes):
    import onnx
    from onnx import TensorProto, helper

    per = DIM * DIM * 4
    rows = []  # rows of each weight [rows, DIM]
    left = size_bytes
    while left > 0:
        r = min(DIM, max(1, left // (DIM * 4)))
        rows.append(r)
        left -= r * DIM * 4
    inits, nodes = [], []
    rng = np.random.default_rng(0)
    offset = 0
    x, width = "x", DIM
    with open(out / "weights.bin", "wb") as f:
        for i, r in enumerate(rows):
            # The chain needs [width, DIM]: a cut weight is [r, DIM] fed by
            # a Slice of the activation to r columns.
            w = rng.random((r, DIM), dtype=np.float32)
            w -= 0.5
            w *= 2.0 / np.sqrt(r)
            f.write(w.tobytes())
            t = TensorProto()
            t.name = f"w{i}"
            t.data_type = TensorProto.FLOAT
            t.dims.extend([r, DIM])
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", "weights.bin"), ("offset", str(offset)), ("length", str(r * DIM * 4))):
                e = t.external_data.add()
                e.key, e.value = k, v
            offset += r * DIM * 4
            inits.append(t)
            src = x
            if r != width:
                for nm, val in ((f"s{i}", [0]), (f"e{i}", [r]), (f"a{i}", [1])):
                    inits.append(helper.make_tensor(nm, TensorProto.INT64, [1], val))
                nodes.append(helper.make_node("Slice", [x, f"s{i}", f"e{i}", f"a{i}"], [f"x{i}_cut"]))
                src = f"x{i}_cut"
            nodes.append(helper.make_node("MatMul", [src, f"w{i}"], [f"h{i}"], name=f"fc{i}"))
            nodes.append(helper.make_node("Relu", [f"h{i}"], [f"y{i}"]))
            x = f"y{i}"
    g = helper.make_graph(nodes, "large", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, DIM])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, DIM])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    with open(out / "model.onnx", "wb") as f:
        f.write(m.SerializeToString())
    return rows, offset


def run_measured(cmd):
    """Runs cmd; returns (returncode, stderr, rchar, peak RSS bytes, seconds)."""
    start = time.monotonic()
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    err = p.stderr.read()
    os.waitid(os.P_PID, p.pid, os.WEXITED | os.WNOWAIT)  # finished, not reaped
    io = open(f"/proc/{p.pid}/io").read()
    rchar = int(re.search(r"rchar: (\d+)", io).group(1))
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, err, rchar, usage.ru_maxrss * 1024, time.monotonic() - start


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    ap.add_argument("--size-mb", type=int, default=2300, help="external data size in MB of 10^6 bytes (2300: above 2 GiB)")
    ap.add_argument("--work-dir", help="where the model is written (default: a temporary directory)")
    ap.add_argument("--keep", action="store_true", help="keep the model and the imported IR")
    ap.add_argument("--check", action="store_true", help="exit 1 unless read once and held once")
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    a = ap.parse_args(argv)
    compiler = Path(a.build_dir) / "bin" / "quant-compile"
    if not compiler.exists():
        print(f"large_model_import: no {compiler}; build first", file=sys.stderr)
        return 2
    work = Path(a.work_dir) if a.work_dir else Path(tempfile.mkdtemp(prefix="quant-large-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        rows, ext = write_model(work, a.size_mb * 10**6)
        code, err, rchar, rss, secs = run_measured(
            [str(compiler), str(work / "model.onnx"), "--float", "--compile-to=import", "--emit=none"])
        if code != 0:
            print(f"FAIL: quant-compile exited {code}: {err.strip()}")
            return 1
        # The IR itself, weights elided, for the shape check (not measured:
        # MLIR's printer hex-encodes a blob before it decides to elide it).
        r = subprocess.run([str(compiler), str(work / "model.onnx"), "--float", "--compile-to=import",
                            "--elide-weights", "-o", str(work / "import.mlir")], capture_output=True, text=True)
        if r.returncode != 0:
            print(f"FAIL: quant-compile --elide-weights exited {r.returncode}: {r.stderr.strip()}")
            return 1
        ir = (work / "import.mlir").read_text()
        found = re.findall(r"dense_resource<[^>]*> : tensor<(\d+)x(\d+)xf32>", ir)
        want = sorted((DIM, r) for r in rows)  # qc.linear weights are [N, K]
        got = sorted((int(r), int(c)) for r, c in found)
        print("| external data | bytes read | read / external | peak RSS | RSS / external | import s |")
        print("| ---: | ---: | ---: | ---: | ---: | ---: |")
        print(f"| {ext / MIB:.0f} MiB ({len(rows)} weights) | {rchar / MIB:.0f} MiB | {rchar / ext:.3f} | "
              f"{rss / MIB:.0f} MiB | {rss / ext:.3f} | {secs:.1f} |")
        fails = []
        if got != want:
            fails.append(f"the IR declares weights {got[:3]}..., expected {len(want)} of {want[:3]}...")
        if a.check and rchar > ext + 8 * MIB:
            fails.append(f"read {rchar} bytes for {ext} external bytes: read more than once")
        if a.check and rss > ext + 256 * MIB:
            fails.append(f"peak RSS {rss} bytes for {ext} external bytes: held more than once")
        for f in fails:
            print("FAIL: " + f)
        if not fails:
            print("ok")
        return 1 if fails else 0
    finally:
        if not a.keep and not a.work_dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
