"""Offline tests of scripts/fetch_models.py: the safetensors reader, the BERT
ONNX export (on a tiny random BERT, checked against the float64 numpy
reference with onnxruntime) and the WordPiece tokenizer. No download.

    .venv/bin/python -m unittest discover -s test/scripts -v
"""

import json
import struct
import sys
import tempfile
import unittest
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "scripts"))
import fetch_models as fm  # noqa: E402

TINY = {"hidden_size": 16, "num_attention_heads": 4, "num_hidden_layers": 2, "intermediate_size": 32,
        "vocab_size": 40, "max_position_embeddings": 12, "type_vocab_size": 2, "layer_norm_eps": 1e-12,
        "hidden_act": "gelu", "position_embedding_type": "absolute"}


def write_safetensors(path: Path, tensors: dict, dtypes: dict | None = None):
    """Minimal writer (the reader's inverse): F32/I64 as given, BF16 by truncation."""
    dtypes = dtypes or {}
    header, blobs, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, arr in tensors.items():
        dt = dtypes.get(name) or {np.float32: "F32", np.int64: "I64", np.float16: "F16"}[arr.dtype.type]
        raw = ((arr.astype(np.float32).view(np.uint32) >> 16).astype("<u2").tobytes() if dt == "BF16"
               else arr.astype(arr.dtype.newbyteorder("<")).tobytes())
        header[name] = {"dtype": dt, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
        blobs.append(raw)
        off += len(raw)
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    path.write_bytes(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def tiny_bert_weights(rng):
    H, I = TINY["hidden_size"], TINY["intermediate_size"]
    w = {
        "embeddings.word_embeddings.weight": rng.standard_normal((TINY["vocab_size"], H)),
        "embeddings.position_embeddings.weight": rng.standard_normal((TINY["max_position_embeddings"], H)),
        "embeddings.token_type_embeddings.weight": rng.standard_normal((2, H)),
        "embeddings.LayerNorm.weight": 1 + 0.1 * rng.standard_normal(H),
        "embeddings.LayerNorm.bias": 0.1 * rng.standard_normal(H),
    }
    for i in range(TINY["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        for n, shape in (("attention.self.query", (H, H)), ("attention.self.key", (H, H)),
                         ("attention.self.value", (H, H)), ("attention.output.dense", (H, H)),
                         ("intermediate.dense", (I, H)), ("output.dense", (H, I))):
            w[p + n + ".weight"] = rng.standard_normal(shape) / np.sqrt(shape[1])
            w[p + n + ".bias"] = 0.1 * rng.standard_normal(shape[0])
        for n in ("attention.output.LayerNorm", "output.LayerNorm"):
            w[p + n + ".weight"] = 1 + 0.1 * rng.standard_normal(H)
            w[p + n + ".bias"] = 0.1 * rng.standard_normal(H)
    return {k: v.astype(np.float32) for k, v in w.items()}


class SafetensorsTest(unittest.TestCase):
    def test_round_trip(self):
        rng = np.random.default_rng(0)
        t = {"a": rng.standard_normal((3, 4)).astype(np.float32), "ids": np.arange(5, dtype=np.int64),
             "h": np.array([1.5, -2.0], np.float16), "b": np.array([1.0, -2.5, 3.0], np.float32)}
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "m.safetensors"
            write_safetensors(p, t, {"b": "BF16"})
            got, meta = fm.read_safetensors(p)
        self.assertEqual(meta, {"format": "pt"})
        np.testing.assert_array_equal(got["a"], t["a"])
        np.testing.assert_array_equal(got["ids"], t["ids"])
        np.testing.assert_array_equal(got["h"], t["h"])
        self.assertEqual(got["b"].dtype, np.float32)
        np.testing.assert_array_equal(got["b"], t["b"])  # exactly representable in bf16

    def test_bad_offsets(self):
        with tempfile.TemporaryDirectory() as d:
            p = Path(d) / "bad.safetensors"
            h = json.dumps({"x": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}).encode()
            p.write_bytes(struct.pack("<Q", len(h)) + h + b"\0" * 8)
            with self.assertRaises(ValueError):
                fm.read_safetensors(p)


class BertExportTest(unittest.TestCase):
    def test_tiny_bert_matches_numpy(self):
        import onnxruntime as ort

        rng = np.random.default_rng(1)
        w = tiny_bert_weights(rng)
        with tempfile.TemporaryDirectory() as d:
            st = Path(d) / "model.safetensors"
            write_safetensors(st, w)
            w2, _ = fm.read_safetensors(st)
            model = fm.build_bert_onnx(w2, TINY, pooling=True)
            path = Path(d) / "tiny.onnx"
            import onnx

            onnx.save(model, path)
            sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        ops = {n.op_type for n in model.graph.node}
        self.assertLessEqual(ops, {"Gather", "Shape", "Slice", "Add", "LayerNormalization", "Cast", "Sub", "Mul",
                                   "Unsqueeze", "MatMul", "Reshape", "Transpose", "Div", "Softmax", "Erf",
                                   "ReduceSum", "Clip", "Sqrt"})
        for B, S in ((1, 5), (3, 9)):  # dynamic batch and sequence
            ids = rng.integers(0, TINY["vocab_size"], (B, S), dtype=np.int64)
            mask = np.ones((B, S), np.int64)
            mask[-1, S - 2:] = 0
            tt = rng.integers(0, 2, (B, S), dtype=np.int64)
            h, e = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": tt})
            ref = fm.bert_reference(w, TINY, ids, mask, tt)
            self.assertEqual(h.shape, (B, S, TINY["hidden_size"]))
            self.assertLess(fm.rel_l2(h, ref), 1e-5)
            self.assertLess(fm.rel_l2(e, fm.mean_pool_normalize(ref, mask)), 1e-5)


class TokenizerTest(unittest.TestCase):
    def test_wordpiece(self):
        vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "the", "cafe", "un", "##aff", "##able", ",", "!", "?", "'",
                 "s", "中"]
        tok = fm.WordPieceTokenizer({t: i for i, t in enumerate(vocab)})
        ids = tok.encode("The  Café, unaffable!? zzz 中's")
        self.assertEqual([vocab[i] for i in ids],
                         ["[CLS]", "the", "cafe", ",", "un", "##aff", "##able", "!", "?", "[UNK]", "中", "'", "s",
                          "[SEP]"])
        b_ids, b_mask, b_tt = tok.batch(["the", "the cafe"])
        self.assertEqual(b_ids.tolist(), [[2, 4, 3, 0], [2, 4, 5, 3]])
        self.assertEqual(b_mask.tolist(), [[1, 1, 1, 0], [1, 1, 1, 1]])
        self.assertEqual(b_tt.sum(), 0)


if __name__ == "__main__":
    unittest.main()
