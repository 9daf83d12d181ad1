// RUN: quant-opt %s -split-input-file -canonicalize | FileCheck %s
// Folders of the qc dialect. Expected constants are computed by hand from the
// definitions (round half to even, saturation, H_4 / 2), not taken from output.

// CHECK-LABEL: func.func @hadamard_pair
// CHECK-SAME: (%[[X:.*]]: tensor<3x12xf32>)
// CHECK-NEXT: return %[[X]]
func.func @hadamard_pair(%x: tensor<3x12xf32>) -> tensor<3x12xf32> {
  %0 = qc.hadamard %x : tensor<3x12xf32>
  %1 = qc.hadamard %0 : tensor<3x12xf32>
  return %1 : tensor<3x12xf32>
}

// -----

// Three transforms leave one.
// CHECK-LABEL: func.func @hadamard_triple
// CHECK-SAME: (%[[X:.*]]: tensor<8xf32>)
// CHECK-NEXT: %[[H:.*]] = qc.hadamard %[[X]]
// CHECK-NEXT: return %[[H]]
func.func @hadamard_triple(%x: tensor<8xf32>) -> tensor<8xf32> {
  %0 = qc.hadamard %x : tensor<8xf32>
  %1 = qc.hadamard %0 : tensor<8xf32>
  %2 = qc.hadamard %1 : tensor<8xf32>
  return %2 : tensor<8xf32>
}

// -----

// Rows [1,0,0,0] and [0,0,2,0] times H_4 / 2.
// CHECK-LABEL: func.func @hadamard_constant
// CHECK: arith.constant dense<{{\[}}[5.000000e-01, 5.000000e-01, 5.000000e-01, 5.000000e-01], [1.000000e+00, 1.000000e+00, -1.000000e+00, -1.000000e+00]]> : tensor<2x4xf32>
// CHECK-NOT: qc.hadamard
func.func @hadamard_constant() -> tensor<2x4xf32> {
  %w = arith.constant dense<[[1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 2.0, 0.0]]> : tensor<2x4xf32>
  %h = qc.hadamard %w : tensor<2x4xf32>
  return %h : tensor<2x4xf32>
}

// -----

// x / 0.5 = [0.5, 1.5, 2.5, -0.5, 600, -600, 2, -3.5]: ties go to even,
// out-of-range values saturate.
// CHECK-LABEL: func.func @quantize_int8_constant
// CHECK: arith.constant dense<[0, 2, 2, 0, 127, -128, 2, -4]> : tensor<8xi8>
// CHECK-NOT: qc.quantize
func.func @quantize_int8_constant() -> tensor<8xi8> {
  %s = arith.constant dense<0.5> : tensor<f32>
  %c = arith.constant dense<[0.25, 0.75, 1.25, -0.25, 300.0, -300.0, 1.0, -1.75]> : tensor<8xf32>
  %q = qc.quantize %c, %s {format = #qc.format<int8>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xi8>
  return %q : tensor<8xi8>
}

// -----

// uint4 per channel with zero points 8 and 0: row 0 [-9, -0.5, 7.5, 3] + 8,
// row 1 [1.5, 20, -1, 14.5] / 2 = [0.75, 10, -0.5, 7.25] + 0.
// Stored as i4 bit patterns, which print signed: 8 as -8, 15 as -1, 11 as -5,
// 10 as -6.
// CHECK-LABEL: func.func @quantize_uint4_per_channel
// CHECK: arith.constant dense<{{\[}}[0, -8, -1, -5], [1, -6, 0, 7]]> : tensor<2x4xi4>
func.func @quantize_uint4_per_channel() -> tensor<2x4xi4> {
  %s = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %z = arith.constant dense<[8, 0]> : tensor<2xi4>
  %c = arith.constant dense<[[-9.0, -0.5, 7.5, 3.0], [1.5, 20.0, -1.0, 14.5]]> : tensor<2x4xf32>
  %q = qc.quantize %c, %s, %z {format = #qc.format<uint4>, axis = 0 : i64} : (tensor<2x4xf32>, tensor<2xf32>, tensor<2xi4>) -> tensor<2x4xi4>
  return %q : tensor<2x4xi4>
}

// -----

// Groups of 2 along axis 1 with scales [1, 4]: [3, -3 | 6, 10] -> [3, -3, 2, 2]
// (6/4 = 1.5 -> 2, 10/4 = 2.5 -> 2).
// CHECK-LABEL: func.func @quantize_grouped
// CHECK: arith.constant dense<{{\[}}[3, -3, 2, 2]]> : tensor<1x4xi8>
func.func @quantize_grouped() -> tensor<1x4xi8> {
  %s = arith.constant dense<[[1.0, 4.0]]> : tensor<1x2xf32>
  %c = arith.constant dense<[[3.0, -3.0, 6.0, 10.0]]> : tensor<1x4xf32>
  %q = qc.quantize %c, %s {format = #qc.format<int8>, axis = 1 : i64, group_size = 2 : i64} : (tensor<1x4xf32>, tensor<1x2xf32>) -> tensor<1x4xi8>
  return %q : tensor<1x4xi8>
}

// -----

// FP4 E2M1 values are {0, 0.5, 1, 1.5, 2, 3, 4, 6}: 2.5 ties to 2 (even
// code), -3.5 ties to -4, 600 saturates to 6.
// CHECK-LABEL: func.func @quantize_fp4_constant
// CHECK: arith.constant dense<[5.000000e-01, 1.500000e+00, 2.000000e+00, -5.000000e-01, 6.000000e+00, -6.000000e+00, 2.000000e+00, -4.000000e+00]> : tensor<8xf4E2M1FN>
func.func @quantize_fp4_constant() -> tensor<8xf4E2M1FN> {
  %s = arith.constant dense<0.5> : tensor<f32>
  %c = arith.constant dense<[0.25, 0.75, 1.25, -0.25, 300.0, -300.0, 1.0, -1.75]> : tensor<8xf32>
  %q = qc.quantize %c, %s {format = #qc.format<fp4e2m1>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xf4E2M1FN>
  return %q : tensor<8xf4E2M1FN>
}

// -----

// FP8 E4M3 saturates at 448 instead of producing NaN.
// CHECK-LABEL: func.func @quantize_fp8_saturates
// CHECK: arith.constant dense<[4.480000e+02, -4.480000e+02, 1.000000e+00]> : tensor<3xf8E4M3FN>
func.func @quantize_fp8_saturates() -> tensor<3xf8E4M3FN> {
  %s = arith.constant dense<1.0> : tensor<f32>
  %c = arith.constant dense<[1000.0, -465.0, 1.0]> : tensor<3xf32>
  %q = qc.quantize %c, %s {format = #qc.format<fp8e4m3>} : (tensor<3xf32>, tensor<f32>) -> tensor<3xf8E4M3FN>
  return %q : tensor<3xf8E4M3FN>
}

// -----

// CHECK-LABEL: func.func @requantize_same_params
// CHECK-SAME: (%[[Q:.*]]: tensor<4x8xi4>
// CHECK-NEXT: return %[[Q]]
func.func @requantize_same_params(%q: tensor<4x8xi4>, %s: tensor<4xf32>, %z: tensor<4xi4>) -> tensor<4x8xi4> {
  %x = qc.dequantize %q, %s, %z {format = #qc.format<uint4>, axis = 0 : i64} : (tensor<4x8xi4>, tensor<4xf32>, tensor<4xi4>) -> tensor<4x8xf32>
  %r = qc.quantize %x, %s, %z {format = #qc.format<uint4>, axis = 0 : i64} : (tensor<4x8xf32>, tensor<4xf32>, tensor<4xi4>) -> tensor<4x8xi4>
  return %r : tensor<4x8xi4>
}

// -----

// Different scales or formats: requantization is a real computation.
// CHECK-LABEL: func.func @requantize_other_params
// CHECK: qc.dequantize
// CHECK: qc.quantize
// CHECK: qc.quantize
func.func @requantize_other_params(%q: tensor<8xi4>, %s: tensor<f32>, %t: tensor<f32>) -> (tensor<8xi4>, tensor<8xi4>) {
  %x = qc.dequantize %q, %s {format = #qc.format<int4>} : (tensor<8xi4>, tensor<f32>) -> tensor<8xf32>
  %a = qc.quantize %x, %t {format = #qc.format<int4>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xi4>
  %b = qc.quantize %x, %s {format = #qc.format<uint4>} : (tensor<8xf32>, tensor<f32>) -> tensor<8xi4>
  return %a, %b : tensor<8xi4>, tensor<8xi4>
}

// -----

// The observer has a write effect: canonicalization keeps it.
// CHECK-LABEL: func.func @observe_kept
// CHECK: qc.observe
func.func @observe_kept(%x: tensor<8xf32>) {
  qc.observe %x as "x" : tensor<8xf32>
  return
}
