//===- ExecOps.td - run-time checks and threading hints -----*- tablegen -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_EXEC_IR_EXECOPS_TD
#define QUANT_DIALECT_EXEC_IR_EXECOPS_TD

include "quant/Dialect/Exec/IR/ExecDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

//===----------------------------------------------------------------------===//
// Run-time checks
//===----------------------------------------------------------------------===//

def Exec_CheckOp : Exec_Op<"check", [MemoryEffects<[MemWrite]>]> {
  let summary = "fail the run with a message unless a condition holds";
  let description = [{
    A condition the model can only test at run time: the extents of a shape
    read from a tensor, or two dynamic extents an op computes with as one.
    When `condition` is false the run stops and the session call returns
    `QUANT_ERROR_SHAPE_MISMATCH` with `message`, in which `{i}` stands for
    the decimal value of `values[i]`. The CPU pipeline lowers the op with
    `qc-cpu-lower-checks` (a call into the runtime, which ends the run); it must
    not sit inside a parallel loop. The op has a write effect so it is never
    removed as dead code; canonicalization removes it when the condition is
    the constant true.

    ```mlir
    qexec.check %ok, "node 'r' (Reshape): {0} x {1} does not hold {2} elements"
        (%a, %b, %n : i64, i64, i64)
    ```
  }];
  let arguments = (ins I1:$condition, StrAttr:$message,
                       Variadic<AnySignlessIntegerOrIndex>:$values);
  let assemblyFormat = [{
    $condition `,` $message (`(` $values^ `:` type($values) `)`)? attr-dict
  }];
  let hasVerifier = 1;
  let hasCanonicalizeMethod = 1;
  let extraClassDeclaration = [{
    /// `text` with its braces replaced by parentheses, to be put in a
    /// message where it cannot read as a placeholder (a node name).
    static std::string literal(::llvm::StringRef text);
  }];
}

//===----------------------------------------------------------------------===//
// Threads
//===----------------------------------------------------------------------===//

def Exec_ParallelIfOp : Exec_Op<"parallel_if", [MemoryEffects<[MemWrite]>]> {
  let summary = "run the enclosing parallel loop on threads only if a condition holds";
  let description = [{
    Sits in the body of a parallel loop (`scf.forall`, later `scf.parallel`
    and the OpenMP loop made of it) whose work depends on extents known only
    at run time. When `condition` is false at run time, the loop runs
    serially on the calling thread: handing a few microseconds of work to
    the thread pool costs more than it saves. `qc-cpu-parallelize` places it
    (the condition compares the op's iteration count with its
    `min-iterations`); `qc-cpu-lower-parallel-if` turns it into the `if` clause
    of the `omp.parallel` that encloses it and erases it (and erases it
    where no such loop remains). A condition defined inside the loop
    cannot decide it and is ignored. The op has a write effect so it is
    never removed as dead code; canonicalization removes it when the
    condition is the constant true.

    ```mlir
    scf.forall (%i) in (%n) shared_outs(%o = %init) -> (tensor<?x64xf32>) {
      qexec.parallel_if %big
      ...
    }
    ```
  }];
  let arguments = (ins I1:$condition);
  let assemblyFormat = "$condition attr-dict";
  let hasCanonicalizeMethod = 1;
}

#endif // QUANT_DIALECT_EXEC_IR_EXECOPS_TD
