// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-constrain-input-dims | FileCheck %s

// A matmul of two fully dynamic inputs: the inner dimensions are one class;
// M and N belong to one input each and stay unconstrained.
// CHECK-LABEL: func.func @matmul_dyn
// CHECK-SAME: qc.input_dim_classes = [array<i64: -1, 0>, array<i64: 0, -1>]
func.func @matmul_dyn(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %zero = arith.constant 0.0 : f32
  %m = tensor.dim %a, %c0 : tensor<?x?xf32>
  %n = tensor.dim %b, %c1 : tensor<?x?xf32>
  %e = tensor.empty(%m, %n) : tensor<?x?xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<?x?xf32>) -> tensor<?x?xf32>
  %r = linalg.matmul ins(%a, %b : tensor<?x?xf32>, tensor<?x?xf32>) outs(%f : tensor<?x?xf32>) -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}

// -----

// A dynamic inner dimension against a constant weight becomes static: the
// argument's type is refined and cast back for the body.
// CHECK-LABEL: func.func @linear_refine
// CHECK-SAME: (%[[X:.*]]: tensor<?x8xf32>) -> tensor<?x4xf32>
// CHECK-NOT: qc.input_dim_classes
// CHECK: %[[C:.*]] = tensor.cast %[[X]] : tensor<?x8xf32> to tensor<?x?xf32>
// CHECK: qc.linear %[[C]]
func.func @linear_refine(%x: tensor<?x?xf32>) -> tensor<?x4xf32> {
  %w = arith.constant dense<1.0> : tensor<4x8xf32>
  %y = qc.linear %x, %w : (tensor<?x?xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  return %y : tensor<?x4xf32>
}

// -----

// Equalities travel through tensor.dim / tensor.empty / elementwise generics:
// %a's dim 0 feeds the empty that %b is added into, so a[0] == b[0]; the
// transpose makes a[1] == c[0] as well. d is independent.
// CHECK-LABEL: func.func @chain
// CHECK-SAME: qc.input_dim_classes = [array<i64: 0, 1>, array<i64: 0>, array<i64: 1, 0>, array<i64: -1>]
#id = affine_map<(i) -> (i)>
#id2 = affine_map<(i, j) -> (i, j)>
#tr = affine_map<(i, j) -> (j, i)>
func.func @chain(%a: tensor<?x?xf32>, %b: tensor<?xf32>, %c: tensor<?x?xf32>, %d: tensor<?xf32>) -> (tensor<?xf32>, tensor<?x?xf32>, tensor<?xf32>) {
  %c0 = arith.constant 0 : index
  %m = tensor.dim %a, %c0 : tensor<?x?xf32>
  %e = tensor.empty(%m) : tensor<?xf32>
  %s = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%b : tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%x: f32, %o: f32):
    linalg.yield %x : f32
  } -> tensor<?xf32>
  %t = linalg.generic {indexing_maps = [#id2, #tr, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%a, %c : tensor<?x?xf32>, tensor<?x?xf32>) outs(%a : tensor<?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %z = arith.addf %x, %y : f32
    linalg.yield %z : f32
  } -> tensor<?x?xf32>
  return %s, %t, %d : tensor<?xf32>, tensor<?x?xf32>, tensor<?xf32>
}

// -----

// Two dimensions of one argument can be a class (a square matrix).
// CHECK-LABEL: func.func @square
// CHECK-SAME: qc.input_dim_classes = [array<i64: 0, 0>]
#tr2 = affine_map<(i, j) -> (j, i)>
#id3 = affine_map<(i, j) -> (i, j)>
func.func @square(%a: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %r = linalg.generic {indexing_maps = [#id3, #tr2, #id3], iterator_types = ["parallel", "parallel"]}
      ins(%a, %a : tensor<?x?xf32>, tensor<?x?xf32>) outs(%a : tensor<?x?xf32>) {
  ^bb0(%x: f32, %y: f32, %o: f32):
    %z = arith.addf %x, %y : f32
    linalg.yield %z : f32
  } -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}

// -----

// Concat: every dimension but the concatenated one is shared.
// CHECK-LABEL: func.func @concat
// CHECK-SAME: qc.input_dim_classes = [array<i64: -1, 0>, array<i64: -1, 0>]
func.func @concat(%a: tensor<?x?xf32>, %b: tensor<?x?xf32>) -> tensor<?x?xf32> {
  %r = tensor.concat dim(0) %a, %b : (tensor<?x?xf32>, tensor<?x?xf32>) -> tensor<?x?xf32>
  return %r : tensor<?x?xf32>
}

// -----

// Normalisation parameters fix the normalised extent.
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%{{.*}}: tensor<?x?x16xf32>)
func.func @layer_norm(%x: tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  %g = arith.constant dense<1.0> : tensor<16xf32>
  %y = qc.layer_norm %x, %g : (tensor<?x?x?xf32>, tensor<16xf32>) -> tensor<?x?x?xf32>
  return %y : tensor<?x?x?xf32>
}

// -----

// Two static extents that the computation needs equal are an error.
func.func @conflict(%x: tensor<?x?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %e = tensor.empty() : tensor<4xf32>
  %y = tensor.cast %e : tensor<4xf32> to tensor<?xf32>
  %t = tensor.empty() : tensor<5xf32>
  // expected-error @+1 {{needs extents 4 and 5 to be equal}}
  %z = linalg.generic {indexing_maps = [affine_map<(i) -> (i)>, affine_map<(i) -> (i)>], iterator_types = ["parallel"]}
      ins(%y : tensor<?xf32>) outs(%t : tensor<5xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<5xf32>
  %r = tensor.cast %z : tensor<5xf32> to tensor<?xf32>
  return %r : tensor<?xf32>
}

// -----

// Extents carried as integers: a Reshape to a shape built from the mask's
// dimensions (index_cast, from_elements), broadcast against the scores, puts
// the scores' first and last dimensions in the mask's classes.
// CHECK-LABEL: func.func @reshape_shape
// CHECK-SAME: qc.input_dim_classes = [array<i64: 0, -1, -1, 1>, array<i64: 0, 1>]
#rs_id = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#rs_bc = affine_map<(d0, d1, d2, d3) -> (d0, 0, 0, d3)>
func.func @reshape_shape(%s: tensor<?x2x3x?xf32>, %m: tensor<?x?xf32>) -> tensor<?x2x3x?xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %one = arith.constant 1 : i64
  %d0 = tensor.dim %m, %c0 : tensor<?x?xf32>
  %d1 = tensor.dim %m, %c1 : tensor<?x?xf32>
  %i0 = arith.index_cast %d0 : index to i64
  %i1 = arith.index_cast %d1 : index to i64
  %shape = tensor.from_elements %i0, %one, %one, %i1 : tensor<4xi64>
  %r = tensor.reshape %m(%shape) : (tensor<?x?xf32>, tensor<4xi64>) -> tensor<?x1x1x?xf32>
  %y = linalg.generic {indexing_maps = [#rs_id, #rs_bc, #rs_id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%s, %r : tensor<?x2x3x?xf32>, tensor<?x1x1x?xf32>) outs(%s : tensor<?x2x3x?xf32>) {
  ^bb0(%a: f32, %b: f32, %o: f32):
    %z = arith.addf %a, %b : f32
    linalg.yield %z : f32
  } -> tensor<?x2x3x?xf32>
  return %y : tensor<?x2x3x?xf32>
}
