"""Models for quant-compile-policy.test, written to the directory argv[1].

chain.onnx: x [4, 16] -> 13 MatMul + Relu layers in a chain -> y, and a
second head reading the chain's sixth hidden state -> z. Node names say
nothing of position (the first layer is "head", the last "embed"): the
policy must find the boundary on the graph. Boundary layers: the first,
the last and the side head (3 of 14, under a quarter).

calib/: 4 random inputs of chain.onnx (.npy), for a static scheme.

depthwise.onnx: x [1, 8, 6, 6] -> Conv 3x3, group 8 (depthwise) -> Relu ->
Conv 1x1 8->8 (pointwise) -> y; two layers, both boundary (half of them:
the boundary rule stays off) and the first depthwise.
"""

import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

out = Path(sys.argv[1])
rng = np.random.default_rng(5)


def init(name, shape):
    return numpy_helper.from_array(rng.standard_normal(shape).astype(np.float32) * 0.3, name)


names = ["head"] + [f"mid{i}" for i in range(1, 12)] + ["embed"]
nodes, inits, h = [], [], "x"
for i, n in enumerate(names):
    inits.append(init(f"w{i}", (16, 16)))
    nodes.append(helper.make_node("MatMul", [h, f"w{i}"], [f"m{i}"], name=n))
    out_name = "y" if i == len(names) - 1 else f"h{i}"
    nodes.append(helper.make_node("Relu", [f"m{i}"], [out_name], name=f"relu{i}"))
    h = out_name
inits.append(init("ws", (16, 4)))
nodes.append(helper.make_node("MatMul", ["h5", "ws"], ["z"], name="mid_side"))
g = helper.make_graph(nodes, "chain", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 16]),
                       helper.make_tensor_value_info("z", TensorProto.FLOAT, [4, 4])], inits)
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), out / "chain.onnx")
(out / "calib").mkdir(exist_ok=True)
for i in range(4):
    np.save(out / "calib" / f"x{i}.npy", rng.standard_normal((4, 16)).astype(np.float32))

nodes = [helper.make_node("Conv", ["x", "dw"], ["d"], name="dw", group=8, pads=[1, 1, 1, 1]),
         helper.make_node("Relu", ["d"], ["r"], name="relu"),
         helper.make_node("Conv", ["r", "pw"], ["y"], name="pw")]
g = helper.make_graph(nodes, "depthwise", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 6, 6])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 6, 6])],
                      [init("dw", (8, 1, 3, 3)), init("pw", (8, 8, 1, 1))])
onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), out / "depthwise.onnx")
