//===- QCOps.td - qc dialect operations ---------------------*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_IR_QCOPS_TD
#define QUANT_DIALECT_QC_IR_QCOPS_TD

include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "quant/Dialect/QC/IR/QCDialect.td"
include "quant/Dialect/QC/IR/QCAttrs.td"

def QC_FloatTensor : RankedTensorOf<[AnyFloat]>;
def QC_IntTensor : RankedTensorOf<[AnySignlessInteger]>;
def QC_QuantizedTensor : RankedTensorOf<[AnySignlessInteger, AnyFloat]>;

//===----------------------------------------------------------------------===//
// Linear algebra
//===----------------------------------------------------------------------===//

def QC_LinearOp : QC_Op<"linear", [Pure]> {
  let summary = "fully connected layer: y = x * transpose(W) + b";
  let description = [{
    Multiplies the last dimension of `input` (`[..., K]`) by the transpose of
    `weight` (`[N, K]`, output features first, as in PyTorch and ONNX Gemm with
    `transB = 1`) and adds the optional `bias` (`[N]`). The result has shape
    `[..., N]`. All element types are equal.

    The quantization passes treat a `qc.linear` whose weight is a constant as
    a layer they may rewrite: smoothing scales and rotations are folded into
    the weight, and the weight is quantized per output channel (axis 0).

    ```mlir
    %y = qc.linear %x, %w, %b
        : (tensor<4x16x64xf32>, tensor<128x64xf32>, tensor<128xf32>)
        -> tensor<4x16x128xf32>
    ```
  }];
  let arguments = (ins QC_FloatTensor:$input, QC_FloatTensor:$weight,
                       Optional<QC_FloatTensor>:$bias);
  let results = (outs QC_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def QC_BatchMatmulOp : QC_Op<"batch_matmul", [Pure]> {
  let summary = "batched product of two activations";
  let description = [{
    `lhs` is `[B..., M, K]`; `rhs` is `[B..., K, N]`, or `[B..., N, K]` when
    `transpose_rhs` is set. The result is `[B..., M, N]`. Batch dimensions are
    equal (the importer broadcasts explicitly). Attention's `Q * K^T` and
    `P * V` products are this op; unlike `qc.linear` neither side is a
    constant, so both sides get activation quantization.

    ```mlir
    %s = qc.batch_matmul %q, %k {transpose_rhs}
        : (tensor<2x8x128x64xf32>, tensor<2x8x128x64xf32>) -> tensor<2x8x128x128xf32>
    ```
  }];
  let arguments = (ins QC_FloatTensor:$lhs, QC_FloatTensor:$rhs,
                       UnitAttr:$transpose_rhs);
  let results = (outs QC_FloatTensor:$output);
  let assemblyFormat = [{
    $lhs `,` $rhs attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Normalisations
//===----------------------------------------------------------------------===//

def QC_LayerNormOp : QC_Op<"layer_norm", [Pure]> {
  let summary = "layer normalisation over the trailing dimensions";
  let description = [{
    Normalises `input` over dimensions `[axis, rank)` (negative `axis` counts
    from the end), then scales by `gamma` and shifts by the optional `beta`,
    both shaped like those trailing dimensions:
    `y = (x - mean) / sqrt(var + epsilon) * gamma + beta`, with the population
    variance, as ONNX LayerNormalization.

    Smoothing (SmoothQuant) divides `gamma` and `beta` by per-channel factors
    and rotations need the per-channel affine part separated; both passes
    rewrite these operands.
  }];
  let arguments = (ins QC_FloatTensor:$input, QC_FloatTensor:$gamma,
                       Optional<QC_FloatTensor>:$beta,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon,
                       DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs QC_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $gamma (`,` $beta^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def QC_RMSNormOp : QC_Op<"rms_norm", [Pure]> {
  let summary = "root-mean-square normalisation over the trailing dimensions";
  let description = [{
    `y = x / sqrt(mean(x^2) + epsilon) * gamma`, the mean taken over
    dimensions `[axis, rank)`; `gamma` is shaped like those dimensions
    (ONNX RMSNormalization, LLaMA-style RMSNorm). A rotation `Q` commutes with
    the normalisation itself, which is why QuaRot-style rotation first folds
    `gamma` into the next layer's weights.
  }];
  let arguments = (ins QC_FloatTensor:$input, QC_FloatTensor:$gamma,
                       DefaultValuedAttr<F32Attr, "1.0e-5">:$epsilon,
                       DefaultValuedAttr<I64Attr, "-1">:$axis);
  let results = (outs QC_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $gamma attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Rotation
//===----------------------------------------------------------------------===//

def QC_HadamardOp : QC_Op<"hadamard", [Pure, SameOperandsAndResultType]> {
  let summary = "orthonormal Hadamard transform over the last dimension";
  let description = [{
    `y = x * H_n / sqrt(n)` over the last dimension, of size `n = 2^k * m`
    with `m` in {1, 12, 20, 28}, or `n = 2^k * m1 * m2` with `m1`, `m2` in
    {12, 20, 28} (576 = 4 * 12 * 12). `H_n` is the Kronecker product of the
    Sylvester matrix of order `2^k` and Paley type II matrices of orders
    `m` (or `m1` then `m2`, `m2` the smallest that works); all factors are
    symmetric, so `H_n / sqrt(n)` is symmetric and orthogonal: the transform
    is its own inverse. Two successive
    `qc.hadamard` ops fold away, and a constant input folds to a constant.

    QuaRot-style rotation inserts this op online where a rotation cannot be
    fused into a neighbouring weight (for example before a down projection).

    ```mlir
    %r = qc.hadamard %x : tensor<16x768xf32>
    ```
  }];
  let arguments = (ins QC_FloatTensor:$input);
  let results = (outs QC_FloatTensor:$output);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
  let hasFolder = 1;
}

//===----------------------------------------------------------------------===//
// Quantization
//===----------------------------------------------------------------------===//

defvar QC_GranularityDoc = [{
    The granularity follows from `axis` and `group_size`, and `scale` (and
    `zero_point`, when present) must be shaped accordingly:

    | attributes | granularity | scale shape |
    | --- | --- | --- |
    | none | per tensor | `[]` |
    | `axis = a` | per channel along `a` | `[d_a]` |
    | `axis = a, group_size = g` | blocks of `g` along `a` | input shape with `d_a` replaced by `ceil(d_a / g)` |

    Per-token dynamic activation scales are blocks covering the whole last
    dimension (`axis = -1, group_size = d_last`): scale `[..., 1]`. Weight
    group quantization of a `[N, K]` weight is `axis = 1, group_size = 128`:
    scale `[N, K / 128]`. `zero_point` has the storage element type and the
    same shape as `scale`; float formats take no zero point.
  }];

def QC_QuantizeOp : QC_Op<"quantize", [Pure]> {
  let summary = "quantize floats to a format with SSA scales and zero points";
  let description = [{
    `q = saturate(round_half_even(x / scale) + zero_point)` for integer
    formats, `q = round_half_even_to_format(saturate(x / scale))` for float
    formats. Saturation clamps to the format's finite range, so no value
    becomes an infinity or NaN except a NaN input (integer formats map NaN to
    the zero point).
  }] # QC_GranularityDoc # [{

    ```mlir
    %q = qc.quantize %w, %s {format = #qc.format<int4>, axis = 1 : i64, group_size = 128 : i64}
        : (tensor<256x512xf32>, tensor<256x4xf32>) -> tensor<256x512xi4>
    ```

    A constant input with constant scales and zero points folds to a
    constant of the storage type; `quantize(dequantize(q, s, z), s, z)` with
    the same format and granularity folds to `q`.
  }];
  let arguments = (ins QC_FloatTensor:$input, QC_FloatTensor:$scale,
                       Optional<QC_IntTensor>:$zero_point,
                       QC_FormatAttr:$format,
                       OptionalAttr<I64Attr>:$axis,
                       OptionalAttr<I64Attr>:$group_size);
  let results = (outs QC_QuantizedTensor:$output);
  let assemblyFormat = [{
    $input `,` $scale (`,` $zero_point^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let hasFolder = 1;
}

def QC_DequantizeOp : QC_Op<"dequantize", [Pure]> {
  let summary = "dequantize a format with SSA scales and zero points to floats";
  let description = [{
    `x = (q - zero_point) * scale` for integer formats (the bits of `q` read
    as signed or unsigned as the format says), `x = q * scale` for float
    formats. For a mixture format (`bitmod3`, `bitmod4`) the third operand
    is not a zero point but each slot's table selector (0..3, required):
    `x = table[selector][q] * scale` (`#qc.format` lists the tables). The
    result element type equals the scale's.
  }] # QC_GranularityDoc # [{

    ```mlir
    %x = qc.dequantize %q, %s, %z {format = #qc.format<uint8>}
        : (tensor<16x64xi8>, tensor<f32>, tensor<i8>) -> tensor<16x64xf32>
    ```
  }];
  let arguments = (ins QC_QuantizedTensor:$input, QC_FloatTensor:$scale,
                       Optional<QC_IntTensor>:$zero_point,
                       QC_FormatAttr:$format,
                       OptionalAttr<I64Attr>:$axis,
                       OptionalAttr<I64Attr>:$group_size);
  let results = (outs QC_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $scale (`,` $zero_point^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Quantized contractions
//===----------------------------------------------------------------------===//

def QC_QuantizedLinearOp : QC_Op<"quantized_linear",
                                 [Pure, AttrSizedOperandSegments]> {
  let summary = "a linear layer on integer codes, without a storage layout";
  let description = [{
    `qc.linear(dequantize(input), dequantize(weight), bias)`, said as one
    op so that a target computes it on the codes (sums of code products,
    then the scales) and chooses how to store the weight codes:

    - `input`: codes `[..., K]` of `input_format`, with `input_scale` and
      the optional `input_zero_point` per tensor (`[]`) or per row
      (`[..., 1]`, as dynamic per-token quantization leaves them);
    - `weight`: codes `[N, K]` of `weight_format`, symmetric (no zero
      point), with `weight_scale` per tensor (`[]`) or per output channel
      (`[N]`);
    - `bias`: optional `[N]` floats; the result `[..., N]` is float.

    Both formats are integers of at most 8 bits and K is below 2^16, so
    every sum of code products is exact in a 32-bit integer: a target may
    accumulate the codes in i32 and apply
    `y = bias + s_x * s_w[n] * (acc - z_x * sum_k w[n, k])`.

    The op carries no layout: `qc-form-quantized-contractions` forms it from
    the QDQ form `qc-quantize` leaves, and a target's encoding step lowers
    it to the layout it wants (`#qc.encoding`).

    ```mlir
    %y = qc.quantized_linear %xq, %xs weight %wq, %ws bias %b
        {input_format = #qc.format<int8>, weight_format = #qc.format<int8>}
        : (tensor<?x64xi8>, tensor<?x1xf32>, tensor<32x64xi8>, tensor<32xf32>,
           tensor<32xf32>) -> tensor<?x32xf32>
    ```
  }];
  let arguments = (ins QC_IntTensor:$input, QC_FloatTensor:$input_scale,
                       Optional<QC_IntTensor>:$input_zero_point,
                       QC_IntTensor:$weight, QC_FloatTensor:$weight_scale,
                       Optional<QC_FloatTensor>:$bias,
                       QC_FormatAttr:$input_format,
                       QC_FormatAttr:$weight_format);
  let results = (outs QC_FloatTensor:$output);
  let assemblyFormat = [{
    $input `,` $input_scale (`zero_point` $input_zero_point^)? `weight`
    $weight `,` $weight_scale (`bias` $bias^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def QC_QuantizedContractionOp : QC_Op<"quantized_contraction", [Pure]> {
  let summary = "a multiply-accumulate on integer codes over indexing maps "
                "(convolutions, Einsum forms), without a storage layout";
  let description = [{
    `out[o] = init[o] + sum over the reduction loops of
    dequantize(lhs)[lhs_map] * dequantize(rhs)[rhs_map]`: a
    `linalg.generic` multiply-accumulate whose operands are quantized,
    said as one op (convolutions keep their loops and maps here, so one op
    serves every form the importer writes).

    - `lhs` (the activation): codes of `lhs_format` with a per-tensor
      `lhs_scale` (`[]`) and optional `lhs_zero_point` (`[]`);
    - `rhs` (the weight): symmetric codes of `rhs_format` with `rhs_scale`
      per tensor (`[]`) or per channel: its shape is the extents of
      `rhs`'s dims `rhs_channel_dims` (several when a reshape split the
      channel axis, as grouped convolutions do). Each of those dims has
      extent 1 or is indexed by a parallel loop the output is indexed by.
    - `indexing_maps` (lhs, rhs, output) and `iterator_types` as
      `linalg.generic`'s; the output map is a projected permutation.

    Both formats are integers of at most 8 bits and the reduction loops
    have static extents whose product is below 2^16, so every sum of code
    products is exact in a 32-bit integer. Like `qc.quantized_linear` it
    carries no layout: targets choose one when they lower it.

    ```mlir
    %y = qc.quantized_contraction %x, %xs weight %w, %ws init %acc
        {indexing_maps = [affine_map<(n, k) -> (k)>, affine_map<(n, k) -> (n, k)>,
                          affine_map<(n, k) -> (n)>],
         iterator_types = ["parallel", "reduction"], rhs_channel_dims = array<i64: 0>,
         lhs_format = #qc.format<int8>, rhs_format = #qc.format<int8>}
        : (tensor<64xi8>, tensor<f32>, tensor<32x64xi8>, tensor<32xf32>, tensor<32xf32>)
        -> tensor<32xf32>
    ```
  }];
  let arguments = (ins QC_IntTensor:$lhs, QC_FloatTensor:$lhs_scale,
                       Optional<QC_IntTensor>:$lhs_zero_point,
                       QC_IntTensor:$rhs, QC_FloatTensor:$rhs_scale,
                       QC_FloatTensor:$init,
                       QC_FormatAttr:$lhs_format, QC_FormatAttr:$rhs_format,
                       AffineMapArrayAttr:$indexing_maps,
                       StrArrayAttr:$iterator_types,
                       DenseI64ArrayAttr:$rhs_channel_dims);
  let results = (outs QC_FloatTensor:$output);
  let assemblyFormat = [{
    $lhs `,` $lhs_scale (`zero_point` $lhs_zero_point^)? `weight` $rhs `,`
    $rhs_scale `init` $init attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The static extent of each loop, read from the operand dims it
    /// indexes directly (ShapedType::kDynamic where none is static).
    SmallVector<int64_t> getStaticLoopRanges();
    /// Whether loop `i` is a reduction.
    bool isReductionLoop(unsigned i) {
      return cast<StringAttr>(getIteratorTypes()[i]).getValue() == "reduction";
    }
  }];
}

//===----------------------------------------------------------------------===//
// Calibration
//===----------------------------------------------------------------------===//

def QC_ObserveOp : QC_Op<"observe", [MemoryEffects<[MemWrite]>]> {
  let summary = "record calibration statistics of a tensor into a named slot";
  let description = [{
    Calibration compiles the float model with observers and runs it over the
    calibration set; each observer accumulates the statistics of its operand
    into the slot `slot`: count, extremes, sum and sum of squares, and a
    histogram. With `channel_axis`, the extremes and squares are kept per
    channel along that axis as well, and with `second_moment` (which needs
    `channel_axis`) the matrix sum x x^T over the vectors x along that axis.
    Several observers may name one slot: their statistics merge (the operand
    shapes must then agree along `channel_axis`). The op has a write effect
    so it is never removed as dead code.

    With `patch_kernel`, `patch_strides` and `patch_dilations` (one entry
    per axis after `channel_axis`, all three with `second_moment`), the
    second moment is a convolution's: over the im2col vectors
    `x[..., c, o_0 s_0 + k_0 d_0, ...]` indexed by `(c, k_0, ...)` in
    row-major order, one per output position `o` (and per index of the
    axes before `channel_axis`), of size C * prod(k) (what GPTQ reads for a
    convolution whose weight is [M, C, k...]). The operand is the already
    padded input.

    The result is the module's statistics side table `qc.stats`, one
    `#qc.tensor_stats` per slot (see `qc-insert-observers`,
    `qc-expose-observers`).

    ```mlir
    qc.observe %x as "layers.0.mlp.in" {channel_axis = -1 : i64} : tensor<8x128xf32>
    qc.observe %x as "fc1" {channel_axis = 1 : i64, second_moment} : tensor<8x128xf32>
    qc.observe %p as "conv1#patch" {channel_axis = 2 : i64, second_moment,
        patch_kernel = array<i64: 3, 3>, patch_strides = array<i64: 2, 2>,
        patch_dilations = array<i64: 1, 1>} : tensor<1x1x16x34x34xf32>
    ```
  }];
  let arguments = (ins QC_FloatTensor:$input, StrAttr:$slot,
                       OptionalAttr<I64Attr>:$channel_axis,
                       UnitAttr:$second_moment,
                       OptionalAttr<DenseI64ArrayAttr>:$patch_kernel,
                       OptionalAttr<DenseI64ArrayAttr>:$patch_strides,
                       OptionalAttr<DenseI64ArrayAttr>:$patch_dilations);
  let assemblyFormat = "$input `as` $slot attr-dict `:` type($input)";
  let hasVerifier = 1;
}

#endif // QUANT_DIALECT_QC_IR_QCOPS_TD
