#!/usr/bin/env python3
"""Generates the linear-layer tensor-core kernels that bench/gpu/linear_kernels.py
checks on a GPU: one .mlir of qc.linear / qc.quantized_linear layers covering
every kernel variant (integer and float, scales per tensor / row / channel,
zero points, 8-bit unsigned activations, bias, K and N that are not multiples
of the tiles), run through `quant-opt --qc-gpu-generate-linear-kernels` and
upstream's NVVM pipeline to PTX, one file per chip.

  .venv/bin/python bench/gpu/make_linear_kernels.py --out bench/gpu/out

needs no GPU (ptxas checks each file when the CUDA toolkit is found). The
PTX then travels to a GPU machine with the folder (docs/gpu.md).
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# (kind, n, k, input format, x scale per row, x zero point, w per channel, bias)
LAYERS = [
    ("s8", 96, 64, "int8", True, False, True, True),
    ("s8", 576, 576, "int8", True, False, True, False),    # SmolLM2 q_proj
    ("s8", 1536, 576, "int8", False, False, True, False),  # gate/up, static
    ("s8", 576, 1536, "int8", True, False, True, False),   # down_proj
    ("s8", 10, 48, "uint8", False, True, True, True),      # unsigned + zp
    ("s8", 40, 72, "int8", True, True, False, True),       # K tail, zp per row
    ("s8", 33, 40, "uint8", True, False, False, False),    # 8-byte loads
    ("s8", 64, 4096, "int4", False, False, True, False),   # 4-bit codes
    ("f16", 24, 40, None, False, False, False, True),
    ("f16", 576, 576, None, False, False, False, False),
    ("f16", 100, 36, None, False, False, False, True),     # 8-byte loads
]


def layer_func(i, layer):
    kind, n, k, fmt, xrow, xzp, wch, bias = layer
    if kind == "f16":
        args = [f"%x: tensor<?x{k}xf32>", f"%w: tensor<{n}x{k}xf32>"]
        ops = ["%x", "%w"]
        types = [f"tensor<?x{k}xf32>", f"tensor<{n}x{k}xf32>"]
        if bias:
            args.append(f"%b: tensor<{n}xf32>")
            ops.append("%b")
            types.append(f"tensor<{n}xf32>")
        body = (f"  %y = qc.linear {', '.join(ops)} : ({', '.join(types)}) "
                f"-> tensor<?x{n}xf32>\n")
        return (f"func.func @l{i}({', '.join(args)}) -> tensor<?x{n}xf32> {{\n"
                f"{body}  return %y : tensor<?x{n}xf32>\n}}\n")
    xbits = int(re.sub(r"\D", "", fmt))
    xs = "tensor<?x1xf32>" if xrow else "tensor<f32>"
    xz = f"tensor<?x1xi{xbits}>" if xrow else f"tensor<i{xbits}>"
    ws = f"tensor<{n}xf32>" if wch else "tensor<f32>"
    args = [f"%x: tensor<?x{k}xi{xbits}>", f"%xs: {xs}"]
    types = [f"tensor<?x{k}xi{xbits}>", xs]
    text = "%x, %xs"
    if xzp:
        args.append(f"%xz: {xz}")
        types.append(xz)
        text += " zero_point %xz"
    args += [f"%w: tensor<{n}x{k}xi8>", f"%ws: {ws}"]
    types += [f"tensor<{n}x{k}xi8>", ws]
    text += " weight %w, %ws"
    if bias:
        args.append(f"%b: tensor<{n}xf32>")
        types.append(f"tensor<{n}xf32>")
        text += " bias %b"
    body = (f"  %y = qc.quantized_linear {text} {{input_format = #qc.format<{fmt}>, "
            f"weight_format = #qc.format<int8>}} : ({', '.join(types)}) -> "
            f"tensor<?x{n}xf32>\n")
    return (f"func.func @l{i}({', '.join(args)}) -> tensor<?x{n}xf32> {{\n"
            f"{body}  return %y : tensor<?x{n}xf32>\n}}\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default=str(ROOT / "bench/gpu/out"))
    ap.add_argument("--build-dir", default=str(ROOT / "build"))
    ap.add_argument("--chips", default="sm_80,sm_89,sm_90a")
    a = ap.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    src = out / "linear_layers.mlir"
    src.write_text("".join(layer_func(i, l) for i, l in enumerate(LAYERS)))
    opt = Path(a.build_dir) / "bin/quant-opt"
    gen = out / "linear_kernels.mlir"
    subprocess.run([str(opt), str(src), "--qc-gpu-generate-linear-kernels",
                    "-o", str(gen)], check=True)
    # The kernels alone, through the NVVM pipeline (mlir-opt has it whole).
    text = gen.read_text()
    start = text.index("  gpu.module @qc_gpu_kernels")
    kernels = out / "kernels_only.mlir"
    kernels.write_text("module attributes {gpu.container_module} {\n" +
                       text[start:text.rindex("}")] + "}\n")
    mlir_opt = shutil.which("mlir-opt-22") or "/usr/lib/llvm-22/bin/mlir-opt"
    ptxas = shutil.which("ptxas") or "/usr/local/cuda/bin/ptxas"
    for chip in a.chips.split(","):
        lowered = out / f"kernels.{chip}.mlir"
        subprocess.run([mlir_opt, str(kernels),
                        "--gpu-lower-to-nvvm-pipeline=cubin-chip=" + chip +
                        " cubin-features=+ptx80 cubin-format=isa opt-level=3",
                        "-o", str(lowered)], check=True)
        m = re.search(r'assembly = "(.*?)">', lowered.read_text(), re.S)
        ptx = re.sub(r"\\([0-9A-Fa-f]{2})",
                     lambda mm: chr(int(mm.group(1), 16)), m.group(1))
        (out / f"linear_kernels.{chip}.ptx").write_text(ptx)
        lowered.unlink()
        if os.access(ptxas, os.X_OK):
            subprocess.run([ptxas, f"-arch={chip}", "-O3",
                            str(out / f"linear_kernels.{chip}.ptx"), "-o",
                            str(out / f"linear_kernels.{chip}.cubin")],
                           check=True)
    names = sorted(set(re.findall(r"\.entry (\w+)", ptx)))
    print(f"{len(names)} kernels for {a.chips} in {out}")


if __name__ == "__main__":
    sys.exit(main())
