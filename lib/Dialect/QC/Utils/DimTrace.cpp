//===- DimTrace.cpp - following one dimension of a tensor forward ---------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/Utils/DimTrace.h"

#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"

using namespace mlir;
using namespace mlir::qc;

std::optional<unsigned> mlir::qc::loopAt(AffineMap map, int64_t pos) {
  if (auto e = dyn_cast<AffineDimExpr>(map.getResult(pos)))
    return e.getPosition();
  return std::nullopt;
}

bool mlir::qc::followDim(Value start, int64_t pos,
                         llvm::function_ref<bool(OpOperand &, int64_t)> sink) {
  SmallVector<std::pair<Value, int64_t>> work = {{start, pos}};
  while (!work.empty()) {
    auto [v, at] = work.pop_back_val();
    auto vt = cast<RankedTensorType>(v.getType());
    int64_t rank = vt.getRank();
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      // Views that keep the dimension innermost, at its extent.
      if (isa<tensor::ReshapeOp, tensor::ExpandShapeOp,
              tensor::CollapseShapeOp>(user) &&
          use.getOperandNumber() == 0) {
        auto rt = cast<RankedTensorType>(user->getResult(0).getType());
        if (at == rank - 1 && rt.getRank() > 0 &&
            rt.getDimSize(rt.getRank() - 1) == vt.getDimSize(rank - 1) &&
            !ShapedType::isDynamic(vt.getDimSize(rank - 1))) {
          work.push_back({user->getResult(0), rt.getRank() - 1});
          continue;
        }
      } else if (auto t = dyn_cast<linalg::TransposeOp>(user)) {
        if (&use == t.getDpsInputOperand(0)) {
          auto perm = t.getPermutation();
          work.push_back(
              {t.getResult()[0], llvm::find(perm, at) - perm.begin()});
          continue;
        }
      } else if (auto g = dyn_cast<linalg::GenericOp>(user)) {
        // A copy: every loop parallel, the body yields this operand.
        std::optional<unsigned> loop =
            g.isDpsInput(&use) ? loopAt(g.getMatchingIndexingMap(&use), at)
                               : std::nullopt;
        Block &body = g.getRegion().front();
        auto yield = cast<linalg::YieldOp>(body.getTerminator());
        if (loop && g.getNumResults() == 1 &&
            llvm::all_of(g.getIteratorTypesArray(),
                         [](utils::IteratorType i) {
                           return i == utils::IteratorType::parallel;
                         }) &&
            yield.getValues().front() ==
                body.getArgument(use.getOperandNumber())) {
          AffineMap out = g.getMatchingIndexingMap(g.getDpsInitOperand(0));
          std::optional<int64_t> outPos;
          for (int64_t p = 0; p < out.getNumResults(); ++p)
            if (loopAt(out, p) == loop)
              outPos = p;
          if (outPos) {
            work.push_back({g.getResult(0), *outPos});
            continue;
          }
        }
      }
      if (!sink(use, at))
        return false;
    }
  }
  return true;
}

std::optional<int64_t> mlir::qc::getAffineCoefficient(AffineExpr e, unsigned d,
                                                      unsigned numDims) {
  AffineExpr dim = getAffineDimExpr(d, e.getContext());
  AffineExpr diff = simplifyAffineExpr(e.replace(dim, dim + 1) - e, numDims, 0);
  if (auto c = dyn_cast<AffineConstantExpr>(diff))
    return c.getValue();
  return std::nullopt;
}
