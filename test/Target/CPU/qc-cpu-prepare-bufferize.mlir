// RUN: quant-opt %s --qc-cpu-prepare-bufferize --split-input-file | FileCheck %s

// Every result must bufferize to a new allocation the caller owns. A value
// computed into a tensor.empty (through destinations) already does: no copy.
// CHECK-LABEL: func.func @computed
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK-NOT: linalg.copy
// CHECK: return %[[Y]]
#id = affine_map<(d0) -> (d0)>
func.func @computed(%x: tensor<?xf32>) -> tensor<?xf32> {
  %c0 = arith.constant 0 : index
  %n = tensor.dim %x, %c0 : tensor<?xf32>
  %e = tensor.empty(%n) : tensor<?xf32>
  %y = linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel"]}
      ins(%x : tensor<?xf32>) outs(%e : tensor<?xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.mulf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<?xf32>
  return %y : tensor<?xf32>
}

// -----

// Through an scf.forall's shared output as well.
// CHECK-LABEL: func.func @through_forall
// CHECK: %[[Y:.*]] = scf.forall
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.copy
// CHECK: return %[[Y]]
func.func @through_forall(%x: tensor<64xf32>) -> tensor<64xf32> {
  %e = tensor.empty() : tensor<64xf32>
  %y = scf.forall (%i) in (4) shared_outs(%o = %e) -> (tensor<64xf32>) {
    %off = affine.apply affine_map<(d0) -> (d0 * 16)>(%i)
    %s = tensor.extract_slice %x[%off] [16] [1] : tensor<64xf32> to tensor<16xf32>
    %d = tensor.extract_slice %o[%off] [16] [1] : tensor<64xf32> to tensor<16xf32>
    %c = linalg.copy ins(%s : tensor<16xf32>) outs(%d : tensor<16xf32>) -> tensor<16xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %c into %o[%off] [16] [1] : tensor<16xf32> into tensor<64xf32>
    }
  }
  return %y : tensor<64xf32>
}

// -----

// An argument, a constant and a view are copied into fresh tensors, and a
// value returned twice once (the caller frees each result once, and never
// its own input or the model's weights).
// CHECK-LABEL: func.func @copied
// CHECK-SAME: (%[[X:.*]]: tensor<4xf32>)
// CHECK: %[[Y:.*]] = linalg.generic
// CHECK: %[[CX:.*]] = linalg.copy ins(%[[X]] : tensor<4xf32>)
// CHECK: %[[CK:.*]] = linalg.copy ins(%{{.*}} : tensor<4xf32>)
// CHECK: %[[CV:.*]] = linalg.copy ins(%{{.*}} : tensor<2x2xf32>)
// CHECK: %[[CY:.*]] = linalg.copy ins(%[[Y]] : tensor<4xf32>)
// CHECK-NOT: linalg.copy
// CHECK: return %[[CX]], %[[CK]], %[[CV]], %[[CY]], %[[Y]] :
#id2 = affine_map<(d0) -> (d0)>
func.func @copied(%x: tensor<4xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<2x2xf32>, tensor<4xf32>, tensor<4xf32>) {
  %k = arith.constant dense<1.0> : tensor<4xf32>
  %e = tensor.empty() : tensor<4xf32>
  %y = linalg.generic {indexing_maps = [#id2, #id2], iterator_types = ["parallel"]}
      ins(%x : tensor<4xf32>) outs(%e : tensor<4xf32>) {
  ^bb0(%a: f32, %o: f32):
    %s = arith.addf %a, %a : f32
    linalg.yield %s : f32
  } -> tensor<4xf32>
  %v = tensor.expand_shape %y [[0, 1]] output_shape [2, 2] : tensor<4xf32> into tensor<2x2xf32>
  return %x, %k, %v, %y, %y : tensor<4xf32>, tensor<4xf32>, tensor<2x2xf32>, tensor<4xf32>, tensor<4xf32>
}

// -----

// A splat constant of 64 KiB or more is filled at run time (a tensor.empty
// and a linalg.fill of its value), not stored; a smaller one stays.
// CHECK-LABEL: func.func @splats
// CHECK-NOT: dense<1.5
// CHECK: %[[V:.*]] = arith.constant 1.500000e+00 : f32
// CHECK: %[[E:.*]] = tensor.empty() : tensor<128x128xf32>
// CHECK: %[[BIG:.*]] = linalg.fill ins(%[[V]] : f32) outs(%[[E]] : tensor<128x128xf32>)
// CHECK: %[[SMALL:.*]] = arith.constant dense<2.000000e+00> : tensor<128x127xf32>
// CHECK: %[[COPY:.*]] = linalg.copy ins(%[[SMALL]]
// CHECK: return %[[BIG]], %[[COPY]]
func.func @splats() -> (tensor<128x128xf32>, tensor<128x127xf32>) {
  %big = arith.constant dense<1.5> : tensor<128x128xf32>
  %small = arith.constant dense<2.0> : tensor<128x127xf32>
  return %big, %small : tensor<128x128xf32>, tensor<128x127xf32>
}
