// qc-convert-to-linalg: a qc.linear whose weight dequantizes constant codes
// (here int4 with group scales, the weight-only W4 g4 case) computes with
// the weight dequantized in [K, N] layout: codes transposed at compile time
// ([4, 8] -> [8, 4], bit-packed by qc-pack-weights), group scales
// [4, 2] -> [2, 4], and the contraction runs (m, kq, n, j) with N innermost
// over the [K/4, 4, N] view. Numerics: test/e2e/quantized-mlp.test (W4A16).
// RUN: quant-compile %s --compile-to=linalg -o - | FileCheck %s

// CHECK-DAG: %[[S:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 3.000000e+00, 5.000000e+00, 7.000000e+00], [2.000000e+00, 4.000000e+00, 6.000000e+00, 8.000000e+00]]> : tensor<2x4xf32>
// The unpacking of the 32 codes (16 bytes + the spare one) fused into their
// dequantization; group scales read from the transposed table.
// CHECK: %[[W:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<8x4xf32>)
// CHECK: tensor.extract %{{.*}} : tensor<17xi8>
// CHECK: tensor.extract %[[S]][%{{.*}}, %{{.*}}] : tensor<2x4xf32>
// CHECK: %[[W4:.*]] = tensor.expand_shape %[[W]] {{\[\[}}0, 1], [2]] output_shape [2, 4, 4] : tensor<8x4xf32> into tensor<2x4x4xf32>
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "reduction", "parallel", "reduction"]{{.*}} ins(%{{.*}}, %[[W4]] : tensor<2x8xf32>, tensor<2x4x4xf32>)
func.func @main(%x: tensor<2x8xf32>) -> tensor<2x4xf32> attributes {quant.input_names = ["x"], quant.output_names = ["y"]} {
  %q = arith.constant dense<[[1, 2, 3, 4, 5, 6, 7, -8], [0, 1, 0, 1, 0, 1, 0, 1], [-1, -2, -3, -4, -5, -6, -7, -8], [7, 7, 7, 7, 7, 7, 7, 7]]> : tensor<4x8xi4>
  %s = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
  %w = qc.dequantize %q, %s {axis = 1 : i64, group_size = 4 : i64, format = #qc.format<int4>} : (tensor<4x8xi4>, tensor<4x2xf32>) -> tensor<4x8xf32>
  %y = qc.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}
