// RUN: quant-opt %s -split-input-file -canonicalize | FileCheck %s
// Canonicalization of the qexec ops.

// A check whose condition is the constant true is removed; one that may
// fail stays, and so does one that always fails (the run must still end).
// CHECK-LABEL: func.func @check
// CHECK-SAME: (%[[C:.*]]: i1, %[[V:.*]]: index)
// CHECK-NEXT: %[[F:.*]] = arith.constant false
// CHECK-NEXT: qexec.check %[[C]], "may fail: {0}"(%[[V]] : index)
// CHECK-NEXT: qexec.check %[[F]], "always fails"
// CHECK-NEXT: return
func.func @check(%c: i1, %v: index) {
  %t = arith.constant true
  %f = arith.constant false
  qexec.check %t, "never fails: {0}" (%v : index)
  qexec.check %c, "may fail: {0}" (%v : index)
  qexec.check %f, "always fails"
  return
}

// -----

// A parallel_if that always holds says nothing and goes; one that may not
// hold, or never holds (the loop must stay serial), stays.
// CHECK-LABEL: func.func @parallel_if
// CHECK-SAME: (%[[C:.*]]: i1)
// CHECK-NEXT: %[[F:.*]] = arith.constant false
// CHECK-NEXT: qexec.parallel_if %[[C]]
// CHECK-NEXT: qexec.parallel_if %[[F]]
// CHECK-NEXT: return
func.func @parallel_if(%c: i1) {
  %t = arith.constant true
  %f = arith.constant false
  qexec.parallel_if %t
  qexec.parallel_if %c
  qexec.parallel_if %f
  return
}
