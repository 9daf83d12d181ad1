"""Fixtures of the quant Python package's tests: small ONNX models with
random weights, built here with onnx.helper, and onnxruntime as the
independent reference."""

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper


def _init(name, array):
    return numpy_helper.from_array(np.asarray(array), name)


def make_mlp(seed=0, hidden=48, inputs=32, outputs=10):
    """x[B, inputs] -> MatMul, Add, Relu, MatMul, Add -> y[B, outputs];
    a dynamic batch."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((inputs, hidden)) / np.sqrt(inputs)).astype(np.float32)
    b1 = rng.standard_normal(hidden).astype(np.float32) * 0.1
    w2 = (rng.standard_normal((hidden, outputs)) / np.sqrt(hidden)).astype(np.float32)
    b2 = rng.standard_normal(outputs).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("MatMul", ["x", "w1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h"]),
        helper.make_node("MatMul", ["h", "w2"], ["y0"]),
        helper.make_node("Add", ["y0", "b2"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes, "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", inputs])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", outputs])],
        [_init("w1", w1), _init("b1", b1), _init("w2", w2), _init("b2", b2)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def make_two_io(seed=1):
    """Two inputs (a float image, a float vector) and two outputs: a conv
    branch and a gated sum; static shapes."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    b = rng.standard_normal(4).astype(np.float32) * 0.1
    nodes = [
        helper.make_node("Conv", ["img", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c"], ["feat"]),
        helper.make_node("ReduceMean", ["feat"], ["pooled"], axes=[2, 3], keepdims=0),
        helper.make_node("Mul", ["pooled", "gate"], ["score"]),
    ]
    graph = helper.make_graph(
        nodes, "two_io",
        [helper.make_tensor_value_info("img", TensorProto.FLOAT, [2, 3, 8, 8]),
         helper.make_tensor_value_info("gate", TensorProto.FLOAT, [2, 4])],
        [helper.make_tensor_value_info("feat", TensorProto.FLOAT, [2, 4, 8, 8]),
         helper.make_tensor_value_info("score", TensorProto.FLOAT, [2, 4])],
        [_init("w", w), _init("b", b)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def ort_run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def sqnr_db(ref, got):
    ref = np.asarray(ref, np.float64)
    err = ref - np.asarray(got, np.float64)
    return 10 * np.log10(np.sum(ref ** 2) / max(np.sum(err ** 2), 1e-300))


@pytest.fixture(scope="session")
def mlp():
    return make_mlp()


@pytest.fixture(scope="session")
def mlp_path(tmp_path_factory, mlp):
    path = tmp_path_factory.mktemp("models") / "mlp.onnx"
    onnx.save(mlp, str(path))
    return str(path)


@pytest.fixture(scope="session")
def two_io():
    return make_two_io()


@pytest.fixture
def rng():
    return np.random.default_rng(1234)
