#!/usr/bin/env python3
"""Perplexity and decode speed of SmolLM2-135M: quant's schemes against onnxruntime's, in one run, one table.

    .venv/bin/python bench/llm/run.py                      # SmolLM2, every scheme, both tables
    .venv/bin/python bench/llm/run.py --schemes float,w8a8-dynamic --ort fp32,nbits4 --no-decode
    .venv/bin/python bench/llm/run.py --tiny DIR           # the test suite's small version

Text: "A Short History of the Debian Project" (Debian package
debian-history, /usr/share/doc/debian-history/docs/project-history.en.txt.gz),
real English prose, from its first chapter on, whitespace normalised. The
first --calib-windows windows of --window-len tokens calibrate (static
schemes, smoothing, GPTQ, onnxruntime's quantize_static); the last --windows
windows evaluate: disjoint by construction. The default, 56 x 256 tokens,
is what the text leaves after 8 evaluation windows: GPTQ's second moments
(K up to 1536) want several tokens per input channel, and 16 windows
measured worse (docs/benchmarks.md). --calib-source faq calibrates on "The
Debian GNU/Linux FAQ" (package debian-faq) instead, a different document
with room for ~150 windows.

Perplexity: exp of the mean negative log-likelihood of every token of the
evaluation windows after the first of its window (each window one
sequence). Top-1: the share of those positions whose argmax agrees with
quant's FP32 model. Size: the bytes of model.so or of the .onnx file.

quant's models are compiled for input_ids [1, window] (a static shape, as a
serving compile would) by quant-compile (--quant-bin, default build/bin)
and run in process through the C ABI (bench/llm/quant_model.py).
onnxruntime's: the FP32 export; quantize_dynamic (int8 weights per tensor,
dynamic activations); quantize_static (QDQ, int8, per tensor, MinMax on the
calibration windows); MatMulNBits (RTN, symmetric, block 128) at 4 and 8
bits.

Decode (--decode N, default 128): the KV-cache export, batch 1, a 16-token
prompt, then N tokens one at a time (greedy), timed over the N steps, at
each of --threads; tokens per second, median of --repeats runs.

Rotation: --rotate auto (quant-compile's default) rotates SmolLM2 (online
Hadamard transforms on its linear inputs) except in W8 schemes with static
activations; -norot schemes turn it off, -online ones ask for the online
form, -residual ones rotate the residual stream instead
(docs/quantization.md).

KV-cache quantization: a scheme named SCHEME+KV (e.g. w8a8-dynamic+int4,
float+int4-g32-sym-c1) compiles the KV-cache export with SCHEME's flags and
--kv-cache KV (int8|int4, then optionally -gN --kv-group, -asym/-sym
--kv-asym, -cR --kv-clip, -norot --kv-rotate off); in the perplexity table
each window is one call with an empty cache (attention reads the cache as
stored, the window's own rows too: docs/quantization.md, "KV cache"), in
the decode table the cache crosses the C ABI quantized at every step.
--tiny DIR: a 2-layer random Llama (test/e2e/Inputs/tiny_llama.py's
weights, the same exporter) on a random token stream, 2 windows of 32,
every row computed; the test suite checks that quant's FP32 and
onnxruntime's FP32 perplexities agree.
"""

from __future__ import annotations

import argparse
import gzip
import math
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import smollm2  # noqa: E402
from quant_model import QuantModel  # noqa: E402

TEXT = Path("/usr/share/doc/debian-history/docs/project-history.en.txt.gz")
MODEL_DIR = Path.home() / ".cache" / "quant" / "models" / smollm2.DIR
# A second English text for calibration only (--calib-source faq): "The Debian
# GNU/Linux FAQ" (package debian-faq), from its first chapter on.
FAQ = Path("/usr/share/doc/debian/FAQ/debian-faq.en.txt.gz")
CALIB_PACKAGES = {TEXT: "debian-history", FAQ: "debian-faq"}

SCHEMES = {  # name -> quant-compile flags (CALIB: the calibration directory)
    "float": ["--float"],
    "w8a8-dynamic": [],
    "w8a8-static": ["--calib", "CALIB", "--smooth", "off"],
    "w8a16": ["--abits", "none"],
    "w4a16-g128": ["--wbits", "4", "--granularity", "group:128", "--abits", "none"],
    "w4a16-channel": ["--wbits", "4", "--abits", "none"],
    "w4a8-g128": ["--wbits", "4", "--granularity", "group:128"],
    # The accuracy passes: smoothing (SmoothQuant; AWQ scales and clipping
    # for weight-only) and GPTQ rounding, on the calibration windows.
    "w8a8-dynamic-smooth": ["--calib", "CALIB", "--agranularity", "token", "--smooth", "auto"],
    "w8a8-static-smooth": ["--calib", "CALIB", "--smooth", "auto"],
    "w4a16-g128-gptq": ["--wbits", "4", "--granularity", "group:128", "--abits", "none",
                        "--calib", "CALIB", "--smooth", "off", "--weight-rounding", "gptq"],
    "w4a16-g128-awq": ["--wbits", "4", "--granularity", "group:128", "--abits", "none",
                       "--calib", "CALIB", "--smooth", "auto"],
    "w4a16-g128-awq-gptq": ["--wbits", "4", "--granularity", "group:128", "--abits", "none",
                            "--calib", "CALIB", "--smooth", "auto", "--weight-rounding", "gptq"],
    "w4a8-g128-smooth-gptq": ["--wbits", "4", "--granularity", "group:128", "--calib", "CALIB",
                              "--agranularity", "token", "--smooth", "auto", "--weight-rounding", "gptq"],
    # Rotation (qc-rotate): --rotate auto, the default, puts online Hadamard
    # transforms on SmolLM2's linear inputs; -norot is the same scheme
    # without, -residual with the residual stream rotated instead (QuaRot's
    # form). GPTQ rows keep dynamic per-token activations.
    "w8a8-dynamic-norot": ["--rotate", "off"],
    "w8a8-static-norot": ["--calib", "CALIB", "--smooth", "off", "--rotate", "off"],
    "w8a8-static-residual": ["--calib", "CALIB", "--smooth", "off", "--rotate", "residual"],
    "w4a16-g128-norot": ["--wbits", "4", "--granularity", "group:128", "--abits", "none", "--rotate", "off"],
    "w4a16-g128-residual": ["--wbits", "4", "--granularity", "group:128", "--abits", "none", "--rotate", "residual"],
    "w4a16-g128-rot-gptq": ["--wbits", "4", "--granularity", "group:128", "--abits", "none", "--calib", "CALIB",
                            "--smooth", "off", "--weight-rounding", "gptq"],
    "w4a8-g128-norot": ["--wbits", "4", "--granularity", "group:128", "--rotate", "off"],
    "w4a8-g128-rot-gptq": ["--wbits", "4", "--granularity", "group:128", "--calib", "CALIB", "--agranularity",
                           "token", "--smooth", "off", "--weight-rounding", "gptq"],
    "w4a8-g128-residual-gptq": ["--wbits", "4", "--granularity", "group:128", "--calib", "CALIB", "--agranularity",
                                "token", "--smooth", "off", "--weight-rounding", "gptq", "--rotate", "residual"],
    "w4a8-g128-rot-smooth-gptq": ["--wbits", "4", "--granularity", "group:128", "--calib", "CALIB",
                                  "--agranularity", "token", "--smooth", "auto", "--weight-rounding", "gptq"],
    "w4a4-g128-rot-smooth-gptq": ["--wbits", "4", "--abits", "4", "--granularity", "group:128", "--calib", "CALIB",
                                  "--agranularity", "token", "--smooth", "auto", "--weight-rounding", "gptq"],
    # W8 with static activations: --rotate auto does not rotate (smoothing
    # does better); -online rows ask for it.
    "w8a8-static-online": ["--calib", "CALIB", "--smooth", "off", "--rotate", "online"],
    "w8a8-static-smooth-gptq": ["--calib", "CALIB", "--smooth", "auto", "--weight-rounding", "gptq"],
    "w8a8-static-smooth-gptq-online": ["--calib", "CALIB", "--smooth", "auto", "--weight-rounding", "gptq",
                                       "--rotate", "online"],
    "w4a4-g128": ["--wbits", "4", "--abits", "4", "--granularity", "group:128"],
    "w4a4-g128-norot": ["--wbits", "4", "--abits", "4", "--granularity", "group:128", "--rotate", "off"],
    "w4a4-g128-rot-gptq": ["--wbits", "4", "--abits", "4", "--granularity", "group:128", "--calib", "CALIB",
                           "--agranularity", "token", "--smooth", "off", "--weight-rounding", "gptq"],
    "w4a4-g128-rot-gptq-aclip": ["--wbits", "4", "--abits", "4", "--granularity", "group:128", "--calib", "CALIB",
                                 "--agranularity", "token", "--smooth", "off", "--weight-rounding", "gptq",
                                 "--aclip", "0.9"],
    "w4a4-g128-norot-gptq": ["--wbits", "4", "--abits", "4", "--granularity", "group:128", "--calib", "CALIB",
                             "--agranularity", "token", "--smooth", "off", "--weight-rounding", "gptq",
                             "--rotate", "off"],
    "w4a4-g128-residual-gptq": ["--wbits", "4", "--abits", "4", "--granularity", "group:128", "--calib", "CALIB",
                                "--agranularity", "token", "--smooth", "off", "--weight-rounding", "gptq",
                                "--rotate", "residual"],
}
ORT = ["fp32", "dynamic", "static", "nbits4", "nbits8"]
DECODE = ["float", "w8a8-dynamic", "w8a8-dynamic+int8", "w8a8-dynamic+int4", "w4a16-g128", "w4a16-g128+int4"]
ORT_DECODE = ["fp32", "nbits4"]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def read_text(path: Path = TEXT, first: str = "Chapter 1. Introduction") -> str:
    if not path.is_file():
        raise SystemExit(f"{path} is missing: apt-get install {CALIB_PACKAGES.get(path, 'debian-history')} "
                         "(scripts/setup.sh installs it)")
    text = gzip.open(path, "rt", encoding="utf-8").read()
    start = text.find(first)
    body = text[start if start >= 0 else 0:]
    # Paragraphs joined into lines, runs of spaces collapsed.
    paras = [re.sub(r"\s+", " ", p).strip() for p in re.split(r"\n\s*\n", body)]
    return "\n\n".join(p for p in paras if p)


def nll_and_argmax(logits: np.ndarray, ids: np.ndarray):
    z = np.asarray(logits[:-1], np.float64)
    m = z.max(-1, keepdims=True)
    logp = z - m - np.log(np.exp(z - m).sum(-1, keepdims=True))
    return -logp[np.arange(len(ids) - 1), ids[1:]], logits[:-1].argmax(-1)


def evaluate(run, windows):
    """Per window: NLLs and argmaxes of `run(ids [1, L]) -> logits [1, L, V]`."""
    nll, top = [], []
    for w in windows:
        n, a = nll_and_argmax(run(w[None, :])[0], w)
        nll.append(n)
        top.append(a)
    return np.concatenate(nll), np.concatenate(top)


def compile_quant(bin_dir: Path, onnx_path: Path, flags, out: Path, calib: Path, shape=None, reuse=False):
    if reuse and out.is_file():
        return float("nan")
    cmd = [str(bin_dir / "quant-compile"), str(onnx_path), "--quiet", "-o", str(out)]
    cmd += [str(calib) if f == "CALIB" else f for f in flags]
    if shape:
        cmd += ["--input-shape", shape]
    t = time.time()
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")
    return time.time() - t


def ort_session(path: Path, threads: int = 0):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.log_severity_level = 3
    if threads:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def ort_variant(kind: str, src: Path, work: Path, calib_windows) -> Path:
    """onnxruntime's quantized model of `kind` (written once into work)."""
    out = work / f"ort-{kind}-{src.stem}.onnx"
    if kind == "fp32":
        return src
    if out.is_file():
        return out
    from onnxruntime import quantization as oq

    log(f"  onnxruntime {kind} ...")
    if kind == "dynamic":
        oq.quantize_dynamic(str(src), str(out), weight_type=oq.QuantType.QInt8)
    elif kind == "static":
        class Reader(oq.CalibrationDataReader):
            def __init__(self):
                self.it = iter([{"input_ids": w[None, :]} for w in calib_windows])

            def get_next(self):
                return next(self.it, None)

        oq.quantize_static(str(src), str(out), Reader(), quant_format=oq.QuantFormat.QDQ,
                           activation_type=oq.QuantType.QInt8, weight_type=oq.QuantType.QInt8,
                           calibrate_method=oq.CalibrationMethod.MinMax)
    elif kind in ("nbits4", "nbits8"):
        import onnx
        from onnxruntime.quantization.matmul_nbits_quantizer import (DefaultWeightOnlyQuantConfig,
                                                                     MatMulNBitsQuantizer)

        bits = 4 if kind == "nbits4" else 8
        cfg = DefaultWeightOnlyQuantConfig(block_size=128, is_symmetric=True, bits=bits)
        q = MatMulNBitsQuantizer(onnx.load(str(src)), block_size=128, is_symmetric=True, algo_config=cfg)
        q.process()
        q.model.save_model_to_file(str(out))
    else:
        raise ValueError(kind)
    return out


def decode_speed(step, prompt, n, repeats):
    """Tokens/s of n greedy steps after a prompt; `step(ids, past) -> (logits, past)`, past None: empty."""
    rates = []
    for _ in range(repeats):
        logits, past = step(prompt[None, :], None)
        tok = np.array([[int(logits[0, -1].argmax())]], np.int64)
        t = time.perf_counter()
        for _ in range(n):
            logits, past = step(tok, past)
            tok = np.array([[int(logits[0, -1].argmax())]], np.int64)
        rates.append(n / (time.perf_counter() - t))
    return float(np.median(rates))


def step_time_isolated(so: Path, past_len: int, threads: int, vocab: int) -> float:
    """step_time of a model in a fresh Python process."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import run; "
            "print(run.step_time_of(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])))")
    r = subprocess.run([sys.executable, "-c", code, str(Path(__file__).resolve().parent), str(so), str(past_len),
                        str(threads), str(vocab)], capture_output=True, text=True, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def step_time_of(so: str, past_len: int, threads: int, vocab: int) -> float:
    m = QuantModel(so, threads=threads)
    t = step_time(cache_step(m.run, m.inputs, [o[0] for o in m.outputs]), past_len, vocab)
    m.close()
    return t


def step_time(step, past_len, vocab, repeats=15):
    """Milliseconds of one decoding step after a cache of past_len tokens (random ids), median."""
    ids = np.random.default_rng(0).integers(0, vocab, (1, past_len)).astype(np.int64)
    _, past = step(ids, None)
    tok = np.array([[1]], np.int64)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step(tok, past)
        times.append(time.perf_counter() - t)
    return float(np.median(times)) * 1e3


def cache_step(run, inputs, outputs):
    """`step(ids, past)` of a KV-cache model: `run(feeds) -> [logits, present...]`; `inputs` (name, dtype,
    shape with -1 or None for dynamic extents), `outputs` names. The cache is a dict of the next step's
    inputs (present_X -> past_X: float tensors, or codes and scales with --kv-cache); None: empty (past
    length 0)."""
    def step(ids, past):
        feeds = {"input_ids": ids}
        for name, dtype, shape in inputs:
            if name == "input_ids":
                continue
            feeds[name] = past[name] if past is not None else np.zeros(
                [ids.shape[0]] + [d if isinstance(d, int) and d >= 0 else 0 for d in shape[1:]], dtype)
        out = run(feeds)
        return out[0], {o.replace("present", "past", 1): v for o, v in zip(outputs[1:], out[1:])}
    return step


def split_scheme(name):
    """'w8a8-dynamic+int4-g32-asym-c0.9' -> ('w8a8-dynamic', quant-compile flags of the KV cache ([] for
    none)): int8|int4, then optionally -gN (--kv-group), -asym or -sym (--kv-asym=true|false), -cR
    (--kv-clip), -norot (--kv-rotate off); what is not given is quant-compile's default."""
    base, _, kv = name.partition("+")
    if not kv or kv == "float":
        return base, []
    m = re.fullmatch(r"(int8|int4)(?:-g(\d+))?(-asym|-sym)?(?:-c([0-9.]+))?(-norot)?", kv)
    if not m:
        raise ValueError(f"{name}: the KV cache is float or int8|int4[-gN][-asym|-sym][-cR][-norot]")
    flags = ["--kv-cache", m.group(1)]
    if m.group(2):
        flags += ["--kv-group", m.group(2)]
    if m.group(3):
        flags += [f"--kv-asym={'true' if m.group(3) == '-asym' else 'false'}"]
    if m.group(4):
        flags += ["--kv-clip", m.group(4)]
    if m.group(5):
        flags += ["--kv-rotate", "off"]
    return base, flags


def kv_calibration(work: Path, windows, cfg, kv_flags) -> Path:
    """Calibration samples for the KV-cache export: the windows with an empty cache, as .npz."""
    bits = 4 if "int4" in kv_flags else 8 if kv_flags else 0
    group = int(kv_flags[kv_flags.index("--kv-group") + 1]) if "--kv-group" in kv_flags else cfg.head_dim
    asym = "--kv-asym=true" in kv_flags or (bits == 4 and "--kv-asym=false" not in kv_flags)
    d = cfg.head_dim // 2 if bits == 4 else cfg.head_dim
    out = work / f"calib-kv{bits}-g{group}{'-asym' if asym else ''}"
    out.mkdir(exist_ok=True)
    for i, w in enumerate(windows):
        feeds = {"input_ids": w[None, :]}
        for layer in range(cfg.layers):
            for kind in ("key", "value"):
                name = f"past_{kind}_{layer}"
                feeds[name] = np.zeros((1, cfg.kv_heads, 0, d), np.int8 if bits else np.float32)
                if bits:
                    feeds[name + "_scale"] = np.zeros((1, cfg.kv_heads, 0, cfg.head_dim // group), np.float32)
                if asym:
                    feeds[name + "_zero"] = np.zeros((1, cfg.kv_heads, 0, cfg.head_dim // group), np.int8)
        np.savez(out / f"sample_{i:03d}.npz", **feeds)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--schemes", default=",".join(SCHEMES), help="quant schemes (%(default)s)")
    p.add_argument("--ort", default=",".join(ORT), help="onnxruntime variants (%(default)s); '' for none")
    p.add_argument("--windows", type=int, default=8)
    p.add_argument("--window-len", type=int, default=256)
    p.add_argument("--calib-windows", type=int, default=56)
    p.add_argument("--calib-source", choices=["history", "faq", "both"], default="history",
                   help="calibration text: the evaluation document's first windows (history), the Debian "
                        "FAQ, or both (the 56 windows the evaluation document leaves, then FAQ windows up "
                        "to --calib-windows) (%(default)s)")
    p.add_argument("--decode", type=int, default=128, help="decode steps (0: no decode table)")
    p.add_argument("--decode-schemes", default=",".join(DECODE))
    p.add_argument("--ort-decode", default=",".join(ORT_DECODE))
    p.add_argument("--step-past", default="",
                   help="also time one decoding step after caches of these lengths (e.g. 16,512), at the "
                        "first of --threads: ms per step, median of 15, for every --decode-schemes model, "
                        "each in a fresh process")
    p.add_argument("--threads", default="1,2")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--quant-bin", type=Path, default=ROOT / "build" / "bin")
    p.add_argument("--model-dir", type=Path, default=MODEL_DIR)
    p.add_argument("--work", type=Path, help="keep compiled models here (default: a temporary directory)")
    p.add_argument("--reuse", action="store_true",
                   help="with --work, use the models already compiled there instead of compiling again")
    p.add_argument("--tiny", type=Path, help="the test suite's small version, in this directory")
    p.add_argument("--custom", action="append", default=[], metavar="NAME=FLAGS",
                   help="an extra quant scheme, run after --schemes: quant-compile flags, CALIB standing "
                        "for the calibration directory (repeatable)")
    a = p.parse_args(argv)
    schemes = [s for s in a.schemes.split(",") if s]
    for c in a.custom:
        name, _, flags = c.partition("=")
        if not name or not flags:
            p.error(f"--custom expects NAME=FLAGS, got {c!r}")
        SCHEMES[name] = shlex.split(flags)
        schemes.append(name)
    orts = [s for s in a.ort.split(",") if s]
    for s in schemes + [x for x in a.decode_schemes.split(",") if x]:
        try:
            base, _ = split_scheme(s)
        except ValueError as e:
            p.error(str(e))
        if base not in SCHEMES:
            p.error(f"unknown scheme {s}; choose from {','.join(SCHEMES)}")
    for s in orts:
        if s not in ORT:
            p.error(f"unknown onnxruntime variant {s}; choose from {','.join(ORT)}")
    threads = [int(t) for t in a.threads.split(",") if t]

    work_ctx = tempfile.TemporaryDirectory(prefix="quant-llm-") if a.work is None else None
    work = Path(work_ctx.name) if work_ctx else a.work
    work.mkdir(parents=True, exist_ok=True)

    if a.tiny:
        sys.path.insert(0, str(ROOT / "test" / "e2e" / "Inputs"))
        import tiny_llama

        cfg = tiny_llama.CFG
        a.tiny.mkdir(parents=True, exist_ok=True)
        w = tiny_llama.weights(cfg)
        for kv, name in ((False, "tiny.onnx"), (True, "tiny-kv.onnx")):
            smollm2.save_onnx(smollm2.build_onnx(cfg, w, kv_cache=kv), a.tiny / name)
        onnx_path, kv_path = a.tiny / "tiny.onnx", a.tiny / "tiny-kv.onnx"
        tokens = np.random.default_rng(7).integers(0, cfg.vocab, 4096).astype(np.int64)
        source = "random tokens"
    else:
        import json

        cfg = smollm2.Config(**json.loads((a.model_dir / "config.json").read_text()))
        onnx_path, kv_path = a.model_dir / smollm2.ONNX, a.model_dir / smollm2.ONNX_KV
        if not onnx_path.is_file():
            raise SystemExit(f"{onnx_path} is missing: scripts/fetch_models.py --models smollm2")
        from tokenizers import Tokenizer

        tok = Tokenizer.from_file(str(a.model_dir / smollm2.TOKENIZER))
        tokens = np.array(tok.encode(read_text()).ids, np.int64)
        source = f"{TEXT.name} ({len(tokens)} tokens)"
    L = a.window_len
    calib_tokens = tokens
    need = (a.windows + a.calib_windows) * L
    own = a.calib_windows  # calibration windows taken from the evaluation document
    if a.calib_source in ("faq", "both") and not a.tiny:
        own = 0 if a.calib_source == "faq" else min(a.calib_windows, len(tokens) // L - a.windows)
        calib_tokens = np.array(tok.encode(read_text(FAQ, "Chapter 1. Definitions and overview")).ids, np.int64)
        source += (f", calibrated on {'its first ' + str(own) + ' windows and ' if own else ''}"
                   f"{FAQ.name} ({len(calib_tokens)} tokens)")
        need = (a.windows + own) * L
        if len(calib_tokens) < (a.calib_windows - own) * L:
            raise SystemExit(f"{FAQ.name} has {len(calib_tokens)} tokens, {(a.calib_windows - own) * L} "
                             "are needed")
    if len(tokens) < need:
        raise SystemExit(f"the text has {len(tokens)} tokens, {need} are needed")
    calib_windows = ([tokens[i * L:(i + 1) * L] for i in range(own)] +
                     [calib_tokens[i * L:(i + 1) * L] for i in range(a.calib_windows - own)])
    eval_windows = [tokens[len(tokens) - (a.windows - i) * L:len(tokens) - (a.windows - i - 1) * L]
                    for i in range(a.windows)]
    calib_dir = work / "calib"
    calib_dir.mkdir(exist_ok=True)
    for i, wdw in enumerate(calib_windows):
        np.save(calib_dir / f"sample_{i:03d}.npy", wdw[None, :])

    rows, ref_top = [], None
    shape = f"input_ids=1,{L}"
    for s in schemes:
        so = work / f"{s}.so"
        log(f"quant {s}: compiling ...")
        base, kv = split_scheme(s)
        if "+" in s:
            # The KV-cache export, each window one call with an empty cache:
            # attention reads the cache as stored, the window's own rows too.
            calib = kv_calibration(work, calib_windows, cfg, kv) if "CALIB" in SCHEMES[base] else calib_dir
            secs = compile_quant(a.quant_bin, kv_path, SCHEMES[base] + kv, so, calib, None, a.reuse)
            m = QuantModel(str(so), threads=0)
            step = cache_step(m.run, m.inputs, [o[0] for o in m.outputs])
            nll, top = evaluate(lambda ids: step(ids, None)[0], eval_windows)
        else:
            secs = compile_quant(a.quant_bin, onnx_path, SCHEMES[s], so, calib_dir, shape, a.reuse)
            m = QuantModel(str(so), threads=0)
            nll, top = evaluate(lambda ids: m.run({"input_ids": ids})[0], eval_windows)
        m.close()
        if s == "float":
            ref_top = top
        rows.append({"who": "quant", "scheme": s, "nll": nll, "top": top, "size": so.stat().st_size,
                     "compile_s": secs})
        log(f"  ppl {math.exp(nll.mean()):.3f} (compile {secs:.0f} s)")
    for k in orts:
        path = ort_variant(k, onnx_path, work, calib_windows)
        sess = ort_session(path)
        nll, top = evaluate(lambda ids: sess.run(["logits"], {"input_ids": ids})[0], eval_windows)
        rows.append({"who": "onnxruntime", "scheme": k, "nll": nll, "top": top, "size": path.stat().st_size})
        log(f"onnxruntime {k}: ppl {math.exp(nll.mean()):.3f}")

    fp32 = next((r for r in rows if r["who"] == "quant" and r["scheme"] == "float"), None)
    print(f"Perplexity of SmolLM2-135M{' (tiny)' if a.tiny else ''} over {a.windows} windows of {L} tokens "
          f"of {source}; calibration: {a.calib_windows} disjoint windows.\n")
    print("| model | scheme | ppl | vs quant FP32 | top-1 agreement with quant FP32 | size (MB) |")
    print("| --- | --- | --- | --- | --- | --- |")
    for r in rows:
        ppl = math.exp(r["nll"].mean())
        rel = f"{(ppl / math.exp(fp32['nll'].mean()) - 1) * 100:+.1f}%" if fp32 else "-"
        agree = f"{(r['top'] == ref_top).mean() * 100:.1f}%" if ref_top is not None else "-"
        print(f"| {r['who']} | {r['scheme']} | {ppl:.3f} | {rel} | {agree} | {r['size'] / 1e6:.1f} |")

    if a.decode:
        print(f"\nDecode: batch 1, {16}-token prompt, {a.decode} new tokens (greedy), tokens/s, "
              f"median of {a.repeats}.\n")
        print("| model | scheme | " + " | ".join(f"{t} thread{'s' if t > 1 else ''}" for t in threads) + " |")
        print("| --- | --- | " + " | ".join("---" for _ in threads) + " |")
        prompt = eval_windows[0][:16]
        pasts = [int(x) for x in a.step_past.split(",") if x]
        step_ms = []
        for s in [x for x in a.decode_schemes.split(",") if x]:
            so = work / f"{s.replace('+', '-kv-')}-kv.so"
            log(f"quant {s} (KV cache): compiling ...")
            base, kv = split_scheme(s)
            calib = kv_calibration(work, calib_windows, cfg, kv) if "CALIB" in SCHEMES[base] else calib_dir
            compile_quant(a.quant_bin, kv_path, SCHEMES[base] + kv, so, calib, reuse=a.reuse)
            rates = []
            for t in threads:
                m = QuantModel(str(so), threads=t)
                step = cache_step(m.run, m.inputs, [o[0] for o in m.outputs])
                rates.append(decode_speed(step, prompt, a.decode, a.repeats))
                m.close()
            print(f"| quant | {s} | " + " | ".join(f"{r:.1f}" for r in rates) + " |")
            if pasts:
                # Each in a process of its own: the runtime's buffer cache and
                # thread pool keep state from the runs before.
                step_ms.append((s, [step_time_isolated(so, p_len, threads[0], cfg.vocab) for p_len in pasts]))
        for k in [x for x in a.ort_decode.split(",") if x]:
            path = ort_variant(k, kv_path, work, calib_windows)
            rates = []
            for t in threads:
                sess = ort_session(path, t)
                ins = [(i.name, np.int64 if "int64" in i.type else np.float32, i.shape) for i in sess.get_inputs()]
                names = [o.name for o in sess.get_outputs()]
                step = cache_step(lambda f, sess=sess, names=names: sess.run(names, f), ins, names)
                rates.append(decode_speed(step, prompt, a.decode, a.repeats))
            print(f"| onnxruntime | {k} | " + " | ".join(f"{r:.1f}" for r in rates) + " |")
        if pasts:
            print(f"\nOne decoding step after a cache of P tokens (random ids), {threads[0]} "
                  f"thread{'s' if threads[0] > 1 else ''}, ms, median of 15, a fresh process each.\n")
            print("| scheme | " + " | ".join(f"P = {p_len}" for p_len in pasts) + " |")
            print("| --- | " + " | ".join("---" for _ in pasts) + " |")
            for s, ms in step_ms:
                print(f"| {s} | " + " | ".join(f"{t:.2f}" for t in ms) + " |")
    if work_ctx:
        work_ctx.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
