//===- Rotate.cpp - qc-rotate ---------------------------------------------===//
//
// Part of quant. QuaRot-style rotations of a transformer, found from the graph:
// the residual stream rotated by a randomized Hadamard matrix folded into its
// writers and readers, and online Hadamard transforms before the linears whose
// input nothing else reads (down and output projections).
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/DimTrace.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Support/Hadamard.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/SetVector.h"

#include <random>

namespace mlir::qc {
#define GEN_PASS_DEF_QCROTATEPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

constexpr StringLiteral kBlobName = "qc_rotated_weight";

/// A float constant's elements, when `v` is one of static shape.
std::optional<std::vector<double>> floatConstant(Value v) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || !t.hasStaticShape() || !isa<FloatType>(t.getElementType()))
    return std::nullopt;
  return readFloatConstant(v);
}

/// A qc.linear whose weight (and bias, if any) are float constants.
bool hasConstantWeights(LinearOp lin) {
  auto wt = dyn_cast<RankedTensorType>(lin.getWeight().getType());
  if (!wt || !wt.hasStaticShape() || !isa<FloatType>(wt.getElementType()) ||
      !matchPattern(lin.getWeight(), m_Constant()))
    return false;
  return !lin.getBias() || matchPattern(lin.getBias(), m_Constant());
}

/// The one arithmetic op of an all-parallel, single-result linalg.generic
/// with an identity output map, and for each of its operands the input it
/// reads (-1: not an input's block argument).
struct Elementwise {
  mutable linalg::GenericOp gen;
  Operation *op = nullptr;
  SmallVector<int> inputOf;
  AffineMap mapOf(int input) const { return gen.getIndexingMapsArray()[input]; }
  Value valueOf(int input) const { return gen.getDpsInputs()[input]; }
};

std::optional<Elementwise> matchElementwise(Operation *op) {
  auto gen = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!gen || gen.getNumResults() != 1 || gen.getNumDpsInits() != 1 ||
      gen.getNumParallelLoops() != gen.getNumLoops() ||
      !gen.getIndexingMapsArray().back().isIdentity())
    return std::nullopt;
  Block &body = gen.getRegion().front();
  if (body.getOperations().size() != 2)
    return std::nullopt;
  Elementwise e{gen, &body.front(), {}};
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  if (yield.getOperand(0) != e.op->getResult(0))
    return std::nullopt;
  for (Value v : e.op->getOperands()) {
    auto ba = dyn_cast<BlockArgument>(v);
    bool isInput = ba && ba.getOwner() == &body &&
                   ba.getArgNumber() < gen.getNumDpsInputs();
    e.inputOf.push_back(isInput ? int(ba.getArgNumber()) : -1);
  }
  return e;
}

/// True when `e` computes a * a (mulf of one value read twice the same way,
/// or powf with a constant exponent 2).
bool isSquare(const Elementwise &e) {
  if (e.op->getNumOperands() != 2 || e.inputOf[0] < 0)
    return false;
  if (isa<arith::MulFOp>(e.op)) {
    if (e.inputOf[1] < 0)
      return false;
    return e.inputOf[0] == e.inputOf[1] ||
           (e.valueOf(e.inputOf[0]) == e.valueOf(e.inputOf[1]) &&
            e.mapOf(e.inputOf[0]) == e.mapOf(e.inputOf[1]));
  }
  if (!isa<math::PowFOp>(e.op))
    return false;
  Value exp = e.inputOf[1] >= 0 ? e.valueOf(e.inputOf[1]) : e.op->getOperand(1);
  FloatAttr f;
  SplatElementsAttr s;
  if (matchPattern(exp, m_Constant(&f)))
    return f.getValueAsDouble() == 2.0;
  if (matchPattern(exp, m_Constant(&s)) && isa<FloatType>(s.getElementType()))
    return s.getSplatValue<APFloat>().convertToDouble() == 2.0;
  return false;
}

/// A linalg.generic that sums its one input over the last loop only (every
/// other loop parallel, the output not indexed by it): the body yields
/// addf(out, in) or addf(out, in * in). Sets `squares` for the latter.
bool isLastDimSum(Operation *op, bool &squares) {
  auto gen = dyn_cast_or_null<linalg::GenericOp>(op);
  if (!gen || gen.getNumResults() != 1 || gen.getNumDpsInits() != 1 ||
      gen.getNumDpsInputs() < 1)
    return false;
  int64_t loops = gen.getNumLoops();
  auto iters = gen.getIteratorTypesArray();
  for (int64_t i = 0; i < loops; ++i)
    if ((iters[i] == utils::IteratorType::reduction) != (i == loops - 1))
      return false;
  auto maps = gen.getIndexingMapsArray();
  if (maps.back().isFunctionOfDim(loops - 1))
    return false;
  for (unsigned i = 0; i < gen.getNumDpsInputs(); ++i)
    if (!maps[i].isIdentity() || gen.getDpsInputs()[i] != gen.getDpsInputs()[0])
      return false;
  Block &body = gen.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  auto add = yield.getOperand(0).getDefiningOp<arith::AddFOp>();
  if (!add || add->getBlock() != &body)
    return false;
  Value out = body.getArgument(gen.getNumDpsInputs());
  auto isIn = [&](Value v) {
    auto ba = dyn_cast<BlockArgument>(v);
    return ba && ba.getOwner() == &body &&
           ba.getArgNumber() < gen.getNumDpsInputs();
  };
  for (unsigned k = 0; k < 2; ++k) {
    if (add.getOperand(k) != out)
      continue;
    Value t = add.getOperand(1 - k);
    if (isIn(t)) {
      squares = false;
      return body.getOperations().size() == 2;
    }
    auto mul = t.getDefiningOp<arith::MulFOp>();
    if (mul && mul->getBlock() == &body && isIn(mul.getLhs()) &&
        isIn(mul.getRhs()) && body.getOperations().size() == 3) {
      squares = true;
      return true;
    }
  }
  return false;
}

/// A multiply (or divide) of `e`'s input `x` by a value broadcast along the
/// last dimension (one per row: a normalisation's 1 / rms, a scalar).
bool isRowScale(const Elementwise &e, int x) {
  if (!isa<arith::MulFOp, arith::DivFOp>(e.op) || e.op->getNumOperands() != 2)
    return false;
  int slot = e.inputOf[0] == x ? 0 : e.inputOf[1] == x ? 1 : -1;
  if (slot < 0 || (isa<arith::DivFOp>(e.op) && slot != 0))
    return false;
  int other = e.inputOf[1 - slot];
  if (other == x || !e.mapOf(x).isIdentity())
    return false;
  int64_t last = e.gen.getNumLoops() - 1;
  if (other < 0)
    return true; // a value captured from above: a scalar
  auto ot = dyn_cast<RankedTensorType>(e.valueOf(other).getType());
  AffineMap m = e.mapOf(other);
  if (m.isFunctionOfDim(last))
    return false;
  // Results indexing no loop read a dimension of size 1 (a broadcast).
  return !ot || ot.getRank() == 0 ||
         (ot.getDimSize(ot.getRank() - 1) == 1 || m.getNumResults() < last + 1);
}

/// Reads the per-channel constant of x * gamma (`e`'s input other than `x`,
/// indexed by the last loop only, of `h` elements).
std::optional<std::vector<double>> channelScale(const Elementwise &e, int x,
                                                int64_t h) {
  if (!isa<arith::MulFOp>(e.op) || e.inputOf[0] < 0 || e.inputOf[1] < 0 ||
      (e.inputOf[0] == x) == (e.inputOf[1] == x))
    return std::nullopt;
  int g = e.inputOf[0] == x ? e.inputOf[1] : e.inputOf[0];
  if (!e.mapOf(x).isIdentity())
    return std::nullopt;
  int64_t loops = e.gen.getNumLoops();
  AffineMap m = e.mapOf(g);
  if (m !=
      AffineMap::get(loops, 0, getAffineDimExpr(loops - 1, e.gen.getContext())))
    return std::nullopt;
  auto v = floatConstant(e.valueOf(g));
  if (!v || int64_t(v->size()) != h)
    return std::nullopt;
  return v;
}

/// A normalisation scale folded into the linears that read its result.
struct GammaFold {
  Elementwise mul;
  int x;
  std::vector<double> gamma;
  SmallVector<LinearOp> readers;
};

/// The residual stream: every value that carries it, and the ops that
/// produce or read it, found from an embedding by closure.
struct ResidualPlan {
  int64_t hidden = 0;
  llvm::SetVector<Value> values;
  llvm::SetVector<Operation *> embeddings; // tensor.extract of the table
  llvm::SetVector<Operation *> writers;    // linears producing the stream
  llvm::SetVector<Operation *> readers;    // linears reading it (no gamma)
  SmallVector<GammaFold> gammas;
  llvm::SetVector<Operation *> gammaOps;
  std::string failure;

  bool fail(Operation *op, const Twine &why) {
    if (failure.empty())
      failure = (describeNode(op) + " " + why).str();
    return false;
  }

  bool add(Value v) {
    auto t = dyn_cast<RankedTensorType>(v.getType());
    if (!t || t.getRank() < 1 || t.getDimSize(t.getRank() - 1) != hidden) {
      if (Operation *def = v.getDefiningOp())
        return fail(def, "would carry the residual stream with another width");
      failure = "a function argument would carry the residual stream";
      return false;
    }
    values.insert(v);
    return true;
  }

  /// The op that defines `v` must be able to produce it rotated.
  bool visitDef(Value v) {
    Operation *def = v.getDefiningOp();
    if (!def) {
      failure = "the residual stream comes from a function argument";
      return false;
    }
    if (Operation *read = getEmbeddingRead(def)) {
      embeddings.insert(read);
      return true;
    }
    if (auto lin = dyn_cast<LinearOp>(def)) {
      if (!hasConstantWeights(lin))
        return fail(def, "writes the residual stream without a constant "
                         "weight to fold the rotation into");
      writers.insert(def);
      return true;
    }
    if (auto e = matchElementwise(def)) {
      if (isa<arith::AddFOp, arith::SubFOp>(e->op) && e->inputOf[0] >= 0 &&
          e->inputOf[1] >= 0 && e->mapOf(e->inputOf[0]).isIdentity() &&
          e->mapOf(e->inputOf[1]).isIdentity())
        return add(e->valueOf(e->inputOf[0])) && add(e->valueOf(e->inputOf[1]));
      for (int x = 0; x < int(e->gen.getNumDpsInputs()); ++x)
        if (values.contains(e->valueOf(x)) && isRowScale(*e, x))
          return true;
    }
    return fail(def, "produces the residual stream in a way a rotation cannot "
                     "be folded into");
  }

  /// Each user of `v` must take it rotated.
  bool visitUses(Value v) {
    for (OpOperand &use : v.getUses()) {
      Operation *user = use.getOwner();
      if (isa<tensor::DimOp>(user))
        continue;
      if (auto lin = dyn_cast<LinearOp>(user)) {
        if (use.getOperandNumber() != 0 || !hasConstantWeights(lin))
          return fail(user, "reads the residual stream without a constant "
                            "weight to fold the rotation into");
        readers.insert(user);
        continue;
      }
      if (isa<LayerNormOp>(user))
        return fail(user, "subtracts the mean of the residual stream "
                          "(LayerNorm): folding the centring into the "
                          "stream's writers is not implemented");
      if (isa<RMSNormOp>(user))
        return fail(user, "normalises the residual stream with qc.rms_norm, "
                          "whose scale is not folded yet");
      if (isa<func::ReturnOp>(user))
        return fail(user, "returns the residual stream");
      bool squares = false;
      if (isLastDimSum(user, squares)) {
        if (squares)
          continue; // a sum of squares is invariant under rotation
        return fail(user, "averages the residual stream over the hidden "
                          "dimension (LayerNorm's centring): folding it into "
                          "the stream's writers is not implemented");
      }
      auto e = matchElementwise(user);
      auto gen = dyn_cast<linalg::GenericOp>(user);
      if (!e || !gen || gen.isDpsInit(&use))
        return fail(user, "reads the residual stream in a way a rotation does "
                          "not commute with");
      int x = int(use.getOperandNumber());
      Value res = gen->getResult(0);
      if (isa<arith::AddFOp, arith::SubFOp>(e->op) && e->inputOf[0] >= 0 &&
          e->inputOf[1] >= 0 && e->mapOf(e->inputOf[0]).isIdentity() &&
          e->mapOf(e->inputOf[1]).isIdentity()) {
        if (!add(e->valueOf(e->inputOf[0])) ||
            !add(e->valueOf(e->inputOf[1])) || !add(res))
          return false;
        continue;
      }
      if (isSquare(*e)) {
        for (Operation *sq : res.getUsers()) {
          bool s = false;
          if (!isLastDimSum(sq, s) || s)
            return fail(sq, "reads the square of the residual stream other "
                            "than summing it over the hidden dimension");
        }
        continue;
      }
      if (isRowScale(*e, x)) {
        if (!add(res))
          return false;
        continue;
      }
      if (isa<arith::SubFOp, arith::AddFOp>(e->op) && e->inputOf[0] >= 0 &&
          e->inputOf[1] >= 0 && e->mapOf(x).isIdentity() &&
          !e->mapOf(e->inputOf[e->inputOf[0] == x ? 1 : 0])
               .isFunctionOfDim(e->gen.getNumLoops() - 1))
        return fail(user, "subtracts a per-row value from the residual stream "
                          "(LayerNorm's centring): folding it into the "
                          "stream's writers is not implemented");
      if (auto g = channelScale(*e, x, hidden)) {
        GammaFold fold{*e, x, std::move(*g), {}};
        for (OpOperand &u : res.getUses()) {
          auto lin = dyn_cast<LinearOp>(u.getOwner());
          if (!lin || u.getOperandNumber() != 0 || !hasConstantWeights(lin))
            return fail(u.getOwner(),
                        "reads a normalisation's scaled output: only linears "
                        "with constant weights can take its scale");
          fold.readers.push_back(lin);
        }
        if (gammaOps.insert(user))
          gammas.push_back(std::move(fold));
        continue;
      }
      return fail(user, "reads the residual stream in a way a rotation does "
                        "not commute with");
    }
    return true;
  }

  /// Grows the stream from `seed` (an embedding's output) to its closure.
  bool build(Value seed) {
    auto t = cast<RankedTensorType>(seed.getType());
    hidden = t.getDimSize(t.getRank() - 1);
    if (!add(seed))
      return false;
    for (size_t i = 0; i < values.size(); ++i) {
      Value v = values[i];
      if (!visitDef(v) || !visitUses(v))
        return false;
    }
    return true;
  }
};

/// Q = D H / sqrt(n) with random signs D: row vectors u -> u Q, which is also
/// Q^T applied to a column (H is symmetric).
struct Rotation {
  int64_t n;
  std::vector<double> signs;
  Rotation(int64_t n, uint64_t seed) : n(n), signs(n) {
    std::mt19937_64 rng(seed);
    for (double &s : signs)
      s = (rng() & 1) ? -1.0 : 1.0;
  }
  void apply(double *v, int64_t stride = 1) const {
    for (int64_t i = 0; i < n; ++i)
      v[i * stride] *= signs[i];
    applyHadamard(v, n, stride);
  }
};

/// Replaces operand `idx` of `op` (a constant) by `values` of its type.
void setConstantOperand(Operation *op, unsigned idx,
                        const std::vector<double> &values) {
  // Outside any region of the op's own parent (an embedding's table is read
  // inside its gather's body, and must stay captured from above).
  Operation *at = op;
  while (isa<linalg::GenericOp>(at->getParentOp()))
    at = at->getParentOp();
  OpBuilder b(at);
  Value old = op->getOperand(idx);
  Value c = createFloatConstant(b, op->getLoc(),
                                cast<RankedTensorType>(old.getType()), values,
                                kBlobName);
  op->setOperand(idx, c);
  eraseDeadConstant(old.getDefiningOp());
}

/// W [N, K] -> W Q (each row; the input side of a linear).
void rotateInputs(LinearOp lin, const Rotation &q,
                  ArrayRef<double> gamma = {}) {
  std::vector<double> w = *readFloatConstant(lin.getWeight());
  int64_t k = q.n, rows = int64_t(w.size()) / k;
  for (int64_t r = 0; r < rows; ++r) {
    double *row = w.data() + r * k;
    for (int64_t j = 0; j < int64_t(gamma.size()); ++j)
      row[j] *= gamma[j];
    q.apply(row);
  }
  setConstantOperand(lin, 1, w);
}

/// A per-head transform that folds into an attention's value projection
/// `v` (its output rotated in blocks of `d`, one block a head's row) and the
/// projections `outs` that read the attention's context.
struct HeadFold {
  LinearOp v;
  int64_t d = 0;
  SmallVector<LinearOp> outs;
};

/// The products of softmax(...) V that keep `use`'s dimension `pos` as the
/// last of their result and sum over another of this operand's dimensions,
/// starting from zero: P (V H) = (P V) H.
bool isContextProduct(OpOperand &use, int64_t pos) {
  auto g = dyn_cast<linalg::GenericOp>(use.getOwner());
  if (!g || !isMultiplyAccumulateGeneric(g) || !g.isDpsInput(&use))
    return false;
  std::optional<unsigned> loop = loopAt(g.getMatchingIndexingMap(&use), pos);
  AffineMap om = g.getMatchingIndexingMap(g.getDpsInitOperand(0));
  OpOperand *other =
      g.getDpsInputOperand(g.getDpsInputOperand(0) == &use ? 1 : 0);
  if (!loop || om.getNumResults() == 0 ||
      loopAt(om, om.getNumResults() - 1) != loop ||
      g.getMatchingIndexingMap(other).isFunctionOfDim(*loop))
    return false;
  auto fill = g.getDpsInits()[0].getDefiningOp<linalg::FillOp>();
  return fill && matchPattern(fill.getInputs()[0], m_AnyZeroFloat());
}

/// Whether `v`'s output reaches linears only as whole heads of `d`
/// elements through an attention's context products (see HeadFold). A
/// value that leaves the function (a KV cache) does not.
FailureOr<HeadFold> findHeadFold(LinearOp v) {
  Value y = v.getResult();
  auto yt = cast<RankedTensorType>(y.getType());
  int64_t n = yt.getShape().back();
  HeadFold fold{v, 0, {}};
  if (y.use_empty() || ShapedType::isDynamic(n))
    return failure();
  // The output split into heads: a view whose last extent divides n.
  SmallVector<Value> heads;
  for (Operation *user : y.getUsers()) {
    if (isa<tensor::DimOp>(user))
      continue;
    if (!isa<tensor::ReshapeOp, tensor::ExpandShapeOp>(user) ||
        user->getOperand(0) != y)
      return failure();
    auto rt = cast<RankedTensorType>(user->getResult(0).getType());
    int64_t d = rt.getRank() ? rt.getShape().back() : 0;
    if (d <= 1 || d >= n || ShapedType::isDynamic(d) || n % d ||
        (fold.d && fold.d != d))
      return failure();
    fold.d = d;
    heads.push_back(user->getResult(0));
  }
  // Each head's rows to the products that keep them, and their results to
  // views that join the heads again, read only by linears.
  llvm::SetVector<Operation *> products;
  auto toProducts = [&](OpOperand &use, int64_t pos) {
    if (isa<tensor::DimOp>(use.getOwner()))
      return true;
    if (!isContextProduct(use, pos))
      return false;
    products.insert(use.getOwner());
    return true;
  };
  for (Value h : heads)
    if (!followDim(h, cast<RankedTensorType>(h.getType()).getRank() - 1,
                   toProducts))
      return failure();
  if (products.empty())
    return failure();
  auto toLinears = [&](OpOperand &use, int64_t pos) {
    Operation *user = use.getOwner();
    if (isa<tensor::DimOp>(user))
      return true;
    auto ut = cast<RankedTensorType>(use.get().getType());
    if (isa<tensor::ReshapeOp, tensor::CollapseShapeOp>(user) &&
        use.getOperandNumber() == 0 && pos == ut.getRank() - 1) {
      auto rt = cast<RankedTensorType>(user->getResult(0).getType());
      int64_t m = rt.getRank() ? rt.getShape().back() : 0;
      if (!ShapedType::isDynamic(m) && m > fold.d && m % fold.d == 0 &&
          !user->getResult(0).use_empty() &&
          llvm::all_of(user->getResult(0).getUses(), [](OpOperand &u) {
            auto lin = dyn_cast<LinearOp>(u.getOwner());
            return lin && u.getOperandNumber() == 0 && hasConstantWeights(lin);
          })) {
        for (Operation *lin : user->getResult(0).getUsers())
          fold.outs.push_back(cast<LinearOp>(lin));
        return true;
      }
    }
    return false;
  };
  for (Operation *g : products)
    if (!followDim(g->getResult(0),
                   cast<RankedTensorType>(g->getResult(0).getType()).getRank() -
                       1,
                   toLinears))
      return failure();
  return fold;
}

bool quantizesNothing(Operation *op) {
  auto s = op->getAttrOfType<SchemeAttr>("qc.scheme");
  return s && s.isFloat();
}

/// The activation a convolution reads before its zero padding and the
/// importer's reshape adding a group axis: from `act`, back through
/// single-use tensor.pad ops of constant zero that leave the channel axis
/// alone and tensor.expand_shape ops that only add unit axes around it.
/// Returns the operand to rewire and the channel axis of the value it
/// holds. A rotation over the channels commutes with both.
std::pair<OpOperand *, int64_t> unpaddedActivation(OpOperand &act, int64_t ca) {
  OpOperand *use = &act;
  while (Operation *def = use->get().getDefiningOp()) {
    if (!def->hasOneUse())
      break;
    if (auto pad = dyn_cast<tensor::PadOp>(def)) {
      Value pv = pad.getConstantPaddingValue();
      FloatAttr zero;
      if (!pv || !matchPattern(pv, m_Constant(&zero)) ||
          !zero.getValue().isZero() ||
          getConstantIntValue(pad.getMixedLowPad()[ca]) != 0 ||
          getConstantIntValue(pad.getMixedHighPad()[ca]) != 0)
        break;
      use = &pad->getOpOperand(0);
      continue;
    }
    if (auto ex = dyn_cast<tensor::ExpandShapeOp>(def)) {
      auto rt = ex.getResultType();
      int64_t src = -1;
      for (auto [i, group] : llvm::enumerate(ex.getReassociationIndices()))
        if (llvm::is_contained(group, ca)) {
          src = int64_t(i);
          for (int64_t d : group)
            if (d != ca && rt.getDimSize(d) != 1)
              src = -1;
        }
      if (src < 0)
        break;
      use = &ex->getOpOperand(0);
      ca = src;
      continue;
    }
    break;
  }
  return {use, ca};
}

/// A builder at the point right after `x` is defined.
OpBuilder builderAfter(Value x) {
  OpBuilder b(x.getContext());
  if (Operation *def = x.getDefiningOp())
    b.setInsertionPointAfter(def);
  else
    b.setInsertionPointToStart(cast<BlockArgument>(x).getOwner());
  return b;
}

/// `x` with axis `ca` moved last (`toLast`) or the last axis moved back to
/// `ca`, as a linalg.transpose.
Value moveAxis(OpBuilder &b, Location loc, Value x, int64_t ca, bool toLast) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  SmallVector<int64_t> perm;
  for (int64_t i = 0; i < r; ++i)
    if (toLast ? i != ca : i != r - 1)
      perm.push_back(i);
  perm.insert(toLast ? perm.end() : perm.begin() + ca, toLast ? ca : r - 1);
  SmallVector<OpFoldResult> sizes = tensor::getMixedSizes(b, loc, x);
  SmallVector<OpFoldResult> out;
  for (int64_t p : perm)
    out.push_back(sizes[p]);
  Value init = tensor::EmptyOp::create(b, loc, out, t.getElementType());
  return linalg::TransposeOp::create(b, loc, x, init, perm)->getResult(0);
}

struct QCRotatePass : mlir::qc::impl::QCRotatePassBase<QCRotatePass> {
  using Base::Base;

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    MLIRContext *ctx = &getContext();
    SmallVector<NamedAttribute> summary;

    // 1. The residual stream, from the first embedding whose closure holds.
    ResidualPlan plan;
    bool found = false;
    bool analyse = residual || onlineNeedsResidual || requireResidual;
    bool anyEmbedding = false;
    std::string why = "no embedding (a row gather from a constant table) "
                      "starts a residual stream";
    if (analyse) {
      func.walk([&](linalg::GenericOp g) {
        if (found || !getEmbeddingRead(g))
          return;
        anyEmbedding = true;
        ResidualPlan p;
        if (!p.build(g->getResult(0))) {
          why = p.failure;
          return;
        }
        if (!isHadamardSize(p.hidden)) {
          why = "hidden size " + std::to_string(p.hidden) +
                " has no Hadamard matrix of the forms 2^k * m or 2^k * m1 * "
                "m2 (m in {12, 20, 28})";
          return;
        }
        plan = std::move(p);
        found = true;
      });
    }
    llvm::SetVector<Value> rotated;
    if (found && !residual) {
      summary.push_back(NamedAttribute(
          StringAttr::get(ctx, "stream"),
          IntegerAttr::get(IntegerType::get(ctx, 64), plan.hidden)));
    } else if (found) {
      Rotation q(plan.hidden, seed);
      // Embedding tables: rows e -> e Q.
      for (Operation *read : plan.embeddings) {
        auto ex = cast<tensor::ExtractOp>(read);
        std::vector<double> t = *readFloatConstant(ex.getTensor());
        for (size_t r = 0; r < t.size() / plan.hidden; ++r)
          q.apply(t.data() + r * plan.hidden);
        setConstantOperand(read, 0, t);
      }
      // Writers: W [H, K] -> Q^T W (each column), b -> b Q.
      for (Operation *op : plan.writers) {
        auto lin = cast<LinearOp>(op);
        std::vector<double> w = *readFloatConstant(lin.getWeight());
        int64_t k = int64_t(w.size()) / plan.hidden;
        for (int64_t c = 0; c < k; ++c)
          q.apply(w.data() + c, k);
        setConstantOperand(lin, 1, w);
        if (lin.getBias()) {
          std::vector<double> b = *readFloatConstant(lin.getBias());
          q.apply(b.data());
          setConstantOperand(lin, 2, b);
        }
      }
      // Readers: W -> W Q; through a normalisation scale, W -> W diag(g) Q.
      llvm::SetVector<Operation *> done;
      for (GammaFold &g : plan.gammas) {
        for (LinearOp lin : g.readers)
          if (done.insert(lin))
            rotateInputs(lin, q, g.gamma);
        g.mul.gen->getResult(0).replaceAllUsesWith(g.mul.valueOf(g.x));
      }
      for (Operation *op : plan.readers)
        if (done.insert(op))
          rotateInputs(cast<LinearOp>(op), q);
      for (GammaFold &g : plan.gammas)
        if (g.mul.gen->use_empty())
          g.mul.gen->erase();
      rotated = plan.values;
      summary.push_back(NamedAttribute(
          StringAttr::get(ctx, "residual"),
          IntegerAttr::get(IntegerType::get(ctx, 64), plan.hidden)));
      summary.push_back(NamedAttribute(
          StringAttr::get(ctx, "folded"),
          IntegerAttr::get(IntegerType::get(ctx, 64),
                           int64_t(plan.embeddings.size() +
                                   plan.writers.size() + done.size()))));
    } else if (analyse) {
      summary.push_back(NamedAttribute(StringAttr::get(ctx, "skipped"),
                                       StringAttr::get(ctx, why)));
      if (!anyEmbedding)
        summary.push_back(NamedAttribute(StringAttr::get(ctx, "no_embedding"),
                                         UnitAttr::get(ctx)));
      if (requireResidual) {
        func.emitError() << "qc-rotate: the residual stream cannot be "
                            "rotated: "
                         << why;
        return signalPassFailure();
      }
    }

    // 2. Per-head transforms folded into attention's value and output
    // projections: V -> V H per head (W_v's rows of each head turned), the
    // context P (V H) = (P V) H turned back by the output projection's
    // columns of that head (W_o -> W_o H, H symmetric and orthogonal).
    // Like the online transforms: with online-needs-residual (--rotate
    // auto), only in a transformer whose stream was found.
    int64_t headFolds = 0;
    if (perHead && (found || !onlineNeedsResidual)) {
      SmallVector<HeadFold> folds;
      llvm::SmallPtrSet<Operation *, 8> outs;
      func.walk([&](LinearOp lin) {
        if (!hasConstantWeights(lin))
          return;
        FailureOr<HeadFold> f = findHeadFold(lin);
        if (failed(f) || !isHadamardSize(f->d))
          return;
        for (LinearOp o : f->outs)
          if (!outs.insert(o).second)
            return;
        folds.push_back(*f);
      });
      for (HeadFold &f : folds) {
        int64_t d = f.d;
        std::vector<double> w = *readFloatConstant(f.v.getWeight());
        int64_t k =
            cast<RankedTensorType>(f.v.getWeight().getType()).getShape().back();
        int64_t rows = int64_t(w.size()) / k;
        for (int64_t h = 0; h < rows / d; ++h)
          for (int64_t c = 0; c < k; ++c)
            applyHadamard(w.data() + h * d * k + c, d, k);
        setConstantOperand(f.v, 1, w);
        if (f.v.getBias()) {
          std::vector<double> b = *readFloatConstant(f.v.getBias());
          for (int64_t h = 0; h < rows / d; ++h)
            applyHadamard(b.data() + h * d, d);
          setConstantOperand(f.v, 2, b);
        }
        for (LinearOp o : f.outs) {
          std::vector<double> wo = *readFloatConstant(o.getWeight());
          for (size_t i = 0; i < wo.size(); i += d)
            applyHadamard(wo.data() + i, d);
          setConstantOperand(o, 1, wo);
        }
        ++headFolds;
      }
    }
    if (headFolds)
      summary.push_back(NamedAttribute(
          StringAttr::get(ctx, "per_head"),
          IntegerAttr::get(IntegerType::get(ctx, 64), headFolds)));

    // 3. Online Hadamard transforms on inputs that only linears read (one
    // linear, or with `shared` several): x W^T = (x H)(W H)^T.
    int64_t online = 0;
    if (this->online && (found || !onlineNeedsResidual)) {
      llvm::SetVector<Value> inputs;
      func.walk([&](LinearOp lin) { inputs.insert(lin.getInput()); });
      for (Value x : inputs) {
        if (rotated.contains(x) || x.getDefiningOp<HadamardOp>() ||
            (!shared && !x.hasOneUse()))
          continue;
        int64_t k = cast<RankedTensorType>(x.getType()).getShape().back();
        if (k < minOnline || !isHadamardSize(k))
          continue;
        SmallVector<LinearOp> readers;
        bool all = true;
        for (OpOperand &use : x.getUses()) {
          auto lin = dyn_cast<LinearOp>(use.getOwner());
          all &= lin && use.getOperandNumber() == 0 &&
                 hasConstantWeights(lin) && !quantizesNothing(lin);
          if (all)
            readers.push_back(lin);
        }
        if (!all)
          continue;
        OpBuilder b = builderAfter(x);
        Value h = HadamardOp::create(b, x.getLoc(), x);
        for (LinearOp lin : readers) {
          std::vector<double> w = *readFloatConstant(lin.getWeight());
          for (size_t r = 0; r < w.size() / k; ++r)
            applyHadamard(w.data() + r * k, k);
          setConstantOperand(lin, 1, w);
          lin.getInputMutable().assign(h);
          lin->setAttr("qc.online_hadamard", UnitAttr::get(ctx));
        }
        ++online;
      }
    }

    // 4. Online transforms over the input channels of convolutions whose
    // weights are quantized below `conv-below-bits` bits: conv(x, W) =
    // conv(x H, W H) with H applied to each kernel position's channel
    // vector; x H runs on the channels-last view. One transform per input
    // value, shared by the convolutions that read it.
    int64_t convs = 0;
    if (convBelowBits > 0) {
      struct ConvReader {
        QuantLayer layer;
        OpOperand *use;
        int64_t axis; ///< the channel axis of use's value
      };
      llvm::MapVector<Value, SmallVector<ConvReader>> groups;
      for (QuantLayer &l : findQuantLayers(func)) {
        auto s = l.op->getAttrOfType<SchemeAttr>("qc.scheme");
        // Without a scheme (quant-opt on a float graph) every one.
        if ((s && (s.isFloat() ||
                   int64_t(s.getWeight().getBits()) >= convBelowBits)) ||
            !getConvPatch(l) || isDepthwiseLayer(l) ||
            !matchPattern(l.weightRoot, m_Constant()))
          continue;
        // The rotated weight replaces the root where this layer reads it:
        // directly, or through a reshape that nothing else reads.
        Value wv = l.op->getOperand(l.weightOperand);
        if (wv != l.weightRoot && !wv.hasOneUse())
          continue;
        auto rootT = cast<RankedTensorType>(l.weightRoot.getType());
        int64_t c = rootT.getDimSize(1);
        if (c < minOnline || !isHadamardSize(c))
          continue;
        auto [use, axis] = unpaddedActivation(l.op->getOpOperand(l.actOperand),
                                              l.actChannelAxis);
        if (use->get().getDefiningOp<HadamardOp>())
          continue;
        groups[use->get()].push_back({l, use, axis});
      }
      for (auto &[x, members] : groups) {
        int64_t ca = members.front().axis;
        if (llvm::any_of(members,
                         [&](const ConvReader &m) { return m.axis != ca; }))
          continue;
        OpBuilder b = builderAfter(x);
        Location loc = x.getLoc();
        Value last = moveAxis(b, loc, x, ca, /*toLast=*/true);
        Value h = HadamardOp::create(b, loc, last);
        Value back = moveAxis(b, loc, h, ca, /*toLast=*/false);
        for (ConvReader &r : members) {
          QuantLayer &l = r.layer;
          auto rootT = cast<RankedTensorType>(l.weightRoot.getType());
          int64_t c = rootT.getDimSize(1), m = rootT.getDimSize(0);
          int64_t per = rootT.getNumElements() / (m * c);
          std::vector<double> w = *readFloatConstant(l.weightRoot);
          for (int64_t o = 0; o < m; ++o)
            for (int64_t p = 0; p < per; ++p)
              applyHadamard(w.data() + o * c * per + p, c, per);
          // The root is the weight operand or what its one reshape reads.
          Operation *reader = l.op;
          unsigned idx = l.weightOperand;
          if (l.op->getOperand(idx) != l.weightRoot) {
            reader = l.op->getOperand(idx).getDefiningOp();
            idx = 0;
          }
          setConstantOperand(reader, idx, w);
          r.use->set(back);
          l.op->setAttr("qc.online_hadamard", UnitAttr::get(ctx));
        }
        ++convs;
      }
    }
    if (convs)
      summary.push_back(
          NamedAttribute(StringAttr::get(ctx, "convolutions"),
                         IntegerAttr::get(IntegerType::get(ctx, 64), convs)));
    summary.push_back(
        NamedAttribute(StringAttr::get(ctx, "online"),
                       IntegerAttr::get(IntegerType::get(ctx, 64), online)));
    func->setAttr("qc.rotation", DictionaryAttr::get(ctx, summary));
  }
};

} // namespace
