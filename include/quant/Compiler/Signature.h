//===- Signature.h - the inputs and outputs a model.so exposes --*- C++ -*-===//
//
// Part of quant. What the runtime's model table says of @main: names,
// element types, shapes, ONNX dimension names and the equal-extent classes
// of input dimensions. Read once after the graph phase (which refines input
// types) and handed to the target's emitter.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_COMPILER_SIGNATURE_H
#define QUANT_COMPILER_SIGNATURE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"

#include <cstdint>
#include <string>
#include <vector>

namespace mlir::qc {

/// One input or output of the compiled function, for the runtime's table.
struct TensorSignature {
  std::string name;
  /// DLPack type code and bits (0 int, 1 uint, 2 float, 4 bfloat, 6 bool).
  int32_t dtypeCode = 2, dtypeBits = 32;
  std::vector<int64_t> shape; // -1 for dynamic
  /// The ONNX dim_param of each dimension ("" for none; empty: none at all).
  std::vector<std::string> dimNames;
  /// qc.input_dim_classes: dimensions with one class number >= 0 must
  /// have equal extents (-1: no class; empty: none at all).
  std::vector<int32_t> dimClasses;
};

/// A copy of @main compiled for fixed extents of some input dimensions
/// (--specialize): the entry point calls it when a run's inputs have them.
struct SpecializedVariant {
  std::string function; ///< the func.func's name
  /// Per input, its extents: -1 where the variant takes any (as @main).
  std::vector<std::vector<int64_t>> shapes;
};

struct ModelSignature {
  std::vector<TensorSignature> inputs, outputs;
  /// Tried in order before @main, the fallback.
  std::vector<SpecializedVariant> variants;
};

/// Reads names (qc.input_names / qc.output_names) and types of @main;
/// fails with a diagnostic for a type the runtime cannot carry.
FailureOr<ModelSignature> getModelSignature(func::FuncOp main);

} // namespace mlir::qc

#endif // QUANT_COMPILER_SIGNATURE_H
