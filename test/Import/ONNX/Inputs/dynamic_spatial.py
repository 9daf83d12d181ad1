"""Small ONNX models whose batch, height and width are dynamic ('N', 'H',
'W'): convolutions (padded, strided, grouped, depthwise, SAME), transposed
convolutions, pools (ceil_mode, padded average), a nearest Resize by whole
factors, and a Reshape whose target is computed from the input's Shape.

usage: dynamic_spatial.py OUT_DIR          writes NAME.onnx for each model
       dynamic_spatial.py --check OUT_DIR  compiles each (quant-compile
           --float, no --input-shape) and compares it with onnxruntime at
           two sizes and batches (check_vs_ort.py); prints "NAME ok" or
           "NAME FAIL ..." per model
"""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto as T
from onnx import helper as h
from onnx import numpy_helper as nh

rng = np.random.default_rng(7)


def w(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def save(out, name, nodes, inits, cin=4, dims=("N", None, "H", "W")):
    shape = [d if d is not None else cin for d in dims]
    x = h.make_tensor_value_info("x", T.FLOAT, shape)
    y = h.make_tensor_value_info("y", T.FLOAT, None)
    y.type.tensor_type.ClearField("shape")
    g = h.make_graph(nodes, name, [x], [y], [nh.from_array(v, k) for k, v in inits.items()])
    m = h.make_model(g, opset_imports=[h.make_opsetid("", 17)], ir_version=8)
    onnx.save(m, str(out / f"{name}.onnx"))


def const(name, values, dtype=np.int64):
    return h.make_node("Constant", [], [name], value=nh.from_array(np.array(values, dtype), name))


SIZES = ["1,4,9,13", "3,4,16,8"]


def check(out):
    here = Path(__file__).resolve().parent
    compare = here.parent.parent.parent / "e2e" / "Inputs" / "check_vs_ort.py"
    for model in sorted(out.glob("*.onnx")):
        so = model.with_suffix(".so")
        subprocess.run([os.environ.get("QUANT_COMPILE", "quant-compile"), str(model), "--float", "-o", str(so)],
                       check=True)
        bad = []
        for size in SIZES:
            r = subprocess.run([sys.executable, str(compare), str(model), str(so), "--shape", "x=" + size,
                                "--tol", "1e-5"], capture_output=True, text=True)
            if r.returncode != 0 or not r.stdout.strip().endswith("ok"):
                bad.append(size + ": " + (r.stdout + r.stderr).strip().splitlines()[-1])
        print(model.stem, "ok" if not bad else "FAIL " + "; ".join(bad))


def main():
    if sys.argv[1] == "--check":
        return check(Path(sys.argv[2]))
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    save(out, "conv", [h.make_node("Conv", ["x", "w", "b"], ["y"], pads=[1, 1, 1, 1])], {"w": w(8, 4, 3, 3), "b": w(8)})
    save(out, "conv_s2", [h.make_node("Conv", ["x", "w"], ["y"], pads=[1, 0, 1, 2], strides=[2, 2])], {"w": w(8, 4, 3, 3)})
    save(out, "conv_valid", [h.make_node("Conv", ["x", "w"], ["y"])], {"w": w(8, 4, 3, 3)})
    save(out, "conv_group", [h.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], group=2, dilations=[2, 1])], {"w": w(6, 2, 3, 3)})
    save(out, "depthwise", [h.make_node("Conv", ["x", "w", "b"], ["y"], pads=[2, 2, 2, 2], group=4)], {"w": w(4, 1, 5, 5), "b": w(4)})
    save(out, "conv_same", [h.make_node("Conv", ["x", "w"], ["y"], auto_pad="SAME_UPPER", strides=[2, 3])], {"w": w(8, 4, 3, 3)})
    save(out, "convt", [h.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], kernel_shape=[2, 2])], {"w": w(4, 8, 2, 2)})
    save(out, "convt_pad", [h.make_node("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2], pads=[1, 1, 1, 1], output_padding=[1, 0])], {"w": w(4, 8, 3, 3)})
    save(out, "maxpool_ceil", [h.make_node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)], {})
    save(out, "avgpool", [h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 2], strides=[3, 2])], {})
    save(out, "avgpool_pad", [h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])], {})
    save(out, "avgpool_same", [h.make_node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_LOWER", count_include_pad=1)], {})
    save(out, "resize", [h.make_node("Resize", ["x", "", "s"], ["y"], mode="nearest",
                                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")],
         {"s": np.array([1, 1, 2, 3], np.float32)})
    # [N, 4, H, W] -> Reshape to [N, 4, H*W] with the target built from
    # Shape (N), a constant (4) and -1; then Transpose and MatMul by [4, 5]:
    # the MatMul must see K = 4 statically.
    save(out, "reshape", [
        h.make_node("Shape", ["x"], ["sh"]),
        const("starts", [0]), const("ends", [1]),
        h.make_node("Slice", ["sh", "starts", "ends"], ["n"]),
        const("rest", [4, -1]),
        h.make_node("Concat", ["n", "rest"], ["target"], axis=0),
        h.make_node("Reshape", ["x", "target"], ["r"]),
        h.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1]),
        h.make_node("MatMul", ["t", "m"], ["y"]),
    ], {"m": w(4, 5)})


if __name__ == "__main__":
    main()
