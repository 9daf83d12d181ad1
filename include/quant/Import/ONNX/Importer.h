//===- Importer.h - ONNX model import ---------------------------*- C++ -*-===//
//
// Part of quant. Turns an ONNX ModelProto into a module holding
// `func.func @main` on tensors (DESIGN.md step 1).
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_IMPORT_ONNX_IMPORTER_H
#define QUANT_IMPORT_ONNX_IMPORTER_H

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/IR/OwningOpRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace mlir::qc {

/// Why an import failed: the exit status of quant-compile depends on it.
enum class ImportError {
  None,
  Unsupported, ///< a valid model using an op, attribute or dtype we lack
  Invalid,     ///< malformed model, unsafe external data, unreadable file
};

struct ONNXImportOptions {
  /// Input name -> extents; specialises that input's dynamic dimensions
  /// (a negative extent keeps the model's dimension).
  llvm::StringMap<llvm::SmallVector<int64_t>> inputShapes;
};

/// One supported (domain, op_type, since_version) handler, for listings.
struct SupportedOp {
  std::string domain, opType;
  int64_t sinceVersion;
};

/// Imports the ONNX model at `path`. Diagnostics go to the context's
/// handler; on failure `error` says which kind it was.
OwningOpRef<ModuleOp> importONNXFile(MLIRContext *context, llvm::StringRef path,
                                     const ONNXImportOptions &options,
                                     ImportError &error);

/// Imports a serialized ONNX model held in memory; `name` stands for it in
/// messages. Such a model has no directory, so a tensor stored as external
/// data is an error.
OwningOpRef<ModuleOp> importONNXBuffer(MLIRContext *context, const void *data,
                                       size_t size, llvm::StringRef name,
                                       const ONNXImportOptions &options,
                                       ImportError &error);

/// Every handler of the dispatch table.
std::vector<SupportedOp> getSupportedONNXOps();

/// The dialects imported IR uses.
void registerONNXImportDialects(DialectRegistry &registry);

} // namespace mlir::qc

#endif // QUANT_IMPORT_ONNX_IMPORTER_H
