// RUN: quant-opt %s --qc-cpu-check-buffer-sizes --split-input-file --verify-diagnostics | FileCheck %s

// A buffer with run-time extents gets one check before its allocation:
// every dynamic extent non-negative, the bytes (f64: 4 * 3 * d0 * d2)
// at most 2^47.
// CHECK-LABEL: func.func @dynamic
// CHECK-SAME: (%[[A:.*]]: index, %[[B:.*]]: index)
// CHECK: %[[A64:.*]] = arith.index_cast %[[A]] : index to i64
// CHECK: %[[P0:.*]] = arith.cmpi sge, %[[A64]]
// CHECK: %[[FA:.*]] = arith.sitofp %[[A64]] : i64 to f64
// CHECK: %[[B64:.*]] = arith.index_cast %[[B]] : index to i64
// CHECK: %[[P1:.*]] = arith.cmpi sge, %[[B64]]
// CHECK: %[[OK0:.*]] = arith.andi %[[P0]], %[[P1]]
// CHECK: %[[FB:.*]] = arith.sitofp %[[B64]] : i64 to f64
// CHECK: %[[N:.*]] = arith.mulf %[[FA]], %[[FB]]
// CHECK: %[[C:.*]] = arith.constant 1.200000e+01 : f64
// CHECK: %[[BYTES:.*]] = arith.mulf %[[N]], %[[C]]
// CHECK: %[[MAX:.*]] = arith.constant 0x42E0000000000000 : f64
// CHECK: %[[FITS:.*]] = arith.cmpf ole, %[[BYTES]], %[[MAX]]
// CHECK: %[[OK:.*]] = arith.andi %[[OK0]], %[[FITS]]
// CHECK: qexec.check %[[OK]], "a buffer of shape [{0}, 3, {1}] x f32 computed at run time has a negative extent or exceeds 2^47 bytes (a shape read from an input is out of range)"(%[[A64]], %[[B64]] : i64, i64)
// CHECK-NEXT: memref.alloc(%[[A]], %[[B]]) : memref<?x3x?xf32>
func.func @dynamic(%a: index, %b: index) -> memref<?x3x?xf32> {
  %m = memref.alloc(%a, %b) : memref<?x3x?xf32>
  return %m : memref<?x3x?xf32>
}

// -----

// Index elements count as 8 bytes.
// CHECK-LABEL: func.func @indices
// CHECK: arith.constant 8.000000e+00 : f64
// CHECK: qexec.check {{.*}}"a buffer of shape [{0}] x index computed at run time
func.func @indices(%a: index) -> memref<?xindex> {
  %m = memref.alloc(%a) : memref<?xindex>
  return %m : memref<?xindex>
}

// -----

// Static buffers within the bound and buffers inside parallel loops (a
// check there could not end the run from a worker thread) get none.
// CHECK-LABEL: func.func @unchecked
// CHECK-NOT: qexec.check
func.func @unchecked(%n: index) {
  %s = memref.alloc() : memref<1024x1024xf32>
  scf.forall (%i) in (4) {
    %t = memref.alloc(%n) : memref<?xf32>
    memref.dealloc %t : memref<?xf32>
  }
  memref.dealloc %s : memref<1024x1024xf32>
  return
}

// -----

// A static buffer past 2^47 bytes: no run could allocate it.
func.func @huge() {
  // expected-error @below {{a buffer of shape [100000, 100000, 100000] x f32 needs 4.000E+15 bytes, more than the 2^47 a run may allocate}}
  %s = memref.alloc() : memref<100000x100000x100000xf32>
  memref.dealloc %s : memref<100000x100000x100000xf32>
  return
}
