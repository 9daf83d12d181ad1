// RUN: quant-opt %s --pass-pipeline='builtin.module(func.func(qc-form-quantized-contractions,qc-cpu-lower-quantized-contractions{dot4-layout=true}))' --split-input-file | FileCheck %s

// dot4-layout: the weight codes [N=3, K=8] stored [K/4, N, 4] (element
// (q, n, j) = codes[n][4q + j]; no panel width divides 3); signed x is
// multiplied as x + 128 (xor 0x80 in a generic of its own, before the
// contraction, then zero-extended) from an accumulator that starts at
// -128 * sum_k codes[n][k] (rows 1..8 -> 36, 9..16 -> 100, 17..24 -> 164).
// CHECK-DAG: #[[XMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 4 + d3)>
// CHECK-DAG: #[[WMAP:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
// CHECK-LABEL: func.func @linear
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[}}1, 2, 3, 4], [9, 10, 11, 12], [17, 18, 19, 20]], {{\[\[}}5, 6, 7, 8], [13, 14, 15, 16], [21, 22, 23, 24]]]> : tensor<2x3x4xi8>
// CHECK: %[[FLIP:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<5x8xi8>)
// CHECK-NEXT: ^bb0(%[[IN:.*]]: i8, %{{.*}}: i8):
// CHECK: %[[X:.*]] = arith.xori %[[IN]], %{{.*}} : i8
// CHECK-NEXT: linalg.yield %[[X]]
// CHECK: %[[INIT:.*]] = arith.constant dense<[-4608, -12800, -20992]> : tensor<3xi32>
// CHECK: %[[ACC0:.*]] = linalg.generic {{.*}} ins(%[[INIT]] : tensor<3xi32>)
// CHECK: linalg.generic {indexing_maps = [#[[XMAP]], #[[WMAP]], {{.*}}], iterator_types = ["parallel", "reduction", "parallel", "reduction"]} ins(%[[FLIP]], %[[W]] : tensor<5x8xi8>, tensor<2x3x4xi8>) outs(%[[ACC0]] : tensor<5x3xi32>)
// CHECK-SAME: attrs = {qc.encoding = #qc.encoding<dot4>}
// CHECK-NOT: arith.xori
// CHECK: arith.extui %{{.*}} : i8 to i32
// CHECK: arith.extsi %{{.*}} : i8 to i32
// CHECK: arith.muli
// CHECK: arith.addi
// CHECK: arith.sitofp
// CHECK-NOT: qc.linear
func.func @linear(%q: tensor<5x8xi8>) -> tensor<5x3xf32> {
  %wq = arith.constant dense<[[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12, 13, 14, 15, 16], [17, 18, 19, 20, 21, 22, 23, 24]]> : tensor<3x8xi8>
  %ws = arith.constant dense<0.5> : tensor<3xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<3x8xi8>, tensor<3xf32>) -> tensor<3x8xf32>
  %x = qc.dequantize %q, %s {format = #qc.format<int8>} : (tensor<5x8xi8>, tensor<f32>) -> tensor<5x8xf32>
  %y = qc.linear %x, %w : (tensor<5x8xf32>, tensor<3x8xf32>) -> tensor<5x3xf32>
  return %y : tensor<5x3xf32>
}

// -----

// N = 16: the codes in panels of 16 output columns, [N/16, K/4, 16, 4]
// (element (b, q, i, j) = codes[16 b + i][4 q + j], codes[n][k] = 8 n + k
// here), loops (m, b, q, i, j); the accumulator [M, N/16, 16] starts at
// -128 * (64 n + 28) and is collapsed to [M, N] for the epilogue.
// CHECK-DAG: #[[PX:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2 * 4 + d4)>
// CHECK-DAG: #[[PW:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d1, d2, d3, d4)>
// CHECK-DAG: #[[PO:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, d3)>
// CHECK-LABEL: func.func @panels
// CHECK-DAG: %[[W:.*]] = arith.constant dense<"0x0001020308090A0B1011121318191A1B{{.*}}"> : tensor<1x2x16x4xi8>
// CHECK-DAG: %[[INIT:.*]] = arith.constant dense<{{\[\[}}-3584, -11776, -19968{{.*}} : tensor<1x16xi32>
// CHECK: %[[ACC0:.*]] = linalg.generic {{.*}} ins(%[[INIT]] : tensor<1x16xi32>) outs(%{{.*}} : tensor<2x1x16xi32>)
// CHECK: %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[PX]], #[[PW]], #[[PO]]], iterator_types = ["parallel", "parallel", "reduction", "parallel", "reduction"]} ins(%{{.*}}, %[[W]] : tensor<2x8xi8>, tensor<1x2x16x4xi8>) outs(%[[ACC0]] : tensor<2x1x16xi32>)
// CHECK: tensor.collapse_shape %[[ACC]] {{\[\[}}0], [1, 2]] : tensor<2x1x16xi32> into tensor<2x16xi32>
func.func @panels(%q: tensor<2x8xi8>) -> tensor<2x16xf32> {
  %wq = arith.constant dense<[[0, 1, 2, 3, 4, 5, 6, 7], [8, 9, 10, 11, 12, 13, 14, 15], [16, 17, 18, 19, 20, 21, 22, 23], [24, 25, 26, 27, 28, 29, 30, 31], [32, 33, 34, 35, 36, 37, 38, 39], [40, 41, 42, 43, 44, 45, 46, 47], [48, 49, 50, 51, 52, 53, 54, 55], [56, 57, 58, 59, 60, 61, 62, 63], [64, 65, 66, 67, 68, 69, 70, 71], [72, 73, 74, 75, 76, 77, 78, 79], [80, 81, 82, 83, 84, 85, 86, 87], [88, 89, 90, 91, 92, 93, 94, 95], [96, 97, 98, 99, 100, 101, 102, 103], [104, 105, 106, 107, 108, 109, 110, 111], [112, 113, 114, 115, 116, 117, 118, 119], [120, 121, 122, 123, 124, 125, 126, 127]]> : tensor<16x8xi8>
  %ws = arith.constant dense<0.5> : tensor<16xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<16x8xi8>, tensor<16xf32>) -> tensor<16x8xf32>
  %x = qc.dequantize %q, %s {format = #qc.format<int8>} : (tensor<2x8xi8>, tensor<f32>) -> tensor<2x8xf32>
  %y = qc.linear %x, %w : (tensor<2x8xf32>, tensor<16x8xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}

// -----

// Unsigned (asymmetric) x is already u8: no flip, a zero accumulator.
// CHECK-LABEL: func.func @unsigned_x
// CHECK: linalg.fill
// CHECK: linalg.generic {{.*}} ins(%arg0, %{{.*}} : tensor<2x8xi8>, tensor<2x4x4xi8>)
// CHECK-NOT: arith.xori
// CHECK: arith.extui %{{.*}} : i8 to i32
func.func @unsigned_x(%q: tensor<2x8xi8>) -> tensor<2x4xf32> {
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

// K not a multiple of 4: the [K, N] layout (f32 weight codes: K = 6 sums
// accumulate in f32).
// CHECK-LABEL: func.func @odd_k
// CHECK-NOT: arith.xori
// CHECK: linalg.generic {{.*}} ins(%arg0, %{{.*}} : tensor<2x6xi8>, tensor<6x4xf32>)
func.func @odd_k(%q: tensor<2x6xi8>) -> tensor<2x4xf32> {
  %wq = arith.constant dense<3> : tensor<4x6xi8>
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<4x6xi8>, tensor<4xf32>) -> tensor<4x6xf32>
  %x = qc.dequantize %q, %s {format = #qc.format<int8>} : (tensor<2x6xi8>, tensor<f32>) -> tensor<2x6xf32>
  %y = qc.linear %x, %w : (tensor<2x6xf32>, tensor<4x6xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// -----

// A convolution-shaped generic (loops n, m, c, kw, ow): its channel loop c
// (8) splits into 2 x 4. x codes are relaid [1, 2, 6, 4] at run time, the
// weight [4, 2, 3, 4] at compile time, and the new loop j of 4 is the
// innermost reduction; the accumulator starts at -128 * sum over (c, kw).
// CHECK-DAG: #[[X4SRC:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1 * 4 + d3, d2)>
// CHECK-DAG: #[[XC:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d0, d2, d3 + d4, d5)>
// CHECK-DAG: #[[WC:.*]] = affine_map<(d0, d1, d2, d3, d4, d5) -> (d1, d2, d3, d5)>
// The relayout flips the sign bit of the signed x on the way.
// CHECK-LABEL: func.func @conv
// CHECK: %[[X4:.*]] = linalg.generic {indexing_maps = [#[[X4SRC]], {{.*}}]{{.*}} ins(%arg0 : tensor<1x8x6xi8>) outs(%{{.*}} : tensor<1x2x6x4xi8>)
// CHECK-NEXT: ^bb0(%[[IN:.*]]: i8, %{{.*}}: i8):
// CHECK: %[[X:.*]] = arith.xori %[[IN]], %{{.*}} : i8
// CHECK-NEXT: linalg.yield %[[X]]
// CHECK: %[[W4:.*]] = arith.constant dense<1> : tensor<4x2x3x4xi8>
// CHECK: %[[S:.*]] = arith.constant dense<-3072> : tensor<4xi32>
// CHECK: %[[ACC0:.*]] = linalg.generic {{.*}} ins(%[[S]] : tensor<4xi32>)
// CHECK: linalg.generic {indexing_maps = [#[[XC]], #[[WC]], {{.*}}], iterator_types = ["parallel", "parallel", "reduction", "reduction", "parallel", "reduction"]} ins(%[[X4]], %[[W4]] : tensor<1x2x6x4xi8>, tensor<4x2x3x4xi8>) outs(%[[ACC0]] : tensor<1x4x4xi32>)
// CHECK-SAME: attrs = {qc.encoding = #qc.encoding<dot4>}
// CHECK-NOT: arith.xori
// CHECK: arith.extui
func.func @conv(%q: tensor<1x8x6xi8>) -> tensor<1x4x4xf32> {
  %wq = arith.constant dense<1> : tensor<4x8x3xi8>
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int8>} : (tensor<4x8x3xi8>, tensor<4xf32>) -> tensor<4x8x3xf32>
  %x = qc.dequantize %q, %s {format = #qc.format<int8>} : (tensor<1x8x6xi8>, tensor<f32>) -> tensor<1x8x6xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(n, m, c, kw, ow) -> (n, c, ow + kw)>,
                                        affine_map<(n, m, c, kw, ow) -> (m, c, kw)>,
                                        affine_map<(n, m, c, kw, ow) -> (n, m, ow)>],
                       iterator_types = ["parallel", "parallel", "reduction", "reduction", "parallel"]}
      ins(%x, %w : tensor<1x8x6xf32>, tensor<4x8x3xf32>) outs(%init : tensor<1x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x4x4xf32>
  return %y : tensor<1x4x4xf32>
}

// -----

// The same convolution with 4-bit weights (W4A8): the relaid constant keeps
// its i4 codes (qc-cpu-pack-weights packs them), widened to i8 by an
// elementwise generic that feeds the same dot4 contraction; the
// accumulator start is -128 * sum over (c, kw) of the codes (-2 x 24).
// CHECK-LABEL: func.func @conv_int4
// CHECK: %[[X4:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x2x6x4xi8>)
// CHECK: %[[W4:.*]] = arith.constant dense<-2> : tensor<4x2x3x4xi4>
// CHECK: %[[W8:.*]] = linalg.generic {{.*}} ins(%[[W4]] : tensor<4x2x3x4xi4>) outs(%{{.*}} : tensor<4x2x3x4xi8>)
// CHECK: arith.extsi %{{.*}} : i4 to i8
// CHECK: %[[S:.*]] = arith.constant dense<6144> : tensor<4xi32>
// CHECK: linalg.generic {{.*}} ins(%[[X4]], %[[W8]] : tensor<1x2x6x4xi8>, tensor<4x2x3x4xi8>)
func.func @conv_int4(%q: tensor<1x8x6xi8>) -> tensor<1x4x4xf32> {
  %wq = arith.constant dense<-2> : tensor<4x8x3xi4>
  %ws = arith.constant dense<0.5> : tensor<4xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %w = qc.dequantize %wq, %ws {axis = 0 : i64, format = #qc.format<int4>} : (tensor<4x8x3xi4>, tensor<4xf32>) -> tensor<4x8x3xf32>
  %x = qc.dequantize %q, %s {format = #qc.format<int8>} : (tensor<1x8x6xi8>, tensor<f32>) -> tensor<1x8x6xf32>
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<1x4x4xf32>
  %init = linalg.fill ins(%zero : f32) outs(%e : tensor<1x4x4xf32>) -> tensor<1x4x4xf32>
  %y = linalg.generic {indexing_maps = [affine_map<(n, m, c, kw, ow) -> (n, c, ow + kw)>,
                                        affine_map<(n, m, c, kw, ow) -> (m, c, kw)>,
                                        affine_map<(n, m, c, kw, ow) -> (n, m, ow)>],
                       iterator_types = ["parallel", "parallel", "reduction", "reduction", "parallel"]}
      ins(%x, %w : tensor<1x8x6xf32>, tensor<4x8x3xf32>) outs(%init : tensor<1x4x4xf32>) {
  ^bb0(%a: f32, %b: f32, %acc: f32):
    %p = arith.mulf %a, %b : f32
    %r = arith.addf %acc, %p : f32
    linalg.yield %r : f32
  } -> tensor<1x4x4xf32>
  return %y : tensor<1x4x4xf32>
}
