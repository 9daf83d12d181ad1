#!/usr/bin/env python3
"""ONNX's node tests through quant's QDQ export: each model is compiled with
`quant-compile --float --emit=onnx-qdq`, the exported model is run by
onnxruntime on the test's inputs and compared with the test's expected
outputs (rtol 1e-3, atol 1e-5, NaN equal to NaN).

Per test one outcome:
  matched      the export reproduces the expected outputs
  mismatched   it runs and differs (a translation error)
  crashed      quant-compile died of a signal or timed out
  refused      quant-compile exited with 2 or 3: an op or type it does not
               import or cannot write as ONNX (named in its message)
  ort-gap      onnxruntime cannot load or run the export: a kernel it lacks
               for a type (int8 Max/Min/Where, ...) or a dtype numpy lacks
               (bfloat16)
The last line is `export conformance: N matched, N mismatched, N crashed,
N refused, N ort-gap`; the exit status is 1 when anything mismatched or
crashed.

usage: onnx_export_conformance.py [--build-dir DIR] [--jobs N] [--filter RE]
                                  [--min-matched N] [-v]
"""
import argparse
import concurrent.futures as cf
import glob
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

REPO_ROOT = Path(__file__).resolve().parent.parent


def load_pb(path):
    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def numbered(paths):
    return sorted(paths, key=lambda s: int(re.search(r"_(\d+)\.pb$", s).group(1)))


def check_one(test_dir, compiler, timeout):
    name = os.path.basename(test_dir)
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "q.onnx")
        try:
            r = subprocess.run([compiler, os.path.join(test_dir, "model.onnx"), "--float",
                                "--quiet", "--emit=onnx-qdq", "-o", out],
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return name, "crashed", "timed out"
        if r.returncode in (2, 3):
            return name, "refused", r.stderr.strip().splitlines()[-1][:200] if r.stderr else ""
        if r.returncode != 0:
            return name, "crashed", "exit %d: %s" % (r.returncode, r.stderr[-300:])
        try:
            opts = ort.SessionOptions()
            opts.log_severity_level = 3
            sess = ort.InferenceSession(out, opts)
        except Exception as e:  # noqa: BLE001 - onnxruntime's kernel gaps
            return name, "ort-gap", str(e).splitlines()[0][:200]
        model = onnx.load(os.path.join(test_dir, "model.onnx"))
        inits = {t.name for t in model.graph.initializer}
        names = [i.name for i in model.graph.input if i.name not in inits]
        wanted = {i.name for i in sess.get_inputs()}
        for ds in sorted(glob.glob(os.path.join(test_dir, "test_data_set_*"))):
            ins = numbered(glob.glob(os.path.join(ds, "input_*.pb")))
            outs = numbered(glob.glob(os.path.join(ds, "output_*.pb")))
            try:
                feeds = {n: load_pb(p) for n, p in zip(names, ins) if n in wanted}
                got = sess.run(None, feeds)
            except Exception as e:  # noqa: BLE001
                return name, "ort-gap", str(e).splitlines()[0][:200]
            for p, g in zip(outs, got):
                exp = load_pb(p)
                if g.shape != exp.shape:
                    return name, "mismatched", "%s: shape %s, expected %s" % (ds, g.shape, exp.shape)
                if exp.dtype.kind in "fc":
                    same = np.allclose(g.astype(np.float64), exp.astype(np.float64),
                                       rtol=1e-3, atol=1e-5, equal_nan=True)
                else:
                    same = np.array_equal(g, exp)
                if not same:
                    return name, "mismatched", os.path.basename(ds)
        return name, "matched", ""


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    p.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    p.add_argument("--filter", help="only tests whose name matches this regex")
    p.add_argument("--timeout", type=float, default=120.0)
    p.add_argument("-v", "--verbose", action="store_true", help="one line per test")
    p.add_argument("--min-matched", type=int, default=0,
                   help="exit 1 when fewer tests match (a regression guard)")
    a = p.parse_args()
    node_dir = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    tests = sorted(glob.glob(os.path.join(node_dir, "test_*")))
    if a.filter:
        tests = [t for t in tests if re.search(a.filter, os.path.basename(t))]
    compiler = str(a.build_dir / "bin" / "quant-compile")
    counts = dict.fromkeys(["matched", "mismatched", "crashed", "refused", "ort-gap"], 0)
    with cf.ThreadPoolExecutor(max_workers=a.jobs) as ex:
        for name, outcome, why in ex.map(lambda t: check_one(t, compiler, a.timeout), tests):
            counts[outcome] += 1
            if a.verbose or outcome in ("mismatched", "crashed"):
                print("%s %s %s" % (outcome.upper(), name, why))
    print("export conformance: " + ", ".join("%d %s" % (v, k) for k, v in counts.items()))
    if counts["matched"] < a.min_matched:
        print("FAIL: %d matched, expected at least %d" % (counts["matched"], a.min_matched))
        return 1
    return 1 if counts["mismatched"] or counts["crashed"] else 0


if __name__ == "__main__":
    sys.exit(main())
