//===- QCDialect.cpp - the qc dialect -------------------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCDialect.h"
#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/IR/QCOps.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/IR/BuiltinOps.h"

using namespace mlir;
using namespace mlir::qc;

#include "quant/Dialect/QC/IR/QCDialect.cpp.inc"

void QCDialect::initialize() {
  registerAttributes();
  addOperations<
#define GET_OP_LIST
#include "quant/Dialect/QC/IR/QCOps.cpp.inc"
      >();
}

Operation *QCDialect::materializeConstant(OpBuilder &builder, Attribute value,
                                          Type type, Location loc) {
  return arith::ConstantOp::materialize(builder, value, type, loc);
}

/// The discardable attributes with a fixed meaning: the statistics side
/// table on a module, the slot a layer's activation statistics sit in, and
/// the storage layouts a target chose (#qc.encoding).
/// Other `qc.*` attributes are checked by the passes that read them.
LogicalResult QCDialect::verifyOperationAttribute(Operation *op,
                                                  NamedAttribute attr) {
  StringRef name = attr.getName().strref();
  if (name == "qc.stats") {
    if (!isa<ModuleOp>(op))
      return op->emitOpError("qc.stats (the statistics side table) belongs "
                             "on a module");
    auto table = dyn_cast<DictionaryAttr>(attr.getValue());
    if (!table)
      return op->emitOpError("qc.stats must be a dictionary from slot names "
                             "to #qc.tensor_stats");
    for (NamedAttribute entry : table)
      if (!isa<TensorStatsAttr>(entry.getValue()))
        return op->emitOpError("qc.stats entry '")
               << entry.getName().strref() << "' is not a #qc.tensor_stats";
    return success();
  }
  if (name == "qc.weight_encoding") {
    auto enc = dyn_cast<EncodingAttr>(attr.getValue());
    if (!isa<LinearOp>(op) || !enc || enc.getKind() == EncodingKind::Dot4 ||
        enc.getKind() == EncodingKind::BitPlane)
      return op->emitOpError("qc.weight_encoding is a kn or panels "
                             "#qc.encoding on a qc.linear");
    return success();
  }
  if (name == "qc.encoding") {
    auto enc = dyn_cast<EncodingAttr>(attr.getValue());
    if (enc && enc.getKind() == EncodingKind::BitPlane) {
      if (!isa<QuantizedLinearOp>(op))
        return op->emitOpError("a bitplane qc.encoding belongs on a "
                               "qc.quantized_linear");
      return success();
    }
    if (op->getName().getStringRef() != "linalg.generic" || !enc ||
        enc.getKind() != EncodingKind::Dot4 || op->getNumOperands() != 3)
      return op->emitOpError("qc.encoding is a dot4 #qc.encoding on a "
                             "linalg.generic with two inputs and one init, "
                             "or a bitplane one on a qc.quantized_linear");
    return success();
  }
  if (name == "qc.act_slot") {
    auto slot = dyn_cast<StringAttr>(attr.getValue());
    if (!slot || slot.empty())
      return op->emitOpError("qc.act_slot must be a non-empty string");
  }
  return success();
}
