//===- ExecDialect.td - the qexec dialect -------------------*- tablegen -*-===//
//
// Part of quant. Markers about how the generated code executes, apart from
// what it computes: run-time checks that end a run with a message, and
// hints for the parallel loops. They are no quantization structure, so they
// are not in `qc`; every target lowers them (the CPU: qc-cpu-lower-checks,
// qc-cpu-lower-parallel-if).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_EXEC_IR_EXECDIALECT_TD
#define QUANT_DIALECT_EXEC_IR_EXECDIALECT_TD

include "mlir/IR/OpBase.td"

def Exec_Dialect : Dialect {
  let name = "qexec";
  let cppNamespace = "::mlir::qexec";
  let summary = "Execution markers of quant's generated code";
  let description = [{
    Run-time checks (`qexec.check`: end the run with a message unless a
    condition holds) and threading hints (`qexec.parallel_if`: run the
    enclosing parallel loop on threads only if a condition holds). The
    importer and the graph phase place checks; a target's pipeline places
    hints and lowers both.
  }];
  let dependentDialects = ["::mlir::arith::ArithDialect"];
}

class Exec_Op<string mnemonic, list<Trait> traits = []>
    : Op<Exec_Dialect, mnemonic, traits>;

#endif // QUANT_DIALECT_EXEC_IR_EXECDIALECT_TD
