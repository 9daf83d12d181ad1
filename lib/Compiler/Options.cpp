//===- Options.cpp - compile options by name, validated in one place ------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Compiler/Options.h"
#include "quant/Calibrate/RangeSelection.h"

#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/Support/Path.h"

#include <cmath>

using namespace mlir;
using namespace mlir::qc;
using llvm::StringRef;

static const char *const kFormats[] = {
    "int", "fp8e4m3", "fp8e5m2", "fp6e3m2", "fp6e2m3", "fp4e2m1", "bitmod"};

bool mlir::qc::isKnownQuantFormat(StringRef f) {
  return llvm::is_contained(kFormats, f);
}

std::string DataSource::describe() const {
  return callback ? "the caller's callback" : "'" + path + "'";
}

std::string mlir::qc::resolveSmoothing(const QuantizeOptions &o) {
  if (!o.smooth.empty())
    return o.smooth;
  return o.calib.empty() ? "off" : "auto";
}

std::string mlir::qc::validateQuantizeOptions(const QuantizeOptions &o) {
  if (!isKnownQuantFormat(o.wFormat))
    return "--wformat must be int, fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3, "
           "fp4e2m1 or bitmod, got '" +
           o.wFormat + "'";
  if (!isKnownQuantFormat(o.aFormat) || o.aFormat == "bitmod")
    return "--aformat must be int, fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3 or "
           "fp4e2m1, got '" +
           o.aFormat + "'";
  if (o.wFormat == "bitmod" && o.wBits != 3 && o.wBits != 4)
    return "--wformat bitmod takes --wbits 3 or 4, got " +
           std::to_string(o.wBits);
  if (o.wFormat == "int" && (o.wBits < 1 || o.wBits > 8))
    return "--wbits must be in 1..8, got " + std::to_string(o.wBits);
  if (o.aFormat == "int" && o.aBits != 0 && (o.aBits < 2 || o.aBits > 16))
    return "--abits must be in 2..16 or none, got " + std::to_string(o.aBits);
  if (!o.aGranularity.empty() && o.aGranularity != "token" &&
      o.aGranularity != "tensor")
    return "--agranularity must be token or tensor, got '" + o.aGranularity +
           "'";
  if (o.secondMoments && o.calib.empty())
    return "--calib-second-moments needs calibration data (--calib)";
  if (!o.smooth.empty() && o.smooth != "off" && o.smooth != "auto") {
    double a;
    if (StringRef(o.smooth).getAsDouble(a) || !(a >= 0 && a <= 1))
      return "--smooth must be off, auto or an alpha in [0, 1], got '" +
             o.smooth + "'";
  }
  if (!o.smooth.empty() && o.smooth != "off" && o.calib.empty())
    return "--smooth needs calibration data (--calib): it reads the "
           "per-channel ranges of each layer's input";
  if (o.rotate != "auto" && o.rotate != "residual" && o.rotate != "online" &&
      o.rotate != "off")
    return "--rotate must be auto, residual, online or off, got '" + o.rotate +
           "'";
  if (o.policy != "default" && o.policy != "none")
    return "--policy must be default or none, got '" + o.policy + "'";
  if (o.weightRounding != "rtn" && o.weightRounding != "gptq")
    return "--weight-rounding must be rtn or gptq, got '" + o.weightRounding +
           "'";
  if (o.biasCorrection != "auto" && o.biasCorrection != "on" &&
      o.biasCorrection != "weights" && o.biasCorrection != "off")
    return "--bias-correction must be auto, on, weights or off, got '" +
           o.biasCorrection + "'";
  if (o.outlierChannels > 256)
    return "--outlier-channels must be in 0..256, got " +
           std::to_string(o.outlierChannels);
  if (o.biasCorrectionPasses < 1 || o.biasCorrectionPasses > 16)
    return "--bias-correction-passes must be in 1..16, got " +
           std::to_string(o.biasCorrectionPasses);
  if (o.weightRounding == "gptq" && o.calib.empty())
    return "--weight-rounding gptq needs calibration data (--calib): it "
           "reads the second moment of each layer's input";
  calib::Method m;
  std::string err;
  if (o.calibMethod != "auto" && !calib::parseMethod(o.calibMethod, m, err))
    return "--calib-method: " + err;
  if (o.asym && o.wFormat != "int" && o.aFormat != "int")
    return "--asym applies to integer formats only";
  if (o.bitBalance && (o.wFormat != "int" || o.wBits > 2 || o.asym))
    return "--bit-balance applies to symmetric integer weights of 1 or 2 "
           "bits (--wbits 1|2, no --asym)";
  std::vector<WeightCandidate> cands;
  if (std::string e = parseWeightCandidates(o.candidates, cands); !e.empty())
    return e;
  std::vector<unsigned> acts;
  if (std::string e = parseActCandidates(o.actCandidates, acts); !e.empty())
    return e;
  if (assignsPrecision(o) && o.calib.empty())
    return std::string(o.avgWBits > 0       ? "--avg-wbits"
                       : o.sizeBudgetMB > 0 ? "--size-budget"
                                            : "--latency-budget") +
           " needs calibration data (--calib): each layer's sensitivity to "
           "each candidate is measured on it";
  if (!o.writeConfig.empty() && !assignsPrecision(o))
    return "--write-config writes the schemes that --avg-wbits, "
           "--size-budget or --latency-budget chose: give one";
  return "";
}

std::string mlir::qc::parseActCandidates(StringRef text,
                                         std::vector<unsigned> &out) {
  out.clear();
  SmallVector<StringRef> parts;
  text.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (StringRef p : parts) {
    p = p.trim();
    unsigned bits;
    if (p == "none")
      bits = 0;
    else if (p.getAsInteger(10, bits) || bits < 2 || bits > 16)
      return "--act-candidates: '" + p.str() +
             "': activation candidates are integer bits 2..16 or none";
    if (llvm::is_contained(out, bits))
      return "--act-candidates: '" + p.str() + "' is given twice";
    out.push_back(bits);
  }
  return "";
}

std::string mlir::qc::parseWeightCandidates(StringRef text,
                                            std::vector<WeightCandidate> &out) {
  out.clear();
  SmallVector<StringRef> parts;
  text.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (StringRef p : parts) {
    p = p.trim();
    auto [fmt, gran] = p.split(':');
    WeightCandidate c;
    c.spelling = p.str();
    auto bad = [&](const std::string &why) {
      return "--candidates: '" + p.str() + "': " + why;
    };
    if (fmt.starts_with("int")) {
      unsigned bits;
      if (fmt.drop_front(3).getAsInteger(10, bits) || bits < 1 || bits > 8)
        return bad("integer candidates are int1 .. int8");
      c.bits = bits;
    } else if (fmt.starts_with("bitmod")) {
      unsigned bits;
      if (fmt.drop_front(6).getAsInteger(10, bits) || bits < 3 || bits > 4)
        return bad("mixture candidates are bitmod3 and bitmod4");
      c.format = "bitmod";
      c.bits = bits;
    } else if (isKnownQuantFormat(fmt) && fmt != "int" && fmt != "bitmod") {
      c.format = fmt.str();
      c.bits = fmt.starts_with("fp8") ? 8 : fmt.starts_with("fp6") ? 6 : 4;
    } else {
      return bad("the format must be int1 .. int8, bitmod3, bitmod4, "
                 "fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3 or fp4e2m1");
    }
    if (gran.empty() || gran == "channel") {
      c.granularity = "channel";
    } else if (gran == "tensor") {
      c.granularity = "tensor";
    } else {
      StringRef g = gran;
      if (!(g.consume_front("group:") || g.consume_front("g")) ||
          g.getAsInteger(10, c.groupSize) || c.groupSize < 1)
        return bad("the granularity must be tensor, channel, gG or group:G");
      c.granularity = "group";
    }
    out.push_back(std::move(c));
  }
  if (out.empty())
    return "--candidates: no candidate given";
  return "";
}

namespace {
/// A flag's value as a boolean ("" = given without a value = true).
bool parseFlag(StringRef name, StringRef v, bool &out, std::string &err) {
  if (v.empty() || v == "true" || v == "1") {
    out = true;
    return true;
  }
  if (v == "false" || v == "0") {
    out = false;
    return true;
  }
  err = "--" + name.str() + " takes true or false, got '" + v.str() + "'";
  return false;
}

bool parseUnsigned(StringRef name, StringRef v, unsigned &out,
                   std::string &err) {
  if (v.trim().getAsInteger(10, out)) {
    err = "--" + name.str() + " expects a non-negative integer, got '" +
          v.str() + "'";
    return false;
  }
  return true;
}

/// Parses --gpu-arch ("sm_80,sm_90a") into `chips`; an error message or "".
std::string parseGPUChips(StringRef list, std::vector<std::string> &chips) {
  chips.clear();
  SmallVector<StringRef> parts;
  list.split(parts, ',', -1, /*KeepEmpty=*/false);
  for (StringRef p : parts) {
    p = p.trim();
    unsigned major = 0;
    StringRef digits = p;
    if (!digits.consume_front("sm_"))
      return "--gpu-arch: '" + p.str() +
             "' is not a chip name like sm_80, sm_89 or sm_90a";
    digits.consume_back("a");
    if (digits.getAsInteger(10, major) || major < 80)
      return "--gpu-arch: '" + p.str() +
             "': the generated tensor-core kernels need sm_80 or newer "
             "(mma.sync on s8 and f16)";
    if (!llvm::is_contained(chips, p.str()))
      chips.push_back(p.str());
  }
  if (chips.empty())
    return "--gpu-arch: give at least one chip, e.g. sm_80,sm_89,sm_90a";
  return "";
}

/// Parses NAME=d0,d1,... ('?' keeps a dimension: -1) into `shapes`;
/// `flag` names the option in messages.
std::string parseInputShape(StringRef flag, StringRef spec,
                            llvm::StringMap<std::vector<int64_t>> &shapes) {
  auto [name, dims] = spec.trim().split('=');
  if (name.empty() || dims.empty())
    return "--" + flag.str() + " expects NAME=d0,d1,..., got '" + spec.str() +
           "'";
  std::vector<int64_t> shape;
  llvm::SmallVector<StringRef> parts;
  dims.split(parts, ',');
  for (StringRef p : parts) {
    int64_t d;
    if (p.trim() == "?") {
      shape.push_back(-1); // keep this dimension as the model has it
      continue;
    }
    if (p.trim().getAsInteger(10, d) || d < 0)
      return "--" + flag.str() + " " + name.str() + ": '" + p.str() +
             "' is not a non-negative integer or '?'";
    shape.push_back(d);
  }
  if (shapes.count(name))
    return "--" + flag.str() + " gives input '" + name.str() + "' twice";
  shapes[name] = std::move(shape);
  return "";
}

/// One variant: NAME=d0,...[;NAME=d0,...] (one entry per input it fixes).
std::string addSpecialization(CompileOptions &o, StringRef spec) {
  llvm::StringMap<std::vector<int64_t>> shapes;
  llvm::SmallVector<StringRef> inputs;
  spec.split(inputs, ';', -1, /*KeepEmpty=*/false);
  if (inputs.empty())
    return "--specialize expects NAME=d0,d1,...[;NAME=...], got '" +
           spec.str() + "'";
  for (StringRef in : inputs)
    if (std::string err = parseInputShape("specialize", in, shapes);
        !err.empty())
      return err;
  o.specializations.push_back(std::move(shapes));
  return "";
}
} // namespace

const std::vector<std::string> &mlir::qc::getCompileOptionNames() {
  static const std::vector<std::string> names = {"float",
                                                 "wbits",
                                                 "abits",
                                                 "wformat",
                                                 "aformat",
                                                 "granularity",
                                                 "agranularity",
                                                 "asym",
                                                 "bit-balance",
                                                 "calib",
                                                 "calib-method",
                                                 "calib-samples",
                                                 "exclude",
                                                 "config",
                                                 "avg-wbits",
                                                 "size-budget",
                                                 "latency-budget",
                                                 "cost-cache",
                                                 "candidates",
                                                 "act-candidates",
                                                 "sensitivity-samples",
                                                 "write-config",
                                                 "report",
                                                 "eval",
                                                 "calib-threads",
                                                 "quiet",
                                                 "input-shape",
                                                 "specialize",
                                                 "emit",
                                                 "compile-to",
                                                 "elide-weights",
                                                 "target",
                                                 "mcpu",
                                                 "gpu-arch",
                                                 "gpu",
                                                 "bitplane",
                                                 "runtime-lib",
                                                 "calib-second-moments",
                                                 "smooth",
                                                 "rotate",
                                                 "aclip",
                                                 "kv-cache",
                                                 "kv-group",
                                                 "kv-rotate",
                                                 "kv-asym",
                                                 "kv-clip",
                                                 "weight-rounding",
                                                 "bias-correction",
                                                 "bias-correction-passes",
                                                 "outlier-channels",
                                                 "policy",
                                                 "timing",
                                                 "command-line"};
  return names;
}

std::string mlir::qc::setCompileOption(CompileOptions &o, StringRef name,
                                       StringRef v) {
  QuantizeOptions &q = o.quantize;
  std::string err;
  if (name == "float")
    return parseFlag(name, v, o.floatOnly, err) ? "" : err;
  if (name == "asym")
    return parseFlag(name, v, q.asym, err) ? "" : err;
  if (name == "bit-balance")
    return parseFlag(name, v, q.bitBalance, err) ? "" : err;
  if (name == "quiet")
    return parseFlag(name, v, q.quiet, err) ? "" : err;
  if (name == "calib-second-moments")
    return parseFlag(name, v, q.secondMoments, err) ? "" : err;
  if (name == "timing")
    return parseFlag(name, v, o.timing, err) ? "" : err;
  if (name == "elide-weights")
    return parseFlag(name, v, o.elideWeights, err) ? "" : err;
  if (name == "wbits")
    return parseUnsigned(name, v, q.wBits, err) ? "" : err;
  if (name == "calib-threads")
    return parseUnsigned(name, v, q.numThreads, err) ? "" : err;
  if (name == "calib-samples") {
    unsigned n;
    if (!parseUnsigned(name, v, n, err))
      return err;
    q.calibSamples = n;
    return "";
  }
  if (name == "abits") {
    if (v == "none") {
      q.aBits = 0;
      return "";
    }
    if (v.getAsInteger(10, q.aBits))
      return "--abits expects 2..16 or none, got '" + v.str() + "'";
    if (q.aBits == 0)
      return "--abits must be in 2..16 or none, got 0";
    return "";
  }
  if (name == "wformat") {
    q.wFormat = v.str();
    return "";
  }
  if (name == "aformat") {
    q.aFormat = v.str();
    return "";
  }
  if (name == "granularity") {
    StringRef g = v;
    if (g == "tensor" || g == "channel") {
      q.wGranularity = g.str();
      return "";
    }
    if (g.consume_front("group:")) {
      q.wGranularity = "group";
      if (g.getAsInteger(10, q.groupSize) || q.groupSize < 1)
        return "--granularity group:G needs a positive G, got '" + v.str() +
               "'";
      return "";
    }
    return "--granularity must be tensor, channel or group:G, got '" + v.str() +
           "'";
  }
  if (name == "aclip") {
    if (v.getAsDouble(q.aClip) || !(q.aClip > 0 && q.aClip <= 1))
      return "--aclip expects a fraction in (0, 1], got '" + v.str() + "'";
    return "";
  }
  if (name == "agranularity") {
    q.aGranularity = v.str();
    return "";
  }
  if (name == "calib") {
    q.calib.path = v.str();
    return "";
  }
  if (name == "calib-method") {
    q.calibMethod = v.str();
    return "";
  }
  if (name == "smooth") {
    q.smooth = v.str();
    return "";
  }
  if (name == "rotate") {
    q.rotate = v.str();
    return "";
  }
  if (name == "kv-cache") {
    o.kvCache = v.str();
    return "";
  }
  if (name == "kv-group") {
    if (v.getAsInteger(10, o.kvGroup) || o.kvGroup < 0)
      return "--kv-group expects a count of elements (0: a whole row), got '" +
             v.str() + "'";
    return "";
  }
  if (name == "kv-asym") {
    bool asym;
    if (!parseFlag(name, v, asym, err))
      return err;
    o.kvAsym = asym;
    return "";
  }
  if (name == "kv-clip") {
    double clip;
    if (v.getAsDouble(clip) || !(clip > 0 && clip <= 1))
      return "--kv-clip expects a fraction in (0, 1], got '" + v.str() + "'";
    o.kvClip = clip;
    return "";
  }
  if (name == "kv-rotate") {
    o.kvRotate = v.str();
    return "";
  }
  if (name == "policy") {
    q.policy = v.str();
    return "";
  }
  if (name == "weight-rounding") {
    q.weightRounding = v.str();
    return "";
  }
  if (name == "bias-correction") {
    q.biasCorrection = v.str();
    return "";
  }
  if (name == "bias-correction-passes") {
    return parseUnsigned(name, v, q.biasCorrectionPasses, err) ? "" : err;
  }
  if (name == "outlier-channels")
    return parseUnsigned(name, v, q.outlierChannels, err) ? "" : err;
  if (name == "exclude") {
    q.excludes.push_back(v.str());
    return "";
  }
  if (name == "config") {
    q.configPath = v.str();
    return "";
  }
  if (name == "avg-wbits" || name == "size-budget" ||
      name == "latency-budget") {
    double d;
    if (v.trim().getAsDouble(d) || !(d > 0) || !std::isfinite(d))
      return "--" + name.str() + " expects a positive number, got '" + v.str() +
             "'";
    (name == "avg-wbits"     ? q.avgWBits
     : name == "size-budget" ? q.sizeBudgetMB
                             : q.latencyBudgetMs) = d;
    return "";
  }
  if (name == "cost-cache") {
    q.costCache = v.str();
    return "";
  }
  if (name == "act-candidates") {
    q.actCandidates = v.str();
    return "";
  }
  if (name == "candidates") {
    q.candidates = v.str();
    return "";
  }
  if (name == "sensitivity-samples")
    return parseUnsigned(name, v, q.sensitivitySamples, err) ? "" : err;
  if (name == "write-config") {
    q.writeConfig = v.str();
    return "";
  }
  if (name == "eval") {
    q.eval.path = v.str();
    return "";
  }
  if (name == "report") {
    StringRef ext = llvm::sys::path::extension(v);
    if (!ext.equals_insensitive(".html") && !ext.equals_insensitive(".htm") &&
        !ext.equals_insensitive(".json"))
      return "--report " + v.str() + ": the name must end in .html or .json";
    o.reports.push_back(v.str());
    return "";
  }
  if (name == "input-shape") {
    auto [input, dims] = v.split('=');
    o.inputShapes.erase(input.trim()); // the last one given counts
    return parseInputShape(name, v, o.inputShapes);
  }
  if (name == "specialize")
    return addSpecialization(o, v);
  if (name == "emit") {
    if (v == "so")
      o.output = OutputKind::SharedLibrary;
    else if (v == "obj")
      o.output = OutputKind::Object;
    else if (v == "llvm")
      o.output = OutputKind::LLVMIR;
    else if (v == "mlir")
      o.output = OutputKind::MLIR;
    else if (v == "ptx")
      o.output = OutputKind::PTX;
    else if (v == "onnx-qdq")
      o.output = OutputKind::ONNX;
    else if (v == "none")
      o.output = OutputKind::None;
    else
      return "unknown --emit '" + v.str() +
             "' (so, obj, llvm, mlir, ptx, onnx-qdq, none)";
    return "";
  }
  if (name == "compile-to") {
    o.compileTo = parseCompilePhase(v);
    if (!o.compileTo)
      return "unknown --compile-to phase '" + v.str() + "' (" +
             getCompilePhaseList().str() + ")";
    return "";
  }
  if (name == "target") {
    if (v != "cpu")
      return "unknown --target '" + v.str() + "' (cpu)";
    o.target = v.str();
    return "";
  }
  if (name == "mcpu") {
    o.mcpu = v.str();
    return "";
  }
  if (name == "gpu") {
    if (v != "on" && v != "off")
      return "--gpu must be on or off, got '" + v.str() + "'";
    o.gpu = v == "on";
    return "";
  }
  if (name == "gpu-arch")
    return parseGPUChips(v, o.gpuChips);
  if (name == "bitplane") {
    o.bitplane = v.str();
    return "";
  }
  if (name == "command-line") {
    o.commandLine = v.str();
    return "";
  }
  if (name == "runtime-lib") {
    o.runtimeLibrary = v.str();
    return "";
  }
  return "unknown option '" + name.str() + "'";
}

std::string mlir::qc::validateCompileOptions(const CompileOptions &o,
                                             StringRef outputPath) {
  const QuantizeOptions &q = o.quantize;
  if (!o.floatOnly) {
    std::string bad = validateQuantizeOptions(q);
    if (!bad.empty())
      return bad;
  } else if (!q.calib.empty() || !o.reports.empty() || !q.eval.empty()) {
    return "--calib, --eval and --report need quantization; drop --float";
  }
  if (o.kvCache != "off" && o.kvCache != "int8" && o.kvCache != "int4")
    return "--kv-cache must be off, int8 or int4, got '" + o.kvCache + "'";
  if (o.bitplane != "auto" && o.bitplane != "on" && o.bitplane != "off")
    return "--bitplane must be auto, on or off, got '" + o.bitplane + "'";
  if (o.kvRotate != "on" && o.kvRotate != "off")
    return "--kv-rotate must be on or off, got '" + o.kvRotate + "'";
  if (o.kvCache == "off" &&
      (o.kvGroup != 0 || o.kvAsym || o.kvClip || o.kvRotate != "on"))
    return "--kv-group, --kv-asym, --kv-clip and --kv-rotate apply to a "
           "quantized KV cache: add --kv-cache int8 or int4";
  bool none = o.output == OutputKind::None;
  if (outputPath.empty() && !none)
    return "no output file: give -o PATH (or --emit=none)";
  if (none && (!o.reports.empty() || !q.eval.empty()))
    return "--emit=none writes nothing; --report and --eval need the "
           "compiled model";
  bool mlirOut = o.compileTo.has_value() || o.output == OutputKind::MLIR;
  if (!o.specializations.empty() && o.compileTo &&
      *o.compileTo < CompilePhase::Quantize)
    return "--specialize adds its variants after the quantize phase: "
           "--compile-to quantize or a later phase";
  if (o.output == OutputKind::ONNX && o.compileTo)
    return "--emit=onnx-qdq writes the quantize phase's IR as ONNX: drop "
           "--compile-to";
  if (o.output == OutputKind::ONNX && !o.specializations.empty())
    return "--emit=onnx-qdq writes one graph with the model's dynamic "
           "dimensions: drop --specialize";
  if (o.output == OutputKind::ONNX && (!o.reports.empty() || !q.eval.empty()))
    return "--report and --eval measure a compiled model.so: not with "
           "--emit=onnx-qdq";
  if (o.output == OutputKind::PTX && o.compileTo)
    return "--emit=ptx generates the GPU kernels from the quantize phase's "
           "IR: drop --compile-to";
  if (o.elideWeights && (!mlirOut || none))
    return "--elide-weights applies to MLIR output (--emit=mlir or "
           "--compile-to)";
  return "";
}
