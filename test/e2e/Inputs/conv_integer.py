"""ConvInteger (ONNX): quant's import against onnxruntime (per-tensor zero
points, uint8 weights) and against a numpy reference computed here (int8
weights and a per-output-channel weight zero point, which onnxruntime's
kernel refuses), grouped, strided,
dilated and padded, uint8 activations and int8 or uint8 weights; every
output element must be equal (test/e2e/conv-integer.test).

usage: conv_integer.py OUT_DIR   (quant-compile and quant-run from PATH)
"""
import os
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

ATTRS = dict(group=2, strides=[2, 1], pads=[1, 0, 1, 2], dilations=[1, 2])


def model(w, xz, wz):
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(xz, "xz"),
             numpy_helper.from_array(wz, "wz")]
    node = helper.make_node("ConvInteger", ["x", "w", "xz", "wz"], ["y"], **ATTRS)
    g = helper.make_graph([node], "g",
                          [helper.make_tensor_value_info("x", TensorProto.UINT8, ["N", 6, "H", "W"])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def reference(x, w, xz, wz):
    """The ONNX definition in int64: pad (x - xz) with zeros, correlate per group."""
    xc = x.astype(np.int64) - np.int64(xz)
    wc = w.astype(np.int64) - wz.astype(np.int64).reshape(-1, 1, 1, 1)
    t, l, b, r = ATTRS["pads"][0], ATTRS["pads"][1], ATTRS["pads"][2], ATTRS["pads"][3]
    xp = np.pad(xc, ((0, 0), (0, 0), (t, b), (l, r)))
    (sh, sw), (dh, dw), G = ATTRS["strides"], ATTRS["dilations"], ATTRS["group"]
    N, C, H, W = xp.shape
    M, Cg, KH, KW = w.shape
    OH = (H - dh * (KH - 1) - 1) // sh + 1
    OW = (W - dw * (KW - 1) - 1) // sw + 1
    y = np.zeros((N, M, OH, OW), np.int64)
    for m in range(M):
        g = m // (M // G)
        for kh in range(KH):
            for kw in range(KW):
                win = xp[:, g * Cg:(g + 1) * Cg, kh * dh:kh * dh + sh * (OH - 1) + 1:sh,
                         kw * dw:kw * dw + sw * (OW - 1) + 1:sw]
                y[:, m] += np.einsum("nchw,c->nhw", win, wc[m, :, kh, kw])
    return y.astype(np.int32)


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2, 6, 9, 11)).astype(np.uint8)
    np.save(os.path.join(out, "x.npy"), x)
    cases = {
        "tensor-u8": (rng.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8), np.array(131, np.uint8)),
        "tensor-s8": (rng.integers(-128, 128, (4, 3, 3, 3)).astype(np.int8), np.array(-3, np.int8)),
        "channel-u8": (rng.integers(0, 256, (4, 3, 3, 3)).astype(np.uint8),
                       rng.integers(100, 160, (4,)).astype(np.uint8)),
    }
    ok = True
    for name, (w, wz) in cases.items():
        xz = np.array(120, np.uint8)
        m = model(w, xz, wz)
        path = os.path.join(out, name + ".onnx")
        onnx.save(m, path)
        so = os.path.join(out, name + ".so")
        subprocess.run(["quant-compile", path, "--float", "--quiet", "-o", so], check=True)
        res = os.path.join(out, name)
        subprocess.run(["quant-run", so, "-i", "x=" + os.path.join(out, "x.npy"), "-o", res],
                       check=True, capture_output=True)
        got = np.load(os.path.join(res, "y.npy"))
        want = reference(x, w, xz, wz)
        if wz.ndim == 0 and w.dtype == np.uint8:  # onnxruntime: uint8 weights only
            ort_y = ort.InferenceSession(m.SerializeToString()).run(None, {"x": x})[0]
            same_ort = np.array_equal(ort_y, want)
            print("%s: numpy reference equals onnxruntime: %s" % (name, same_ort))
            ok = ok and same_ort
        same = got.dtype == np.int32 and np.array_equal(got, want)
        print("%s: quant %s, max |diff| %d" % (name, "equal" if same else "DIFFERENT",
                                               int(np.abs(got.astype(np.int64) - want).max())))
        ok = ok and same
    print("conv integer: ok" if ok else "conv integer: FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
