"""A model.so from Python through its C ABI (include/quant/Runtime/QuantRuntime.h), with ctypes.

    m = QuantModel("model.so", threads=2)
    logits, *rest = m.run({"input_ids": ids})

Outputs are copied out of the session's buffers (valid until the next run),
so they stay valid. One session per object; not thread-safe.
"""

from __future__ import annotations

import ctypes as C

import numpy as np


class _Device(C.Structure):
    _fields_ = [("device_type", C.c_int32), ("device_id", C.c_int32)]


class _DType(C.Structure):
    _fields_ = [("code", C.c_uint8), ("bits", C.c_uint8), ("lanes", C.c_uint16)]


class _Tensor(C.Structure):
    _fields_ = [("data", C.c_void_p), ("device", _Device), ("ndim", C.c_int32), ("dtype", _DType),
                ("shape", C.POINTER(C.c_int64)), ("strides", C.POINTER(C.c_int64)), ("byte_offset", C.c_uint64)]


class _Options(C.Structure):
    _fields_ = [("device", C.c_int32), ("num_threads", C.c_int32)]


_CODES = {np.dtype(np.float32): (2, 32), np.dtype(np.float64): (2, 64), np.dtype(np.int64): (0, 64),
          np.dtype(np.int32): (0, 32), np.dtype(np.int8): (0, 8), np.dtype(np.uint8): (1, 8),
          np.dtype(np.bool_): (6, 8), np.dtype(np.float16): (2, 16)}
_DTYPES = {v: k for k, v in _CODES.items()}


class QuantModel:
    def __init__(self, path: str, threads: int = 0):
        self._lib = lib = C.CDLL(str(path))
        lib.quant_last_error.restype = C.c_char_p
        lib.quant_session_open.argtypes = [C.POINTER(_Options), C.POINTER(C.c_void_p)]
        lib.quant_session_close.argtypes = [C.c_void_p]
        lib.quant_session_num_inputs.argtypes = [C.c_void_p]
        lib.quant_session_num_outputs.argtypes = [C.c_void_p]
        info = [C.c_void_p, C.c_int32, C.POINTER(C.c_char_p), C.POINTER(_DType), C.POINTER(C.c_int32),
                C.POINTER(C.POINTER(C.c_int64))]
        lib.quant_session_input_info.argtypes = info
        lib.quant_session_output_info.argtypes = info
        lib.quant_session_run_alloc.argtypes = [C.c_void_p, C.POINTER(_Tensor), C.c_int32,
                                                C.POINTER(C.POINTER(_Tensor))]
        self._session = C.c_void_p()
        opts = _Options(1, threads)  # the CPU
        self._check(lib.quant_session_open(C.byref(opts), C.byref(self._session)))
        self.inputs = [self._info(lib.quant_session_input_info, i)
                       for i in range(lib.quant_session_num_inputs(self._session))]
        self.outputs = [self._info(lib.quant_session_output_info, i)
                        for i in range(lib.quant_session_num_outputs(self._session))]

    def _check(self, status):
        if status != 0:
            raise RuntimeError(f"model.so: {self._lib.quant_last_error().decode()} (status {status})")

    def _info(self, fn, i):
        name, dtype, ndim, shape = C.c_char_p(), _DType(), C.c_int32(), C.POINTER(C.c_int64)()
        self._check(fn(self._session, i, C.byref(name), C.byref(dtype), C.byref(ndim), C.byref(shape)))
        return name.value.decode(), _DTYPES[(dtype.code, dtype.bits)], [shape[d] for d in range(ndim.value)]

    def run(self, feeds: dict[str, np.ndarray]) -> list[np.ndarray]:
        arrays, tensors, shapes = [], (_Tensor * len(self.inputs))(), []
        for k, (name, dtype, _) in enumerate(self.inputs):
            a = np.ascontiguousarray(feeds[name], dtype=dtype)
            arrays.append(a)
            shape = (C.c_int64 * max(a.ndim, 1))(*a.shape)
            shapes.append(shape)
            code, bits = _CODES[a.dtype]
            tensors[k] = _Tensor(a.ctypes.data, _Device(1, 0), a.ndim, _DType(code, bits, 1), shape, None, 0)
        out = C.POINTER(_Tensor)()
        self._check(self._lib.quant_session_run_alloc(self._session, tensors, len(self.inputs), C.byref(out)))
        results = []
        for k, (_, dtype, _) in enumerate(self.outputs):
            t = out[k]
            shape = tuple(t.shape[d] for d in range(t.ndim))
            n = int(np.prod(shape)) if shape else 1
            buf = (C.c_char * (n * np.dtype(dtype).itemsize)).from_address(t.data + t.byte_offset) if n else b""
            results.append(np.frombuffer(bytes(buf), dtype=dtype).reshape(shape))
        return results

    def close(self):
        if self._session:
            self._lib.quant_session_close(self._session)
            self._session = C.c_void_p()

    def __del__(self):
        try:
            self.close()
        except Exception:
            pass
