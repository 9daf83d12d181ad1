//===- StatsTable.cpp - calibration statistics <-> #qc.tensor_stats -------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Quantize/StatsTable.h"
#include "quant/Dialect/QC/Utils/Statistics.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/DialectResourceBlobManager.h"

using namespace mlir;
using namespace mlir::qc;

namespace {

template <typename T>
DenseElementsAttr vectorAttr(Type elt, ArrayRef<int64_t> shape,
                             ArrayRef<T> values) {
  return DenseElementsAttr::get(RankedTensorType::get(shape, elt), values);
}

template <typename T, typename A> std::vector<T> valuesOf(A attr) {
  if (!attr)
    return {};
  auto range = attr.template getValues<T>();
  return std::vector<T>(range.begin(), range.end());
}

} // namespace

TensorStatsAttr mlir::qc::toTensorStatsAttr(MLIRContext *ctx,
                                            const calib::TensorStats &s) {
  Builder b(ctx);
  Type f64 = b.getF64Type(), i64 = b.getI64Type();
  auto f = [&](double v) { return b.getF64FloatAttr(v); };
  FloatAttr histRange;
  DenseIntElementsAttr histogram;
  if (!s.hist.empty()) {
    histRange = f(s.range);
    std::vector<int64_t> bins(s.hist.begin(), s.hist.end());
    histogram = cast<DenseIntElementsAttr>(
        vectorAttr<int64_t>(i64, {static_cast<int64_t>(bins.size())}, bins));
  }
  std::optional<int64_t> axis;
  DenseFPElementsAttr cMin, cMax, cSq, cSum;
  ElementsAttr moment, sample;
  DenseI64ArrayAttr patch;
  DenseIntElementsAttr cCount;
  uint64_t rows = 0;
  if (s.perChannelValid && !s.channelCount.empty() && s.channelAxis) {
    int64_t c = static_cast<int64_t>(s.channelCount.size());
    axis = *s.channelAxis;
    cMin =
        cast<DenseFPElementsAttr>(vectorAttr<double>(f64, {c}, s.channelMin));
    cMax =
        cast<DenseFPElementsAttr>(vectorAttr<double>(f64, {c}, s.channelMax));
    cSq =
        cast<DenseFPElementsAttr>(vectorAttr<double>(f64, {c}, s.channelSumSq));
    if (s.channelSum.size() == size_t(c))
      cSum =
          cast<DenseFPElementsAttr>(vectorAttr<double>(f64, {c}, s.channelSum));
    std::vector<int64_t> counts(s.channelCount.begin(), s.channelCount.end());
    cCount = cast<DenseIntElementsAttr>(vectorAttr<int64_t>(i64, {c}, counts));
    if (s.secondMoment && s.secondMomentRows) {
      int64_t d = s.secondMomentDim(c);
      std::vector<float> mean(d * d);
      for (int64_t i = 0; i < d; ++i)
        for (int64_t j = 0; j < d; ++j)
          mean[i * d + j] = static_cast<float>(s.secondMomentMean(i, j));
      rows = s.secondMomentRows;
      moment = makeSecondMomentAttr(ctx, d, mean);
      if (!s.patchKernel.empty())
        patch = DenseI64ArrayAttr::get(ctx, s.patchKernel);
    }
    if (!s.rowSample.empty() && s.rowSample.size() % c == 0)
      sample = makeRowSampleAttr(ctx, c, s.rowSample);
  }
  double lo = s.count ? s.min : 0, hi = s.count ? s.max : 0;
  return TensorStatsAttr::get(ctx, s.count, s.numNaN, s.numInf, s.numZeros,
                              f(lo), f(hi), f(s.sum), f(s.sumSq), histRange,
                              histogram, axis, cMin, cMax, cSq, cCount, rows,
                              moment, sample, cSum, patch);
}

calib::TensorStats mlir::qc::fromTensorStatsAttr(TensorStatsAttr a) {
  calib::TensorStats s;
  s.count = a.getCount();
  s.numNaN = a.getNan();
  s.numInf = a.getInf();
  s.numZeros = a.getZeros();
  s.min = a.getMin().getValueAsDouble();
  s.max = a.getMax().getValueAsDouble();
  s.sum = a.getSum().getValueAsDouble();
  s.sumSq = a.getSumSq().getValueAsDouble();
  if (a.getHistogram()) {
    s.range = a.getHistRange().getValueAsDouble();
    for (int64_t v : valuesOf<int64_t>(a.getHistogram()))
      s.hist.push_back(static_cast<uint64_t>(v));
  }
  s.channelAxis = a.getChannelAxis();
  s.perChannelValid = a.getChannelAxis().has_value();
  s.channelMin = valuesOf<double>(a.getChannelMin());
  s.channelMax = valuesOf<double>(a.getChannelMax());
  s.channelSumSq = valuesOf<double>(a.getChannelSumSq());
  // Absent in tables written before it existed: stays empty (no means).
  s.channelSum = valuesOf<double>(a.getChannelSum());
  for (int64_t v : valuesOf<int64_t>(a.getChannelCount()))
    s.channelCount.push_back(static_cast<uint64_t>(v));
  if (a.getSecondMoment()) {
    s.secondMoment = true;
    s.secondMomentRows = a.getRows();
    if (DenseI64ArrayAttr k = a.getPatchKernel())
      s.patchKernel.assign(k.asArrayRef().begin(), k.asArrayRef().end());
    std::vector<float> mean = a.getSecondMomentValues();
    auto c = static_cast<size_t>(
        s.secondMomentDim(static_cast<int64_t>(s.channelCount.size())));
    s.secondMomentSum.assign(c * c, 0);
    for (size_t i = 0; mean.size() == c * c && i < c; ++i)
      for (size_t j = i; j < c; ++j)
        s.secondMomentSum[i * c + j] =
            static_cast<double>(mean[i * c + j]) * s.secondMomentRows;
  }
  // The row sample is smoothing's alone: range selection does not read it.
  return s;
}
