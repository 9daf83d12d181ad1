"""Runs a model whose run-time checks fail, many times in one process, via
the C ABI (ctypes), and checks that each failed run returns
QUANT_ERROR_SHAPE_MISMATCH with the check's message, frees what it had
allocated, and leaves the session usable.

  failed_runs.py MODEL.so

The model is make_onnx.py's runtime-shapes one: z = Reshape(Relu(x), s) + y,
e = Expand(v, t), g = Gather(T, i). x has 2^22 elements (16 MiB), so the Relu's buffer is
allocated before the Reshape's check fails; were it not freed, the
process would grow by 16 MiB a run. Prints "ok" or what went wrong.
"""

import ctypes as C
import resource
import sys

import numpy as np


class Device(C.Structure):
    _fields_ = [("device_type", C.c_int32), ("device_id", C.c_int32)]


class DType(C.Structure):
    _fields_ = [("code", C.c_uint8), ("bits", C.c_uint8), ("lanes", C.c_uint16)]


class Tensor(C.Structure):
    _fields_ = [("data", C.c_void_p), ("device", Device), ("ndim", C.c_int32),
                ("dtype", DType), ("shape", C.POINTER(C.c_int64)),
                ("strides", C.POINTER(C.c_int64)), ("byte_offset", C.c_uint64)]


QUANT_ERROR_SHAPE_MISMATCH = 2  # QuantRuntime.h


def tensor(a, keep):
    a = np.ascontiguousarray(a)
    shape = (C.c_int64 * a.ndim)(*a.shape)
    keep.extend([a, shape])
    code = 2 if a.dtype.kind == "f" else 0
    return Tensor(a.ctypes.data, Device(1, 0), a.ndim,
                  DType(code, a.dtype.itemsize * 8, 1), shape, None, 0)


def rss_mib():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20


def main(path):
    lib = C.CDLL(path)
    lib.quant_last_error.restype = C.c_char_p
    session = C.c_void_p()
    if lib.quant_session_open(None, C.byref(session)) != 0:
        sys.exit("open: " + lib.quant_last_error().decode())
    rng = np.random.default_rng(6)
    n = 1 << 22
    x = rng.standard_normal(n).astype(np.float32)
    y = rng.standard_normal((2, n // 2)).astype(np.float32)
    v = rng.standard_normal(3).astype(np.float32)
    good_s = np.array([2, n // 2], np.int64)
    bad_s = np.array([3, n // 2], np.int64)  # holds 1.5x the elements
    t = np.array([2, 3], np.int64)
    i = np.array([0, 3], np.int64)
    outputs = C.POINTER(Tensor)()

    def run(s):
        keep = []
        ins = (Tensor * 6)(*[tensor(a, keep) for a in (x, s, y, v, t, i)])
        return lib.quant_session_run_alloc(session, ins, 6, C.byref(outputs))

    want = (f"node 'reshape' (Reshape): the shape given at run time is "
            f"[3, {n // 2}], which does not hold the input's {n} elements")
    status = run(bad_s)  # warm-up: the buffer cache fills once
    first = rss_mib()
    for _ in range(40):
        status = run(bad_s)
        message = lib.quant_last_error().decode()
        if status != QUANT_ERROR_SHAPE_MISMATCH or message != want:
            sys.exit(f"failed run: status {status}, message {message!r}")
    growth = rss_mib() - first
    if growth > 64:
        sys.exit(f"40 failed runs grew the process by {growth:.0f} MiB")
    if run(good_s) != 0:
        sys.exit("good run after failed ones: " + lib.quant_last_error().decode())
    z = np.ctypeslib.as_array(C.cast(outputs[0].data, C.POINTER(C.c_float)),
                              shape=(2, n // 2))
    ref = np.maximum(x.astype(np.float64), 0).reshape(2, n // 2) + y
    err = np.abs(z - ref).max()
    if err > 1e-6:
        sys.exit(f"good run after failed ones: max error {err}")
    lib.quant_session_close(session)
    print("ok")


if __name__ == "__main__":
    main(sys.argv[1])
