// RUN: quant-opt %s | quant-opt | FileCheck %s
// RUN: quant-opt %s --mlir-print-op-generic | quant-opt | FileCheck %s
// Round trip of the qexec ops.

// CHECK-LABEL: func.func @check
func.func @check(%c: i1, %a: index, %b: i64) {
  // CHECK: qexec.check %{{.*}}, "{0} and {1} differ"(%{{.*}}, %{{.*}} : index, i64)
  qexec.check %c, "{0} and {1} differ" (%a, %b : index, i64)
  // CHECK: qexec.check %{{.*}}, "no values"
  qexec.check %c, "no values"
  return
}

// CHECK-LABEL: func.func @parallel_if
func.func @parallel_if(%c: i1) {
  // CHECK: qexec.parallel_if %{{.*}}
  qexec.parallel_if %c
  return
}
