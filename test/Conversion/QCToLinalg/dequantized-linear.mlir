// qc-convert-to-linalg: a qc.linear whose weight dequantizes constant codes
// (here int4 with group scales, the weight-only W4 g4 case). The codes are
// transposed at compile time ([4, 8] -> [8, 4]) and so are the group
// scales ([4, 2] -> [2, 4]); the contraction dequantizes each weight
// element where it multiplies it (loops m, k, n; the scale of element
// (k, n) read at (k floordiv 4, n)), at any number of rows: no float
// weight is built. qc-cpu-pack-weights then has it read two codes per byte.
// Numerics: test/e2e/quantized-mlp.test (W4A16, at 1, 3, 8 and 128 rows).
// RUN: quant-opt %s --qc-cpu-materialize-encodings --qc-convert-to-linalg | FileCheck %s
// RUN: quant-opt %s --qc-cpu-materialize-encodings --qc-convert-to-linalg --qc-cpu-pack-weights --canonicalize | FileCheck %s --check-prefix=PACK

// CHECK-DAG: #[[X:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[Q:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[S:.*]] = affine_map<(d0, d1, d2) -> (d1 floordiv 4, d2)>
// CHECK-DAG: #[[O:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// The maps of @panels.
// CHECK-DAG: #[[PX:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2)>
// CHECK-DAG: #[[PQ:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
// CHECK-DAG: #[[PS:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d3)>
// CHECK-DAG: #[[PO:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>

// CHECK-LABEL: func.func @few_rows
// CHECK-DAG: %[[SC:.*]] = arith.constant dense<{{\[\[}}1.000000e+00, 3.000000e+00, 5.000000e+00, 7.000000e+00], [2.000000e+00, 4.000000e+00, 6.000000e+00, 8.000000e+00]]> : tensor<2x4xf32>
// CHECK-DAG: %[[QT:.*]] = arith.constant dense<{{\[\[}}1, 0, -1, 7], [2, 1, -2, 7], {{.*}}]> : tensor<8x4xi4>
// CHECK-NOT: qc.dequantize
// CHECK: linalg.generic {indexing_maps = [#[[X]], #[[Q]], #[[S]], #[[O]]], iterator_types = ["parallel", "reduction", "parallel"]} ins(%{{.*}}, %[[QT]], %[[SC]] : tensor<2x8xf32>, tensor<8x4xi4>, tensor<2x4xf32>)
// CHECK: ^bb0(%[[XV:.*]]: f32, %[[QV:.*]]: i4, %[[SV:.*]]: f32, %[[ACC:.*]]: f32):
// CHECK: %[[E:.*]] = arith.extsi %[[QV]] : i4 to i32
// CHECK: %[[F:.*]] = arith.sitofp %[[E]] : i32 to f32
// CHECK: %[[W:.*]] = arith.mulf %[[F]], %[[SV]] : f32
// CHECK: %[[P:.*]] = arith.mulf %[[XV]], %[[W]]
// CHECK: arith.addf %[[ACC]], %[[P]]

// PACK-LABEL: func.func @few_rows
// PACK: %[[B:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [8, 2] : tensor<16xi8> into tensor<8x2xi8>
// PACK: linalg.generic {indexing_maps = [#{{.*}}, #[[PM:[^,]*]], {{.*}} ins(%{{.*}}, %[[B]], %{{.*}} : tensor<2x8xf32>, tensor<8x2xi8>, tensor<2x4xf32>)
// PACK: ^bb0(%{{.*}}: f32, %[[BV:.*]]: i8,
// PACK: %[[N:.*]] = linalg.index 2 : index
// PACK: %[[R:.*]] = arith.remui %[[N]], %c2
// PACK: %[[SH:.*]] = arith.muli %[[R]], %c4
// PACK: %[[UP:.*]] = arith.subi %c28, %[[SH]]
// PACK: %[[BW:.*]] = arith.extui %[[BV]] : i8 to i32
// PACK: %[[UP32:.*]] = arith.index_cast %[[UP]] : index to i32
// PACK: %[[T:.*]] = arith.shli %[[BW]], %[[UP32]] : i32
// PACK: %[[C:.*]] = arith.shrui %[[T]], %c28_i32 : i32
// PACK: arith.trunci %[[C]] : i32 to i4
func.func @few_rows(%x: tensor<2x8xf32>) -> tensor<2x4xf32> {
  %q = arith.constant dense<[[1, 2, 3, 4, 5, 6, 7, -8], [0, 1, 0, 1, 0, 1, 0, 1], [-1, -2, -3, -4, -5, -6, -7, -8], [7, 7, 7, 7, 7, 7, 7, 7]]> : tensor<4x8xi4>
  %s = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
  %w = qc.dequantize %q, %s {axis = 1 : i64, group_size = 4 : i64, format = #qc.format<int4>} : (tensor<4x8xi4>, tensor<4x2xf32>) -> tensor<4x8xf32>
  %y = qc.linear %x, %w : (tensor<2x8xf32>, tensor<4x8xf32>) -> tensor<2x4xf32>
  return %y : tensor<2x4xf32>
}

// Dynamic rows (batch x sequence here): the same contraction, the codes
// read packed.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK-NOT: scf.if
// CHECK-NOT: tensor<8x4xf32>
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}, #{{.*}}, #{{.*}}], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x8xf32>, tensor<8x4xi4>, tensor<2x4xf32>)
// CHECK-NOT: tensor<8x4xf32>
// CHECK: return
// PACK-LABEL: func.func @dynamic_rows
// PACK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}}, %{{.*}} : tensor<?x?x8xf32>, tensor<8x2xi8>, tensor<2x4xf32>)
func.func @dynamic_rows(%x: tensor<?x?x8xf32>) -> tensor<?x?x4xf32> {
  %q = arith.constant dense<[[1, 2, 3, 4, 5, 6, 7, -8], [0, 1, 0, 1, 0, 1, 0, 1], [-1, -2, -3, -4, -5, -6, -7, -8], [7, 7, 7, 7, 7, 7, 7, 7]]> : tensor<4x8xi4>
  %s = arith.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0], [7.0, 8.0]]> : tensor<4x2xf32>
  %w = qc.dequantize %q, %s {axis = 1 : i64, group_size = 4 : i64, format = #qc.format<int4>} : (tensor<4x8xi4>, tensor<4x2xf32>) -> tensor<4x8xf32>
  %y = qc.linear %x, %w : (tensor<?x?x8xf32>, tensor<4x8xf32>) -> tensor<?x?x4xf32>
  return %y : tensor<?x?x4xf32>
}

// N = 16 output features: the codes in one panel of 16 columns, [1, 8, 16]
// (element [b, k, i] = codes[16 b + i, k]; codes[n, k] = (n + 2k) mod 16 - 8
// here); loops (m, nb, k, ni) and the output [2, 1, 16] collapsed to
// [2, 16]; the per-channel scales and the bias are read as [1, 16].
// CHECK-LABEL: func.func @panels
// The panel's first two rows, k = 0 and 1 (a code per byte, printed in
// hex): -8, -7, ..., 7 and -6, -5, ..., 7, -8, -7.
// CHECK: %[[QP:.*]] = arith.constant dense<"0x08090A0B0C0D0E0F00010203040506070A0B0C0D0E0F00010203040506070809{{.*}}"> : tensor<1x8x16xi4>
// CHECK: %[[SP:.*]] = arith.constant dense<{{.*}}> : tensor<1x16xf32>
// CHECK: %[[B:.*]] = tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [1, 16] : tensor<16xf32> into tensor<1x16xf32>
// CHECK: %[[Y:.*]] = linalg.generic {indexing_maps = [#[[PX]], #[[PQ]], #[[PS]], #[[PO]]], iterator_types = ["parallel", "parallel", "reduction", "parallel"]} ins(%{{.*}}, %[[QP]], %[[SP]] : tensor<2x8xf32>, tensor<1x8x16xi4>, tensor<1x16xf32>) outs(%{{.*}} : tensor<2x1x16xf32>)
// CHECK: tensor.collapse_shape %[[Y]] {{\[\[}}0], [1, 2]] : tensor<2x1x16xf32> into tensor<2x16xf32>
func.func @panels(%x: tensor<2x8xf32>) -> tensor<2x16xf32> {
  %qb = arith.constant dense<[[-8, -6, -4, -2, 0, 2, 4, 6], [-7, -5, -3, -1, 1, 3, 5, 7], [-6, -4, -2, 0, 2, 4, 6, -8], [-5, -3, -1, 1, 3, 5, 7, -7], [-4, -2, 0, 2, 4, 6, -8, -6], [-3, -1, 1, 3, 5, 7, -7, -5], [-2, 0, 2, 4, 6, -8, -6, -4], [-1, 1, 3, 5, 7, -7, -5, -3], [0, 2, 4, 6, -8, -6, -4, -2], [1, 3, 5, 7, -7, -5, -3, -1], [2, 4, 6, -8, -6, -4, -2, 0], [3, 5, 7, -7, -5, -3, -1, 1], [4, 6, -8, -6, -4, -2, 0, 2], [5, 7, -7, -5, -3, -1, 1, 3], [6, -8, -6, -4, -2, 0, 2, 4], [7, -7, -5, -3, -1, 1, 3, 5]]> : tensor<16x8xi4>
  %s = arith.constant dense<[0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0, 7.5, 8.0]> : tensor<16xf32>
  %b = arith.constant dense<0.25> : tensor<16xf32>
  %w = qc.dequantize %qb, %s {axis = 0 : i64, format = #qc.format<int4>} : (tensor<16x8xi4>, tensor<16xf32>) -> tensor<16x8xf32>
  %y = qc.linear %x, %w, %b : (tensor<2x8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<2x16xf32>
  return %y : tensor<2x16xf32>
}
