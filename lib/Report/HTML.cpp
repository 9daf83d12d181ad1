//===- HTML.cpp - the report as one self-contained HTML page --------------===//
//
// Part of quant. The page loads nothing: styles are inline, charts are inline
// SVG, and there is no script to run (the JSON block is data only). Every
// user string goes through escapeHTML.
//
//===----------------------------------------------------------------------===//

#include "quant/Report/Report.h"

#include "llvm/ADT/StringMap.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

using namespace llvm;
using namespace mlir::qc;

namespace {

constexpr const char *kDash = "\u2014";

//===----------------------------------------------------------------------===//
// Text
//===----------------------------------------------------------------------===//

std::string validUTF8(StringRef s) {
  return json::isUTF8(s) ? s.str() : json::fixUTF8(s);
}

/// Escapes text for element content and quoted attribute values alike.
std::string escapeHTML(StringRef raw) {
  std::string s = validUTF8(raw), out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
    case '&':
      out += "&amp;";
      break;
    case '<':
      out += "&lt;";
      break;
    case '>':
      out += "&gt;";
      break;
    case '"':
      out += "&quot;";
      break;
    case '\'':
      out += "&#39;";
      break;
    default:
      // Control characters are not allowed in HTML text.
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n' &&
           c != '\r') ||
          c == 0x7f)
        out += "&#xFFFD;";
      else
        out += c;
    }
  }
  return out;
}

/// Escaped text, or a dash when empty.
std::string textOrDash(StringRef s) {
  return s.empty() ? kDash : escapeHTML(s);
}

/// Shortens a name to at most `maxChars` code points, keeping both ends (ONNX
/// names differ at the start, /model/layers.12/, and the end, q_proj/MatMul).
std::string truncateMiddle(StringRef raw, size_t maxChars) {
  std::string s = validUTF8(raw);
  std::vector<size_t> starts; // byte offset of each code point
  for (size_t i = 0; i != s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80)
      starts.push_back(i);
  if (starts.size() <= maxChars)
    return s;
  size_t head = (maxChars - 1) / 2, tail = maxChars - 1 - head;
  return s.substr(0, starts[head]) + "\u2026" +
         s.substr(starts[starts.size() - tail]);
}

std::string printNum(const char *fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

/// A metric with printf format `fmt`; a dash when unset or undefined (NaN).
std::string metric(std::optional<double> v, const char *fmt) {
  if (!v || std::isnan(*v))
    return kDash;
  if (std::isinf(*v))
    return *v > 0 ? "\u221E" : "\u2212\u221E";
  return printNum(fmt, *v);
}

std::string groupDigits(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -(v + 1) + uint64_t(1) : v);
  std::string out;
  for (size_t i = 0; i != digits.size(); ++i) {
    if (i && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string bytes(int64_t b) {
  static const char *units[] = {"KiB", "MiB", "GiB", "TiB"};
  if (b < 1024)
    return groupDigits(b) + " B";
  double v = double(b);
  int u = -1;
  while (v >= 1024 && u < 3) {
    v /= 1024;
    ++u;
  }
  return printNum("%.2f ", v) + units[u] + " (" + groupDigits(b) + " B)";
}

//===----------------------------------------------------------------------===//
// Horizontal bar charts of SQNR
//===----------------------------------------------------------------------===//

struct Series {
  const char *name;
  const char *color;
};

struct Row {
  std::string label;
  std::vector<std::optional<double>> values; // one per series
};

/// A step of 1, 2 or 5 times a power of ten giving at most ~10 ticks.
double niceStep(double range) {
  double p = std::pow(10.0, std::floor(std::log10(range / 10)));
  for (double m : {1.0, 2.0, 5.0, 10.0})
    if (range / (m * p) <= 10)
      return m * p;
  return 10 * p;
}

/// ` name="v"`, the value rounded to 0.1 px.
std::string attr(const char *name, double v) {
  return std::string(" ") + name + printNum("=\"%.1f\"", v);
}

/// One row of bars per item, one bar per series, SQNR in dB along x.
void renderSQNRChart(raw_ostream &os, ArrayRef<Series> series,
                     ArrayRef<Row> rows) {
  const double width = 800, labelW = 230, valueW = 70;
  const double x0 = labelW + 10, x1 = width - valueW;
  const double legendH = 22, axisH = 18;
  const double barH = series.size() == 1 ? 12 : 7,
               rowH = series.size() * barH + 6;
  const double plotTop = legendH + axisH, plotH = rows.size() * rowH;
  const double height = plotTop + plotH + axisH + 22;

  // The domain always holds 0 (bars start there) and every finite value;
  // infinite values are drawn to the edge and labelled.
  double lo = 0, hi = 0;
  for (const Row &r : rows)
    for (std::optional<double> v : r.values)
      if (v && std::isfinite(*v)) {
        lo = std::min(lo, *v);
        hi = std::max(hi, *v);
      }
  if (hi - lo < 1)
    hi = lo + 10;
  double step = niceStep(hi - lo);
  lo = std::floor(lo / step) * step;
  hi = std::ceil(hi / step) * step;
  auto xOf = [&](double v) {
    return x0 + (std::clamp(v, lo, hi) - lo) / (hi - lo) * (x1 - x0);
  };

  os << "<svg xmlns=\"http://www.w3.org/2000/svg\"" << attr("width", width)
     << attr("height", height) << " viewBox=\"0 0 " << printNum("%.1f", width)
     << " " << printNum("%.1f", height) << "\" role=\"img\">\n";

  // Legend.
  double lx = x0;
  for (const Series &s : series) {
    os << "<rect" << attr("x", lx)
       << " y=\"5\" width=\"12\" height=\"12\" fill=\"" << s.color << "\"/>"
       << "<text" << attr("x", lx + 16) << " y=\"15\">" << s.name
       << "</text>\n";
    lx += 16 + 7.5 * std::strlen(s.name) + 24;
  }

  // Row stripes, then grid lines and tick labels above and below the plot.
  for (size_t i = 0; i < rows.size(); i += 2)
    os << "<rect x=\"0\"" << attr("y", plotTop + i * rowH)
       << attr("width", width) << attr("height", rowH)
       << " class=\"stripe\"/>\n";
  int numSteps = int(std::lround((hi - lo) / step));
  for (int i = 0; i <= numSteps; ++i) {
    double t = lo + i * step, x = xOf(t);
    bool zero = std::abs(t) < step / 2;
    std::string tick = printNum("%g", zero ? 0.0 : t);
    os << "<line" << attr("x1", x) << attr("x2", x) << attr("y1", plotTop)
       << attr("y2", plotTop + plotH)
       << (zero ? " class=\"zero\"/>" : " class=\"grid\"/>");
    for (double y : {plotTop - 5, plotTop + plotH + 13})
      os << "<text" << attr("x", x) << attr("y", y)
         << " text-anchor=\"middle\">" << tick << "</text>";
    os << "\n";
  }
  os << "<text" << attr("x", (x0 + x1) / 2) << attr("y", height - 4)
     << " text-anchor=\"middle\" class=\"axis\">SQNR (dB)</text>\n";

  // Bars, each with its full name and value in a tooltip.
  for (size_t i = 0; i != rows.size(); ++i) {
    const Row &r = rows[i];
    double y = plotTop + i * rowH + 3;
    std::string full = escapeHTML(r.label);
    os << "<text" << attr("x", labelW)
       << attr("y", y + series.size() * barH / 2 + 4)
       << " text-anchor=\"end\"><title>" << full << "</title>"
       << escapeHTML(truncateMiddle(r.label, 34)) << "</text>\n";
    for (size_t s = 0; s != series.size(); ++s, y += barH) {
      std::optional<double> v =
          s < r.values.size() ? r.values[s] : std::nullopt;
      double textY = y + barH - 1;
      if (!v || std::isnan(*v)) {
        os << "<text" << attr("x", xOf(0) + 3) << attr("y", textY)
           << " class=\"missing\">" << kDash << "</text>\n";
        continue;
      }
      double a = xOf(std::min(0.0, *v)), b = xOf(std::max(0.0, *v));
      std::string value = metric(v, "%.1f");
      os << "<rect" << attr("x", a) << attr("y", y)
         << attr("width", std::max(b - a, 1.0)) << attr("height", barH - 1)
         << " fill=\"" << series[s].color << "\"><title>" << full << " \u2014 "
         << series[s].name << ": " << value << " dB</title></rect><text"
         << attr("x", b + 3) << attr("y", textY) << " class=\"value\">" << value
         << "</text>\n";
    }
  }
  os << "</svg>\n";
}

//===----------------------------------------------------------------------===//
// Page sections
//===----------------------------------------------------------------------===//

constexpr const char *kStyle = R"css(
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
       margin: 2em auto; max-width: 1200px; padding: 0 1em; color: #222; }
h1 { font-size: 1.6em; margin-bottom: .3em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 1.8em; }
table { border-collapse: collapse; }
th, td { padding: .25em .6em; text-align: left; vertical-align: top; }
table.kv th { color: #555; font-weight: 600; white-space: nowrap; }
table.grid th { background: #f0f0f0; }
table.grid td, table.grid th { border: 1px solid #ddd; }
table.grid tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums;
         white-space: nowrap; }
code { font: 12px ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
       word-break: break-all; }
.scroll { overflow-x: auto; }
.muted { color: #777; }
svg { display: block; margin: .5em 0 1em; }
svg text { font: 11px ui-monospace, "SFMono-Regular", Menlo, Consolas,
           monospace; fill: #333; }
svg text.axis { font-weight: 600; }
svg text.value, svg text.missing { fill: #666; font-size: 10px; }
svg .stripe { fill: #f6f6f6; }
svg .grid { stroke: #ddd; }
svg .zero { stroke: #555; }
)css";

constexpr Series kWeightSeries = {"Weight SQNR", "#4e79a7"};
constexpr Series kActSeries = {"Activation SQNR (calibration estimate)",
                               "#f28e2b"};
constexpr Series kOutputSeries = {"Output SQNR", "#59a14f"};

void kvRow(raw_ostream &os, StringRef key, StringRef htmlValue) {
  os << "<tr><th>" << key << "</th><td>" << htmlValue << "</td></tr>\n";
}

void renderHeader(raw_ostream &os, const QuantReport &r) {
  os << "<header>\n<h1>Quantization report: " << textOrDash(r.model)
     << "</h1>\n<table class=\"kv\">\n";
  kvRow(os, "Model", textOrDash(r.model));
  kvRow(os, "Compiler", textOrDash(r.compilerVersion));
  kvRow(os, "Command line",
        r.commandLine.empty()
            ? kDash
            : "<code>" + escapeHTML(r.commandLine) + "</code>");
  kvRow(os, "Default scheme", textOrDash(r.defaultScheme));

  // Schemes in use, in order of first appearance, with their layer counts.
  std::vector<std::string> order;
  StringMap<size_t> counts;
  for (const LayerReport &l : r.layers)
    if (counts[l.scheme]++ == 0)
      order.push_back(l.scheme);
  std::string schemes;
  for (const std::string &s : order)
    schemes += textOrDash(s) + " <span class=\"muted\">(" +
               std::to_string(counts[s]) +
               (counts[s] == 1 ? " layer" : " layers") + ")</span><br>";
  kvRow(os, "Schemes in use", schemes.empty() ? kDash : schemes);
  kvRow(os, "Calibration",
        textOrDash(r.calibMethod) + ", " + std::to_string(r.calibSamples) +
            (r.calibSamples == 1 ? " sample" : " samples"));
  if (!r.rotation.empty())
    kvRow(os, "Rotation", escapeHTML(r.rotation));
  if (!r.kvCache.empty())
    kvRow(os, "KV cache", escapeHTML(r.kvCache));
  os << "</table>\n</header>\n";
}

void renderEvalTable(raw_ostream &os, const EvalReport &e) {
  os << "<h3>Float vs quantized model on " << e.numSamples
     << (e.numSamples == 1 ? " sample" : " samples") << "</h3>\n";
  if (e.outputs.empty()) {
    os << "<p class=\"muted\">No outputs were compared.</p>\n";
    return;
  }
  os << "<div class=\"scroll\"><table class=\"grid\">\n<tr><th>Output</th>"
        "<th>SQNR (dB)</th><th>Cosine similarity</th>"
        "<th>Argmax agreement</th><th>Max abs error</th></tr>\n";
  for (const OutputMetrics &o : e.outputs) {
    std::optional<double> agreement;
    if (o.argmaxAgreement)
      agreement = *o.argmaxAgreement * 100;
    os << "<tr><td>" << textOrDash(o.name) << "</td><td class=\"num\">"
       << metric(o.sqnrDB, "%.2f") << "</td><td class=\"num\">"
       << metric(o.cosine, "%.6f") << "</td><td class=\"num\">"
       << metric(agreement, "%.2f%%") << "</td><td class=\"num\">"
       << metric(o.maxAbsErr, "%.4g") << "</td></tr>\n";
  }
  os << "</table></div>\n";
}

void renderSummary(raw_ostream &os, const QuantReport &r) {
  os << "<section id=\"summary\">\n<h2>Summary</h2>\n<table class=\"kv\">\n";
  kvRow(os, "Layers", std::to_string(r.layers.size()));
  kvRow(os, "Weights as float32", bytes(r.floatWeightBytes));
  kvRow(os, "Weights as stored", bytes(r.quantWeightBytes));
  std::optional<double> ratio;
  if (r.quantWeightBytes > 0)
    ratio = double(r.floatWeightBytes) / double(r.quantWeightBytes);
  kvRow(os, "Compression ratio", metric(ratio, "%.2f\u00D7"));
  os << "</table>\n";
  if (r.eval)
    renderEvalTable(os, *r.eval);
  else
    os << "<p class=\"muted\">No evaluation was run.</p>\n";
  os << "</section>\n";
}

void renderCharts(raw_ostream &os, const QuantReport &r) {
  os << "<section id=\"charts\">\n<h2>Error per layer</h2>\n";
  if (r.layers.empty()) {
    os << "<p class=\"muted\">No layers.</p>\n";
  } else {
    std::vector<Row> rows;
    for (const LayerReport &l : r.layers)
      rows.push_back({l.name, {l.weightSQNR, l.actSQNR}});
    renderSQNRChart(os, {kWeightSeries, kActSeries}, rows);
  }
  if (r.eval && !r.eval->outputs.empty()) {
    os << "<h3>Error per output</h3>\n";
    std::vector<Row> rows;
    for (const OutputMetrics &o : r.eval->outputs)
      rows.push_back({o.name, {o.sqnrDB}});
    renderSQNRChart(os, {kOutputSeries}, rows);
  }
  os << "</section>\n";
}

/// Mixed precision: per layer, the chosen weight bits (a bar, 0..8) and
/// every candidate's sensitivity on a log scale (a dot labelled with its
/// bits; the chosen one filled), so that where the bits went can be read
/// against what each layer costs the output.
void renderPrecisionChart(raw_ostream &os, const QuantReport &r) {
  const double width = 800, labelW = 230, bitsW = 150, rowH = 16;
  const double bx0 = labelW + 10, bx1 = bx0 + bitsW;
  const double x0 = bx1 + 40, x1 = width - 20;
  const double top = 40, plotH = r.precision.size() * rowH;
  const double height = top + plotH + 40;
  double lo = 0, hi = 0;
  bool any = false;
  for (const PrecisionChoice &c : r.precision)
    for (const PrecisionCandidate &k : c.candidates)
      if (k.error > 0 && std::isfinite(k.error)) {
        double v = std::log10(k.error);
        lo = any ? std::min(lo, v) : v;
        hi = any ? std::max(hi, v) : v;
        any = true;
      }
  lo = std::floor(lo);
  hi = std::max(std::ceil(hi), lo + 1);
  // A zero error (an exact candidate) sits at the left edge.
  auto xOf = [&](double e) {
    double v = e > 0 ? std::log10(e) : lo;
    return x0 + (std::clamp(v, lo, hi) - lo) / (hi - lo) * (x1 - x0);
  };
  auto bxOf = [&](double b) { return bx0 + b / 8.0 * (bx1 - bx0); };
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\"" << attr("width", width)
     << attr("height", height) << " viewBox=\"0 0 " << printNum("%.1f", width)
     << " " << printNum("%.1f", height) << "\" role=\"img\">\n";
  os << "<text" << attr("x", (bx0 + bx1) / 2)
     << " y=\"14\" text-anchor=\"middle\" class=\"axis\">chosen weight "
        "bits</text><text"
     << attr("x", (x0 + x1) / 2)
     << " y=\"14\" text-anchor=\"middle\" class=\"axis\">sensitivity "
        "(relative output error, log scale; filled: chosen)</text>\n";
  for (size_t i = 0; i < r.precision.size(); i += 2)
    os << "<rect x=\"0\"" << attr("y", top + i * rowH) << attr("width", width)
       << attr("height", rowH) << " class=\"stripe\"/>\n";
  for (int b = 0; b <= 8; b += 2) {
    double x = bxOf(b);
    os << "<line" << attr("x1", x) << attr("x2", x) << attr("y1", top)
       << attr("y2", top + plotH) << " class=\"grid\"/><text" << attr("x", x)
       << attr("y", top - 5) << " text-anchor=\"middle\">" << b << "</text>\n";
  }
  for (int d = int(lo); d <= int(hi); ++d) {
    double x = x0 + (d - lo) / (hi - lo) * (x1 - x0);
    os << "<line" << attr("x1", x) << attr("x2", x) << attr("y1", top)
       << attr("y2", top + plotH) << " class=\"grid\"/><text" << attr("x", x)
       << attr("y", top + plotH + 13) << " text-anchor=\"middle\">1e" << d
       << "</text>\n";
  }
  for (size_t i = 0; i < r.precision.size(); ++i) {
    const PrecisionChoice &c = r.precision[i];
    double y = top + i * rowH, cy = y + rowH / 2;
    std::string full = escapeHTML(c.name);
    os << "<text" << attr("x", labelW) << attr("y", cy + 4)
       << " text-anchor=\"end\"><title>" << full << "</title>"
       << escapeHTML(truncateMiddle(c.name, 34)) << "</text>\n";
    if (c.chosen >= 0) {
      const PrecisionCandidate &k = c.candidates[c.chosen];
      os << "<rect" << attr("x", bx0) << attr("y", y + 3)
         << attr("width", bxOf(k.weightBits) - bx0) << attr("height", rowH - 6)
         << " fill=\"" << kWeightSeries.color << "\"><title>" << full << ": "
         << escapeHTML(k.scheme) << "</title></rect>\n";
    }
    for (size_t j = 0; j < c.candidates.size(); ++j) {
      const PrecisionCandidate &k = c.candidates[j];
      bool chosen = int(j) == c.chosen;
      double x = xOf(k.error);
      os << "<circle" << attr("cx", x) << attr("cy", cy)
         << attr("r", chosen ? 5 : 4) << " fill=\""
         << (chosen ? kWeightSeries.color : "none") << "\" stroke=\""
         << kWeightSeries.color << "\"><title>" << full << " \u2014 "
         << escapeHTML(k.scheme) << ": " << printNum("%.3g", k.error)
         << "</title></circle><text" << attr("x", x) << attr("y", y + 2)
         << " text-anchor=\"middle\" class=\"value\">" << k.weightBits
         << "</text>\n";
    }
  }
  os << "</svg>\n";
}

void renderPrecision(raw_ostream &os, const QuantReport &r) {
  if (r.precision.empty())
    return;
  const PrecisionSummary &s = r.precisionSummary;
  os << "<section id=\"precision\">\n<h2>Mixed precision</h2>\n<table "
        "class=\"kv\">\n";
  std::string budget;
  if (s.avgWBitsBudget > 0)
    budget += printNum("average weight bits \u2264 %g", s.avgWBitsBudget);
  if (s.sizeBudgetMB > 0)
    budget += (budget.empty() ? "" : "; ") +
              printNum("weights \u2264 %g MB", s.sizeBudgetMB);
  if (s.latencyBudgetMs > 0)
    budget += (budget.empty() ? "" : "; ") +
              printNum("assigned layers' time \u2264 %g ms", s.latencyBudgetMs);
  kvRow(os, "Budget", budget);
  kvRow(os, "Layers assigned", std::to_string(r.precision.size()));
  kvRow(os, "Average weight bits", printNum("%.3f", s.avgWBits));
  kvRow(os, "Weights as stored", bytes(s.bytes));
  kvRow(os, "Summed sensitivity", printNum("%.4g", s.error));
  if (s.latencyMs)
    kvRow(os, "Assigned layers' time (measured)",
          printNum("%.3f ms", *s.latencyMs));
  kvRow(os, "Measured on",
        std::to_string(s.samples) + " calibration sample" +
            (s.samples == 1 ? "" : "s"));
  os << "</table>\n";
  renderPrecisionChart(os, r);
  os << "</section>\n";
}

void renderLayerTable(raw_ostream &os, const QuantReport &r) {
  os << "<section id=\"layers\">\n<h2>Layers</h2>\n";
  if (r.layers.empty()) {
    os << "<p class=\"muted\">No layers.</p>\n</section>\n";
    return;
  }
  os << "<div class=\"scroll\"><table class=\"grid\">\n<tr><th>#</th>"
        "<th>Layer</th><th>Op</th><th>Scheme</th><th>W bits</th>"
        "<th>W format</th><th>W granularity</th><th>A bits</th>"
        "<th>A format</th><th>A mode</th><th>Weights</th>"
        "<th>Stored bytes</th><th>W SQNR (dB)</th><th>A SQNR (dB)</th>"
        "<th>A range</th></tr>\n";
  size_t index = 0;
  for (const LayerReport &l : r.layers) {
    std::string range = kDash;
    if (l.actRange)
      range = "[" + metric(l.actRange->first, "%.4g") + ", " +
              metric(l.actRange->second, "%.4g") + "]";
    os << "<tr><td class=\"num\">" << index++ << "</td><td><code>"
       << textOrDash(l.name) << "</code></td><td>" << textOrDash(l.opType)
       << "</td><td>" << textOrDash(l.scheme) << "</td><td class=\"num\">"
       << l.weightBits << "</td><td>" << textOrDash(l.weightFormat)
       << "</td><td>" << textOrDash(l.weightGranularity)
       << "</td><td class=\"num\">"
       << (l.actBits ? std::to_string(*l.actBits) : kDash) << "</td><td>"
       << textOrDash(l.actFormat) << "</td><td>" << textOrDash(l.actMode)
       << "</td><td class=\"num\">" << groupDigits(l.numWeights)
       << "</td><td class=\"num\">" << groupDigits(l.weightBytes)
       << "</td><td class=\"num\">" << metric(l.weightSQNR, "%.2f")
       << "</td><td class=\"num\">" << metric(l.actSQNR, "%.2f")
       << "</td><td class=\"num\">" << range << "</td></tr>\n";
  }
  os << "</table></div>\n</section>\n";
}

/// The JSON, safe inside <script>: '<' occurs only inside JSON strings, where
/// \u003c means the same, so "</script>" can never end the block early.
void renderEmbeddedJSON(raw_ostream &os, const QuantReport &r) {
  os << "<script type=\"application/json\" id=\"quant-report-data\">\n";
  for (char c : renderReportJSON(r)) {
    if (c == '<')
      os << "\\u003c";
    else
      os << c;
  }
  os << "</script>\n";
}

} // namespace

std::string mlir::qc::renderReportHTML(const QuantReport &report) {
  std::string out;
  raw_string_ostream os(out);
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta "
        "charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, "
        "initial-scale=1\">\n<title>Quantization report: "
     << textOrDash(report.model) << "</title>\n<style>" << kStyle
     << "</style>\n</head>\n<body>\n";
  renderHeader(os, report);
  renderSummary(os, report);
  renderCharts(os, report);
  renderPrecision(os, report);
  renderLayerTable(os, report);
  renderEmbeddedJSON(os, report);
  os << "</body>\n</html>\n";
  return out;
}
