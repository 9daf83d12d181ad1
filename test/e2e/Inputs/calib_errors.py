"""Writes a two-input model and bad calibration directories for
test/e2e/calib-errors.test.

usage: calib_errors.py OUT_DIR

  OUT_DIR/model.onnx   x float32 [N, 16], z float32 [N, 8]:
                       y = MatMul(Relu(MatMul(x, W1) + z), W2)   (layers fc1, fc2)
  OUT_DIR/good/        two good samples (the control)
  OUT_DIR/shape/       x is [4, 15]
  OUT_DIR/rank/        x is [16]
  OUT_DIR/dtype/       x is float64
  OUT_DIR/nan/         x holds a NaN
  OUT_DIR/inf/         z holds an Inf
  OUT_DIR/overflow/    finite inputs whose fc1 output overflows to Inf
  OUT_DIR/empty/       no files
  OUT_DIR/missing/     no array for input z
  OUT_DIR/extra/       a key naming no input
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((16, 8)).astype(np.float32)
    w2 = rng.standard_normal((8, 4)).astype(np.float32)
    g = helper.make_graph(
        [
            helper.make_node("MatMul", ["x", "W1"], ["h"], name="fc1"),
            helper.make_node("Add", ["h", "z"], ["a"], name="add"),
            helper.make_node("Relu", ["a"], ["r"], name="relu"),
            helper.make_node("MatMul", ["r", "W2"], ["y"], name="fc2"),
        ],
        "two_inputs",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 16]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 10
    onnx.checker.check_model(model)
    onnx.save(model, os.path.join(out, "model.onnx"))

    def x(n=4):
        return rng.standard_normal((n, 16)).astype(np.float32)

    def z(n=4):
        return rng.standard_normal((n, 8)).astype(np.float32)

    def write(name, samples):
        d = os.path.join(out, name)
        os.makedirs(d, exist_ok=True)
        for i, s in enumerate(samples):
            np.savez(os.path.join(d, f"s{i}.npz"), **s)

    write("good", [{"x": x(), "z": z()}, {"x": x(), "z": z()}])
    write("shape", [{"x": x(), "z": z()}, {"x": rng.standard_normal((4, 15)).astype(np.float32), "z": z()}])
    write("rank", [{"x": rng.standard_normal(16).astype(np.float32), "z": z()}])
    write("dtype", [{"x": x().astype(np.float64), "z": z()}])
    bad = x()
    bad[2, 5] = np.nan
    write("nan", [{"x": bad, "z": z()}])
    badz = z()
    badz[0, 0] = np.inf
    write("inf", [{"x": x(), "z": badz}])
    write("overflow", [{"x": np.full((4, 16), 3e38, np.float32), "z": z()}])
    write("empty", [])
    write("missing", [{"x": x()}])
    write("extra", [{"x": x(), "z": z(), "t": z()}])
    print("written")


if __name__ == "__main__":
    main()
