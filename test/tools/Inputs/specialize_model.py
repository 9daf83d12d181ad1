"""A model with dynamic batch, height and width for --specialize: a valid
3x3 convolution, a Concat, a Reshape whose target comes from the input's
Shape, a Transpose and three MatMuls (one of 512 x 512 float weights, so
that weights dominate the model.so's size).

With OUT2.onnx, also a model of two inputs a and b, both [N, S, 16],
added and multiplied by a [16, 8] weight: their extents form classes, so
a variant that fixes a's extents fixes b's too.

usage: specialize_model.py OUT.onnx [OUT2.onnx]
       specialize_model.py --size SMALLER.so LARGER.so
           prints "extra bytes: B" (LARGER minus SMALLER, in kB steps) and
           whether they stay below the 512 x 512 weight's 1 MiB
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh


def main():
    if sys.argv[1] == "--size":
        extra = os.path.getsize(sys.argv[3]) - os.path.getsize(sys.argv[2])
        print("extra bytes below one copy of the weights:", extra < 512 * 512 * 4)
        return
    rng = np.random.default_rng(11)

    def w(*shape):
        return (rng.standard_normal(shape) / np.sqrt(shape[0])).astype(np.float32)

    def const(name, values):
        return h.make_node("Constant", [], [name], value=nh.from_array(np.array(values, np.int64), name))

    nodes = [
        h.make_node("Conv", ["x", "cw", "cb"], ["c"]),
        h.make_node("Relu", ["c"], ["r"]),
        h.make_node("Concat", ["r", "c"], ["cc"], axis=1),
        h.make_node("Shape", ["x"], ["sh"]),
        const("starts", [0]), const("ends", [1]),
        h.make_node("Slice", ["sh", "starts", "ends"], ["n"]),
        const("rest", [32, -1]),
        h.make_node("Concat", ["n", "rest"], ["target"], axis=0),
        h.make_node("Reshape", ["cc", "target"], ["flat"]),
        h.make_node("Transpose", ["flat"], ["t"], perm=[0, 2, 1]),
        h.make_node("MatMul", ["t", "m1"], ["a"]),
        h.make_node("Relu", ["a"], ["ar"]),
        h.make_node("MatMul", ["ar", "m2"], ["b"]),
        h.make_node("MatMul", ["b", "m3"], ["y"]),
    ]
    inits = {"cw": w(16, 8, 3, 3), "cb": w(16), "m1": w(32, 512), "m2": w(512, 512), "m3": w(512, 64)}
    x = h.make_tensor_value_info("x", T.FLOAT, ["N", 8, "H", "W"])
    y = h.make_tensor_value_info("y", T.FLOAT, None)
    y.type.tensor_type.ClearField("shape")
    g = h.make_graph(nodes, "specialize", [x], [y], [nh.from_array(v, k) for k, v in inits.items()])
    onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8), sys.argv[1])
    if len(sys.argv) > 2:
        a = h.make_tensor_value_info("a", T.FLOAT, ["N", "S", 16])
        b = h.make_tensor_value_info("b", T.FLOAT, ["N", "S", 16])
        y2 = h.make_tensor_value_info("y", T.FLOAT, None)
        y2.type.tensor_type.ClearField("shape")
        g2 = h.make_graph([h.make_node("Add", ["a", "b"], ["s"]), h.make_node("MatMul", ["s", "w"], ["y"])],
                          "classes", [a, b], [y2], [nh.from_array(w(16, 8), "w")])
        onnx.save(h.make_model(g2, opset_imports=[h.make_opsetid("", 17)], ir_version=8), sys.argv[2])


if __name__ == "__main__":
    main()
