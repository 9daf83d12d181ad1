// RUN: quant-opt %s --qc-cpu-parallelize --split-input-file | FileCheck %s

// One zero fill (CSE merges equal ones) initialises two matmuls. Each matmul
// gets its own fill (else bufferization would copy the shared zeros before
// every matmul: 79 serial copies per MiniLM run), tiled inside the matmul's
// scf.forall: each chunk fills its slice of a fresh tensor, then multiplies
// into it; no fill is left outside a loop.
// CHECK-LABEL: func.func @shared_fill
// CHECK-NOT: linalg.fill
// CHECK: %[[E1:.*]] = tensor.empty() : tensor<128x384xf32>
// CHECK: %[[E2:.*]] = tensor.empty() : tensor<128x384xf32>
// CHECK: %[[Y1:.*]] = scf.forall {{.*}} shared_outs(%[[O1:.*]] = %[[E2]])
// CHECK: %[[S1:.*]] = tensor.extract_slice %[[O1]]
// CHECK: %[[F1:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[S1]] : tensor<128x64xf32>)
// CHECK: linalg.matmul {{.*}} outs(%[[F1]] : tensor<128x64xf32>)
// CHECK: %[[Y2:.*]] = scf.forall {{.*}} shared_outs(%[[O2:.*]] = %[[E1]])
// CHECK: %[[S2:.*]] = tensor.extract_slice %[[O2]]
// CHECK: %[[F2:.*]] = linalg.fill ins(%{{.*}} : f32) outs(%[[S2]] : tensor<128x64xf32>)
// CHECK: linalg.matmul {{.*}} outs(%[[F2]] : tensor<128x64xf32>)
// CHECK: return %[[Y1]], %[[Y2]]
func.func @shared_fill(%a: tensor<128x384xf32>, %w1: tensor<384x384xf32>, %w2: tensor<384x384xf32>) -> (tensor<128x384xf32>, tensor<128x384xf32>) {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<128x384xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<128x384xf32>) -> tensor<128x384xf32>
  %y1 = linalg.matmul ins(%a, %w1 : tensor<128x384xf32>, tensor<384x384xf32>) outs(%f : tensor<128x384xf32>) -> tensor<128x384xf32>
  %y2 = linalg.matmul ins(%a, %w2 : tensor<128x384xf32>, tensor<384x384xf32>) outs(%f : tensor<128x384xf32>) -> tensor<128x384xf32>
  return %y1, %y2 : tensor<128x384xf32>, tensor<128x384xf32>
}

// -----

// A large fill that initialises no tiled op (here it is returned) is still
// split on its own.
// CHECK-LABEL: func.func @fill_alone
// CHECK: scf.forall
// CHECK: linalg.fill
func.func @fill_alone() -> tensor<256x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<256x256xf32>
  %f = linalg.fill ins(%zero : f32) outs(%e : tensor<256x256xf32>) -> tensor<256x256xf32>
  return %f : tensor<256x256xf32>
}

// -----

// A static pad by a constant: the source is copied into the interior and
// only the border is filled, in disjoint strips (rows 0 and 9 over the full
// width, then columns 0 and 11..12 over the interior rows); no fill of the
// whole padded tensor.
// CHECK-LABEL: func.func @pad_borders
// CHECK-SAME: (%[[X:.*]]: tensor<8x10xf32>, %[[V:.*]]: f32)
// CHECK: %[[E:.*]] = tensor.empty() : tensor<10x13xf32>
// CHECK-NOT: linalg.fill ins(%[[V]] : f32) outs(%[[E]]
// CHECK: linalg.copy ins(%[[X]] : tensor<8x10xf32>)
// CHECK: tensor.insert_slice %{{.*}} into %{{.*}}[1, 1] [8, 10] [1, 1]
// CHECK: linalg.fill ins(%[[V]] : f32) outs(%{{.*}} : tensor<1x13xf32>)
// CHECK: tensor.insert_slice %{{.*}}[0, 0] [1, 13] [1, 1]
// CHECK: linalg.fill ins(%[[V]] : f32) outs(%{{.*}} : tensor<1x13xf32>)
// CHECK: tensor.insert_slice %{{.*}}[9, 0] [1, 13] [1, 1]
// CHECK: linalg.fill ins(%[[V]] : f32) outs(%{{.*}} : tensor<8x1xf32>)
// CHECK: tensor.insert_slice %{{.*}}[1, 0] [8, 1] [1, 1]
// CHECK: linalg.fill ins(%[[V]] : f32) outs(%{{.*}} : tensor<8x2xf32>)
// CHECK: tensor.insert_slice %{{.*}}[1, 11] [8, 2] [1, 1]
func.func @pad_borders(%x: tensor<8x10xf32>, %v: f32) -> tensor<10x13xf32> {
  %p = tensor.pad %x low[1, 1] high[1, 2] {
  ^bb0(%i: index, %j: index):
    tensor.yield %v : f32
  } : tensor<8x10xf32> to tensor<10x13xf32>
  return %p : tensor<10x13xf32>
}

// -----

// A pad whose source an elementwise generic computes (here read through a
// reshape that only drops a unit dimension, as a convolution's grouped
// output is): the generic writes straight into the padded tensor's
// interior, so there is no copy; only the border is filled.
#pi_id = affine_map<(a, b, c, d) -> (a, b, c, d)>
// CHECK-LABEL: func.func @pad_in_place
// CHECK: %[[E:.*]] = tensor.empty() : tensor<1x66x10xf32>
// CHECK: %[[I:.*]] = tensor.extract_slice %[[E]][0, 1, 1] [1, 64, 8] [1, 1, 1]
// CHECK: %[[O:.*]] = tensor.expand_shape %[[I]] {{\[\[}}0, 1], [2], [3]]
// CHECK: %[[G:.*]] = linalg.generic {{.*}} outs(%[[O]] :
// CHECK: %[[C:.*]] = tensor.collapse_shape %[[G]]
// CHECK-NOT: linalg.copy
// CHECK: tensor.insert_slice %[[C]] into %[[E]][0, 1, 1] [1, 64, 8] [1, 1, 1]
// CHECK-NOT: linalg.copy
// CHECK: linalg.fill
func.func @pad_in_place(%x: tensor<1x1x64x8xf32>, %v: f32) -> tensor<1x66x10xf32> {
  %e = tensor.empty() : tensor<1x1x64x8xf32>
  %y = linalg.generic {indexing_maps = [#pi_id, #pi_id], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%x : tensor<1x1x64x8xf32>) outs(%e : tensor<1x1x64x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<1x1x64x8xf32>
  %c = tensor.collapse_shape %y [[0, 1], [2], [3]] : tensor<1x1x64x8xf32> into tensor<1x64x8xf32>
  %p = tensor.pad %c low[0, 1, 1] high[0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index):
    tensor.yield %v : f32
  } : tensor<1x64x8xf32> to tensor<1x66x10xf32>
  return %p : tensor<1x66x10xf32>
}

// -----

// The same with a second reader of the producer's result after the pad (a
// skip connection): it reads the padded tensor's interior, so the producer
// still writes in place and nothing is copied.
#ps_id = affine_map<(a, b, c) -> (a, b, c)>
// CHECK-LABEL: func.func @pad_in_place_skip
// CHECK: %[[E:.*]] = tensor.empty() : tensor<1x66x10xf32>
// CHECK: %[[I:.*]] = tensor.extract_slice %[[E]][0, 1, 1] [1, 64, 8] [1, 1, 1]
// CHECK: linalg.generic {{.*}} outs(%[[I]] :
// CHECK-NOT: linalg.copy
// CHECK: %[[P:.*]] = tensor.insert_slice %{{.*}}[0, 1, 9] [1, 64, 1] [1, 1, 1]
// CHECK: %[[R:.*]] = tensor.extract_slice %[[P]][0, 1, 1] [1, 64, 8] [1, 1, 1]
// CHECK: linalg.generic {{.*}} ins(%[[R]] :
func.func @pad_in_place_skip(%x: tensor<1x64x8xf32>, %v: f32) -> (tensor<1x66x10xf32>, tensor<1x64x8xf32>) {
  %e = tensor.empty() : tensor<1x64x8xf32>
  %y = linalg.generic {indexing_maps = [#ps_id, #ps_id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<1x64x8xf32>) outs(%e : tensor<1x64x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<1x64x8xf32>
  %p = tensor.pad %y low[0, 1, 1] high[0, 1, 1] {
  ^bb0(%i: index, %j: index, %k: index):
    tensor.yield %v : f32
  } : tensor<1x64x8xf32> to tensor<1x66x10xf32>
  %e2 = tensor.empty() : tensor<1x64x8xf32>
  %z = linalg.generic {indexing_maps = [#ps_id, #ps_id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%y : tensor<1x64x8xf32>) outs(%e2 : tensor<1x64x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %in : f32
    linalg.yield %a : f32
  } -> tensor<1x64x8xf32>
  return %p, %z : tensor<1x66x10xf32>, tensor<1x64x8xf32>
}

// -----

// A concatenation of two generics' results (the second read through a
// reshape): both write straight into their slices of one tensor, created
// before the first of them; nothing is copied.
#pc_id = affine_map<(a, b, c) -> (a, b, c)>
// CHECK-LABEL: func.func @concat_in_place
// CHECK: %[[E:.*]] = tensor.empty() : tensor<1x96x8xf32>
// CHECK: %[[S0:.*]] = tensor.extract_slice %[[E]][0, 0, 0] [1, 32, 8] [1, 1, 1]
// CHECK: %[[A:.*]] = linalg.generic {{.*}} outs(%[[S0]] :
// CHECK: %[[C0:.*]] = tensor.insert_slice %[[A]] into %[[E]][0, 0, 0] [1, 32, 8] [1, 1, 1]
// CHECK: %[[S1:.*]] = tensor.extract_slice %[[C0]][0, 32, 0] [1, 64, 8] [1, 1, 1]
// CHECK: %[[X1:.*]] = tensor.expand_shape %[[S1]]
// CHECK: %[[B:.*]] = linalg.generic {{.*}} outs(%[[X1]] :
// CHECK: %[[BC:.*]] = tensor.collapse_shape %[[B]]
// CHECK: tensor.insert_slice %[[BC]] into %[[C0]][0, 32, 0] [1, 64, 8] [1, 1, 1]
// CHECK-NOT: linalg.copy
func.func @concat_in_place(%x: tensor<1x32x8xf32>, %y: tensor<1x1x64x8xf32>) -> tensor<1x96x8xf32> {
  %e = tensor.empty() : tensor<1x32x8xf32>
  %a = linalg.generic {indexing_maps = [#pc_id, #pc_id], iterator_types = ["parallel", "parallel", "parallel"]} ins(%x : tensor<1x32x8xf32>) outs(%e : tensor<1x32x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.mulf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<1x32x8xf32>
  %e4 = tensor.empty() : tensor<1x1x64x8xf32>
  %b = linalg.generic {indexing_maps = [affine_map<(a, b, c, d) -> (a, b, c, d)>, affine_map<(a, b, c, d) -> (a, b, c, d)>], iterator_types = ["parallel", "parallel", "parallel", "parallel"]} ins(%y : tensor<1x1x64x8xf32>) outs(%e4 : tensor<1x1x64x8xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.addf %in, %in : f32
    linalg.yield %m : f32
  } -> tensor<1x1x64x8xf32>
  %bc = tensor.collapse_shape %b [[0, 1], [2], [3]] : tensor<1x1x64x8xf32> into tensor<1x64x8xf32>
  %c = tensor.concat dim(1) %a, %bc : (tensor<1x32x8xf32>, tensor<1x64x8xf32>) -> tensor<1x96x8xf32>
  return %c : tensor<1x96x8xf32>
}

// -----

// A bias copied into a contraction's output only to initialise it is tiled
// inside the contraction's loop, like a fill: one loop, no generic left
// outside it.
#pb_b = affine_map<(m, n) -> (n)>
#pb_id = affine_map<(m, n) -> (m, n)>
#pb_x = affine_map<(m, n, k) -> (m, k)>
#pb_w = affine_map<(m, n, k) -> (k, n)>
#pb_o = affine_map<(m, n, k) -> (m, n)>
// CHECK-LABEL: func.func @bias_init
// CHECK-NOT: linalg.generic
// CHECK: scf.forall
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel"]
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: scf.forall.in_parallel
// CHECK-NOT: linalg.generic
func.func @bias_init(%x: tensor<128x256xf32>, %w: tensor<256x512xf32>, %b: tensor<512xf32>) -> tensor<128x512xf32> {
  %e = tensor.empty() : tensor<128x512xf32>
  %init = linalg.generic {indexing_maps = [#pb_b, #pb_id], iterator_types = ["parallel", "parallel"]}
      ins(%b : tensor<512xf32>) outs(%e : tensor<128x512xf32>) {
  ^bb0(%a: f32, %o: f32):
    linalg.yield %a : f32
  } -> tensor<128x512xf32>
  %y = linalg.generic {indexing_maps = [#pb_x, #pb_w, #pb_o], iterator_types = ["parallel", "parallel", "reduction"]}
      ins(%x, %w : tensor<128x256xf32>, tensor<256x512xf32>) outs(%init : tensor<128x512xf32>) {
  ^bb0(%a: f32, %c: f32, %o: f32):
    %p = arith.mulf %a, %c : f32
    %s = arith.addf %o, %p : f32
    linalg.yield %s : f32
  } -> tensor<128x512xf32>
  return %y : tensor<128x512xf32>
}

// -----

// A matmul whose rows are known only at run time: the chunks' loop starts
// with a qexec.parallel_if that holds when rows x 64 x 128 iterations reach
// min-iterations (16384), that is when rows >= 2, so a run of one row does
// not fork.
// CHECK-LABEL: func.func @dynamic_rows
// CHECK-SAME: (%[[A:.*]]: tensor<?x64xf32>
// CHECK: %[[MIN:.*]] = arith.constant 2 : index
// CHECK: %[[BIG:.*]] = arith.cmpi sge, %[[ROWS:dim.*]], %[[MIN]] : index
// CHECK: scf.forall
// CHECK-NEXT: qexec.parallel_if %[[BIG]]
// CHECK: linalg.matmul
func.func @dynamic_rows(%a: tensor<?x64xf32>, %w: tensor<64x128xf32>, %init: tensor<?x128xf32>) -> tensor<?x128xf32> {
  %y = linalg.matmul ins(%a, %w : tensor<?x64xf32>, tensor<64x128xf32>) outs(%init : tensor<?x128xf32>) -> tensor<?x128xf32>
  return %y : tensor<?x128xf32>
}

// -----

// Static extents: the compile-time count decides; no run-time guard.
// CHECK-LABEL: func.func @static_rows
// CHECK: scf.forall
// CHECK-NOT: qexec.parallel_if
// CHECK: linalg.matmul
func.func @static_rows(%a: tensor<256x64xf32>, %w: tensor<64x128xf32>, %init: tensor<256x128xf32>) -> tensor<256x128xf32> {
  %y = linalg.matmul ins(%a, %w : tensor<256x64xf32>, tensor<64x128xf32>) outs(%init : tensor<256x128xf32>) -> tensor<256x128xf32>
  return %y : tensor<256x128xf32>
}
