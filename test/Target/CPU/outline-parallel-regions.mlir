// RUN: quant-opt %s --qc-cpu-outline-parallel-regions | FileCheck %s

// Each outermost omp.parallel becomes a call of a private, no_inline
// function; what it reads from outside is passed in (the if clause, the
// loop bound, buffers and globals), except constants, which are cloned in.
// A region inside a loop is outlined where it stands. Regions that are
// equal but for what they read (two layers of one shape, their weights in
// different globals) share one function.
// CHECK: func.func private @two_par0(%[[BIG0:.*]]: i1, %[[G0:.*]]: memref<4xf32>, %[[B0:.*]]: memref<?xf32>, %[[N0:.*]]: index) attributes {no_inline}
// CHECK-DAG: %[[C3:.*]] = arith.constant 3 : index
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C1:.*]] = arith.constant 1 : index
// CHECK: omp.parallel if(%[[BIG0]]) {
// CHECK: omp.loop_nest (%[[I:.*]]) : index = (%[[C0]]) to (%[[N0]]) step (%[[C1]])
// CHECK: memref.load %[[G0]][%[[C3]]]
// CHECK: memref.store {{.*}}, %[[B0]][%[[I]]]
// CHECK: return

// CHECK: func.func private @two_par2(%[[J1:.*]]: index, %[[B1:.*]]: memref<?xf32>, %[[N1:.*]]: index) attributes {no_inline}
// CHECK: omp.parallel {
// CHECK: arith.index_cast %[[J1]]
// CHECK: return

// CHECK-LABEL: func.func @two
// CHECK-SAME: (%[[N:.*]]: index, %[[BIG:.*]]: i1, %[[BUF:.*]]: memref<?xf32>)
// CHECK-NOT: omp.parallel
// CHECK-DAG: %[[GA:.*]] = memref.get_global @table_a
// CHECK-DAG: %[[GB:.*]] = memref.get_global @table_b
// CHECK: call @two_par0(%[[BIG]], %[[GA]], %[[BUF]], %[[N]]) : (i1, memref<4xf32>, memref<?xf32>, index) -> ()
// CHECK: call @two_par0(%[[BIG]], %[[GB]], %[[BUF]], %[[N]]) : (i1, memref<4xf32>, memref<?xf32>, index) -> ()
// CHECK: scf.for %[[J:.*]] =
// CHECK-NEXT: call @two_par2(%[[J]], %[[BUF]], %[[N]])
// CHECK-NOT: omp.parallel
// CHECK: return
// CHECK-NOT: func.func private @two_par1
memref.global "private" constant @table_a : memref<4xf32> = dense<[1.0, 2.0, 3.0, 4.0]>
memref.global "private" constant @table_b : memref<4xf32> = dense<[5.0, 6.0, 7.0, 8.0]>
func.func @two(%n: index, %big: i1, %buf: memref<?xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c3 = arith.constant 3 : index
  %ga = memref.get_global @table_a : memref<4xf32>
  %gb = memref.get_global @table_b : memref<4xf32>
  omp.parallel if(%big) {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        %v = memref.load %ga[%c3] : memref<4xf32>
        memref.store %v, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  omp.parallel if(%big) {
    omp.wsloop {
      omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
        %v = memref.load %gb[%c3] : memref<4xf32>
        memref.store %v, %buf[%i] : memref<?xf32>
        omp.yield
      }
    }
    omp.terminator
  }
  scf.for %j = %c0 to %c3 step %c1 {
    omp.parallel {
      omp.wsloop {
        omp.loop_nest (%i) : index = (%c0) to (%n) step (%c1) {
          %f = arith.index_cast %j : index to i32
          %x = arith.sitofp %f : i32 to f32
          memref.store %x, %buf[%i] : memref<?xf32>
          omp.yield
        }
      }
      omp.terminator
    }
  }
  return
}
