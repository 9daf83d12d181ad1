//===- ReportTest.cpp - the JSON and HTML report writers ------------------===//
//
// Part of quant. The JSON must parse and hold every field; the HTML must be
// self-contained, balanced, escape user strings and embed the same JSON.
//
//===----------------------------------------------------------------------===//

#include "quant/Report/Report.h"

#include "llvm/ADT/SmallString.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

using namespace mlir::qc;
using namespace llvm;

namespace {

const char *kNastyName = "a<b&\"c\"";

QuantReport makeReport() {
  QuantReport r;
  r.model = "tiny.onnx";
  r.compilerVersion = "quant-compile 0.1";
  r.commandLine = "quant-compile tiny.onnx --scheme=w4a8 --report r.html";
  r.defaultScheme = "W4 int g128 sym / A8 int per-tensor static";
  r.calibMethod = "minmax";
  r.calibSamples = 16;
  r.kvCache = "4 caches stored as int4 codes with a scale per row; 4 "
              "rotated by a Hadamard transform";
  r.rotation = "transformer (residual stream of width 64): 9 online "
               "Hadamard transforms";
  r.floatWeightBytes = 4096;
  r.quantWeightBytes = 640;

  LayerReport q;
  q.name = "/layers.0/q_proj/MatMul";
  q.opType = "MatMul";
  q.scheme = r.defaultScheme;
  q.weightBits = 4;
  q.weightFormat = "int";
  q.weightGranularity = "g128";
  q.actBits = 8;
  q.actFormat = "int";
  q.actMode = "static";
  q.numWeights = 1024;
  q.weightBytes = 576;
  q.weightSQNR = 24.5;
  q.actSQNR = 38.25;
  q.smoothAlpha = 0.85;
  q.onlineHadamard = true;
  q.outlierChannels = {3, 17};
  q.actRange = std::make_pair(-3.5, 7.25);
  r.layers.push_back(q);

  LayerReport f;
  f.name = kNastyName;
  f.opType = "Gemm";
  f.scheme = "float (excluded)";
  f.weightBits = 32;
  f.weightFormat = "float";
  f.weightGranularity = "per-tensor";
  f.actMode = "none";
  f.numWeights = 16;
  f.weightBytes = 64;
  r.layers.push_back(f);

  EvalReport e;
  e.numSamples = 8;
  e.outputs.push_back({"logits", 31.5, 0.9995, 0.875, 0.125});
  e.outputs.push_back({"hidden", std::numeric_limits<double>::infinity(), 1.0,
                       std::nullopt, 0.0});
  r.eval = e;
  return r;
}

const json::Object &asObject(const json::Value &v) {
  static const json::Object empty;
  const json::Object *o = v.getAsObject();
  EXPECT_NE(o, nullptr);
  return o ? *o : empty;
}

void expectKeys(const json::Object &o,
                std::initializer_list<const char *> keys) {
  EXPECT_EQ(o.size(), keys.size());
  for (const char *k : keys)
    EXPECT_NE(o.get(k), nullptr) << "missing key " << k;
}

json::Value parse(StringRef text) {
  Expected<json::Value> v = json::parse(text);
  if (!v) {
    ADD_FAILURE() << toString(v.takeError());
    return nullptr;
  }
  return std::move(*v);
}

//===----------------------------------------------------------------------===//
// JSON
//===----------------------------------------------------------------------===//

TEST(ReportJSON, RoundTripHoldsEveryField) {
  QuantReport r = makeReport();
  json::Value v = parse(renderReportJSON(r));
  const json::Object &top = asObject(v);
  expectKeys(top, {"formatVersion", "model", "compilerVersion", "commandLine",
                   "defaultScheme", "calibMethod", "calibSamples", "rotation",
                   "kvCache", "floatWeightBytes", "quantWeightBytes",
                   "compressionRatio", "layers", "eval", "precision"});
  EXPECT_EQ(*top.get("precision"), json::Value(nullptr));
  EXPECT_EQ(top.getInteger("formatVersion"), kReportFormatVersion);
  EXPECT_EQ(top.getString("model"), r.model);
  EXPECT_EQ(top.getString("compilerVersion"), r.compilerVersion);
  EXPECT_EQ(top.getString("commandLine"), r.commandLine);
  EXPECT_EQ(top.getString("defaultScheme"), r.defaultScheme);
  EXPECT_EQ(top.getString("calibMethod"), "minmax");
  EXPECT_EQ(top.getInteger("calibSamples"), 16);
  EXPECT_EQ(top.getString("rotation"), r.rotation);
  EXPECT_EQ(top.getString("kvCache"), r.kvCache);
  EXPECT_EQ(top.getInteger("floatWeightBytes"), 4096);
  EXPECT_EQ(top.getInteger("quantWeightBytes"), 640);
  EXPECT_DOUBLE_EQ(*top.getNumber("compressionRatio"), 6.4);

  const json::Array *layers = top.getArray("layers");
  ASSERT_NE(layers, nullptr);
  ASSERT_EQ(layers->size(), 2u);
  for (const json::Value &l : *layers)
    expectKeys(asObject(l),
               {"name", "opType", "scheme", "weightBits", "weightFormat",
                "weightGranularity", "actBits", "actFormat", "actMode",
                "numWeights", "weightBytes", "weightSQNR", "smoothAlpha",
                "onlineHadamard", "outlierChannels", "actSQNR", "actRange"});
  const json::Object &q = asObject((*layers)[0]);
  EXPECT_EQ(q.getString("name"), "/layers.0/q_proj/MatMul");
  EXPECT_EQ(q.getString("opType"), "MatMul");
  EXPECT_EQ(q.getString("scheme"), r.defaultScheme);
  EXPECT_EQ(q.getInteger("weightBits"), 4);
  EXPECT_EQ(q.getString("weightFormat"), "int");
  EXPECT_EQ(q.getString("weightGranularity"), "g128");
  EXPECT_EQ(q.getInteger("actBits"), 8);
  EXPECT_EQ(q.getString("actFormat"), "int");
  EXPECT_EQ(q.getString("actMode"), "static");
  EXPECT_EQ(q.getInteger("numWeights"), 1024);
  EXPECT_EQ(q.getInteger("weightBytes"), 576);
  EXPECT_EQ(q.getNumber("weightSQNR"), 24.5);
  EXPECT_EQ(q.getNumber("actSQNR"), 38.25);
  EXPECT_EQ(q.getNumber("smoothAlpha"), 0.85);
  EXPECT_TRUE(asObject((*layers)[1]).get("smoothAlpha")->getAsNull());
  EXPECT_EQ(q.getBoolean("onlineHadamard"), true);
  EXPECT_EQ(asObject((*layers)[1]).getBoolean("onlineHadamard"), false);
  const json::Array *oc = q.getArray("outlierChannels");
  ASSERT_NE(oc, nullptr);
  ASSERT_EQ(oc->size(), 2u);
  EXPECT_EQ((*oc)[0].getAsInteger(), 3);
  EXPECT_EQ((*oc)[1].getAsInteger(), 17);
  const json::Array *noOc = asObject((*layers)[1]).getArray("outlierChannels");
  ASSERT_NE(noOc, nullptr);
  EXPECT_TRUE(noOc->empty());
  const json::Array *range = q.getArray("actRange");
  ASSERT_NE(range, nullptr);
  ASSERT_EQ(range->size(), 2u);
  EXPECT_EQ((*range)[0].getAsNumber(), -3.5);
  EXPECT_EQ((*range)[1].getAsNumber(), 7.25);

  const json::Object &f = asObject((*layers)[1]);
  EXPECT_EQ(f.getString("name"), kNastyName);
  for (const char *k : {"actBits", "weightSQNR", "actSQNR", "actRange"})
    EXPECT_EQ(*f.get(k), json::Value(nullptr)) << k;

  const json::Object &eval = asObject(*top.get("eval"));
  expectKeys(eval, {"numSamples", "outputs"});
  EXPECT_EQ(eval.getInteger("numSamples"), 8);
  const json::Array *outs = eval.getArray("outputs");
  ASSERT_NE(outs, nullptr);
  ASSERT_EQ(outs->size(), 2u);
  for (const json::Value &o : *outs)
    expectKeys(asObject(o),
               {"name", "sqnrDB", "cosine", "argmaxAgreement", "maxAbsErr"});
  const json::Object &o0 = asObject((*outs)[0]);
  EXPECT_EQ(o0.getString("name"), "logits");
  EXPECT_EQ(o0.getNumber("sqnrDB"), 31.5);
  EXPECT_EQ(o0.getNumber("cosine"), 0.9995);
  EXPECT_EQ(o0.getNumber("argmaxAgreement"), 0.875);
  EXPECT_EQ(o0.getNumber("maxAbsErr"), 0.125);
  const json::Object &o1 = asObject((*outs)[1]);
  EXPECT_EQ(o1.getNumber("sqnrDB"), kJSONInfiniteSQNR);
  EXPECT_EQ(*o1.get("argmaxAgreement"), json::Value(nullptr));
}

TEST(ReportJSON, NonFiniteAndEmpty) {
  QuantReport r; // no layers, no eval, nothing quantized
  LayerReport l;
  l.weightSQNR = -std::numeric_limits<double>::infinity();
  l.actSQNR = std::nan("");
  l.actRange = std::make_pair(-std::numeric_limits<double>::infinity(), 1.0);
  l.name = "bad\xff utf8";
  json::Value v = parse(renderReportJSON(r));
  EXPECT_EQ(*asObject(v).get("eval"), json::Value(nullptr));
  EXPECT_EQ(*asObject(v).get("compressionRatio"), json::Value(nullptr));
  EXPECT_EQ(asObject(v).getArray("layers")->size(), 0u);

  r.layers.push_back(l);
  v = parse(renderReportJSON(r));
  const json::Object &lo = asObject((*asObject(v).getArray("layers"))[0]);
  EXPECT_EQ(lo.getNumber("weightSQNR"), -kJSONInfiniteSQNR);
  EXPECT_EQ(*lo.get("actSQNR"), json::Value(nullptr));
  EXPECT_EQ((*lo.getArray("actRange"))[0], json::Value(nullptr));
  EXPECT_EQ(lo.getString("name"), "bad\xef\xbf\xbd utf8");
}

//===----------------------------------------------------------------------===//
// HTML
//===----------------------------------------------------------------------===//

/// Checks that elements nest: every end tag closes the innermost open element
/// (void elements and `/>` need none), and nothing is left open. The content
/// of <style> and <script> is skipped, as HTML parsers do.
::testing::AssertionResult isBalanced(StringRef html) {
  static const StringRef voidElements[] = {"meta", "br",  "link",
                                           "hr",   "img", "input"};
  std::vector<std::string> open;
  size_t i = 0;
  while ((i = html.find('<', i)) != StringRef::npos) {
    size_t end = html.find('>', i);
    if (end == StringRef::npos)
      return ::testing::AssertionFailure() << "unterminated tag at " << i;
    StringRef tag = html.slice(i + 1, end);
    i = end + 1;
    if (tag.starts_with("!"))
      continue;
    bool closing = tag.consume_front("/");
    StringRef name = tag.take_until(
        [](char c) { return c == ' ' || c == '\n' || c == '/'; });
    std::string lower = name.lower();
    if (closing) {
      if (open.empty() || open.back() != lower)
        return ::testing::AssertionFailure()
               << "</" << lower << "> closes <"
               << (open.empty() ? "nothing" : open.back()) << ">";
      open.pop_back();
      continue;
    }
    if (tag.ends_with("/") || llvm::is_contained(voidElements, lower))
      continue;
    open.push_back(lower);
    if (lower == "style" || lower == "script") {
      size_t close = html.find("</" + lower, i);
      if (close == StringRef::npos)
        return ::testing::AssertionFailure() << "unclosed <" << lower << ">";
      i = close;
    }
  }
  if (!open.empty())
    return ::testing::AssertionFailure() << "<" << open.back() << "> unclosed";
  return ::testing::AssertionSuccess();
}

size_t countOf(StringRef haystack, StringRef needle) {
  size_t n = 0;
  for (size_t i = 0; (i = haystack.find(needle, i)) != StringRef::npos;
       i += needle.size())
    ++n;
  return n;
}

/// The JSON of the <script type="application/json"> block.
std::string embeddedJSON(StringRef html) {
  StringRef open =
      "<script type=\"application/json\" id=\"quant-report-data\">";
  size_t b = html.find(open);
  size_t e = html.find("</script>", b);
  if (b == StringRef::npos || e == StringRef::npos)
    return "";
  return html.slice(b + open.size(), e).str();
}

TEST(ReportHTML, SelfContainedBalancedAndEscaped) {
  QuantReport r = makeReport();
  std::string html = renderReportHTML(r);
  StringRef h = html;
  EXPECT_TRUE(h.starts_with("<!DOCTYPE html>"));
  EXPECT_TRUE(isBalanced(h));
  EXPECT_EQ(countOf(h, "<svg"), 2u); // layers, outputs

  // Nothing is fetched: the only URL is the SVG namespace.
  std::string noNs = html;
  for (size_t p;
       (p = noNs.find("http://www.w3.org/2000/svg")) != std::string::npos;)
    noNs.erase(p, 26);
  EXPECT_EQ(noNs.find("http://"), std::string::npos);
  EXPECT_EQ(noNs.find("https://"), std::string::npos);
  EXPECT_EQ(noNs.find("src="), std::string::npos);
  EXPECT_EQ(noNs.find("href="), std::string::npos);

  EXPECT_EQ(h.find(kNastyName), StringRef::npos);
  EXPECT_NE(h.find("a&lt;b&amp;&quot;c&quot;"), StringRef::npos);

  for (StringRef s :
       {"tiny.onnx", "quant-compile 0.1", "minmax", "16 samples", "6.40",
        "W4 int g128 sym", "float (excluded)", "Weight SQNR", "Activation SQNR",
        "SQNR (dB)", "logits", "31.50", "0.999500", "87.50%", "\u221E"})
    EXPECT_NE(h.find(s), StringRef::npos) << s.str();
  // The float layer's unset values show a dash.
  EXPECT_NE(h.find("<td class=\"num\">\u2014</td>"), StringRef::npos);

  // The embedded JSON is the JSON report.
  EXPECT_EQ(parse(embeddedJSON(h)), reportToJSON(r));
}

TEST(ReportPrecision, JSONAndChart) {
  QuantReport r = makeReport();
  PrecisionChoice a;
  a.name = kNastyName;
  a.numWeights = 1024;
  a.candidates = {{"W2 int g128 sym / A float", 2, 0.5, 0.25},
                  {"W4 int g128 sym / A float", 4, 0.01, std::nullopt},
                  {"W8 int per-channel sym / A float", 8, 0.0, 0.75}};
  a.chosen = 1;
  r.precision.push_back(a);
  PrecisionChoice b = a;
  b.name = "fc2";
  b.chosen = 2;
  r.precision.push_back(b);
  r.precisionSummary.avgWBitsBudget = 6;
  r.precisionSummary.avgWBits = 6;
  r.precisionSummary.bytes = 1536;
  r.precisionSummary.error = 0.01;
  r.precisionSummary.samples = 4;
  r.precisionSummary.latencyMs = 1.5;

  json::Value v = parse(renderReportJSON(r));
  const json::Object &p = asObject(*asObject(v).get("precision"));
  expectKeys(p,
             {"avgWBitsBudget", "sizeBudgetMB", "latencyBudgetMs", "latencyMs",
              "avgWBits", "weightBytes", "error", "samples", "layers"});
  EXPECT_EQ(p.getNumber("avgWBitsBudget"), 6);
  EXPECT_EQ(*p.get("sizeBudgetMB"), json::Value(nullptr));
  EXPECT_EQ(*p.get("latencyBudgetMs"), json::Value(nullptr));
  EXPECT_EQ(p.getNumber("latencyMs"), 1.5);
  EXPECT_EQ(p.getInteger("weightBytes"), 1536);
  EXPECT_EQ(p.getInteger("samples"), 4);
  const json::Array *layers = p.getArray("layers");
  ASSERT_NE(layers, nullptr);
  ASSERT_EQ(layers->size(), 2u);
  const json::Object &l0 = asObject((*layers)[0]);
  expectKeys(l0, {"name", "numWeights", "candidates", "chosen"});
  EXPECT_EQ(l0.getString("name"), kNastyName);
  EXPECT_EQ(l0.getInteger("chosen"), 1);
  const json::Array *cands = l0.getArray("candidates");
  ASSERT_NE(cands, nullptr);
  ASSERT_EQ(cands->size(), 3u);
  const json::Object &c0 = asObject((*cands)[0]);
  expectKeys(c0, {"scheme", "weightBits", "error", "latencyMs"});
  EXPECT_EQ(c0.getInteger("weightBits"), 2);
  EXPECT_EQ(c0.getNumber("error"), 0.5);
  EXPECT_EQ(c0.getNumber("latencyMs"), 0.25);
  EXPECT_EQ(*asObject((*cands)[1]).get("latencyMs"), json::Value(nullptr));

  // The HTML section: one more chart, a dot per candidate, the chosen ones
  // filled, names escaped, an exact (zero error) candidate still drawn.
  std::string html = renderReportHTML(r);
  EXPECT_TRUE(isBalanced(html));
  EXPECT_EQ(countOf(html, "<svg"), 3u);
  EXPECT_NE(html.find("<h2>Mixed precision</h2>"), std::string::npos);
  EXPECT_EQ(countOf(html, "<circle"), 6u);
  EXPECT_EQ(countOf(html, "<circle") - countOf(html, "fill=\"none\""), 2u);
  EXPECT_EQ(html.find(kNastyName), std::string::npos);
  EXPECT_EQ(parse(embeddedJSON(html)), reportToJSON(r));
}

TEST(ReportHTML, ScriptCannotBeClosedByAName) {
  QuantReport r = makeReport();
  r.layers[0].name = "</script><script>alert(1)</script>";
  r.model = "<!-- m -->";
  std::string html = renderReportHTML(r);
  EXPECT_EQ(countOf(html, "</script>"), 1u);
  EXPECT_EQ(countOf(html, "<script"), 1u);
  EXPECT_EQ(html.find("<!-- m"), std::string::npos);
  EXPECT_TRUE(isBalanced(html));
  EXPECT_EQ(parse(embeddedJSON(html)), reportToJSON(r));
}

TEST(ReportHTML, EmptyReport) {
  QuantReport r;
  std::string html = renderReportHTML(r);
  EXPECT_TRUE(isBalanced(html));
  EXPECT_NE(html.find("No layers."), std::string::npos);
  EXPECT_NE(html.find("No evaluation was run."), std::string::npos);
  EXPECT_EQ(html.find("<svg"), std::string::npos);
  EXPECT_EQ(parse(embeddedJSON(html)), reportToJSON(r));
}

double svgHeight(StringRef html) {
  size_t p = html.find("<svg");
  p = html.find("height=\"", p);
  if (p == StringRef::npos)
    return 0;
  double h = 0;
  html.substr(p + 8).take_until([](char c) { return c == '"'; }).getAsDouble(h);
  return h;
}

TEST(ReportHTML, ManyLayersGrowTheChart) {
  QuantReport small = makeReport(), big = makeReport();
  big.layers.clear();
  for (int i = 0; i < 400; ++i) {
    LayerReport l = small.layers[0];
    l.name = "/model/decoder/layers." + std::to_string(i) +
             "/self_attn/very_long_projection_name/MatMul";
    l.weightSQNR = i % 7 == 0 ? std::nullopt : std::optional<double>(i * 0.1);
    l.actSQNR = i % 5 == 0 ? -3.0 : 40.0;
    big.layers.push_back(l);
  }
  std::string html = renderReportHTML(big);
  EXPECT_TRUE(isBalanced(html));
  EXPECT_GT(svgHeight(html), 400 * 15.0);
  // Coordinates are plain decimals (raw_ostream would print 8.000000e+02).
  EXPECT_EQ(html.find("e+0"), std::string::npos);
  EXPECT_GT(svgHeight(html), svgHeight(renderReportHTML(small)));
  // Long names are shortened in the chart, keeping both ends, with the full
  // name in a tooltip.
  EXPECT_NE(html.find("\u2026"), std::string::npos);
  EXPECT_NE(html.find("<title>/model/decoder/layers.399/self_attn/"
                      "very_long_projection_name/MatMul</title>"),
            std::string::npos);
}

//===----------------------------------------------------------------------===//
// writeReport
//===----------------------------------------------------------------------===//

class WriteReport : public ::testing::Test {
protected:
  void SetUp() override {
    ASSERT_FALSE(sys::fs::createUniqueDirectory("quant-report-test", dir));
  }
  void TearDown() override { sys::fs::remove_directories(dir); }
  std::string path(StringRef name) {
    SmallString<128> p(dir);
    sys::path::append(p, name);
    return std::string(p);
  }
  std::string read(StringRef p) {
    auto buf = MemoryBuffer::getFile(p);
    return buf ? (*buf)->getBuffer().str() : "";
  }
  SmallString<128> dir;
};

TEST_F(WriteReport, PicksTheFormatFromTheExtension) {
  QuantReport r = makeReport();
  std::string error;
  ASSERT_TRUE(writeReport(r, path("r.json"), error)) << error;
  EXPECT_EQ(parse(read(path("r.json"))), reportToJSON(r));
  for (const char *name : {"r.html", "r.htm", "R.HTML"}) {
    ASSERT_TRUE(writeReport(r, path(name), error)) << error;
    EXPECT_EQ(read(path(name)), renderReportHTML(r)) << name;
  }
}

TEST_F(WriteReport, RejectsUnknownExtensions) {
  std::string error;
  for (const char *name : {"r.txt", "r", "r.json.gz", "html"}) {
    error.clear();
    EXPECT_FALSE(writeReport(makeReport(), path(name), error)) << name;
    EXPECT_NE(error.find(".json, .html or .htm"), std::string::npos) << error;
    EXPECT_FALSE(sys::fs::exists(path(name))) << name;
  }
}

TEST_F(WriteReport, FailsCleanlyWhenUnwritable) {
  std::string error;
  EXPECT_FALSE(writeReport(makeReport(), path("no/such/dir/r.html"), error));
  EXPECT_NE(error.find("cannot write the report"), std::string::npos) << error;

  // A directory where the file should go.
  ASSERT_FALSE(sys::fs::create_directory(path("d.json")));
  error.clear();
  EXPECT_FALSE(writeReport(makeReport(), path("d.json"), error));
  EXPECT_FALSE(error.empty());
}

} // namespace
