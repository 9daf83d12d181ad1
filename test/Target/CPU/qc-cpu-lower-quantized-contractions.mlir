// RUN: quant-opt %s --qc-form-quantized-contractions --qc-cpu-lower-quantized-contractions --split-input-file | FileCheck %s

// An int8 x int8 linear: codes multiply in i32 (the weight codes stored
// [K/4, 4, N], loops (m, kq, n, j) with x read at 4 kq + j), the epilogue
// applies the per-row activation scale, the per-channel weight scale and
// the bias. K = 1024: sums of 1024 products of 8-bit codes exceed f32's
// exact integers, so the accumulator is i32.
// CHECK-DAG: #[[XMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 4 + d3)>
// CHECK-DAG: #[[WMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3, d2)>
// CHECK-LABEL: func.func @linear
// CHECK: %[[W:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2]] output_shape [256, 4, 4] : tensor<1024x4xi8> into tensor<256x4x4xi8>
// CHECK: %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[XMAP]], #[[WMAP]], {{.*}}], iterator_types = ["parallel", "reduction", "parallel", "reduction"]} ins(%arg0, %[[W]] : tensor<?x1024xi8>, tensor<256x4x4xi8>) outs(%{{.*}} : tensor<?x4xi32>)
// CHECK: arith.extsi %{{.*}} : i8 to i32
// CHECK: arith.muli
// CHECK: arith.addi
// CHECK: linalg.generic {{.*}} ins(%[[ACC]], %arg1, %{{.*}}, %{{.*}} : tensor<?x4xi32>, tensor<?x1xf32>, tensor<4xf32>, tensor<4xf32>)
// CHECK: arith.sitofp
// CHECK-NOT: qc.linear
func.func @linear(%q: tensor<?x1024xi8>, %s: tensor<?x1xf32>) -> tensor<?x4xf32> {
  %wq = arith.constant dense<3> : tensor<4x1024xi8>
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %b = arith.constant dense<1.0> : tensor<4xf32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<4x1024xi8>, tensor<4xf32>) -> tensor<4x1024xf32>
  %x = qc.dequantize %q, %s {axis = 1 : i64, group_size = 1024 : i64, format = #qc.format<int8>} : (tensor<?x1024xi8>, tensor<?x1xf32>) -> tensor<?x1024xf32>
  %y = qc.linear %x, %w, %b : (tensor<?x1024xf32>, tensor<4x1024xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// K = 8: every sum of 8 products of 8-bit codes (|p| <= 2^14) is an
// integer f32 holds exactly, so the codes accumulate in f32 (FMAs) and the
// epilogue converts the sums back to i32 before the zero-point term. The
// constant weight codes are f32 constants already: only x converts.
// CHECK-LABEL: func.func @small_reduction
// CHECK: %[[WF:.*]] = arith.constant dense<3.000000e+00> : tensor<8x4xf32>
// CHECK: %[[WE:.*]] = tensor.expand_shape %[[WF]]
// CHECK: %[[ACC:.*]] = linalg.generic {{.*}} ins(%arg0, %[[WE]] : tensor<?x8xi8>, tensor<2x4x4xf32>) outs(%{{.*}} : tensor<?x4xf32>)
// CHECK-NEXT: ^bb0(%[[A:.*]]: i8, %[[B:.*]]: f32, %{{.*}}: f32):
// CHECK-NEXT: %[[AE:.*]] = arith.extsi %[[A]] : i8 to i32
// CHECK-NEXT: %[[AF:.*]] = arith.sitofp %[[AE]] : i32 to f32
// CHECK-NEXT: arith.mulf %[[AF]], %[[B]]
// CHECK: arith.addf
// CHECK: linalg.generic {{.*}} ins(%[[ACC]],
// CHECK: arith.fptosi %{{.*}} : f32 to i32
// CHECK: arith.sitofp
func.func @small_reduction(%q: tensor<?x8xi8>, %s: tensor<?x1xf32>) -> tensor<?x4xf32> {
  %wq = arith.constant dense<3> : tensor<4x8xi8>
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %b = arith.constant dense<1.0> : tensor<4xf32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<4x8xi8>, tensor<4xf32>) -> tensor<4x8xf32>
  %x = qc.dequantize %q, %s {axis = 1 : i64, group_size = 8 : i64, format = #qc.format<int8>} : (tensor<?x8xi8>, tensor<?x1xf32>) -> tensor<?x8xf32>
  %y = qc.linear %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<4xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// Asymmetric activations: the zero point times the weight's column sums
// (3 * 8 = 24 per channel) comes off the accumulator.
// CHECK-LABEL: func.func @asym
// CHECK: linalg.generic {{.*}} ins(%arg0, %{{.*}} : tensor<2x8xi8>, tensor<2x4x4xf32>)
// CHECK: arith.extui %{{.*}} : i8 to i32
// CHECK: %[[CS:.*]] = arith.constant dense<24> : tensor<4xi32>
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[CS]] :
// CHECK: arith.subi
func.func @asym(%q: tensor<2x8xi8>) -> tensor<2x4xf32> {
  %wq = arith.constant dense<3> : tensor<4x8xi8>
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %z = arith.constant dense<-128> : tensor<i8>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<4x8xi8>, tensor<4xf32>) -> tensor<4x8xf32>
  %x = qc.dequantize %q, %s, %z {format = #qc.format<uint8>} : (tensor<2x8xi8>, tensor<f32>, tensor<i8>) -> tensor<2x8xf32>
  %y = qc.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// Group-wise weight scales vary along the reduction: no integer kernel,
// the layer is left to qc-convert-to-linalg
// (test/Conversion/QCToLinalg/dequantized-linear.mlir).
// CHECK-LABEL: func.func @grouped
// CHECK: qc.linear
func.func @grouped(%q: tensor<2x8xi8>) -> tensor<2x4xf32> {
  %wq = arith.constant dense<3> : tensor<4x8xi4>
  %ws = arith.constant dense<0.5> : tensor<4x2xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %w = qc.dequantize %wq, %ws {axis = 1 : i64, group_size = 4 : i64, format = #qc.format<int4>} : (tensor<4x8xi4>, tensor<4x2xf32>) -> tensor<4x8xf32>
  %x = qc.dequantize %q, %s {format = #qc.format<int8>} : (tensor<2x8xi8>, tensor<f32>) -> tensor<2x8xf32>
  %y = qc.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
