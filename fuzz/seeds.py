#!/usr/bin/env python3
"""Seed inputs for scripts/fuzz.sh: small valid files of every kind the
target reads (numpy .npy of several dtypes and ranks, .npz stored and
deflated, ONNX TensorProto with raw and typed data).

  fuzz/seeds.py TARGET DIR
"""
import io
import sys
import zipfile
from pathlib import Path

import numpy as np
from onnx import numpy_helper


def arrays():
    rng = np.random.default_rng(0)
    yield "f32", rng.standard_normal((3, 4)).astype(np.float32)
    yield "f16", rng.standard_normal(5).astype(np.float16)
    yield "i64", np.arange(6, dtype=np.int64).reshape(2, 3)
    yield "u8", rng.integers(0, 255, (2, 2, 2)).astype(np.uint8)
    yield "b", np.array([True, False])
    yield "scalar", np.array(1.5, np.float64)
    yield "empty", np.zeros((0, 4), np.float32)


def main(target, out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for name, a in arrays():
        if target == "npy":
            np.save(out / f"seed_{name}.npy", a)
        elif target == "tensorproto":
            (out / f"seed_{name}.pb").write_bytes(numpy_helper.from_array(a, name).SerializeToString())
        elif target == "npz":
            for compress in (False, True):
                buf = io.BytesIO()
                (np.savez_compressed if compress else np.savez)(buf, x=a, y=a.reshape(-1))
                (out / f"seed_{name}_{int(compress)}.npz").write_bytes(buf.getvalue())
    if target == "onnx-import":
        # A spread of the ONNX node tests' models (onnx's own test data).
        import onnx
        node = Path(onnx.__file__).parent / "backend" / "test" / "data" / "node"
        models = sorted(node.glob("*/model.onnx"))
        for m in models[:: max(1, len(models) // 300)]:
            (out / f"seed_{m.parent.name}.onnx").write_bytes(m.read_bytes())
    if target == "tensorproto":
        t = numpy_helper.from_array(np.arange(4, dtype=np.float32), "typed")
        t.ClearField("raw_data")
        t.float_data.extend([0, 1, 2, 3])
        (out / "seed_typed.pb").write_bytes(t.SerializeToString())


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
