//===- GenerateLinearKernels.cpp - qc-gpu-generate-linear-kernels ---------===//
//
// Part of quant. Finds the linear layers a GPU computes on tensor cores and
// adds their kernels to the model's `gpu.module @qc_gpu_kernels`.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Target/GPU/GPUTarget.h"

namespace mlir::qc {
#define GEN_PASS_DEF_QCGPUGENERATELINEARKERNELSPASS
#include "quant/Target/GPU/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

/// Integer codes an s8 mma reads: signed formats of at most 8 bits and
/// unsigned ones of at most 7 (8-bit unsigned activations are shifted).
bool fitsS8(FormatAttr f) {
  return f && f.isInteger() && f.getBits() <= (f.isSigned() ? 8u : 7u);
}

/// The spec of a `qc.quantized_linear`, or nothing when no kernel computes
/// it yet (float or mixture formats, unsigned 8-bit weights, dynamic N/K).
std::optional<LinearKernelSpec> specFor(QuantizedLinearOp op) {
  auto wType = cast<RankedTensorType>(op.getWeight().getType());
  if (!wType.hasStaticShape())
    return std::nullopt;
  FormatAttr in = op.getInputFormat(), wf = op.getWeightFormat();
  bool u8 = in && in.isInteger() && !in.isSigned() && in.getBits() == 8;
  if (!(fitsS8(in) || u8) || !fitsS8(wf))
    return std::nullopt;
  LinearKernelSpec spec;
  spec.kind = LinearKernelSpec::Kind::S8;
  spec.n = wType.getDimSize(0);
  spec.k = wType.getDimSize(1);
  spec.inputScalePerRow =
      cast<RankedTensorType>(op.getInputScale().getType()).getRank() > 0;
  spec.inputZeroPoint = static_cast<bool>(op.getInputZeroPoint());
  spec.inputUnsigned8 = u8;
  spec.weightScalePerChannel =
      cast<RankedTensorType>(op.getWeightScale().getType()).getRank() > 0;
  spec.bias = static_cast<bool>(op.getBias());
  return spec;
}

std::optional<LinearKernelSpec> specFor(LinearOp op) {
  auto wType = cast<RankedTensorType>(op.getWeight().getType());
  if (!wType.hasStaticShape() || wType.getRank() != 2)
    return std::nullopt;
  LinearKernelSpec spec;
  spec.kind = LinearKernelSpec::Kind::F16;
  spec.n = wType.getDimSize(0);
  spec.k = wType.getDimSize(1);
  spec.bias = static_cast<bool>(op.getBias());
  return spec;
}

struct GenerateLinearKernelsPass
    : public qc::impl::QCGPUGenerateLinearKernelsPassBase<
          GenerateLinearKernelsPass> {
  void runOnOperation() override {
    ModuleOp module = getOperation();
    OpBuilder b(module.getContext());
    gpu::GPUModuleOp kernels;
    auto kernelModule = [&] {
      if (kernels)
        return kernels;
      kernels = module.lookupSymbol<gpu::GPUModuleOp>(kGPUKernelModule);
      if (!kernels) {
        b.setInsertionPointToEnd(module.getBody());
        kernels =
            gpu::GPUModuleOp::create(b, module.getLoc(), kGPUKernelModule);
      }
      module->setAttr(gpu::GPUDialect::getContainerModuleAttrName(),
                      b.getUnitAttr());
      return kernels;
    };
    auto annotate = [&](Operation *op, LinearKernelSpec spec) {
      gpu::GPUModuleOp gm = kernelModule();
      SmallVector<Attribute> refs;
      for (bool fewRows : {false, true}) {
        chooseLinearTiles(spec, fewRows);
        gpu::GPUFuncOp fn = buildLinearKernel(b, gm, spec);
        refs.push_back(
            SymbolRefAttr::get(b.getStringAttr(kGPUKernelModule),
                               {FlatSymbolRefAttr::get(fn.getNameAttr())}));
      }
      op->setAttr("qc.gpu_kernels", b.getArrayAttr(refs));
    };
    SmallVector<std::pair<Operation *, LinearKernelSpec>> layers;
    module.walk([&](Operation *op) {
      std::optional<LinearKernelSpec> spec;
      if (auto q = dyn_cast<QuantizedLinearOp>(op))
        spec = specFor(q);
      else if (auto l = dyn_cast<LinearOp>(op))
        spec = specFor(l);
      if (spec)
        layers.push_back({op, *spec});
    });
    for (auto &[op, spec] : layers)
      annotate(op, spec);
  }
};

} // namespace
