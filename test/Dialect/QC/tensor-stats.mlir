// RUN: quant-opt %s --split-input-file --verify-diagnostics | FileCheck %s

// The statistics side table round-trips; defaulted fields are omitted.
// CHECK: module attributes {qc.stats = {
// CHECK-SAME: fc1 = #qc.tensor_stats<count = 4, zeros = 1, min = -1.000000e+00 : f64, max = 2.000000e+00 : f64, sum = 1.000000e+00 : f64, sumSq = 6.000000e+00 : f64, histRange = 2.000000e+00 : f64, histogram = dense<[1, 0, 1, 2]> : tensor<4xi64>, channelAxis = 1, channelMin = dense<[-1.000000e+00, 0.000000e+00]> : tensor<2xf64>, channelMax = dense<[1.000000e+00, 2.000000e+00]> : tensor<2xf64>, channelSumSq = dense<[2.000000e+00, 4.000000e+00]> : tensor<2xf64>, channelCount = dense<2> : tensor<2xi64>, rows = 2, secondMoment = dense<{{\[\[}}1.000000e+00, 5.000000e-01], [5.000000e-01, 2.000000e+00]]> : tensor<2x2xf32>>
// CHECK-SAME: x = #qc.tensor_stats<count = 0, min = 0.000000e+00 : f64, max = 0.000000e+00 : f64, sum = 0.000000e+00 : f64, sumSq = 0.000000e+00 : f64>
module attributes {qc.stats = {
  "fc1" = #qc.tensor_stats<count = 4, zeros = 1, min = -1.0 : f64, max = 2.0 : f64,
      sum = 1.0 : f64, sumSq = 6.0 : f64, histRange = 2.0 : f64,
      histogram = dense<[1, 0, 1, 2]> : tensor<4xi64>, channelAxis = 1,
      channelMin = dense<[-1.0, 0.0]> : tensor<2xf64>,
      channelMax = dense<[1.0, 2.0]> : tensor<2xf64>,
      channelSumSq = dense<[2.0, 4.0]> : tensor<2xf64>,
      channelCount = dense<2> : tensor<2xi64>, rows = 2,
      secondMoment = dense<[[1.0, 0.5], [0.5, 2.0]]> : tensor<2x2xf32>>,
  "x" = #qc.tensor_stats<count = 0, min = 0.0 : f64, max = 0.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64>}} {
}

// -----

// expected-error @+1 {{min must not exceed max}}
module attributes {qc.stats = {"a" = #qc.tensor_stats<count = 1, min = 1.0 : f64, max = 0.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64>}} {
}

// -----

// expected-error @+1 {{the histogram holds 3 elements, count is 4}}
module attributes {qc.stats = {"a" = #qc.tensor_stats<count = 4, min = 0.0 : f64, max = 1.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64, histRange = 1.0 : f64, histogram = dense<[1, 2]> : tensor<2xi64>>}} {
}

// -----

// expected-error @+1 {{channelAxis, channelMin, channelMax, channelSumSq and channelCount come together}}
module attributes {qc.stats = {"a" = #qc.tensor_stats<count = 4, min = 0.0 : f64, max = 1.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64, channelAxis = 1, channelMin = dense<0.0> : tensor<2xf64>>}} {
}

// -----

// expected-error @+1 {{per-channel fields must be f64 [C] (counts i64 [C]) of one length C}}
module attributes {qc.stats = {"a" = #qc.tensor_stats<count = 4, min = 0.0 : f64, max = 1.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64, channelAxis = 0, channelMin = dense<0.0> : tensor<2xf64>, channelMax = dense<0.0> : tensor<3xf64>, channelSumSq = dense<0.0> : tensor<2xf64>, channelCount = dense<0> : tensor<2xi64>>}} {
}

// -----

// expected-error @+1 {{the second moment must be f32 [C, C] (C prod(k) square with patchKernel) beside the per-channel fields}}
module attributes {qc.stats = {"a" = #qc.tensor_stats<count = 4, min = 0.0 : f64, max = 1.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64, rows = 1, secondMoment = dense<0.0> : tensor<2x2xf32>>}} {
}

// -----

// A convolution's im2col moment: 1 channel, a 1x2 window, [2, 2].
// CHECK: p = #qc.tensor_stats<
// CHECK-SAME: rows = 3, secondMoment = dense<{{.*}}> : tensor<2x2xf32>, patchKernel = [1, 2]>
module attributes {qc.stats = {"p" = #qc.tensor_stats<count = 4, min = 0.0 : f64, max = 1.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64, channelAxis = 1, channelMin = dense<0.0> : tensor<1xf64>, channelMax = dense<1.0> : tensor<1xf64>, channelSumSq = dense<1.0> : tensor<1xf64>, channelCount = dense<4> : tensor<1xi64>, rows = 3, secondMoment = dense<[[1.0, 0.5], [0.5, 1.0]]> : tensor<2x2xf32>, patchKernel = [1, 2]>}} {
}

// -----

// expected-error @+1 {{the second moment must be f32 [C, C] (C prod(k) square with patchKernel)}}
module attributes {qc.stats = {"p" = #qc.tensor_stats<count = 4, min = 0.0 : f64, max = 1.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64, channelAxis = 1, channelMin = dense<0.0> : tensor<1xf64>, channelMax = dense<1.0> : tensor<1xf64>, channelSumSq = dense<1.0> : tensor<1xf64>, channelCount = dense<4> : tensor<1xi64>, rows = 3, secondMoment = dense<[[1.0]]> : tensor<1x1xf32>, patchKernel = [1, 2]>}} {
}

// -----

// expected-error @+1 {{patchKernel is positive extents beside a second moment}}
module attributes {qc.stats = {"p" = #qc.tensor_stats<count = 4, min = 0.0 : f64, max = 1.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64, patchKernel = [3, 3]>}} {
}

// -----

// expected-error @+1 {{a second moment comes with rows > 0}}
module attributes {qc.stats = {"a" = #qc.tensor_stats<count = 4, min = 0.0 : f64, max = 1.0 : f64, sum = 0.0 : f64, sumSq = 0.0 : f64, rows = 3>}} {
}

// -----

// expected-error @+1 {{qc.stats entry 'a' is not a #qc.tensor_stats}}
module attributes {qc.stats = {"a" = 1 : i64}} {
}

// -----

// expected-error @+1 {{qc.stats (the statistics side table) belongs on a module}}
func.func @f() attributes {qc.stats = {}} {
  return
}

// -----

func.func @g(%x: tensor<4x8xf32>) -> tensor<4x16xf32> {
  %w = arith.constant dense<0.5> : tensor<16x8xf32>
  // expected-error @+1 {{qc.act_slot must be a non-empty string}}
  %y = qc.linear %x, %w {qc.act_slot = 3 : i64} : (tensor<4x8xf32>, tensor<16x8xf32>) -> tensor<4x16xf32>
  return %y : tensor<4x16xf32>
}
