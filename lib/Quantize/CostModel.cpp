//===- CostModel.cpp - measured layer latencies, cached per CPU -----------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "CostModel.h"
#include "quant/Calibrate/Calibrate.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Dialect/Linalg/IR/Linalg.h"
#include "mlir/Dialect/Tensor/IR/Tensor.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "mlir/Transforms/RegionUtils.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/JSON.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/Process.h"
#include "llvm/Support/raw_ostream.h"
#include "llvm/TargetParser/Host.h"

#include <algorithm>
#include <chrono>
#include <fstream>
#include <random>

using namespace mlir;
using namespace mlir::qc;
using namespace mlir::qc::detail;

namespace {

/// The CPU's marketing name (/proc/cpuinfo), else LLVM's name for it.
std::string cpuName() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (StringRef(line).starts_with("model name")) {
      StringRef v = StringRef(line).split(':').second.trim();
      if (!v.empty())
        return v.str();
    }
  return llvm::sys::getHostCPUName().str();
}

/// A file name from `s`: letters, digits, '-', '.', the rest '_'.
std::string sanitize(StringRef s) {
  std::string out;
  for (char c : s)
    out += std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.'
               ? c
               : '_';
  return out;
}

/// A module whose @main computes only `l`: its activation the argument,
/// everything else it reads (the weight constant, an init, a bias) cloned
/// with it; `scheme` on the copy. Null (with `err`) when the layer reads
/// another run-time value or a shape is not static.
OwningOpRef<ModuleOp> buildLayerModule(const QuantLayer &l, SchemeAttr scheme,
                                       std::optional<bool> bitplane,
                                       std::string &err) {
  Operation *op = l.op;
  MLIRContext *ctx = op->getContext();
  Value act = op->getOperand(l.actOperand);
  auto at = dyn_cast<RankedTensorType>(act.getType());
  if (!at || !at.hasStaticShape() ||
      llvm::any_of(op->getResultTypes(), [](Type t) {
        auto rt = dyn_cast<RankedTensorType>(t);
        return !rt || !rt.hasStaticShape();
      })) {
    err = "the layer's shapes are not static (fix them with --input-shape)";
    return nullptr;
  }
  llvm::SetVector<Operation *> slice;
  std::function<bool(Value)> collect = [&](Value v) -> bool {
    if (v == act)
      return true;
    Operation *d = v.getDefiningOp();
    if (!d)
      return false;
    if (slice.contains(d))
      return true;
    for (Value o : d->getOperands())
      if (!collect(o))
        return false;
    llvm::SetVector<Value> above;
    getUsedValuesDefinedAbove(d->getRegions(), above);
    for (Value o : above)
      if (!collect(o))
        return false;
    slice.insert(d);
    return true;
  };
  llvm::SetVector<Value> reads;
  for (auto [i, v] : llvm::enumerate(op->getOperands()))
    if (i != l.actOperand)
      reads.insert(v);
  getUsedValuesDefinedAbove(op->getRegions(), reads);
  for (Value v : reads)
    if (!collect(v)) {
      err = "the layer reads a run-time value besides its activation";
      return nullptr;
    }

  OpBuilder b(ctx);
  Location loc = op->getLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  auto fn = func::FuncOp::create(b, loc, "main",
                                 b.getFunctionType({at}, op->getResultTypes()));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToEnd(entry);
  IRMapping map;
  map.map(act, entry->getArgument(0));
  for (Operation *d : slice)
    b.clone(*d, map);
  Operation *copy = b.clone(*op, map);
  copy->removeAttr("qc.candidates");
  if (scheme.getIsStatic() && !scheme.getRangeMin())
    scheme = scheme.withRange(-1.0, 1.0);
  copy->setAttr("qc.scheme", scheme);
  if (bitplane)
    copy->setAttr("qc.bitplane", b.getBoolAttr(*bitplane));
  func::ReturnOp::create(b, loc, copy->getResults());
  SmallVector<Attribute> outs;
  for (unsigned i = 0; i < copy->getNumResults(); ++i)
    outs.push_back(b.getStringAttr("y" + std::to_string(i)));
  fn->setAttr("qc.input_names", b.getArrayAttr({b.getStringAttr("x")}));
  fn->setAttr("qc.output_names", b.getArrayAttr(outs));
  return module;
}

/// What identifies a measurement: the op, its types and attributes (the
/// weight values aside: only their type matters to the time), the scheme
/// and the threads.
std::string keyOf(const QuantLayer &l, SchemeAttr scheme, unsigned threads) {
  std::string key;
  llvm::raw_string_ostream os(key);
  Operation *op = l.op;
  os << op->getName() << "|";
  for (Value v : op->getOperands())
    os << v.getType() << ",";
  os << "|";
  for (Type t : op->getResultTypes())
    os << t << ",";
  os << "|";
  for (NamedAttribute a : op->getAttrs()) {
    StringRef n = a.getName().strref();
    if (n.starts_with("qc.") || n == "operandSegmentSizes")
      continue;
    os << n << "=" << a.getValue() << ";";
  }
  os << "|w=" << l.weightRoot.getType() << "|" << scheme << "|t" << threads;
  return key;
}

} // namespace

LayerCostModel::LayerCostModel(
    CompileSession &session,
    std::function<FailureOr<std::string>(StringRef)> scratch,
    unsigned numThreads, std::string cachePath)
    : session(session), scratch(std::move(scratch)), numThreads(numThreads),
      cachePath(std::move(cachePath)) {
  if (this->cachePath.empty())
    return;
  auto buf = llvm::MemoryBuffer::getFile(this->cachePath);
  if (!buf)
    return;
  // An unreadable cache is measured again (and rewritten).
  llvm::Expected<llvm::json::Value> json =
      llvm::json::parse((*buf)->getBuffer());
  if (!json) {
    llvm::consumeError(json.takeError());
    return;
  }
  if (const llvm::json::Object *o = json->getAsObject())
    for (const auto &kv : *o)
      if (std::optional<double> v = kv.second.getAsNumber())
        cache[kv.first] = *v;
}

std::string LayerCostModel::defaultCachePath() {
  SmallString<256> dir;
  if (std::optional<std::string> d =
          llvm::sys::Process::GetEnv("QUANT_CACHE_DIR")) {
    dir = *d;
  } else if (std::optional<std::string> x =
                 llvm::sys::Process::GetEnv("XDG_CACHE_HOME")) {
    dir = *x;
    llvm::sys::path::append(dir, "quant");
  } else if (std::optional<std::string> h =
                 llvm::sys::Process::GetEnv("HOME")) {
    dir = *h;
    llvm::sys::path::append(dir, ".cache", "quant");
  } else {
    return "";
  }
  llvm::sys::path::append(dir, "costmodel",
                          sanitize(cpuName()) + "-v" +
                              std::to_string(kCostModelVersion) + ".json");
  return std::string(dir);
}

FailureOr<double> LayerCostModel::latency(const QuantLayer &l,
                                          SchemeAttr scheme,
                                          std::optional<bool> bitplane) {
  std::string key = keyOf(l, scheme, numThreads);
  if (bitplane)
    key += *bitplane ? "|planes" : "|no planes";
  if (auto it = cache.find(key); it != cache.end()) {
    ++cachedHits;
    return it->second;
  }
  std::string err;
  OwningOpRef<ModuleOp> module = buildLayerModule(l, scheme, bitplane, err);
  if (!module)
    return l.op->emitError() << "--latency-budget: cannot time "
                             << describeNode(l.op) << ": " << err;
  auto fn = module->lookupSymbol<func::FuncOp>("main");
  FailureOr<ModelSignature> sig = getModelSignature(fn);
  FailureOr<std::string> path =
      scratch("cost" + std::to_string(measured) + ".so");
  if (failed(sig) || failed(path) ||
      failed(session.compileLibrary(*module, *sig, CompilePhase::Graph, *path,
                                    QCQuantizePassOptions())))
    return failure();
  module = nullptr;
  FailureOr<double> raw = timeLibrary(*path, l.op);
  (void)llvm::sys::fs::remove(*path);
  if (failed(raw))
    return failure();
  // A call's fixed part (entering the library, waking its threads, copying
  // the output) is paid once per model call, not per layer: the median of
  // an elementwise op over the same activation is taken off.
  FailureOr<double> base = baseline(l);
  if (failed(base))
    return failure();
  double median = std::max(*raw - *base, 0.0);
  cache[key] = median;
  ++measured;
  return median;
}

FailureOr<double> LayerCostModel::timeLibrary(StringRef path, Operation *op) {
  std::string err;
  calib::CalibrationRunner runner;
  if (!runner.open(path.str(), numThreads, err))
    return op->emitError() << "--latency-budget: " << err;
  calib::Sample sample(1);
  qrun::Array &x = sample[0];
  x.dtype = QuantDLDataType{2, 32, 1};
  x.shape = runner.inputs()[0].shape;
  if (!x.allocate(err))
    return op->emitError() << "--latency-budget: " << err;
  std::mt19937 rng(17);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto *data = static_cast<float *>(x.data());
  for (int64_t i = 0, e = x.numElements(); i < e; ++i)
    data[i] = normal(rng);
  calib::Sample out;
  // Two warm-up calls, then at least 5 timed ones and until 0.2 s or 100.
  std::vector<double> ms;
  double total = 0;
  for (int i = 0; i < 2 || ms.size() < 5 || (total < 200 && ms.size() < 100);
       ++i) {
    auto t0 = std::chrono::steady_clock::now();
    if (!runner.runSample(sample, out, err, 0))
      return op->emitError() << "--latency-budget: " << err;
    double t = std::chrono::duration<double, std::milli>(
                   std::chrono::steady_clock::now() - t0)
                   .count();
    if (i >= 2) {
      ms.push_back(t);
      total += t;
    }
  }
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2];
}

FailureOr<double> LayerCostModel::baseline(const QuantLayer &l) {
  auto at = cast<RankedTensorType>(l.op->getOperand(l.actOperand).getType());
  std::string key;
  llvm::raw_string_ostream(key) << "call overhead|" << at << "|t" << numThreads;
  if (auto it = cache.find(key); it != cache.end())
    return it->second;
  OpBuilder b(l.op->getContext());
  Location loc = l.op->getLoc();
  OwningOpRef<ModuleOp> module = ModuleOp::create(loc);
  b.setInsertionPointToEnd(module->getBody());
  auto fn = func::FuncOp::create(b, loc, "main", b.getFunctionType({at}, {at}));
  Block *entry = fn.addEntryBlock();
  b.setInsertionPointToEnd(entry);
  Value x = entry->getArgument(0);
  Value init =
      tensor::EmptyOp::create(b, loc, at.getShape(), at.getElementType());
  auto mul = linalg::MulOp::create(b, loc, ValueRange{x, x}, ValueRange{init});
  func::ReturnOp::create(b, loc, mul->getResults());
  fn->setAttr("qc.input_names", b.getArrayAttr({b.getStringAttr("x")}));
  fn->setAttr("qc.output_names", b.getArrayAttr({b.getStringAttr("y")}));
  FailureOr<ModelSignature> sig = getModelSignature(fn);
  FailureOr<std::string> path = scratch("cost-base.so");
  if (failed(sig) || failed(path) ||
      failed(session.compileLibrary(*module, *sig, CompilePhase::Graph, *path)))
    return failure();
  module = nullptr;
  FailureOr<double> t = timeLibrary(*path, l.op);
  (void)llvm::sys::fs::remove(*path);
  if (succeeded(t))
    cache[key] = *t;
  return t;
}

std::string LayerCostModel::save() const {
  if (cachePath.empty() || measured == 0)
    return "";
  if (std::error_code ec = llvm::sys::fs::create_directories(
          llvm::sys::path::parent_path(cachePath)))
    return "cannot create " + llvm::sys::path::parent_path(cachePath).str() +
           ": " + ec.message();
  llvm::json::Object o;
  for (const auto &kv : cache)
    o[kv.first()] = kv.second;
  // A name of its own: compiles running at once each write whole files.
  std::string tmp =
      cachePath + ".tmp" + std::to_string(llvm::sys::Process::getProcessId());
  {
    std::error_code ec;
    llvm::raw_fd_ostream os(tmp, ec);
    if (ec)
      return "cannot write " + tmp + ": " + ec.message();
    os << llvm::formatv("{0:2}", llvm::json::Value(std::move(o))) << "\n";
  }
  if (std::error_code ec = llvm::sys::fs::rename(tmp, cachePath))
    return "cannot write " + cachePath + ": " + ec.message();
  return "";
}
