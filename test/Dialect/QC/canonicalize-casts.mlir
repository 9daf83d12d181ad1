// RUN: quant-opt %s -split-input-file -canonicalize | FileCheck %s
// Casts that only drop static extents fold into the qc ops that read them,
// whose result types take the extents that follow (and a cast back serves
// users that keep the old type); a tensor.reshape to constant extents and a
// tensor.concat of such casts get static result types too (patterns of the
// qc dialect's canonicalization: they apply where the dialect is loaded, as
// in every quant-compile, here through the qc ops that read them).

// CHECK-LABEL: func.func @quantize_dequantize
// CHECK-SAME: (%[[X:.*]]: tensor<2x6xf32>, %[[S:.*]]: tensor<f32>)
// CHECK: %[[Q:.*]] = qc.quantize %[[X]], %[[S]] {{.*}} -> tensor<2x6xi8>
// CHECK: %[[D:.*]] = qc.dequantize %[[Q]], %[[S]] {{.*}} -> tensor<2x6xf32>
// CHECK: %[[C:.*]] = tensor.cast %[[D]] : tensor<2x6xf32> to tensor<?x?xf32>
// CHECK: return %[[C]]
func.func @quantize_dequantize(%x: tensor<2x6xf32>, %s: tensor<f32>) -> tensor<?x?xf32> {
  %c = tensor.cast %x : tensor<2x6xf32> to tensor<?x?xf32>
  %q = qc.quantize %c, %s {format = #qc.format<int8>} : (tensor<?x?xf32>, tensor<f32>) -> tensor<?x?xi8>
  %d = qc.dequantize %q, %s {format = #qc.format<int8>} : (tensor<?x?xi8>, tensor<f32>) -> tensor<?x?xf32>
  return %d : tensor<?x?xf32>
}

// -----

// The input's leading extents and the weight's N make the result's.
// CHECK-LABEL: func.func @linear
// CHECK: qc.linear %{{.*}}, %{{.*}} : (tensor<3x5x4xf32>, tensor<7x4xf32>) -> tensor<3x5x7xf32>
// CHECK: tensor.cast %{{.*}} : tensor<3x5x7xf32> to tensor<?x?x7xf32>
func.func @linear(%x: tensor<3x5x4xf32>, %w: tensor<7x4xf32>) -> tensor<?x?x7xf32> {
  %c = tensor.cast %x : tensor<3x5x4xf32> to tensor<?x?x4xf32>
  %y = qc.linear %c, %w : (tensor<?x?x4xf32>, tensor<7x4xf32>) -> tensor<?x?x7xf32>
  return %y : tensor<?x?x7xf32>
}

// -----

// M from the left side, N from the right one (transposed), the batch from
// both.
// CHECK-LABEL: func.func @batch_matmul
// CHECK: qc.batch_matmul {{.*}} : (tensor<2x5x8xf32>, tensor<?x3x8xf32>) -> tensor<2x5x3xf32>
func.func @batch_matmul(%a: tensor<2x5x8xf32>, %b: tensor<?x3x8xf32>) -> tensor<?x?x?xf32> {
  %c = tensor.cast %a : tensor<2x5x8xf32> to tensor<?x?x8xf32>
  %y = qc.batch_matmul %c, %b {transpose_rhs} : (tensor<?x?x8xf32>, tensor<?x3x8xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

// Per-token scales of a dynamic row count: the input becomes static, the
// scale stays as it is (its extents are compatible).
// CHECK-LABEL: func.func @per_token
// CHECK: qc.quantize %{{.*}}, %{{.*}} {{.*}} : (tensor<4x8xf32>, tensor<?x1xf32>) -> tensor<4x8xi8>
func.func @per_token(%x: tensor<4x8xf32>, %s: tensor<?x1xf32>) -> tensor<?x8xi8> {
  %c = tensor.cast %x : tensor<4x8xf32> to tensor<?x8xf32>
  %q = qc.quantize %c, %s {format = #qc.format<int8>, axis = -1 : i64, group_size = 8 : i64} : (tensor<?x8xf32>, tensor<?x1xf32>) -> tensor<?x8xi8>
  return %q : tensor<?x8xi8>
}

// -----

// A zero point keeps its scale's shape: casts of the two fold together or
// not at all.
// CHECK-LABEL: func.func @zero_point
// CHECK: qc.quantize %{{.*}}, %[[S:.*]], %{{.*}} {{.*}} : (tensor<2x3xf32>, tensor<?xf32>, tensor<?xi8>) -> tensor<2x3xi8>
func.func @zero_point(%x: tensor<2x3xf32>, %s: tensor<3xf32>, %z: tensor<?xi8>) -> tensor<?x3xi8> {
  %c = tensor.cast %x : tensor<2x3xf32> to tensor<?x3xf32>
  %cs = tensor.cast %s : tensor<3xf32> to tensor<?xf32>
  %q = qc.quantize %c, %cs, %z {format = #qc.format<int8>, axis = 1 : i64} : (tensor<?x3xf32>, tensor<?xf32>, tensor<?xi8>) -> tensor<?x3xi8>
  return %q : tensor<?x3xi8>
}

// -----

// Normalisations keep their input's type.
// CHECK-LABEL: func.func @rms_norm
// CHECK: qc.rms_norm %{{.*}}, %{{.*}} : (tensor<2x8xf32>, tensor<8xf32>) -> tensor<2x8xf32>
func.func @rms_norm(%x: tensor<2x8xf32>, %g: tensor<8xf32>) -> tensor<?x8xf32> {
  %c = tensor.cast %x : tensor<2x8xf32> to tensor<?x8xf32>
  %y = qc.rms_norm %c, %g : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// CHECK-LABEL: func.func @reshape_constant
// CHECK: tensor.reshape %{{.*}}(%{{.*}}) : (tensor<2x3x4xf32>, tensor<2xi64>) -> tensor<2x12xf32>
// CHECK: qc.quantize {{.*}} -> tensor<2x12xi8>
// CHECK: tensor.cast %{{.*}} : tensor<2x12xi8> to tensor<?x?xi8>
func.func @reshape_constant(%x: tensor<2x3x4xf32>, %s: tensor<f32>) -> tensor<?x?xi8> {
  %shape = arith.constant dense<[2, 12]> : tensor<2xi64>
  %c = tensor.cast %x : tensor<2x3x4xf32> to tensor<?x3x?xf32>
  %r = tensor.reshape %c(%shape) : (tensor<?x3x?xf32>, tensor<2xi64>) -> tensor<?x?xf32>
  %q = qc.quantize %r, %s {format = #qc.format<int8>} : (tensor<?x?xf32>, tensor<f32>) -> tensor<?x?xi8>
  return %q : tensor<?x?xi8>
}

// -----

// CHECK-LABEL: func.func @concat
// CHECK: tensor.concat dim(1) %{{.*}}, %{{.*}} : (tensor<2x3x5xf32>, tensor<2x4x5xf32>) -> tensor<2x7x5xf32>
// CHECK: qc.quantize {{.*}} -> tensor<2x7x5xi8>
func.func @concat(%a: tensor<2x3x5xf32>, %b: tensor<2x4x5xf32>, %s: tensor<f32>) -> tensor<?x?x?xi8> {
  %ca = tensor.cast %a : tensor<2x3x5xf32> to tensor<?x3x?xf32>
  %cb = tensor.cast %b : tensor<2x4x5xf32> to tensor<?x?x5xf32>
  %r = tensor.concat dim(1) %ca, %cb : (tensor<?x3x?xf32>, tensor<?x?x5xf32>) -> tensor<?x?x?xf32>
  %q = qc.quantize %r, %s {format = #qc.format<int8>} : (tensor<?x?x?xf32>, tensor<f32>) -> tensor<?x?x?xi8>
  return %q : tensor<?x?x?xi8>
}
