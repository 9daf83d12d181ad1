//===- RangeSelection.cpp - choose a clipping range from statistics -------===//
//
// Part of quant. The MSE model: a histogram bin's mass is spread uniformly
// over the bin (clamped to the data's exact extremes), exact zeros are a
// point mass with no error, and the squared error of each piece is
// integrated exactly against the target grid: clipping beyond the end
// levels, rounding to the nearest level inside (closed form for the
// uniform integer grids, cell by cell for the float formats' grids).
//
//===----------------------------------------------------------------------===//

#include "quant/Calibrate/RangeSelection.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>

using namespace mlir::qc::calib;

namespace {

constexpr int64_t kBins = TensorStats::kNumBins;
constexpr int64_t kHalf = kBins / 2;

double cube(double x) { return x * x * x; }

/// Largest value of a signed `bits`-wide integer (0 for 1 bit).
double signedMax(unsigned bits) { return std::ldexp(1.0, bits - 1) - 1; }

bool isSymmetric(const TargetFormat &f) { return f.isFloat || f.symmetric; }

/// The non-negative finite values of float format `f`, ascending, 0 first.
std::vector<double> floatValues(const TargetFormat &f) {
  int e = static_cast<int>(f.bits) - 1 - static_cast<int>(f.mantissaBits);
  int m = static_cast<int>(f.mantissaBits);
  int bias = (1 << (e - 1)) - 1;
  std::vector<double> values{0.0};
  for (int k = 1; k < (1 << m); ++k) // subnormals
    values.push_back(std::ldexp(k, 1 - bias - m));
  for (int exp = 1; exp < (1 << e); ++exp) {
    for (int k = 0; k < (1 << m); ++k) {
      double v = std::ldexp(1.0 + std::ldexp(k, -m), exp - bias);
      if (v <= f.maxMagnitude)
        values.push_back(v);
    }
  }
  return values;
}

/// The dequantized values of a range: uniform (integers) or an explicit,
/// ascending list (float formats).
struct Grid {
  bool uniform = true;
  double step = 1, offset = 0; // uniform: offset + k * step
  std::vector<double> levels, mids;
  double lo = 0, hi = 0; // the end levels

  double quantize(double x) const {
    x = std::clamp(x, lo, hi);
    if (uniform)
      return offset + std::nearbyint((x - offset) / step) * step;
    size_t k = std::upper_bound(mids.begin(), mids.end(), x) - mids.begin();
    return levels[k];
  }

  /// Integral of (x - Q(x))^2 over [a, b], a <= b.
  double integral(double a, double b) const {
    double total = 0;
    if (a < lo) {
      double e = std::min(b, lo);
      total += (cube(e - lo) - cube(a - lo)) / 3;
      a = e;
    }
    if (b > hi) {
      double s = std::max(a, hi);
      total += (cube(b - hi) - cube(s - hi)) / 3;
      b = s;
    }
    return b > a ? total + rounding(a, b) : total;
  }

private:
  /// Rounding error only: lo <= a < b <= hi.
  double rounding(double a, double b) const {
    if (uniform) {
      // Per cell [c - step/2, c + step/2) the integral is step^3/12; within
      // a cell at fraction f it is step^3 ((f - 1/2)^3 + 1/8) / 3.
      auto split = [&](double x, double &cell, double &part) {
        double u = (x - offset) / step + 0.5;
        cell = std::floor(u);
        double f = u - cell;
        part = (cube(f - 0.5) + 0.125) / 3;
      };
      double ca, pa, cb, pb;
      split(a, ca, pa);
      split(b, cb, pb);
      return cube(step) * ((cb - ca) / 12 + pb - pa);
    }
    size_t k = std::upper_bound(mids.begin(), mids.end(), a) - mids.begin();
    double total = 0;
    for (double x = a; x < b; ++k) {
      double end = k < mids.size() ? std::min(b, mids[k]) : b;
      total += (cube(end - levels[k]) - cube(x - levels[k])) / 3;
      x = end;
    }
    return total;
  }
};

/// The grid range (lo, hi) maps to; `floatBase` is floatValues(format).
Grid makeGrid(double lo, double hi, const TargetFormat &format,
              const std::vector<double> &floatBase) {
  QuantParams q = computeQuantParams(lo, hi, format);
  Grid g;
  if (format.isFloat) {
    g.uniform = false;
    double s = q.scale;
    for (size_t i = floatBase.size(); i-- > 1;)
      g.levels.push_back(-floatBase[i] * s);
    for (double v : floatBase)
      g.levels.push_back(v * s);
    for (size_t i = 0; i + 1 < g.levels.size(); ++i)
      g.mids.push_back((g.levels[i] + g.levels[i + 1]) / 2);
    g.lo = g.levels.front();
    g.hi = g.levels.back();
    return g;
  }
  g.step = q.scale;
  if (format.symmetric) {
    g.offset = 0;
    g.lo = -std::ldexp(1.0, format.bits - 1) * q.scale;
    g.hi = signedMax(format.bits) * q.scale;
  } else {
    g.offset = -static_cast<double>(q.zeroPoint) * q.scale;
    g.lo = g.offset;
    g.hi = g.offset + (std::ldexp(1.0, format.bits) - 1) * q.scale;
  }
  return g;
}

/// The histogram as pieces of uniform density, zeros apart.
struct Piece {
  double a, b, mass;
};

std::vector<Piece> piecesOf(const TensorStats &s) {
  std::vector<Piece> pieces;
  if (!s.count || s.range == 0)
    return pieces;
  double w = s.binWidth();
  for (int64_t i = 0; i < kBins; ++i) {
    double mass = static_cast<double>(s.hist[i]);
    if (i == kHalf)
      mass -= static_cast<double>(s.numZeros);
    if (mass <= 0)
      continue;
    double a = std::max(-s.range + i * w, s.min);
    double b = std::min(-s.range + (i + 1) * w, s.max);
    pieces.push_back({a, std::max(a, b), mass});
  }
  return pieces;
}

/// Expected total squared error of `pieces` on grid `g`.
double totalError(const std::vector<Piece> &pieces, const Grid &g) {
  double total = 0;
  for (const Piece &p : pieces) {
    if (p.b - p.a <= 1e-12 * std::max(std::fabs(p.a), std::fabs(p.b))) {
      double e = p.a - g.quantize(p.a);
      total += p.mass * e * e;
    } else {
      total += p.mass * g.integral(p.a, p.b) / (p.b - p.a);
    }
  }
  return total;
}

/// Minimises cost(x) over x in (0, top]: 128 even steps, then 64 steps
/// within one coarse step either side of the best.
template <typename Fn> double searchMin(double top, Fn cost) {
  constexpr int kCoarse = 128, kFine = 64;
  double best = top, bestCost = cost(top);
  for (int k = 1; k < kCoarse; ++k) {
    double x = top * k / kCoarse, c = cost(x);
    if (c < bestCost) {
      best = x;
      bestCost = c;
    }
  }
  double from = std::max(best - top / kCoarse, 0.0);
  double to = std::min(best + top / kCoarse, top);
  for (int k = 1; k < kFine; ++k) {
    double x = from + (to - from) * k / kFine, c = cost(x);
    if (x > 0 && c < bestCost) {
      best = x;
      bestCost = c;
    }
  }
  return best;
}

std::pair<double, double> selectMSE(const TensorStats &s,
                                    const TargetFormat &f) {
  std::vector<Piece> pieces = piecesOf(s);
  std::vector<double> base = f.isFloat ? floatValues(f) : std::vector<double>();
  if (isSymmetric(f)) {
    double t = searchMin(s.absMax(), [&](double t) {
      return totalError(pieces, makeGrid(-t, t, f, base));
    });
    return {-t, t};
  }
  double lo = std::min(s.min, 0.0), hi = std::max(s.max, 0.0);
  double a = searchMin(1.0, [&](double a) {
    return totalError(pieces, makeGrid(a * lo, a * hi, f, base));
  });
  return {a * lo, a * hi};
}

/// MXNet's _smooth_distribution: zeros get eps, the others pay for it.
bool smooth(std::vector<double> &p, size_t n) {
  size_t zeros = 0;
  for (size_t j = 0; j < n; ++j)
    zeros += p[j] == 0;
  if (zeros == n)
    return false;
  double eps = 1e-4, eps1 = eps * zeros / (n - zeros);
  for (size_t j = 0; j < n; ++j)
    p[j] += p[j] == 0 ? eps : -eps1;
  return true;
}

/// TensorRT/MXNet entropy calibration over the |x| histogram: the threshold
/// (a bin edge) minimising KL(P || Q).
double selectKL(const TensorStats &s, const TargetFormat &f) {
  std::vector<double> h(kHalf);
  for (int64_t j = 0; j < kHalf; ++j)
    h[j] = static_cast<double>(s.hist[kHalf + j] + s.hist[kHalf - 1 - j]);
  size_t used = kHalf;
  while (used > 0 && h[used - 1] == 0)
    --used;
  // The target's non-negative levels on [0, 1] (scaled to the threshold).
  bool uniform = !f.isFloat;
  double qmax = std::max(signedMax(f.bits), 1.0);
  std::vector<double> levels;
  if (f.isFloat) {
    levels = floatValues(f);
    for (double &v : levels)
      v /= f.maxMagnitude;
  }
  size_t numLevels = uniform ? static_cast<size_t>(qmax) + 1 : levels.size();
  size_t start = std::max<size_t>(numLevels, 1);
  if (used <= start)
    return s.absMax();

  std::vector<double> suffix(used + 1, 0);
  for (size_t j = used; j-- > 0;)
    suffix[j] = suffix[j + 1] + h[j];

  std::vector<double> p(used), q(used), groupMass, groupCount;
  std::vector<size_t> group(used);
  // KL(P || Q) for the threshold at the edge of bin i (+inf if undefined).
  auto divergence = [&](size_t i) {
    // Bin j's centre, as a fraction of the threshold, rounds to a level.
    size_t k = 0;
    for (size_t j = 0; j < i; ++j) {
      double c = (j + 0.5) / i;
      if (uniform) {
        group[j] = static_cast<size_t>(std::nearbyint(c * qmax));
      } else {
        while (k + 1 < levels.size() && c >= (levels[k] + levels[k + 1]) / 2)
          ++k;
        group[j] = k;
      }
    }
    size_t numGroups = group[i - 1] + 1;
    groupMass.assign(numGroups, 0);
    groupCount.assign(numGroups, 0);
    for (size_t j = 0; j < i; ++j) {
      p[j] = h[j];
      groupMass[group[j]] += h[j];
    }
    p[i - 1] += suffix[i]; // outliers clipped into the last bin
    for (size_t j = 0; j < i; ++j)
      groupCount[group[j]] += p[j] != 0;
    for (size_t j = 0; j < i; ++j)
      q[j] = p[j] != 0 ? groupMass[group[j]] / groupCount[group[j]] : 0;
    if (!smooth(p, i) || !smooth(q, i))
      return std::numeric_limits<double>::infinity();
    double sp = 0, sq = 0;
    for (size_t j = 0; j < i; ++j) {
      sp += p[j];
      sq += q[j];
    }
    double kl = 0;
    for (size_t j = 0; j < i; ++j)
      if (p[j] > 0 && q[j] > 0)
        kl += p[j] / sp * std::log((p[j] / sp) / (q[j] / sq));
    return kl;
  };

  // TensorRT tries every i; every step-th one, then every one within a
  // step of the best, is ~8x faster and finds the same minimum on smooth
  // histograms.
  size_t step = std::max<size_t>(1, (used - start) / 256);
  size_t bestI = used;
  double bestKL = divergence(used);
  auto consider = [&](size_t i) {
    double kl = divergence(i);
    if (kl < bestKL) {
      bestKL = kl;
      bestI = i;
    }
  };
  for (size_t i = start; i < used; i += step)
    consider(i);
  size_t from = std::max(start, bestI > step ? bestI - step : 0);
  size_t to = std::min(used, bestI + step);
  for (size_t i = from; i <= to; ++i)
    consider(i);
  return std::min(bestI * s.binWidth(), s.absMax());
}

bool parseNumber(const std::string &text, double &value) {
  if (text.empty())
    return false;
  char *end = nullptr;
  errno = 0;
  value = std::strtod(text.c_str(), &end);
  return !*end && !errno && std::isfinite(value);
}

} // namespace

TargetFormat TargetFormat::integer(unsigned bits, bool symmetric) {
  TargetFormat f;
  f.bits = bits;
  f.symmetric = symmetric;
  return f;
}

TargetFormat TargetFormat::floating(unsigned bits, unsigned mantissaBits,
                                    double maxMagnitude) {
  TargetFormat f;
  f.isFloat = true;
  f.bits = bits;
  f.symmetric = true;
  f.mantissaBits = mantissaBits;
  f.maxMagnitude = maxMagnitude;
  return f;
}

bool mlir::qc::calib::parseTargetFormat(const std::string &name,
                                        TargetFormat &format,
                                        std::string &error) {
  struct Float {
    const char *name;
    unsigned bits, mantissa;
    double max;
  };
  static const Float kFloats[] = {{"fp8e4m3", 8, 3, 448},
                                  {"fp8e5m2", 8, 2, 57344},
                                  {"fp6e3m2", 6, 2, 28},
                                  {"fp6e2m3", 6, 3, 7.5},
                                  {"fp4e2m1", 4, 1, 6}};
  for (const Float &f : kFloats) {
    if (name == f.name) {
      format = TargetFormat::floating(f.bits, f.mantissa, f.max);
      return true;
    }
  }
  bool isUnsigned = name.rfind("uint", 0) == 0;
  size_t digits = isUnsigned ? 4 : (name.rfind("int", 0) == 0 ? 3 : 0);
  std::string rest = name.substr(digits);
  if (digits && !rest.empty() && rest.size() <= 2 &&
      std::all_of(rest.begin(), rest.end(), ::isdigit)) {
    unsigned bits = std::stoi(rest);
    if (bits >= 1 && bits <= 16) {
      format = TargetFormat::integer(bits, !isUnsigned);
      return true;
    }
  }
  error = "unknown format '" + name +
          "' (expected int1..int16, uint1..uint16, fp8e4m3, fp8e5m2, "
          "fp6e3m2, fp6e2m3 or fp4e2m1)";
  return false;
}

bool mlir::qc::calib::parseMethod(const std::string &text, Method &method,
                                  std::string &error) {
  if (text == "minmax" || text == "mse" || text == "kl") {
    method.kind = text == "minmax" ? Method::MinMax
                  : text == "mse"  ? Method::MSE
                                   : Method::KL;
    return true;
  }
  const std::string prefix = "percentile";
  if (text.rfind(prefix, 0) == 0) {
    double p = 99.99;
    if (text.size() == prefix.size() ||
        (text[prefix.size()] == ':' &&
         parseNumber(text.substr(prefix.size() + 1), p) && p > 0 && p <= 100)) {
      method.kind = Method::Percentile;
      method.percentile = p;
      return true;
    }
    error = "bad calibration method '" + text +
            "': percentile:P needs P in (0, 100], e.g. percentile:99.99";
    return false;
  }
  error = "unknown calibration method '" + text +
          "' (expected minmax, percentile[:P], mse or kl)";
  return false;
}

std::string mlir::qc::calib::methodName(const Method &method) {
  switch (method.kind) {
  case Method::MinMax:
    return "minmax";
  case Method::MSE:
    return "mse";
  case Method::KL:
    return "kl";
  case Method::Percentile: {
    char buf[64];
    std::snprintf(buf, sizeof buf, "percentile:%g", method.percentile);
    return buf;
  }
  }
  return "minmax";
}

QuantParams mlir::qc::calib::computeQuantParams(double lo, double hi,
                                                const TargetFormat &format) {
  QuantParams q;
  if (isSymmetric(format)) {
    double t = std::max(std::fabs(lo), std::fabs(hi));
    q.scale = format.isFloat ? t / format.maxMagnitude
                             : t / std::max(signedMax(format.bits), 1.0);
  } else {
    lo = std::min(lo, 0.0);
    hi = std::max(hi, 0.0);
    double qmax = std::ldexp(1.0, format.bits) - 1;
    q.scale = (hi - lo) / qmax;
    if (q.scale > 0 && std::isfinite(q.scale))
      q.zeroPoint = static_cast<int64_t>(
          std::clamp(std::nearbyint(-lo / q.scale), 0.0, qmax));
  }
  if (!(q.scale > 0) || !std::isfinite(q.scale)) {
    q.scale = 1;
    q.zeroPoint = 0;
  }
  return q;
}

double mlir::qc::calib::expectedMSE(const TensorStats &stats, double lo,
                                    double hi, const TargetFormat &format) {
  if (!stats.count)
    return 0;
  std::vector<double> base =
      format.isFloat ? floatValues(format) : std::vector<double>();
  return totalError(piecesOf(stats), makeGrid(lo, hi, format, base)) /
         static_cast<double>(stats.count);
}

double mlir::qc::calib::estimateSQNR(const TensorStats &stats, double lo,
                                     double hi, const TargetFormat &format) {
  double noise = expectedMSE(stats, lo, hi, format);
  if (noise <= 0)
    return std::numeric_limits<double>::infinity();
  return 10 * std::log10(stats.meanSquare() / noise);
}

std::pair<double, double>
mlir::qc::calib::selectRange(const TensorStats &stats, const Method &method,
                             const TargetFormat &format) {
  double top = stats.absMax();
  if (!stats.count || top == 0)
    return {0, 0};
  bool symmetric = isSymmetric(format);
  switch (method.kind) {
  case Method::MinMax:
    break;
  case Method::Percentile:
    if (symmetric) {
      double t = stats.percentileAbs(method.percentile);
      return {-t, t};
    }
    return {std::min(stats.percentile(100 - method.percentile), 0.0),
            std::max(stats.percentile(method.percentile), 0.0)};
  case Method::MSE:
    return selectMSE(stats, format);
  case Method::KL: {
    double t = selectKL(stats, format);
    if (symmetric)
      return {-t, t};
    return {std::min(std::max(stats.min, -t), 0.0),
            std::max(std::min(stats.max, t), 0.0)};
  }
  }
  if (symmetric)
    return {-top, top};
  return {std::min(stats.min, 0.0), std::max(stats.max, 0.0)};
}
