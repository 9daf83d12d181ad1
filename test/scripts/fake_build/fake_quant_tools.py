#!/usr/bin/env python3
"""onnxruntime-backed stand-ins for `quant-compile` and `quant-run`.

They follow the command-line contract of the real tools so that the Python
tooling (scripts/onnx_conformance.py, examples/mlp_example.py,
bench/fp32/run.py) can be exercised before the C++ tools exist: point any of
those scripts at `--build-dir test/scripts/fake_build`. The ".so" written by
the fake compiler is just a copy of the ONNX model; the fake runner executes it
with onnxruntime. Not a test of quant itself.

  quant-compile MODEL.onnx --float -o OUT.so [--input-shape NAME=d0,d1,...]
      exit 0 ok; 3 unsupported op/dtype (onnxruntime has no kernel); 2 other errors
  quant-run OUT.so [INPUT ...] [-i NAME=PATH ...] [-o OUTDIR] [--compare-dir DIR]
                   [--rtol R] [--atol A] [--bench N] [--threads T]
      INPUT/PATH: .npy, a single .npz (keys = input names), or an ONNX TensorProto .pb
      writes OUTDIR/<sanitized output name>.npy; --compare-dir exits 1 on mismatch;
      --bench N prints "median X ms"
"""

import argparse
import os
import re
import shutil
import statistics
import sys
import time


def die(tool, code, msg):
    print(f"{tool}: error: {msg}", file=sys.stderr)
    sys.exit(code)


def sanitize(name, index):
    return re.sub(r"[^A-Za-z0-9._-]", "_", name) or "_"


def load_pb(path):
    import onnx
    from onnx import numpy_helper

    t = onnx.TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def load_tensor(path):
    import numpy as np

    if path.endswith(".pb"):
        return load_pb(path)
    return np.load(path, allow_pickle=False)


def compile_main(argv):
    tool = "quant-compile"
    p = argparse.ArgumentParser(prog=tool)
    p.add_argument("model")
    p.add_argument("--float", action="store_true")
    p.add_argument("-o", dest="out", required=True)
    p.add_argument("--input-shape", action="append", default=[])
    try:
        # Quantization options are accepted and ignored: the fake compiles
        # the float model whatever the scheme.
        a, _ = p.parse_known_args(argv)
    except SystemExit:
        sys.exit(2)
    if not os.path.isfile(a.model):
        die(tool, 2, f"cannot read '{a.model}'")
    import onnx
    import onnxruntime as ort

    try:
        onnx.load(a.model, load_external_data=False)
    except Exception as e:
        die(tool, 2, f"malformed model: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    so = ort.SessionOptions()
    so.log_severity_level = 3
    try:
        ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        msg = " ".join(str(e).split())[:300]
        if "NOT_IMPLEMENTED" in msg or "Could not find an implementation" in msg or "not supported" in msg.lower():
            die(tool, 3, f"unsupported: {msg}")
        die(tool, 2, msg)
    shutil.copyfile(a.model, a.out)
    return 0


def run_main(argv):
    tool = "quant-run"
    p = argparse.ArgumentParser(prog=tool)
    p.add_argument("model")
    p.add_argument("inputs", nargs="*")
    p.add_argument("-i", dest="named", action="append", default=[])
    p.add_argument("-o", dest="outdir")
    p.add_argument("--compare-dir")
    p.add_argument("--rtol", type=float, default=1e-3)
    p.add_argument("--atol", type=float, default=1e-7)
    p.add_argument("--bench", type=int, default=0)
    p.add_argument("--threads", type=int, default=0)
    try:
        a = p.parse_args(argv)
    except SystemExit:
        sys.exit(2)
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if a.threads:
        so.intra_op_num_threads = a.threads
        so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    try:
        sess = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    except Exception as e:
        die(tool, 2, f"cannot open '{a.model}': {' '.join(str(e).split())[:200]}")
    in_names = [i.name for i in sess.get_inputs()]
    feeds = {}
    try:
        if len(a.inputs) == 1 and a.inputs[0].endswith(".npz"):
            with np.load(a.inputs[0], allow_pickle=False) as z:
                feeds.update({k: z[k] for k in z.files})
        else:
            if len(a.inputs) > len(in_names):
                die(tool, 2, f"{len(a.inputs)} positional inputs for {len(in_names)} model inputs")
            for name, path in zip(in_names, a.inputs):
                feeds[name] = load_tensor(path)
        for spec in a.named:
            name, sep, path = spec.partition("=")
            if not sep:
                die(tool, 2, f"-i expects NAME=PATH, got '{spec}'")
            if name not in in_names:
                die(tool, 2, f"model has no input '{name}'")
            feeds[name] = load_tensor(path)
    except SystemExit:
        raise
    except Exception as e:
        die(tool, 2, f"cannot read an input: {e}")
    missing = [n for n in in_names if n not in feeds]
    if missing:
        die(tool, 2, f"missing input '{missing[0]}'")
    try:
        outs = sess.run(None, feeds)
    except Exception as e:
        die(tool, 2, " ".join(str(e).split())[:300])
    out_names = [o.name for o in sess.get_outputs()]
    if a.outdir:
        os.makedirs(a.outdir, exist_ok=True)
        for k, (n, v) in enumerate(zip(out_names, outs)):
            np.save(os.path.join(a.outdir, sanitize(n, k) + ".npy"), np.asarray(v))
    status = 0
    if a.compare_dir:
        for k, (n, v) in enumerate(zip(out_names, outs)):
            npy = os.path.join(a.compare_dir, sanitize(n, k) + ".npy")
            pb = os.path.join(a.compare_dir, f"output_{k}.pb")
            if os.path.isfile(npy):
                ref = np.load(npy, allow_pickle=False)
            elif os.path.isfile(pb):
                ref = load_pb(pb)
            else:
                die(tool, 2, f"no reference for output '{n}' in {a.compare_dir}")
            v = np.asarray(v)
            ok = v.shape == ref.shape and v.dtype == ref.dtype and (
                np.allclose(v, ref, rtol=a.rtol, atol=a.atol, equal_nan=True)
                if ref.dtype.kind in "fc" else np.array_equal(v, ref))
            print(f"{n}: {'match' if ok else 'MISMATCH'}")
            status = status or (0 if ok else 1)
    if a.bench:
        for _ in range(min(5, a.bench)):
            sess.run(None, feeds)
        times = []
        for _ in range(a.bench):
            t0 = time.perf_counter()
            sess.run(None, feeds)
            times.append((time.perf_counter() - t0) * 1e3)
        print(f"bench: median latency {statistics.median(times):.4f} ms over {a.bench} runs "
              f"(min {min(times):.4f} ms, {a.threads or 'default'} threads)")
    return status


if __name__ == "__main__":
    which = sys.argv[1] if len(sys.argv) > 1 else ""
    if which == "quant-compile":
        sys.exit(compile_main(sys.argv[2:]))
    if which == "quant-run":
        sys.exit(run_main(sys.argv[2:]))
    print(__doc__)
    sys.exit(2)
