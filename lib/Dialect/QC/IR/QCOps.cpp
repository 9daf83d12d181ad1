//===- QCOps.cpp - qc dialect operations and verifiers --------------------===//
//
// Part of quant. One free verification function per op family, as StableHLO
// does, so later shape inference can share them.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Support/Hadamard.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/Matchers.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/IR/PatternMatch.h"

using namespace mlir;
using namespace mlir::qc;

#define GET_OP_CLASSES
#include "quant/Dialect/QC/IR/QCOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shape helpers
//===----------------------------------------------------------------------===//

/// Two extents agree when equal or when either is unknown until run time.
static bool compatibleDim(int64_t a, int64_t b) {
  return ShapedType::isDynamic(a) || ShapedType::isDynamic(b) || a == b;
}

static std::string dimStr(int64_t d) {
  return ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d);
}

/// Normalises an axis in [-rank, rank) to [0, rank), or fails with a message.
static FailureOr<int64_t> normaliseAxis(Operation *op, StringRef what,
                                        int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    op->emitOpError() << what << " " << axis << " is out of range for rank "
                      << rank;
    return failure();
  }
  return axis < 0 ? axis + rank : axis;
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

LogicalResult LinearOp::verify() {
  auto in = getInput().getType();
  auto w = getWeight().getType();
  auto out = getOutput().getType();
  Type elt = in.getElementType();
  if (w.getElementType() != elt || out.getElementType() != elt ||
      (getBias() && getBias().getType().getElementType() != elt))
    return emitOpError("input, weight, bias and result must share one "
                       "element type");
  if (w.getRank() != 2)
    return emitOpError("weight must be a 2-D [N, K] tensor, got rank ")
           << w.getRank();
  if (in.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  int64_t n = w.getDimSize(0), k = w.getDimSize(1);
  if (!compatibleDim(in.getShape().back(), k))
    return emitOpError("input feature size ")
           << dimStr(in.getShape().back())
           << " does not match weight K = " << dimStr(k);
  if (Value bias = getBias()) {
    auto b = cast<RankedTensorType>(bias.getType());
    if (b.getRank() != 1 || !compatibleDim(b.getDimSize(0), n))
      return emitOpError("bias must be a 1-D tensor of N = ")
             << dimStr(n) << " elements, got " << b;
  }
  if (out.getRank() != in.getRank())
    return emitOpError("result rank ")
           << out.getRank() << " differs from input rank " << in.getRank();
  for (int64_t i = 0, e = in.getRank() - 1; i < e; ++i)
    if (!compatibleDim(in.getDimSize(i), out.getDimSize(i)))
      return emitOpError("result dimension ")
             << i << " (" << dimStr(out.getDimSize(i))
             << ") does not match input (" << dimStr(in.getDimSize(i)) << ")";
  if (!compatibleDim(out.getShape().back(), n))
    return emitOpError("result feature size ")
           << dimStr(out.getShape().back())
           << " does not match weight N = " << dimStr(n);
  return success();
}

//===----------------------------------------------------------------------===//
// BatchMatmulOp
//===----------------------------------------------------------------------===//

LogicalResult BatchMatmulOp::verify() {
  auto lhs = getLhs().getType();
  auto rhs = getRhs().getType();
  auto out = getOutput().getType();
  if (rhs.getElementType() != lhs.getElementType() ||
      out.getElementType() != lhs.getElementType())
    return emitOpError("operands and result must share one element type");
  int64_t rank = lhs.getRank();
  if (rank < 2 || rhs.getRank() != rank || out.getRank() != rank)
    return emitOpError("operands and result must have one rank >= 2, got ")
           << lhs.getRank() << ", " << rhs.getRank() << " and "
           << out.getRank();
  for (int64_t i = 0; i < rank - 2; ++i)
    if (!compatibleDim(lhs.getDimSize(i), rhs.getDimSize(i)) ||
        !compatibleDim(lhs.getDimSize(i), out.getDimSize(i)))
      return emitOpError("batch dimension ")
             << i << " differs between operands and result";
  bool t = getTransposeRhs();
  int64_t m = lhs.getDimSize(rank - 2), k = lhs.getDimSize(rank - 1);
  int64_t rk = rhs.getDimSize(t ? rank - 1 : rank - 2);
  int64_t n = rhs.getDimSize(t ? rank - 2 : rank - 1);
  if (!compatibleDim(k, rk))
    return emitOpError("contraction sizes differ: lhs has K = ")
           << dimStr(k) << ", rhs has K = " << dimStr(rk);
  if (!compatibleDim(out.getDimSize(rank - 2), m) ||
      !compatibleDim(out.getDimSize(rank - 1), n))
    return emitOpError("result must be [..., ")
           << dimStr(m) << ", " << dimStr(n) << "], got " << out;
  return success();
}

//===----------------------------------------------------------------------===//
// Normalisations
//===----------------------------------------------------------------------===//

static LogicalResult verifyNorm(Operation *op, RankedTensorType in,
                                RankedTensorType out,
                                ArrayRef<std::pair<StringRef, Value>> params,
                                int64_t axis, APFloat epsilon) {
  if (in != out)
    return op->emitOpError("result type ")
           << out << " must equal the input type " << in;
  if (in.getRank() < 1)
    return op->emitOpError("input must have rank >= 1");
  FailureOr<int64_t> a = normaliseAxis(op, "axis", axis, in.getRank());
  if (failed(a))
    return failure();
  if (epsilon.isNaN() || epsilon.isNegative())
    return op->emitOpError("epsilon must be a non-negative number");
  ArrayRef<int64_t> normShape = in.getShape().drop_front(*a);
  for (auto [name, v] : params) {
    if (!v)
      continue;
    auto t = cast<RankedTensorType>(v.getType());
    if (t.getElementType() != in.getElementType())
      return op->emitOpError() << name << " element type " << t.getElementType()
                               << " differs from the input's";
    bool ok = t.getRank() == static_cast<int64_t>(normShape.size());
    for (int64_t i = 0; ok && i < t.getRank(); ++i)
      ok = compatibleDim(t.getDimSize(i), normShape[i]);
    if (!ok) {
      InFlightDiagnostic d = op->emitOpError()
                             << name << " must have the normalised shape [";
      llvm::interleaveComma(normShape, d, [&](int64_t x) { d << dimStr(x); });
      return d << "], got " << t;
    }
  }
  return success();
}

LogicalResult LayerNormOp::verify() {
  return verifyNorm(*this, getInput().getType(), getOutput().getType(),
                    {{"gamma", getGamma()}, {"beta", getBeta()}}, getAxis(),
                    getEpsilonAttr().getValue());
}

LogicalResult RMSNormOp::verify() {
  return verifyNorm(*this, getInput().getType(), getOutput().getType(),
                    {{"gamma", getGamma()}}, getAxis(),
                    getEpsilonAttr().getValue());
}

//===----------------------------------------------------------------------===//
// HadamardOp
//===----------------------------------------------------------------------===//

LogicalResult HadamardOp::verify() {
  auto t = getInput().getType();
  if (t.getRank() < 1)
    return emitOpError("input must have rank >= 1");
  int64_t n = t.getShape().back();
  if (ShapedType::isDynamic(n))
    return emitOpError("the last dimension must be static: the transform "
                       "size selects the Hadamard matrix");
  if (!isHadamardSize(n))
    return emitOpError("last dimension ")
           << n << " is not 2^k, 2^k * m or 2^k * m1 * m2 (m in {12, 20, 28})";
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizeOp / DequantizeOp
//===----------------------------------------------------------------------===//

/// Checks what quantize and dequantize share: the format against the
/// quantized element type, and scale/zero-point shapes against granularity.
static LogicalResult verifyQuantParams(Operation *op, RankedTensorType floatTy,
                                       RankedTensorType quantTy,
                                       RankedTensorType scaleTy,
                                       RankedTensorType zpTy, FormatAttr format,
                                       std::optional<int64_t> axis,
                                       std::optional<int64_t> group) {
  Type storage = format.getStorageType();
  if (quantTy.getElementType() != storage)
    return op->emitOpError("quantized element type ")
           << quantTy.getElementType() << " does not match format " << format
           << " (stored as " << storage << ")";
  if (floatTy.getRank() != quantTy.getRank())
    return op->emitOpError("float and quantized tensors differ in rank");
  for (int64_t i = 0; i < floatTy.getRank(); ++i)
    if (!compatibleDim(floatTy.getDimSize(i), quantTy.getDimSize(i)))
      return op->emitOpError("float and quantized tensors differ in "
                             "dimension ")
             << i;
  if (scaleTy.getElementType() != floatTy.getElementType())
    return op->emitOpError("scale element type ")
           << scaleTy.getElementType() << " must be the float element type "
           << floatTy.getElementType();
  if (zpTy) {
    if (format.isFloat())
      return op->emitOpError("float format ")
             << format << " takes no zero point";
    if (zpTy.getElementType() != storage)
      return op->emitOpError("zero point element type ")
             << zpTy.getElementType() << " must be the storage type "
             << storage;
    if (zpTy.getShape() != scaleTy.getShape())
      return op->emitOpError("zero point shape must equal the scale shape");
  }

  if (group && !axis)
    return op->emitOpError("group_size requires axis");
  SmallVector<int64_t> expected;
  if (axis) {
    FailureOr<int64_t> a = normaliseAxis(op, "axis", *axis, floatTy.getRank());
    if (failed(a))
      return failure();
    int64_t d = floatTy.getDimSize(*a);
    if (group) {
      if (*group < 1)
        return op->emitOpError("group_size must be >= 1, got ") << *group;
      expected.assign(floatTy.getShape().begin(), floatTy.getShape().end());
      expected[*a] = ShapedType::isDynamic(d) ? d : llvm::divideCeil(d, *group);
    } else {
      expected.push_back(d);
    }
  }
  bool ok = scaleTy.getRank() == static_cast<int64_t>(expected.size());
  for (int64_t i = 0; ok && i < scaleTy.getRank(); ++i)
    ok = compatibleDim(scaleTy.getDimSize(i), expected[i]);
  if (!ok) {
    InFlightDiagnostic d = op->emitOpError("scale shape must be [");
    llvm::interleaveComma(expected, d, [&](int64_t x) { d << dimStr(x); });
    d << "] for ";
    if (!axis)
      d << "per-tensor";
    else if (!group)
      d << "per-channel (axis " << *axis << ")";
    else
      d << "grouped (axis " << *axis << ", group_size " << *group << ")";
    return d << " quantization, got " << scaleTy;
  }
  return success();
}

static RankedTensorType optionalType(Value v) {
  return v ? cast<RankedTensorType>(v.getType()) : RankedTensorType();
}

LogicalResult QuantizeOp::verify() {
  if (getFormat().isMixture())
    return emitOpError("mixture format ")
           << getFormat()
           << " is chosen per slot when weights are quantized at compile "
              "time; qc.quantize does not produce it";
  return verifyQuantParams(*this, getInput().getType(), getOutput().getType(),
                           getScale().getType(), optionalType(getZeroPoint()),
                           getFormat(), getAxis(), getGroupSize());
}

LogicalResult DequantizeOp::verify() {
  if (getFormat().isMixture() && !getZeroPoint())
    return emitOpError("mixture format ")
           << getFormat()
           << " needs its per-slot table selectors (the third operand)";
  return verifyQuantParams(*this, getOutput().getType(), getInput().getType(),
                           getScale().getType(), optionalType(getZeroPoint()),
                           getFormat(), getAxis(), getGroupSize());
}

//===----------------------------------------------------------------------===//
// ObserveOp
//===----------------------------------------------------------------------===//

LogicalResult ObserveOp::verify() {
  if (getSlot().empty())
    return emitOpError("slot name must not be empty");
  if (std::optional<int64_t> axis = getChannelAxis())
    if (failed(normaliseAxis(*this, "channel_axis", *axis,
                             getInput().getType().getRank())))
      return failure();
  if (getSecondMoment() && !getChannelAxis())
    return emitOpError("second_moment needs a channel_axis");
  std::optional<ArrayRef<int64_t>> k = getPatchKernel(), st = getPatchStrides(),
                                   dl = getPatchDilations();
  if (!k && !st && !dl)
    return success();
  if (!k || !st || !dl || !getSecondMoment())
    return emitOpError("patch_kernel, patch_strides and patch_dilations come "
                       "together, with second_moment");
  int64_t rank = getInput().getType().getRank();
  int64_t axis =
      *getChannelAxis() < 0 ? *getChannelAxis() + rank : *getChannelAxis();
  size_t spatial = static_cast<size_t>(rank - axis - 1);
  if (k->size() != spatial || st->size() != spatial || dl->size() != spatial ||
      spatial == 0)
    return emitOpError("patch attributes need one entry per axis after the "
                       "channel axis (")
           << spatial << ")";
  for (size_t i = 0; i < spatial; ++i)
    if ((*k)[i] < 1 || (*st)[i] < 1 || (*dl)[i] < 1)
      return emitOpError("patch kernel, strides and dilations must be >= 1");
  return success();
}

//===----------------------------------------------------------------------===//
// QuantizedLinearOp / QuantizedContractionOp
//===----------------------------------------------------------------------===//

/// Sums of products of two integer codes of at most 8 bits are exact in i32
/// for reductions shorter than this (2^16 * 2^15 = 2^31).
static constexpr int64_t kMaxExactReduction = int64_t(1) << 16;

/// An operand of a quantized contraction: integer codes of at most 8 bits
/// stored as its format says.
static LogicalResult verifyCodes(Operation *op, StringRef what,
                                 RankedTensorType codes, FormatAttr format) {
  if (format.isFloat() || format.getBits() > 8)
    return op->emitOpError()
           << what << " format must be an integer of at most 8 bits, got "
           << format;
  if (codes.getElementType() != format.getStorageType())
    return op->emitOpError()
           << what << " element type " << codes.getElementType()
           << " does not match format " << format;
  return success();
}

/// A scale (and zero point) whose element type is the result's float type
/// and whose shape is `expected`.
static LogicalResult verifyScale(Operation *op, StringRef what,
                                 RankedTensorType scale, RankedTensorType zp,
                                 ArrayRef<int64_t> expected, Type floatTy,
                                 Type codeTy) {
  if (scale.getElementType() != floatTy)
    return op->emitOpError()
           << what << " scale element type " << scale.getElementType()
           << " must be the result's " << floatTy;
  bool ok = scale.getRank() == static_cast<int64_t>(expected.size());
  for (int64_t i = 0; ok && i < scale.getRank(); ++i)
    ok = compatibleDim(scale.getDimSize(i), expected[i]);
  if (!ok) {
    InFlightDiagnostic d = op->emitOpError()
                           << what << " scale shape must be [";
    llvm::interleaveComma(expected, d, [&](int64_t x) { d << dimStr(x); });
    return d << "], got " << scale;
  }
  if (zp &&
      (zp.getShape() != scale.getShape() || zp.getElementType() != codeTy))
    return op->emitOpError()
           << what << " zero point must be shaped as its scale, of the codes' "
           << "element type " << codeTy;
  return success();
}

LogicalResult QuantizedLinearOp::verify() {
  auto in = getInput().getType(), w = getWeight().getType(),
       out = getOutput().getType();
  if (failed(verifyCodes(*this, "input", in, getInputFormat())) ||
      failed(verifyCodes(*this, "weight", w, getWeightFormat())))
    return failure();
  if (in.getRank() < 1 || w.getRank() != 2 || out.getRank() != in.getRank())
    return emitOpError("expects input [..., K], weight [N, K] and a result "
                       "of the input's rank");
  int64_t k = w.getDimSize(1), n = w.getDimSize(0);
  if (ShapedType::isDynamic(k) || k >= kMaxExactReduction)
    return emitOpError("weight's K must be static and below 2^16 (sums of "
                       "code products exact in i32), got ")
           << dimStr(k);
  if (!compatibleDim(in.getShape().back(), k))
    return emitOpError("input's last dimension ")
           << dimStr(in.getShape().back()) << " differs from the weight's K "
           << k;
  for (int64_t i = 0; i + 1 < in.getRank(); ++i)
    if (!compatibleDim(in.getDimSize(i), out.getDimSize(i)))
      return emitOpError("result dimension ")
             << i << " differs from the input's";
  if (!compatibleDim(out.getShape().back(), n))
    return emitOpError("result's last dimension must be the weight's N = ")
           << dimStr(n);
  Type f = out.getElementType();
  auto zp = getInputZeroPoint()
                ? cast<RankedTensorType>(getInputZeroPoint().getType())
                : RankedTensorType();
  auto inScale = getInputScale().getType();
  SmallVector<int64_t> perRow(in.getShape());
  perRow.back() = 1;
  if (failed(verifyScale(*this, "input", inScale, zp,
                         inScale.getRank() == 0 ? ArrayRef<int64_t>{}
                                                : ArrayRef<int64_t>(perRow),
                         f, in.getElementType())))
    return failure();
  auto wScale = getWeightScale().getType();
  SmallVector<int64_t> perChannel = {n};
  if (failed(verifyScale(*this, "weight", wScale, {},
                         wScale.getRank() == 0 ? ArrayRef<int64_t>{}
                                               : ArrayRef<int64_t>(perChannel),
                         f, w.getElementType())))
    return failure();
  if (Value b = getBias()) {
    auto bt = cast<RankedTensorType>(b.getType());
    if (bt.getRank() != 1 || !compatibleDim(bt.getDimSize(0), n) ||
        bt.getElementType() != f)
      return emitOpError("bias must be [N] of the result's element type");
  }
  return success();
}

SmallVector<int64_t> QuantizedContractionOp::getStaticLoopRanges() {
  unsigned loops = getIteratorTypes().size();
  SmallVector<int64_t> ranges(loops, ShapedType::kDynamic);
  SmallVector<AffineMap> maps =
      llvm::to_vector(getIndexingMaps().getAsValueRange<AffineMapAttr>());
  Value operands[] = {getLhs(), getRhs(), getInit()};
  for (auto [map, v] : llvm::zip(maps, operands)) {
    auto t = cast<RankedTensorType>(v.getType());
    for (unsigned i = 0; i < map.getNumResults(); ++i)
      if (auto d = dyn_cast<AffineDimExpr>(map.getResult(i)))
        if (!t.isDynamicDim(i) && d.getPosition() < loops)
          ranges[d.getPosition()] = t.getDimSize(i);
  }
  return ranges;
}

LogicalResult QuantizedContractionOp::verify() {
  auto lhs = getLhs().getType(), rhs = getRhs().getType(),
       init = getInit().getType();
  if (failed(verifyCodes(*this, "lhs", lhs, getLhsFormat())) ||
      failed(verifyCodes(*this, "rhs", rhs, getRhsFormat())))
    return failure();
  if (init != getOutput().getType())
    return emitOpError("result type must equal init's");
  ArrayAttr iters = getIteratorTypes();
  for (Attribute a : iters) {
    StringRef s = cast<StringAttr>(a).getValue();
    if (s != "parallel" && s != "reduction")
      return emitOpError("iterator types are \"parallel\" or \"reduction\", "
                         "got \"")
             << s << "\"";
  }
  SmallVector<AffineMap> maps =
      llvm::to_vector(getIndexingMaps().getAsValueRange<AffineMapAttr>());
  RankedTensorType types[] = {lhs, rhs, init};
  if (maps.size() != 3)
    return emitOpError("expects 3 indexing maps (lhs, rhs, output)");
  for (unsigned i = 0; i < 3; ++i)
    if (maps[i].getNumDims() != iters.size() || maps[i].getNumSymbols() ||
        maps[i].getNumResults() != static_cast<unsigned>(types[i].getRank()))
      return emitOpError("indexing map #")
             << i << " must have " << iters.size()
             << " dims, no symbols and one result per operand dimension";
  AffineMap outMap = maps[2];
  if (!outMap.isProjectedPermutation())
    return emitOpError("the output map must be a projected permutation");
  for (AffineExpr e : outMap.getResults())
    if (isReductionLoop(cast<AffineDimExpr>(e).getPosition()))
      return emitOpError("the output map must not index a reduction loop");
  SmallVector<int64_t> ranges = getStaticLoopRanges();
  int64_t reduction = 1;
  for (unsigned i = 0; i < iters.size(); ++i) {
    if (!isReductionLoop(i))
      continue;
    if (ShapedType::isDynamic(ranges[i]))
      return emitOpError("reduction loop ")
             << i << " must have a static extent";
    reduction *= ranges[i];
  }
  if (reduction >= kMaxExactReduction)
    return emitOpError("the reduction (")
           << reduction
           << " steps) must be below 2^16: sums of code products exact in i32";
  Type f = init.getElementType();
  auto zp = getLhsZeroPoint()
                ? cast<RankedTensorType>(getLhsZeroPoint().getType())
                : RankedTensorType();
  if (failed(verifyScale(*this, "lhs", getLhsScale().getType(), zp, {}, f,
                         lhs.getElementType())))
    return failure();
  SmallVector<int64_t> channelShape;
  ArrayRef<int64_t> dims = getRhsChannelDims();
  for (size_t i = 0; i < dims.size(); ++i) {
    int64_t d = dims[i];
    if (d < 0 || d >= rhs.getRank() ||
        llvm::is_contained(dims.take_front(i), d))
      return emitOpError("rhs_channel_dims must be distinct dims of rhs");
    channelShape.push_back(rhs.getDimSize(d));
    if (rhs.getDimSize(d) == 1)
      continue;
    auto de = dyn_cast<AffineDimExpr>(maps[1].getResult(d));
    if (!de || isReductionLoop(de.getPosition()) ||
        !outMap.getResultPosition(de))
      return emitOpError("rhs channel dim ")
             << d << " must be indexed by a parallel loop of the output";
  }
  return verifyScale(*this, "rhs", getRhsScale().getType(), {}, channelShape, f,
                     rhs.getElementType());
}
