//===- Quantize.cpp - qc-quantize -----------------------------------------===//
//
// Part of quant. Weights and activations of every layer to their formats, in
// QDQ form (DESIGN.md step 4). The rounding rules are QuantMath's; this file
// decides scales and zero points.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Transforms/Passes.h"
#include "quant/Dialect/QC/Utils/DynamicQuant.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"
#include "quant/Dialect/QC/Utils/Statistics.h"
#include "quant/Dialect/QC/Utils/WeightGrid.h"
#include "quant/Dialect/QC/Utils/WeightUtils.h"
#include "quant/Support/GPTQ.h"
#include "quant/Support/QuantMath.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Math/IR/Math.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/IR/Matchers.h"

#include <cmath>

namespace mlir::qc {
#define GEN_PASS_DEF_QCQUANTIZEPASS
#include "quant/Dialect/QC/Transforms/Passes.h.inc"
} // namespace mlir::qc

using namespace mlir;
using namespace mlir::qc;

namespace {

using Iter = utils::IteratorType;

/// The resolved scheme of one layer.
struct Scheme {
  bool keepFloat = false;
  FormatAttr wFormat;
  /// Balanced integer weights (#qc.scheme's `balanced`): codes in
  /// [wCodeMin, wCodeMax].
  bool wBalanced = false;
  int64_t wCodeMin = 0, wCodeMax = 0;
  std::string wGranularity; // tensor | channel | group
  int64_t groupSize = 128;
  FormatAttr aFormat; // null: weight-only
  bool aStatic = false;
  bool aPerToken = true;
  std::optional<double> aMin, aMax;
  /// Dynamic scales cover this fraction of each range.
  double aClip = 1.0;
};

/// Parses "int" + bits (signed, or unsigned when asymmetric) or an FP name.
FailureOr<FormatAttr> parseFormat(MLIRContext *ctx, StringRef name,
                                  unsigned bits, bool asym, std::string &err) {
  if (FormatAttr f = getFormatFromOption(ctx, name, bits, asym))
    return f;
  err = "unknown format '" + name.str() +
        "' (int, fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3, fp4e2m1; bitmod with 3 "
        "or 4 bits)";
  return failure();
}

Value scalarTensorConst(OpBuilder &b, Location loc, Type elt, Attribute v) {
  auto t = RankedTensorType::get({}, elt);
  return arith::ConstantOp::create(b, loc, DenseElementsAttr::get(t, v));
}

/// Storage bits of `format` as a raw dense buffer (1 byte per element up to
/// 8 bits, 2 up to 16), or APInts for i1 whose dense storage is bit-packed.
template <typename Code>
DenseElementsAttr makeStorageAttr(RankedTensorType type, FormatAttr format,
                                  ArrayRef<Code> codes) {
  unsigned bits = format.getBits();
  if (bits == 1) {
    SmallVector<bool> v(codes.size());
    for (size_t i = 0; i < codes.size(); ++i)
      v[i] = codes[i] & 1;
    return DenseElementsAttr::get(type, ArrayRef<bool>(v));
  }
  if (bits <= 8) {
    std::vector<char> raw(codes.size());
    for (size_t i = 0; i < codes.size(); ++i)
      raw[i] = static_cast<char>(codes[i] & ((1u << bits) - 1));
    return DenseElementsAttr::getFromRawBuffer(type, raw);
  }
  std::vector<char> raw(codes.size() * 2);
  for (size_t i = 0; i < codes.size(); ++i) {
    uint16_t c = static_cast<uint16_t>(codes[i]);
    std::memcpy(&raw[2 * i], &c, 2);
  }
  return DenseElementsAttr::getFromRawBuffer(type, raw);
}

/// A weight's codes, scales and zero points as constants, with the
/// dequantize attributes that describe their granularity.
struct QuantizedWeight {
  /// zeroPoints: null when symmetric; a mixture format's table selectors.
  Value codes, scales, zeroPoints;
  FormatAttr format;
  int64_t axis = -1, group = 0;
  double sqnr = 0;
  /// Q(w) - w per element (row-major), only when asked for (bias correction).
  std::vector<float> delta;
  /// The float weights of the columns computed in float (outlier channels),
  /// [rows, floatCols.size()] row-major; their codes are the grid's zero.
  std::vector<double> floatPart;
};

/// How weights are rounded beyond the scheme: qc-quantize's options.
struct RoundingOptions {
  bool gptq = false;
  bool clipSearch = false;
  bool keepDelta = false; ///< fill QuantizedWeight::delta
};

/// The per-input-channel weights of a linear's output error, E[x_k^2] of
/// its input (the per-channel sums of squares of the statistics table), or
/// empty without them.
std::vector<double> inputChannelEnergy(const QuantLayer &layer) {
  TensorStatsAttr st = lookupLayerStats(layer.op);
  if (!st || !st.getChannelSumSq())
    return {};
  std::vector<double> e;
  for (APFloat v : st.getChannelSumSq().getValues<APFloat>())
    e.push_back(v.convertToDouble());
  return e;
}

/// AWQ's clipping search on the grid `g` of the linear weight `w`
/// ([N, K], energy `e` [K]): per slot, the ratio in 1, 0.95, ..., 0.5
/// minimising sum (w - q)^2 e_k (for a mixture format, jointly with the
/// slot's table).
void searchClipping(WeightGrid &g, ArrayRef<double> w, ArrayRef<double> e) {
  std::vector<double> ratios;
  for (int step = 0; step <= 10; ++step)
    ratios.push_back(1.0 - 0.05 * step);
  searchGrid(g, w, ratios, e);
}

/// Quantizes the float constant `root` (values `w`) into constants.
/// `floatCols` (sorted; only for a linear's [N, K] weight) are columns
/// computed in float: they are fitted and rounded as zeros, and their
/// values (after GPTQ's updates) come back in `floatPart`.
FailureOr<QuantizedWeight>
quantizeWeight(OpBuilder &b, Location loc, Value root,
               const std::vector<double> &w, const Scheme &s,
               const QuantLayer &layer, const RoundingOptions &ro,
               ArrayRef<int64_t> floatCols, std::string &err) {
  auto type = cast<RankedTensorType>(root.getType());
  ArrayRef<int64_t> shape = type.getShape();
  FormatAttr fmt = s.wFormat;
  WeightGrid g = layoutGrid(shape, fmt, s.wGranularity, s.groupSize,
                            layer.channelAxis, layer.reductionAxis);
  if (s.wBalanced)
    g.setBalanced(s.wCodeMin, s.wCodeMax);
  // A linear's [N, K] weight whose input statistics are known may search
  // its clipping and round with GPTQ.
  bool isLinear = isa<LinearOp>(layer.op) && shape.size() == 2 &&
                  layer.weightRoot == layer.op->getOperand(1);
  // Index of each column among the float ones (-1: quantized).
  std::vector<int64_t> floatIndex;
  std::vector<double> floatPart;
  const std::vector<double> *fitW = &w;
  std::vector<double> zeroed;
  if (!floatCols.empty()) {
    if (!isLinear) {
      err = "only a linear's weight can keep columns in float";
      return failure();
    }
    floatIndex.assign(shape[1], -1);
    for (auto [i, c] : llvm::enumerate(floatCols))
      floatIndex[c] = int64_t(i);
    floatPart.assign(shape[0] * floatCols.size(), 0.0);
    zeroed = w;
    for (int64_t r = 0; r < shape[0]; ++r)
      for (int64_t c : floatCols)
        zeroed[r * shape[1] + c] = 0.0;
    fitW = &zeroed;
  }
  std::vector<double> energy;
  if (isLinear && ro.clipSearch && !fmt.isFloat())
    energy = inputChannelEnergy(layer);
  if (!energy.empty() && int64_t(energy.size()) == shape[1])
    searchClipping(g, *fitW, energy);
  else
    fitGrid(g, *fitW);
  // Weight formats have at most 8 bits: one byte per code. The codes, the
  // grid's slots and `w` are what a large table (an embedding, an LM head)
  // costs in transient memory, so nothing else per element is kept.
  if (fmt.getBits() > 8) {
    err = "weights have at most 8 bits, the format has " +
          std::to_string(fmt.getBits());
    return failure();
  }
  std::vector<uint8_t> codes(w.size());
  double sig = 0, noise = 0;
  std::vector<float> delta(ro.keepDelta ? w.size() : 0);
  auto measure = [&](size_t i, double q) {
    double x = static_cast<float>(w[i]);
    sig += x * x;
    noise += (x - q) * (x - q);
    if (!delta.empty())
      delta[i] = static_cast<float>(q - x);
  };
  auto roundAt = [&](size_t i, double v) {
    uint64_t c;
    if (!floatIndex.empty()) {
      int64_t col = int64_t(i) % shape[1], f = floatIndex[col];
      if (f >= 0) {
        // Zero on the grid (its nearest point: 0 itself for every integer
        // and FP grid); the value goes to the float product, unrounded.
        (void)g.round(0.0, g.slotOf[i], c);
        codes[i] = static_cast<uint8_t>(c);
        floatPart[(int64_t(i) / shape[1]) * floatCols.size() + f] = v;
        return v;
      }
    }
    double q = g.round(v, g.slotOf[i], c);
    codes[i] = static_cast<uint8_t>(c);
    return q;
  };
  bool rounded = false;
  // GPTQ's Hessian: a linear's input second moment; an ungrouped
  // convolution's [M, C, k...] weight is [M, C * prod(k)] against the
  // second moment of its im2col vectors (its own slot; a pointwise one's
  // is its input's channel moment).
  TensorStatsAttr hessian;
  int64_t k = 0;
  if (ro.gptq && isLinear) {
    hessian = lookupLayerStats(layer.op);
    k = shape[1];
  } else if (ro.gptq && getConvPatch(layer)) {
    hessian = lookupPatchStats(layer.op);
    if (!hessian)
      hessian = lookupLayerStats(layer.op);
    k = int64_t(w.size()) / shape[0];
  }
  if (hessian) {
    std::vector<float> h32 = hessian.getSecondMomentValues();
    if (int64_t(h32.size()) == k * k) {
      std::vector<double> h(h32.begin(), h32.end()), rw = w;
      if (!roundGPTQ(
              rw, shape[0], k, std::move(h),
              [&](int64_t r, int64_t c, double v) {
                return roundAt(size_t(r * k + c), v);
              },
              GPTQOptions(), err))
        return failure();
      for (size_t i = 0; i < w.size(); ++i)
        measure(i, rw[i]);
      rounded = true;
    }
  }
  if (!rounded)
    for (size_t i = 0; i < w.size(); ++i)
      measure(i, roundAt(i, w[i]));
  auto qType = RankedTensorType::get(shape, fmt.getStorageType());
  Value q = arith::ConstantOp::create(
      b, loc, makeStorageAttr(qType, fmt, ArrayRef<uint8_t>(codes)));
  auto sType = RankedTensorType::get(g.scaleShape, b.getF32Type());
  Value sv = arith::ConstantOp::create(
      b, loc, DenseElementsAttr::get(sType, ArrayRef<float>(g.scales)));
  Value zv;
  if (g.asym || g.mixture) {
    // A mixture format's table selectors travel where zero points do.
    std::vector<uint64_t> zcodes;
    if (g.mixture)
      zcodes.assign(g.selectors.begin(), g.selectors.end());
    else
      zcodes.assign(g.zeroPoints.begin(), g.zeroPoints.end());
    zv = arith::ConstantOp::create(
        b, loc,
        makeStorageAttr(
            RankedTensorType::get(g.scaleShape, qType.getElementType()), fmt,
            ArrayRef<uint64_t>(zcodes)));
  }
  double sqnr = noise == 0 ? 200.0 : 10.0 * std::log10(sig / noise);
  return QuantizedWeight{q,
                         sv,
                         zv,
                         fmt,
                         g.axis,
                         g.group,
                         sqnr,
                         std::move(delta),
                         std::move(floatPart)};
}

/// The input channels of `layer` that qc-quantize's outlier-channels
/// computes in float: at most `n` of the largest calibrated magnitude, for
/// a qc.linear with an [N, K] constant weight whose activation is
/// quantized (statically: with a calibrated range) and has per-channel
/// statistics along its last (reduced) axis; sorted. Empty where none
/// applies.
SmallVector<int64_t> pickOutlierChannels(const QuantLayer &layer,
                                         const Scheme &s, unsigned n) {
  if (n == 0 || !isa<LinearOp>(layer.op) || !s.aFormat ||
      (s.aStatic && (!s.aMin || !s.aMax)) || !layer.rowwiseActivation ||
      layer.weightRoot != layer.op->getOperand(1))
    return {};
  auto wt = cast<RankedTensorType>(layer.weightRoot.getType());
  auto xt = cast<RankedTensorType>(layer.op->getOperand(0).getType());
  TensorStatsAttr st = lookupLayerStats(layer.op);
  if (wt.getRank() != 2 || !st || !st.getChannelAxis())
    return {};
  int64_t k = wt.getDimSize(1), axis = *st.getChannelAxis();
  if (axis < 0)
    axis += xt.getRank();
  if (axis != xt.getRank() - 1 || st.getNumChannels() != k ||
      int64_t(n) * 2 > k)
    return {};
  SmallVector<int64_t> order(k);
  for (int64_t c = 0; c < k; ++c)
    order[c] = c;
  // Largest first; ties by channel index, so the choice is deterministic.
  llvm::stable_sort(order, [&](int64_t a, int64_t b) {
    return st.getChannelAbsMax(a) > st.getChannelAbsMax(b);
  });
  SmallVector<int64_t> picked;
  for (int64_t c : ArrayRef<int64_t>(order).take_front(n))
    if (st.getChannelAbsMax(c) > 0)
      picked.push_back(c);
  llvm::sort(picked);
  return picked;
}

/// The static range of `layer`'s activation without the channels `cols`:
/// the scheme's range, narrowed to the other channels' calibrated extremes.
void narrowRange(const QuantLayer &layer, ArrayRef<int64_t> cols, Scheme &s) {
  TensorStatsAttr st = lookupLayerStats(layer.op);
  auto lo = st.getChannelMin().getValues<double>();
  auto hi = st.getChannelMax().getValues<double>();
  auto count = st.getChannelCount().getValues<int64_t>();
  double mn = 0, mx = 0;
  for (int64_t c = 0, e = st.getNumChannels(); c < e; ++c) {
    if (llvm::is_contained(cols, c) || count[c] == 0)
      continue;
    mn = std::min(mn, double(lo[c]));
    mx = std::max(mx, double(hi[c]));
  }
  s.aMin = std::max(*s.aMin, mn);
  s.aMax = std::min(*s.aMax, mx);
}

/// The channels `cols` of x's last axis, in that order: [..., cols.size()].
Value gatherLastAxis(OpBuilder &b, Location loc, Value x,
                     ArrayRef<int64_t> cols) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  SmallVector<Value> slices;
  for (int64_t c : cols) {
    SmallVector<OpFoldResult> offsets(r, b.getIndexAttr(0)), sizes,
        strides(r, b.getIndexAttr(1));
    offsets.back() = b.getIndexAttr(c);
    for (int64_t i = 0; i + 1 < r; ++i)
      sizes.push_back(
          t.isDynamicDim(i)
              ? OpFoldResult(tensor::DimOp::create(b, loc, x, i).getResult())
              : OpFoldResult(b.getIndexAttr(t.getDimSize(i))));
    sizes.push_back(b.getIndexAttr(1));
    slices.push_back(
        tensor::ExtractSliceOp::create(b, loc, x, offsets, sizes, strides));
  }
  if (slices.size() == 1)
    return slices.front();
  return tensor::ConcatOp::create(b, loc, r - 1, slices);
}

/// x with the channels `cols` of its last axis zero (x * mask): what a
/// dynamic scale is computed from when those channels are computed apart.
Value zeroChannels(OpBuilder &b, Location loc, Value x,
                   ArrayRef<int64_t> cols) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank(), k = t.getDimSize(r - 1);
  std::vector<double> mask(k, 1.0);
  for (int64_t c : cols)
    mask[c] = 0.0;
  Value m = createFloatConstant(b, loc,
                                RankedTensorType::get({k}, t.getElementType()),
                                mask, "qc_outlier_mask");
  MLIRContext *ctx = b.getContext();
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, ctx);
  AffineMap ch = AffineMap::get(r, 0, getAffineDimExpr(r - 1, ctx));
  return linalg::GenericOp::create(
             b, loc, t, ValueRange{x, m},
             ValueRange{createEmptyLike(b, loc, x, t.getElementType())},
             SmallVector<AffineMap>{id, ch, id},
             SmallVector<Iter>(r, Iter::parallel),
             [](OpBuilder &bb, Location l, ValueRange a) {
               linalg::YieldOp::create(
                   bb, l, arith::MulFOp::create(bb, l, a[0], a[1]).getResult());
             })
      .getResult(0);
}

/// x + y, elementwise, for two tensors of one type; x is used by the
/// generic alone (run-time extents are read from y).
Value addTensors(OpBuilder &b, Location loc, Value x, Value y) {
  auto t = cast<RankedTensorType>(x.getType());
  int64_t r = t.getRank();
  Value init = createEmptyLike(b, loc, y, t.getElementType());
  AffineMap id = AffineMap::getMultiDimIdentityMap(r, b.getContext());
  return linalg::GenericOp::create(
             b, loc, t, ValueRange{x, y}, ValueRange{init},
             SmallVector<AffineMap>{id, id, id},
             SmallVector<Iter>(r, Iter::parallel),
             [](OpBuilder &bb, Location l, ValueRange a) {
               linalg::YieldOp::create(
                   bb, l, arith::AddFOp::create(bb, l, a[0], a[1]).getResult());
             })
      .getResult(0);
}

/// Bias correction of a convolution (a multiply-accumulate linalg.generic
/// whose weight root is [M, Cg, k...] read as [G, Mg, Cg, k...] or as
/// itself): the output channel o = (g, m) changes on average by
/// sum_{c, k} delta[o, c, k] E[x_{g Cg + c}] when its weights are rounded;
/// its accumulator init is lowered by that. Returns false (and changes
/// nothing) where the layer has another form or its statistics no channel
/// sums.
bool correctBias(OpBuilder &b, const QuantLayer &layer, ArrayRef<float> delta) {
  auto op = dyn_cast<linalg::GenericOp>(layer.op);
  if (!op || delta.empty() || layer.reductionAxis != 1)
    return false;
  TensorStatsAttr st = lookupLayerStats(op);
  if (!st || !st.getChannelSum() || !st.getChannelCount())
    return false;
  std::vector<double> mean;
  for (auto [s, n] : llvm::zip(st.getChannelSum().getValues<APFloat>(),
                               st.getChannelCount().getValues<APInt>()))
    mean.push_back(n.isZero() ? 0.0
                              : s.convertToDouble() / double(n.getZExtValue()));
  SmallVector<int64_t> outDims = getOutputChannelDims(layer);
  if (outDims.empty())
    return false;
  auto rootT = cast<RankedTensorType>(layer.weightRoot.getType());
  ArrayRef<int64_t> rs = rootT.getShape();
  int64_t m = rs[0], cg = rs[1], inner = 1;
  for (int64_t d : rs.drop_front(2))
    inner *= d;
  auto wt =
      cast<RankedTensorType>(op->getOperand(layer.weightOperand).getType());
  int64_t groups = outDims.size() == 2 ? wt.getDimSize(0) : 1;
  if (int64_t(mean.size()) != groups * cg)
    return false;
  int64_t mg = m / groups;
  std::vector<float> shift(m);
  for (int64_t o = 0; o < m; ++o) {
    int64_t g = o / mg;
    double s = 0;
    for (int64_t c = 0; c < cg; ++c) {
      double x = mean[g * cg + c];
      for (int64_t k = 0; k < inner; ++k)
        s += double(delta[(o * cg + c) * inner + k]) * x;
    }
    shift[o] = static_cast<float>(s);
  }
  return subtractFromInit(b, op, outDims, shift);
}

/// qc.dequantize(codes, scales, zeroPoints) in `format`, converted to the
/// element type of `type` (whose shape the codes have).
Value dequantizeTo(OpBuilder &b, Location loc, FormatAttr format, Value codes,
                   Value scales, Value zeroPoints, int64_t axis, int64_t group,
                   RankedTensorType type) {
  Value result = DequantizeOp::create(
      b, loc, RankedTensorType::get(type.getShape(), b.getF32Type()), codes,
      scales, zeroPoints, format,
      axis >= 0 ? b.getI64IntegerAttr(axis) : IntegerAttr(),
      group > 0 ? b.getI64IntegerAttr(group) : IntegerAttr());
  if (type.getElementType() != b.getF32Type())
    result = arith::TruncFOp::create(b, loc, type, result); // f16 models
  return result;
}

/// A copy of the embedding gather `g` (reading its table through `read`)
/// that reads `table` [V, C] instead: the output's last extent becomes C.
/// Indices are normalised exactly as in `g`, since its body is cloned.
Value regather(OpBuilder &b, linalg::GenericOp g, tensor::ExtractOp read,
               Value table) {
  Location loc = g.getLoc();
  auto tt = cast<RankedTensorType>(table.getType());
  auto ot = cast<RankedTensorType>(g.getResult(0).getType());
  int64_t r = ot.getRank();
  SmallVector<int64_t> shape(ot.getShape());
  shape.back() = tt.getDimSize(1);
  SmallVector<Value> dyn;
  Value oldInit = g.getDpsInits()[0];
  for (int64_t i = 0; i + 1 < r; ++i)
    if (ot.isDynamicDim(i))
      dyn.push_back(tensor::DimOp::create(b, loc, oldInit, i));
  Value init = tensor::EmptyOp::create(b, loc, shape, tt.getElementType(), dyn);
  auto ng = linalg::GenericOp::create(
      b, loc, init.getType(), g.getDpsInputs(), ValueRange{init},
      g.getIndexingMapsArray(), g.getIteratorTypesArray(),
      [&](OpBuilder &bb, Location l, ValueRange args) {
        IRMapping map;
        Block &body = g.getRegion().front();
        for (auto [from, to] : llvm::zip(body.getArguments(), args))
          map.map(from, to);
        for (Operation &op : body.without_terminator()) {
          if (&op != read.getOperation()) {
            bb.clone(op, map);
            continue;
          }
          Value row = map.lookupOrDefault(read.getIndices()[0]);
          Value col = map.lookupOrDefault(read.getIndices()[1]);
          map.map(read.getResult(),
                  tensor::ExtractOp::create(bb, l, table, ValueRange{row, col})
                      .getResult());
        }
        linalg::YieldOp::create(bb, l, map.lookup(read.getResult()));
      });
  return ng.getResult(0);
}

/// A [V] per-row constant as a [V, 1] constant table.
Value asColumn(OpBuilder &b, Location loc, Value v) {
  DenseElementsAttr attr;
  if (!matchPattern(v, m_Constant(&attr)))
    return {};
  auto t = cast<RankedTensorType>(v.getType());
  return arith::ConstantOp::create(
      b, loc,
      attr.reshape(
          RankedTensorType::get({t.getDimSize(0), 1}, t.getElementType())));
}

/// Pattern: gather(table)[i..., h] -> dequantize(gather(codes)[i..., h],
/// gather(scales)[i..., h / g]): only the gathered rows are dequantized, so
/// the table stays in its narrow format in the artifact.
Value quantizeEmbedding(OpBuilder &b, linalg::GenericOp g,
                        tensor::ExtractOp read, const QuantizedWeight &qw) {
  Location loc = g.getLoc();
  auto ot = cast<RankedTensorType>(g.getResult(0).getType());
  int64_t r = ot.getRank(), h = ot.getDimSize(r - 1);
  Value codes = regather(b, g, read, qw.codes);
  Value scales = qw.scales, zps = qw.zeroPoints;
  int64_t axis = -1, group = 0;
  if (qw.axis == 0) { // one scale per row
    scales = regather(b, g, read, asColumn(b, loc, scales));
    if (zps)
      zps = regather(b, g, read, asColumn(b, loc, zps));
    axis = r - 1;
    group = h;
  } else if (qw.axis == 1) { // groups along the row
    scales = regather(b, g, read, scales);
    if (zps)
      zps = regather(b, g, read, zps);
    axis = r - 1;
    group = qw.group;
  }
  return dequantizeTo(b, loc, qw.format, codes, scales, zps, axis, group, ot);
}

/// Per-tensor quantization with constant parameters commutes with reshapes
/// and with a pad by a constant (the quantized constant pads the codes).
/// When x is such a chain (each link used once: a convolution's padded,
/// grouped input), the codes are computed from the chain's root and the
/// chain is rebuilt on them: the padded copy then moves 1-byte codes, not
/// floats, and the quantize can fuse with the op that produces the root.
/// Null when x is no such chain, or its codes are not whole bytes.
Value quantizeBeforePadsAndReshapes(OpBuilder &b, Location loc, Value x,
                                    Value scale, Value zp, FormatAttr fmt) {
  auto storage = dyn_cast<IntegerType>(fmt.getStorageType());
  DenseFPElementsAttr scaleAttr;
  DenseIntElementsAttr zpAttr;
  if (!storage || storage.getWidth() % 8 != 0 ||
      !matchPattern(scale, m_Constant(&scaleAttr)) ||
      (zp && !matchPattern(zp, m_Constant(&zpAttr))))
    return {};
  SmallVector<Operation *> chain; // from x towards the root
  Value root = x;
  while (Operation *d = root.getDefiningOp()) {
    if (!root.hasOneUse())
      break;
    if (auto pad = dyn_cast<tensor::PadOp>(d)) {
      Value v = pad.getConstantPaddingValue();
      FloatAttr f;
      if (!v || !matchPattern(v, m_Constant(&f)))
        break;
    } else if (!isa<tensor::ExpandShapeOp, tensor::CollapseShapeOp>(d)) {
      break;
    }
    chain.push_back(d);
    root = d->getOperand(0);
  }
  if (chain.empty())
    return {};
  auto codesType = [&](Value v) {
    return cast<RankedTensorType>(v.getType()).clone(storage);
  };
  Value q = QuantizeOp::create(b, loc, codesType(root), root, scale, zp, fmt,
                               IntegerAttr(), IntegerAttr());
  APFloat s = *scaleAttr.getValues<APFloat>().begin();
  int64_t z = 0;
  if (zpAttr) {
    APInt zv = *zpAttr.getValues<APInt>().begin();
    z = fmt.isSigned() ? zv.getSExtValue()
                       : static_cast<int64_t>(zv.getZExtValue());
  }
  for (Operation *op : llvm::reverse(chain)) {
    if (auto pad = dyn_cast<tensor::PadOp>(op)) {
      FloatAttr v;
      matchPattern(pad.getConstantPaddingValue(), m_Constant(&v));
      APFloat pv = v.getValue();
      bool loses = false;
      pv.convert(s.getSemantics(), APFloat::rmNearestTiesToEven, &loses);
      APInt code = quantizeToInt(pv, s, z, fmt.getBits(), fmt.isSigned())
                       .sextOrTrunc(storage.getWidth());
      Value padValue =
          arith::ConstantOp::create(b, loc, b.getIntegerAttr(storage, code));
      q = tensor::PadOp::create(b, loc, codesType(pad.getResult()), q,
                                pad.getMixedLowPad(), pad.getMixedHighPad(),
                                padValue, pad.getNofold());
      continue;
    }
    Type type = codesType(op->getResult(0));
    if (auto e = dyn_cast<tensor::ExpandShapeOp>(op))
      q = tensor::ExpandShapeOp::create(b, loc, type, q,
                                        e.getReassociationIndices(),
                                        e.getMixedOutputShape());
    else
      q = tensor::CollapseShapeOp::create(
          b, loc, type, q,
          cast<tensor::CollapseShapeOp>(op).getReassociationIndices());
  }
  return q;
}

/// qc.dequantize(qc.quantize(x)) with static or run-time parameters.
FailureOr<Value> quantizeActivation(OpBuilder &b, Location loc, Value x,
                                    const Scheme &s, const QuantLayer &layer,
                                    std::string &err) {
  FormatAttr fmt = s.aFormat;
  auto t = cast<RankedTensorType>(x.getType());
  Type f32 = b.getF32Type();
  if (t.getElementType() != f32) {
    err = "activation quantization needs f32 activations, got " +
          std::to_string(t.getElementType().getIntOrFloatBitWidth()) +
          "-bit floats";
    return failure();
  }
  bool asym = !fmt.isFloat() && !fmt.isSigned();
  Value scale, zp;
  IntegerAttr axisAttr, groupAttr;
  if (s.aStatic) {
    if (!s.aMin || !s.aMax) {
      err = "no calibrated range (qc.scheme range = [LO, HI]); calibrate or "
            "use dynamic "
            "activations";
      return failure();
    }
    double lo = std::min(*s.aMin, 0.0), hi = std::max(*s.aMax, 0.0);
    double sc;
    if (fmt.isFloat())
      sc = std::max(-lo, hi) / fmt.getMaxMagnitude();
    else if (asym)
      sc = (hi - lo) / double(fmt.getIntMax() - fmt.getIntMin());
    else
      sc = std::max(-lo, hi) / double(fmt.getIntMax());
    float f = static_cast<float>(sc);
    if (!(f > 0.0f) || !std::isfinite(f))
      f = 1.0f;
    scale = scalarTensorConst(b, loc, f32, b.getF32FloatAttr(f));
    if (asym) {
      int64_t z = std::clamp<int64_t>(
          static_cast<int64_t>(std::nearbyint(-lo / double(f))),
          fmt.getIntMin(), fmt.getIntMax());
      zp = scalarTensorConst(b, loc, fmt.getStorageType(),
                             b.getIntegerAttr(fmt.getStorageType(), z));
    }
  } else {
    // Per row when rows are independent, else per tensor.
    int64_t r = t.getRank();
    bool rowwise = layer.rowwiseActivation && s.aPerToken;
    int64_t keep = rowwise ? r - 1 : 0;
    Value hi = reduceInto(b, loc, x, keep, /*isMax=*/true, /*useAbs=*/!asym);
    Value lo = asym ? reduceInto(b, loc, x, keep, false, false) : Value();
    std::tie(scale, zp) = dynamicParams(b, loc, lo, hi, fmt, s.aClip);
    if (rowwise) {
      // [..., 1]: one block covering the last dim.
      SmallVector<ReassociationIndices> re;
      for (int64_t i = 0; i + 1 < r; ++i)
        re.push_back({i});
      if (r >= 2)
        re.back().push_back(r - 1);
      auto expand = [&](Value v) -> Value {
        if (!v)
          return v;
        auto vt = cast<RankedTensorType>(v.getType());
        SmallVector<int64_t> shape(vt.getShape());
        shape.push_back(1);
        if (r == 1)
          return tensor::ExpandShapeOp::create(
              b, loc, RankedTensorType::get(shape, vt.getElementType()), v,
              SmallVector<ReassociationIndices>{});
        return tensor::ExpandShapeOp::create(
            b, loc, RankedTensorType::get(shape, vt.getElementType()), v, re);
      };
      scale = expand(scale);
      zp = expand(zp);
      int64_t k = t.getDimSize(r - 1);
      if (ShapedType::isDynamic(k)) {
        err = "per-row dynamic activations need a static reduced dimension";
        return failure();
      }
      axisAttr = b.getI64IntegerAttr(r - 1);
      groupAttr = b.getI64IntegerAttr(k);
    }
  }
  Value q;
  if (s.aStatic)
    q = quantizeBeforePadsAndReshapes(b, loc, x, scale, zp, fmt);
  if (!q)
    q = QuantizeOp::create(
        b, loc, RankedTensorType::get(t.getShape(), fmt.getStorageType()), x,
        scale, zp, fmt, axisAttr, groupAttr);
  return DequantizeOp::create(b, loc, t, q, scale, zp, fmt, axisAttr, groupAttr)
      .getResult();
}

struct QCQuantizePass : mlir::qc::impl::QCQuantizePassBase<QCQuantizePass> {
  using Base::Base;

  /// The layer's qc.scheme, or the pass options where it has none.
  LogicalResult resolve(Operation *op, Scheme &s, std::string &err) {
    MLIRContext *ctx = op->getContext();
    if (Attribute any = op->getAttr("qc.scheme")) {
      auto scheme = dyn_cast<SchemeAttr>(any);
      if (!scheme) {
        err = "qc.scheme must be a #qc.scheme";
        return failure();
      }
      if (scheme.isFloat()) {
        s.keepFloat = true;
        return success();
      }
      s.wFormat = scheme.getWeight();
      if (scheme.getBalanced()) {
        s.wBalanced = true;
        s.wCodeMin = scheme.getWeightCodeMin();
        s.wCodeMax = scheme.getWeightCodeMax();
      }
      s.wGranularity =
          stringifyWeightGranularity(scheme.getWeightGranularity()).str();
      if (scheme.getWeightGranularity() == WeightGranularity::Group)
        s.groupSize = scheme.getGroupSize();
      s.aFormat = scheme.getActivation();
      s.aStatic = scheme.getIsStatic();
      s.aPerToken = scheme.getActivationGranularity() == ActGranularity::Token;
      if (scheme.getRangeMin()) {
        s.aMin = scheme.getRangeMin().getValueAsDouble();
        s.aMax = scheme.getRangeMax().getValueAsDouble();
      }
      return success();
    }
    if (wFormat == "int" && (wBits < 1 || wBits > 8)) {
      err = "w-bits must be in 1..8, got " + std::to_string(wBits);
      return failure();
    }
    // One bit cannot be symmetric: {-1, 0} wastes it. W1 is min/max.
    FailureOr<FormatAttr> w = parseFormat(
        ctx, wFormat, wBits, asym || (wFormat == "int" && wBits == 1), err);
    if (failed(w))
      return failure();
    s.wFormat = *w;
    s.wGranularity = wGranularity;
    if (s.wGranularity != "tensor" && s.wGranularity != "channel" &&
        s.wGranularity != "group") {
      err = "w-granularity must be tensor, channel or group, got '" +
            s.wGranularity + "'";
      return failure();
    }
    s.groupSize = groupSize;
    if (s.groupSize < 1) {
      err = "group-size must be positive";
      return failure();
    }
    if (aBits != 0 || aFormat != "int") {
      if (aFormat == "int" && (aBits < 2 || aBits > 16)) {
        err = "a-bits must be in 2..16 (or 0 for weight-only), got " +
              std::to_string(aBits);
        return failure();
      }
      FailureOr<FormatAttr> a = parseFormat(ctx, aFormat, aBits, asym, err);
      if (failed(a))
        return failure();
      if (a->isMixture()) {
        err = "a-format bitmod: mixture formats quantize weights only";
        return failure();
      }
      s.aFormat = *a;
    }
    if (aMode != "static" && aMode != "dynamic") {
      err = "a-mode must be static or dynamic, got '" + aMode + "'";
      return failure();
    }
    s.aStatic = aMode == "static";
    if (aGranularity != "token" && aGranularity != "tensor") {
      err = "a-granularity must be token or tensor, got '" + aGranularity + "'";
      return failure();
    }
    s.aPerToken = aGranularity == "token";
    return success();
  }

  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (!(aClip > 0.0 && aClip <= 1.0)) {
      func.emitError() << "qc-quantize: a-clip must be in (0, 1], got "
                       << static_cast<double>(aClip);
      return signalPassFailure();
    }
    if (biasCorrection != "off" && biasCorrection != "on" &&
        biasCorrection != "auto") {
      func.emitError() << "qc-quantize: bias-correction must be off, on or "
                          "auto, got '"
                       << biasCorrection << "'";
      return signalPassFailure();
    }
    if (weightRounding != "rtn" && weightRounding != "gptq") {
      func.emitError() << "qc-quantize: weight-rounding must be rtn or gptq, "
                          "got '"
                       << weightRounding << "'";
      return signalPassFailure();
    }
    RoundingOptions rounding;
    rounding.gptq = weightRounding == "gptq";
    rounding.clipSearch = clipSearch;
    SmallVector<QuantLayer> layers = findQuantLayers(func);
    OpBuilder b(&getContext());
    for (QuantLayer &layer : layers) {
      Operation *op = layer.op;
      Scheme s;
      s.aClip = aClip;
      std::string err;
      if (failed(resolve(op, s, err))) {
        op->emitError() << "qc-quantize: layer '" << layer.name << "': " << err;
        return signalPassFailure();
      }
      if (s.keepFloat)
        continue;
      std::optional<std::vector<double>> w =
          readFloatConstant(layer.weightRoot);
      if (!w)
        continue; // a weight type we do not read (e.g. f64): stays float
      Location loc = op->getLoc();
      b.setInsertionPoint(op);
      RoundingOptions layerRounding = rounding;
      // Only convolutions (generics) are bias-corrected: their rounding
      // errors are kept, not a table's. `auto` corrects where the weight
      // error dominates the layer's: W8A8 on PP-OCRv4 measured neutral to
      // worse with it (docs/benchmarks.md, "Bias correction").
      bool correct =
          biasCorrection == "on" ||
          (biasCorrection == "auto" &&
           (!s.aFormat || s.wFormat.getBits() < s.aFormat.getBits()));
      layerRounding.keepDelta =
          correct && !layer.isEmbedding && isa<linalg::GenericOp>(op);
      SmallVector<int64_t> outliers =
          pickOutlierChannels(layer, s, outlierChannels);
      FailureOr<QuantizedWeight> qw = quantizeWeight(
          b, loc, layer.weightRoot, *w, s, layer, layerRounding, outliers, err);
      if (failed(qw)) {
        op->emitError() << "qc-quantize: layer '" << layer.name << "': " << err;
        return signalPassFailure();
      }
      if (layer.isEmbedding) {
        // The dequantize of the gathered rows carries the layer's attributes
        // (for reports) in place of the gather.
        Value e = quantizeEmbedding(
            b, cast<linalg::GenericOp>(op),
            cast<tensor::ExtractOp>(layer.embeddingRead), *qw);
        Operation *dq = e.getDefiningOp();
        if (!isa<DequantizeOp>(dq))
          dq = dq->getOperand(0).getDefiningOp(); // through the truncf
        for (NamedAttribute a : op->getDiscardableAttrs())
          dq->setAttr(a.getName(), a.getValue());
        dq->setAttr("qc.weight_sqnr", b.getF64FloatAttr(qw->sqnr));
        op->getResult(0).replaceAllUsesWith(e);
        op->erase();
        continue;
      }
      // Rebuild the reshape (if any) between the root and the layer.
      Value wv = dequantizeTo(
          b, loc, qw->format, qw->codes, qw->scales, qw->zeroPoints, qw->axis,
          qw->group, cast<RankedTensorType>(layer.weightRoot.getType()));
      Value oldW = op->getOperand(layer.weightOperand);
      if (oldW != layer.weightRoot) {
        Operation *reshape = oldW.getDefiningOp();
        IRMapping map;
        map.map(layer.weightRoot, wv);
        wv = b.clone(*reshape, map)->getResult(0);
      }
      op->setOperand(layer.weightOperand, wv);
      op->setAttr("qc.weight_sqnr", b.getF64FloatAttr(qw->sqnr));
      if (layerRounding.keepDelta && correctBias(b, layer, qw->delta))
        op->setAttr("qc.bias_corrected", b.getUnitAttr());
      if (!outliers.empty()) {
        // y = Q(x) Q(W with the outlier columns zero) + x[:, S] W[:, S].
        Value x = op->getOperand(layer.actOperand);
        auto wt = cast<RankedTensorType>(layer.weightRoot.getType());
        auto side = RankedTensorType::get(
            {wt.getDimSize(0), int64_t(outliers.size())}, wt.getElementType());
        Value ws = createFloatConstant(b, loc, side, qw->floatPart,
                                       "qc_outlier_weight");
        Value xs = gatherLastAxis(b, loc, x, outliers);
        Value ys = LinearOp::create(b, loc, op->getResult(0).getType(), xs, ws,
                                    Value())
                       .getResult();
        b.setInsertionPointAfter(op);
        Value sum = addTensors(b, loc, op->getResult(0), ys);
        op->getResult(0).replaceAllUsesExcept(sum, sum.getDefiningOp());
        b.setInsertionPoint(op);
        op->setAttr("qc.outlier_channels", b.getDenseI64ArrayAttr(outliers));
        // A dynamic scale must not see those channels: they are zeroed
        // before the quantize (their weight columns are zero anyway). A
        // static range narrows to the other channels, and the scheme records
        // the range the layer now uses (reports).
        if (!s.aStatic) {
          op->setOperand(layer.actOperand, zeroChannels(b, loc, x, outliers));
        } else {
          narrowRange(layer, outliers, s);
          if (auto sc = op->getAttrOfType<SchemeAttr>("qc.scheme"))
            op->setAttr(
                "qc.scheme",
                SchemeAttr::get(sc.getContext(), sc.getWeight(),
                                sc.getWeightGranularity(), sc.getGroupSize(),
                                sc.getActivation(),
                                sc.getActivationGranularity(), sc.getIsStatic(),
                                sc.getCalibration(), b.getF64FloatAttr(*s.aMin),
                                b.getF64FloatAttr(*s.aMax), sc.getBalanced()));
        }
      }
      if (s.aFormat) {
        FailureOr<Value> a = quantizeActivation(
            b, loc, op->getOperand(layer.actOperand), s, layer, err);
        if (failed(a)) {
          op->emitError() << "qc-quantize: layer '" << layer.name
                          << "': " << err;
          return signalPassFailure();
        }
        op->setOperand(layer.actOperand, *a);
      }
    }
  }
};

} // namespace
