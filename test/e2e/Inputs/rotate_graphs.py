"""Small transformer graphs for qc-rotate, written the way other exporters write them.

usage: rotate_graphs.py OUT_DIR

Writes, with random weights (seeded) and node names that say nothing of
their role:
  rms.onnx     pre-norm blocks (an MLP block then an attention-free mixing
               block) whose RMSNorm is Pow -> ReduceMean -> Add -> Sqrt ->
               Reciprocal -> Mul (not the Div of scripts/smollm2.py), the
               linears as MatMul + Add with biases, Gemm for the head: the
               residual stream is found and rotated;
  ln.onnx      the same with LayerNormalization: not rotated, the message
               names the LayerNormalization node;
  lnsub.onnx   LayerNorm's centring written out (ReduceMean, Sub): not
               rotated, the message names the ReduceMean;
  out.onnx     rms.onnx that also returns the residual stream: not rotated,
               the message names the return;
  noemb.onnx   rms.onnx fed hidden states instead of token ids: no
               embedding, so no transformer as far as --rotate auto goes.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
from onnx_graph import GraphBuilder  # noqa: E402

V, H, F = 50, 48, 96  # 48 = 4 * 12, 96 = 8 * 12


def build(kind: str, seed: int = 3):
    import onnx
    from onnx import TensorProto, helper

    rng = np.random.default_rng(seed)
    g = GraphBuilder()
    w = lambda *s: (rng.standard_normal(s) / np.sqrt(s[0])).astype(np.float32)  # noqa: E731
    count = iter(range(1000))
    nm = lambda: f"t{next(count)}"  # noqa: E731
    axes = g.const("axes", np.array([-1], dtype=np.int64))
    two = g.const("two", np.array(2.0, dtype=np.float32))
    eps = g.const("eps", np.array(1e-5, dtype=np.float32))

    def norm(x):
        gamma = g.const(nm(), (1 + 0.3 * rng.standard_normal(H)).astype(np.float32))
        if kind == "ln":
            beta = g.const(nm(), (0.1 * rng.standard_normal(H)).astype(np.float32))
            return g.node("LayerNormalization", [x, gamma, beta], name=nm(), axis=-1, epsilon=1e-5)
        if kind == "lnsub":
            mean = g.node("ReduceMean", [x, axes], name=nm(), keepdims=1)
            x = g.node("Sub", [x, mean], name=nm())
        sq = g.node("Pow", [x, two], name=nm())
        ms = g.node("ReduceMean", [sq, axes], name=nm(), keepdims=1)
        rms = g.node("Sqrt", [g.node("Add", [ms, eps], name=nm())], name=nm())
        y = g.node("Mul", [x, g.node("Reciprocal", [rms], name=nm())], name=nm())
        return g.node("Mul", [y, gamma], name=nm())

    def linear(x, k, n):
        y = g.node("MatMul", [x, g.const(nm(), w(k, n))], name=nm())
        return g.node("Add", [y, g.const(nm(), (0.1 * rng.standard_normal(n)).astype(np.float32))], name=nm())

    table = g.const(nm(), rng.standard_normal((V, H)).astype(np.float32))
    h = "x" if kind == "noemb" else g.node("Gather", [table, "ids"], name=nm())
    for _ in range(2):
        n = norm(h)
        gate = linear(n, H, F)
        up = linear(n, H, F)
        act = g.node("Mul", [g.node("Sigmoid", [gate], name=nm()), gate], name=nm())
        h = g.node("Add", [h, linear(g.node("Mul", [act, up], name=nm()), F, H)], name=nm())
        n = norm(h)
        mix = g.node("Tanh", [linear(n, H, H)], name=nm())
        h = g.node("Add", [linear(mix, H, H), h], name=nm())
    n = norm(h)
    logits = g.node("Gemm", [n, g.const(nm(), w(V, H)), g.const(nm(), np.zeros(V, np.float32))], name=nm(),
                    transB=1)
    outputs = [helper.make_tensor_value_info(logits, TensorProto.FLOAT, ["b", V])]
    if kind == "out":
        outputs.append(helper.make_tensor_value_info(h, TensorProto.FLOAT, ["b", H]))
    inputs = [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", H]) if kind == "noemb"
              else helper.make_tensor_value_info("ids", TensorProto.INT64, ["b"])]
    if kind == "noemb":
        g.inits = [i for i in g.inits if i.name != table]
    graph = helper.make_graph(g.nodes, "rotate_" + kind, inputs, outputs, initializer=g.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main(out):
    import onnx

    out.mkdir(parents=True, exist_ok=True)
    for kind in ("rms", "ln", "lnsub", "out", "noemb"):
        onnx.save(build(kind), out / f"{kind}.onnx")
    print("rotate graphs: ok")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
