"""Shared pieces of the quantization benchmark and the quantized end-to-end tests.

- `make_samples(key, n, seed)`: "real-looking" inputs for mlp, det, rec and
  minilm (one dict {input name: array} per sample, batch 1):
    images (det, rec): a smooth random page (low-frequency noise upsampled
      bilinearly, light background) with dark text-like strokes, as uint8-like
      pixels in [0, 255], then PP-OCR's own normalisation: det
      (x/255 - mean) / std with ImageNet's mean/std (about [-2.1, 2.6]), rec
      (x/255 - 0.5) / 0.5 (in [-1, 1]);
    minilm: random token ids in [1000, 30000) between [CLS] (101) and [SEP]
      (102), attention_mask 1, token_type_ids 0;
    mlp: examples/mlp_example.py's input distribution (standard normal).
  With `images="text"` the det/rec images are real English text instead
  (`render_text_page`, `render_text_line`): words of the Debian FAQ
  (/usr/share/doc/debian/FAQ, package debian-faq) drawn with the DejaVu
  fonts (package fonts-dejavu-core) by Pillow, the input these models are
  trained on (rec's top class probability averages about 0.96 on them,
  about 0.7 on the synthetic strokes, whose softmax outputs therefore move
  with the least perturbation).
- `save_npz_dir(samples, dir)`: one .npz per sample (keyed by input name), the
  layout `quant-compile --calib/--eval` reads.
- `ort_quantize_static(model, out, calib_samples, ...)`: onnxruntime's static
  QDQ quantizer over the same samples.
- `ort_outputs`, `sqnr_db`, `cosine`: the metrics of docs/report.md.

Depends on numpy and onnxruntime only (and onnx for ORT's quantizer).
"""

from __future__ import annotations

import contextlib
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parent.parent.parent

SHAPES = {"det": (1, 3, 640, 640), "rec": (1, 3, 48, 320)}
MINILM_SEQ = 128
MINILM_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def _upsample(a: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear upsampling of the last two axes of `a` to (h, w) (align corners)."""
    gh, gw = a.shape[-2:]
    ys = np.linspace(0, gh - 1, h)
    xs = np.linspace(0, gw - 1, w)
    y0 = np.minimum(np.floor(ys).astype(int), gh - 2)
    x0 = np.minimum(np.floor(xs).astype(int), gw - 2)
    fy = (ys - y0)[:, None]
    fx = (xs - x0)[None, :]
    a00 = a[..., y0[:, None], x0[None, :]]
    a01 = a[..., y0[:, None], x0[None, :] + 1]
    a10 = a[..., y0[:, None] + 1, x0[None, :]]
    a11 = a[..., y0[:, None] + 1, x0[None, :] + 1]
    return (a00 * (1 - fy) * (1 - fx) + a01 * (1 - fy) * fx + a10 * fy * (1 - fx) + a11 * fy * fx)


def make_page(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A [3, h, w] float64 image with pixel values in [0, 255]: a smooth light
    background (two octaves of upsampled noise, a colour tint) with dark
    horizontal text-like strokes."""
    base = 170 + 50 * _upsample(rng.uniform(-1, 1, (1, max(2, h // 64 + 2), max(2, w // 64 + 2))), h, w)
    base = base + 20 * _upsample(rng.uniform(-1, 1, (1, max(2, h // 8 + 2), max(2, w // 8 + 2))), h, w)
    img = np.repeat(base, 3, axis=0) + rng.uniform(-15, 15, (3, 1, 1))
    # Text lines: rows of short dark strokes of random width.
    line_h = max(4, h // rng.integers(2, 8)) if h < 100 else int(rng.integers(14, 40))
    y = int(rng.integers(0, max(1, line_h // 2)))
    while y + line_h <= h:
        x = int(rng.integers(0, max(1, w // 10)))
        ink = rng.uniform(0, 80)
        while x < w:
            cw = int(rng.integers(2, max(3, line_h // 2)))
            if rng.random() < 0.8:  # a glyph-ish stroke: part of the line's height
                top = y + int(rng.integers(0, line_h // 3 + 1))
                bot = y + line_h - int(rng.integers(0, line_h // 3 + 1))
                img[:, top:bot, x:x + cw] = ink + rng.uniform(-10, 10)
            x += cw + int(rng.integers(1, max(2, line_h // 3)))
            if rng.random() < 0.05:
                x += int(rng.integers(line_h, 3 * line_h))  # a gap between words
        y += int(line_h * rng.uniform(1.3, 2.2))
    img += rng.normal(0, 4, img.shape)  # sensor noise
    return np.clip(img, 0, 255)


FAQ = Path("/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz")
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf")
_WORDS: list[str] = []


def _words() -> list[str]:
    if not _WORDS:
        import gzip

        if not FAQ.is_file():
            raise FileNotFoundError(f"{FAQ} (the Debian package debian-faq)")
        text = gzip.open(FAQ, "rt", encoding="utf-8", errors="replace").read()
        _WORDS.extend(w for w in text.split() if w.isprintable() and w.isascii())
    return _WORDS


def _font(rng: np.random.Generator, size: int):
    from PIL import ImageFont

    path = FONT_DIR / FONTS[int(rng.integers(len(FONTS)))]
    if not path.is_file():
        raise FileNotFoundError(f"{path} (the Debian package fonts-dejavu-core)")
    return ImageFont.truetype(str(path), size)


def _phrase(rng: np.random.Generator, lo: int, hi: int, max_chars: int) -> str:
    words = _words()
    i = int(rng.integers(0, len(words) - hi))
    return " ".join(words[i:i + int(rng.integers(lo, hi + 1))])[:max_chars]


def render_text_line(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A [3, h, w] float64 text-line crop in [0, 255] as PP-OCR's recogniser
    reads one: a few words in dark ink on a light background, scaled to
    height h keeping the aspect ratio, right-padded with 0 after
    normalisation (the caller's) as PP-OCR's resize_norm_img does; here the
    padding is returned as NaN for the caller to fill."""
    from PIL import Image, ImageDraw

    text = _phrase(rng, 1, 4, 28)
    font = _font(rng, int(rng.integers(26, 36)))
    bg, ink = int(rng.integers(180, 250)), int(rng.integers(0, 70))
    width = max(int(font.getlength(text)) + 8, 16)
    img = Image.new("L", (width, 48), bg)
    ImageDraw.Draw(img).text((4, 24), text, fill=ink, font=font, anchor="lm")
    cw = min(w, int(np.ceil(h * width / 48)))
    a = np.asarray(img.resize((cw, h), Image.BILINEAR), np.float64)
    a = np.clip(a + rng.normal(0, 3, a.shape), 0, 255)
    out = np.full((3, h, w), np.nan)
    out[:, :, :cw] = a[None]
    return out


def render_text_page(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A [3, h, w] float64 page in [0, 255]: make_page's smooth background
    with lines of real text at random sizes, positions and ink colours."""
    from PIL import Image, ImageDraw

    base = 170 + 50 * _upsample(rng.uniform(-1, 1, (1, h // 64 + 2, w // 64 + 2)), h, w)
    img = Image.fromarray(np.clip(np.repeat(base, 3, axis=0).transpose(1, 2, 0), 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    y = int(rng.integers(4, 40))
    while y < h - 16:
        size = int(rng.integers(14, 40))
        ink = tuple(int(v) for v in rng.integers(0, 90, 3))
        draw.text((int(rng.integers(0, w // 4)), y), _phrase(rng, 2, 8, 60), fill=ink, font=_font(rng, size))
        y += int(size * rng.uniform(1.3, 3.0))
    a = np.asarray(img, np.float64).transpose(2, 0, 1)
    return np.clip(a + rng.normal(0, 4, a.shape), 0, 255)


def make_image(key: str, rng: np.random.Generator, h: int, w: int, images: str = "text") -> np.ndarray:
    """One [1, 3, h, w] float32 input of det or rec: a text page or line
    (`images="text"`) or make_page's strokes, normalised as PP-OCR does."""
    if images == "text":
        img = (render_text_page if key == "det" else render_text_line)(rng, h, w) / 255.0
    else:
        img = make_page(rng, h, w) / 255.0
    if key == "det":
        mean = np.array([0.485, 0.456, 0.406])[:, None, None]
        std = np.array([0.229, 0.224, 0.225])[:, None, None]
        x = (img - mean) / std
    else:
        x = np.nan_to_num((img - 0.5) / 0.5, nan=0.0)  # padding: 0 after normalisation
    return x[None].astype(np.float32)


def make_samples(key: str, n: int, seed: int, images: str = "synthetic") -> list[dict[str, np.ndarray]]:
    """`n` input dicts (batch 1) for model `key`, reproducible from `seed`;
    det/rec images are `images`: "synthetic" (make_page's strokes) or
    "text" (rendered English text; needs Pillow and the DejaVu fonts)."""
    if images not in ("synthetic", "text"):
        raise ValueError(f"images must be synthetic or text, got {images!r}")
    if key == "mlp":
        if str(REPO_ROOT / "examples") not in sys.path:
            sys.path.insert(0, str(REPO_ROOT / "examples"))
        import mlp_example
    out = []
    for i in range(n):
        rng = np.random.default_rng([seed, i])
        if key == "mlp":
            out.append({mlp_example.INPUT_NAME: mlp_example.make_input(batch=1, seed=seed * 100003 + i)})
        elif key in SHAPES:
            _, c, h, w = SHAPES[key]
            out.append({"x": make_image(key, rng, h, w, images)})
        elif key == "minilm":
            ids = rng.integers(1000, 30000, (1, MINILM_SEQ), dtype=np.int64)
            ids[0, 0], ids[0, -1] = 101, 102  # [CLS] ... [SEP]
            out.append({"input_ids": ids, "attention_mask": np.ones((1, MINILM_SEQ), np.int64),
                        "token_type_ids": np.zeros((1, MINILM_SEQ), np.int64)})
        else:
            raise KeyError(key)
    return out


def save_npz_dir(samples: list[dict[str, np.ndarray]], directory: Path) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for old in directory.glob("*.npz"):
        old.unlink()
    for i, s in enumerate(samples):
        np.savez(directory / f"sample_{i:03d}.npz", **s)
    return directory


def ort_session(model: Path | str, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def ort_outputs(model: Path | str, samples: list[dict[str, np.ndarray]], threads: int = 2) -> list[list[np.ndarray]]:
    """onnxruntime's outputs (all of them, in model order) for every sample."""
    sess = ort_session(model, threads)
    return [sess.run(None, s) for s in samples]


def ort_quantize_static(model: Path, out: Path, calib: list[dict[str, np.ndarray]], preprocess: bool = True,
                        per_channel: bool = True) -> dict:
    """onnxruntime.quantization.quantize_static over `calib`: QDQ format,
    weights QInt8 per channel, activations QUInt8 (ORT's defaults), MinMax
    calibration. With `preprocess`, runs ORT's quant_pre_process (shape
    inference + ONNX-level optimisation) first, as ORT recommends; returns
    what was done."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self, samples):
            self.it = iter(samples)

        def get_next(self):
            return next(self.it, None)

    src = Path(model)
    info = {"preprocessed": False}
    if preprocess:
        try:
            from onnxruntime.quantization.shape_inference import quant_pre_process

            pre = Path(out).with_suffix(".pre.onnx")
            errors = []
            for skip_symbolic in (False, True):  # symbolic shape inference fails on some models
                try:
                    # It leaves temporary files (external data of >2 GB-capable saves) in the working
                    # directory: run it in a scratch one.
                    with tempfile.TemporaryDirectory() as scratch, contextlib.chdir(scratch):
                        quant_pre_process(str(Path(src).resolve()), str(pre.resolve()),
                                          skip_symbolic_shape=skip_symbolic)
                    src = pre
                    info["preprocessed"] = True
                    info["symbolic_shape_inference"] = not skip_symbolic
                    break
                except Exception as e:  # noqa: BLE001 - try the next variant, else go on without it
                    errors.append(f"{type(e).__name__}: {e}")
            if errors and not info["preprocessed"]:
                info["preprocess_error"] = "; ".join(errors)
        except ImportError as e:
            info["preprocess_error"] = f"{type(e).__name__}: {e}"
    quantize_static(str(src), str(out), Reader(calib), quant_format=QuantFormat.QDQ, per_channel=per_channel,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                    calibrate_method=CalibrationMethod.MinMax)
    return info


def sqnr_db(ref: np.ndarray, test: np.ndarray) -> float:
    """10 log10(sum ref^2 / sum (ref - test)^2) in float64 (docs/report.md)."""
    r = np.asarray(ref, np.float64).ravel()
    t = np.asarray(test, np.float64).ravel()
    if r.size != t.size or r.size == 0 or np.isnan(r).any() or np.isnan(t).any():
        return float("nan")
    noise = float(np.sum((r - t) ** 2))
    sig = float(np.sum(r * r))
    if noise == 0:
        return float("inf")
    if sig == 0:
        return float("-inf")
    return 10 * math.log10(sig / noise)


def cosine(ref: np.ndarray, test: np.ndarray) -> float:
    r = np.asarray(ref, np.float64).ravel()
    t = np.asarray(test, np.float64).ravel()
    nr, nt = np.linalg.norm(r), np.linalg.norm(t)
    if nr == 0 and nt == 0:
        return 1.0
    if nr == 0 or nt == 0:
        return 0.0
    return float(np.clip(np.dot(r, t) / (nr * nt), -1, 1))


def concat_output(outs: list[list[np.ndarray]], index: int = 0) -> np.ndarray:
    """Output `index` of every sample, flattened and concatenated."""
    return np.concatenate([np.asarray(o[index], np.float64).ravel() for o in outs])
