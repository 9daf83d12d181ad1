//===- QCAttrs.cpp - qc dialect attributes --------------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/IR/QCDialect.h"
#include "quant/Support/QuantMath.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectImplementation.h"
#include "mlir/IR/DialectResourceBlobManager.h"
#include "llvm/ADT/TypeSwitch.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qc;

#include "quant/Dialect/QC/IR/QCEnums.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "quant/Dialect/QC/IR/QCAttrs.cpp.inc"

void QCDialect::registerAttributes() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "quant/Dialect/QC/IR/QCAttrs.cpp.inc"
      >();
}

unsigned mlir::qc::getFloatFormatBits(FormatKind kind) {
  switch (kind) {
  case FormatKind::Int:
  case FormatKind::UInt:
  case FormatKind::BitMoD:
    return 0;
  case FormatKind::FP8E4M3:
  case FormatKind::FP8E5M2:
    return 8;
  case FormatKind::FP6E3M2:
  case FormatKind::FP6E2M3:
    return 6;
  case FormatKind::FP4E2M1:
    return 4;
  }
  return 0;
}

const llvm::fltSemantics *mlir::qc::getFormatSemantics(FormatKind kind) {
  switch (kind) {
  case FormatKind::Int:
  case FormatKind::UInt:
  case FormatKind::BitMoD:
    return nullptr;
  case FormatKind::FP8E4M3:
    return &llvm::APFloat::Float8E4M3FN();
  case FormatKind::FP8E5M2:
    return &llvm::APFloat::Float8E5M2();
  case FormatKind::FP6E3M2:
    return &llvm::APFloat::Float6E3M2FN();
  case FormatKind::FP6E2M3:
    return &llvm::APFloat::Float6E2M3FN();
  case FormatKind::FP4E2M1:
    return &llvm::APFloat::Float4E2M1FN();
  }
  return nullptr;
}

static constexpr unsigned kMaxIntFormatBits = 16;

LogicalResult FormatAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 FormatKind kind, unsigned bits) {
  if (kind == FormatKind::Int || kind == FormatKind::UInt) {
    if (bits < 1 || bits > kMaxIntFormatBits)
      return emitError() << "integer format width must be in [1, "
                         << kMaxIntFormatBits << "], got " << bits;
    return success();
  }
  if (kind == FormatKind::BitMoD) {
    if (bits != 3 && bits != 4)
      return emitError() << "mixture format width must be 3 or 4, got " << bits;
    return success();
  }
  if (bits != getFloatFormatBits(kind))
    return emitError() << "format " << stringifyFormatKind(kind) << " is "
                       << getFloatFormatBits(kind) << " bits wide, not "
                       << bits;
  return success();
}

/// The format spelled `spelling` (int4, uint8, fp8e4m3, ...), or null after
/// an error at `loc`.
static FormatAttr parseFormatSpelling(AsmParser &parser, SMLoc loc,
                                      StringRef spelling) {
  auto fail = [&]() -> FormatAttr {
    parser.emitError(loc) << "unknown quantized format '" << spelling
                          << "'; expected intN or uintN (N in 1..16), "
                             "fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3, fp4e2m1, "
                             "bitmod3 or bitmod4";
    return {};
  };
  for (auto [prefix, kind] : {std::make_pair("uint", FormatKind::UInt),
                              std::make_pair("int", FormatKind::Int),
                              std::make_pair("bitmod", FormatKind::BitMoD)}) {
    if (!spelling.starts_with(prefix))
      continue;
    unsigned bits = 0;
    if (spelling.drop_front(strlen(prefix)).getAsInteger(10, bits))
      return fail();
    return FormatAttr::getChecked([&]() { return parser.emitError(loc); },
                                  parser.getContext(), kind, bits);
  }
  std::optional<FormatKind> kind = symbolizeFormatKind(spelling);
  if (!kind || getFloatFormatBits(*kind) == 0)
    return fail();
  return FormatAttr::get(parser.getContext(), *kind);
}

Attribute FormatAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef spelling;
  if (parser.parseLess() || parser.parseKeyword(&spelling))
    return {};
  FormatAttr f = parseFormatSpelling(parser, loc, spelling);
  if (!f || parser.parseGreater())
    return {};
  return f;
}

static std::string formatSpelling(FormatAttr f) {
  std::string out = stringifyFormatKind(f.getKind()).str();
  if (!f.isFloat())
    out += std::to_string(f.getBits());
  return out;
}

void FormatAttr::print(AsmPrinter &printer) const {
  printer << '<' << formatSpelling(*this) << '>';
}

FormatAttr mlir::qc::getFormatFromOption(MLIRContext *ctx, StringRef name,
                                         unsigned bits, bool asym) {
  if (name == "int")
    return FormatAttr::get(ctx, asym ? FormatKind::UInt : FormatKind::Int,
                           bits);
  if (name == "bitmod")
    return (bits == 3 || bits == 4)
               ? FormatAttr::get(ctx, FormatKind::BitMoD, bits)
               : FormatAttr();
  std::optional<FormatKind> kind = symbolizeFormatKind(name);
  if (!kind || getFloatFormatBits(*kind) == 0)
    return {};
  return FormatAttr::get(ctx, *kind);
}

bool FormatAttr::isFloat() const { return getFloatFormatBits(getKind()) != 0; }

bool FormatAttr::isMixture() const { return getKind() == FormatKind::BitMoD; }

std::string FormatAttr::getFamilyName() const {
  return isInteger() ? std::string("int")
                     : stringifyFormatKind(getKind()).str();
}

bool FormatAttr::isSigned() const { return getKind() != FormatKind::UInt; }

Type FormatAttr::getStorageType() const {
  MLIRContext *ctx = getContext();
  switch (getKind()) {
  case FormatKind::Int:
  case FormatKind::UInt:
  case FormatKind::BitMoD:
    return IntegerType::get(ctx, getBits());
  case FormatKind::FP8E4M3:
    return Float8E4M3FNType::get(ctx);
  case FormatKind::FP8E5M2:
    return Float8E5M2Type::get(ctx);
  case FormatKind::FP6E3M2:
    return Float6E3M2FNType::get(ctx);
  case FormatKind::FP6E2M3:
    return Float6E2M3FNType::get(ctx);
  case FormatKind::FP4E2M1:
    return Float4E2M1FNType::get(ctx);
  }
  return {};
}

int64_t FormatAttr::getIntMin() const {
  return getIntFormatMin(getBits(), isSigned());
}

int64_t FormatAttr::getIntMax() const {
  return getIntFormatMax(getBits(), isSigned());
}

double FormatAttr::getMaxMagnitude() const {
  if (const llvm::fltSemantics *sem = getFormatSemantics(getKind())) {
    llvm::APFloat largest = llvm::APFloat::getLargest(*sem);
    bool losesInfo = false;
    largest.convert(llvm::APFloat::IEEEdouble(),
                    llvm::APFloat::rmNearestTiesToEven, &losesInfo);
    return largest.convertToDouble();
  }
  if (isMixture()) {
    double m = 0;
    for (unsigned t = 0; t < kMixtureTables; ++t)
      for (uint64_t c = 0; c < (uint64_t(1) << getBits()); ++c)
        m = std::max(m, std::fabs(getMixtureValue(getBits(), t, c)));
    return m;
  }
  return static_cast<double>(
      std::max(-getIntMin(), static_cast<int64_t>(getIntMax())));
}

//===----------------------------------------------------------------------===//
// SchemeAttr
//===----------------------------------------------------------------------===//

LogicalResult SchemeAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                 FormatAttr weight,
                                 WeightGranularity weightGranularity,
                                 int64_t groupSize, FormatAttr activation,
                                 ActGranularity activationGranularity,
                                 bool isStatic, StringRef calibration,
                                 FloatAttr rangeMin, FloatAttr rangeMax,
                                 bool balanced) {
  if (!weight) {
    if (activation || isStatic || groupSize || !calibration.empty() ||
        rangeMin || rangeMax || balanced)
      return emitError() << "a float scheme has no other field";
    return success();
  }
  if (!weight.isFloat() && weight.getBits() > 8)
    return emitError() << "integer weights must have 1..8 bits, got "
                       << weight.getBits();
  if (balanced && (weight.getKind() != FormatKind::Int ||
                   (weight.getBits() != 2 && weight.getBits() != 3)))
    return emitError() << "balanced weights are int2 (ternary) or int3 "
                          "(five levels)";
  if ((weightGranularity == WeightGranularity::Group) != (groupSize > 0))
    return emitError() << "a group size is given exactly for group "
                          "granularity, and is positive";
  if (activation && activation.isMixture())
    return emitError() << "mixture formats (" << activation
                       << ") quantize weights, not activations";
  if (activation && !activation.isFloat() && activation.getBits() < 2)
    return emitError() << "integer activations must have 2..16 bits, got "
                       << activation.getBits();
  if (!activation && (isStatic || !calibration.empty() || rangeMin || rangeMax))
    return emitError() << "weight-only scheme (a = none) with activation "
                          "scale fields";
  if (isStatic && activationGranularity == ActGranularity::Token)
    return emitError() << "per-token scales are computed at run time: a "
                          "static scale is per tensor";
  if (!isStatic && (!calibration.empty() || rangeMin || rangeMax))
    return emitError() << "calib and range apply to static scales only";
  if (static_cast<bool>(rangeMin) != static_cast<bool>(rangeMax))
    return emitError() << "range needs both bounds";
  if (rangeMin) {
    double lo = rangeMin.getValueAsDouble(), hi = rangeMax.getValueAsDouble();
    if (!std::isfinite(lo) || !std::isfinite(hi) || lo > hi)
      return emitError() << "range = [LO, HI] must be finite with LO <= HI";
  }
  return success();
}

Attribute SchemeAttr::parse(AsmParser &parser, Type) {
  MLIRContext *ctx = parser.getContext();
  auto emit = [&]() { return parser.emitError(parser.getCurrentLocation()); };
  if (parser.parseLess())
    return {};
  if (succeeded(parser.parseOptionalKeyword("float"))) {
    if (parser.parseGreater())
      return {};
    return SchemeAttr::get(ctx);
  }
  auto parseFormat = [&](FormatAttr &out) -> ParseResult {
    SMLoc loc = parser.getCurrentLocation();
    StringRef spelling;
    if (parser.parseKeyword(&spelling))
      return failure();
    out = parseFormatSpelling(parser, loc, spelling);
    return success(static_cast<bool>(out));
  };
  FormatAttr weight, activation;
  StringRef word;
  if (parser.parseKeyword("w") || parser.parseEqual() || parseFormat(weight) ||
      parser.parseKeyword(&word))
    return {};
  std::optional<WeightGranularity> wg = symbolizeWeightGranularity(word);
  if (!wg) {
    parser.emitError(parser.getCurrentLocation())
        << "expected tensor, channel or group, got '" << word << "'";
    return {};
  }
  int64_t groupSize = 0;
  if (*wg == WeightGranularity::Group && parser.parseInteger(groupSize))
    return {};
  bool balanced = succeeded(parser.parseOptionalKeyword("balanced"));
  if (parser.parseComma() || parser.parseKeyword("a") || parser.parseEqual())
    return {};
  ActGranularity ag = ActGranularity::Tensor;
  bool isStatic = false;
  std::string calibration;
  FloatAttr lo, hi;
  if (failed(parser.parseOptionalKeyword("none"))) {
    if (parseFormat(activation) || parser.parseKeyword(&word))
      return {};
    std::optional<ActGranularity> g = symbolizeActGranularity(word);
    if (!g) {
      parser.emitError(parser.getCurrentLocation())
          << "expected tensor or token, got '" << word << "'";
      return {};
    }
    ag = *g;
    if (parser.parseKeyword(&word))
      return {};
    if (word != "static" && word != "dynamic") {
      parser.emitError(parser.getCurrentLocation())
          << "expected static or dynamic, got '" << word << "'";
      return {};
    }
    isStatic = word == "static";
    while (succeeded(parser.parseOptionalComma())) {
      if (parser.parseKeyword(&word) || parser.parseEqual())
        return {};
      if (word == "calib") {
        if (parser.parseString(&calibration))
          return {};
      } else if (word == "range") {
        double l, h;
        if (parser.parseLSquare() || parser.parseFloat(l) ||
            parser.parseComma() || parser.parseFloat(h) ||
            parser.parseRSquare())
          return {};
        lo = FloatAttr::get(Float64Type::get(ctx), l);
        hi = FloatAttr::get(Float64Type::get(ctx), h);
      } else {
        parser.emitError(parser.getCurrentLocation())
            << "expected calib or range, got '" << word << "'";
        return {};
      }
    }
  }
  if (parser.parseGreater())
    return {};
  return SchemeAttr::getChecked(emit, ctx, weight, *wg, groupSize, activation,
                                ag, isStatic, calibration, lo, hi, balanced);
}

void SchemeAttr::print(AsmPrinter &printer) const {
  printer << '<';
  if (isFloat()) {
    printer << "float>";
    return;
  }
  printer << "w = " << formatSpelling(getWeight()) << ' '
          << stringifyWeightGranularity(getWeightGranularity());
  if (getWeightGranularity() == WeightGranularity::Group)
    printer << ' ' << getGroupSize();
  if (getBalanced())
    printer << " balanced";
  printer << ", a = ";
  if (!getActivation()) {
    printer << "none>";
    return;
  }
  printer << formatSpelling(getActivation()) << ' '
          << stringifyActGranularity(getActivationGranularity())
          << (getIsStatic() ? " static" : " dynamic");
  if (!getCalibration().empty()) {
    printer << ", calib = ";
    printer.printString(getCalibration());
  }
  if (getRangeMin()) {
    printer << ", range = [";
    printer.printFloat(getRangeMin().getValue());
    printer << ", ";
    printer.printFloat(getRangeMax().getValue());
    printer << ']';
  }
  printer << '>';
}

std::string SchemeAttr::describe() const {
  if (isFloat())
    return "float (excluded)";
  FormatAttr w = getWeight();
  auto name = [](FormatAttr f) { return f.getFamilyName(); };
  // A balanced weight is named by its levels: W2 for int3's {-2..2}
  // (2^(b-1) + 1 levels, b-bit codes), W1.58 for int2's ternary.
  std::string bits = std::to_string(w.getBits());
  if (getBalanced())
    bits = w.getBits() == 2 ? "1.58" : std::to_string(w.getBits() - 1);
  std::string out = "W" + bits + " " + name(w) + " ";
  out +=
      getWeightGranularity() == WeightGranularity::Group
          ? "g" + std::to_string(getGroupSize())
          : "per-" + stringifyWeightGranularity(getWeightGranularity()).str();
  if (!w.isMixture())
    out += w.getKind() == FormatKind::UInt ? " asym" : " sym";
  if (getBalanced())
    out += " balanced (" + std::to_string(getWeightCodeMax() * 2 + 1) +
           " levels, " + std::to_string(w.getBits()) + "-bit codes)";
  FormatAttr a = getActivation();
  if (!a)
    return out + " / A16 float (weight-only)";
  return out + " / A" + std::to_string(a.getBits()) + " " + name(a) + " per-" +
         stringifyActGranularity(getActivationGranularity()).str() +
         (getIsStatic() ? " static" : " dynamic");
}

SchemeAttr SchemeAttr::withRange(double lo, double hi) const {
  Type f64 = Float64Type::get(getContext());
  return SchemeAttr::get(getContext(), getWeight(), getWeightGranularity(),
                         getGroupSize(), getActivation(),
                         getActivationGranularity(), getIsStatic(),
                         getCalibration(), FloatAttr::get(f64, lo),
                         FloatAttr::get(f64, hi), getBalanced());
}

int64_t SchemeAttr::getWeightCodeMin() const {
  return getBalanced() ? -getWeightCodeMax() : getWeight().getIntMin();
}

int64_t SchemeAttr::getWeightCodeMax() const {
  return getBalanced() ? int64_t(1) << (getWeight().getBits() - 2)
                       : getWeight().getIntMax();
}

//===----------------------------------------------------------------------===//
// EncodingAttr
//===----------------------------------------------------------------------===//

LogicalResult EncodingAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                                   EncodingKind kind, int64_t panel,
                                   int64_t unroll, int64_t operand,
                                   bool signFlip) {
  if (unroll < 1)
    return emitError() << "unroll must be >= 1";
  if ((kind == EncodingKind::Panels) != (panel > 0))
    return emitError() << "a panel width is given exactly for panels, and is "
                          "positive";
  if (kind != EncodingKind::Dot4 && (operand != 0 || signFlip))
    return emitError() << "operand and signFlip belong to dot4";
  if (kind == EncodingKind::Dot4 && (operand < 0 || operand > 1 || unroll != 1))
    return emitError() << "dot4: operand is 0 or 1, and there is no unroll";
  return success();
}

//===----------------------------------------------------------------------===//
// TensorStatsAttr
//===----------------------------------------------------------------------===//

namespace {
/// A rank-1 (or rank-2 [n, n]) elements attribute of `n` elements of `elt`.
bool hasShape(DenseElementsAttr a, ArrayRef<int64_t> shape, Type elt) {
  return a.getType().getShape() == shape && a.getElementType() == elt;
}
} // namespace

LogicalResult TensorStatsAttr::verify(
    function_ref<InFlightDiagnostic()> emitError, uint64_t count, uint64_t,
    uint64_t, uint64_t zeros, FloatAttr min, FloatAttr max, FloatAttr sum,
    FloatAttr sumSq, FloatAttr histRange, DenseIntElementsAttr histogram,
    std::optional<int64_t> channelAxis, DenseFPElementsAttr channelMin,
    DenseFPElementsAttr channelMax, DenseFPElementsAttr channelSumSq,
    DenseIntElementsAttr channelCount, uint64_t rows, ElementsAttr secondMoment,
    ElementsAttr rowSample, DenseFPElementsAttr channelSum,
    DenseI64ArrayAttr patchKernel) {
  double lo = min.getValueAsDouble(), hi = max.getValueAsDouble();
  if (!std::isfinite(lo) || !std::isfinite(hi) ||
      !std::isfinite(sum.getValueAsDouble()) ||
      !std::isfinite(sumSq.getValueAsDouble()))
    return emitError() << "min, max, sum and sumSq must be finite";
  if (count && lo > hi)
    return emitError() << "min must not exceed max";
  if (zeros > count)
    return emitError() << "zeros cannot exceed count";
  if (static_cast<bool>(histRange) != static_cast<bool>(histogram))
    return emitError() << "histRange and histogram come together";
  if (histogram) {
    if (histogram.getType().getRank() != 1 || histogram.getNumElements() < 2 ||
        histogram.getNumElements() % 2 ||
        !histogram.getElementType().isInteger(64))
      return emitError() << "the histogram is an even number of i64 bins";
    double r = histRange.getValueAsDouble();
    if (!std::isfinite(r) || r < 0)
      return emitError() << "histRange must be finite and >= 0";
    uint64_t total = 0;
    for (const APInt &v : histogram.getValues<APInt>()) {
      if (v.isNegative())
        return emitError() << "histogram bins must be >= 0";
      total += v.getZExtValue();
    }
    if (total != count)
      return emitError() << "the histogram holds " << total
                         << " elements, count is " << count;
  }
  bool any = channelMin || channelMax || channelSumSq || channelCount;
  bool all = channelMin && channelMax && channelSumSq && channelCount;
  if (any != all || all != channelAxis.has_value())
    return emitError() << "channelAxis, channelMin, channelMax, channelSumSq "
                          "and channelCount come together";
  int64_t c = all ? channelMin.getNumElements() : 0;
  if (all) {
    Type f64 = Float64Type::get(min.getContext());
    if (!hasShape(channelMin, {c}, f64) || !hasShape(channelMax, {c}, f64) ||
        !hasShape(channelSumSq, {c}, f64) ||
        channelCount.getType().getShape() != ArrayRef<int64_t>{c} ||
        !channelCount.getElementType().isInteger(64))
      return emitError() << "per-channel fields must be f64 [C] (counts i64 "
                            "[C]) of one length C";
  }
  if (channelSum &&
      (!all || !hasShape(channelSum, {c}, Float64Type::get(min.getContext()))))
    return emitError() << "channelSum must be f64 [C] beside the other "
                          "per-channel fields";
  if (static_cast<bool>(secondMoment) != (rows > 0))
    return emitError() << "a second moment comes with rows > 0";
  if (patchKernel &&
      (!secondMoment || patchKernel.empty() ||
       llvm::any_of(patchKernel.asArrayRef(), [](int64_t k) { return k < 1; })))
    return emitError() << "patchKernel is positive extents beside a second "
                          "moment";
  int64_t d = c;
  if (patchKernel)
    for (int64_t k : patchKernel.asArrayRef())
      d *= k;
  if (secondMoment &&
      (!all ||
       secondMoment.getShapedType().getShape() != ArrayRef<int64_t>{d, d} ||
       !secondMoment.getElementType().isF32()))
    return emitError() << "the second moment must be f32 [C, C] (C prod(k) "
                          "square with patchKernel) beside the per-channel "
                          "fields";
  if (rowSample && (!all || rowSample.getShapedType().getRank() != 2 ||
                    rowSample.getShapedType().getDimSize(1) != c ||
                    !rowSample.getElementType().isF32()))
    return emitError() << "the row sample must be f32 [R, C] beside the "
                          "per-channel fields";
  return success();
}

int64_t TensorStatsAttr::getNumChannels() const {
  return getChannelMin() ? getChannelMin().getNumElements() : 0;
}

double TensorStatsAttr::getAbsMax() const {
  if (!getCount())
    return 0;
  return std::max(std::fabs(getMin().getValueAsDouble()),
                  std::fabs(getMax().getValueAsDouble()));
}

double TensorStatsAttr::getChannelAbsMax(int64_t c) const {
  if (c < 0 || c >= getNumChannels())
    return 0;
  auto lo = getChannelMin().getValues<double>()[c];
  auto hi = getChannelMax().getValues<double>()[c];
  if (getChannelCount().getValues<int64_t>()[c] == 0)
    return 0;
  return std::max(std::fabs(lo), std::fabs(hi));
}

namespace {
/// The f32 values of a statistics matrix (dense or a resource blob; empty
/// without one or when its blob is gone).
std::vector<float> floatValues(ElementsAttr m) {
  if (!m)
    return {};
  if (auto r = dyn_cast<DenseResourceElementsAttr>(m)) {
    AsmResourceBlob *blob = r.getRawHandle().getBlob();
    if (!blob)
      return {};
    ArrayRef<float> data = blob->getDataAs<float>();
    if (static_cast<int64_t>(data.size()) != m.getNumElements())
      return {};
    return std::vector<float>(data.begin(), data.end());
  }
  auto values = cast<DenseElementsAttr>(m).getValues<float>();
  return std::vector<float>(values.begin(), values.end());
}
} // namespace

std::vector<float> TensorStatsAttr::getSecondMomentValues() const {
  return floatValues(getSecondMoment());
}

std::vector<float> TensorStatsAttr::getRowSampleValues() const {
  return floatValues(getRowSample());
}

int64_t TensorStatsAttr::getNumSampleRows() const {
  return getRowSample() ? getRowSample().getShapedType().getDimSize(0) : 0;
}
