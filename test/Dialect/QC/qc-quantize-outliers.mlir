// RUN: quant-opt %s --qc-quantize=outlier-channels=1 | FileCheck %s
// RUN: quant-opt %s --qc-quantize=outlier-channels=2 | FileCheck %s --check-prefix=TWO
// RUN: quant-opt %s --qc-quantize | FileCheck %s --check-prefix=NONE

// Channel 1 has the largest calibrated magnitude (12.7): its weight column is
// zero on the grid (row scales from the other columns: 1/127 and 2/127), a
// float linear over x[:, 1] adds it back, and the static scale covers the
// other channels only: max(2.54, 1) / 127 = 0.02, not 12.7 / 127.
// CHECK-LABEL: func.func @linear
// CHECK-DAG: %[[Q:.*]] = arith.constant dense<{{\[\[}}127, 0, 64, 32], [32, 0, -64, 127]]> : tensor<2x4xi8>
// CHECK-DAG: %[[WS:.*]] = arith.constant dense<[0.00787401571, 0.0157480314]> : tensor<2xf32>
// CHECK-DAG: %[[SIDE:.*]] = arith.constant dense_resource<[[SW:qc_outlier_weight[_0-9]*]]> : tensor<2x1xf32>
// CHECK: %[[XS:.*]] = tensor.extract_slice %arg0[0, 1] [%{{.*}}, 1] [1, 1] : tensor<?x4xf32> to tensor<?x1xf32>
// CHECK: %[[YS:.*]] = qc.linear %[[XS]], %[[SIDE]] : (tensor<?x1xf32>, tensor<2x1xf32>) -> tensor<?x2xf32>
// CHECK: %[[S:.*]] = arith.constant dense<2.000000e-02> : tensor<f32>
// CHECK: qc.quantize %arg0, %[[S]]
// CHECK: %[[Y:.*]] = qc.linear %{{.*}}, %{{.*}}, %{{.*}} {{{.*}}qc.outlier_channels = array<i64: 1>
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[Y]], %[[YS]] : tensor<?x2xf32>, tensor<?x2xf32>)
// CHECK: arith.addf
// CHECK: return %[[SUM]]

// Two channels (1 and 3, magnitudes 12.7 and 2.54): the rest's extremes are
// [-1, 1], so the scale is 1 / 127; the side product is [?, 2].
// TWO-LABEL: func.func @linear
// TWO: tensor.extract_slice %arg0[0, 1]
// TWO: tensor.extract_slice %arg0[0, 3]
// TWO: tensor.concat dim(1)
// TWO: qc.linear {{.*}} : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
// TWO: arith.constant dense<0.00787401571> : tensor<f32>
// TWO: qc.outlier_channels = array<i64: 1, 3>

// Without the option: the scale covers the whole range, 12.7 / 127 = 0.1.
// NONE-LABEL: func.func @linear
// NONE: arith.constant dense<1.000000e-01> : tensor<f32>
// NONE-NOT: qc.outlier_channels

// A dynamic (per-token) activation: the same split, and the scales are
// computed from x with channel 1 zeroed (x * [1, 0, 1, 1]), so its values
// do not set any row's scale.
// CHECK-LABEL: func.func @dynamic
// CHECK: tensor.extract_slice %arg0[0, 1]
// CHECK: %[[MASK:.*]] = arith.constant dense_resource<[[MB:qc_outlier_mask[_0-9]*]]> : tensor<4xf32>
// CHECK: %[[XM:.*]] = linalg.generic {{.*}} ins(%arg0, %[[MASK]] : tensor<?x4xf32>, tensor<4xf32>)
// CHECK: arith.mulf
// CHECK: linalg.generic {{.*}} ins(%[[XM]] : tensor<?x4xf32>)
// CHECK: math.absf
// CHECK: qc.quantize %[[XM]]
// CHECK: qc.linear {{.*}}qc.outlier_channels = array<i64: 1>, qc.scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>
// CHECK: return
// In the resources at the end: the side weight, column 1 of W, [-2, 1] as
// little-endian f32 after the blob's alignment word; the mask [1, 0, 1, 1].
// CHECK-DAG: [[SW]]: "0x08000000000000C00000803F"
// CHECK-DAG: [[MB]]: "0x080000000000803F000000000000803F0000803F"
module attributes {qc.stats = {x = #qc.tensor_stats<count = 12, min = -8.0 : f64, max = 12.7 : f64, sum = 0.0 : f64, sumSq = 10.0 : f64, channelAxis = -1, channelMin = dense<[-1.0, -8.0, -0.5, -2.54]> : tensor<4xf64>, channelMax = dense<[1.0, 12.7, 0.25, 1.0]> : tensor<4xf64>, channelSumSq = dense<1.0> : tensor<4xf64>, channelCount = dense<3> : tensor<4xi64>>}} {
func.func @linear(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, -2.0, 0.5, 0.25], [0.5, 1.0, -1.0, 2.0]]> : tensor<2x4xf32>
  %b = arith.constant dense<[1.0, 2.0]> : tensor<2xf32>
  %y = qc.linear %x, %w, %b {qc.act_slot = "x", qc.scheme = #qc.scheme<w = int8 channel, a = int8 tensor static, range = [-8.0, 12.7]>} : (tensor<?x4xf32>, tensor<2x4xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
func.func @dynamic(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[1.0, -2.0, 0.5, 0.25], [0.5, 1.0, -1.0, 2.0]]> : tensor<2x4xf32>
  %y = qc.linear %x, %w {qc.act_slot = "x", qc.scheme = #qc.scheme<w = int8 channel, a = int8 token dynamic>} : (tensor<?x4xf32>, tensor<2x4xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
}
