//===- ExecOps.h - qexec operations -----------------------------*- C++ -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_EXEC_IR_EXECOPS_H
#define QUANT_DIALECT_EXEC_IR_EXECOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "quant/Dialect/Exec/IR/ExecDialect.h"

#define GET_OP_CLASSES
#include "quant/Dialect/Exec/IR/ExecOps.h.inc"

#endif // QUANT_DIALECT_EXEC_IR_EXECOPS_H
