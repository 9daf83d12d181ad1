// RUN: quant-opt %s -split-input-file -verify-diagnostics
// Every verifier error of the qc dialect.

// expected-error @+1 {{integer format width must be in [1, 16], got 0}}
func.func @int0() attributes {f = #qc.format<int0>} { return }

// -----

// expected-error @+1 {{integer format width must be in [1, 16], got 17}}
func.func @int17() attributes {f = #qc.format<uint17>} { return }

// -----

// expected-error @+1 {{unknown quantized format 'fp8'}}
func.func @unknown() attributes {f = #qc.format<fp8>} { return }

// -----

// expected-error @+1 {{unknown quantized format 'int'}}
func.func @bare_int() attributes {f = #qc.format<int>} { return }

// -----

func.func @linear_elt(%x: tensor<4x8xf32>, %w: tensor<2x8xf16>) {
  // expected-error @+1 {{input, weight, bias and result must share one element type}}
  %0 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<2x8xf16>) -> tensor<4x2xf32>
  return
}

// -----

func.func @linear_weight_rank(%x: tensor<4x8xf32>, %w: tensor<2x8x1xf32>) {
  // expected-error @+1 {{weight must be a 2-D [N, K] tensor, got rank 3}}
  %0 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<2x8x1xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @linear_scalar(%x: tensor<f32>, %w: tensor<2x8xf32>) {
  // expected-error @+1 {{input must have rank >= 1}}
  %0 = qc.linear %x, %w : (tensor<f32>, tensor<2x8xf32>) -> tensor<2xf32>
  return
}

// -----

func.func @linear_k(%x: tensor<4x8xf32>, %w: tensor<2x9xf32>) {
  // expected-error @+1 {{input feature size 8 does not match weight K = 9}}
  %0 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<2x9xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @linear_bias(%x: tensor<4x8xf32>, %w: tensor<2x8xf32>, %b: tensor<3xf32>) {
  // expected-error @+1 {{bias must be a 1-D tensor of N = 2 elements, got 'tensor<3xf32>'}}
  %0 = qc.linear %x, %w, %b : (tensor<4x8xf32>, tensor<2x8xf32>, tensor<3xf32>) -> tensor<4x2xf32>
  return
}

// -----

func.func @linear_result_rank(%x: tensor<4x8xf32>, %w: tensor<2x8xf32>) {
  // expected-error @+1 {{result rank 3 differs from input rank 2}}
  %0 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<1x4x2xf32>
  return
}

// -----

func.func @linear_result_dim(%x: tensor<4x8xf32>, %w: tensor<2x8xf32>) {
  // expected-error @+1 {{result dimension 0 (5) does not match input (4)}}
  %0 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<2x8xf32>) -> tensor<5x2xf32>
  return
}

// -----

func.func @linear_result_n(%x: tensor<?x8xf32>, %w: tensor<2x8xf32>) {
  // expected-error @+1 {{result feature size 3 does not match weight N = 2}}
  %0 = qc.linear %x, %w : (tensor<?x8xf32>, tensor<2x8xf32>) -> tensor<?x3xf32>
  return
}

// -----

func.func @bmm_elt(%a: tensor<2x4x8xf32>, %b: tensor<2x8x3xf16>) {
  // expected-error @+1 {{operands and result must share one element type}}
  %0 = qc.batch_matmul %a, %b : (tensor<2x4x8xf32>, tensor<2x8x3xf16>) -> tensor<2x4x3xf32>
  return
}

// -----

func.func @bmm_rank(%a: tensor<2x4x8xf32>, %b: tensor<8x3xf32>) {
  // expected-error @+1 {{operands and result must have one rank >= 2, got 3, 2 and 3}}
  %0 = qc.batch_matmul %a, %b : (tensor<2x4x8xf32>, tensor<8x3xf32>) -> tensor<2x4x3xf32>
  return
}

// -----

func.func @bmm_batch(%a: tensor<2x4x8xf32>, %b: tensor<3x8x3xf32>) {
  // expected-error @+1 {{batch dimension 0 differs between operands and result}}
  %0 = qc.batch_matmul %a, %b : (tensor<2x4x8xf32>, tensor<3x8x3xf32>) -> tensor<2x4x3xf32>
  return
}

// -----

func.func @bmm_k(%a: tensor<2x4x8xf32>, %b: tensor<2x3x8xf32>) {
  // expected-error @+1 {{contraction sizes differ: lhs has K = 8, rhs has K = 3}}
  %0 = qc.batch_matmul %a, %b : (tensor<2x4x8xf32>, tensor<2x3x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @bmm_result(%a: tensor<2x4x8xf32>, %b: tensor<2x3x8xf32>) {
  // expected-error @+1 {{result must be [..., 4, 3], got 'tensor<2x4x8xf32>'}}
  %0 = qc.batch_matmul %a, %b {transpose_rhs} : (tensor<2x4x8xf32>, tensor<2x3x8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @norm_result(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{result type 'tensor<2x8xf16>' must equal the input type 'tensor<2x8xf32>'}}
  %0 = qc.layer_norm %x, %g : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf16>
  return
}

// -----

func.func @norm_scalar(%x: tensor<f32>, %g: tensor<f32>) {
  // expected-error @+1 {{input must have rank >= 1}}
  %0 = qc.rms_norm %x, %g : (tensor<f32>, tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @norm_axis(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{axis 2 is out of range for rank 2}}
  %0 = qc.layer_norm %x, %g {axis = 2 : i64} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @norm_eps(%x: tensor<2x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{epsilon must be a non-negative number}}
  %0 = qc.rms_norm %x, %g {epsilon = -1.0 : f32} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @norm_gamma_elt(%x: tensor<2x8xf32>, %g: tensor<8xf16>) {
  // expected-error @+1 {{gamma element type 'f16' differs from the input's}}
  %0 = qc.rms_norm %x, %g : (tensor<2x8xf32>, tensor<8xf16>) -> tensor<2x8xf32>
  return
}

// -----

func.func @norm_beta_shape(%x: tensor<2x8xf32>, %g: tensor<8xf32>, %b: tensor<2x8xf32>) {
  // expected-error @+1 {{beta must have the normalised shape [8], got 'tensor<2x8xf32>'}}
  %0 = qc.layer_norm %x, %g, %b : (tensor<2x8xf32>, tensor<8xf32>, tensor<2x8xf32>) -> tensor<2x8xf32>
  return
}

// -----

func.func @norm_gamma_axis(%x: tensor<2x4x8xf32>, %g: tensor<8xf32>) {
  // expected-error @+1 {{gamma must have the normalised shape [4, 8], got 'tensor<8xf32>'}}
  %0 = qc.layer_norm %x, %g {axis = 1 : i64} : (tensor<2x4x8xf32>, tensor<8xf32>) -> tensor<2x4x8xf32>
  return
}

// -----

func.func @hadamard_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{input must have rank >= 1}}
  %0 = qc.hadamard %x : tensor<f32>
  return
}

// -----

func.func @hadamard_dynamic(%x: tensor<4x?xf32>) {
  // expected-error @+1 {{the last dimension must be static}}
  %0 = qc.hadamard %x : tensor<4x?xf32>
  return
}

// -----

func.func @hadamard_size(%x: tensor<4x36xf32>) {
  // expected-error @+1 {{last dimension 36 is not 2^k, 2^k * m or 2^k * m1 * m2 (m in {12, 20, 28})}}
  %0 = qc.hadamard %x : tensor<4x36xf32>
  return
}

// -----

func.func @q_storage(%x: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{quantized element type 'i8' does not match format #qc.format<int4> (stored as 'i4')}}
  %0 = qc.quantize %x, %s {format = #qc.format<int4>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xi8>
  return
}

// -----

func.func @q_fp_storage(%x: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{quantized element type 'f8E5M2' does not match format #qc.format<fp8e4m3> (stored as 'f8E4M3FN')}}
  %0 = qc.quantize %x, %s {format = #qc.format<fp8e4m3>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf8E5M2>
  return
}

// -----

func.func @q_rank(%x: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{float and quantized tensors differ in rank}}
  %0 = qc.quantize %x, %s {format = #qc.format<int8>} : (tensor<8xf32>, tensor<f32>) -> tensor<1x8xi8>
  return
}

// -----

func.func @q_dim(%x: tensor<8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{float and quantized tensors differ in dimension 0}}
  %0 = qc.quantize %x, %s {format = #qc.format<int8>} : (tensor<8xf32>, tensor<f32>) -> tensor<9xi8>
  return
}

// -----

func.func @q_scale_elt(%x: tensor<8xf32>, %s: tensor<f16>) {
  // expected-error @+1 {{scale element type 'f16' must be the float element type 'f32'}}
  %0 = qc.quantize %x, %s {format = #qc.format<int8>} : (tensor<8xf32>, tensor<f16>) -> tensor<8xi8>
  return
}

// -----

func.func @q_fp_zp(%x: tensor<8xf32>, %s: tensor<f32>, %z: tensor<i8>) {
  // expected-error @+1 {{float format #qc.format<fp8e4m3> takes no zero point}}
  %0 = qc.quantize %x, %s, %z {format = #qc.format<fp8e4m3>} : (tensor<8xf32>, tensor<f32>, tensor<i8>) -> tensor<8xf8E4M3FN>
  return
}

// -----

func.func @q_zp_elt(%x: tensor<8xf32>, %s: tensor<f32>, %z: tensor<i32>) {
  // expected-error @+1 {{zero point element type 'i32' must be the storage type 'i8'}}
  %0 = qc.quantize %x, %s, %z {format = #qc.format<uint8>} : (tensor<8xf32>, tensor<f32>, tensor<i32>) -> tensor<8xi8>
  return
}

// -----

func.func @q_zp_shape(%x: tensor<4x8xf32>, %s: tensor<4xf32>, %z: tensor<i8>) {
  // expected-error @+1 {{zero point shape must equal the scale shape}}
  %0 = qc.quantize %x, %s, %z {format = #qc.format<uint8>, axis = 0 : i64} : (tensor<4x8xf32>, tensor<4xf32>, tensor<i8>) -> tensor<4x8xi8>
  return
}

// -----

func.func @q_group_no_axis(%x: tensor<4x8xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{group_size requires axis}}
  %0 = qc.quantize %x, %s {format = #qc.format<int8>, group_size = 4 : i64} : (tensor<4x8xf32>, tensor<f32>) -> tensor<4x8xi8>
  return
}

// -----

func.func @q_axis(%x: tensor<4x8xf32>, %s: tensor<4xf32>) {
  // expected-error @+1 {{axis -3 is out of range for rank 2}}
  %0 = qc.quantize %x, %s {format = #qc.format<int8>, axis = -3 : i64} : (tensor<4x8xf32>, tensor<4xf32>) -> tensor<4x8xi8>
  return
}

// -----

func.func @q_group_size(%x: tensor<4x8xf32>, %s: tensor<4x8xf32>) {
  // expected-error @+1 {{group_size must be >= 1, got 0}}
  %0 = qc.quantize %x, %s {format = #qc.format<int8>, axis = 1 : i64, group_size = 0 : i64} : (tensor<4x8xf32>, tensor<4x8xf32>) -> tensor<4x8xi8>
  return
}

// -----

func.func @q_per_tensor_shape(%x: tensor<4x8xf32>, %s: tensor<1xf32>) {
  // expected-error @+1 {{scale shape must be [] for per-tensor quantization, got 'tensor<1xf32>'}}
  %0 = qc.quantize %x, %s {format = #qc.format<int8>} : (tensor<4x8xf32>, tensor<1xf32>) -> tensor<4x8xi8>
  return
}

// -----

func.func @q_per_channel_shape(%x: tensor<4x8xf32>, %s: tensor<8xf32>) {
  // expected-error @+1 {{scale shape must be [4] for per-channel (axis 0) quantization, got 'tensor<8xf32>'}}
  %0 = qc.quantize %x, %s {format = #qc.format<int8>, axis = 0 : i64} : (tensor<4x8xf32>, tensor<8xf32>) -> tensor<4x8xi8>
  return
}

// -----

func.func @q_group_shape(%x: tensor<4x10xf32>, %s: tensor<4x2xf32>) {
  // A partial last group still gets its own scale: ceil(10 / 4) = 3.
  // expected-error @+1 {{scale shape must be [4, 3] for grouped (axis 1, group_size 4) quantization, got 'tensor<4x2xf32>'}}
  %0 = qc.quantize %x, %s {format = #qc.format<int4>, axis = 1 : i64, group_size = 4 : i64} : (tensor<4x10xf32>, tensor<4x2xf32>) -> tensor<4x10xi4>
  return
}

// -----

func.func @dq_storage(%q: tensor<8xi8>, %s: tensor<f32>) {
  // expected-error @+1 {{quantized element type 'i8' does not match format #qc.format<uint4> (stored as 'i4')}}
  %0 = qc.dequantize %q, %s {format = #qc.format<uint4>} : (tensor<8xi8>, tensor<f32>) -> tensor<8xf32>
  return
}

// -----

func.func @dq_scale(%q: tensor<4x8xi8>, %s: tensor<8xf32>) {
  // expected-error @+1 {{scale shape must be [4] for per-channel (axis 0) quantization}}
  %0 = qc.dequantize %q, %s {format = #qc.format<int8>, axis = 0 : i64} : (tensor<4x8xi8>, tensor<8xf32>) -> tensor<4x8xf32>
  return
}

// -----

func.func @observe_slot(%x: tensor<8xf32>) {
  // expected-error @+1 {{slot name must not be empty}}
  qc.observe %x as "" : tensor<8xf32>
  return
}

// -----

func.func @observe_axis(%x: tensor<8xf32>) {
  // expected-error @+1 {{channel_axis 1 is out of range for rank 1}}
  qc.observe %x as "x" {channel_axis = 1 : i64} : tensor<8xf32>
  return
}

// -----

// expected-error @+1 {{a group size is given exactly for group granularity, and is positive}}
func.func private @scheme_group(%x: tensor<2xf32>) attributes {qc.scheme = #qc.scheme<w = int4 group 0, a = none>}

// -----

// expected-error @+1 {{integer weights must have 1..8 bits, got 12}}
func.func private @scheme_wbits() attributes {qc.scheme = #qc.scheme<w = int12 channel, a = none>}

// -----

// expected-error @+1 {{balanced weights are int2 (ternary) or int3 (five levels)}}
func.func private @scheme_balanced() attributes {qc.scheme = #qc.scheme<w = int4 channel balanced, a = none>}

// -----

// expected-error @+1 {{integer activations must have 2..16 bits, got 1}}
func.func private @scheme_abits() attributes {qc.scheme = #qc.scheme<w = int8 channel, a = int1 token dynamic>}

// -----

// expected-error @+1 {{per-token scales are computed at run time: a static scale is per tensor}}
func.func private @scheme_static_token() attributes {qc.scheme = #qc.scheme<w = int8 channel, a = int8 token static>}

// -----

// expected-error @+1 {{calib and range apply to static scales only}}
func.func private @scheme_dynamic_range() attributes {qc.scheme = #qc.scheme<w = int8 channel, a = int8 tensor dynamic, range = [0.0, 1.0]>}

// -----

// expected-error @+1 {{range = [LO, HI] must be finite with LO <= HI}}
func.func private @scheme_range_order() attributes {qc.scheme = #qc.scheme<w = int8 channel, a = int8 tensor static, range = [2.0, 1.0]>}

// -----

// expected-error @+1 {{expected tensor, channel or group, got 'row'}}
func.func private @scheme_granularity() attributes {qc.scheme = #qc.scheme<w = int8 row, a = none>}

// -----

// expected-error @+1 {{unknown quantized format 'int'}}
func.func private @scheme_format() attributes {qc.scheme = #qc.scheme<w = int channel, a = none>}

// -----

func.func @quantized_linear_float_format(%x: tensor<2x8xi8>, %s: tensor<f32>, %w: tensor<4x8xi8>, %ws: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{input format must be an integer of at most 8 bits, got #qc.format<fp8e4m3>}}
  %0 = qc.quantized_linear %x, %s weight %w, %ws {input_format = #qc.format<fp8e4m3>, weight_format = #qc.format<int8>} : (tensor<2x8xi8>, tensor<f32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_linear_k(%x: tensor<2x8xi8>, %s: tensor<f32>, %w: tensor<4x7xi8>, %ws: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{input's last dimension 8 differs from the weight's K 7}}
  %0 = qc.quantized_linear %x, %s weight %w, %ws {input_format = #qc.format<int8>, weight_format = #qc.format<int8>} : (tensor<2x8xi8>, tensor<f32>, tensor<4x7xi8>, tensor<4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_linear_long_k(%x: tensor<2x65536xi8>, %s: tensor<f32>, %w: tensor<4x65536xi8>, %ws: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{weight's K must be static and below 2^16 (sums of code products exact in i32), got 65536}}
  %0 = qc.quantized_linear %x, %s weight %w, %ws {input_format = #qc.format<int8>, weight_format = #qc.format<int8>} : (tensor<2x65536xi8>, tensor<f32>, tensor<4x65536xi8>, tensor<4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_linear_scale(%x: tensor<2x8xi8>, %s: tensor<2x8xf32>, %w: tensor<4x8xi8>, %ws: tensor<4xf32>) -> tensor<2x4xf32> {
  // expected-error @+1 {{input scale shape must be [2, 1], got 'tensor<2x8xf32>'}}
  %0 = qc.quantized_linear %x, %s weight %w, %ws {input_format = #qc.format<int8>, weight_format = #qc.format<int8>} : (tensor<2x8xi8>, tensor<2x8xf32>, tensor<4x8xi8>, tensor<4xf32>) -> tensor<2x4xf32>
  return %0 : tensor<2x4xf32>
}

// -----

func.func @quantized_contraction_reduction(%u: tensor<8xi8>, %us: tensor<f32>, %c: tensor<5x8xi8>, %cs: tensor<5xf32>, %init: tensor<8xf32>) -> tensor<8xf32> {
  // expected-error @+1 {{the output map must not index a reduction loop}}
  %0 = qc.quantized_contraction %u, %us weight %c, %cs init %init {indexing_maps = [affine_map<(o, c) -> (c)>, affine_map<(o, c) -> (o, c)>, affine_map<(o, c) -> (c)>], iterator_types = ["parallel", "reduction"], rhs_channel_dims = array<i64: 0>, lhs_format = #qc.format<int8>, rhs_format = #qc.format<int8>} : (tensor<8xi8>, tensor<f32>, tensor<5x8xi8>, tensor<5xf32>, tensor<8xf32>) -> tensor<8xf32>
  return %0 : tensor<8xf32>
}

// -----

func.func @quantized_contraction_channel(%u: tensor<8xi8>, %us: tensor<f32>, %c: tensor<5x8xi8>, %cs: tensor<8xf32>, %init: tensor<5xf32>) -> tensor<5xf32> {
  // expected-error @+1 {{rhs channel dim 1 must be indexed by a parallel loop of the output}}
  %0 = qc.quantized_contraction %u, %us weight %c, %cs init %init {indexing_maps = [affine_map<(o, c) -> (c)>, affine_map<(o, c) -> (o, c)>, affine_map<(o, c) -> (o)>], iterator_types = ["parallel", "reduction"], rhs_channel_dims = array<i64: 1>, lhs_format = #qc.format<int8>, rhs_format = #qc.format<int8>} : (tensor<8xi8>, tensor<f32>, tensor<5x8xi8>, tensor<8xf32>, tensor<5xf32>) -> tensor<5xf32>
  return %0 : tensor<5xf32>
}

// -----

func.func @quantized_contraction_long(%u: tensor<70000xi8>, %us: tensor<f32>, %c: tensor<5x70000xi8>, %cs: tensor<5xf32>, %init: tensor<5xf32>) -> tensor<5xf32> {
  // expected-error @+1 {{the reduction (70000 steps) must be below 2^16: sums of code products exact in i32}}
  %0 = qc.quantized_contraction %u, %us weight %c, %cs init %init {indexing_maps = [affine_map<(o, c) -> (c)>, affine_map<(o, c) -> (o, c)>, affine_map<(o, c) -> (o)>], iterator_types = ["parallel", "reduction"], rhs_channel_dims = array<i64: 0>, lhs_format = #qc.format<int8>, rhs_format = #qc.format<int8>} : (tensor<70000xi8>, tensor<f32>, tensor<5x70000xi8>, tensor<5xf32>, tensor<5xf32>) -> tensor<5xf32>
  return %0 : tensor<5xf32>
}

// -----

func.func @bitplane_on_a_generic(%a: tensor<4xi32>) -> tensor<4xi32> {
  // expected-error @+1 {{a bitplane qc.encoding belongs on a qc.quantized_linear}}
  %0 = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"], qc.encoding = #qc.encoding<bitplane>} ins(%a : tensor<4xi32>) outs(%a : tensor<4xi32>) {
  ^bb0(%in: i32, %out: i32):
    linalg.yield %in : i32
  } -> tensor<4xi32>
  return %0 : tensor<4xi32>
}

// -----

// expected-error @+1 {{mixture format width must be 3 or 4, got 5}}
func.func @bitmod5() attributes {f = #qc.format<bitmod5>} { return }

// -----

func.func @dq_bitmod_no_selectors(%q: tensor<4xi4>, %s: tensor<f32>) {
  // expected-error @+1 {{mixture format #qc.format<bitmod4> needs its per-slot table selectors (the third operand)}}
  %0 = qc.dequantize %q, %s {format = #qc.format<bitmod4>} : (tensor<4xi4>, tensor<f32>) -> tensor<4xf32>
  return
}

// -----

func.func @q_bitmod(%x: tensor<4xf32>, %s: tensor<f32>) {
  // expected-error @+1 {{mixture format #qc.format<bitmod3> is chosen per slot when weights are quantized at compile time; qc.quantize does not produce it}}
  %0 = qc.quantize %x, %s {format = #qc.format<bitmod3>} : (tensor<4xf32>, tensor<f32>) -> tensor<4xi3>
  return
}

// -----

// expected-error @+1 {{mixture formats (#qc.format<bitmod4>) quantize weights, not activations}}
func.func @scheme_bitmod_act() attributes {s = #qc.scheme<w = int8 channel, a = bitmod4 token dynamic>} { return }
