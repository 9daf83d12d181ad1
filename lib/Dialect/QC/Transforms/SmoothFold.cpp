//===- SmoothFold.cpp - qc-smooth-fold ------------------------------------===//
//
// Part of quant. SmoothQuant / AWQ-style smoothing: per input channel j of
// the linears that read one activation X, X W^T = (X / s) (W s)^T. The
// weights take s; 1 / s is folded into what produces X (a normalisation's
// weight, a previous linear's rows, a factor of an elementwise product), or,
// where nothing can absorb it and X is quantized anyway, a per-channel
// multiply is inserted. The statistics table follows the activation.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/DynamicQuant.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/Statistics.h"
#include "quant/Dialect/QC/Utils/WeightGrid.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Matchers.h"
#include "llvm/ADT/MapVector.h"

#include <cmath>

namespace mlir::qc {
#define GEN_PASS_DEF_QCSMOOTHFOLDPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

constexpr StringLiteral kBlobName = "smoothed";

/// One linear of a group: its weight [N, K] and scheme.
struct Member {
  LinearOp op;
  std::vector<double> w;
  int64_t n = 0, k = 0;
  SchemeAttr scheme; ///< null or float: contributes no error
  std::optional<WeightGrid> grid;
};

/// The per-channel statistics of the group's input.
struct ChannelStats {
  std::vector<double> lo, hi, energy; ///< min, max, E[x^2] per channel
  /// Per channel, the scale of its upper and lower tails (clipLoss): 0
  /// where the calibration saw no value on that side.
  std::vector<double> tailHi, tailLo;
  std::vector<float> rows; ///< sampled input rows, [R, C]
};

/// A float constant of rank 1 and `c` elements, or nullopt.
std::optional<std::vector<double>> channelConstant(Value v, int64_t c) {
  auto t = dyn_cast<RankedTensorType>(v.getType());
  if (!t || t.getRank() != 1 || t.getDimSize(0) != c)
    return std::nullopt;
  return readFloatConstant(v);
}

Value scaledConstant(OpBuilder &b, Location loc, Value old,
                     const std::vector<double> &values, ArrayRef<double> f,
                     int64_t inner) {
  std::vector<double> v(values.size());
  for (size_t i = 0; i < v.size(); ++i)
    v[i] = values[i] * f[(i / inner) % f.size()];
  return createFloatConstant(b, loc, cast<RankedTensorType>(old.getType()), v,
                             kBlobName);
}

/// Sets `use` to `v`, erasing the constant it read when nothing else does.
void replaceUse(OpOperand &use, Value v) {
  Operation *old = use.get().getDefiningOp();
  use.set(v);
  eraseDeadConstant(old);
}

/// Multiplies channel c of `v` (its last axis, `f.size()` channels) by f_c
/// by rewriting the op that produces it, when that is float-exact and `v`
/// has no user besides the ones the caller rewrites. With `apply` false,
/// only says whether it can.
bool absorbInto(Value v, ArrayRef<double> f, bool apply, unsigned depth = 0) {
  int64_t c = int64_t(f.size());
  auto vt = dyn_cast<RankedTensorType>(v.getType());
  Operation *def = v.getDefiningOp();
  if (!def || !vt || vt.getRank() < 1 || vt.getDimSize(vt.getRank() - 1) != c ||
      depth > 4)
    return false;
  OpBuilder b(def);
  Location loc = def->getLoc();
  // A linear's output rows (and bias).
  if (auto lin = dyn_cast<LinearOp>(def)) {
    auto wt = dyn_cast<RankedTensorType>(lin.getWeight().getType());
    if (!wt || wt.getRank() != 2 || wt.getDimSize(0) != c)
      return false;
    std::optional<std::vector<double>> w = readFloatConstant(lin.getWeight());
    std::optional<std::vector<double>> bias;
    if (lin.getBias()) {
      bias = channelConstant(lin.getBias(), c);
      if (!bias)
        return false;
    }
    if (!w)
      return false;
    if (apply) {
      replaceUse(lin->getOpOperand(1), scaledConstant(b, loc, lin.getWeight(),
                                                      *w, f, wt.getDimSize(1)));
      if (bias)
        replaceUse(lin->getOpOperand(2),
                   scaledConstant(b, loc, lin.getBias(), *bias, f, 1));
    }
    return true;
  }
  // A normalisation's affine part.
  auto norm = [&](Value gamma, Value beta, int64_t axis, auto setGamma,
                  auto setBeta) {
    if (axis != -1 && axis != vt.getRank() - 1)
      return false;
    std::optional<std::vector<double>> g = channelConstant(gamma, c);
    std::optional<std::vector<double>> be;
    if (beta) {
      be = channelConstant(beta, c);
      if (!be)
        return false;
    }
    if (!g)
      return false;
    if (apply) {
      setGamma(scaledConstant(b, loc, gamma, *g, f, 1));
      if (be)
        setBeta(scaledConstant(b, loc, beta, *be, f, 1));
    }
    return true;
  };
  if (auto ln = dyn_cast<LayerNormOp>(def))
    return norm(
        ln.getGamma(), ln.getBeta(), ln.getAxis(),
        [&](Value g) { replaceUse(ln->getOpOperand(1), g); },
        [&](Value be) { replaceUse(ln->getOpOperand(2), be); });
  if (auto rms = dyn_cast<RMSNormOp>(def))
    return norm(
        rms.getGamma(), Value(), rms.getAxis(),
        [&](Value g) { replaceUse(rms->getOpOperand(1), g); }, [](Value) {});
  // An elementwise x * g (+ b) with per-channel constants g, b, or a
  // product of two activations x * y, one of which absorbs the factor.
  auto gen = dyn_cast<linalg::GenericOp>(def);
  if (!gen || gen.getNumResults() != 1 || gen.getNumDpsInits() != 1 ||
      gen.getNumParallelLoops() != gen.getNumLoops())
    return false;
  int64_t rank = vt.getRank();
  if (!gen.getIndexingMapsArray().back().isIdentity())
    return false;
  Block &body = gen.getRegion().front();
  auto yield = cast<linalg::YieldOp>(body.getTerminator());
  Operation *top = yield.getOperand(0).getDefiningOp();
  if (!top || top->getBlock() != &body)
    return false;
  Value addend;
  arith::MulFOp mul;
  if (auto add = dyn_cast<arith::AddFOp>(top)) {
    for (unsigned i = 0; i < 2 && !mul; ++i) {
      auto m = add.getOperand(i).getDefiningOp<arith::MulFOp>();
      if (m && m->getBlock() == &body) {
        mul = m;
        addend = add.getOperand(1 - i);
      }
    }
  } else {
    mul = dyn_cast<arith::MulFOp>(top);
  }
  if (!mul || body.getOperations().size() != (addend ? 3u : 2u))
    return false;
  // What an operand of the body is: the index of an input, or none.
  auto inputOf = [&](Value arg) -> std::optional<unsigned> {
    auto ba = dyn_cast<BlockArgument>(arg);
    if (!ba || ba.getOwner() != &body ||
        ba.getArgNumber() >= gen.getNumDpsInputs())
      return std::nullopt;
    return ba.getArgNumber();
  };
  AffineMap channelMap =
      AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, gen.getContext()));
  auto isChannelConst = [&](unsigned i) {
    return gen.getIndexingMapsArray()[i] == channelMap &&
           channelConstant(gen.getDpsInputs()[i], c).has_value();
  };
  auto scaleInput = [&](unsigned i) {
    Value old = gen.getDpsInputs()[i];
    replaceUse(gen->getOpOperand(i),
               scaledConstant(b, loc, old, *channelConstant(old, c), f, 1));
  };
  std::optional<unsigned> a = inputOf(mul.getLhs()), m = inputOf(mul.getRhs());
  std::optional<unsigned> d;
  if (addend) {
    d = inputOf(addend);
    if (!d || !isChannelConst(*d))
      return false;
  }
  if (!a || !m)
    return false;
  for (auto [x, g] : {std::pair(*a, *m), std::pair(*m, *a)}) {
    if (!isChannelConst(g) || isChannelConst(x))
      continue;
    if (apply) {
      scaleInput(g);
      if (d && *d != g)
        scaleInput(*d);
    }
    return true;
  }
  if (addend || *a == *m)
    return false;
  // x * y: the factor goes to whichever activation can take it.
  for (unsigned i : {*m, *a}) {
    Value in = gen.getDpsInputs()[i];
    if (!gen.getIndexingMapsArray()[i].isIdentity() || !in.hasOneUse() ||
        in.getType() != v.getType())
      continue;
    if (absorbInto(in, f, /*apply=*/false, depth + 1)) {
      if (apply)
        absorbInto(in, f, /*apply=*/true, depth + 1);
      return true;
    }
  }
  return false;
}

/// x * f along the last axis, as an elementwise linalg.generic.
Value multiplyChannels(OpBuilder &b, Location loc, Value x,
                       ArrayRef<double> f) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t rank = t.getRank(), c = t.getDimSize(rank - 1);
  auto ft = RankedTensorType::get({c}, t.getElementType());
  Value fv = createFloatConstant(b, loc, ft, f, kBlobName);
  Value init = createEmptyLike(b, loc, x, t.getElementType());
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(rank, ctx);
  AffineMap ch = AffineMap::get(rank, 0, getAffineDimExpr(rank - 1, ctx));
  SmallVector<utils::IteratorType> iters(rank, utils::IteratorType::parallel);
  return linalg::GenericOp::create(
             b, loc, t, ValueRange{x, fv}, ValueRange{init},
             ArrayRef<AffineMap>{id, ch, id}, iters,
             [](OpBuilder &bb, Location l, ValueRange args) {
               Value p = arith::MulFOp::create(bb, l, args[0], args[1]);
               linalg::YieldOp::create(bb, l, p);
             })
      .getResult(0);
}

/// Rounding step of `fmt` over [lo, hi] (an activation's range).
double activationStep(FormatAttr fmt, double lo, double hi) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (fmt.isFloat())
    return std::max(-lo, hi) / fmt.getMaxMagnitude();
  if (!fmt.isSigned())
    return (hi - lo) / double(fmt.getIntMax() - fmt.getIntMin());
  return std::max(-lo, hi) / double(fmt.getIntMax());
}

/// Mean over the sampled rows of the squared rounding step of `fmt` when
/// each row of the smoothed input x / s gets its own range (per-token
/// dynamic quantization); negative without a sample.
double meanTokenStepSq(FormatAttr fmt, ArrayRef<double> s, ArrayRef<float> rows,
                       ArrayRef<char> inFloat) {
  int64_t k = int64_t(s.size()), r = int64_t(rows.size()) / k;
  if (r == 0)
    return -1;
  double sum = 0;
  for (int64_t t = 0; t < r; ++t) {
    double lo = 0, hi = 0;
    for (int64_t j = 0; j < k; ++j) {
      if (!inFloat.empty() && inFloat[j])
        continue;
      double v = rows[t * k + j] / s[j];
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    double step = activationStep(fmt, lo, hi);
    sum += step * step;
  }
  return sum / double(r);
}

/// E[(z - u)^2; z > u] for a standard normal z: the mean squared excess
/// past a clipping threshold u standard deviations out.
double gaussianExcessSq(double u) {
  double tail = 0.5 * std::erfc(u / std::sqrt(2.0));
  double density = std::exp(-0.5 * u * u) / std::sqrt(2.0 * M_PI);
  return std::max(0.0, (1.0 + u * u) * tail - u * density);
}

/// z with P(Z > z) = p for a standard normal Z.
double normalUpperQuantile(double p) {
  double lo = 0, hi = 40;
  for (int i = 0; i < 80; ++i) {
    double mid = 0.5 * (lo + hi);
    (0.5 * std::erfc(mid / std::sqrt(2.0)) > p ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

/// The scale of a tail whose extreme over n values is `extreme`: a
/// Gaussian's sigma that puts the extreme where one value in n + 1 lies
/// beyond it, and at least the channel's RMS.
double tailScale(double extreme, int64_t n, double rms) {
  if (extreme <= 0)
    return 0;
  double z = normalUpperQuantile(1.0 / double(std::max<int64_t>(n, 1) + 1));
  return std::max(rms, extreme / z);
}

/// Expected squared clipping error, per row, of the group's outputs when a
/// static range [lo, hi] of the smoothed input is applied to data beyond
/// the calibration set. The range is the calibration's extremes, so the
/// channels whose own extreme defines it (after smoothing: every channel
/// at alpha = 1) clip whatever a new row brings past that extreme, and a
/// channel's extreme over n calibration rows underestimates its
/// population's (a new row exceeds it with probability 1 / (n + 1)). Each
/// side of each channel is taken as a Gaussian tail scaled to its observed
/// extreme (tailScale): the expected squared excess past its threshold (in
/// original units, range * s_j), through the squared norm of the weights'
/// column j. Negligible for a threshold several tail scales out; what keeps
/// a small calibration set from fitting alpha to its own extremes.
double clipLoss(const Member &m, FormatAttr fmt, double lo, double hi,
                ArrayRef<double> s, const ChannelStats &cs,
                ArrayRef<char> inFloat) {
  lo = std::min(lo, 0.0);
  hi = std::max(hi, 0.0);
  if (fmt.isFloat() || fmt.isSigned()) { // symmetric grids
    hi = std::max(-lo, hi);
    lo = -hi;
  }
  int64_t k = int64_t(s.size());
  double loss = 0;
  for (int64_t j = 0; j < k; ++j) {
    if (!inFloat.empty() && inFloat[j])
      continue;
    double excess = 0;
    if (double t = cs.tailHi[j]; t > 0)
      excess += t * t * gaussianExcessSq(hi * s[j] / t);
    if (double t = cs.tailLo[j]; t > 0)
      excess += t * t * gaussianExcessSq(-lo * s[j] / t);
    if (excess == 0)
      continue;
    double column = 0;
    for (int64_t r = 0; r < m.n; ++r)
      column += m.w[r * k + j] * m.w[r * k + j];
    loss += excess * column;
  }
  return loss;
}

/// Expected squared error, per row of the input, of the group's outputs
/// once quantized with smoothing factors `s`: each weight's rounding error
/// weighted by E[x_j^2] / s_j^2, plus the activation's rounding noise
/// (step^2 / 12) through the smoothed weights' squared norm. The step is
/// per tensor, over the smoothed range, for static activations, which also
/// add their expected clipping of unseen rows (clipLoss); for per-token
/// dynamic ones it is each sampled row's own (without a sample: the
/// per-tensor step, an upper bound). With `outliers` > 0, members with
/// quantized activations lose the error of the `outliers` channels of
/// largest smoothed magnitude, which qc-quantize's outlier-channels
/// computes in float (the same choice: from the smoothed statistics), and
/// their ranges (static, or each sampled row's) are the other channels'.
double groupLoss(MutableArrayRef<Member> members, ArrayRef<double> s,
                 const ChannelStats &cs, unsigned outliers) {
  int64_t k = int64_t(s.size());
  double lo = 0, hi = 0;
  for (int64_t j = 0; j < k; ++j) {
    lo = std::min(lo, cs.lo[j] / s[j]);
    hi = std::max(hi, cs.hi[j] / s[j]);
  }
  std::vector<char> inFloat;
  double slo = lo, shi = hi;
  if (outliers > 0 && int64_t(outliers) * 2 <= k &&
      llvm::any_of(members, [](const Member &m) {
        return m.grid && m.scheme.getActivation();
      })) {
    std::vector<int64_t> order(k);
    std::vector<double> mag(k);
    for (int64_t j = 0; j < k; ++j) {
      order[j] = j;
      mag[j] = std::max(-cs.lo[j], cs.hi[j]) / s[j];
    }
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return mag[a] > mag[b]; });
    inFloat.assign(k, 0);
    for (int64_t i = 0; i < int64_t(outliers); ++i)
      if (mag[order[i]] > 0)
        inFloat[order[i]] = 1;
    slo = shi = 0;
    for (int64_t j = 0; j < k; ++j)
      if (!inFloat[j]) {
        slo = std::min(slo, cs.lo[j] / s[j]);
        shi = std::max(shi, cs.hi[j] / s[j]);
      }
  }
  double loss = 0;
  std::vector<double> ws;
  // Per activation format: the mean per-token step^2 (the members of a
  // group mostly share one).
  llvm::SmallDenseMap<Attribute, double, 2> tokenStepSq;
  for (Member &m : members) {
    if (!m.grid)
      continue;
    bool split = !inFloat.empty() && m.scheme.getActivation();
    ws.resize(m.w.size());
    for (int64_t r = 0; r < m.n; ++r)
      for (int64_t j = 0; j < k; ++j)
        ws[r * k + j] = split && inFloat[j] ? 0.0 : m.w[r * k + j] * s[j];
    fitGrid(*m.grid, ws);
    double norm = 0;
    for (size_t i = 0; i < ws.size(); ++i) {
      int64_t j = int64_t(i) % k;
      double d = ws[i] - m.grid->round(ws[i], m.grid->slotOf[i]);
      loss += d * d * cs.energy[j] / (s[j] * s[j]);
      norm += ws[i] * ws[i];
    }
    if (FormatAttr a = m.scheme.getActivation()) {
      double stepSq = -1;
      if (!m.scheme.getIsStatic() &&
          m.scheme.getActivationGranularity() == ActGranularity::Token) {
        auto [it, fresh] = tokenStepSq.try_emplace(a, 0.0);
        if (fresh)
          it->second = meanTokenStepSq(a, s, cs.rows,
                                       split ? ArrayRef<char>(inFloat)
                                             : ArrayRef<char>());
        stepSq = it->second;
      }
      if (stepSq < 0) {
        double step =
            split ? activationStep(a, slo, shi) : activationStep(a, lo, hi);
        stepSq = step * step;
      }
      loss += stepSq / 12.0 * norm;
      if (m.scheme.getIsStatic())
        loss += split ? clipLoss(m, a, slo, shi, s, cs, inFloat)
                      : clipLoss(m, a, lo, hi, s, cs, {});
    }
  }
  return loss;
}

/// The slot's statistics with the activation divided by `s` per channel.
TensorStatsAttr smoothedStats(TensorStatsAttr st, ArrayRef<double> s) {
  MLIRContext *ctx = st.getContext();
  int64_t c = int64_t(s.size());
  std::vector<double> lo, hi, sq;
  for (auto [i, v] : llvm::enumerate(st.getChannelMin().getValues<APFloat>()))
    lo.push_back(v.convertToDouble() / s[i]);
  for (auto [i, v] : llvm::enumerate(st.getChannelMax().getValues<APFloat>()))
    hi.push_back(v.convertToDouble() / s[i]);
  for (auto [i, v] : llvm::enumerate(st.getChannelSumSq().getValues<APFloat>()))
    sq.push_back(v.convertToDouble() / (s[i] * s[i]));
  std::vector<double> sums;
  if (st.getChannelSum())
    for (auto [i, v] : llvm::enumerate(st.getChannelSum().getValues<APFloat>()))
      sums.push_back(v.convertToDouble() / s[i]);
  double mn = lo[0], mx = hi[0], sumSq = 0;
  for (int64_t j = 0; j < c; ++j) {
    mn = std::min(mn, lo[j]);
    mx = std::max(mx, hi[j]);
    sumSq += sq[j];
  }
  auto f64 = Float64Type::get(ctx);
  auto vec = [&](const std::vector<double> &v) {
    return cast<DenseFPElementsAttr>(DenseElementsAttr::get(
        RankedTensorType::get({c}, f64), ArrayRef<double>(v)));
  };
  ElementsAttr moment = st.getSecondMoment();
  if (moment) {
    // A convolution's im2col moment has prod(k) entries per channel.
    int64_t per = 1;
    if (DenseI64ArrayAttr k = st.getPatchKernel())
      for (int64_t e : k.asArrayRef())
        per *= e;
    int64_t d = c * per;
    std::vector<float> h = st.getSecondMomentValues();
    for (int64_t i = 0; i < d; ++i)
      for (int64_t j = 0; j < d; ++j)
        h[i * d + j] = float(double(h[i * d + j]) / (s[i / per] * s[j / per]));
    moment = makeSecondMomentAttr(ctx, d, h);
  }
  ElementsAttr sample = st.getRowSample();
  if (sample) {
    std::vector<float> rows = st.getRowSampleValues();
    for (size_t i = 0; i < rows.size(); ++i)
      rows[i] = float(double(rows[i]) / s[i % c]);
    sample = rows.empty() ? ElementsAttr() : makeRowSampleAttr(ctx, c, rows);
  }
  if (st.getCount() == 0)
    mn = mx = 0;
  FloatAttr sum = st.getSum();
  if (!sums.empty()) {
    double total = 0;
    for (double v : sums)
      total += v;
    sum = FloatAttr::get(f64, total);
  }
  return TensorStatsAttr::get(
      ctx, st.getCount(), st.getNan(), st.getInf(), st.getZeros(),
      FloatAttr::get(f64, mn), FloatAttr::get(f64, mx), sum,
      FloatAttr::get(f64, sumSq), FloatAttr(), DenseIntElementsAttr(),
      st.getChannelAxis(), vec(lo), vec(hi), vec(sq), st.getChannelCount(),
      st.getRows(), moment, sample,
      sums.empty() ? DenseFPElementsAttr() : vec(sums), st.getPatchKernel());
}

struct QCSmoothFoldPass
    : mlir::qc::impl::QCSmoothFoldPassBase<QCSmoothFoldPass> {
  using Base::Base;

  void runOnOperation() override {
    ModuleOp module = getOperation();
    if (alpha > 1.0) {
      module.emitError() << "qc-smooth-fold: alpha must be in [0, 1] (or "
                            "negative: searched), got "
                         << alpha;
      return signalPassFailure();
    }
    std::vector<std::pair<std::string, TensorStatsAttr>> updates;
    // The layers of each slot (slots are the module's), in program order.
    llvm::MapVector<StringRef, SmallVector<QuantLayer>> slots;
    module.walk([&](func::FuncOp func) {
      for (QuantLayer &l : findQuantLayers(func))
        if (!getActSlot(l.op).empty())
          slots[getActSlot(l.op)].push_back(l);
    });
    for (auto &[slot, layers] : slots)
      smoothGroup(module, slot, layers, updates);
    SmallVector<std::pair<StringRef, TensorStatsAttr>> entries;
    for (auto &[slot, st] : updates)
      entries.push_back({slot, st});
    if (!entries.empty())
      setStats(module, entries);
  }

  void smoothGroup(ModuleOp module, StringRef slot, ArrayRef<QuantLayer> layers,
                   std::vector<std::pair<std::string, TensorStatsAttr>> &out) {
    TensorStatsAttr st = lookupStats(module, slot);
    if (!st || !st.getChannelMin() || st.getCount() == 0)
      return;
    Value x = layers.front().op->getOperand(0);
    auto xt = dyn_cast<RankedTensorType>(x.getType());
    int64_t k = st.getNumChannels();
    if (!xt || xt.getRank() < 1 || xt.getDimSize(xt.getRank() - 1) != k ||
        (*st.getChannelAxis() != -1 &&
         *st.getChannelAxis() != xt.getRank() - 1))
      return;
    std::vector<Member> members;
    bool quantizedActs = false;
    for (const QuantLayer &l : layers) {
      auto lin = dyn_cast<LinearOp>(l.op);
      if (!lin || lin.getInput() != x || l.weightRoot != lin.getWeight())
        return;
      std::optional<std::vector<double>> w = readFloatConstant(l.weightRoot);
      if (!w)
        return;
      Member m;
      m.op = lin;
      m.w = std::move(*w);
      m.k = k;
      m.n = int64_t(m.w.size()) / k;
      m.scheme = lin->getAttrOfType<SchemeAttr>("qc.scheme");
      if (m.scheme && !m.scheme.isFloat()) {
        m.grid = layoutGrid({m.n, k}, m.scheme, 0, 1);
        quantizedActs |= bool(m.scheme.getActivation());
      }
      members.push_back(std::move(m));
    }
    // 1 / s goes into the producer when x has no other user, else into a
    // multiply (only worth it when the activation is quantized anyway).
    bool onlyGroup = llvm::all_of(x.getUsers(), [&](Operation *u) {
      return llvm::any_of(members, [&](const Member &m) { return m.op == u; });
    });
    std::vector<double> ones(k, 1.0);
    bool absorbable = onlyGroup && absorbInto(x, ones, /*apply=*/false);
    if (!absorbable && !quantizedActs && !floatGroups)
      return;

    ChannelStats cs;
    std::vector<double> amax(k), wmax(k, 0.0);
    auto counts = st.getChannelCount().getValues<int64_t>();
    for (auto [j, v] : llvm::enumerate(st.getChannelMin().getValues<APFloat>()))
      cs.lo.push_back(v.convertToDouble());
    for (auto [j, v] : llvm::enumerate(st.getChannelMax().getValues<APFloat>()))
      cs.hi.push_back(v.convertToDouble());
    for (auto [j, v] :
         llvm::enumerate(st.getChannelSumSq().getValues<APFloat>()))
      cs.energy.push_back(counts[j] ? v.convertToDouble() / counts[j] : 0.0);
    for (int64_t j = 0; j < k; ++j) {
      amax[j] = std::max(-cs.lo[j], cs.hi[j]);
      double rms = std::sqrt(std::max(cs.energy[j], 0.0));
      cs.tailHi.push_back(tailScale(cs.hi[j], counts[j], rms));
      cs.tailLo.push_back(tailScale(-cs.lo[j], counts[j], rms));
    }
    cs.rows = st.getRowSampleValues();
    for (const Member &m : members)
      for (size_t i = 0; i < m.w.size(); ++i)
        wmax[i % k] = std::max(wmax[i % k], std::abs(m.w[i]));
    auto factors = [&](double a) {
      std::vector<double> s(k, 1.0);
      for (int64_t j = 0; j < k; ++j)
        if (amax[j] > 0 && wmax[j] > 0)
          s[j] = std::pow(std::max(amax[j], 1e-5), a) /
                 std::pow(std::max(wmax[j], 1e-5), 1 - a);
      return s;
    };
    double chosen = alpha;
    if (alpha < 0) {
      // Grid search; "no smoothing" is a candidate too.
      double best = groupLoss(members, ones, cs, outlierChannels);
      chosen = -1;
      for (int i = 0; i <= 20; ++i) {
        double a = 0.05 * i;
        double l = groupLoss(members, factors(a), cs, outlierChannels);
        if (l < best) {
          best = l;
          chosen = a;
        }
      }
      if (chosen < 0)
        return;
    }
    std::vector<double> s = factors(chosen), inv(k);
    for (int64_t j = 0; j < k; ++j)
      inv[j] = 1.0 / s[j];
    OpBuilder b(module.getContext());
    for (Member &m : members) {
      b.setInsertionPoint(m.op);
      std::vector<double> ws(m.w.size());
      for (size_t i = 0; i < ws.size(); ++i)
        ws[i] = m.w[i] * s[i % k];
      replaceUse(m.op->getOpOperand(1),
                 createFloatConstant(
                     b, m.op.getLoc(),
                     cast<RankedTensorType>(m.op.getWeight().getType()), ws,
                     kBlobName));
      m.op->setAttr("qc.smooth_alpha", b.getF64FloatAttr(chosen));
    }
    if (absorbable) {
      absorbInto(x, inv, /*apply=*/true);
    } else {
      b.setInsertionPoint(members.front().op);
      Value xs = multiplyChannels(b, members.front().op.getLoc(), x, inv);
      for (Member &m : members)
        m.op.getInputMutable().assign(xs);
    }
    out.push_back({slot.str(), smoothedStats(st, s)});
  }
};

} // namespace
