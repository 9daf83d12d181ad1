"""A tiny Llama-style decoder with random weights, exported by scripts/smollm2.py's builder.

usage: tiny_llama.py OUT_DIR
  writes OUT_DIR/tiny.onnx and OUT_DIR/tiny-kv.onnx (2 layers, hidden 64,
  4 query heads sharing 2 KV heads, SwiGLU 96, vocabulary 300, rotary
  positions up to 64) and checks both against the float64 numpy forward
  pass of scripts/smollm2.py with onnxruntime (prefill, then decoding
  through the cache): prints "tiny llama: ok" or the failure.

The same exporter writes SmolLM2 (scripts/fetch_models.py --models smollm2),
so the compiler's LLM path (grouped-query attention by Expand, rotary
embeddings, causal masks built with Range/Greater/Where, a KV cache with
run-time past lengths) is tested here in seconds.
"""

import sys
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(SRC / "scripts"))

import smollm2  # noqa: E402

CFG = smollm2.Config(layers=2, hidden=64, heads=4, kv_heads=2, ffn=96, vocab=300, eps=1e-5,
                     rope_base=10000.0, context=64)


def weights(cfg, seed=0):
    rng = np.random.default_rng(seed)
    d = cfg.head_dim
    w = {"embed_tokens": rng.normal(0, 0.1, (cfg.vocab, cfg.hidden)),
         "norm": 1 + 0.1 * rng.normal(size=cfg.hidden)}
    shapes = {"self_attn.q_proj": (cfg.heads * d, cfg.hidden), "self_attn.k_proj": (cfg.kv_heads * d, cfg.hidden),
              "self_attn.v_proj": (cfg.kv_heads * d, cfg.hidden), "self_attn.o_proj": (cfg.hidden, cfg.heads * d),
              "mlp.gate_proj": (cfg.ffn, cfg.hidden), "mlp.up_proj": (cfg.ffn, cfg.hidden),
              "mlp.down_proj": (cfg.hidden, cfg.ffn)}
    for i in range(cfg.layers):
        for k, s in shapes.items():
            w[f"layers.{i}.{k}"] = rng.normal(0, 1 / np.sqrt(s[1]), s)
        for k in ("input_layernorm", "post_attention_layernorm"):
            w[f"layers.{i}.{k}"] = 1 + 0.1 * rng.normal(size=cfg.hidden)
    return {k: v.astype(np.float32) for k, v in w.items()}


def main(out):
    import onnxruntime as ort

    out.mkdir(parents=True, exist_ok=True)
    w = weights(CFG)
    for kv, name in ((False, "tiny.onnx"), (True, "tiny-kv.onnx")):
        smollm2.save_onnx(smollm2.build_onnx(CFG, w, kv_cache=kv), out / name)
    so = ort.SessionOptions()
    so.log_severity_level = 3
    rng = np.random.default_rng(1)
    ids = rng.integers(0, CFG.vocab, size=(2, 13), dtype=np.int64)
    full = ort.InferenceSession(str(out / "tiny.onnx"), so, providers=["CPUExecutionProvider"])
    err = smollm2.rel_l2(full.run(None, {"input_ids": ids})[0], smollm2.reference(CFG, w, ids)[0])
    if not err < 1e-5:
        print(f"tiny.onnx: {err:.2e} from numpy")
        return 1
    kv = ort.InferenceSession(str(out / "tiny-kv.onnx"), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in kv.get_outputs()]
    empty = np.zeros((2, CFG.kv_heads, 0, CFG.head_dim), np.float32)
    feeds = {f"past_{k}_{i}": empty for i in range(CFG.layers) for k in ("key", "value")}
    past = None
    for chunk in (ids[:, :9], ids[:, 9:10], ids[:, 10:13]):
        outs = dict(zip(names, kv.run(None, {"input_ids": chunk, **feeds})))
        want, past = smollm2.reference(CFG, w, chunk, past)
        err = smollm2.rel_l2(outs["logits"], want)
        if not err < 1e-5:
            print(f"tiny-kv.onnx: {err:.2e} from numpy")
            return 1
        feeds = {f"past_{k}_{i}": outs[f"present_{k}_{i}"] for i in range(CFG.layers) for k in ("key", "value")}
    print("tiny llama: ok")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
