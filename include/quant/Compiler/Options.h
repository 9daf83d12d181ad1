//===- Options.h - everything a compile can be asked to do ------*- C++ -*-===//
//
// Part of quant. One options struct for the compile session, the C API and
// quant-compile. Options are set by name (setCompileOption: the names are
// quant-compile's flags without the dashes), so the tool, the C API and the
// Python package validate them in one place and report the same messages.
//
//===----------------------------------------------------------------------===//

#ifndef QUANT_COMPILER_OPTIONS_H
#define QUANT_COMPILER_OPTIONS_H

#include "quant/Compiler/Phase.h"
#include "quant/Runtime/QuantRuntime.h"

#include "llvm/ADT/StringMap.h"

#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace mlir::qc {

/// One array a caller hands over (compact row-major; copied at once).
struct ArrayRefView {
  const void *data = nullptr;
  QuantDLDataType dtype{2, 32, 1};
  std::vector<int64_t> shape;
};

/// A data set the caller provides instead of a directory: called with
/// index 0, 1, ...; fills one array per model input (declaration order) and
/// returns 1, or returns 0 after the last sample, or -1 on an error (with a
/// message in `error`, or a default one).
using SampleCallback = std::function<int(
    size_t index, std::vector<ArrayRefView> &inputs, std::string &error)>;

/// Calibration or evaluation data: a path (see calib::loadCalibrationSet)
/// or a callback; neither: none.
struct DataSource {
  std::string path;
  SampleCallback callback;
  bool empty() const { return path.empty() && !callback; }
  /// How messages name it ("'dir'" or "the caller's callback").
  std::string describe() const;
};

/// The user's quantization request.
struct QuantizeOptions {
  unsigned wBits = 8;
  std::string wFormat = "int";          ///< int or an FP format name
  std::string wGranularity = "channel"; ///< tensor | channel | group
  int64_t groupSize = 128;
  unsigned aBits = 8; ///< 0: weight-only
  std::string aFormat = "int";
  std::string aGranularity; ///< token | tensor; "" = default
  /// Dynamic activation scales cover this fraction of each run-time range.
  double aClip = 1.0;
  bool asym = false;
  /// ABQ-LLM's bit balance for 1- and 2-bit integer weights: the symmetric
  /// levels [-2^(b-1), 2^(b-1)] (ternary at 1 bit, five levels at 2), in
  /// (b + 1)-bit codes.
  bool bitBalance = false;
  DataSource calib; ///< empty: dynamic activations
  /// Range selection of static activation scales: "auto" (the default
  /// policy: percentile 99.99 for convolutions' inputs, minmax for the
  /// others) or a calib::parseMethod name applied to every layer.
  std::string calibMethod = "auto";
  size_t calibSamples = 0; ///< 0 = all
  /// Also gather x x^T of every observed layer input (what GPTQ reads).
  bool secondMoments = false;
  /// Smoothing (qc-smooth-fold): "off", "auto" (alpha searched per group)
  /// or an alpha in [0, 1]; with weight-only schemes also AWQ's clipping
  /// search. Needs calibration data. "" = the default policy
  /// (resolveSmoothing).
  std::string smooth;
  /// Rotation (qc-rotate): "off"; "auto": when a transformer's residual
  /// stream is found, rotate it and add online Hadamard transforms, else
  /// nothing; "on": the residual stream where found and online transforms
  /// in any model.
  std::string rotate = "auto";
  /// Weight rounding: "rtn" or "gptq" (needs calibration data; gathers
  /// second moments).
  std::string weightRounding = "rtn";
  /// Bias correction of convolutions (only with calibration data): "off";
  /// "weights": every convolution's weight rounding, computed from the
  /// per-channel input means (qc-quantize bias-correction=on); "on": that,
  /// and the mean its activations' rounding adds, measured by running the
  /// quantized model over the calibration data, in every convolution with
  /// quantized activations; "auto": the weights' part where it dominates
  /// (weight-only layers, weights narrower than the activations) and the
  /// activations' part everywhere.
  std::string biasCorrection = "auto";
  /// Passes of the activations' measured part: each compiles and runs the
  /// quantized model as corrected by the previous one.
  unsigned biasCorrectionPasses = 1;
  /// Linears with quantized activations (and calibration statistics): at
  /// most this many input channels of largest calibrated magnitude computed
  /// in float beside the quantized product (qc-quantize outlier-channels);
  /// 0: none.
  unsigned outlierChannels = 0;
  /// Precision policy: "default" keeps the boundary layers (no quantized
  /// layer before or after them: an embedding, a first convolution, an LM
  /// head or classifier) and depthwise convolutions at 8 bits where the
  /// scheme has fewer, and gives depthwise convolutions 16-bit integer
  /// activations; "none" applies the scheme everywhere. --config and
  /// --exclude override it.
  std::string policy = "default";
  std::vector<std::string> excludes; ///< node names, op types, globs
  std::string configPath;            ///< JSON per-layer overrides
  /// Mixed precision (qc-assign-precision): each budget bounds the layers'
  /// weights (0: none); any budget measures the sensitivity of every
  /// candidate on the calibration data and chooses exactly.
  double avgWBits = 0;     ///< average weight code bits of assigned layers
  double sizeBudgetMB = 0; ///< stored weight bytes of the model, in 10^6
  /// Summed latency of the assigned layers, in ms, as measured by the cost
  /// model (each layer timed alone under each candidate on this CPU).
  double latencyBudgetMs = 0;
  /// The cost model's cache file: "" = the default per-CPU file
  /// (costmodel/<cpu>-v<N>.json under ~/.cache/quant), "none" = no cache.
  std::string costCache;
  /// Weight candidates, comma-separated FORMAT[:GRANULARITY] (int1..int8,
  /// bitmod3, bitmod4 or an FP format; tensor, channel or gG / group:G).
  std::string candidates =
      "int2:g128,int3:g128,int4:g128,int5:channel,int6:channel,int8:channel";
  /// Activation candidates, comma-separated integer bits (2..16) or
  /// "none" (float); "" = each layer keeps its activation scheme.
  std::string actCandidates;
  /// Calibration samples the sensitivities are measured on (0: all).
  unsigned sensitivitySamples = 4;
  std::string writeConfig; ///< where the chosen schemes go, as a --config
  DataSource eval;         ///< held-out inputs for the report
  unsigned numThreads = 0; ///< 0 = one per core
  bool quiet = false;      ///< no progress display
};

/// One weight candidate of mixed precision.
struct WeightCandidate {
  std::string format = "int"; ///< int, bitmod or an FP format name
  unsigned bits = 8;
  std::string granularity = "channel"; ///< tensor | channel | group
  int64_t groupSize = 0;
  /// As written: "int4:g128".
  std::string spelling;
};

/// Parses --candidates; returns "" or a one-line message.
std::string parseWeightCandidates(llvm::StringRef text,
                                  std::vector<WeightCandidate> &out);

/// Parses --act-candidates into bits (0: float); "" or a message.
std::string parseActCandidates(llvm::StringRef text,
                               std::vector<unsigned> &out);

/// Whether a budget asks for mixed precision.
inline bool assignsPrecision(const QuantizeOptions &o) {
  return o.avgWBits > 0 || o.sizeBudgetMB > 0 || o.latencyBudgetMs > 0;
}

/// Whether `f` names a format: int, fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3,
/// fp4e2m1.
bool isKnownQuantFormat(llvm::StringRef f);

/// What --smooth amounts to: the value given, or by default "auto" with
/// calibration data, else "off" (measured: docs/benchmarks.md, "Accuracy
/// passes" and "Smoothing for per-token activations").
std::string resolveSmoothing(const QuantizeOptions &o);

/// Checks quantization option values; returns a one-line message or "".
std::string validateQuantizeOptions(const QuantizeOptions &options);

/// What a compile writes.
enum class OutputKind { SharedLibrary, Object, LLVMIR, MLIR, PTX, ONNX, None };

struct CompileOptions {
  // Input.
  /// Input name -> extents fixing its dynamic dimensions (-1 keeps one).
  llvm::StringMap<std::vector<int64_t>> inputShapes;
  /// --specialize: each a set of input extents (-1 keeps a dimension
  /// dynamic) for which the model.so carries a specialized copy of the
  /// code, tried in this order before the dynamic code.
  std::vector<llvm::StringMap<std::vector<int64_t>>> specializations;
  // Output.
  OutputKind output = OutputKind::SharedLibrary;
  /// Stop after this phase (MLIR output); unset: all of them.
  std::optional<CompilePhase> compileTo;
  bool elideWeights = false; ///< MLIR output: weight blobs elided
  bool timing = false;       ///< print each stage's wall time and peak RSS
  // Target.
  std::string target = "cpu";
  std::string mcpu = "native";
  /// --gpu=on: the model.so carries the GPU kernels (docs/gpu.md).
  bool gpu = false;
  /// GPU chips the GPU kernels are compiled for (--gpu-arch).
  std::vector<std::string> gpuChips = {"sm_80", "sm_89", "sm_90a"};
  /// Integer layers computed as bit planes (qc-bitplane): "auto" (where the
  /// target measured them faster: getBitPlaneRule), "on" or "off".
  std::string bitplane = "auto";
  std::string runtimeLibrary; ///< "" = found next to the running tool
  // Quantization.
  bool floatOnly = false;
  /// KV-cache storage (qc-quantize-kv-cache, in float and quantized
  /// compiles alike): "off", "int8" or "int4".
  std::string kvCache = "off";
  /// Elements of a cache row sharing one scale (0: the whole row, one
  /// token of one head).
  int64_t kvGroup = 0;
  /// Rotate key and value caches by a Hadamard transform (RotateKV): "on"
  /// or "off".
  std::string kvRotate = "on";
  /// Asymmetric cache codes (a zero point per group); unset: for int4
  /// (measured better on SmolLM2: docs/benchmarks.md, "KV cache").
  std::optional<bool> kvAsym;
  /// Fraction of each group's range its scale covers, (0, 1]; unset: 0.9
  /// for int4, 1 for int8.
  std::optional<double> kvClip;
  QuantizeOptions quantize;
  std::vector<std::string> reports; ///< .html / .json paths
  /// Recorded in the report ("" = none).
  std::string commandLine;
};

/// Sets the option `name` (a quant-compile flag without its dashes, e.g.
/// "wbits", "calib", "input-shape") from its text. Repeatable options
/// (exclude, report, input-shape, specialize) append. Flags without a value
/// (float, asym, quiet, elide-weights) take "", "true", "1", "false" or "0".
/// Returns "" or a one-line message naming the flag.
std::string setCompileOption(CompileOptions &options, llvm::StringRef name,
                             llvm::StringRef value);

/// The names setCompileOption knows, in the order --help lists them.
const std::vector<std::string> &getCompileOptionNames();

/// Checks the combination of options for a compile that writes
/// `outputPath` ("" = none given); returns "" or a one-line message.
std::string validateCompileOptions(const CompileOptions &options,
                                   llvm::StringRef outputPath);

} // namespace mlir::qc

#endif // QUANT_COMPILER_OPTIONS_H
