// RUN: quant-opt %s -split-input-file --qc-cpu-materialize-encodings --qc-convert-to-linalg | FileCheck %s
// The CPU's layouts come from qc-cpu-materialize-encodings (#qc.encoding in
// qc.weight_encoding); without an encoding the weight stays [N, K] and k is
// the innermost loop.
// RUN: quant-opt %s -split-input-file --qc-convert-to-linalg | FileCheck %s --check-prefix=PLAIN
// RUN: quant-opt %s -split-input-file --qc-cpu-materialize-encodings | FileCheck %s --check-prefix=ENC

// A constant float weight [N, K] with N a multiple of 64 is stored in panels
// of 64 output columns, [N/64, K/4, 4, 64]; the contraction computes
// [..., N/64, 64] from the bias reshaped alike and collapses to [..., N].
// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d3 * 4 + d5)>
// CHECK-DAG: #[[W:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d2, d3, d5, d4)>
// CHECK-DAG: #[[O:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d1, d2, d4)>
// CHECK-LABEL: func.func @panels
// ENC-LABEL: func.func @panels
// ENC: qc.linear {{.*}}qc.weight_encoding = #qc.encoding<panels, panel = 64, unroll = 4>
// PLAIN-LABEL: func.func @panels
// PLAIN-NOT: dense_resource
// PLAIN: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<?x3x8xf32>, tensor<128x8xf32>)
// CHECK: %[[P:.*]] = arith.constant dense_resource<qc_weight_panels> : tensor<2x8x64xf32>
// CHECK: %[[B:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [2, 64] : tensor<128xf32> into tensor<2x64xf32>
// CHECK: %[[INIT:.*]] = linalg.generic {{.*}} ins(%[[B]] : tensor<2x64xf32>) outs(%{{.*}} : tensor<?x3x2x64xf32>)
// CHECK: %[[WP:.*]] = tensor.expand_shape %[[P]] {{\[\[}}0], [1, 2], [3]] output_shape [2, 2, 4, 64]
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#[[X]], #[[W]], #[[O]]], iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel", "reduction"]} ins(%{{.*}}, %[[WP]] : tensor<?x3x8xf32>, tensor<2x2x4x64xf32>) outs(%[[INIT]] : tensor<?x3x2x64xf32>)
// CHECK: tensor.collapse_shape %[[Y]] {{\[\[}}0], [1], [2, 3]] : tensor<?x3x2x64xf32> into tensor<?x3x128xf32>
func.func @panels(%x: tensor<?x3x8xf32>) -> tensor<?x3x128xf32> {
  %w = arith.constant dense<0.5> : tensor<128x8xf32>
  %b = arith.constant dense<1.0> : tensor<128xf32>
  %y = qc.linear %x, %w, %b : (tensor<?x3x8xf32>, tensor<128x8xf32>, tensor<128xf32>) -> tensor<?x3x128xf32>
  return %y : tensor<?x3x128xf32>
}

// -----

// N = 48: panels of 16 columns. N = 20 divides by none of 64/32/16: the
// weight stays [K, N] and the output is computed as [..., N] directly.
// CHECK-LABEL: func.func @narrow
// ENC-LABEL: func.func @narrow
// ENC: qc.weight_encoding = #qc.encoding<panels, panel = 16, unroll = 4>
// ENC: qc.weight_encoding = #qc.encoding<kn, unroll = 4>
// CHECK: dense_resource<qc_weight_panels> : tensor<3x8x16xf32>
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0], [1, 2]] : tensor<2x3x16xf32> into tensor<2x48xf32>
// CHECK: dense_resource<qc_weight_kn> : tensor<8x20xf32>
// CHECK-NOT: tensor.collapse_shape
func.func @narrow(%x: tensor<2x8xf32>) -> (tensor<2x48xf32>, tensor<2x20xf32>) {
  %w = arith.constant dense<0.5> : tensor<48x8xf32>
  %v = arith.constant dense<0.25> : tensor<20x8xf32>
  %y = qc.linear %x, %w : (tensor<2x8xf32>, tensor<48x8xf32>) -> tensor<2x48xf32>
  %z = qc.linear %x, %v : (tensor<2x8xf32>, tensor<20x8xf32>) -> tensor<2x20xf32>
  return %y, %z : tensor<2x48xf32>, tensor<2x20xf32>
}
