//===- Passes.td - GPU code generation passes ---------------*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_TARGET_GPU_PASSES_TD
#define QUANT_TARGET_GPU_PASSES_TD

include "mlir/Pass/PassBase.td"

def QCGPUGenerateLinearKernelsPass
    : Pass<"qc-gpu-generate-linear-kernels", "ModuleOp"> {
  let summary = "Tensor-core kernels (mma.sync) for the model's linear layers";
  let description = [{
    For every `qc.quantized_linear` whose codes are integers of at most 8
    bits and every float `qc.linear` with a constant weight, with static N
    and K, adds to the `gpu.module @qc_gpu_kernels` (created when missing)
    the kernels that compute it on NVIDIA tensor cores, and names them on the
    op (`qc.gpu_kernels = [@qc_gpu_kernels::@..., ...]`). Layers of the same
    kind and shape share their kernels.

    - Integer layers: `mma.sync.m16n8k32` on s8 codes with s32
      accumulation; unsigned 8-bit activations are shifted by 128 as they
      are staged (`x - 128`, the difference folded into the zero-point
      term); the epilogue applies
      `y = bias + s_x * s_w[n] * (acc - z_x * sum_k w[n, k])`.
    - Float layers: `mma.sync.m16n8k16` on f16 operands with f32
      accumulation and the bias in the epilogue.

    Each layer gets two kernels, chosen at run time by the number of rows M
    (the analytical model of docs/gpu.md): `_rows` (blocks of 64 rows by
    up to 128 columns, 2 x N/32 warps, each warp 32 x 32) for M > 16 and
    `_few` (blocks of 16 rows by 64 columns, 4 warps of 16 x 16) for decode
    shapes. A block stages its A and B tiles through shared memory (rows
    padded by 16 bytes against bank conflicts) with 16-byte loads where K
    allows, and reads the mma fragments from there.

    Kernel parameters, in order (memrefs, each passed as upstream's
    descriptor: allocated and aligned pointers, offset, sizes, strides): the
    activation `[M, K]`, its scale (`[1]` or `[M]`), its zero point
    (`[1]` or `[M]` i32, when it has one), the weight `[N, K]` (codes as
    i8, or f16), its scale (`[1]` or `[N]`), `sum_k w[n, k]` (`[N]` i32,
    when the zero-point term is needed), the bias `[N]` (when present),
    the output `[M, N]` f32; float kernels take only the activation,
    weight, bias and output. Grid: `(ceil(N / BN), ceil(M / BM))`; block:
    32 x warps threads (`gpu.known_block_size`).
  }];
  let dependentDialects = ["::mlir::gpu::GPUDialect",
                           "::mlir::nvgpu::NVGPUDialect",
                           "::mlir::vector::VectorDialect",
                           "::mlir::scf::SCFDialect",
                           "::mlir::arith::ArithDialect",
                           "::mlir::memref::MemRefDialect"];
}

#endif // QUANT_TARGET_GPU_PASSES_TD
