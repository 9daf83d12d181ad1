// RUN: quant-opt %s --qc-cpu-fuse-elementwise --split-input-file | FileCheck %s

// Elementwise generics fuse across a reshape that only drops a unit
// dimension (a convolution's grouped [N, 1, C, H, W] output read as
// [N, C, H, W]): one generic is left, over the 5-D space.
#m5 = affine_map<(a, b, c, d, e) -> (a, b, c, d, e)>
#m4 = affine_map<(a, b, c, d) -> (a, b, c, d)>
// CHECK-LABEL: func.func @unit_reshape
// CHECK: linalg.generic
// CHECK-SAME: ins(%arg0 : tensor<1x1x4x6x6xi32>)
// CHECK: arith.sitofp
// CHECK: arith.mulf
// CHECK-NOT: linalg.generic
// CHECK: tensor.collapse_shape
func.func @unit_reshape(%x: tensor<1x1x4x6x6xi32>) -> tensor<1x4x6x6xf32> {
  %e5 = tensor.empty() : tensor<1x1x4x6x6xf32>
  %d = linalg.generic {indexing_maps = [#m5, #m5], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x1x4x6x6xi32>) outs(%e5 : tensor<1x1x4x6x6xf32>) {
  ^bb0(%in: i32, %out: f32):
    %f = arith.sitofp %in : i32 to f32
    linalg.yield %f : f32
  } -> tensor<1x1x4x6x6xf32>
  %c = tensor.collapse_shape %d [[0], [1, 2], [3], [4]] : tensor<1x1x4x6x6xf32> into tensor<1x4x6x6xf32>
  %e4 = tensor.empty() : tensor<1x4x6x6xf32>
  %y = linalg.generic {indexing_maps = [#m4, #m4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%c : tensor<1x4x6x6xf32>) outs(%e4 : tensor<1x4x6x6xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<1x4x6x6xf32>
  return %y : tensor<1x4x6x6xf32>
}

// -----

// A reshape that merges two real dimensions ([2, 4] -> 8, as attention
// heads are) is left alone: two generics.
#n3 = affine_map<(a, b, c) -> (a, b, c)>
#n2 = affine_map<(a, b) -> (a, b)>
// CHECK-LABEL: func.func @real_reshape
// CHECK: linalg.generic
// CHECK: tensor.collapse_shape
// CHECK: linalg.generic
func.func @real_reshape(%x: tensor<3x2x4xf32>) -> tensor<3x8xf32> {
  %e3 = tensor.empty() : tensor<3x2x4xf32>
  %d = linalg.generic {indexing_maps = [#n3, #n3], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<3x2x4xf32>) outs(%e3 : tensor<3x2x4xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %in : f32
    linalg.yield %a : f32
  } -> tensor<3x2x4xf32>
  %c = tensor.collapse_shape %d [[0], [1, 2]] : tensor<3x2x4xf32> into tensor<3x8xf32>
  %e2 = tensor.empty() : tensor<3x8xf32>
  %y = linalg.generic {indexing_maps = [#n2, #n2], iterator_types = ["parallel", "parallel"]} ins(%c : tensor<3x8xf32>) outs(%e2 : tensor<3x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<3x8xf32>
  return %y : tensor<3x8xf32>
}
