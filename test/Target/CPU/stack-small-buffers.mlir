// RUN: quant-opt %s --qc-cpu-stack-small-buffers --split-input-file | FileCheck %s
// RUN: quant-opt %s --qc-cpu-stack-small-buffers="max-total-bytes=300" --split-input-file | FileCheck %s --check-prefix=BUDGET

// A small static buffer used only inside the function goes on the stack and
// loses its dealloc; the returned one stays on the heap.
// CHECK-LABEL: func.func @local
// CHECK: %[[T:.*]] = memref.alloca() {alignment = 64 : i64} : memref<4x16xf32>
// CHECK: %[[R:.*]] = memref.alloc() {alignment = 64 : i64} : memref<4x16xf32>
// CHECK: linalg.copy ins(%{{.*}} : memref<4x16xf32>) outs(%[[T]]
// CHECK: linalg.copy ins(%[[T]] : memref<4x16xf32>) outs(%[[R]]
// CHECK-NOT: memref.dealloc
// CHECK: return %[[R]]
func.func @local(%x: memref<4x16xf32>) -> memref<4x16xf32> {
  %t = memref.alloc() {alignment = 64 : i64} : memref<4x16xf32>
  %r = memref.alloc() {alignment = 64 : i64} : memref<4x16xf32>
  linalg.copy ins(%x : memref<4x16xf32>) outs(%t : memref<4x16xf32>)
  linalg.copy ins(%t : memref<4x16xf32>) outs(%r : memref<4x16xf32>)
  memref.dealloc %t : memref<4x16xf32>
  return %r : memref<4x16xf32>
}

// -----

// Stays on the heap: too large (> 4096 bytes), a dynamic shape, a view of it
// returned, inside a loop.
// CHECK-LABEL: func.func @heap
// CHECK-NOT: memref.alloca
// CHECK-COUNT-4: memref.alloc
// CHECK-NOT: memref.alloca
func.func @heap(%x: memref<64x64xf32>, %n: index) -> memref<16xf32> {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %big = memref.alloc() : memref<64x64xf32>
  linalg.copy ins(%x : memref<64x64xf32>) outs(%big : memref<64x64xf32>)
  memref.dealloc %big : memref<64x64xf32>
  %dyn = memref.alloc(%n) : memref<?xf32>
  memref.dealloc %dyn : memref<?xf32>
  %v = memref.alloc() : memref<4x4xf32>
  %flat = memref.collapse_shape %v [[0, 1]] : memref<4x4xf32> into memref<16xf32>
  scf.for %i = %c0 to %c4 step %c1 {
    %l = memref.alloc() : memref<4xf32>
    memref.dealloc %l : memref<4xf32>
  }
  return %flat : memref<16xf32>
}

// -----

// Within the function's stack budget: the first two 128-byte buffers, not
// the third (with max-total-bytes=300).
// BUDGET-LABEL: func.func @budget
// BUDGET: memref.alloca() : memref<32xf32>
// BUDGET: memref.alloca() : memref<32xf32>
// BUDGET: memref.alloc() : memref<32xf32>
// BUDGET-COUNT-1: memref.dealloc
// CHECK-LABEL: func.func @budget
// CHECK-COUNT-3: memref.alloca() : memref<32xf32>
// CHECK-NOT: memref.dealloc
func.func @budget(%x: memref<32xf32>) {
  %a = memref.alloc() : memref<32xf32>
  %b = memref.alloc() : memref<32xf32>
  %c = memref.alloc() : memref<32xf32>
  linalg.copy ins(%x : memref<32xf32>) outs(%a : memref<32xf32>)
  linalg.copy ins(%a : memref<32xf32>) outs(%b : memref<32xf32>)
  linalg.copy ins(%b : memref<32xf32>) outs(%c : memref<32xf32>)
  memref.dealloc %a : memref<32xf32>
  memref.dealloc %b : memref<32xf32>
  memref.dealloc %c : memref<32xf32>
  return
}
