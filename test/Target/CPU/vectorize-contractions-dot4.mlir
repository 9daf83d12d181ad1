// RUN: quant-opt %s --split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(qc-cpu-vectorize-contractions{vector-bits=512 registers=32 dot4=true},canonicalize,cse))' \
// RUN:   | FileCheck %s
// Without dot4 the same generic stays (no input is read by vector loads).
// RUN: quant-opt %s --split-input-file \
// RUN:   --pass-pipeline='builtin.module(func.func(qc-cpu-vectorize-contractions{vector-bits=512 registers=32}))' \
// RUN:   | FileCheck %s --check-prefix=PLAIN

// The dot4 form of qc-cpu-lower-quantized-contractions, as its #qc.encoding
// says (here with the sign flip of x in the body): per row 4 bytes of x,
// flipped to unsigned and broadcast as one i32; per lane block 64 weight
// bytes (16 outputs x 4 reduction steps); one vpdpbusd per accumulator.
#x = affine_map<(m, q, n, j) -> (m, q * 4 + j)>
#w = affine_map<(m, q, n, j) -> (q, n, j)>
#o = affine_map<(m, q, n, j) -> (m, n)>
// CHECK-LABEL: func @dot4
// PLAIN-LABEL: func @dot4
func.func @dot4(%x: memref<8x64xi8>, %w: memref<16x48x4xi8>,
                %o: memref<8x48xi32>) {
  %c = arith.constant -128 : i8
  linalg.generic {indexing_maps = [#x, #w, #o],
                  iterator_types = ["parallel", "reduction", "parallel", "reduction"]}
      ins(%x, %w : memref<8x64xi8>, memref<16x48x4xi8>)
      outs(%o : memref<8x48xi32>)
      attrs = {qc.encoding = #qc.encoding<dot4, signFlip = true>} {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %f = arith.xori %a, %c : i8
    %u = arith.extui %f : i8 to i32
    %s = arith.extsi %b : i8 to i32
    %p = arith.muli %u, %s : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  return
}
// CHECK-NOT: linalg.generic
// 8 rows x 3 vectors of 16 lanes: 24 accumulators.
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>, vector<16xi32>)
// CHECK: vector.load %{{.*}} : memref<8x64xi8>, vector<4xi8>
// CHECK: arith.xori %{{.*}} : vector<4xi8>
// CHECK: vector.bitcast %{{.*}} : vector<4xi8> to vector<1xi32>
// CHECK: vector.broadcast %{{.*}} : vector<1xi32> to vector<16xi32>
// CHECK: vector.bitcast %{{.*}} : vector<16xi32> to vector<64xi8>
// CHECK-COUNT-3: vector.load %{{.*}} : memref<16x48x4xi8>, vector<64xi8>
// CHECK-COUNT-24: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK: scf.yield
// PLAIN-NOT: vpdpbusd
// PLAIN: linalg.generic

// -----

// The panel layout of the weights, [N/P, K/4, P, 4] with loops (m, nb, q,
// ni, j), and x already flipped (no xor in the body): the panel loop nb is
// an outer parallel loop, each panel's lane blocks are read contiguously,
// and the broadcast is a plain 4-byte load.
#px = affine_map<(m, nb, q, ni, j) -> (m, q * 4 + j)>
#pw = affine_map<(m, nb, q, ni, j) -> (nb, q, ni, j)>
#po = affine_map<(m, nb, q, ni, j) -> (m, nb, ni)>
// CHECK-LABEL: func @dot4_panels
func.func @dot4_panels(%x: memref<8x64xi8>, %w: memref<2x16x32x4xi8>,
                       %o: memref<8x2x32xi32>) {
  linalg.generic {indexing_maps = [#px, #pw, #po],
                  iterator_types = ["parallel", "parallel", "reduction", "parallel", "reduction"]}
      ins(%x, %w : memref<8x64xi8>, memref<2x16x32x4xi8>)
      outs(%o : memref<8x2x32xi32>)
      attrs = {qc.encoding = #qc.encoding<dot4>} {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %u = arith.extui %a : i8 to i32
    %s = arith.extsi %b : i8 to i32
    %p = arith.muli %u, %s : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  return
}
// CHECK-NOT: linalg.generic
// CHECK: scf.for %[[NB:.*]] = %c0 to %c2 step %c1
// CHECK: scf.for {{.*}} iter_args({{.*}}) -> (vector<16xi32>, vector<16xi32>,
// CHECK: vector.load %{{.*}} : memref<8x64xi8>, vector<4xi8>
// CHECK-NOT: arith.xori
// CHECK: vector.broadcast %{{.*}} : vector<1xi32> to vector<16xi32>
// CHECK: vector.load %{{.*}}[%[[NB]], %{{.*}}, %{{.*}}, %c0] : memref<2x16x32x4xi8>, vector<64xi8>
// CHECK: llvm.call_intrinsic "llvm.x86.avx512.vpdpbusd.512"
// CHECK: scf.yield

// -----

// Anything else in the body (here a zero point subtracted per product)
// does not compute what the encoding claims: not vectorised as dot4.
// CHECK-LABEL: func @not_dot4
// CHECK-NOT: vpdpbusd
func.func @not_dot4(%x: memref<8x64xi8>, %w: memref<16x48x4xi8>,
                    %o: memref<8x48xi32>) {
  %z = arith.constant 3 : i32
  linalg.generic {indexing_maps = [affine_map<(m, q, n, j) -> (m, q * 4 + j)>,
                                   affine_map<(m, q, n, j) -> (q, n, j)>,
                                   affine_map<(m, q, n, j) -> (m, n)>],
                  iterator_types = ["parallel", "reduction", "parallel", "reduction"]}
      ins(%x, %w : memref<8x64xi8>, memref<16x48x4xi8>)
      outs(%o : memref<8x48xi32>)
      attrs = {qc.encoding = #qc.encoding<dot4>} {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %u = arith.extui %a : i8 to i32
    %v = arith.subi %u, %z : i32
    %s = arith.extsi %b : i8 to i32
    %p = arith.muli %v, %s : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  return
}

// -----

// The dot4 body and layout without the encoding: nothing recognises the
// layout from the body, so it is not vectorised as dot4.
// CHECK-LABEL: func @unmarked
// CHECK-NOT: vpdpbusd
// CHECK: linalg.generic
func.func @unmarked(%x: memref<8x64xi8>, %w: memref<16x48x4xi8>,
                    %o: memref<8x48xi32>) {
  linalg.generic {indexing_maps = [affine_map<(m, q, n, j) -> (m, q * 4 + j)>,
                                   affine_map<(m, q, n, j) -> (q, n, j)>,
                                   affine_map<(m, q, n, j) -> (m, n)>],
                  iterator_types = ["parallel", "reduction", "parallel", "reduction"]}
      ins(%x, %w : memref<8x64xi8>, memref<16x48x4xi8>)
      outs(%o : memref<8x48xi32>) {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %u = arith.extui %a : i8 to i32
    %s = arith.extsi %b : i8 to i32
    %p = arith.muli %u, %s : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  return
}

// -----

// The encoding names input 1 as the unsigned one, the body input 0: the
// claim does not hold, not dot4.
// CHECK-LABEL: func @wrong_operand
// CHECK-NOT: vpdpbusd
func.func @wrong_operand(%x: memref<8x64xi8>, %w: memref<16x48x4xi8>,
                         %o: memref<8x48xi32>) {
  linalg.generic {indexing_maps = [affine_map<(m, q, n, j) -> (m, q * 4 + j)>,
                                   affine_map<(m, q, n, j) -> (q, n, j)>,
                                   affine_map<(m, q, n, j) -> (m, n)>],
                  iterator_types = ["parallel", "reduction", "parallel", "reduction"]}
      ins(%x, %w : memref<8x64xi8>, memref<16x48x4xi8>)
      outs(%o : memref<8x48xi32>)
      attrs = {qc.encoding = #qc.encoding<dot4, operand = 1>} {
  ^bb0(%a: i8, %b: i8, %acc: i32):
    %u = arith.extui %a : i8 to i32
    %s = arith.extsi %b : i8 to i32
    %p = arith.muli %u, %s : i32
    %r = arith.addi %acc, %p : i32
    linalg.yield %r : i32
  }
  return
}
