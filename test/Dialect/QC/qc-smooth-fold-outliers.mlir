// RUN: quant-opt %s --qc-smooth-fold | FileCheck %s --check-prefix=ALL
// RUN: quant-opt %s --qc-smooth-fold=outlier-channels=1 | FileCheck %s --check-prefix=SPLIT

// A static layer whose channel 0 spans +-100 and the others +-1.2: with
// every channel on one static grid the search migrates the outlier into the
// weights (alpha 0.6); when qc-quantize computes channel 0 in float
// (outlier-channels=1) the grid only covers the others, and the search
// then moves nothing from the activation to the weights (alpha 0: the
// factors only equalise the weights' columns).
// ALL: qc.smooth_alpha = 0.60000000000000009
// SPLIT: qc.smooth_alpha = 0.000000e+00
module attributes {qc.stats = {x = #qc.tensor_stats<count = 4000, min = -100.0 : f64, max = 100.0 : f64, sum = 0.0 : f64, sumSq = 10.0 : f64, channelAxis = -1, channelMin = dense<[-100.0, -1.0, -1.2, -0.9]> : tensor<4xf64>, channelMax = dense<[100.0, 1.1, 0.8, 1.0]> : tensor<4xf64>, channelSumSq = dense<[4.0e6, 400.0, 400.0, 400.0]> : tensor<4xf64>, channelCount = dense<1000> : tensor<4xi64>>}} {
func.func @static(%x: tensor<?x4xf32>) -> tensor<?x2xf32> {
  %w = arith.constant dense<[[0.3, -0.2, 0.5, 0.25], [0.5, 0.1, -0.4, 0.2]]> : tensor<2x4xf32>
  %y = qc.linear %x, %w {qc.act_slot = "x", qc.scheme = #qc.scheme<w = int8 channel, a = int8 tensor static, range = [-100.0, 100.0]>} : (tensor<?x4xf32>, tensor<2x4xf32>) -> tensor<?x2xf32>
  return %y : tensor<?x2xf32>
}
}
