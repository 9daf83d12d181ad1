// RUN: quant-opt %s --qc-form-quantized-contractions --split-input-file | FileCheck %s

// A W8A8 linear with per-token activation scales: one qc.quantized_linear
// on the codes, the layer's attributes kept, the dequantizations erased.
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[Q:.*]]: tensor<?x64xi8>, %[[S:.*]]: tensor<?x1xf32>)
// CHECK: %[[W:.*]] = arith.constant dense<3> : tensor<16x64xi8>
// CHECK: %[[WS:.*]] = arith.constant dense<5.000000e-01> : tensor<16xf32>
// CHECK: %[[B:.*]] = arith.constant dense<1.000000e+00> : tensor<16xf32>
// CHECK-NOT: qc.dequantize
// CHECK: qc.quantized_linear %[[Q]], %[[S]] weight %[[W]], %[[WS]] bias %[[B]] {input_format = #qc.format<int8>, qc.act_slot = "fc", weight_format = #qc.format<int8>}
// CHECK-NOT: qc.linear
func.func @linear(%q: tensor<?x64xi8>, %s: tensor<?x1xf32>) -> tensor<?x16xf32> {
  %wq = arith.constant dense<3> : tensor<16x64xi8>
  %ws = arith.constant dense<0.5> : tensor<16xf32>
  %b = arith.constant dense<1.0> : tensor<16xf32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<16x64xi8>, tensor<16xf32>) -> tensor<16x64xf32>
  %x = qc.dequantize %q, %s {axis = 1 : i64, group_size = 64 : i64, format = #qc.format<int8>} : (tensor<?x64xi8>, tensor<?x1xf32>) -> tensor<?x64xf32>
  %y = qc.linear %x, %w, %b {qc.act_slot = "fc"} : (tensor<?x64xf32>, tensor<16x64xf32>, tensor<16xf32>) -> tensor<?x16xf32>
  return %y : tensor<?x16xf32>
}

// -----

// A grouped convolution's multiply-accumulate (weight [G*O, C, KH, KW]
// dequantized per output channel, then split [G, O, C, KH, KW]): the
// codes are split the same way, the scale [G*O] becomes [G, O], and the
// channel dims are rhs dims 0 and 1. The uint8 activation keeps its zero
// point.
// CHECK-DAG: #[[XM:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d3 + d6, d4 + d7, d1, d5)>
// CHECK-DAG: #[[WM:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d1, d2, d5, d6, d7)>
// CHECK-DAG: #[[OM:.*]] = affine_map<(d0, d1, d2, d3, d4, d5, d6, d7) -> (d0, d3, d4, d1, d2)>
// CHECK-LABEL: func.func @grouped_conv
// CHECK-SAME: (%[[Q:.*]]: tensor<1x6x6x2x4xi8>, %[[S:.*]]: tensor<f32>, %[[Z:.*]]: tensor<i8>, %[[INIT:.*]]: tensor<1x4x4x2x3xf32>)
// CHECK: %[[C:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1], [2], [3], [4]] output_shape [2, 3, 4, 3, 3] : tensor<6x4x3x3xi8> into tensor<2x3x4x3x3xi8>
// CHECK: %[[CS:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [2, 3] : tensor<6xf32> into tensor<2x3xf32>
// CHECK: qc.quantized_contraction %[[Q]], %[[S]] zero_point %[[Z]] weight %[[C]], %[[CS]] init %[[INIT]] {indexing_maps = [#[[XM]], #[[WM]], #[[OM]]]
// CHECK-SAME: rhs_channel_dims = array<i64: 0, 1>
// CHECK-NOT: linalg.generic
#x = affine_map<(n, g, o, h, w, c, kh, kw) -> (n, h + kh, w + kw, g, c)>
#w = affine_map<(n, g, o, h, w, c, kh, kw) -> (g, o, c, kh, kw)>
#o = affine_map<(n, g, o, h, w, c, kh, kw) -> (n, h, w, g, o)>
func.func @grouped_conv(%q: tensor<1x6x6x2x4xi8>, %s: tensor<f32>, %z: tensor<i8>, %init: tensor<1x4x4x2x3xf32>) -> tensor<1x4x4x2x3xf32> {
  %wq = arith.constant dense<2> : tensor<6x4x3x3xi8>
  %ws = arith.constant dense<0.25> : tensor<6xf32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<6x4x3x3xi8>, tensor<6xf32>) -> tensor<6x4x3x3xf32>
  %we = tensor.expand_shape %w [[0, 1], [2], [3], [4]] output_shape [2, 3, 4, 3, 3] : tensor<6x4x3x3xf32> into tensor<2x3x4x3x3xf32>
  %x = qc.dequantize %q, %s, %z {format = #qc.format<uint8>} : (tensor<1x6x6x2x4xi8>, tensor<f32>, tensor<i8>) -> tensor<1x6x6x2x4xf32>
  %y = linalg.generic {indexing_maps = [#x, #w, #o], iterator_types = ["parallel", "parallel", "parallel", "parallel", "parallel", "reduction", "reduction", "reduction"]} ins(%x, %we : tensor<1x6x6x2x4xf32>, tensor<2x3x4x3x3xf32>) outs(%init : tensor<1x4x4x2x3xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x4x4x2x3xf32>
  return %y : tensor<1x4x4x2x3xf32>
}

// -----

// What stays in QDQ form: group-wise weights (W4A8 g32), asymmetric
// weights, FP8, a weight that is not a constant, and K = 2^16 (i32 sums of
// 8-bit products could overflow).
// CHECK-LABEL: func.func @not_formed
// CHECK-NOT: qc.quantized_linear
// CHECK-COUNT-5: qc.linear
func.func @not_formed(%q: tensor<2x64xi8>, %s: tensor<f32>, %w4: tensor<16x64xi4>, %g: tensor<16x2xf32>, %wa: tensor<16x64xi8>, %f8: tensor<2x64xf8E4M3FN>, %q2: tensor<2x65536xi8>) -> (tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>) {
  %x = qc.dequantize %q, %s {format = #qc.format<int8>} : (tensor<2x64xi8>, tensor<f32>) -> tensor<2x64xf32>
  %c4 = arith.constant dense<1> : tensor<16x64xi4>
  %wg = qc.dequantize %c4, %g {axis = 1 : i64, group_size = 32 : i64, format = #qc.format<int4>} : (tensor<16x64xi4>, tensor<16x2xf32>) -> tensor<16x64xf32>
  %y0 = qc.linear %x, %wg : (tensor<2x64xf32>, tensor<16x64xf32>) -> tensor<2x16xf32>
  %c8 = arith.constant dense<1> : tensor<16x64xi8>
  %zp = arith.constant dense<3> : tensor<i8>
  %was = qc.dequantize %c8, %s, %zp {format = #qc.format<uint8>} : (tensor<16x64xi8>, tensor<f32>, tensor<i8>) -> tensor<16x64xf32>
  %y1 = qc.linear %x, %was : (tensor<2x64xf32>, tensor<16x64xf32>) -> tensor<2x16xf32>
  %xf = qc.dequantize %f8, %s {format = #qc.format<fp8e4m3>} : (tensor<2x64xf8E4M3FN>, tensor<f32>) -> tensor<2x64xf32>
  %w8 = qc.dequantize %c8, %s {format = #qc.format<int8>} : (tensor<16x64xi8>, tensor<f32>) -> tensor<16x64xf32>
  %y2 = qc.linear %xf, %w8 : (tensor<2x64xf32>, tensor<16x64xf32>) -> tensor<2x16xf32>
  %wr = qc.dequantize %wa, %s {format = #qc.format<int8>} : (tensor<16x64xi8>, tensor<f32>) -> tensor<16x64xf32>
  %y3 = qc.linear %x, %wr : (tensor<2x64xf32>, tensor<16x64xf32>) -> tensor<2x16xf32>
  %x2 = qc.dequantize %q2, %s {format = #qc.format<int8>} : (tensor<2x65536xi8>, tensor<f32>) -> tensor<2x65536xf32>
  %cl = arith.constant dense<1> : tensor<16x65536xi8>
  %wl = qc.dequantize %cl, %s {format = #qc.format<int8>} : (tensor<16x65536xi8>, tensor<f32>) -> tensor<16x65536xf32>
  %y4 = qc.linear %x2, %wl : (tensor<2x65536xf32>, tensor<16x65536xf32>) -> tensor<2x16xf32>
  return %y0, %y1, %y2, %y3, %y4 : tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x16xf32>
}

// -----

// onnxruntime's QDQ form, as imported: a MatMul generic on a [K, N] weight
// dequantized per column with an explicit zero point of zeros (symmetric):
// formed like a weight without one; the activation's uint8 zero point kept.
// CHECK-LABEL: func.func @imported_zero_point
// CHECK-SAME: (%[[Q:.*]]: tensor<2x64xi8>, %[[S:.*]]: tensor<f32>, %[[Z:.*]]: tensor<i8>, %[[INIT:.*]]: tensor<2x16xf32>)
// CHECK: qc.quantized_contraction %[[Q]], %[[S]] zero_point %[[Z]] weight
// CHECK-SAME: rhs_channel_dims = array<i64: 1>
// CHECK-NOT: qc.dequantize
// CHECK-NOT: linalg.generic
#mx = affine_map<(m, k, n) -> (m, k)>
#mw = affine_map<(m, k, n) -> (k, n)>
#mo = affine_map<(m, k, n) -> (m, n)>
func.func @imported_zero_point(%q: tensor<2x64xi8>, %s: tensor<f32>, %z: tensor<i8>, %init: tensor<2x16xf32>) -> tensor<2x16xf32> {
  %wq = arith.constant dense<5> : tensor<64x16xi8>
  %ws = arith.constant dense<0.125> : tensor<16xf32>
  %wz = arith.constant dense<0> : tensor<16xi8>
  %w = qc.dequantize %wq, %ws, %wz {axis = 1 : i64, format = #qc.format<int8>} : (tensor<64x16xi8>, tensor<16xf32>, tensor<16xi8>) -> tensor<64x16xf32>
  %x = qc.dequantize %q, %s, %z {format = #qc.format<uint8>} : (tensor<2x64xi8>, tensor<f32>, tensor<i8>) -> tensor<2x64xf32>
  %y = linalg.generic {indexing_maps = [#mx, #mw, #mo], iterator_types = ["parallel", "reduction", "parallel"]} ins(%x, %w : tensor<2x64xf32>, tensor<64x16xf32>) outs(%init : tensor<2x16xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}
