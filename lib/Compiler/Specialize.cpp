//===- Specialize.cpp - copies of @main for fixed input extents -----------===//
//
// Part of quant. A variant is @main with its inputs cast to static extents
// at entry and back, so every op still reads the type it had; the
// canonicalization of the tensor, linalg and qc ops then folds the casts
// forward (docs/architecture.md, "Specialized variants"). The variant keeps
// @main's function type, so the entry point can call either with the same
// descriptors, and it shares @main's quantization: scales, smoothing and
// weights were decided before it was copied.
//
//===----------------------------------------------------------------------===//

#include "quant/Compiler/Specialize.h"
#include "quant/Dialect/Exec/IR/ExecOps.h"

#include "mlir/Dialect/MemRef/Transforms/Passes.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/Verifier.h"
#include "mlir/Pass/PassManager.h"
#include "mlir/Transforms/Passes.h"

#include <map>

using namespace mlir;
using namespace mlir::qc;

/// "x=1,3,48,320;y=?,8" as --specialize spells it.
static std::string describe(const ModelSignature &sig,
                            const std::vector<std::vector<int64_t>> &shapes) {
  std::string out;
  for (auto [t, shape] : llvm::zip_equal(sig.inputs, shapes)) {
    if (llvm::all_of(shape, [](int64_t d) { return d < 0; }))
      continue;
    out += (out.empty() ? "" : ";") + t.name + "=";
    for (auto [i, d] : llvm::enumerate(shape))
      out += (i ? "," : "") + (d < 0 ? std::string("?") : std::to_string(d));
  }
  return out;
}

/// The extents of one --specialize value per input, with the dimensions
/// of a class the value fixes fixed too; "" or a message in `err`.
static std::vector<std::vector<int64_t>>
resolveShapes(const ModelSignature &sig,
              const llvm::StringMap<std::vector<int64_t>> &spec,
              std::string &err) {
  std::vector<std::vector<int64_t>> shapes;
  for (const TensorSignature &t : sig.inputs)
    shapes.emplace_back(t.shape.size(), -1);
  for (const auto &kv : spec) {
    auto it = llvm::find_if(sig.inputs, [&](const TensorSignature &t) {
      return t.name == kv.getKey();
    });
    if (it == sig.inputs.end()) {
      err = "--specialize: the model has no input '" + kv.getKey().str() +
            "' (inputs:";
      for (const TensorSignature &t : sig.inputs)
        err += " " + t.name;
      err += ")";
      return {};
    }
    size_t i = it - sig.inputs.begin();
    const std::vector<int64_t> &dims = kv.getValue();
    if (dims.size() != it->shape.size()) {
      err = "--specialize " + it->name + ": " + std::to_string(dims.size()) +
            " extents for an input of rank " + std::to_string(it->shape.size());
      return {};
    }
    for (auto [d, e] : llvm::enumerate(dims)) {
      if (e < 0)
        continue;
      if (it->shape[d] >= 0 && it->shape[d] != e) {
        err = "--specialize " + it->name + ": dimension " + std::to_string(d) +
              " is " + std::to_string(it->shape[d]) + " in the model, not " +
              std::to_string(e);
        return {};
      }
      shapes[i][d] = e;
    }
  }
  // Dimensions of one class have one extent at run time.
  std::map<int32_t, std::pair<int64_t, std::string>> classes;
  for (auto [t, shape] : llvm::zip_equal(sig.inputs, shapes))
    for (auto [d, e] : llvm::enumerate(shape)) {
      int32_t c = d < t.dimClasses.size() ? t.dimClasses[d] : -1;
      if (c < 0 || e < 0)
        continue;
      std::string where = t.name + "[" + std::to_string(d) + "]";
      auto [it, fresh] = classes.try_emplace(c, e, where);
      if (!fresh && it->second.first != e) {
        err = "--specialize: " + it->second.second + " and " + where +
              " must be equal at run time, but are given " +
              std::to_string(it->second.first) + " and " + std::to_string(e);
        return {};
      }
    }
  bool fixesAny = false;
  for (auto [t, shape] : llvm::zip_equal(sig.inputs, shapes))
    for (auto [d, e] : llvm::enumerate(shape)) {
      int32_t c = d < t.dimClasses.size() ? t.dimClasses[d] : -1;
      if (c >= 0 && classes.count(c))
        e = classes[c].first;
      fixesAny |= e >= 0 && t.shape[d] < 0;
    }
  if (!fixesAny) {
    err = "--specialize " + describe(sig, shapes) +
          ": fixes no dimension the model leaves dynamic";
    return {};
  }
  return shapes;
}

/// The message of a check that fails whatever the run, its placeholders
/// filled with the constants they stand for.
static std::string failedCheckMessage(qexec::CheckOp check) {
  std::string out;
  StringRef m = check.getMessage();
  for (size_t i = 0; i < m.size(); ++i) {
    size_t close = m[i] == '{' ? m.find('}', i) : StringRef::npos;
    unsigned index;
    if (close == StringRef::npos ||
        m.slice(i + 1, close).getAsInteger(10, index)) {
      out += m[i];
      continue;
    }
    APInt v;
    out += matchPattern(check.getValues()[index], m_ConstantInt(&v))
               ? std::to_string(v.getSExtValue())
               : std::string("?");
    i = close;
  }
  return out;
}

std::string mlir::qc::addSpecializedVariants(
    ModuleOp module, ModelSignature &sig,
    ArrayRef<llvm::StringMap<std::vector<int64_t>>> specs) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (!main)
    return "the module has no func.func @main";
  MLIRContext *ctx = module.getContext();
  Operation *after = main;
  for (auto [n, spec] : llvm::enumerate(specs)) {
    std::string err;
    std::vector<std::vector<int64_t>> shapes = resolveShapes(sig, spec, err);
    if (!err.empty())
      return err;
    std::string text = describe(sig, shapes);
    for (const SpecializedVariant &v : sig.variants)
      if (v.shapes == shapes)
        return "--specialize " + text + " is given twice";

    auto variant = cast<func::FuncOp>(main->clone());
    std::string name = "main_variant_" + std::to_string(n);
    variant.setSymName(name);
    module.getBody()->getOperations().insertAfter(after->getIterator(),
                                                  variant);
    after = variant;
    Block &entry = variant.getBody().front();
    OpBuilder b = OpBuilder::atBlockBegin(&entry);
    for (auto [arg, shape] : llvm::zip_equal(entry.getArguments(), shapes)) {
      auto type = cast<RankedTensorType>(arg.getType());
      SmallVector<int64_t> fixed(type.getShape());
      for (auto [d, e] : llvm::enumerate(shape))
        if (e >= 0)
          fixed[d] = e;
      if (fixed == type.getShape())
        continue;
      auto toStatic =
          tensor::CastOp::create(b, variant.getLoc(), type.clone(fixed), arg);
      auto back = tensor::CastOp::create(b, variant.getLoc(), type, toStatic);
      arg.replaceAllUsesExcept(back, toStatic);
    }

    // The extents reach the ops through casts folded into their users and
    // sizes (tensor.dim) resolved from what computes them. Extents the
    // model cannot run at leave ops of conflicting static types; the
    // model's own check says why, so the checks are read before the
    // verifier runs.
    PassManager pm(ctx, func::FuncOp::getOperationName());
    pm.enableVerifier(false);
    pm.addPass(createCanonicalizerPass());
    pm.addPass(memref::createResolveShapedTypeResultDimsPass());
    pm.addPass(createCanonicalizerPass());
    pm.addPass(createCSEPass());
    pm.addPass(createCanonicalizerPass());
    LogicalResult refined = pm.run(variant);
    std::string failing;
    variant.walk([&](qexec::CheckOp c) {
      if (failing.empty() && matchPattern(c.getCondition(), m_Zero()))
        failing = failedCheckMessage(c);
    });
    if (!failing.empty())
      return "--specialize " + text +
             ": the model cannot run at these extents: " + failing;
    if (failed(refined) || failed(verify(variant)))
      return "--specialize " + text + ": the model could not be specialized";
    sig.variants.push_back({name, shapes});
  }
  return "";
}
