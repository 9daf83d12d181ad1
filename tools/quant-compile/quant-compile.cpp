//===- quant-compile.cpp - ONNX model to model.so -------------------------===//
//
// Part of quant. Imports an ONNX model (or reads a .mlir module holding
// func.func @main on tensors), runs the compile phases and emits MLIR, LLVM
// IR, an object or a self-contained model.so. A thin client of the C API
// (include/quant-c/Compiler.h): flag parsing and printing only.
//
// Exit status: 0 success, 2 error (bad model, bad option, unsafe external
// data, I/O), 3 the model uses something quant does not support yet.
//
//===----------------------------------------------------------------------===//

#include "quant-c/Compiler.h"
#include "quant/Import/ONNX/Importer.h"

#include "llvm/Support/CommandLine.h"
#include "llvm/Support/Format.h"
#include "llvm/Support/InitLLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <memory>

using namespace mlir;
using namespace llvm;

static cl::OptionCategory category("quant-compile options");

static cl::opt<std::string> inputFile(cl::Positional, cl::Required,
                                      cl::desc("<model.onnx | module.mlir>"),
                                      cl::cat(category));
static cl::opt<std::string> outputFile("o",
                                       cl::desc("Output file (required "
                                                "unless --emit=none)"),
                                       cl::value_desc("path"),
                                       cl::cat(category));
static cl::opt<bool>
    floatOnly("float", cl::desc("Compile in floating point, no quantization"),
              cl::cat(category));

static cl::OptionCategory qcat("quantization options (default: W8 int "
                               "per-channel sym / A8 int, static per-tensor "
                               "with --calib, else dynamic per-token)");
static cl::opt<unsigned> wbits("wbits",
                               cl::desc("Integer weight bits, 1..8 (8)"),
                               cl::init(8), cl::cat(qcat));
static cl::opt<std::string>
    abits("abits",
          cl::desc("Integer activation bits, 2..16 (8), or 'none' to keep "
                   "activations in float (weight-only)"),
          cl::init("8"), cl::cat(qcat));
static cl::opt<std::string>
    wformat("wformat",
            cl::desc("Weight format: int, fp8e4m3, fp8e5m2, fp6e3m2, "
                     "fp6e2m3, fp4e2m1, or bitmod (--wbits 3 or 4: each "
                     "weight group or channel picks an int or a float table "
                     "with a special value, BitMoD-style) (int)"),
            cl::init("int"), cl::cat(qcat));
static cl::opt<std::string>
    aformat("aformat",
            cl::desc("Activation format, as --wformat but not bitmod (int)"),
            cl::init("int"), cl::cat(qcat));
static cl::opt<std::string> granularity(
    "granularity",
    cl::desc("Weight scales: tensor, channel (output channel; a row of an "
             "embedding table) or group:G (blocks of G along the reduced "
             "axis; along an embedding row) (channel)"),
    cl::init("channel"), cl::cat(qcat));
static cl::opt<std::string> agranularity(
    "agranularity",
    cl::desc("Activation scales: tensor or token (per row, computed at run "
             "time). Default: tensor with --calib, else token"),
    cl::cat(qcat));
static cl::opt<bool>
    asym("asym",
         cl::desc("Asymmetric integer quantization (unsigned codes with zero "
                  "points) of weights and activations"),
         cl::cat(qcat));
static cl::opt<bool> bitBalance(
    "bit-balance",
    cl::desc("ABQ-LLM's bit balance for 1- and 2-bit integer weights: the "
             "symmetric levels [-2^(b-1), 2^(b-1)], ternary {-1, 0, 1} at "
             "--wbits 1 and {-2, ..., 2} at --wbits 2, stored in b + 1 bits "
             "(layers the policy keeps at 8 bits stay as they are)"),
    cl::cat(qcat));
static cl::opt<std::string> calibPath(
    "calib",
    cl::desc("Calibration data: a directory of .npz files (one sample each, "
             "keyed by input name), of .npy files (single-input models), or "
             "of ONNX test_data_set_* folders. Gathers the statistics of every "
             "quantized layer's input and makes per-tensor activation scales "
             "static"),
    cl::value_desc("path"), cl::cat(qcat));
static cl::opt<std::string>
    calibMethod("calib-method",
                cl::desc("Range selection of static activation scales: "
                         "auto (percentile:99.99 for convolutions' inputs, "
                         "minmax for the others), minmax, percentile:P (e.g. "
                         "percentile:99.99), mse, kl (auto)"),
                cl::init("auto"), cl::cat(qcat));
static cl::opt<bool> calibSecondMoments(
    "calib-second-moments",
    cl::desc("With --calib, also gather the second moment x x^T of each "
             "quantized layer's input along its channels (C x C per layer), "
             "and of each convolution's im2col vectors (C*kh*kw square, a "
             "slot of its own), in the statistics table qc.stats of "
             "--compile-to=quantize; what GPTQ reads"),
    cl::cat(qcat));
static cl::opt<std::string> smooth(
    "smooth",
    cl::desc("With --calib, migrate activation outliers into the weights "
             "(SmoothQuant; for weight-only schemes AWQ scales and clipping), "
             "folded into the layers before: off, auto (strength searched per "
             "group of layers on the calibration statistics) or an alpha in "
             "[0, 1]. Default: auto with --calib, else off"),
    cl::value_desc("off|auto|ALPHA"), cl::cat(qcat));
static cl::opt<std::string> rotate(
    "rotate",
    cl::desc("QuaRot-style Hadamard rotations (pass qc-rotate): online "
             "puts an online Hadamard transform on every input that only "
             "linears read, folded into their weights; residual rotates a "
             "transformer's residual stream by a randomized Hadamard matrix "
             "folded into the weights (online transforms before o and "
             "down); both also fold a Hadamard transform per attention "
             "head into the value and output projections; online also "
             "rotates every convolution's input channels (an online "
             "transform, folded into its weights); auto is online for "
             "transformers (a residual stream found), except 8-bit "
             "weights with static activations, and with --calib rotates "
             "the inputs of convolutions whose weights get fewer than 8 "
             "bits; off (auto)"),
    cl::value_desc("auto|residual|online|off"), cl::init("auto"),
    cl::cat(qcat));
static cl::opt<std::string> aclip(
    "aclip",
    cl::desc("Dynamic activation scales cover this fraction (0, 1] of each "
             "run-time range (per token or tensor); values beyond saturate "
             "(1)"),
    cl::value_desc("R"), cl::cat(qcat));
static cl::opt<std::string> kvCache(
    "kv-cache",
    cl::desc("Store a decoder's KV cache (an input appended to by a Concat "
             "whose result is an output) as int8 or int4 codes with a float "
             "scale per row (one token of one head) or per --kv-group "
             "elements: the cache crosses the C ABI as codes and scales "
             "(inputs and outputs NAME, NAME_scale and, with --kv-asym, "
             "NAME_zero; docs/runtime.md), keys and values rotated by "
             "Hadamard transforms; off (off). Applies to "
             "--float compiles too"),
    cl::value_desc("off|int8|int4"), cl::init("off"), cl::cat(qcat));
static cl::opt<std::string> kvGroup(
    "kv-group",
    cl::desc("With --kv-cache, elements of a cache row sharing one scale; "
             "must divide the row (0: the whole row) (0)"),
    cl::value_desc("N"), cl::cat(qcat));
static cl::opt<std::string> kvRotate(
    "kv-rotate",
    cl::desc("With --kv-cache, rotate each cache's new rows by a Hadamard "
             "transform (RotateKV): keys with the queries that read them, "
             "after the rotary embedding (Q K^T unchanged), values with the "
             "attention's context (P V unchanged), where the attention is "
             "found (on)"),
    cl::value_desc("on|off"), cl::init("on"), cl::cat(qcat));
static cl::opt<bool> kvAsym(
    "kv-asym",
    cl::desc("With --kv-cache, asymmetric codes: unsigned, with a zero point "
             "per scale (a third tensor, NAME_zero, int8); --kv-asym=false "
             "for symmetric ones (default: asymmetric for int4, symmetric "
             "for int8)"),
    cl::cat(qcat));
static cl::opt<std::string> kvClip(
    "kv-clip",
    cl::desc("With --kv-cache, the fraction of each group's range its scale "
             "covers; values beyond it saturate (0.9 for int4, 1 for int8)"),
    cl::value_desc("R"), cl::cat(qcat));
static cl::opt<std::string> weightRounding(
    "weight-rounding",
    cl::desc("How weights round onto their scales: rtn (to nearest) or gptq "
             "(GPTQ, error compensation along each linear's input second "
             "moment, an ungrouped convolution's im2col one; needs --calib) "
             "(rtn)"),
    cl::value_desc("rtn|gptq"), cl::init("rtn"), cl::cat(qcat));
static cl::opt<std::string> biasCorrection(
    "bias-correction",
    cl::desc("With --calib, lower each convolution's bias by the mean output "
             "change quantization causes. weights: the change its weight "
             "rounding causes, computed from the calibration inputs' "
             "per-channel means; on: that, and the change its activations' "
             "rounding causes, measured by compiling the quantized model and "
             "running it over the calibration data; auto: the weights' part "
             "in weight-only layers and weights of fewer bits than the "
             "activations, the activations' part everywhere; off (auto)"),
    cl::value_desc("auto|on|weights|off"), cl::init("auto"), cl::cat(qcat));
static cl::opt<unsigned> biasCorrectionPasses(
    "bias-correction-passes",
    cl::desc("Passes of the measured part of --bias-correction, 1..16, each on "
             "the model the previous one corrected (1)"),
    cl::value_desc("N"), cl::init(1), cl::cat(qcat));
static cl::opt<unsigned> outlierChannels(
    "outlier-channels",
    cl::desc("With --calib, linears with quantized activations compute at "
             "most N input channels of largest calibrated magnitude in float "
             "beside the quantized product (LLM.int8()/QUIK-style), so that "
             "the activation scale, static or per token, covers only the "
             "other channels; 0..256 (0)"),
    cl::value_desc("N"), cl::init(0), cl::cat(qcat));
static cl::opt<std::string> policy(
    "policy",
    cl::desc(
        "Precision policy: default keeps the boundary layers (nothing "
        "quantized before or after them: embeddings, a first "
        "convolution, an LM head or classifier) and depthwise "
        "convolutions at 8 bits in schemes below 8 bits (float formats at "
        "fp8e4m3), gives depthwise convolutions 16-bit integer "
        "activations, and gives boundary "
        "layers dynamic activation scales in static schemes (--calib); none "
        "applies the scheme to every layer. --config and --exclude "
        "override it (default)"),
    cl::value_desc("default|none"), cl::init("default"), cl::cat(qcat));
static cl::opt<unsigned>
    calibSamples("calib-samples",
                 cl::desc("Use at most N calibration samples (0: all)"),
                 cl::init(0), cl::cat(qcat));
static cl::list<std::string>
    excludes("exclude",
             cl::desc("Keep matching layers in float: a node name, an op "
                      "type (e.g. Conv) or a glob on node names (repeatable)"),
             cl::value_desc("NODE|OPTYPE|GLOB"), cl::cat(qcat));
static cl::opt<std::string> configPath(
    "config",
    cl::desc("Per-layer overrides, JSON (or YAML for .yaml/.yml): "
             "{\"default\": {...}, \"layers\": {\"NODE|OPTYPE|GLOB\": "
             "{\"w_bits\": 4, ...} | \"float\"}}; op types apply first, "
             "then globs, then node names (docs/quantization.md)"),
    cl::value_desc("file.json|file.yaml"), cl::cat(qcat));
static cl::opt<std::string> avgWBits(
    "avg-wbits",
    cl::desc("Mixed precision: choose each layer's weight scheme among "
             "--candidates so that the layers' weights average at most B "
             "code bits, with the least summed sensitivity (each candidate's "
             "effect on the model output, measured on --calib data with only "
             "that layer quantized; exact solve). Combinable with "
             "--size-budget"),
    cl::value_desc("B"), cl::cat(qcat));
static cl::opt<std::string> sizeBudget(
    "size-budget",
    cl::desc("Mixed precision: the model's stored weights (codes, scales, "
             "zero points) at most MB megabytes (10^6 bytes)"),
    cl::value_desc("MB"), cl::cat(qcat));
static cl::opt<std::string> latencyBudget(
    "latency-budget",
    cl::desc("Mixed precision: the assigned layers' summed time at most MS "
             "milliseconds, each layer's time under each candidate measured "
             "on this CPU by compiling and timing it alone (cached per CPU "
             "model, see --cost-cache); needs static shapes"),
    cl::value_desc("MS"), cl::cat(qcat));
static cl::opt<std::string> costCache(
    "cost-cache",
    cl::desc("Mixed precision: the file of cached layer timings (default: "
             "~/.cache/quant/costmodel/<cpu>-v<N>.json, or under "
             "$QUANT_CACHE_DIR / $XDG_CACHE_HOME/quant); none: measure "
             "every time"),
    cl::value_desc("file.json|none"), cl::cat(qcat));
static cl::opt<std::string> candidates(
    "candidates",
    cl::desc("Mixed precision: the weight schemes each layer may take, "
             "FORMAT[:GRANULARITY],... with FORMAT int1..int8, bitmod3, "
             "bitmod4, fp8e4m3, fp8e5m2, fp6e3m2, fp6e2m3 or fp4e2m1 and "
             "GRANULARITY tensor, channel or gG (int2:g128,int3:g128,"
             "int4:g128,int5:channel,int6:channel,int8:channel)"),
    cl::value_desc("list"), cl::cat(qcat));
static cl::opt<std::string> actCandidates(
    "act-candidates",
    cl::desc("Mixed precision: activation candidates crossed with the weight "
             "ones, integer bits 2..16 or none (float), e.g. 4,8,none; "
             "measured as symmetric per-token (a linear) or per-tensor "
             "scales. Only a latency budget makes fewer activation bits "
             "worth an error (default: each layer keeps its activations)"),
    cl::value_desc("list"), cl::cat(qcat));
static cl::opt<unsigned> sensitivitySamples(
    "sensitivity-samples",
    cl::desc("Mixed precision: calibration samples each sensitivity is "
             "measured on (0: all; 4)"),
    cl::init(4), cl::cat(qcat));
static cl::opt<std::string> writeConfig(
    "write-config",
    cl::desc("Mixed precision: write the chosen per-layer weight schemes as "
             "a --config JSON file (with the same other options, it compiles "
             "the same model without measuring again)"),
    cl::value_desc("file.json"), cl::cat(qcat));
static cl::list<std::string>
    reportPaths("report",
                cl::desc("Write the quantization report: out.html "
                         "(self-contained, plots inline) or out.json "
                         "(repeatable)"),
                cl::value_desc("file"), cl::cat(qcat));
static cl::opt<std::string> evalPath(
    "eval",
    cl::desc("Held-out inputs (same layouts as --calib) on which the report "
             "compares the quantized model with the float one"),
    cl::value_desc("path"), cl::cat(qcat));
static cl::opt<unsigned> threads(
    "calib-threads",
    cl::desc("Threads for calibration and evaluation (0: one per core)"),
    cl::init(0), cl::cat(qcat));
static cl::opt<bool> quiet("quiet", cl::desc("No progress display"),
                           cl::cat(qcat));
static cl::list<std::string> inputShapes(
    "input-shape",
    cl::desc("Fix an input's dynamic dimensions: NAME=d0,d1,... where '?' "
             "keeps a dimension as the model has it (repeatable)"),
    cl::value_desc("NAME=d0,d1,..."), cl::cat(category));
static cl::list<std::string> specializations(
    "specialize",
    cl::desc("Also compile the model for these extents of its dynamic "
             "dimensions, NAME=d0,d1,... ('?' keeps one dynamic; several "
             "inputs joined by ';'): the model.so runs that code when a "
             "run's inputs have them, the dynamic code otherwise "
             "(repeatable: one variant each)"),
    cl::value_desc("NAME=d0,d1,..."), cl::cat(category));
static cl::opt<std::string> emitKind(
    "emit",
    cl::desc("What to write: so (default, a model.so), obj (an object file), "
             "onnx-qdq (the quantized model as standard ONNX: QuantizeLinear/"
             "DequantizeLinear, integer weights, smoothing and rotations "
             "in the weights; docs/onnx-support.md), "
             "llvm (optimised LLVM IR), mlir (the IR after --compile-to), "
             "ptx (the generated GPU kernels' PTX, one file per --gpu-arch "
             "chip: NAME.CHIP.ptx beside -o when there are several; "
             "docs/gpu.md), "
             "none (run the phases up to --compile-to, default llvm, and "
             "write nothing: a check)"),
    cl::init("so"), cl::cat(category));
static cl::opt<std::string>
    compileTo("compile-to",
              cl::desc("Stop after this phase and write its MLIR: import, "
                       "graph, quantize, linalg, "
                       "bufferized, vector, llvm (implies --emit=mlir)"),
              cl::value_desc("phase"), cl::cat(category));
static cl::opt<bool> elideWeights(
    "elide-weights",
    cl::desc("With MLIR output, print weight blobs larger than 64 bytes as "
             "dense_resource<__elided__> (readable IR of a large model; it "
             "cannot be compiled again)"),
    cl::cat(category));
static cl::opt<bool> timing(
    "timing",
    cl::desc("Print each stage's wall time, the resident memory at its end "
             "and the peak so far to stderr (import, graph, quantize with "
             "calibration, the MLIR phases, LLVM translation, optimisation, "
             "code generation, linking)"),
    cl::cat(category));
static cl::opt<std::string>
    target("target", cl::desc("Code-generation target: cpu (cpu)"),
           cl::init("cpu"), cl::cat(category));
static cl::opt<std::string>
    mcpu("mcpu",
         cl::desc("Target CPU for generated code, e.g. x86-64-v3, znver4, "
                  "sapphirerapids (default: native, this host)"),
         cl::init("native"), cl::cat(category));
static cl::opt<std::string> gpuCode(
    "gpu",
    cl::desc("on: the model.so also carries tensor-core GPU kernels for its "
             "linear layers (cubins where ptxas is found, and PTX), which a "
             "session asking for cuda loads; the CUDA path does not run whole "
             "models yet, so the default is off (docs/gpu.md)"),
    cl::value_desc("on|off"), cl::cat(category));
static cl::opt<std::string> gpuArch(
    "gpu-arch",
    cl::desc("NVIDIA chips the GPU kernels are compiled for, comma-separated "
             "(sm_80 or newer; default sm_80,sm_89,sm_90a)"),
    cl::value_desc("sm_XX,..."), cl::cat(category));
static cl::opt<std::string> bitplane(
    "bitplane",
    cl::desc("Integer layers (per-tensor or per-channel weights) computed as "
             "sums of 1-bit products on the codes' bit planes (AND + "
             "population count, ABQ-LLM): on, off, or auto, where they were "
             "measured faster than 8-bit dot products (with AVX512-VPOPCNTDQ: "
             "weight bits x activation bits <= 4 and activations of at most "
             "2 bits, e.g. W2A2). Results are identical either way (auto)"),
    cl::init("auto"), cl::cat(category));
static cl::opt<std::string> runtimeLib(
    "runtime-lib",
    cl::desc("libQuantRuntime.a to link (default: ../lib next to this tool)"),
    cl::cat(category));
static cl::opt<bool> listOps("list-ops",
                             cl::desc("List the supported ONNX ops and exit"),
                             cl::cat(category));

static int fail(int code, const Twine &msg) {
  errs() << "quant-compile: error: " << msg << "\n";
  return code;
}

int main(int argc, char **argv) {
  InitLLVM y(argc, argv);
  // --list-ops needs no input: handle it before the required options.
  for (int i = 1; i < argc; ++i)
    if (StringRef(argv[i]) == "--list-ops" ||
        StringRef(argv[i]) == "-list-ops") {
      for (const auto &op : qc::getSupportedONNXOps())
        outs() << (op.domain.empty() ? "ai.onnx" : op.domain) << " "
               << op.opType << " " << op.sinceVersion << "\n";
      return 0;
    }
  cl::HideUnrelatedOptions({&category, &qcat});
  cl::ParseCommandLineOptions(
      argc, argv,
      "quant-compile: compile an ONNX model into a self-contained model.so\n\n"
      "  quant-compile model.onnx -o model.so                 (W8A8, dynamic "
      "activations)\n"
      "  quant-compile model.onnx --calib data/ -o model.so   (W8A8, static "
      "activations)\n"
      "  quant-compile model.onnx --wbits 4 --granularity group:128 --abits "
      "none -o m.so\n"
      "  quant-compile model.onnx --float -o model.so\n"
      "  quant-compile model.onnx --compile-to=quantize -o model.mlir\n\n"
      "Exit status: 0 success, 2 error, 3 unsupported op or dtype.\n");

  // Everything below is the C API's (include/quant-c/Compiler.h): this tool
  // only hands over the flags it was given, by name, and prints.
  std::unique_ptr<quant_compiler_t, void (*)(quant_compiler_t *)> compiler(
      quant_compiler_create(), quant_compiler_destroy);
  if (!compiler)
    return fail(2, "out of memory");
  auto set = [&](const char *name, const std::string &value) {
    return quant_compiler_set_option(compiler.get(), name, value.c_str()) ==
           QUANT_COMPILER_OK;
  };
  bool ok = true;
  auto given = [&](cl::Option &o) { return o.getNumOccurrences() > 0; };
  if (given(floatOnly))
    ok = ok && set("float", floatOnly ? "true" : "false");
  if (given(abits))
    ok = ok && set("abits", abits);
  if (given(granularity))
    ok = ok && set("granularity", granularity);
  for (auto [name, opt] :
       {std::pair<const char *, cl::opt<std::string> *>{"wformat", &wformat},
        {"aformat", &aformat},
        {"agranularity", &agranularity},
        {"calib", &calibPath},
        {"calib-method", &calibMethod},
        {"smooth", &smooth},
        {"rotate", &rotate},
        {"aclip", &aclip},
        {"kv-cache", &kvCache},
        {"kv-group", &kvGroup},
        {"kv-rotate", &kvRotate},
        {"kv-clip", &kvClip},
        {"weight-rounding", &weightRounding},
        {"bias-correction", &biasCorrection},
        {"policy", &policy},
        {"config", &configPath},
        {"avg-wbits", &avgWBits},
        {"size-budget", &sizeBudget},
        {"latency-budget", &latencyBudget},
        {"cost-cache", &costCache},
        {"candidates", &candidates},
        {"act-candidates", &actCandidates},
        {"write-config", &writeConfig},
        {"eval", &evalPath},
        {"emit", &emitKind},
        {"compile-to", &compileTo},
        {"target", &target},
        {"mcpu", &mcpu},
        {"gpu-arch", &gpuArch},
        {"gpu", &gpuCode},
        {"bitplane", &bitplane},
        {"runtime-lib", &runtimeLib}})
    if (ok && given(*opt))
      ok = set(name, *opt);
  for (auto [name, opt] :
       {std::pair<const char *, cl::opt<unsigned> *>{"wbits", &wbits},
        {"calib-samples", &calibSamples},
        {"calib-threads", &threads},
        {"sensitivity-samples", &sensitivitySamples},
        {"bias-correction-passes", &biasCorrectionPasses},
        {"outlier-channels", &outlierChannels}})
    if (ok && given(*opt))
      ok = set(name, std::to_string(*opt));
  for (auto [name, opt] :
       {std::pair<const char *, cl::opt<bool> *>{"asym", &asym},
        {"bit-balance", &bitBalance},
        {"quiet", &quiet},
        {"calib-second-moments", &calibSecondMoments},
        {"elide-weights", &elideWeights},
        {"kv-asym", &kvAsym},
        {"timing", &timing}})
    if (ok && given(*opt))
      ok = set(name, *opt ? "true" : "false");
  for (const std::string &v : excludes)
    ok = ok && set("exclude", v);
  for (const std::string &v : reportPaths)
    ok = ok && set("report", v);
  for (const std::string &v : inputShapes)
    ok = ok && set("input-shape", v);
  for (const std::string &v : specializations)
    ok = ok && set("specialize", v);
  if (ok && !reportPaths.empty()) {
    std::string cmd;
    for (int i = 0; i < argc; ++i)
      cmd += (i ? " " : "") + std::string(argv[i]);
    ok = set("command-line", cmd);
  }
  if (!ok)
    return fail(2, quant_compiler_error(compiler.get()));

  quant_compiler_set_diagnostics(
      compiler.get(),
      [](void *, const char *severity, const char *message) {
        errs() << "quant-compile: "
               << (StringRef(severity) == "error" ? "error: " : "note: ")
               << message << "\n";
      },
      nullptr);
  quant_compiler_status_t status =
      quant_compile_file(compiler.get(), inputFile.c_str(), outputFile.c_str());
  if (status != QUANT_COMPILER_OK)
    return status == QUANT_COMPILER_UNSUPPORTED ? 3 : 2;
  for (size_t i = 0, e = quant_compiler_num_eval_outputs(compiler.get()); i < e;
       ++i) {
    const char *name;
    double sqnr, cosine, argmax, maxAbs;
    quant_compiler_eval_output(compiler.get(), i, &name, &sqnr, &cosine,
                               &argmax, &maxAbs);
    outs() << "eval " << name << ": SQNR " << format("%.2f", sqnr)
           << " dB, cosine " << format("%.6f", cosine);
    if (argmax >= 0)
      outs() << ", argmax agreement " << format("%.4f", argmax);
    outs() << ", max abs error " << format("%.3g", maxAbs) << "\n";
  }
  return 0;
}
