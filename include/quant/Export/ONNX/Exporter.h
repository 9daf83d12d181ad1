//===- Exporter.h - the quantized model as ONNX QDQ -------------*- C++ -*-===//
//
// Part of quant. Writes `func.func @main` as the quantize phase leaves it
// (qc.quantize / qc.dequantize around float layers, weights as codes, every
// smoothing, rotation and rounding decision already in the constants) as a
// standard ONNX model: QuantizeLinear / DequantizeLinear pairs, the weights
// as integer initializers, every other op translated from the IR
// (docs/onnx-support.md, "QDQ export").
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_EXPORT_ONNX_EXPORTER_H
#define QUANT_EXPORT_ONNX_EXPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringRef.h"

#include <string>

namespace mlir::qc {

/// Writes `@main` of `module` to `path` as an ONNX model (IR version 10,
/// default-domain opset 21). On failure returns false and says why in
/// `error` (the op that has no ONNX form, and where it came from); nothing
/// is written then.
bool exportONNX(ModuleOp module, llvm::StringRef path, std::string &error);

} // namespace mlir::qc

#endif // QUANT_EXPORT_ONNX_EXPORTER_H
