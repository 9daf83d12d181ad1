// RUN: quant-opt %s --qc-cpu-lower-parallel-if --split-input-file | FileCheck %s

// The hint in the loop body becomes the parallel region's if clause.
// CHECK-LABEL: func.func @guarded
// CHECK-SAME: (%{{.*}}: index, %[[BIG:.*]]: i1,
// CHECK: omp.parallel if(%[[BIG]])
// CHECK-NOT: qexec.parallel_if
// CHECK: memref.store
func.func @guarded(%n: index, %big: i1, %buf: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 1.0 : f32
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        qexec.parallel_if %big
        memref.store %v, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// -----

// A region that already has an if clause keeps it, and the hint's.
// CHECK-LABEL: func.func @both
// CHECK-SAME: (%{{.*}}: index, %[[A:.*]]: i1, %[[B:.*]]: i1,
// CHECK: %[[AND:.*]] = arith.andi %[[A]], %[[B]] : i1
// CHECK: omp.parallel if(%[[AND]])
// CHECK-NOT: qexec.parallel_if
func.func @both(%n: index, %a: i1, %b: i1, %buf: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 1.0 : f32
  omp.parallel if(%a) {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        qexec.parallel_if %b
        memref.store %v, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// -----

// A condition computed inside the region cannot decide whether to fork:
// the region keeps forking, and the hint is gone.
// CHECK-LABEL: func.func @inner_condition
// CHECK: omp.parallel {
// CHECK-NOT: qexec.parallel_if
func.func @inner_condition(%n: index, %buf: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %v = arith.constant 1.0 : f32
  omp.parallel {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        %big = arith.cmpi sge, %i, %c1 : index
        qexec.parallel_if %big
        memref.store %v, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  return
}

// -----

// Outside any parallel region (a loop of one chunk folded away), the hint
// is just erased.
// CHECK-LABEL: func.func @no_region
// CHECK-NOT: qexec.parallel_if
// CHECK: return
func.func @no_region(%big: i1) {
  qexec.parallel_if %big
  return
}
