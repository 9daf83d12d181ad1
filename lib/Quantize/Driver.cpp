//===- Driver.cpp - quantize a model: schemes, calibration, report --------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "quant/Quantize/Driver.h"
#include "Data.h"
#include "quant/Calibrate/Calibrate.h"
#include "quant/Dialect/QC/IR/QCOps.h"
#include "quant/Dialect/QC/Utils/QuantLayers.h"

#include "mlir/Dialect/Arith/IR/Arith.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/GlobPattern.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/SourceMgr.h"
#include "llvm/Support/YAMLParser.h"
#include "llvm/Support/raw_ostream.h"

#include <cmath>
#include <cstring>
#include <thread>

using namespace mlir;
using namespace mlir::qc;

namespace {

bool isKnownFormat(StringRef f) { return isKnownQuantFormat(f); }

/// One layer's resolved scheme.
struct LayerScheme {
  bool keepFloat = false;
  unsigned wBits;
  std::string wFormat, wGranularity;
  int64_t groupSize;
  unsigned aBits;
  std::string aFormat, aGranularity;
  bool asym;
  bool aStatic;
  bool balanced = false; ///< bit balance of 1- and 2-bit integer weights
};

/// "group:G" / "tensor" / "channel".
bool parseGranularity(StringRef text, std::string &gran, int64_t &group,
                      std::string &err) {
  if (text == "tensor" || text == "channel") {
    gran = text.str();
    return true;
  }
  if (text.consume_front("group:") || text.consume_front("g")) {
    if (text.getAsInteger(10, group) || group < 1) {
      err = "group size must be a positive integer";
      return false;
    }
    gran = "group";
    return true;
  }
  err = "granularity must be tensor, channel or group:G, got '" + text.str() +
        "'";
  return false;
}

/// Applies one JSON object of overrides to `s`.
bool applyOverrides(const llvm::json::Object &o, LayerScheme &s,
                    std::string &err) {
  for (const auto &kv : o) {
    StringRef key = kv.first;
    const llvm::json::Value &v = kv.second;
    if (key == "float") {
      s.keepFloat = v.getAsBoolean().value_or(false);
    } else if (key == "w_bits") {
      std::optional<int64_t> b = v.getAsInteger();
      if (!b || *b < 1 || *b > 8) {
        err = "w_bits must be an integer in 1..8";
        return false;
      }
      s.wBits = *b;
    } else if (key == "a_bits") {
      std::optional<int64_t> b = v.getAsInteger();
      if (v.getAsString() && *v.getAsString() == "none") {
        s.aBits = 0;
      } else if (!b || *b < 2 || *b > 16) {
        err = "a_bits must be an integer in 2..16 or \"none\"";
        return false;
      } else {
        s.aBits = *b;
      }
    } else if (key == "w_format" || key == "a_format") {
      std::optional<StringRef> f = v.getAsString();
      if (!f || !isKnownFormat(*f)) {
        err = key.str() + " must be int, fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3, "
                          "fp4e2m1 or (weights) bitmod";
        return false;
      }
      if (key == "a_format" && *f == "bitmod") {
        err = "a_format bitmod: mixture formats quantize weights only";
        return false;
      }
      (key == "w_format" ? s.wFormat : s.aFormat) = f->str();
    } else if (key == "w_granularity") {
      std::optional<StringRef> g = v.getAsString();
      if (!g || !parseGranularity(*g, s.wGranularity, s.groupSize, err))
        return false;
    } else if (key == "a_granularity") {
      std::optional<StringRef> g = v.getAsString();
      if (!g || (*g != "token" && *g != "tensor")) {
        err = "a_granularity must be token or tensor";
        return false;
      }
      s.aGranularity = g->str();
    } else if (key == "asym" || key == "w_balanced") {
      std::optional<bool> b = v.getAsBoolean();
      if (!b) {
        err = key.str() + " must be true or false";
        return false;
      }
      (key == "asym" ? s.asym : s.balanced) = *b;
    } else {
      err = "unknown key '" + key.str() +
            "' (float, w_bits, w_format, w_granularity, a_bits, a_format, "
            "a_granularity, asym, w_balanced)";
      return false;
    }
  }
  if (s.wFormat == "bitmod" && !s.keepFloat && s.wBits != 3 && s.wBits != 4) {
    err = "w_format bitmod takes w_bits 3 or 4";
    return false;
  }
  if (s.balanced && !s.keepFloat &&
      (s.wFormat != "int" || s.wBits > 2 || s.asym)) {
    err = "w_balanced applies to symmetric integer weights of 1 or 2 bits";
    return false;
  }
  return true;
}

/// A YAML node as the JSON value the config reader takes: mappings become
/// objects, sequences arrays, and plain scalars numbers, booleans or strings
/// (quoted scalars stay strings).
llvm::Expected<llvm::json::Value> yamlNodeToJSON(llvm::yaml::Node *n) {
  auto err = [](const Twine &m) {
    return llvm::createStringError(llvm::inconvertibleErrorCode(), m);
  };
  if (!n)
    return err("empty document");
  if (auto *m = dyn_cast<llvm::yaml::MappingNode>(n)) {
    llvm::json::Object o;
    for (llvm::yaml::KeyValueNode &kv : *m) {
      auto *k = dyn_cast_or_null<llvm::yaml::ScalarNode>(kv.getKey());
      if (!k)
        return err("a mapping key is not a scalar");
      SmallString<32> storage;
      llvm::Expected<llvm::json::Value> v = yamlNodeToJSON(kv.getValue());
      if (!v)
        return v.takeError();
      // An owned key: a StringRef key would point into the YAML buffer,
      // which is freed before the object is read.
      o[k->getValue(storage).str()] = std::move(*v);
    }
    return llvm::json::Value(std::move(o));
  }
  if (auto *q = dyn_cast<llvm::yaml::SequenceNode>(n)) {
    llvm::json::Array a;
    for (llvm::yaml::Node &e : *q) {
      llvm::Expected<llvm::json::Value> v = yamlNodeToJSON(&e);
      if (!v)
        return v.takeError();
      a.push_back(std::move(*v));
    }
    return llvm::json::Value(std::move(a));
  }
  if (auto *sc = dyn_cast<llvm::yaml::ScalarNode>(n)) {
    SmallString<32> storage;
    StringRef v = sc->getValue(storage);
    bool quoted = sc->getRawValue().starts_with("\"") ||
                  sc->getRawValue().starts_with("'");
    if (!quoted) {
      int64_t i;
      if (!v.getAsInteger(10, i))
        return llvm::json::Value(i);
      if (v == "true" || v == "false")
        return llvm::json::Value(v == "true");
    }
    return llvm::json::Value(v.str());
  }
  return err("unsupported YAML node (anchors, aliases and tags are not read)");
}

llvm::Expected<llvm::json::Value> yamlToJSON(StringRef text) {
  llvm::SourceMgr sm;
  std::string diag;
  sm.setDiagHandler(
      [](const llvm::SMDiagnostic &d, void *ctx) {
        *static_cast<std::string *>(ctx) = d.getMessage().str();
      },
      &diag);
  llvm::yaml::Stream stream(text, sm);
  llvm::yaml::document_iterator doc = stream.begin();
  if (doc == stream.end())
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   "empty document");
  llvm::Expected<llvm::json::Value> v = yamlNodeToJSON(doc->getRoot());
  if (!diag.empty() || stream.failed()) {
    if (!v)
      llvm::consumeError(v.takeError());
    return llvm::createStringError(llvm::inconvertibleErrorCode(),
                                   diag.empty() ? "parse error" : diag);
  }
  return v;
}

/// The scheme the command line asks for, before per-layer rules.
LayerScheme defaultScheme(const QuantizeOptions &o) {
  LayerScheme s;
  s.wBits = o.wBits;
  s.wFormat = o.wFormat;
  s.wGranularity = o.wGranularity;
  s.groupSize = o.groupSize;
  s.aBits = o.aBits;
  s.aFormat = o.aFormat;
  s.aGranularity = o.aGranularity.empty()
                       ? (o.calib.empty() ? "token" : "tensor")
                       : o.aGranularity;
  s.asym = o.asym;
  s.aStatic = !o.calib.empty() && s.aGranularity == "tensor";
  s.balanced = o.bitBalance;
  return s;
}

bool matches(StringRef pattern, const QuantLayer &l) {
  if (pattern == l.name || pattern == l.opType)
    return true;
  llvm::Expected<llvm::GlobPattern> g = llvm::GlobPattern::create(pattern);
  if (!g) {
    llvm::consumeError(g.takeError());
    return false;
  }
  return g->match(l.name);
}

/// The default policy's promotion: formats of fewer than 8 bits become
/// int8 (integers and mixtures) or fp8e4m3 (float formats).
void promoteTo8Bits(LayerScheme &s) {
  auto promote = [](std::string &format, unsigned &bits) {
    if (format == "bitmod")
      format = "int"; // a mixture's integer table, widened
    if (format == "int") {
      bits = std::max(bits, 8u);
    } else if (!StringRef(format).starts_with("fp8")) {
      format = "fp8e4m3";
    }
  };
  promote(s.wFormat, s.wBits);
  if (!(s.aBits == 0 && s.aFormat == "int"))
    promote(s.aFormat, s.aBits);
}

/// The typed scheme of a resolved layer scheme (a static one names its
/// range selection `calib`); null after an error on `op`.
SchemeAttr toSchemeAttr(Operation *op, const LayerScheme &s, StringRef calib) {
  MLIRContext *ctx = op->getContext();
  if (s.keepFloat)
    return SchemeAttr::get(ctx);
  // Bit balance (1 or 2 bits, symmetric): one more level, symmetric, in
  // codes of one more bit. Wider weights (the policy's 8-bit boundary
  // layers) ignore it.
  bool balanced = s.balanced && s.wFormat == "int" && s.wBits <= 2 && !s.asym;
  // One bit cannot be symmetric: {-1, 0} wastes it. W1 is min/max.
  FormatAttr w = getFormatFromOption(
      ctx, s.wFormat, balanced ? s.wBits + 1 : s.wBits,
      !balanced && (s.asym || (s.wFormat == "int" && s.wBits == 1)));
  bool quantAct = !(s.aBits == 0 && s.aFormat == "int");
  FormatAttr a = quantAct ? getFormatFromOption(ctx, s.aFormat, s.aBits, s.asym)
                          : FormatAttr();
  std::optional<WeightGranularity> wg =
      symbolizeWeightGranularity(s.wGranularity);
  if (!w || !wg || (quantAct && !a)) {
    op->emitError() << "internal error: unresolved scheme";
    return {};
  }
  return SchemeAttr::getChecked(
      [&] { return op->emitError() << "quantization scheme: "; }, ctx, w, *wg,
      *wg == WeightGranularity::Group ? s.groupSize : 0, a,
      s.aGranularity == "token" ? ActGranularity::Token
                                : ActGranularity::Tensor,
      s.aStatic && quantAct, s.aStatic && quantAct ? calib : StringRef(),
      FloatAttr(), FloatAttr(), balanced);
}

} // namespace

QuantizeDriver::~QuantizeDriver() {
  if (!tempDir.empty())
    (void)llvm::sys::fs::remove_directories(tempDir);
}

calib::Method QuantizeDriver::rangeMethodOf(Operation *layer) const {
  calib::Method m;
  std::string err;
  if (options.calibMethod != "auto") {
    (void)calib::parseMethod(options.calibMethod, m, err);
    return m;
  }
  // A convolution's input is many positions of every channel: clipping its
  // rarest 0.01% buys the rest finer steps (docs/quantization.md, "Range
  // selection"). A linear's rare values are whole outlier channels, which
  // smoothing moves into the weights; it keeps the extremes.
  std::string type = getLayerOpType(layer);
  if (type == "Conv" || type == "ConvTranspose")
    m.kind = calib::Method::Percentile; // at 99.99
  return m;
}

LogicalResult QuantizeDriver::applySchemes(func::FuncOp main) {
  const QuantizeOptions &o = options;
  LayerScheme base = defaultScheme(o);
  base.aStatic = false; // decided per layer below
  // The config: {"default": {...}, "layers": {"name|OpType|glob": {...} |
  // "float"}}.
  std::vector<std::pair<std::string, llvm::json::Object>> layerRules;
  if (!o.configPath.empty()) {
    auto buf = llvm::MemoryBuffer::getFile(o.configPath);
    if (!buf)
      return main.emitError() << "cannot read --config " << o.configPath << ": "
                              << buf.getError().message();
    StringRef ext = llvm::sys::path::extension(o.configPath);
    bool yaml =
        ext.equals_insensitive(".yaml") || ext.equals_insensitive(".yml");
    llvm::Expected<llvm::json::Value> json =
        yaml ? yamlToJSON((*buf)->getBuffer())
             : llvm::json::parse((*buf)->getBuffer());
    if (!json)
      return main.emitError() << "--config " << o.configPath << " is not valid "
                              << (yaml ? "YAML" : "JSON") << ": "
                              << llvm::toString(json.takeError());
    llvm::json::Object *root = json->getAsObject();
    if (!root)
      return main.emitError() << "--config: the top level must be an object";
    userConfig = *root; // --write-config writes the choice over it
    for (const auto &kv : *root) {
      std::string err;
      if (kv.first == "default") {
        const llvm::json::Object *d = kv.second.getAsObject();
        if (!d || !applyOverrides(*d, base, err))
          return main.emitError()
                 << "--config: default: " << (d ? err : "must be an object");
      } else if (kv.first == "layers") {
        const llvm::json::Object *ls = kv.second.getAsObject();
        if (!ls)
          return main.emitError() << "--config: layers must be an object";
        for (const auto &rule : *ls) {
          llvm::json::Object ov;
          if (auto str = rule.second.getAsString(); str && *str == "float")
            ov["float"] = true;
          else if (const llvm::json::Object *obj = rule.second.getAsObject())
            ov = *obj;
          else
            return main.emitError() << "--config: layers." << rule.first.str()
                                    << " must be an object or \"float\"";
          layerRules.push_back({rule.first.str(), std::move(ov)});
        }
      } else {
        return main.emitError() << "--config: unknown key '" << kv.first.str()
                                << "' (default, layers)";
      }
    }
  }
  Builder b(main.getContext());
  std::vector<WeightCandidate> candidates;
  std::vector<unsigned> actCandidates;
  if (std::string err = parseWeightCandidates(o.candidates, candidates);
      !err.empty())
    return main.emitError() << err;
  if (std::string err = parseActCandidates(o.actCandidates, actCandidates);
      !err.empty())
    return main.emitError() << err;
  std::vector<QuantLayer> layers;
  for (QuantLayer &l : findQuantLayers(main))
    layers.push_back(l);
  for (const std::string &ex : o.excludes) {
    bool any = llvm::any_of(
        layers, [&](const QuantLayer &l) { return matches(ex, l); });
    if (!any)
      return main.emitError() << "--exclude " << ex
                              << " matches no quantizable layer (node name, "
                                 "op type or glob)";
  }
  // Precedence, most specific last so it wins: op types, then globs, then
  // exact node names; ties in name order (JSON objects keep no order).
  auto rank = [&](StringRef p) {
    if (llvm::any_of(layers, [&](const QuantLayer &l) { return l.name == p; }))
      return 2;
    return p.find_first_of("*?[") != StringRef::npos ? 1 : 0;
  };
  llvm::stable_sort(layerRules, [&](const auto &a, const auto &b) {
    int ra = rank(a.first), rb = rank(b.first);
    return ra != rb ? ra < rb : a.first < b.first;
  });
  for (auto &rule : layerRules) {
    StringRef pattern = rule.first;
    if (llvm::none_of(layers,
                      [&](const QuantLayer &l) { return matches(pattern, l); }))
      return main.emitError() << "--config: layers." << pattern
                              << " matches no quantizable layer (node name, "
                                 "op type or glob)";
  }
  // The default policy: boundary layers at 8 bits where they are a small
  // part of the model (at most a quarter of its layers: a small model gets
  // the scheme it was asked for), depthwise convolutions always.
  SmallVector<bool> boundary = findBoundaryLayers(main, layers);
  bool promoteBoundary =
      4 * llvm::count(boundary, true) <= int64_t(layers.size());
  for (auto [i, l] : llvm::enumerate(layers)) {
    LayerScheme s = base;
    if (o.policy == "default" &&
        ((promoteBoundary && boundary[i]) || isDepthwiseLayer(l)))
      promoteTo8Bits(s);
    // A depthwise convolution reads each channel alone, and its input's
    // channels span ranges one per-tensor step serves badly: integer
    // activations get 16 bits there (a few percent of a CNN's time).
    if (o.policy == "default" && isDepthwiseLayer(l) && s.aFormat == "int" &&
        s.aBits != 0)
      s.aBits = std::max(s.aBits, 16u);
    // Static scales of a boundary layer's input (the LM head reads the
    // final norm's every token, outliers included) become dynamic ones,
    // computed at run time: per token for a linear, per tensor for a
    // convolution.
    if (o.policy == "default" && promoteBoundary && boundary[i] &&
        !o.calib.empty() && s.aGranularity == "tensor")
      s.aGranularity = "token";
    // Mixed precision leaves alone the weights that --config sets.
    bool weightsFixed = false;
    for (auto &[pattern, ov] : layerRules) {
      if (!matches(pattern, l))
        continue;
      std::string err;
      if (!applyOverrides(ov, s, err))
        return main.emitError()
               << "--config: layers." << pattern << ": " << err;
      weightsFixed |= llvm::any_of(ov, [](const auto &kv) {
        return StringRef(kv.first).starts_with("w_") || kv.first == "float";
      });
    }
    for (const std::string &ex : o.excludes)
      if (matches(ex, l))
        s.keepFloat = true;
    // An embedding's output is no product's input: only its table is
    // quantized, whatever the activation options say.
    if (l.isEmbedding) {
      s.aBits = 0;
      s.aFormat = "int";
    }
    bool quantAct = !(s.aBits == 0 && s.aFormat == "int");
    s.aStatic = quantAct && !o.calib.empty() && s.aGranularity == "tensor";
    SchemeAttr scheme =
        toSchemeAttr(l.op, s, calib::methodName(rangeMethodOf(l.op)));
    if (!scheme)
      return failure();
    l.op->setAttr("qc.scheme", scheme);
    // Mixed precision: the candidates of every quantized layer but an
    // embedding (a table, not a product), a depthwise convolution (few
    // weights, kept at 8 bits), a boundary layer the default policy keeps
    // at 8 bits (an LM head: as papers count average bits, over the
    // layers between) and a layer whose weights --config sets; each
    // candidate keeps the layer's activation scheme.
    bool policyBoundary =
        o.policy == "default" && promoteBoundary && boundary[i];
    if (assignsPrecision(o) && !scheme.isFloat() && !l.isEmbedding &&
        !isDepthwiseLayer(l) && !policyBoundary && !weightsFixed) {
      SmallVector<Attribute> cands;
      // Activation candidates: bits (0: float), or the layer's own.
      std::vector<std::optional<unsigned>> acts(1);
      if (!actCandidates.empty())
        acts.assign(actCandidates.begin(), actCandidates.end());
      for (const WeightCandidate &c : candidates)
        for (std::optional<unsigned> act : acts) {
          LayerScheme cs = s;
          cs.wFormat = c.format;
          cs.wBits = c.bits;
          cs.wGranularity = c.granularity;
          if (c.granularity == "group")
            cs.groupSize = c.groupSize;
          if (act) {
            cs.aFormat = "int";
            cs.aBits = *act;
            // Per token for a linear's rows, else per tensor; static
            // where the layer's own scheme is (calibration then sets it).
            if (!l.rowwiseActivation)
              cs.aGranularity = "tensor";
            cs.aStatic =
                *act != 0 && !o.calib.empty() && cs.aGranularity == "tensor";
          }
          SchemeAttr cand =
              toSchemeAttr(l.op, cs, calib::methodName(rangeMethodOf(l.op)));
          if (!cand)
            return failure();
          if (llvm::none_of(cands, [&](Attribute a) {
                return cast<DictionaryAttr>(a).get("scheme") == cand;
              }))
            cands.push_back(
                b.getDictionaryAttr({b.getNamedAttr("scheme", cand)}));
        }
      l.op->setAttr("qc.candidates", b.getArrayAttr(cands));
    }
  }
  return success();
}

LogicalResult QuantizeDriver::rotate(func::FuncOp main) {
  if (options.rotate == "off")
    return success();
  // Nothing to rotate for when every layer stays float. auto also leaves
  // alone a command-line scheme of 8-bit (or wider) integer weights and
  // static activations: there smoothing without rotation does better
  // (docs/benchmarks.md, "Rotation").
  bool quantized = false;
  main.walk([&](Operation *op) {
    auto s = op->getAttrOfType<SchemeAttr>("qc.scheme");
    quantized |= s && !s.isFloat();
  });
  LayerScheme d = defaultScheme(options);
  bool worth = d.wFormat != "int" || d.wBits < 8 || d.aBits == 0 ||
               !d.aStatic || d.aFormat != "int" || d.aBits < 8;
  if (!quantized || (options.rotate == "auto" && !worth))
    return success();
  PassManager pm(main->getContext());
  // auto: the online form, where a transformer's residual stream is found
  // (measured better than rotating the stream on SmolLM2: docs/benchmarks.md,
  // "Rotation").
  QCRotatePassOptions o;
  o.residual = options.rotate == "residual";
  o.shared = options.rotate != "residual";
  o.onlineNeedsResidual = options.rotate == "auto";
  // Convolutions: under auto those with weights below 8 bits, and only
  // with calibration data (bias correction and GPTQ then work on the
  // rotated weights; without it the rotation measured worse on PP-OCRv4
  // rec: docs/benchmarks.md, "Rotated convolutions"); under online all.
  o.convBelowBits = options.rotate == "online"                           ? 65
                    : options.rotate == "auto" && !options.calib.empty() ? 8
                                                                         : 0;
  pm.addNestedPass<func::FuncOp>(createQCRotatePass(o));
  if (failed(pm.run(main->getParentOfType<ModuleOp>())))
    return failure();
  auto info = main->getAttrOfType<DictionaryAttr>("qc.rotation");
  if (!info)
    return success();
  auto online = info.getAs<IntegerAttr>("online");
  auto skipped = info.getAs<StringAttr>("skipped");
  auto convs = info.getAs<IntegerAttr>("convolutions");
  // auto says nothing of the stream in models that are no transformer.
  bool noStream = options.rotate == "auto" && online.getInt() == 0 &&
                  info.get("no_embedding");
  if (noStream && !convs)
    return success();
  std::string text;
  llvm::raw_string_ostream os(text);
  if (auto h = info.getAs<IntegerAttr>("residual"))
    os << "residual stream of width " << h.getInt()
       << " rotated by a randomized Hadamard matrix ("
       << info.getAs<IntegerAttr>("folded").getInt() << " weights rewritten); ";
  else if (auto h = info.getAs<IntegerAttr>("stream"))
    os << "transformer (residual stream of width " << h.getInt() << "): ";
  else if (skipped && !noStream)
    os << "residual stream not rotated: " << skipped.getValue() << "; ";
  if (auto heads = info.getAs<IntegerAttr>("per_head"))
    os << heads.getInt() << " attention value projection"
       << (heads.getInt() == 1 ? "" : "s")
       << " rotated per head (folded into v and o); ";
  if (noStream)
    os << convs.getInt() << " online Hadamard transform"
       << (convs.getInt() == 1 ? "" : "s") << " over convolution inputs";
  else
    os << online.getInt() << " online Hadamard transform"
       << (online.getInt() == 1 ? "" : "s");
  if (convs && !noStream)
    os << ", " << convs.getInt() << " over convolution inputs";
  report.rotation = text;
  if (!options.quiet)
    main.emitRemark() << "rotation: " << text;
  return success();
}

FailureOr<QCQuantizePassOptions>
QuantizeDriver::prepare(ModuleOp module, const ModelSignature &sig) {
  auto main = module.lookupSymbol<func::FuncOp>("main");
  if (failed(applySchemes(main)) || failed(rotate(main)) ||
      failed(assignPrecision(module, sig)) || failed(chooseBitPlanes(module)))
    return failure();
  report.model = model;
  report.kvCache = describeKVCache(main);
  if (SchemeAttr d = toSchemeAttr(main, defaultScheme(options), ""))
    report.defaultScheme = d.describe();
  if (failed(calibrate(module, sig)))
    return failure();
  // The pass's defaults are the command line's scheme (layers carry their
  // own in qc.scheme).
  LayerScheme d = defaultScheme(options);
  QCQuantizePassOptions pass;
  pass.wBits = d.wBits;
  pass.wFormat = d.wFormat;
  pass.wGranularity = d.wGranularity;
  pass.groupSize = d.groupSize;
  pass.aBits = d.aBits;
  pass.aFormat = d.aFormat;
  pass.aMode = d.aStatic ? "static" : "dynamic";
  pass.aGranularity = d.aGranularity;
  pass.aClip = options.aClip;
  pass.asym = d.asym;
  pass.weightRounding = options.weightRounding;
  pass.outlierChannels = options.outlierChannels;
  // AWQ: smoothing comes with the clipping search of integer weights.
  pass.clipSearch = resolveSmoothing(options) != "off";
  // The weights' part of bias correction (computed from input means);
  // the activations' is measured after the quantize phase (refine).
  StringRef bc = options.biasCorrection;
  pass.biasCorrection = options.calib.empty()           ? "off"
                        : bc == "on" || bc == "weights" ? "on"
                        : bc == "auto"                  ? "auto"
                                                        : "off";
  return pass;
}

void QuantizeDriver::collectLayers(ModuleOp module) {
  module.walk([&](Operation *op) {
    auto scheme = op->getAttrOfType<SchemeAttr>("qc.scheme");
    if (!scheme)
      return;
    LayerReport r;
    r.name = getLayerName(op);
    r.opType = getLayerOpType(op);
    r.scheme = scheme.describe();
    if (auto a = op->getAttrOfType<FloatAttr>("qc.smooth_alpha"))
      r.smoothAlpha = a.getValueAsDouble();
    r.onlineHadamard = op->hasAttr("qc.online_hadamard");
    if (auto oc = op->getAttrOfType<DenseI64ArrayAttr>("qc.outlier_channels"))
      r.outlierChannels.assign(oc.asArrayRef().begin(), oc.asArrayRef().end());
    // The weight: a dequantized constant (through a reshape), or float.
    Value w;
    for (Value v : op->getOperands()) {
      if (auto e = v.getDefiningOp<tensor::ExpandShapeOp>())
        v = e.getSrc();
      if (auto dq = v.getDefiningOp<DequantizeOp>())
        if (dq.getInput().getDefiningOp<arith::ConstantOp>())
          w = dq;
    }
    // An embedding: the layer is the dequantize of the gathered rows, and
    // its codes and scales are the tables the gathers read.
    auto tableType = [](Value v) {
      if (Operation *read = getEmbeddingRead(v.getDefiningOp(), false))
        v = cast<tensor::ExtractOp>(read).getTensor();
      return cast<RankedTensorType>(v.getType());
    };
    if (isa<DequantizeOp>(op))
      w = op->getResult(0);
    if (auto dq = w ? w.getDefiningOp<DequantizeOp>() : DequantizeOp()) {
      auto qt = tableType(dq.getInput());
      auto st = tableType(dq.getScale());
      FormatAttr f = dq.getFormat();
      r.numWeights = qt.getNumElements();
      r.weightBits = f.getBits();
      r.weightFormat = f.getFamilyName();
      r.weightGranularity = !dq.getAxis() ? "per-tensor"
                            : dq.getGroupSize()
                                ? "g" + std::to_string(*dq.getGroupSize())
                                : "per-channel";
      r.weightBytes = (r.numWeights * f.getBits() + 7) / 8 +
                      st.getNumElements() * 4 +
                      (dq.getZeroPoint() ? st.getNumElements() : 0);
      if (auto sq = op->getAttrOfType<FloatAttr>("qc.weight_sqnr"))
        r.weightSQNR = sq.getValueAsDouble();
    } else {
      r.weightFormat = "float";
      r.weightBits = 32;
      r.weightGranularity = "-";
      // Excluded: the weight is the float constant (through a reshape).
      for (const QuantLayer &l :
           findQuantLayers(op->getParentOfType<func::FuncOp>()))
        if (l.op == op) {
          auto t = cast<RankedTensorType>(l.weightRoot.getType());
          r.numWeights = t.getNumElements();
          r.weightBytes = r.numWeights * 4;
        }
    }
    if (FormatAttr a = scheme.getActivation()) {
      r.actBits = a.getBits();
      r.actFormat = a.getFamilyName();
      r.actMode = scheme.getIsStatic() ? "static" : "dynamic";
    } else {
      r.actMode = "none";
    }
    if (auto it = ranges.find(r.name); it != ranges.end())
      r.actRange = it->second;
    // With outlier channels the scheme holds the narrowed range in use.
    if (!r.outlierChannels.empty() && scheme.getRangeMin())
      r.actRange = {scheme.getRangeMin().getValueAsDouble(),
                    scheme.getRangeMax().getValueAsDouble()};
    if (auto it = actSQNR.find(r.name); it != actSQNR.end())
      r.actSQNR = it->second;
    report.floatWeightBytes += r.numWeights * 4;
    report.quantWeightBytes += r.weightBytes;
    report.layers.push_back(std::move(r));
  });
}

LogicalResult QuantizeDriver::evaluate(StringRef quantizedSo,
                                       const ModelSignature &sig) {
  Location loc = UnknownLoc::get(&session.getContext());
  std::string err;
  std::vector<calib::Sample> samples;
  if (!detail::loadSamples(options.eval, detail::specsOf(sig.inputs), 0,
                           samples, err)) {
    detail::addInputShapeHint(session.getOptions(), err);
    return emitError(loc) << "--eval data: " << err;
  }
  std::vector<calib::Sample> ref, test;
  session.reportProgress("evaluating", 0, 2);
  if (!calib::runModel(floatSo, samples, options.numThreads, ref, err) ||
      !calib::runModel(quantizedSo.str(), samples, options.numThreads, test,
                       err))
    return emitError(loc) << "--eval: " << err;
  session.reportProgress("evaluating", 2, 2);
  EvalReport e;
  e.numSamples = samples.size();
  for (size_t o = 0; o < sig.outputs.size(); ++o) {
    if (sig.outputs[o].dtypeCode != 2 || sig.outputs[o].dtypeBits != 32)
      continue; // only float32 outputs are compared
    std::vector<float> a, t;
    size_t lastDim = 1;
    for (size_t s = 0; s < samples.size(); ++s) {
      const qrun::Array &ra = ref[s][o], &ta = test[s][o];
      const float *rp = static_cast<const float *>(ra.data());
      const float *tp = static_cast<const float *>(ta.data());
      a.insert(a.end(), rp, rp + ra.numElements());
      t.insert(t.end(), tp, tp + ta.numElements());
      if (!ra.shape.empty())
        lastDim = ra.shape.back();
    }
    e.outputs.push_back(
        computeOutputMetrics(sig.outputs[o].name, a, t, lastDim));
    const OutputMetrics &m = e.outputs.back();
    EvalMetric em;
    em.output = m.name;
    em.sqnrDB = m.sqnrDB;
    em.cosine = m.cosine;
    em.maxAbsError = m.maxAbsErr;
    em.argmaxAgreement = m.argmaxAgreement;
    session.getEvalMetrics().push_back(em);
  }
  report.eval = std::move(e);
  return success();
}

LogicalResult QuantizeDriver::finish(StringRef quantizedSo,
                                     const ModelSignature &sig) {
  if (!options.eval.empty() && failed(evaluate(quantizedSo, sig)))
    return failure();
  const CompileOptions &o = session.getOptions();
  if (o.reports.empty())
    return success();
  report.commandLine = o.commandLine;
  report.compilerVersion = "quant 0.1 (MLIR 22)";
  for (const std::string &r : o.reports) {
    std::string err;
    if (!writeReport(report, r, err))
      return emitError(UnknownLoc::get(&session.getContext()))
             << "--report: " << err;
  }
  return success();
}

std::unique_ptr<Quantizer> mlir::qc::createQuantizer(CompileSession &session) {
  return std::make_unique<QuantizeDriver>(session, session.getModelName());
}
