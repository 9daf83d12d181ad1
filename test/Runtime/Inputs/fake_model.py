"""Inputs and numpy references for quant-run on fake_model.so.

fake_model.so (test/unit/runtime/FakeModel.c) computes, for x: float32 [?, 4]
and bias: float32 [4], y = x * 2 + bias and sum = y.sum(axis=1).

  fake_model.py gen DIR [--batch N] [--seed S]
      DIR/x.npy, DIR/bias.npy        the inputs
      DIR/inputs.npz                 both, np.savez (stored entries)
      DIR/inputs_compressed.npz      both, np.savez_compressed (deflate)
      DIR/input_0.pb, input_1.pb     both as ONNX TensorProto
      DIR/ref/{y,sum}.npy            the numpy reference
      DIR/onnx/output_{0,1}.pb       the reference as an ONNX test folder
      DIR/typed/input_{0,1}.pb       the inputs in float_data, not raw_data
      DIR/onnx64/output_{0,1}.pb     the reference as float64 (double_data)
      DIR/off/{y,sum}.npy            the reference with y[0, 0] off by 1e-2
  fake_model.py check INPUT_DIR OUTPUT_DIR
      compares OUTPUT_DIR/{y,sum}.npy with numpy; prints "check: ok ..."
  fake_model.py bad DIR
      malformed and mismatching files for quant-run's error tests
"""

import os
import sys

import numpy as np
from onnx import TensorProto, helper, numpy_helper


def reference(x, bias):
    y = x * np.float32(2) + bias
    return y, y.sum(axis=1, dtype=np.float32)


def gen(out, batch, seed):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, size=(batch, 4)).astype(np.float32)
    bias = rng.uniform(-4, 4, size=(4,)).astype(np.float32)
    os.makedirs(out, exist_ok=True)
    np.save(os.path.join(out, "x.npy"), x)
    np.save(os.path.join(out, "bias.npy"), bias)
    np.savez(os.path.join(out, "inputs.npz"), x=x, bias=bias)
    np.savez_compressed(os.path.join(out, "inputs_compressed.npz"), x=x, bias=bias)
    for k, (name, a) in enumerate([("x", x), ("bias", bias)]):
        with open(os.path.join(out, f"input_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, name).SerializeToString())
    os.makedirs(os.path.join(out, "typed"), exist_ok=True)
    for k, (name, a) in enumerate([("x", x), ("bias", bias)]):
        t = helper.make_tensor(name, TensorProto.FLOAT, a.shape, a.flatten().tolist(), raw=False)
        with open(os.path.join(out, "typed", f"input_{k}.pb"), "wb") as f:
            f.write(t.SerializeToString())
    y, s = reference(x, bias)
    for sub in ("ref", "onnx", "onnx64", "off"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    np.save(os.path.join(out, "ref", "y.npy"), y)
    np.save(os.path.join(out, "ref", "sum.npy"), s)
    for k, (name, a) in enumerate([("y", y), ("sum", s)]):
        with open(os.path.join(out, "onnx", f"output_{k}.pb"), "wb") as f:
            f.write(numpy_helper.from_array(a, name).SerializeToString())
        t = helper.make_tensor(name, TensorProto.DOUBLE, a.shape, a.astype(np.float64).flatten().tolist())
        with open(os.path.join(out, "onnx64", f"output_{k}.pb"), "wb") as f:
            f.write(t.SerializeToString())
    off = y.copy()
    if batch:
        off[0, 0] += np.float32(1e-2)
    np.save(os.path.join(out, "off", "y.npy"), off)
    np.save(os.path.join(out, "off", "sum.npy"), s)


def check(inputs, outputs):
    x = np.load(os.path.join(inputs, "x.npy"))
    bias = np.load(os.path.join(inputs, "bias.npy"))
    want_y, want_s = reference(x, bias)
    y = np.load(os.path.join(outputs, "y.npy"))
    s = np.load(os.path.join(outputs, "sum.npy"))
    for name, got, want in (("y", y, want_y), ("sum", s, want_s)):
        if got.dtype != want.dtype or got.shape != want.shape:
            sys.exit(f"check: {name} is {got.dtype}{got.shape}, want {want.dtype}{want.shape}")
        if not np.allclose(got, want, rtol=1e-6, atol=1e-6):
            sys.exit(f"check: {name} differs: max abs error {np.abs(got - want).max()}")
    print(f"check: ok y {list(y.shape)} sum {list(s.shape)}")


def bad(out):
    os.makedirs(out, exist_ok=True)

    def path(name):
        return os.path.join(out, name)

    x = np.ones((2, 4), np.float32)
    np.save(path("x_int32.npy"), x.astype(np.int32))
    np.save(path("x_wide.npy"), np.ones((2, 7), np.float32))
    np.save(path("x_rank3.npy"), np.ones((2, 4, 1), np.float32))
    np.save(path("x_bigendian.npy"), x.astype(">f4"))
    np.save(path("x_fortran.npy"), np.asfortranarray(np.ones((4, 4), np.float32)))
    np.save(path("x_complex.npy"), x.astype(np.complex64))
    np.save(path("x_f16.npy"), x.astype(np.float16))
    with open(path("x.npy"), "wb") as f:
        np.save(f, x)
    data = open(path("x.npy"), "rb").read()
    with open(path("x_truncated.npy"), "wb") as f:
        f.write(data[:-5])
    with open(path("x_badheader.npy"), "wb") as f:
        f.write(data.replace(b"'shape'", b"'shope'"))
    with open(path("garbage.npy"), "wb") as f:
        f.write(b"this is not an npy file")
    with open(path("garbage.npz"), "wb") as f:
        f.write(b"PK\x03\x04 and then nothing useful")
    with open(path("garbage.pb"), "wb") as f:
        f.write(b"\xff\xff\xff\xff\xff")
    with open(path("notes.txt"), "w") as f:
        f.write("hello\n")
    np.save(path("bias.npy"), np.ones((4,), np.float32))
    np.savez(path("unknown_key.npz"), x=x, weights=np.ones(4, np.float32))
    with open(path("x_string.pb"), "wb") as f:
        f.write(numpy_helper.from_array(np.array(["a", "b"], dtype=object), "x").SerializeToString())


def main(argv):
    if len(argv) >= 2 and argv[0] == "gen":
        batch, seed = 3, 0
        rest = argv[2:]
        while rest:
            flag, value, rest = rest[0], int(rest[1]), rest[2:]
            if flag == "--batch":
                batch = value
            elif flag == "--seed":
                seed = value
            else:
                sys.exit(f"unknown flag {flag}")
        gen(argv[1], batch, seed)
    elif len(argv) == 3 and argv[0] == "check":
        check(argv[1], argv[2])
    elif len(argv) == 2 and argv[0] == "bad":
        bad(argv[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv[1:])
