// RUN: quant-opt %s --qc-cpu-pack-weights | FileCheck %s
// RUN: quant-opt %s --qc-cpu-pack-weights | FileCheck %s --check-prefix=MAP

// Six 3-bit codes: 18 bits in 3 bytes plus the spare byte.
// CHECK-LABEL: func.func @int3
// CHECK: %[[P:.*]] = arith.constant dense_resource<{{.*}}> : tensor<4xi8>
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<2x3xi3>)
// CHECK: tensor.extract %[[P]]
// CHECK: arith.shrui
// CHECK: arith.trunci %{{.*}} : i32 to i3
func.func @int3() -> tensor<2x3xi3> {
  %c = arith.constant dense<[[1, 2, 3], [-1, -4, 0]]> : tensor<2x3xi3>
  return %c : tensor<2x3xi3>
}

// FP8 is stored byte for byte and bitcast back.
// CHECK-LABEL: func.func @fp8
// CHECK: arith.constant dense_resource<{{.*}}> : tensor<4xi8>
// CHECK: tensor.extract
// CHECK: arith.bitcast %{{.*}} : i8 to f8E4M3FN
func.func @fp8() -> tensor<4xf8E4M3FN> {
  %c = arith.constant dense<[1.0, -2.0, 448.0, 0.0]> : tensor<4xf8E4M3FN>
  return %c : tensor<4xf8E4M3FN>
}

// A random access (an embedding's row gather) reads the packed bytes
// directly: no unpacked copy of the table is built.
// CHECK-LABEL: func.func @gather_packed
// CHECK: %[[P:.*]] = arith.constant dense_resource<{{.*}}> : tensor<4xi8>
// CHECK-NOT: tensor<2x3xi3>
// CHECK: tensor.extract %[[P]]
// CHECK: tensor.extract %[[P]]
// CHECK: arith.trunci %{{.*}} : i32 to i3
// CHECK-NOT: tensor<2x3xi3>
// CHECK: return
func.func @gather_packed(%ids: tensor<5xi64>) -> tensor<5x3xi3> {
  %c = arith.constant dense<[[1, 2, 3], [-1, -4, 0]]> : tensor<2x3xi3>
  %e = tensor.empty() : tensor<5x3xi3>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%ids : tensor<5xi64>) outs(%e : tensor<5x3xi3>) {
  ^bb0(%i: i64, %o: i3):
    %k = arith.index_cast %i : i64 to index
    %j = linalg.index 1 : index
    %v = tensor.extract %c[%k, %j] : tensor<2x3xi3>
    linalg.yield %v : i3
  } -> tensor<5x3xi3>
  return %g : tensor<5x3xi3>
}

// A generic that reads 4-bit codes through its maps (a weight-only
// contraction, a dequantization) reads their bytes instead: two codes per
// byte at d1 floordiv 2 (its rows of 4 codes fill 2 bytes), bits
// [(d1 mod 2) * 4, + 4) shifted to the top of an i32 and down again. No
// unpacked copy is built.
// CHECK-LABEL: func.func @operand_int4
// CHECK: %[[P:.*]] = arith.constant dense_resource<{{.*}}> : tensor<7xi8>
// CHECK-NOT: tensor<3x4xi4>
// CHECK: %[[S:.*]] = tensor.extract_slice %[[P]][0] [6] [1] : tensor<7xi8> to tensor<6xi8>
// CHECK: %[[B:.*]] = tensor.expand_shape %[[S]] {{\[\[}}0, 1]] output_shape [3, 2] : tensor<6xi8> into tensor<3x2xi8>
// CHECK: linalg.generic {indexing_maps = [#[[HALF:.*]], #{{.*}}, #{{.*}}], {{.*}} ins(%[[B]], %{{.*}} : tensor<3x2xi8>, tensor<3x4xf32>)
// CHECK: ^bb0(%[[BYTE:.*]]: i8,
// CHECK: %[[D:.*]] = linalg.index 1 : index
// CHECK: %[[R:.*]] = arith.remui %[[D]], %c2
// CHECK: %[[SH:.*]] = arith.muli %[[R]], %c4
// CHECK: %[[UP:.*]] = arith.subi %c28, %[[SH]]
// CHECK: %[[W:.*]] = arith.extui %[[BYTE]] : i8 to i32
// CHECK: %[[UP32:.*]] = arith.index_cast %[[UP]] : index to i32
// CHECK: %[[T:.*]] = arith.shli %[[W]], %[[UP32]] : i32
// CHECK: %[[V:.*]] = arith.shrui %[[T]], %c28_i32 : i32
// CHECK: %[[Q:.*]] = arith.trunci %[[V]] : i32 to i4
// CHECK: arith.extsi %[[Q]] : i4 to i32
func.func @operand_int4(%x: tensor<3x4xf32>) -> tensor<3x4xf32> {
  %c = arith.constant dense<[[1, 2, 3, 4], [-1, -2, -3, -4], [7, -8, 0, 5]]> : tensor<3x4xi4>
  %e = tensor.empty() : tensor<3x4xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%c, %x : tensor<3x4xi4>, tensor<3x4xf32>) outs(%e : tensor<3x4xf32>) {
  ^bb0(%q: i4, %a: f32, %o: f32):
    %w = arith.extsi %q : i4 to i32
    %f = arith.sitofp %w : i32 to f32
    %m = arith.mulf %f, %a : f32
    linalg.yield %m : f32
  } -> tensor<3x4xf32>
  return %g : tensor<3x4xf32>
}

// An all-parallel generic is split over threads along its first loop of
// extent > 1, here the one the byte index divides: chunks might start
// inside a byte, so it reads an unpacked copy.
// CHECK-LABEL: func.func @operand_1d
// CHECK: linalg.generic {{.*}} outs(%{{.*}} : tensor<4xi4>)
// CHECK: tensor.extract
// CHECK: linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<4xi4>, tensor<4xf32>)
func.func @operand_1d(%x: tensor<4xf32>) -> tensor<4xf32> {
  %c = arith.constant dense<[1, 2, 3, 4]> : tensor<4xi4>
  %e = tensor.empty() : tensor<4xf32>
  %g = linalg.generic {indexing_maps = [affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>, affine_map<(d0) -> (d0)>], iterator_types = ["parallel"]} ins(%c, %x : tensor<4xi4>, tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%q: i4, %a: f32, %o: f32):
    %w = arith.extsi %q : i4 to i32
    %f = arith.sitofp %w : i32 to f32
    %m = arith.mulf %f, %a : f32
    linalg.yield %m : f32
  } -> tensor<4xf32>
  return %g : tensor<4xf32>
}

// FP8 codes are read byte for byte through any map and bitcast.
// CHECK-LABEL: func.func @operand_fp8
// CHECK: %[[P:.*]] = arith.constant dense_resource<{{.*}}> : tensor<4xi8>
// CHECK: %[[B:.*]] = tensor.expand_shape %[[P]] {{\[\[}}0, 1]] output_shape [2, 2] : tensor<4xi8> into tensor<2x2xi8>
// CHECK: linalg.generic {{.*}} ins(%[[B]] : tensor<2x2xi8>)
// CHECK: ^bb0(%[[BYTE:.*]]: i8,
// CHECK: %[[F:.*]] = arith.bitcast %[[BYTE]] : i8 to f8E4M3FN
// CHECK: linalg.yield %[[F]]
func.func @operand_fp8(%x: tensor<2x2xf32>) -> tensor<2x2xf8E4M3FN> {
  %c = arith.constant dense<[[1.0, -2.0], [448.0, 0.0]]> : tensor<2x2xf8E4M3FN>
  %e = tensor.empty() : tensor<2x2xf8E4M3FN>
  %g = linalg.generic {indexing_maps = [affine_map<(d0, d1) -> (d1, d0)>, affine_map<(d0, d1) -> (d0, d1)>], iterator_types = ["parallel", "parallel"]} ins(%c : tensor<2x2xf8E4M3FN>) outs(%e : tensor<2x2xf8E4M3FN>) {
  ^bb0(%q: f8E4M3FN, %o: f8E4M3FN):
    linalg.yield %q : f8E4M3FN
  } -> tensor<2x2xf8E4M3FN>
  return %g : tensor<2x2xf8E4M3FN>
}

// 4-bit codes that only reductions read along their lanes (rows of a
// multiple of 32 codes) take the interleaved layout: in each block of 32
// codes, byte j holds code j in its low nibble and code 16 + j in its high
// one, read at (d1 floordiv 32) * 16 + d1 mod 16. Row 0's codes are
// (l mod 16) - 8, so byte j is (j - 8) twice: 0x88, 0x99, .., 0x77; row 1's
// are 1 for the first 16 lanes and 2 for the others: 0x21. The widening to
// i32 is replaced by the nibble sign-extended in place: the high one
// shifted down arithmetically, the low one as ((s & 15) ^ 8) - 8, chosen
// by (d1 floordiv 16) mod 2.
// MAP: affine_map<(d0, d1) -> (d0, (d1 floordiv 32) * 16 + d1 mod 16)>
// CHECK-LABEL: func.func @interleaved_int4
// CHECK: %[[P:.*]] = arith.constant dense_resource<{{.*}}> : tensor<33xi8>
// CHECK-NOT: tensor<2x32xi4>
// CHECK: %[[S:.*]] = tensor.extract_slice %[[P]][0] [32] [1] : tensor<33xi8> to tensor<32xi8>
// CHECK: %[[B:.*]] = tensor.expand_shape %[[S]] {{\[\[}}0, 1]] output_shape [2, 16] : tensor<32xi8> into tensor<2x16xi8>
// CHECK: linalg.generic {indexing_maps = [#[[IL:.*]], #{{.*}}], {{.*}} ins(%[[B]] : tensor<2x16xi8>)
// CHECK: ^bb0(%[[BYTE:.*]]: i8,
// CHECK: %[[D:.*]] = linalg.index 1 : index
// CHECK: %[[Q:.*]] = arith.divui %[[D]], %c16
// CHECK: %[[R:.*]] = arith.remui %[[Q]], %c2
// CHECK: %[[HI:.*]] = arith.cmpi eq, %[[R]], %c1
// CHECK: %[[SX:.*]] = arith.extsi %[[BYTE]] : i8 to i32
// CHECK: %[[H:.*]] = arith.shrsi %[[SX]], %c4_i32
// CHECK: %[[A:.*]] = arith.andi %[[SX]], %c15_i32
// CHECK: %[[X:.*]] = arith.xori %[[A]], %c8_i32
// CHECK: %[[L:.*]] = arith.subi %[[X]], %c8_i32
// CHECK: %[[V:.*]] = arith.select %[[HI]], %[[H]], %[[L]] : i32
// CHECK: arith.sitofp %[[V]] : i32 to f32
func.func @interleaved_int4(%o: tensor<32xf32>) -> tensor<32xf32> {
  %c = arith.constant dense<[[-8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7,
                              -8, -7, -6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5, 6, 7],
                             [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                              2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2]]> : tensor<2x32xi4>
  %r = linalg.generic {indexing_maps = [affine_map<(k, n) -> (k, n)>, affine_map<(k, n) -> (n)>], iterator_types = ["reduction", "parallel"]} ins(%c : tensor<2x32xi4>) outs(%o : tensor<32xf32>) {
  ^bb0(%q: i4, %acc: f32):
    %e = arith.extsi %q : i4 to i32
    %f = arith.sitofp %e : i32 to f32
    %s = arith.addf %acc, %f : f32
    linalg.yield %s : f32
  } -> tensor<32xf32>
  return %r : tensor<32xf32>
}

// The stream of @int3: 1 | 2<<3 | 3<<6 | 7<<9 | 4<<12 | 0<<15 = 0x4ED1, then
// the zero byte of the last code's high bits and the spare byte (after
// the blob's alignment word 0x08000000).
// CHECK: qc_packed_int3_0: "0x08000000D14E0000"
// @fp8 byte for byte: E4M3 1.0 = 0x38, -2.0 = 0xC0, 448 = 0x7E, 0 = 0x00.
// CHECK: qc_packed_fp8_0: "0x0800000038C07E00"
// @operand_int4, two codes per byte, low nibble first: 1 | 2<<4 = 0x21,
// 0x43; -1, -2: 0xEF, 0xCD; 7, -8: 0x87; 0, 5: 0x50; then the spare byte.
// CHECK: qc_packed_operand_int4_0: "0x080000002143EFCD875000"
// @interleaved_int4 (above), then the spare byte.
// CHECK: qc_packed_interleaved_int4_0: "0x080000008899AABBCCDDEEFF00112233445566772121212121212121212121212121212100"
