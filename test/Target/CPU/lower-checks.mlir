// RUN: quant-opt %s -split-input-file -verify-diagnostics --qc-cpu-lower-checks | FileCheck %s

// A check becomes a branch: on failure its values go to a stack array and
// the model calls the runtime, which ends the run (it never returns).
// CHECK-DAG: llvm.func @quant_rt_check_failed(!llvm.ptr, i64, !llvm.ptr) attributes {passthrough = ["noreturn", "cold"]}
// CHECK-DAG: llvm.mlir.global private constant @quant.check.0("x is {0}, y is {1}\00")
// CHECK-LABEL: func.func @one
// CHECK-SAME: (%[[C:.*]]: i1, %[[X:.*]]: index, %[[Y:.*]]: i32)
// CHECK: cf.cond_br %[[C]], ^[[OK:.*]], ^[[FAIL:.*]]
// CHECK: ^[[FAIL]]:
// CHECK: %[[MSG:.*]] = llvm.getelementptr %{{.*}}[0, 0] : (!llvm.ptr) -> !llvm.ptr, !llvm.array<19 x i8>
// CHECK: %[[N:.*]] = llvm.mlir.constant(2 : i64) : i64
// CHECK: %[[A:.*]] = llvm.alloca %[[N]] x i64 : (i64) -> !llvm.ptr
// CHECK: %[[X64:.*]] = arith.index_cast %[[X]] : index to i64
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[A]][0] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK: llvm.store %[[X64]], %[[P0]] : i64, !llvm.ptr
// CHECK: %[[Y64:.*]] = arith.extsi %[[Y]] : i32 to i64
// CHECK: %[[P1:.*]] = llvm.getelementptr %[[A]][1] : (!llvm.ptr) -> !llvm.ptr, i64
// CHECK: llvm.store %[[Y64]], %[[P1]] : i64, !llvm.ptr
// CHECK: llvm.call @quant_rt_check_failed(%[[MSG]], %[[N]], %[[A]])
// CHECK-NEXT: llvm.unreachable
// CHECK: ^[[OK]]:
// CHECK-NEXT: %[[R:.*]] = arith.addi
// CHECK-NEXT: return %[[R]]
func.func @one(%c: i1, %x: index, %y: i32) -> index {
  qexec.check %c, "x is {0}, y is {1}" (%x, %y : index, i32)
  %r = arith.addi %x, %x : index
  return %r : index
}

// -----

// The failure must be reported on the thread that started the run.
func.func @in_parallel(%c: i1) {
  omp.parallel {
    // expected-error @+1 {{a run-time check inside a parallel region}}
    qexec.check %c, "no"
    omp.terminator
  }
  return
}
