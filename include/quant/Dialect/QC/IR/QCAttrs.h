//===- QCAttrs.h - qc dialect attributes and enums --------------*- C++ -*-===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_DIALECT_QC_IR_QCATTRS_H
#define QUANT_DIALECT_QC_IR_QCATTRS_H

#include "mlir/IR/Attributes.h"
#include "mlir/IR/BuiltinAttributes.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/APFloat.h"

#include "quant/Dialect/QC/IR/QCEnums.h.inc"

namespace mlir::qc {
/// Bit width of a float format; 0 for the integer families.
unsigned getFloatFormatBits(FormatKind kind);
/// APFloat semantics of a float format; nullptr for the integer families.
const llvm::fltSemantics *getFormatSemantics(FormatKind kind);
} // namespace mlir::qc

#define GET_ATTRDEF_CLASSES
#include "quant/Dialect/QC/IR/QCAttrs.h.inc"

namespace mlir::qc {
/// The format an option names: "int" with `bits` (signed, or unsigned with
/// zero points when `asym`), or an FP format name (fp8e4m3, ...). Null for
/// an unknown name.
FormatAttr getFormatFromOption(MLIRContext *ctx, llvm::StringRef name,
                               unsigned bits, bool asym);
} // namespace mlir::qc

#endif // QUANT_DIALECT_QC_IR_QCATTRS_H
