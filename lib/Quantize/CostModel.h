//===- CostModel.h - measured layer latencies, cached per CPU ---*- C++ -*-===//
//
// Part of quant (internal to lib/Quantize). Mixed precision's latency
// budget: what one layer costs under one scheme on this CPU, measured by
// compiling a library that computes only that layer (its weights, its
// shapes, the candidate scheme, through the same pipeline and kernels as
// the model) and timing it; kept in a cache file per CPU model so that a
// shape and scheme are measured once.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_LIB_QUANTIZE_COSTMODEL_H
#define QUANT_LIB_QUANTIZE_COSTMODEL_H

#include "quant/Compiler/Session.h"
#include "quant/Dialect/QC/IR/QCAttrs.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"

#include "llvm/ADT/StringMap.h"

#include <functional>
#include <string>

namespace mlir::qc::detail {

/// Bump when generated kernels change enough that cached timings mislead.
constexpr int kCostModelVersion = 1;

class LayerCostModel {
public:
  /// `scratch(name)` gives a path for a temporary library; `cachePath` ""
  /// keeps nothing between compiles.
  LayerCostModel(CompileSession &session,
                 std::function<FailureOr<std::string>(StringRef)> scratch,
                 unsigned numThreads, std::string cachePath);

  /// Milliseconds of one call of `layer` computed with `scheme` (a static
  /// activation scale without a range yet gets [-1, 1]: the kernel is the
  /// same): the median of timed runs, from the cache when there.
  /// `bitplane`, when given, is set on the copy as `qc.bitplane` (the
  /// integer product on bit planes or not).
  FailureOr<double> latency(const QuantLayer &layer, SchemeAttr scheme,
                            std::optional<bool> bitplane = std::nullopt);

  /// Writes the cache with what was measured; a message on failure.
  std::string save() const;

  size_t numMeasured() const { return measured; }
  size_t numCached() const { return cachedHits; }

  /// The default cache file for this CPU: $QUANT_CACHE_DIR, else
  /// $XDG_CACHE_HOME/quant, else ~/.cache/quant, then
  /// costmodel/<cpu>-v<version>.json; "" when no directory is known.
  static std::string defaultCachePath();

private:
  /// The median ms of timed calls of the one-input library at `path`.
  FailureOr<double> timeLibrary(StringRef path, Operation *op);
  /// The fixed cost of a call: an elementwise op over `l`'s activation.
  FailureOr<double> baseline(const QuantLayer &l);

  CompileSession &session;
  std::function<FailureOr<std::string>(StringRef)> scratch;
  unsigned numThreads;
  std::string cachePath;
  llvm::StringMap<double> cache;
  size_t measured = 0, cachedHits = 0;
};

} // namespace mlir::qc::detail

#endif // QUANT_LIB_QUANTIZE_COSTMODEL_H
