// RUN: quant-opt %s --pass-pipeline='builtin.module(func.func(qc-form-quantized-contractions,qc-bitplane{mode=on},qc-cpu-lower-quantized-contractions))' | FileCheck %s

// A W2A2 linear (signed codes) as bit planes. Weight codes [[1, -2, 0],
// [-1, 1, 1]] read unsigned (+2): [[3, 0, 2], [1, 3, 3]]; their planes in
// one panel of the N = 2 columns ([N/P, W, words, P]): plane 0 holds bit 0
// of each column's codes along K (column 0: 0b001 = 1, column 1: 0b111 = 7),
// plane 1 bit 1 (0b101 = 5, 0b110 = 6). The activation codes are widened
// to bytes (a generic that fuses with their quantization), padded to a
// 64-bit word and packed per plane (read unsigned: + 2); each pair of
// planes (i, j) adds popcount(W_i AND X_j) << (i + j); the signed codes'
// offsets come off after: - 2 * colsum(u_w) = [5, 7] per column,
// - 2 * rowsum(u_x), + K * 2 * 2 = 12.
// CHECK-DAG: #[[X0:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, 0, d3)>
// CHECK-DAG: #[[X1:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, 1, d3)>
// CHECK-DAG: #[[W0:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, 0, d3, d2)>
// CHECK-DAG: #[[W1:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, 1, d3, d2)>
// CHECK-LABEL: func.func @w2a2
// CHECK: %[[W:.*]] = arith.constant dense<{{\[\[\[\[}}1, 7]], {{\[\[}}5, 6]]]]> : tensor<1x2x1x2xi64>
// CHECK: %[[X8:.*]] = linalg.generic {{.*}} ins(%arg0 : tensor<4x3xi2>) outs(%{{.*}} : tensor<4x3xi8>)
// CHECK: arith.extsi %{{.*}} : i2 to i8
// CHECK: %[[PAD:.*]] = tensor.pad %[[X8]] low[0, 0] high[0, 61]
// CHECK: %[[EXP:.*]] = tensor.expand_shape %[[PAD]] {{\[\[}}0], [1, 2]] output_shape [4, 1, 64] : tensor<4x64xi8> into tensor<4x1x64xi8>
// CHECK: %[[X:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[EXP]] : tensor<4x1x64xi8>) outs(%{{.*}} : tensor<4x2x1xi64>)
// CHECK: %[[E:.*]] = arith.extsi %{{.*}} : i8 to i64
// CHECK: arith.addi %[[E]], %c2_i64
// CHECK: arith.shrui
// CHECK: arith.shli
// CHECK: arith.ori
// One step of the words computes the four pairs, weighed by Horner's rule
// over i + j: ((P11 << 1) + P01 + P10) << 1 + P00.
// CHECK: %[[ACC:.*]] = linalg.generic {indexing_maps = [#[[X0]], #[[X1]], #[[W0]], #[[W1]], {{.*}}], iterator_types = ["parallel", "parallel", "parallel", "reduction"]} ins(%[[X]], %[[X]], %[[W]], %[[W]] : tensor<4x2x1xi64>, tensor<4x2x1xi64>, tensor<1x2x1x2xi64>, tensor<1x2x1x2xi64>)
// CHECK-NEXT: ^bb0(%[[X0V:.*]]: i64, %[[X1V:.*]]: i64, %[[W0V:.*]]: i64, %[[W1V:.*]]: i64, %[[OUT:.*]]: i64):
// CHECK: %[[A11:.*]] = arith.andi %[[W1V]], %[[X1V]]
// CHECK-NEXT: %[[P11:.*]] = math.ctpop %[[A11]]
// CHECK-NEXT: %[[A01:.*]] = arith.andi %[[W0V]], %[[X1V]]
// CHECK-NEXT: %[[P01:.*]] = math.ctpop %[[A01]]
// CHECK-NEXT: %[[A10:.*]] = arith.andi %[[W1V]], %[[X0V]]
// CHECK-NEXT: %[[P10:.*]] = math.ctpop %[[A10]]
// CHECK-NEXT: %[[C1:.*]] = arith.addi %[[P01]], %[[P10]]
// CHECK-NEXT: %[[H2:.*]] = arith.shli %[[P11]], %c1_i64
// CHECK-NEXT: %[[H1:.*]] = arith.addi %[[H2]], %[[C1]]
// CHECK-NEXT: %[[A00:.*]] = arith.andi %[[W0V]], %[[X0V]]
// CHECK-NEXT: %[[P00:.*]] = math.ctpop %[[A00]]
// CHECK-NEXT: %[[H1S:.*]] = arith.shli %[[H1]], %c1_i64
// CHECK-NEXT: %[[H0:.*]] = arith.addi %[[H1S]], %[[P00]]
// CHECK-NEXT: arith.addi %[[OUT]], %[[H0]]
// CHECK: tensor.collapse_shape %[[ACC]]
// CHECK: arith.constant dense<[5, 7]> : tensor<2xi64>
// CHECK: arith.constant 12 : i64
// CHECK: arith.trunci %{{.*}} : i64 to i32
// CHECK: arith.sitofp
// CHECK-NOT: qc.quantized_linear
func.func @w2a2(%q: tensor<4x3xi2>) -> tensor<4x2xf32> {
  %w = arith.constant dense<[[1, -2, 0], [-1, 1, 1]]> : tensor<2x3xi2>
  %ws = arith.constant dense<0.5> : tensor<2xf32>
  %s = arith.constant dense<0.1> : tensor<f32>
  %x = qc.dequantize %q, %s {format = #qc.format<int2>} : (tensor<4x3xi2>, tensor<f32>) -> tensor<4x3xf32>
  %wd = qc.dequantize %w, %ws {axis = 0 : i64, format = #qc.format<int2>} : (tensor<2x3xi2>, tensor<2xf32>) -> tensor<2x3xf32>
  %y = qc.linear %x, %wd : (tensor<4x3xf32>, tensor<2x3xf32>) -> tensor<4x2xf32>
  return %y : tensor<4x2xf32>
}
