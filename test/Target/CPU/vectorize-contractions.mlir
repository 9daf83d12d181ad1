// RUN: quant-opt %s --split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(qc-cpu-vectorize-contractions{vector-bits=256 registers=16},canonicalize,cse))' \
// RUN:   | FileCheck %s

// A [13, 37] x [37, 53] matmul on AVX2-sized registers (8 x f32): 13 rows
// as tiles of 6 rows (6 x 2 accumulators, 12 of 16 registers) plus single
// rows; 53 lanes as 3 blocks of 2 vectors (48) and a masked tail of 5.

#mm_x = affine_map<(m, n, k) -> (m, k)>
#mm_w = affine_map<(m, n, k) -> (k, n)>
#mm_o = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func @matmul
func.func @matmul(%x: memref<13x37xf32>, %w: memref<37x53xf32>,
                  %o: memref<13x53xf32>) {
  linalg.generic {indexing_maps = [#mm_x, #mm_w, #mm_o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<13x37xf32>, memref<37x53xf32>)
      outs(%o : memref<13x53xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-NOT: linalg.generic
// Full tiles: 16 lanes, 6 rows, the accumulators carried through k.
// CHECK: scf.for %{{.*}} = %c0 to %c48 step %c16
// CHECK:   scf.for %{{.*}} = %c0 to %c12 step %c6
// CHECK-COUNT-12: vector.load %{{.*}} : memref<13x53xf32>, vector<8xf32>
// CHECK:     scf.for {{.*}} iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-6: vector.broadcast %{{.*}} : f32 to vector<8xf32>
// CHECK-COUNT-2: vector.load %{{.*}} : memref<37x53xf32>, vector<8xf32>
// CHECK:       arith.mulf {{.*}} fastmath<reassoc,contract> : vector<8xf32>
// CHECK:       arith.addf {{.*}} fastmath<reassoc,contract> : vector<8xf32>
// CHECK:       scf.yield
// CHECK-COUNT-12: vector.store %{{.*}} : memref<13x53xf32>, vector<8xf32>
// The row past the last full tile (one iteration: no loop left), 1 x 2:
// two accumulators would wait on each other's adds, so k runs in steps of
// 4 with four sets of them (the first from the output, the others from
// zero), k = 36 after on the first set, then the sets summed in order.
// CHECK:   %[[O0:.*]] = vector.load %{{.*}}[%c12, %{{.*}}] : memref<13x53xf32>, vector<8xf32>
// CHECK:   %[[O1:.*]] = vector.load %{{.*}}[%c12, %{{.*}}] : memref<13x53xf32>, vector<8xf32>
// CHECK:   %[[SETS:.*]]:8 = scf.for %{{.*}} = %c0 to %c36 step %c4 iter_args(%{{.*}} = %[[O0]], %{{.*}} = %[[O1]], %{{.*}} = %[[Z:cst[_0-9]*]], %{{.*}} = %[[Z]], %{{.*}} = %[[Z]], %{{.*}} = %[[Z]], %{{.*}} = %[[Z]], %{{.*}} = %[[Z]]) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-4: memref.load %{{.*}} : memref<13x37xf32>
// CHECK:     scf.yield
// CHECK:   memref.load %{{.*}}[%c12, %c36] : memref<13x37xf32>
// CHECK:   %[[A0:.*]] = arith.addf %[[SETS]]#0, %{{.*}} fastmath<reassoc,contract>
// CHECK:   %[[A1:.*]] = arith.addf %[[SETS]]#1, %{{.*}} fastmath<reassoc,contract>
// CHECK:   %[[B0:.*]] = arith.addf %[[A0]], %[[SETS]]#2 fastmath<reassoc,contract>
// CHECK:   %[[B1:.*]] = arith.addf %[[A1]], %[[SETS]]#3 fastmath<reassoc,contract>
// CHECK:   %[[C0:.*]] = arith.addf %[[B0]], %[[SETS]]#4
// CHECK:   %[[C1:.*]] = arith.addf %[[B1]], %[[SETS]]#5
// CHECK:   %[[D0:.*]] = arith.addf %[[C0]], %[[SETS]]#6
// CHECK:   %[[D1:.*]] = arith.addf %[[C1]], %[[SETS]]#7
// CHECK:   vector.store %[[D0]], %{{.*}}[%c12, %{{.*}}]
// CHECK:   vector.store %[[D1]], %{{.*}}[%c12, %{{.*}}]
// The lane tail (lanes 48..52: one masked vector; its loop of one
// iteration folds away), rows again in tiles of 6.
// CHECK: scf.for %{{.*}} = %c0 to %c12 step %c6
// CHECK:   vector.constant_mask [5] : vector<8xi1>
// CHECK:   vector.maskedload %{{.*}} : memref<13x53xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
// CHECK:   vector.maskedload %{{.*}} : memref<37x53xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
// CHECK:   vector.maskedstore

// -----

// A stride-2 convolution row: lane l reads x[2 l + kw]: two loads (the
// second never past the last element needed) and the even elements.
#cv_x = affine_map<(oc, ow, c, kw) -> (c, ow * 2 + kw)>
#cv_w = affine_map<(oc, ow, c, kw) -> (oc, c, kw)>
#cv_o = affine_map<(oc, ow, c, kw) -> (oc, ow)>
// CHECK-LABEL: func @conv_stride2
func.func @conv_stride2(%x: memref<4x41xf32>, %w: memref<8x4x3xf32>,
                        %o: memref<8x20xf32>) {
  linalg.generic {indexing_maps = [#cv_x, #cv_w, #cv_o],
                  iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : memref<4x41xf32>, memref<8x4x3xf32>)
      outs(%o : memref<8x20xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-NOT: linalg.generic
// CHECK: vector.load %{{.*}} : memref<4x41xf32>, vector<8xf32>
// CHECK: vector.maskedload %{{.*}} : memref<4x41xf32>, vector<8xi1>, vector<8xf32> into vector<8xf32>
// CHECK: vector.shuffle %{{.*}} [0, 2, 4, 6, 8, 10, 12, 14] : vector<8xf32>, vector<8xf32>

// -----

// A sliding window (lane l reads x[l + kw]) with 24 rows and 2 vectors of
// lanes: the tile keeps a step's MR broadcasts and NV lane vectors in
// registers besides its accumulators (MR * NV + MR + NV <= 16), so 4 rows
// x 2 vectors (8 accumulators, 14 registers) rather than the 6 x 2 (12
// accumulators, 20 registers) a matmul of this shape gets, which LLVM's
// unrolled kw loop would spill.
#win_x = affine_map<(oc, ow, c, kw) -> (c, ow + kw)>
#win_w = affine_map<(oc, ow, c, kw) -> (oc, c, kw)>
#win_o = affine_map<(oc, ow, c, kw) -> (oc, ow)>
// CHECK-LABEL: func @conv_window
func.func @conv_window(%x: memref<4x18xf32>, %w: memref<24x4x3xf32>,
                       %o: memref<24x16xf32>) {
  linalg.generic {indexing_maps = [#win_x, #win_w, #win_o],
                  iterator_types = ["parallel", "parallel", "reduction", "reduction"]}
      ins(%x, %w : memref<4x18xf32>, memref<24x4x3xf32>)
      outs(%o : memref<24x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-NOT: linalg.generic
// CHECK: scf.for {{.*}} step %c4
// CHECK: scf.for {{.*}} iter_args({{[^)]*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)

// -----

// Integer bodies widen in registers: i8 codes, i32 accumulators.
#q_x = affine_map<(m, n, k) -> (m, k)>
#q_w = affine_map<(m, n, k) -> (k, n)>
#q_o = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func @int8
func.func @int8(%x: memref<4x16xi8>, %w: memref<16x32xi8>,
                %o: memref<4x32xi32>) {
  linalg.generic {indexing_maps = [#q_x, #q_w, #q_o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<4x16xi8>, memref<16x32xi8>)
      outs(%o : memref<4x32xi32>) {
  ^bb0(%a: i8, %b: i8, %c: i32):
    %a32 = arith.extsi %a : i8 to i32
    %b32 = arith.extsi %b : i8 to i32
    %p = arith.muli %a32, %b32 : i32
    %s = arith.addi %c, %p : i32
    linalg.yield %s : i32
  }
  return
}
// CHECK-NOT: linalg.generic
// CHECK: vector.load %{{.*}} : memref<16x32xi8>, vector<8xi8>
// CHECK: arith.extsi %{{.*}} : vector<8xi8> to vector<8xi32>
// CHECK: arith.muli %{{.*}} : vector<8xi32>

// -----

// Left alone: the output's innermost loop is a reduction (a row sum).
// CHECK-LABEL: func @row_sum
func.func @row_sum(%x: memref<8x64xf32>, %o: memref<8xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>,
                                   affine_map<(i, j) -> (i)>],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<8x64xf32>) outs(%o : memref<8xf32>) {
  ^bb0(%a: f32, %c: f32):
    %s = arith.addf %c, %a : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK: linalg.generic
// CHECK-LABEL: func @indexed
func.func @indexed(%x: memref<8x64xf32>, %o: memref<64xf32>) {
  linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>,
                                   affine_map<(i, j) -> (j)>],
                  iterator_types = ["reduction", "parallel"]}
      ins(%x : memref<8x64xf32>) outs(%o : memref<64xf32>) {
  ^bb0(%a: f32, %c: f32):
    %i = linalg.index 0 : index
    %f = arith.index_cast %i : index to i32
    %g = arith.sitofp %f : i32 to f32
    %p = arith.mulf %a, %g : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  }
  return
}
// A body that reads a loop index: linalg.index of the reduction loop is
// its induction variable, broadcast (of the lanes: the lanes' own indices,
// @packed_codes).
// CHECK-NOT: linalg.generic
// CHECK: scf.for %[[I:.*]] = %c0 to %c8 step %c1 iter_args
// CHECK:   %[[B:.*]] = vector.broadcast %[[I]] : index to vector<8xindex>
// CHECK:   %[[C:.*]] = arith.index_cast %[[B]] : vector<8xindex> to vector<8xi32>
// CHECK:   %[[F:.*]] = arith.sitofp %[[C]] : vector<8xi32> to vector<8xf32>
// CHECK:   arith.mulf %{{.*}}, %[[F]] : vector<8xf32>

// -----

// A fill of the whole output just before the contraction (only a subview,
// free of memory effects, in between): the tiles start from the fill's
// value instead of loading the output, and the fill goes.
#fz_x = affine_map<(m, n, k) -> (m, k)>
#fz_w = affine_map<(m, n, k) -> (k, n)>
#fz_o = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func @fill_then_matmul
// CHECK-SAME: %[[INIT:[a-z0-9]+]]: f32
func.func @fill_then_matmul(%x: memref<6x8xf32>, %w: memref<8x16xf32>,
                            %big: memref<6x32xf32>, %init: f32) {
  %o = memref.subview %big[0, 16] [6, 16] [1, 1] : memref<6x32xf32> to memref<6x16xf32, strided<[32, 1], offset: 16>>
  linalg.fill ins(%init : f32) outs(%o : memref<6x16xf32, strided<[32, 1], offset: 16>>)
  linalg.generic {indexing_maps = [#fz_x, #fz_w, #fz_o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<6x8xf32>, memref<8x16xf32>)
      outs(%o : memref<6x16xf32, strided<[32, 1], offset: 16>>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-NOT: linalg.fill
// CHECK: %[[SPLAT:.*]] = vector.broadcast %[[INIT]] : f32 to vector<8xf32>
// CHECK-NOT: vector.load %{{.*}} : memref<6x16xf32
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[SPLAT]], %{{.*}} = %[[SPLAT]]
// CHECK-COUNT-12: vector.store %{{.*}} : memref<6x16xf32, strided<[32, 1], offset: 16>>, vector<8xf32>

// -----

// A fill with a store to the output in between is not folded: the tiles
// load the output as usual.
#fs_x = affine_map<(m, n, k) -> (m, k)>
#fs_w = affine_map<(m, n, k) -> (k, n)>
#fs_o = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func @fill_store_matmul
func.func @fill_store_matmul(%x: memref<6x8xf32>, %w: memref<8x16xf32>,
                             %o: memref<6x16xf32>, %init: f32) {
  %c0 = arith.constant 0 : index
  linalg.fill ins(%init : f32) outs(%o : memref<6x16xf32>)
  memref.store %init, %o[%c0, %c0] : memref<6x16xf32>
  linalg.generic {indexing_maps = [#fs_x, #fs_w, #fs_o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<6x8xf32>, memref<8x16xf32>)
      outs(%o : memref<6x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK: linalg.fill
// CHECK: vector.load %{{.*}} : memref<6x16xf32>, vector<8xf32>

// -----

// A generic that copies a bias into the whole output just before the
// contraction (the init of a biased linear): the tiles start from the bias,
// one vector load per lane block shared by all rows, and the copy goes.
#bi_x = affine_map<(m, n, k) -> (m, k)>
#bi_w = affine_map<(m, n, k) -> (k, n)>
#bi_o = affine_map<(m, n, k) -> (m, n)>
#bi_b = affine_map<(m, n) -> (n)>
#bi_id = affine_map<(m, n) -> (m, n)>
// CHECK-LABEL: func @bias_then_matmul
// CHECK-SAME: %{{[a-z0-9]+}}: memref<6x8xf32>, %{{[a-z0-9]+}}: memref<8x16xf32>, %[[O:[a-z0-9]+]]: memref<6x16xf32>, %[[BIAS:[a-z0-9]+]]: memref<16xf32>
func.func @bias_then_matmul(%x: memref<6x8xf32>, %w: memref<8x16xf32>,
                            %o: memref<6x16xf32>, %bias: memref<16xf32>) {
  linalg.generic {indexing_maps = [#bi_b, #bi_id], iterator_types = ["parallel", "parallel"]}
      ins(%bias : memref<16xf32>) outs(%o : memref<6x16xf32>) {
  ^bb0(%a: f32, %c: f32):
    linalg.yield %a : f32
  }
  linalg.generic {indexing_maps = [#bi_x, #bi_w, #bi_o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<6x8xf32>, memref<8x16xf32>)
      outs(%o : memref<6x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-NOT: linalg.generic
// CHECK-NOT: vector.load %[[O]]
// CHECK: %[[B0:.*]] = vector.load %[[BIAS]][%c0] : memref<16xf32>, vector<8xf32>
// CHECK: %[[B1:.*]] = vector.load %[[BIAS]][%c8] : memref<16xf32>, vector<8xf32>
// CHECK-NOT: vector.load %[[BIAS]]
// CHECK: scf.for {{.*}} iter_args(%{{.*}} = %[[B0]], %{{.*}} = %[[B1]], %{{.*}} = %[[B0]], %{{.*}} = %[[B1]]
// CHECK-COUNT-12: vector.store %{{.*}}, %[[O]]

// -----

// A weight-only matmul reading 4-bit codes packed two per byte (the form
// qc-cpu-pack-weights gives a contraction at few rows): the codes of a lane
// block are VL / 2 bytes at lane floordiv 2, each spread to 2 lanes, and
// linalg.index of the lanes is each lane's own index (shift 0 or 4). 20
// lanes on 8-lane vectors: 2 full blocks, then a masked tail of 4 lanes
// that loads ceil(4 / 2) = 2 bytes.

#pk_x = affine_map<(m, k, n) -> (m, k)>
#pk_q = affine_map<(m, k, n) -> (k, n floordiv 2)>
#pk_s = affine_map<(m, k, n) -> (n)>
#pk_o = affine_map<(m, k, n) -> (m, n)>
// CHECK-LABEL: func @packed_codes
func.func @packed_codes(%x: memref<1x16xf32>, %q: memref<16x10xi8>,
                        %s: memref<20xf32>, %o: memref<1x20xf32>) {
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  linalg.generic {indexing_maps = [#pk_x, #pk_q, #pk_s, #pk_o],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %q, %s : memref<1x16xf32>, memref<16x10xi8>, memref<20xf32>)
      outs(%o : memref<1x20xf32>) {
  ^bb0(%a: f32, %b: i8, %sc: f32, %c: f32):
    %n = linalg.index 2 : index
    %r = arith.remui %n, %c2 : index
    %sh = arith.muli %r, %c4 : index
    %sh32 = arith.index_cast %sh : index to i32
    %w = arith.extui %b : i8 to i32
    %v = arith.shrui %w, %sh32 : i32
    %q4 = arith.trunci %v : i32 to i4
    %e = arith.extsi %q4 : i4 to i32
    %f = arith.sitofp %e : i32 to f32
    %d = arith.mulf %f, %sc : f32
    %p = arith.mulf %a, %d fastmath<reassoc,contract> : f32
    %t = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %t : f32
  }
  return
}
// The per-lane shifts (lane index mod 2) * 4, folded to a constant here.
// The per-channel scale is factored out of k (Plan::scaleMul): the loop
// (four sets of the 1 x 2 tile's sums, from zero) reads no scale, which
// multiplies the sums once after it.
// CHECK-DAG: %[[SH:.*]] = arith.constant dense<[0, 4, 0, 4, 0, 4, 0, 4]> : vector<8xi32>
// CHECK-NOT: linalg.generic
// CHECK: scf.for %[[K:.*]] = %c0 to %c16 step %c4 iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>
// CHECK:   %[[L0:.*]] = vector.load %{{.*}}[%[[K]], %c0] : memref<16x10xi8>, vector<4xi8>
// CHECK:   %[[S0:.*]] = vector.shuffle %[[L0]], %[[L0]] [0, 0, 1, 1, 2, 2, 3, 3] : vector<4xi8>, vector<4xi8>
// CHECK:   vector.load %{{.*}}[%[[K]], %c4] : memref<16x10xi8>, vector<4xi8>
// CHECK:   %[[E0:.*]] = arith.extui %[[S0]] : vector<8xi8> to vector<8xi32>
// CHECK:   %[[R0:.*]] = arith.shrui %[[E0]], %[[SH]] : vector<8xi32>
// CHECK:   arith.trunci %[[R0]] : vector<8xi32> to vector<8xi4>
// CHECK-NOT: memref<20xf32>
// CHECK: scf.yield
// CHECK: %[[SC:.*]] = vector.load %arg2[%c0] : memref<20xf32>, vector<8xf32>
// CHECK: %[[M:.*]] = arith.mulf %{{.*}}, %[[SC]] fastmath<reassoc,contract> : vector<8xf32>
// CHECK: arith.addf %{{.*}}, %[[M]] fastmath<reassoc,contract> : vector<8xf32>
// The tail: lanes 16..19, their 2 bytes.
// CHECK: scf.for
// CHECK:   vector.constant_mask [2] : vector<4xi1>
// CHECK:   %[[T:.*]] = vector.maskedload %{{.*}}[%{{.*}}, %c8], %{{.*}} : memref<16x10xi8>, vector<4xi1>, vector<4xi8> into vector<4xi8>
// CHECK:   vector.shuffle %[[T]], %[[T]] [0, 0, 1, 1, 2, 2, 3, 3]
// CHECK: vector.maskedstore

// -----

// A group-wise scale (s[k floordiv 4, n], K = 10: the last group of 2) is
// factored out per group: a loop over the 3 groups, in each the sums of
// x * f from zero over [4g, min(4g + 4, 10)), then acc += sums * s[g].
#gs_x = affine_map<(m, k, n) -> (m, k)>
#gs_w = affine_map<(m, k, n) -> (k, n)>
#gs_s = affine_map<(m, k, n) -> (k floordiv 4, n)>
#gs_o = affine_map<(m, k, n) -> (m, n)>
// CHECK-LABEL: func @grouped_scale
func.func @grouped_scale(%x: memref<1x10xf32>, %w: memref<10x8xi8>,
                         %s: memref<3x8xf32>, %o: memref<1x8xf32>) {
  linalg.generic {indexing_maps = [#gs_x, #gs_w, #gs_s, #gs_o],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %w, %s : memref<1x10xf32>, memref<10x8xi8>, memref<3x8xf32>)
      outs(%o : memref<1x8xf32>) {
  ^bb0(%a: f32, %b: i8, %sc: f32, %c: f32):
    %f = arith.sitofp %b : i8 to f32
    %d = arith.mulf %sc, %f : f32
    %p = arith.mulf %d, %a fastmath<reassoc,contract> : f32
    %t = arith.addf %p, %c fastmath<reassoc,contract> : f32
    linalg.yield %t : f32
  }
  return
}
// CHECK-NOT: linalg.generic
// CHECK: %[[ACC0:.*]] = vector.load %arg3[%c0, %c0] : memref<1x8xf32>, vector<8xf32>
// CHECK: %[[G:.*]] = scf.for %[[GI:.*]] = %c0 to %c3 step %c1 iter_args(%[[ACC:.*]] = %[[ACC0]]) -> (vector<8xf32>)
// CHECK:   %[[LO:.*]] = arith.muli %[[GI]], %c4 : index
// CHECK:   %[[END:.*]] = arith.addi %[[LO]], %c4 : index
// CHECK:   %[[HI:.*]] = arith.minui %[[END]], %c10 : index
// CHECK:   scf.for %[[K:.*]] = %[[LO]] to
// CHECK-NOT:   memref<3x8xf32>
// CHECK:     vector.load %arg1[%[[K]], %c0] : memref<10x8xi8>, vector<8xi8>
// CHECK-NOT:   memref<3x8xf32>
// CHECK:   scf.for %{{.*}} = %{{.*}} to %[[HI]] step %c1
// CHECK:   %[[SC:.*]] = vector.load %arg2[%{{.*}}, %c0] : memref<3x8xf32>, vector<8xf32>
// CHECK:   %[[M:.*]] = arith.mulf %{{.*}}, %[[SC]] fastmath<reassoc,contract> : vector<8xf32>
// CHECK:   %[[N:.*]] = arith.addf %[[ACC]], %[[M]] fastmath<reassoc,contract> : vector<8xf32>
// CHECK:   scf.yield %[[N]] : vector<8xf32>
// CHECK: vector.store %[[G]], %arg3[%c0, %c0]

// -----

// Not factored: the scale is read a second time (its product is not the
// weight's alone), so every step multiplies by it.
#gs_x = affine_map<(m, k, n) -> (m, k)>
#gs_w = affine_map<(m, k, n) -> (k, n)>
#gs_s = affine_map<(m, k, n) -> (k floordiv 4, n)>
#gs_o = affine_map<(m, k, n) -> (m, n)>
// CHECK-LABEL: func @scale_used_twice
func.func @scale_used_twice(%x: memref<1x10xf32>, %w: memref<10x8xi8>,
                            %s: memref<3x8xf32>, %o: memref<1x8xf32>) {
  linalg.generic {indexing_maps = [#gs_x, #gs_w, #gs_s, #gs_o],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %w, %s : memref<1x10xf32>, memref<10x8xi8>, memref<3x8xf32>)
      outs(%o : memref<1x8xf32>) {
  ^bb0(%a: f32, %b: i8, %sc: f32, %c: f32):
    %f = arith.sitofp %b : i8 to f32
    %g = arith.addf %f, %sc : f32
    %d = arith.mulf %sc, %g : f32
    %p = arith.mulf %d, %a fastmath<reassoc,contract> : f32
    %t = arith.addf %p, %c fastmath<reassoc,contract> : f32
    linalg.yield %t : f32
  }
  return
}
// CHECK-NOT: arith.minui
// CHECK: scf.for %[[K:.*]] = %c0 to
// CHECK:   vector.load %arg2[%{{.*}}, %c0] : memref<3x8xf32>, vector<8xf32>
// CHECK: return

// -----

// Dynamic rows: full tiles of MR = 4 rows, then at most one tile of 2 and
// one of 1 for the rest, each carrying its accumulators through k.
#dr_x = affine_map<(m, n, k) -> (m, k)>
#dr_w = affine_map<(m, n, k) -> (k, n)>
#dr_o = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func @dynamic_rows
func.func @dynamic_rows(%x: memref<?x37xf32>, %w: memref<37x16xf32>,
                        %o: memref<?x16xf32>) {
  linalg.generic {indexing_maps = [#dr_x, #dr_w, #dr_o],
                  iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x37xf32>, memref<37x16xf32>)
      outs(%o : memref<?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK: %[[M:.*]] = memref.dim %{{.*}}, %c0
// CHECK: scf.for %{{.*}} = %c0 to %[[FULL:.*]] step %c4
// CHECK:   scf.for {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// Tiles of fewer than 8 accumulators keep 8 in sets (2 x 2 twice, 1 x 2
// four times), k in steps of the set count.
// CHECK: scf.for %{{.*}} = %[[FULL]] to %[[TWO:.*]] step %c2
// CHECK:   scf.for %{{.*}} = %c0 to %c36 step %c2 {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK: scf.for %{{.*}} = %[[TWO]] to %[[M]] step %c1
// CHECK:   scf.for %{{.*}} = %c0 to %c36 step %c4 {{.*}} -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)

// -----

// Two dynamic parallel loops besides the lanes: the leading one (a batch,
// usually 1 at run time) is an outer loop and the register tiles take
// their rows from the next one (PP-OCR rec's classifier over [N, W/8, C]).
#br_x = affine_map<(b, m, n, k) -> (b, m, k)>
#br_w = affine_map<(b, m, n, k) -> (k, n)>
#br_o = affine_map<(b, m, n, k) -> (b, m, n)>
// CHECK-LABEL: func @batch_rows
func.func @batch_rows(%x: memref<?x?x37xf32>, %w: memref<37x16xf32>,
                      %o: memref<?x?x16xf32>) {
  linalg.generic {indexing_maps = [#br_x, #br_w, #br_o],
                  iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%x, %w : memref<?x?x37xf32>, memref<37x16xf32>)
      outs(%o : memref<?x?x16xf32>) {
  ^bb0(%a: f32, %b: f32, %c: f32):
    %p = arith.mulf %a, %b fastmath<reassoc,contract> : f32
    %s = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-DAG: %[[B:.*]] = memref.dim %{{.*}}, %c0 : memref<?x?x37xf32>
// CHECK-DAG: %[[M:.*]] = memref.dim %{{.*}}, %c1 : memref<?x?x37xf32>
// CHECK: scf.for %{{.*}} = %c0 to %[[B]] step %c1
// CHECK:   scf.for %{{.*}} = %c0 to %{{.*}} step %c4
// CHECK:   scf.for %{{.*}} = %{{.*}} to %[[M]] step %c1

// -----

// Packed 4-bit codes over 48 lanes: the lane loop runs twice (tiles of 3
// vectors of 8 lanes), so its index is not a constant, yet every tile
// starts at a multiple of VL: the shifts (lane mod 2) * 4 are still one
// constant, not a remainder computed per tile. The 1 x 3 tile keeps two
// sets of accumulators (k in steps of 2).
#pw_x = affine_map<(m, k, n) -> (m, k)>
#pw_q = affine_map<(m, k, n) -> (k, n floordiv 2)>
#pw_o = affine_map<(m, k, n) -> (m, n)>
// CHECK-LABEL: func @packed_codes_wide
func.func @packed_codes_wide(%x: memref<1x16xf32>, %q: memref<16x24xi8>,
                             %o: memref<1x48xf32>) {
  %c2 = arith.constant 2 : index
  %c4 = arith.constant 4 : index
  linalg.generic {indexing_maps = [#pw_x, #pw_q, #pw_o],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %q : memref<1x16xf32>, memref<16x24xi8>)
      outs(%o : memref<1x48xf32>) {
  ^bb0(%a: f32, %b: i8, %c: f32):
    %n = linalg.index 2 : index
    %r = arith.remui %n, %c2 : index
    %sh = arith.muli %r, %c4 : index
    %sh32 = arith.index_cast %sh : index to i32
    %w = arith.extui %b : i8 to i32
    %v = arith.shrui %w, %sh32 : i32
    %q4 = arith.trunci %v : i32 to i4
    %e = arith.extsi %q4 : i4 to i32
    %f = arith.sitofp %e : i32 to f32
    %p = arith.mulf %a, %f fastmath<reassoc,contract> : f32
    %t = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %t : f32
  }
  return
}
// CHECK-DAG: %[[SH:.*]] = arith.constant dense<[0, 4, 0, 4, 0, 4, 0, 4]> : vector<8xi32>
// CHECK-NOT: arith.remui
// CHECK: scf.for %[[N:.*]] = %c0 to %c48 step %c24
// CHECK:   scf.for %{{.*}} = %c0 to %c16 step %c2 iter_args({{.*}}) -> (vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>, vector<8xf32>)
// CHECK-COUNT-6: arith.shrui %{{.*}}, %[[SH]] : vector<8xi32>
// CHECK-NOT: arith.remui

// -----

// Codes in the interleaved 4-bit layout (qc-cpu-pack-weights): lanes read
// bytes (l floordiv 32) * 16 + l mod 16, contiguous in each vector of 8, so
// one vector.load of 8 bytes per lane vector; in the full 4-vector tile
// (its first lane a multiple of 32) each vector's nibble, (l floordiv 16)
// mod 2, is a constant, so the select between the high and the low nibble
// folds away.
#il_x = affine_map<(m, k, n) -> (m, k)>
#il_q = affine_map<(m, k, n) -> (k, (n floordiv 32) * 16 + n mod 16)>
#il_o = affine_map<(m, k, n) -> (m, n)>
// CHECK-LABEL: func @interleaved_codes
func.func @interleaved_codes(%x: memref<1x16xf32>, %q: memref<16x16xi8>,
                             %o: memref<1x32xf32>) {
  %c1 = arith.constant 1 : index
  %c2 = arith.constant 2 : index
  %c16 = arith.constant 16 : index
  %c4_i32 = arith.constant 4 : i32
  %c8_i32 = arith.constant 8 : i32
  %c15_i32 = arith.constant 15 : i32
  linalg.generic {indexing_maps = [#il_x, #il_q, #il_o],
                  iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%x, %q : memref<1x16xf32>, memref<16x16xi8>)
      outs(%o : memref<1x32xf32>) {
  ^bb0(%a: f32, %b: i8, %c: f32):
    %n = linalg.index 2 : index
    %d = arith.divui %n, %c16 : index
    %r = arith.remui %d, %c2 : index
    %hi = arith.cmpi eq, %r, %c1 : index
    %s = arith.extsi %b : i8 to i32
    %h = arith.shrsi %s, %c4_i32 : i32
    %l0 = arith.andi %s, %c15_i32 : i32
    %l1 = arith.xori %l0, %c8_i32 : i32
    %l = arith.subi %l1, %c8_i32 : i32
    %v = arith.select %hi, %h, %l : i32
    %f = arith.sitofp %v : i32 to f32
    %p = arith.mulf %a, %f fastmath<reassoc,contract> : f32
    %t = arith.addf %c, %p fastmath<reassoc,contract> : f32
    linalg.yield %t : f32
  }
  return
}
// CHECK-NOT: arith.select
// CHECK: scf.for %[[K:.*]] = %c0 to %c16
// CHECK-DAG: vector.load %{{.*}}[%[[K]], %c0] : memref<16x16xi8>, vector<8xi8>
// CHECK-DAG: vector.load %{{.*}}[%[[K]], %c8] : memref<16x16xi8>, vector<8xi8>
// CHECK-DAG: arith.shrsi %{{.*}} : vector<8xi32>
// CHECK-DAG: arith.xori %{{.*}} : vector<8xi32>
// CHECK-NOT: arith.select
// CHECK-NOT: vector.from_elements
// CHECK: return
