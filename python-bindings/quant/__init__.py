"""quant: compile float models (ONNX, PyTorch) into quantized, self-contained
shared libraries, then load and run them from Python.

    import numpy as np, quant
    model = quant.compile("model.onnx", wbits=4, abits=8, calib="calib/")
    y = model(x=np.random.rand(1, 3, 224, 224).astype(np.float32))
    model.save("model.so")
    again = quant.load("model.so")

Every ``quant-compile`` option is a keyword of :func:`compile` (dashes become
underscores: ``weight_rounding="gptq"``). docs/python.md has the whole API.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Union

import numpy as np

__all__ = [
    "compile",
    "export_onnx",
    "load",
    "Model",
    "TensorInfo",
    "QuantError",
    "CompileError",
    "RunError",
    "option_names",
]
__version__ = "0.1.0"


class QuantError(RuntimeError):
    """A failed call of quant's C API: ``status`` is its status code, the
    message is the C API's (every error of a compile, one per line)."""

    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status

    @property
    def message(self) -> str:
        return self.args[0]


class CompileError(QuantError):
    """``compile`` failed: a bad option, a malformed model, an unsupported
    op... ``status_name`` says which (quant-c/Compiler.h's statuses)."""

    @property
    def status_name(self) -> str:
        return _quant.compiler_status_name(self.status)


class RunError(QuantError):
    """Loading or running a model failed (QuantRuntime.h's statuses: wrong
    shape or dtype, no GPU when one was demanded, ...)."""

    @property
    def status_name(self) -> str:
        return _quant.runtime_status_name(self.status)


from . import _quant  # noqa: E402  (the exceptions above must exist first)

_DEVICES = {"auto": 0, "cpu": 1, "cuda": 2}
_RUNTIME_LIB = os.path.join(os.path.dirname(__file__), "lib", "libQuantRuntime.a")


def option_names() -> list:
    """Every quant-compile option name (with dashes), as compile() accepts
    them with underscores."""
    return list(_quant.Compiler.option_names())


# --------------------------------------------------------------------------
# Tensors and models
# --------------------------------------------------------------------------

_DL_TO_NUMPY = {
    (0, 8): np.int8, (0, 16): np.int16, (0, 32): np.int32, (0, 64): np.int64,
    (1, 8): np.uint8, (1, 16): np.uint16, (1, 32): np.uint32, (1, 64): np.uint64,
    (2, 16): np.float16, (2, 32): np.float32, (2, 64): np.float64,
    (6, 8): np.bool_,
}


@dataclass(frozen=True)
class TensorInfo:
    """An input or output of a model: ``shape`` holds None for a dynamic
    extent; ``dtype`` is a numpy dtype (or a string for a type numpy lacks,
    e.g. ``"bfloat16"``)."""

    name: str
    dtype: Any
    shape: tuple

    @staticmethod
    def _from(entry) -> "TensorInfo":
        name, (code, bits), shape = entry
        dt = _DL_TO_NUMPY.get((code, bits))
        dtype = np.dtype(dt) if dt is not None else ("bfloat16" if code == 4 else f"dl{code}:{bits}")
        return TensorInfo(name, dtype, tuple(shape))


def _as_tensor(x, info: "TensorInfo"):
    """A value the C ABI can take: numpy arrays and DLPack producers as they
    are (made contiguous when they are not; their dtype is checked by the
    model), anything else (lists, scalars) through numpy.asarray with the
    input's dtype."""
    if isinstance(x, np.ndarray):
        return np.ascontiguousarray(x)
    if hasattr(x, "__dlpack__"):
        contiguous = getattr(x, "is_contiguous", None)
        if callable(contiguous) and not contiguous():
            return x.contiguous()
        return x
    dtype = info.dtype if isinstance(info.dtype, np.dtype) else None
    return np.ascontiguousarray(np.asarray(x, dtype=dtype))


class Model:
    """A compiled model.so, loaded with one session.

    ``model(x, y)`` / ``model(x=..., y=...)`` returns the output array (a
    tuple of them when the model has several); ``model.run(...)`` returns a
    dict {output name: array}. Inputs are numpy arrays or any DLPack
    producer on the CPU (torch tensors are read in place); outputs are new
    numpy arrays. Sessions may be run from several threads at once.
    """

    def __init__(self, path: Union[str, os.PathLike], *, device: str = "auto",
                 threads: int = 0, report: Optional[dict] = None,
                 evaluation: Optional[list] = None, _tmpdir: Optional[str] = None):
        if device not in _DEVICES:
            raise ValueError(f"device must be one of {sorted(_DEVICES)}, not {device!r}")
        if not isinstance(threads, int) or threads < 0:
            raise ValueError(f"threads must be an integer >= 0 (0: one per core), not {threads!r}")
        self._path = os.fspath(path)
        if _tmpdir is not None:
            # The compiled .so lives in a directory of ours until save().
            self._cleanup = weakref.finalize(self, shutil.rmtree, _tmpdir, True)
        self._session = _quant.Session(self._path, _DEVICES[device], threads)
        self._inputs = [TensorInfo._from(e) for e in self._session.inputs()]
        self._outputs = [TensorInfo._from(e) for e in self._session.outputs()]
        self.report = report
        """The compile's JSON report as a dict (None for a loaded model
        unless ``load(..., report=...)`` named one)."""
        self.evaluation = evaluation or []
        """Per output, the evaluation metrics of a compile with ``eval=``:
        dicts with name, sqnr_db, cosine, argmax_agreement, max_abs_error."""

    @property
    def path(self) -> str:
        """Where the loaded model.so is (a temporary file for a model from
        compile() that was not saved)."""
        return self._path

    @property
    def inputs(self) -> list:
        return list(self._inputs)

    @property
    def outputs(self) -> list:
        return list(self._outputs)

    def _ordered(self, args, kwargs) -> list:
        names = [t.name for t in self._inputs]
        if len(args) == 1 and isinstance(args[0], Mapping) and not kwargs:
            kwargs, args = dict(args[0]), ()
        if args and kwargs:
            raise TypeError("pass inputs either by position or by name, not both")
        if kwargs:
            unknown = sorted(set(kwargs) - set(names))
            if unknown:
                raise TypeError(f"unknown input(s) {unknown}; the model's inputs are {names}")
            missing = [n for n in names if n not in kwargs]
            if missing:
                raise TypeError(f"missing input(s) {missing}")
            args = [kwargs[n] for n in names]
        if len(args) != len(names):
            raise TypeError(f"the model takes {len(names)} input(s) {names}, got {len(args)}")
        return [_as_tensor(a, t) for a, t in zip(args, self._inputs)]

    def run(self, *args, **kwargs) -> dict:
        """Runs the model: inputs by position, by name, or as one dict.
        Returns {output name: numpy array}."""
        arrays = self._session.run(self._ordered(args, kwargs))
        return {t.name: a for t, a in zip(self._outputs, arrays)}

    def __call__(self, *args, **kwargs):
        arrays = self._session.run(self._ordered(args, kwargs))
        return arrays[0] if len(arrays) == 1 else tuple(arrays)

    def export_onnx(self, path: Union[str, os.PathLike]) -> str:
        """Writes this model, quantized as it was compiled, as standard ONNX
        (QuantizeLinear/DequantizeLinear; ``quant.export_onnx``). Only for a
        model from ``compile`` whose calibration samples were a directory or
        a list (they are quantized again)."""
        args = getattr(self, "_compile_args", None)
        if args is None:
            raise ValueError("export_onnx needs the compile's arguments: use a model from "
                             "quant.compile() with calib/eval given as a directory or a list, "
                             "or quant.export_onnx(model, path, ...)")
        return export_onnx(path=path, **args)

    def save(self, path: Union[str, os.PathLike]) -> str:
        """Copies the model.so to ``path`` (and the report, when there is one,
        to ``path`` + ``.json``); returns the path."""
        path = os.fspath(path)
        shutil.copyfile(self._path, path)
        os.chmod(path, 0o755)
        if self.report is not None:
            with open(path + ".json", "w") as f:
                json.dump(self.report, f, indent=2)
        return path

    def __repr__(self) -> str:
        def fmt(ts):
            return ", ".join(f"{t.name}: {t.dtype}{list(t.shape)}" for t in ts)
        return f"<quant.Model {self._path!r} ({fmt(self._inputs)}) -> ({fmt(self._outputs)})>"


def load(path: Union[str, os.PathLike], *, device: str = "auto", threads: int = 0,
         report: Union[None, str, os.PathLike, dict] = None) -> Model:
    """Loads a model.so that quant-compile (or compile()) wrote. ``device``:
    "auto", "cpu" or "cuda"; ``threads``: 0 for one per core. ``report``: a
    report dict or JSON file to attach as ``Model.report``; by default
    ``path + ".json"`` when save() wrote one."""
    path = os.fspath(path)
    if report is None and os.path.isfile(path + ".json"):
        report = path + ".json"
    if isinstance(report, (str, os.PathLike)):
        with open(report) as f:
            report = json.load(f)
    return Model(path, device=device, threads=threads, report=report)


# --------------------------------------------------------------------------
# Compiling
# --------------------------------------------------------------------------

def _option_value(name: str, value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError(f"option {name}: expected a string, number or bool, not {type(value).__name__}")


_REPEATABLE = {"exclude", "report", "input-shape", "specialize"}


def _onnx_input_names(model_bytes: Optional[bytes], path: Optional[str]) -> Optional[list]:
    """The graph inputs that are not initializers, in order (None when the
    onnx package is missing or the model is not ONNX)."""
    try:
        import onnx
    except ImportError:
        return None
    try:
        if model_bytes is not None:
            proto = onnx.load_from_string(model_bytes)
        else:
            proto = onnx.load(path, load_external_data=False)
    except Exception:
        return None
    inits = {i.name for i in proto.graph.initializer}
    return [i.name for i in proto.graph.input if i.name not in inits]


class _Feed:
    """Calibration/evaluation samples for the C API: an iterable of dicts
    (input name -> array), of sequences of arrays in the model's input
    order, or of single arrays (one-input models)."""

    def __init__(self, data: Iterable, names: Optional[list], what: str):
        self._data = data
        self._names = names
        self._what = what
        self._it = None

    def __call__(self, index: int):
        if index == 0 or self._it is None:
            self._it = iter(self._data)
        try:
            sample = next(self._it)
        except StopIteration:
            return None
        if isinstance(sample, Mapping):
            if self._names is None:
                raise TypeError(f"{self._what} sample {index} is a dict, but the model's input "
                                "names are unknown (install onnx, or give lists in input order)")
            missing = [n for n in self._names if n not in sample]
            if missing:
                raise KeyError(f"{self._what} sample {index} lacks input(s) {missing}")
            return [np.asarray(sample[n]) for n in self._names]
        if isinstance(sample, (list, tuple)):
            return [np.asarray(s) for s in sample]
        return [np.asarray(sample)]


def _tqdm_progress():
    """A progress callback drawing one tqdm bar per stage."""
    from tqdm.auto import tqdm

    state = {"stage": None, "bar": None}

    def callback(stage, done, total):
        if stage != state["stage"]:
            if state["bar"] is not None:
                state["bar"].close()
            state["stage"] = stage
            state["bar"] = tqdm(total=total or None, desc=stage, leave=False)
        bar = state["bar"]
        bar.total = total or None
        bar.n = done
        bar.refresh()
        if total and done >= total:
            bar.close()
            state["stage"], state["bar"] = None, None

    return callback


def _export_torch(module, example_inputs, input_names, output_names, dynamic_axes,
                  opset: Optional[int]) -> bytes:
    """``module`` as ONNX bytes: torch.onnx.export with the dynamo exporter
    where it works, else the TorchScript exporter."""
    import torch

    if example_inputs is None:
        raise TypeError("compiling a torch.nn.Module needs example_inputs (a tensor or a tuple of them)")
    if not isinstance(example_inputs, tuple):
        example_inputs = (example_inputs,)
    module = module.eval()
    errors = []
    with torch.no_grad():
        try:
            kwargs = dict(input_names=input_names, output_names=output_names, dynamo=True,
                          external_data=False)
            if opset is not None:
                kwargs["opset_version"] = opset
            if dynamic_axes:
                kwargs["dynamic_axes"] = dynamic_axes
            program = torch.onnx.export(module, example_inputs, **kwargs)
            return program.model_proto.SerializeToString()
        except Exception as e:  # the dynamo exporter does not handle every model
            errors.append(f"dynamo exporter: {type(e).__name__}: {e}")
        try:
            buf = io.BytesIO()
            torch.onnx.export(module, example_inputs, buf, input_names=input_names,
                              output_names=output_names, dynamic_axes=dynamic_axes,
                              opset_version=opset or 17, dynamo=False)
            return buf.getvalue()
        except Exception as e:
            errors.append(f"TorchScript exporter: {type(e).__name__}: {e}")
    raise CompileError("torch.onnx.export failed:\n" + "\n".join(errors), 1)


def compile(model, *, wbits: Optional[int] = 8, abits: Union[int, str, None] = 8,
            calib=None, eval=None, output: Union[None, str, os.PathLike] = None,
            progress: Union[None, bool, str, Callable] = None,
            diagnostics: Optional[Callable] = None, device: str = "auto", threads: int = 0,
            example_inputs=None, input_names: Optional[Sequence[str]] = None,
            output_names: Optional[Sequence[str]] = None, dynamic_axes: Optional[dict] = None,
            opset: Optional[int] = None, _load: bool = True, **options) -> Model:
    """Compiles ``model`` and returns it loaded.

    model: a path (ONNX, or MLIR text ending in .mlir), ONNX bytes, an
        ``onnx.ModelProto``, or a ``torch.nn.Module`` (with ``example_inputs``;
        ``input_names``, ``output_names``, ``dynamic_axes`` and ``opset`` go
        to ``torch.onnx.export``).
    wbits, abits: weight and activation bits (abits=None: float
        activations, weight-only).
    calib: a directory of samples (as ``--calib``), or an iterable of
        samples: dicts {input name: array}, sequences of arrays in input
        order, or single arrays. Gives static activation ranges.
    eval: the same for ``--eval``: the compiled model is compared with the
        float one; the metrics land in ``Model.evaluation``.
    output: where to write the model.so (default: a temporary file that
        ``Model.save`` copies).
    progress: None for quant's own display on stderr, False for none,
        "tqdm" for tqdm bars, or a callable (stage, done, total).
    diagnostics: a callable (severity, message) for each diagnostic.
    device, threads: for the loaded model (see ``load``).
    options: any other quant-compile option, dashes as underscores
        (granularity="group:128", weight_rounding="gptq", exclude=[...]).
        Lists give a repeatable option several values.
    """
    comp = _quant.Compiler()
    tmpdir = tempfile.mkdtemp(prefix="quant-")
    try:
        settings = dict(options)
        settings["wbits"] = wbits
        settings["abits"] = "none" if abits is None else abits
        report_path = os.path.join(tmpdir, "report.json")
        for key, value in settings.items():
            name = key.replace("_", "-")
            if value is None:
                continue
            values = value if isinstance(value, (list, tuple)) else [value]
            if len(values) > 1 and name not in _REPEATABLE:
                raise TypeError(f"option {key} takes one value, not a list")
            for v in values:
                comp.set_option(name, _option_value(key, v))
        # A float compile has no report, nor has an ONNX export.
        if not options.get("float") and _load:
            comp.set_option("report", report_path)
        if "runtime-lib" not in {k.replace("_", "-") for k in options} and os.path.isfile(_RUNTIME_LIB):
            comp.set_option("runtime-lib", _RUNTIME_LIB)

        # The model as a file or bytes, and its input names (for dict samples).
        path, data, mlir = None, None, None
        if isinstance(model, (str, os.PathLike)):
            path = os.fspath(model)
        elif isinstance(model, (bytes, bytearray, memoryview)):
            data = bytes(model)
        elif type(model).__name__ == "ModelProto" and hasattr(model, "SerializeToString"):
            data = model.SerializeToString()
        elif _is_torch_module(model):
            data = _export_torch(model, example_inputs, list(input_names) if input_names else None,
                                 list(output_names) if output_names else None, dynamic_axes, opset)
        else:
            raise TypeError("model must be a path, ONNX bytes, an onnx.ModelProto or a "
                            f"torch.nn.Module, not {type(model).__name__}")
        if path is not None and path.endswith(".mlir"):
            with open(path) as f:
                mlir, path = f.read(), None

        names = None
        if (calib is not None and not isinstance(calib, (str, os.PathLike))) or \
           (eval is not None and not isinstance(eval, (str, os.PathLike))):
            names = None if mlir is not None else _onnx_input_names(data, path)
        for which, value, opt in ((0, calib, "calib"), (1, eval, "eval")):
            if value is None:
                continue
            if isinstance(value, (str, os.PathLike)):
                comp.set_option(opt, os.fspath(value))
            else:
                comp.set_dataset(which, _Feed(value, names, opt))

        if progress is False:
            comp.set_progress(lambda stage, done, total: None)
        elif progress == "tqdm" or progress is True:
            comp.set_progress(_tqdm_progress())
        elif callable(progress):
            comp.set_progress(progress)
        elif progress is not None:
            raise TypeError("progress must be None, False, True/'tqdm' or a callable")
        if diagnostics is not None:
            comp.set_diagnostics(diagnostics)

        out = os.fspath(output) if output is not None else os.path.join(tmpdir, "model.so")
        if mlir is not None:
            comp.compile_mlir(mlir, out)
        elif data is not None:
            comp.compile_bytes(data, out)
        else:
            comp.compile_file(path, out)

        report = None
        if os.path.isfile(report_path):
            with open(report_path) as f:
                report = json.load(f)
        evaluation = [dict(name=n, sqnr_db=s, cosine=c, argmax_agreement=a, max_abs_error=m)
                      for n, s, c, a, m in comp.evaluation()]
    except BaseException:
        shutil.rmtree(tmpdir, ignore_errors=True)
        raise
    if output is not None:
        shutil.rmtree(tmpdir, ignore_errors=True)
        tmpdir = None
    if not _load:
        return out
    m = Model(out, device=device, threads=threads, report=report, evaluation=evaluation,
              _tmpdir=tmpdir)
    # What export_onnx needs to quantize the same way again (samples given
    # as a one-shot iterator cannot be replayed).
    replayable = all(v is None or isinstance(v, (str, os.PathLike, list, tuple))
                     for v in (calib, eval))
    if replayable and mlir is None:
        m._compile_args = dict(model=data if data is not None else path, wbits=wbits,
                               abits=abits, calib=calib, **options)
    return m


def export_onnx(model, path: Union[str, os.PathLike], *, wbits: Optional[int] = 8,
                abits: Union[int, str, None] = 8, calib=None, **options) -> str:
    """Quantizes ``model`` as ``compile`` does (same arguments) and writes
    it to ``path`` as standard ONNX (``quant-compile --emit=onnx-qdq``):
    QuantizeLinear/DequantizeLinear with quant's scales and zero points,
    the weights as integer initializers with smoothing, rotations and GPTQ's
    rounding in them. Returns the path. Raises ``CompileError`` where the
    scheme has no ONNX form (FP4/FP6 and mixture formats)."""
    options.pop("eval", None)
    return compile(model, wbits=wbits, abits=abits, calib=calib, output=path,
                   emit="onnx-qdq", _load=False, **options)


def _is_torch_module(obj) -> bool:
    for cls in type(obj).__mro__:
        if cls.__module__.startswith("torch.nn") and cls.__name__ == "Module":
            return True
    return False
