// RUN: quant-opt %s -split-input-file --qc-fold-linear-bias | FileCheck %s

// MatMul + Add as the importer brings them in: the constant vector becomes
// the linear's bias and the addition goes.
// CHECK-LABEL: func.func @fold
// CHECK: %[[B:.*]] = arith.constant dense<[1.000000e+00, 2.000000e+00, 3.000000e+00]> : tensor<3xf32>
// CHECK: %[[Y:.*]] = qc.linear %{{.*}}, %{{.*}}, %[[B]]
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
#id = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#vec = affine_map<(d0, d1, d2) -> (d2)>
func.func @fold(%x: tensor<2x4x8xf32>) -> tensor<2x4x3xf32> {
  %w = arith.constant dense<0.5> : tensor<3x8xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %y = qc.linear %x, %w : (tensor<2x4x8xf32>, tensor<3x8xf32>) -> tensor<2x4x3xf32>
  %e = tensor.empty() : tensor<2x4x3xf32>
  %r = linalg.generic {indexing_maps = [#vec, #id, #id], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%b, %y : tensor<3xf32>, tensor<2x4x3xf32>) outs(%e : tensor<2x4x3xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %q, %p : f32
    linalg.yield %s : f32
  } -> tensor<2x4x3xf32>
  return %r : tensor<2x4x3xf32>
}

// -----

// A [1, 1, N] constant broadcast along the leading dimensions is a bias too
// (rewritten as [N]).
// CHECK-LABEL: func.func @fold_rank3
// CHECK: %[[B:.*]] = arith.constant dense_resource<qc_linear_bias> : tensor<3xf32>
// CHECK: qc.linear %{{.*}}, %{{.*}}, %[[B]]
// CHECK-NOT: linalg.generic
#id3 = affine_map<(d0, d1, d2) -> (d0, d1, d2)>
#bc3 = affine_map<(d0, d1, d2) -> (0, 0, d2)>
func.func @fold_rank3(%x: tensor<2x4x8xf32>) -> tensor<2x4x3xf32> {
  %w = arith.constant dense<0.5> : tensor<3x8xf32>
  %b = arith.constant dense<[[[1.0, 2.0, 3.0]]]> : tensor<1x1x3xf32>
  %y = qc.linear %x, %w : (tensor<2x4x8xf32>, tensor<3x8xf32>) -> tensor<2x4x3xf32>
  %e = tensor.empty() : tensor<2x4x3xf32>
  %r = linalg.generic {indexing_maps = [#id3, #bc3, #id3], iterator_types = ["parallel", "parallel", "parallel"]}
      ins(%y, %b : tensor<2x4x3xf32>, tensor<1x1x3xf32>) outs(%e : tensor<2x4x3xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<2x4x3xf32>
  return %r : tensor<2x4x3xf32>
}

// -----

// Dynamic rows: the importer sizes the addition's output with tensor.dim of
// the linear's result; those dims are taken from the new linear.
// CHECK-LABEL: func.func @fold_dynamic
// CHECK: %[[Y:.*]] = qc.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<?x8xf32>, tensor<3x8xf32>, tensor<3xf32>) -> tensor<?x3xf32>
// CHECK-NOT: linalg.generic
// CHECK: return %[[Y]]
#dy_id = affine_map<(d0, d1) -> (d0, d1)>
#dy_col = affine_map<(d0, d1) -> (d1)>
func.func @fold_dynamic(%x: tensor<?x8xf32>) -> tensor<?x3xf32> {
  %c0 = arith.constant 0 : index
  %w = arith.constant dense<0.5> : tensor<3x8xf32>
  %b = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %y = qc.linear %x, %w : (tensor<?x8xf32>, tensor<3x8xf32>) -> tensor<?x3xf32>
  %n = tensor.dim %y, %c0 : tensor<?x3xf32>
  %e = tensor.empty(%n) : tensor<?x3xf32>
  %r = linalg.generic {indexing_maps = [#dy_id, #dy_col, #dy_id], iterator_types = ["parallel", "parallel"]}
      ins(%y, %b : tensor<?x3xf32>, tensor<3xf32>) outs(%e : tensor<?x3xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<?x3xf32>
  return %r : tensor<?x3xf32>
}

// -----

// Not folded: a vector along another dimension, a run-time vector, a
// subtraction, and a linear with a second user.
// CHECK-LABEL: func.func @keep
// CHECK-COUNT-4: linalg.generic
#id2 = affine_map<(d0, d1) -> (d0, d1)>
#row = affine_map<(d0, d1) -> (d0)>
#col = affine_map<(d0, d1) -> (d1)>
func.func @keep(%x: tensor<4x8xf32>, %v: tensor<3xf32>) -> (tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>) {
  %w = arith.constant dense<0.5> : tensor<3x8xf32>
  %r4 = arith.constant dense<[1.0, 2.0, 3.0, 4.0]> : tensor<4xf32>
  %c3 = arith.constant dense<[1.0, 2.0, 3.0]> : tensor<3xf32>
  %e = tensor.empty() : tensor<4x3xf32>
  %y1 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<3x8xf32>) -> tensor<4x3xf32>
  %a1 = linalg.generic {indexing_maps = [#id2, #row, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y1, %r4 : tensor<4x3xf32>, tensor<4xf32>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<4x3xf32>
  %y2 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<3x8xf32>) -> tensor<4x3xf32>
  %a2 = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y2, %v : tensor<4x3xf32>, tensor<3xf32>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<4x3xf32>
  %y3 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<3x8xf32>) -> tensor<4x3xf32>
  %a3 = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y3, %c3 : tensor<4x3xf32>, tensor<3xf32>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.subf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<4x3xf32>
  %y4 = qc.linear %x, %w : (tensor<4x8xf32>, tensor<3x8xf32>) -> tensor<4x3xf32>
  %a4 = linalg.generic {indexing_maps = [#id2, #col, #id2], iterator_types = ["parallel", "parallel"]}
      ins(%y4, %c3 : tensor<4x3xf32>, tensor<3xf32>) outs(%e : tensor<4x3xf32>) {
  ^bb0(%p: f32, %q: f32, %o: f32):
    %s = arith.addf %p, %q : f32
    linalg.yield %s : f32
  } -> tensor<4x3xf32>
  return %a1, %a2, %a3, %a4, %y4 : tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>, tensor<4x3xf32>
}
