//===- QCOps.h - qc dialect operations --------------------------*- C++ -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_IR_QCOPS_H
#define QUANT_DIALECT_QC_IR_QCOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/IR/QCDialect.h"

#define GET_OP_CLASSES
#include "quant/Dialect/QC/IR/QCOps.h.inc"

#endif // QUANT_DIALECT_QC_IR_QCOPS_H
