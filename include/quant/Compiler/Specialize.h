//===- Specialize.h - copies of @main for fixed input extents ---*- C++ -*-===//
//
// Part of quant. --specialize: a model.so carries, beside the code for its
// dynamic input extents, copies of @main compiled for given extents; its
// entry point calls the first whose extents a run's inputs have.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_COMPILER_SPECIALIZE_H
#define QUANT_COMPILER_SPECIALIZE_H

#include "quant/Compiler/Signature.h"

#include "mlir/IR/BuiltinOps.h"
#include "llvm/ADT/StringMap.h"

#include <string>
#include <vector>

namespace mlir::qc {

/// Adds to `module`, per entry of `specs` (input name -> extents, -1 for
/// a dimension kept dynamic), a copy of @main named @main_variant_<i> with
/// @main's function type whose body reads its inputs at those extents
/// (dimensions that must equal a fixed one, by the inputs' dimension
/// classes, too), canonicalized until the extents reach every op. Records
/// the variants in `sig`. Returns "" or a one-line message: an input the
/// model lacks, an extent the model fixes otherwise, a variant that fixes
/// nothing, or extents the model cannot run at (a check of the model that
/// fails at them).
std::string
addSpecializedVariants(ModuleOp module, ModelSignature &sig,
                       ArrayRef<llvm::StringMap<std::vector<int64_t>>> specs);

} // namespace mlir::qc

#endif // QUANT_COMPILER_SPECIALIZE_H
