"""Resize whose scales, sizes and roi are model inputs: each model is
compiled once, then run with several values of them (downsampling by
different factors, upsampling, mixed), and every output is compared with
onnx's reference implementation (onnx.reference), which is independent of
our code. Prints one line per case and 'all ok' at the end.

usage: resize_runtime.py OUT_DIR
"""
import os
import subprocess
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

F = TensorProto.FLOAT


def model(name, attrs, given, axes=None, crop=False):
    """X[1, 2, 9, 11] resized by run-time `given` ('scales' or 'sizes')."""
    n = len(axes) if axes else 4
    ins = ["X", "roi" if crop else "", "scales" if given == "scales" else ""]
    if given == "sizes":
        ins.append("sizes")
    extra = {"axes": axes} if axes else {}
    node = helper.make_node("Resize", ins, ["Y"], **attrs, **extra)
    inputs = [helper.make_tensor_value_info("X", F, [1, 2, 9, 11])]
    if crop:
        inputs.append(helper.make_tensor_value_info("roi", F, [2 * n]))
    if given == "scales":
        inputs.append(helper.make_tensor_value_info("scales", F, [n]))
    else:
        inputs.append(helper.make_tensor_value_info("sizes", TensorProto.INT64, [n]))
    g = helper.make_graph([node], name, inputs,
                          [helper.make_tensor_value_info("Y", F, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])
    m.ir_version = 10
    return m


CASES = [
    # name, attributes, given, axes, crop, [value sets]
    ("linear_aa", dict(mode="linear", antialias=1), "scales", None, False,
     [dict(scales=[1, 1, 0.6, 0.45]), dict(scales=[1, 1, 0.25, 0.8]),
      dict(scales=[1, 1, 1.5, 0.3])]),
    ("cubic_aa_excl", dict(mode="cubic", antialias=1, exclude_outside=1,
                           cubic_coeff_a=-0.5), "sizes", [3, 2], False,
     [dict(sizes=[5, 4]), dict(sizes=[3, 7]), dict(sizes=[11, 9])]),
    ("cubic_aa_align", dict(mode="cubic", antialias=1,
                            coordinate_transformation_mode="align_corners"),
     "scales", [2, 3], False,
     [dict(scales=[0.5, 0.4]), dict(scales=[2.0, 0.7])]),
    ("crop_linear", dict(mode="linear",
                         coordinate_transformation_mode="tf_crop_and_resize",
                         extrapolation_value=-3.5), "sizes", [2, 3], True,
     [dict(roi=[0.1, -0.2, 0.8, 1.3], sizes=[6, 7]),
      dict(roi=[0.4, 0.0, 0.6, 0.5], sizes=[1, 5]),
      dict(roi=[-0.5, 0.2, 1.5, 0.9], sizes=[10, 4])]),
    ("crop_cubic", dict(mode="cubic",
                        coordinate_transformation_mode="tf_crop_and_resize"),
     "scales", None, True,
     [dict(roi=[0, 0, 0.2, 0.1, 1, 1, 0.9, 1.2], scales=[1, 1, 0.8, 1.3])]),
    ("crop_nearest", dict(mode="nearest", nearest_mode="round_prefer_ceil",
                          coordinate_transformation_mode="tf_crop_and_resize",
                          extrapolation_value=7.0), "sizes", [3, 2], True,
     [dict(roi=[-0.3, 0.25, 1.2, 0.75], sizes=[8, 6])]),
]


def upsample(mode, nearest_mode):
    """Nearest upsampling by constant whole factors (2 and 3) feeding an
    Add: the importer's broadcast form, fused with the Add."""
    scales = helper.make_tensor("scales", F, [4], [1, 1, 2, 3])
    g = helper.make_graph(
        [helper.make_node("Resize", ["X", "", "scales"], ["R"], mode="nearest",
                          coordinate_transformation_mode=mode,
                          nearest_mode=nearest_mode),
         helper.make_node("Add", ["R", "B"], ["Y"])],
        "up", [helper.make_tensor_value_info("X", F, [1, 2, 9, 11]),
               helper.make_tensor_value_info("B", F, [1, 2, 18, 33])],
        [helper.make_tensor_value_info("Y", F, None)], [scales])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 19)])
    m.ir_version = 10
    return m


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((1, 2, 9, 11)).astype(np.float32)
    np.save(os.path.join(out, "X.npy"), x)
    bad = 0
    bias = rng.standard_normal((1, 2, 18, 33)).astype(np.float32)
    np.save(os.path.join(out, "B.npy"), bias)
    for mode, nm in [("asymmetric", "floor"), ("half_pixel", "round_prefer_floor")]:
        m = upsample(mode, nm)
        path = os.path.join(out, "up_%s.onnx" % mode)
        onnx.save(m, path)
        so = path[:-5] + ".so"
        subprocess.run(["quant-compile", path, "--float", "-o", so], check=True)
        ir = subprocess.run(["quant-compile", path, "--float", "--compile-to=linalg",
                             "--emit=mlir", "-o", "-"], check=True,
                            capture_output=True, text=True).stdout
        od = path[:-5]
        subprocess.run(["quant-run", so, "-i", "X=" + os.path.join(out, "X.npy"),
                        "-i", "B=" + os.path.join(out, "B.npy"), "-o", od],
                       check=True, stdout=subprocess.DEVNULL)
        y = np.load(os.path.join(od, "Y.npy"))
        (r,) = ReferenceEvaluator(m).run(None, {"X": x, "B": bias})
        ok = y.shape == r.shape and np.array_equal(y, r)
        # One generic (the broadcast fused into the Add), no table gather.
        fused = ir.count("linalg.generic") == 1 and "tensor.extract " not in ir
        bad += not ok or not fused
        print("upsample %s %s: %s, %s" % (mode, "ok" if ok else "MISMATCH",
              "fused" if fused else "NOT FUSED", tuple(r.shape)))
    for name, attrs, given, axes, crop, values in CASES:
        m = model(name, attrs, given, axes, crop)
        path = os.path.join(out, name + ".onnx")
        onnx.save(m, path)
        so = os.path.join(out, name + ".so")
        subprocess.run(["quant-compile", path, "--float", "-o", so], check=True)
        ref = ReferenceEvaluator(m)
        for k, v in enumerate(values):
            feeds = {"X": x}
            args = ["quant-run", so, "-i", "X=" + os.path.join(out, "X.npy")]
            for key, val in v.items():
                arr = np.array(val, np.int64 if key == "sizes" else np.float32)
                feeds[key] = arr
                f = os.path.join(out, "%s_%d_%s.npy" % (name, k, key))
                np.save(f, arr)
                args += ["-i", key + "=" + f]
            od = os.path.join(out, "%s_%d" % (name, k))
            subprocess.run(args + ["-o", od], check=True,
                           stdout=subprocess.DEVNULL)
            y = np.load(os.path.join(od, "Y.npy"))
            (r,) = ref.run(None, feeds)
            if y.shape != r.shape:
                print("%s[%d]: shape %s, reference %s" % (name, k, y.shape, r.shape))
                bad += 1
                continue
            err = float(np.max(np.abs(y - r))) if r.size else 0.0
            ok = np.allclose(y, r, rtol=1e-5, atol=1e-5)
            bad += not ok
            print("%s[%d] %s: shape %s, max abs error %.2g" %
                  (name, k, "ok" if ok else "MISMATCH", tuple(r.shape), err))
    print("all ok" if bad == 0 else "%d mismatches" % bad)


if __name__ == "__main__":
    main()
