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
#include "llvm/ADT/TypeSwitch.h"

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
  if (bits != getFloatFormatBits(kind))
    return emitError() << "format " << stringifyFormatKind(kind) << " is "
                       << getFloatFormatBits(kind) << " bits wide, not "
                       << bits;
  return success();
}

Attribute FormatAttr::parse(AsmParser &parser, Type) {
  SMLoc loc = parser.getCurrentLocation();
  StringRef spelling;
  if (parser.parseLess() || parser.parseKeyword(&spelling) ||
      parser.parseGreater())
    return {};
  auto fail = [&]() -> Attribute {
    parser.emitError(loc) << "unknown quantized format '" << spelling
                          << "'; expected intN or uintN (N in 1..16), "
                             "fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3 or fp4e2m1";
    return {};
  };
  for (auto [prefix, kind] : {std::make_pair("uint", FormatKind::UInt),
                              std::make_pair("int", FormatKind::Int)}) {
    if (!spelling.starts_with(prefix))
      continue;
    unsigned bits = 0;
    if (spelling.drop_front(strlen(prefix)).getAsInteger(10, bits))
      return fail();
    return getChecked([&]() { return parser.emitError(loc); },
                      parser.getContext(), kind, bits);
  }
  std::optional<FormatKind> kind = symbolizeFormatKind(spelling);
  if (!kind || *kind == FormatKind::Int || *kind == FormatKind::UInt)
    return fail();
  return get(parser.getContext(), *kind);
}

void FormatAttr::print(AsmPrinter &printer) const {
  printer << '<' << stringifyFormatKind(getKind());
  if (!isFloat())
    printer << getBits();
  printer << '>';
}

bool FormatAttr::isFloat() const {
  return getKind() != FormatKind::Int && getKind() != FormatKind::UInt;
}

bool FormatAttr::isSigned() const { return getKind() != FormatKind::UInt; }

Type FormatAttr::getStorageType() const {
  MLIRContext *ctx = getContext();
  switch (getKind()) {
  case FormatKind::Int:
  case FormatKind::UInt:
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
  return static_cast<double>(
      std::max(-getIntMin(), static_cast<int64_t>(getIntMax())));
}
