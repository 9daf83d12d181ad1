//===- Signature.cpp - the model signature of @main
//------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Compiler/Signature.h"

using namespace mlir;
using namespace mlir::qc;

FailureOr<ModelSignature> mlir::qc::getModelSignature(func::FuncOp main) {
  ModelSignature sig;
  auto names = [&](StringRef attr, size_t count) {
    std::vector<std::string> out;
    auto arr = main->getAttrOfType<ArrayAttr>(attr);
    for (size_t i = 0; i < count; ++i)
      out.push_back(arr && i < arr.size()
                        ? cast<StringAttr>(arr[i]).str()
                        : (attr.contains("input") ? "input_" : "output_") +
                              std::to_string(i));
    return out;
  };
  auto describe = [&](Type type, const std::string &name, bool isUnsigned,
                      TensorSignature &t) -> LogicalResult {
    auto rt = dyn_cast<RankedTensorType>(type);
    if (!rt)
      return main.emitError() << "'" << name << "' is not a ranked tensor";
    Type e = rt.getElementType();
    t.name = name;
    if (e.isInteger(1)) {
      t.dtypeCode = 6;
      t.dtypeBits = 8;
    } else if (isa<IntegerType>(e) &&
               llvm::is_contained({8u, 16u, 32u, 64u},
                                  e.getIntOrFloatBitWidth())) {
      // Unsigned where the importer marked it (ONNX uint8/uint16).
      t.dtypeCode = isUnsigned ? 1 : 0;
      t.dtypeBits = e.getIntOrFloatBitWidth();
    } else if (e.isBF16()) {
      t.dtypeCode = 4;
      t.dtypeBits = 16;
    } else if (isa<FloatType>(e) && (e.isF16() || e.isF32() || e.isF64())) {
      t.dtypeCode = 2;
      t.dtypeBits = e.getIntOrFloatBitWidth();
    } else {
      return main.emitError() << "'" << name << "' has element type " << e
                              << ", which the runtime cannot exchange";
    }
    for (int64_t d : rt.getShape())
      t.shape.push_back(ShapedType::isDynamic(d) ? -1 : d);
    return success();
  };
  FunctionType ft = main.getFunctionType();
  std::vector<std::string> in = names("qc.input_names", ft.getNumInputs());
  std::vector<std::string> out = names("qc.output_names", ft.getNumResults());
  auto dimNames = main->getAttrOfType<ArrayAttr>("qc.input_dim_names");
  auto dimClasses = main->getAttrOfType<ArrayAttr>("qc.input_dim_classes");
  for (auto [i, t] : llvm::enumerate(ft.getInputs())) {
    sig.inputs.emplace_back();
    if (failed(describe(t, in[i], bool(main.getArgAttr(i, "qc.unsigned")),
                        sig.inputs.back())))
      return failure();
    auto classes = dimClasses && i < dimClasses.size()
                       ? dyn_cast<DenseI64ArrayAttr>(dimClasses[i])
                       : DenseI64ArrayAttr();
    if (classes &&
        static_cast<size_t>(classes.size()) == sig.inputs.back().shape.size())
      for (int64_t c : classes.asArrayRef())
        sig.inputs.back().dimClasses.push_back(static_cast<int32_t>(c));
    auto names = dimNames && i < dimNames.size()
                     ? dyn_cast<ArrayAttr>(dimNames[i])
                     : ArrayAttr();
    if (names && names.size() == sig.inputs.back().shape.size())
      for (Attribute a : names)
        sig.inputs.back().dimNames.push_back(
            isa<StringAttr>(a) ? cast<StringAttr>(a).str() : "");
  }
  for (auto [i, t] : llvm::enumerate(ft.getResults())) {
    sig.outputs.emplace_back();
    if (failed(describe(t, out[i], bool(main.getResultAttr(i, "qc.unsigned")),
                        sig.outputs.back())))
      return failure();
  }
  if (sig.outputs.empty())
    return main.emitError() << "the model has no outputs";
  return sig;
}
