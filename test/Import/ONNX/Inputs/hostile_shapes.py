"""Models whose shapes ask for absurd buffers, for hostile-shapes.test.

  hostile_shapes.py OUT_DIR

Writes (x is float32 [2] wherever it appears):
  cos_huge.onnx     ConstantOfShape [1e5, 1e5, 1e5] summed and added to x
                    (a constant buffer of 4e15 bytes)
  cos_big.onnx      the same with [1e9, 4] (16 GB: within what a run may
                    ask for, beyond what the test's address-space limit
                    lets it get)
  expand_big.onnx   Expand(x, [1e6, 1e6, 2]) summed and added to x (8e12 B)
  tile_big.onnx     Tile(x, [1e13]) summed and added to x (8e13 B)
  cos_neg.onnx      ConstantOfShape [-5, 3] (invalid)
  expand_neg.onnx   Expand(x, [-3, 2]) (invalid)
  cos_dyn.onnx      ConstantOfShape(n) with n an int64 [3] input, fill 1.5
  tile_dyn.onnx     Tile(x, r) with r an int64 [1] input
  init_neg.onnx     an initializer declaring dims [-1] (invalid)
  init_huge.onnx    an initializer declaring dims [2^40, 2^40] (invalid)
  chain.onnx        20,000 alternating Neg and Tanh nodes on x
and the inputs x.npy, n_ok.npy ([2, 3, 4]), n_huge.npy ([1e5, 1e5, 1e5]),
n_wrap.npy ([2^32, 2^32, 4]: 2^66 elements, wraps around int64 byte
counts), n_neg.npy ([-1, 5, 4]), r_ok.npy ([3]), r_neg.npy ([-2]),
r_huge.npy ([2^61]).
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(out, name, nodes, inputs, outputs, inits=()):
    g = helper.make_graph(nodes, name, inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    onnx.save(m, str(out / f"{name}.onnx"))


def i64(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def main(out):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])
    anyy = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    one = helper.make_tensor("v", TensorProto.FLOAT, [1], [1.5])
    summed = [helper.make_node("ReduceSum", ["big"], ["s"], keepdims=0),
              helper.make_node("Add", ["x", "s"], ["y"])]
    cos = lambda: helper.make_node("ConstantOfShape", ["shape"], ["big"], name="cos", value=one)  # noqa: E731
    save(out, "cos_huge", [cos()] + summed, [x], [y], [i64("shape", [10**5] * 3)])
    save(out, "cos_big", [cos()] + summed, [x], [y], [i64("shape", [10**9, 4])])
    save(out, "expand_big", [helper.make_node("Expand", ["x", "shape"], ["big"], name="expand")] + summed,
         [x], [y], [i64("shape", [10**6, 10**6, 2])])
    save(out, "tile_big", [helper.make_node("Tile", ["x", "rep"], ["big"], name="tile")] + summed,
         [x], [y], [i64("rep", [10**13])])
    save(out, "cos_neg", [helper.make_node("ConstantOfShape", ["shape"], ["y"], name="cos", value=one)],
         [x], [anyy], [i64("shape", [-5, 3])])
    save(out, "expand_neg", [helper.make_node("Expand", ["x", "shape"], ["y"], name="expand")],
         [x], [anyy], [i64("shape", [-3, 2])])
    save(out, "cos_dyn", [helper.make_node("ConstantOfShape", ["n"], ["y"], name="cos", value=one)],
         [helper.make_tensor_value_info("n", TensorProto.INT64, [3])], [anyy])
    save(out, "tile_dyn", [helper.make_node("Tile", ["x", "r"], ["y"], name="tile")],
         [x, helper.make_tensor_value_info("r", TensorProto.INT64, [1])], [anyy])
    for name, dims in (("init_neg", [-1]), ("init_huge", [2**40, 2**40])):
        w = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims)  # no data: the dims alone are wrong
        save(out, name, [helper.make_node("Add", ["x", "w"], ["y"])], [x], [anyy], [w])
    x4 = helper.make_tensor_value_info("x4", TensorProto.FLOAT, [1, 1, 4, 4])
    save(out, "resize_dyn", [helper.make_node("Resize", ["x4", "", "s"], ["y"], name="rs", mode="nearest")],
         [x4, helper.make_tensor_value_info("s", TensorProto.FLOAT, [4])], [anyy])
    nodes, prev = [], "x"
    for i in range(20000):
        nodes.append(helper.make_node("Tanh" if i % 2 else "Neg", [prev], [f"t{i}"]))
        prev = f"t{i}"
    nodes[-1].output[0] = "y"
    save(out, "chain", nodes, [x], [y])

    rng = np.random.default_rng(11)
    np.save(out / "x.npy", rng.standard_normal(2).astype(np.float32))
    for name, v in (("n_ok", [2, 3, 4]), ("n_huge", [10**5] * 3), ("n_wrap", [2**32, 2**32, 4]),
                    ("n_neg", [-1, 5, 4]), ("r_ok", [3]), ("r_neg", [-2]), ("r_huge", [2**61])):
        np.save(out / f"{name}.npy", np.array(v, np.int64))
    np.save(out / "x4.npy", rng.standard_normal((1, 1, 4, 4)).astype(np.float32))
    for name, v in (("s_ok", [1, 1, 2, 0.5]), ("s_neg", [1, 1, -2, 2]), ("s_nan", [1, 1, np.nan, 2]),
                    ("s_inf", [1, 1, 2, np.inf]), ("s_huge", [1, 1, 1e9, 1e9])):
        np.save(out / f"{name}.npy", np.array(v, np.float32))


if __name__ == "__main__":
    main(sys.argv[1])
