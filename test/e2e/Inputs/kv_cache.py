"""Checks a model.so compiled with --kv-cache from the tiny Llama's KV-cache export.

usage: kv_cache.py MODEL.so OUT_DIR BITS GROUP ROTATE [ASYM CLIP]
  OUT_DIR holds tiny-kv.onnx (tiny_llama.py); BITS 8 or 4; GROUP the
  elements per scale (0: the head's row); ROTATE 1 when the caches are
  rotated; ASYM 1 for --kv-asym; CLIP --kv-clip (1).

Checks, each against an independent computation:
- the signature: past_X codes int8 [batch, kv_heads, past, D or D/2],
  past_X_scale float32 [batch, kv_heads, past, D/group] (and with ASYM
  past_X_zero int8 of that shape), outputs alike;
- logits of a prompt against scripts/smollm2.py's float64 forward pass in
  which attention reads the cache quantized as documented (numpy: per-row
  or per-group ranges from zero, times CLIP, symmetric absmax or
  asymmetric min/max with an integer zero point, round half to even, keys
  times the
  orthonormal Sylvester-Hadamard matrix, values too: K H and V H are
  stored, attention reads deq(K H) H and deq(V H) H): much closer to it
  than to the float forward pass;
- the stored cache: codes unpacked (int4: low nibble first) and
  dequantized equal the reference's keys and values (rotated), quantized
  the same way, but for rare ties (float32 against float64), never by more
  than a step; without clipping and asymmetry, every group's largest code
  is the format's maximum;
- a round trip through the C ABI: the prompt in two calls (the cache the
  first returns fed to the second) gives the logits of one call;
- a decoding step after that and onnxruntime's float model agree on the
  next token's logits within the quantization's error;
- bad caches (scales of another past length, float codes) are refused
  with a message, not read out of bounds.
Prints "kv cache: ok" or raises.
"""

import sys
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(SRC / "scripts"))
sys.path.insert(0, str(SRC / "bench" / "llm"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import smollm2  # noqa: E402
import tiny_llama  # noqa: E402
from quant_model import QuantModel  # noqa: E402


def sylvester(n):
    h = np.ones((1, 1))
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    return h / np.sqrt(n)


def fake_quant(x, bits, group, asym=False, clip=1.0):
    """Per-group quantization and back, float64, as docs/quantization.md says."""
    g = x.reshape(*x.shape[:-1], x.shape[-1] // group, group)
    if asym:
        hi = np.maximum(g.max(-1, keepdims=True), 0) * clip
        lo = np.minimum(g.min(-1, keepdims=True), 0) * clip
        s = (hi - lo) / (2 ** bits - 1)
        s = np.where(s > 0, s, 1.0)
        z = np.clip(np.round(-lo / s), 0, 2 ** bits - 1)
        q = np.clip(np.round(g / s) + z, 0, 2 ** bits - 1)
        return ((q - z) * s).reshape(x.shape)
    qmax = 2 ** (bits - 1) - 1
    s = np.abs(g).max(-1, keepdims=True) * clip / qmax
    s = np.where(s > 0, s, 1.0)
    return (np.clip(np.round(g / s), -qmax - 1, qmax) * s).reshape(x.shape)


def unpack(codes, bits, asym):
    if bits == 8:
        return codes.astype(np.uint8 if asym else np.int8).astype(np.int64)
    if asym:
        u = codes.view(np.uint8)
        lo, hi = u & 15, u >> 4
    else:
        lo = (codes.astype(np.int8) << 4) >> 4
        hi = codes.astype(np.int8) >> 4
    return np.stack([lo, hi], -1).reshape(*codes.shape[:-1], 2 * codes.shape[-1]).astype(np.int64)


def main(so, out, bits, group, rotate, asym=False, clip=1.0):
    cfg = tiny_llama.CFG
    w = tiny_llama.weights(cfg)
    D, KV = cfg.head_dim, cfg.kv_heads
    group = group or D
    H = sylvester(D) if rotate else np.eye(D)
    qmax = 2 ** (bits - 1) - 1
    m = QuantModel(so, threads=1)

    names = [n for n, _, _ in m.inputs]
    parts = ("", "_scale", "_zero") if asym else ("", "_scale")
    want = ["input_ids"] + [f"past_{k}_{i}{s}" for i in range(cfg.layers) for k in ("key", "value")
                            for s in parts]
    assert names == want, names
    stored = D if bits == 8 else D // 2
    for n, dtype, shape in m.inputs[1:]:
        exp = ((np.float32, [-1, KV, -1, D // group]) if n.endswith("_scale") else
               (np.int8, [-1, KV, -1, D // group]) if n.endswith("_zero") else (np.int8, [-1, KV, -1, stored]))
        assert (dtype, shape) == exp, (n, dtype, shape)
    assert [o[0] for o in m.outputs] == ["logits"] + [n.replace("past", "present") for n in want[1:]]

    def empty(b):
        return {n: np.zeros([b, KV, 0, s[-1]], d) for n, d, s in m.inputs[1:]}

    def run(ids, past):
        out = m.run({"input_ids": ids, **past})
        return out[0], {o[0].replace("present", "past"): v for o, v in zip(m.outputs[1:], out[1:])}

    rng = np.random.default_rng(5)
    ids = rng.integers(0, cfg.vocab, (2, 11)).astype(np.int64)
    logits, cache = run(ids, empty(2))

    def hook(k, v):
        return (fake_quant(k @ H, bits, group, asym, clip) @ H.T,
                fake_quant(v @ H, bits, group, asym, clip) @ H.T)

    ref_q, ref_cache = smollm2.reference(cfg, w, ids, kv=hook)
    ref_f, _ = smollm2.reference(cfg, w, ids)
    err_q, err_f = smollm2.rel_l2(logits, ref_q), smollm2.rel_l2(logits, ref_f)
    assert err_q < 1e-4 and err_q < err_f / 20, f"logits: {err_q:.2e} from the quantized reference, " \
                                                 f"{err_f:.2e} from the float one"

    for i, (k, v) in enumerate(ref_cache):
        for kind, x in (("key", k @ H), ("value", v @ H)):
            codes = unpack(cache[f"past_{kind}_{i}"], bits, asym)
            scale = cache[f"past_{kind}_{i}_scale"].astype(np.float64)
            g = codes.reshape(*codes.shape[:-1], D // group, group)
            lo, hi = (0, 2 ** bits - 1) if asym else (-qmax - 1, qmax)
            assert g.min() >= lo and g.max() <= hi
            if asym:
                zero = cache[f"past_{kind}_{i}_zero"].view(np.uint8).astype(np.int64)
                assert zero.min() >= lo and zero.max() <= hi
                g = g - zero[..., None]
            elif clip == 1.0:
                assert np.all(np.abs(g).max(-1) == qmax), f"{kind} {i}: a group's largest code is not {qmax}"
            deq = (g * scale[..., None]).reshape(x.shape)
            step = np.repeat(scale, group, -1)
            off = np.abs(deq - fake_quant(x, bits, group, asym, clip))
            assert np.all(off <= step * 1.001 + 1e-6), f"{kind} {i}: dequantized codes off by more than a step"
            assert (off > 0.01 * step).mean() < 0.01, f"{kind} {i}: {(off > 0.01 * step).mean():.1%} of codes differ"
    first, c1 = run(ids[:, :5], empty(2))
    second, c2 = run(ids[:, 5:], c1)
    split = np.concatenate([first, second], 1)
    assert np.abs(split - logits).max() <= 1e-5 * np.abs(logits).max(), "prompt in two calls differs"
    for n in c2:
        assert np.array_equal(c2[n], cache[n]), f"{n}: cache after two calls differs"

    import onnxruntime as ort

    so_ = ort.SessionOptions()
    so_.log_severity_level = 3
    sess = ort.InferenceSession(str(out / "tiny-kv.onnx"), so_, providers=["CPUExecutionProvider"])
    nxt = logits[:, -1:].argmax(-1).astype(np.int64)
    step_logits, _ = run(nxt, cache)
    full = np.concatenate([ids, nxt], 1)
    want_q, _ = smollm2.reference(cfg, w, full, kv=hook)
    feeds = {"input_ids": full}
    for i in range(cfg.layers):
        for k in ("key", "value"):
            feeds[f"past_{k}_{i}"] = np.zeros((2, KV, 0, D), np.float32)
    want_f = sess.run(["logits"], feeds)[0][:, -1:]
    assert smollm2.rel_l2(step_logits, want_q[:, -1:]) < 1e-4, "decoding step vs the quantized reference"
    bound = 0.05 if bits == 8 and clip == 1.0 else 0.5
    assert smollm2.rel_l2(step_logits, want_f) < bound, "decoding step vs onnxruntime"

    def refused(change, message):
        bad = dict(cache)
        change(bad)
        try:
            m.run({"input_ids": nxt, **bad})
        except RuntimeError as e:
            assert message in str(e), e
        else:
            raise AssertionError(f"accepted a cache that should fail with: {message}")

    refused(lambda c: c.update(past_key_0_scale=c["past_key_0_scale"][:, :, :4]),
            "input 'past_key_0_scale': dimension 2 ('past') is 4")
    # The wrapper converts feeds to the model's dtypes: make it hand the C
    # ABI the float tensor as it is.
    m.inputs[1] = (m.inputs[1][0], np.float32, m.inputs[1][2])
    refused(lambda c: c.update(past_key_0=c["past_key_0"].astype(np.float32)),
            "input 'past_key_0': dtype is float32, the model expects int8")
    m.close()
    print("kv cache: ok")


if __name__ == "__main__":
    main(sys.argv[1], Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5] == "1",
         len(sys.argv) > 6 and sys.argv[6] == "1", float(sys.argv[7]) if len(sys.argv) > 7 else 1.0)
