// RUN: quant-opt %s --split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(qc-cpu-vectorize-contractions{vector-bits=256 registers=16},canonicalize,cse))' \
// RUN:   | FileCheck %s

// Reductions along the contiguous innermost dimension (a softmax's max over
// 75 classes, rows dynamic) run as vector loops along the row: 4 vectors
// of 8 lanes per step while 32 remain (64), a single vector (72), then a
// masked tail of 3 lanes; lanes past the row count as the identity (-inf
// for maximumf), and the row's result combines with the output's value.

#rm_x = affine_map<(r, k) -> (r, k)>
#rm_o = affine_map<(r, k) -> (r)>
// CHECK-LABEL: func @row_max
// CHECK-DAG: %[[NEGINF:.*]] = arith.constant dense<0xFF800000> : vector<8xf32>
// CHECK: scf.for %[[R:.*]] = %c0 to %{{.*}} step %c1
// CHECK:   scf.for %{{.*}} = %c0 to %c64 step %c32 iter_args(%{{.*}} = %[[NEGINF]], %{{.*}} = %[[NEGINF]], %{{.*}} = %[[NEGINF]], %{{.*}} = %[[NEGINF]])
// CHECK-COUNT-4: vector.load %{{.*}}[%[[R]], %{{.*}}] : memref<?x75xf32>, vector<8xf32>
// CHECK:   vector.load %{{.*}}[%[[R]], %c64] : memref<?x75xf32>, vector<8xf32>
// CHECK:   %[[M:.*]] = vector.constant_mask [3] : vector<8xi1>
// CHECK:   %[[T:.*]] = vector.maskedload %{{.*}}[%[[R]], %c72], %[[M]], %[[NEGINF]]
// CHECK:   arith.select %[[M]], %[[T]], %[[NEGINF]]
// CHECK:   %[[RED:.*]] = vector.reduction <maximumf>, %{{.*}} : vector<8xf32> into f32
// CHECK:   %[[OLD:.*]] = memref.load %{{.*}}[%[[R]]]
// CHECK:   %[[NEW:.*]] = arith.maximumf %[[OLD]], %[[RED]] : f32
// CHECK:   memref.store %[[NEW]], %{{.*}}[%[[R]]]
func.func @row_max(%x: memref<?x75xf32>, %o: memref<?xf32>) {
  linalg.generic {indexing_maps = [#rm_x, #rm_o],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<?x75xf32>) outs(%o : memref<?xf32>) {
  ^bb0(%a: f32, %c: f32):
    %m = arith.maximumf %c, %a : f32
    linalg.yield %m : f32
  }
  return
}

// -----

// A sum of squares (RMSNorm) with reassoc: the square is computed on
// vectors, the identity is -0.0, the reduction keeps the flag.
#ss_x = affine_map<(r, k) -> (r, k)>
#ss_o = affine_map<(r, k) -> (r)>
// CHECK-LABEL: func @sum_squares
// CHECK: arith.mulf {{.*}} : vector<8xf32>
// CHECK: arith.addf {{.*}} fastmath<reassoc> : vector<8xf32>
// CHECK: vector.reduction <add>, %{{.*}} fastmath<reassoc> : vector<8xf32> into f32
func.func @sum_squares(%x: memref<4x64xf32>, %o: memref<4xf32>) {
  linalg.generic {indexing_maps = [#ss_x, #ss_o],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x64xf32>) outs(%o : memref<4xf32>) {
  ^bb0(%a: f32, %c: f32):
    %sq = arith.mulf %a, %a : f32
    %s = arith.addf %c, %sq fastmath<reassoc> : f32
    linalg.yield %s : f32
  }
  return
}

// -----

// Left alone: a sum without reassoc (its order is the loop's), and a
// reduction along a strided dimension.
#na_x = affine_map<(r, k) -> (r, k)>
#na_o = affine_map<(r, k) -> (r)>
// CHECK-LABEL: func @ordered_sum
// CHECK: linalg.generic
func.func @ordered_sum(%x: memref<4x64xf32>, %o: memref<4xf32>) {
  linalg.generic {indexing_maps = [#na_x, #na_o],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x64xf32>) outs(%o : memref<4xf32>) {
  ^bb0(%a: f32, %c: f32):
    %s = arith.addf %c, %a : f32
    linalg.yield %s : f32
  }
  return
}
// CHECK-LABEL: func @strided_row
// CHECK: linalg.generic
func.func @strided_row(%x: memref<4x64xf32, strided<[1, 4]>>, %o: memref<4xf32>) {
  linalg.generic {indexing_maps = [#na_x, #na_o],
                  iterator_types = ["parallel", "reduction"]}
      ins(%x : memref<4x64xf32, strided<[1, 4]>>) outs(%o : memref<4xf32>) {
  ^bb0(%a: f32, %c: f32):
    %s = arith.maximumf %c, %a : f32
    linalg.yield %s : f32
  }
  return
}
