//===- QuantMathTest.cpp - scalar quantization semantics ------------------===//
//
// Part of quant. Checks QuantMath against references written here from the
// formats' definitions: std::nearbyint (round half to even) for integers, and
// for FP8/FP6/FP4 a table decoded from sign/exponent/mantissa bit fields and
// searched for the nearest value (ties to the even code).
//
//===----------------------------------------------------------------------===//

#include "quant/Support/QuantMath.h"

#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <limits>
#include <random>

using namespace mlir::qc;
using llvm::APFloat;
using llvm::APInt;

namespace {

APFloat f32(float v) { return APFloat(v); }

int64_t quantInt(float x, float s, int64_t zp, unsigned bits, bool isSigned) {
  APInt q = quantizeToInt(f32(x), f32(s), zp, bits, isSigned);
  return isSigned ? q.getSExtValue() : static_cast<int64_t>(q.getZExtValue());
}

TEST(QuantMath, IntRanges) {
  EXPECT_EQ(getIntFormatMin(8, true), -128);
  EXPECT_EQ(getIntFormatMax(8, true), 127);
  EXPECT_EQ(getIntFormatMin(4, false), 0);
  EXPECT_EQ(getIntFormatMax(4, false), 15);
  EXPECT_EQ(getIntFormatMin(1, true), -1);
  EXPECT_EQ(getIntFormatMax(1, true), 0);
  EXPECT_EQ(getIntFormatMax(16, false), 65535);
}

TEST(QuantMath, IntTiesRoundToEvenAndSaturate) {
  EXPECT_EQ(quantInt(0.5f, 1.0f, 0, 8, true), 0);
  EXPECT_EQ(quantInt(1.5f, 1.0f, 0, 8, true), 2);
  EXPECT_EQ(quantInt(2.5f, 1.0f, 0, 8, true), 2);
  EXPECT_EQ(quantInt(-2.5f, 1.0f, 0, 8, true), -2);
  EXPECT_EQ(quantInt(-3.5f, 1.0f, 0, 8, true), -4);
  EXPECT_EQ(quantInt(127.5f, 1.0f, 0, 8, true), 127);
  EXPECT_EQ(quantInt(-128.5f, 1.0f, 0, 8, true), -128);
  EXPECT_EQ(quantInt(1e30f, 1.0f, 0, 8, true), 127);
  EXPECT_EQ(quantInt(-1e30f, 1.0f, 0, 8, true), -128);
  float inf = std::numeric_limits<float>::infinity();
  EXPECT_EQ(quantInt(inf, 1.0f, 0, 4, true), 7);
  EXPECT_EQ(quantInt(-inf, 1.0f, 3, 4, false), 0);
  EXPECT_EQ(quantInt(std::nanf(""), 1.0f, 5, 4, false), 5);
  // Zero point added after rounding, then clamped.
  EXPECT_EQ(quantInt(-0.5f, 1.0f, 8, 4, false), 8);
  EXPECT_EQ(quantInt(7.5f, 1.0f, 8, 4, false), 15);
  EXPECT_EQ(quantInt(-9.0f, 1.0f, 8, 4, false), 0);
}

TEST(QuantMath, IntMatchesNearbyintOnRandomData) {
  ASSERT_EQ(std::fegetround(), FE_TONEAREST);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> val(-300.0f, 300.0f);
  std::uniform_real_distribution<float> scl(0.01f, 4.0f);
  for (unsigned bits = 1; bits <= 16; ++bits) {
    for (bool isSigned : {true, false}) {
      int64_t lo = getIntFormatMin(bits, isSigned);
      int64_t hi = getIntFormatMax(bits, isSigned);
      for (int i = 0; i < 2000; ++i) {
        float x = val(rng), s = scl(rng);
        if (i % 4 == 0) // exact ties: k + 0.5 times the scale
          x = (std::floor(x) + 0.5f) * 0.25f, s = 0.25f;
        int64_t zp = isSigned ? 0 : (lo + hi) / 2;
        float q = std::nearbyint(x / s);
        int64_t ref = static_cast<int64_t>(q) + zp;
        ref = std::min(std::max(ref, lo), hi);
        ASSERT_EQ(quantInt(x, s, zp, bits, isSigned), ref)
            << "x=" << x << " s=" << s << " bits=" << bits;
      }
    }
  }
}

TEST(QuantMath, DequantizeInt) {
  APInt q(4, 0xF); // 15 unsigned, -1 signed
  EXPECT_EQ(dequantizeInt(q, 8, false, f32(0.5f)).convertToFloat(), 3.5f);
  EXPECT_EQ(dequantizeInt(q, 0, true, f32(0.5f)).convertToFloat(), -0.5f);
}

/// A float format from its bit fields, decoded independently of APFloat.
struct FloatFormat {
  const llvm::fltSemantics &sem;
  unsigned ebits, mbits;
  int bias;
  bool ieeeSpecials; // all-ones exponent is inf/NaN (E5M2)
  bool nanAtMaxCode; // S.1111.111 is NaN (E4M3FN)

  unsigned bits() const { return 1 + ebits + mbits; }
  /// Value of a code; NaN for NaN codes, inf for inf codes.
  double decode(unsigned code) const {
    unsigned m = code & ((1u << mbits) - 1);
    unsigned e = (code >> mbits) & ((1u << ebits) - 1);
    bool neg = code >> (ebits + mbits);
    unsigned emax = (1u << ebits) - 1;
    if (ieeeSpecials && e == emax)
      return m ? std::nan("") : (neg ? -INFINITY : INFINITY);
    if (nanAtMaxCode && e == emax && m == (1u << mbits) - 1)
      return std::nan("");
    double mant =
        e == 0 ? m / double(1u << mbits) : 1.0 + m / double(1u << mbits);
    int exp = e == 0 ? 1 - bias : int(e) - bias;
    double v = std::ldexp(mant, exp);
    return neg ? -v : v;
  }
};

const FloatFormat kFormats[] = {
    {APFloat::Float8E4M3FN(), 4, 3, 7, false, true},
    {APFloat::Float8E5M2(), 5, 2, 15, true, false},
    {APFloat::Float6E3M2FN(), 3, 2, 3, false, false},
    {APFloat::Float6E2M3FN(), 2, 3, 1, false, false},
    {APFloat::Float4E2M1FN(), 2, 1, 1, false, false},
};

TEST(QuantMath, FloatFormatsMatchBitFieldReference) {
  std::mt19937 rng(99);
  for (const FloatFormat &fmt : kFormats) {
    // The finite codes, decoded.
    std::vector<std::pair<double, unsigned>> table;
    double maxv = 0;
    for (unsigned c = 0; c < (1u << fmt.bits()); ++c) {
      double v = fmt.decode(c);
      if (std::isfinite(v)) {
        table.push_back({v, c});
        maxv = std::max(maxv, v);
      }
    }
    EXPECT_EQ(APFloat::getLargest(fmt.sem).convertToDouble(), maxv);
    // Test points: random values over and beyond the range, every code's
    // value, and every midpoint between neighbouring values (exact ties).
    std::vector<float> xs;
    std::uniform_real_distribution<float> dist(-1.5f * maxv, 1.5f * maxv);
    for (int i = 0; i < 3000; ++i)
      xs.push_back(dist(rng));
    std::vector<double> sorted;
    for (auto &t : table)
      sorted.push_back(t.first);
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i + 1 < sorted.size(); ++i) {
      xs.push_back(static_cast<float>(sorted[i]));
      xs.push_back(static_cast<float>((sorted[i] + sorted[i + 1]) / 2));
    }
    xs.push_back(static_cast<float>(maxv * 4));
    xs.push_back(-std::numeric_limits<float>::infinity());

    for (float x : xs) {
      float scaled = x / 1.0f;
      double ref = 0, best = INFINITY;
      unsigned bestCode = 0;
      double clamped = std::min<double>(std::max<double>(scaled, -maxv), maxv);
      for (auto [v, c] : table) {
        double d = std::fabs(v - clamped);
        // Nearest value; on a tie the even code (mantissa LSB 0) wins.
        if (d < best || (d == best && (c & 1) == 0 && (bestCode & 1))) {
          best = d;
          bestCode = c;
          ref = v;
        }
      }
      APFloat q = quantizeToFloat(f32(x), f32(1.0f), fmt.sem);
      unsigned code = q.bitcastToAPInt().getZExtValue();
      ASSERT_EQ(fmt.decode(code), ref)
          << "format bits " << fmt.bits() << " x=" << x;
    }
    // NaN: kept where the format has one, +0 otherwise.
    APFloat qn = quantizeToFloat(f32(std::nanf("")), f32(1.0f), fmt.sem);
    if (APFloat::semanticsHasNaN(fmt.sem))
      EXPECT_TRUE(qn.isNaN());
    else
      EXPECT_TRUE(qn.isZero());
  }
}

TEST(QuantMath, FloatScaleDividesFirst) {
  // 3.0 / 2.0 = 1.5 exactly representable in E2M1; 7.0/1.0 saturates to 6.
  APFloat q = quantizeToFloat(f32(3.0f), f32(2.0f), APFloat::Float4E2M1FN());
  EXPECT_EQ(dequantizeFloat(q, f32(2.0f)).convertToFloat(), 3.0f);
  q = quantizeToFloat(f32(7.0f), f32(1.0f), APFloat::Float4E2M1FN());
  EXPECT_EQ(dequantizeFloat(q, f32(1.0f)).convertToFloat(), 6.0f);
}

TEST(QuantMath, ScaleIndexForEachGranularity) {
  // shape [2, 6]: per tensor, per channel on both axes, groups of 4 on axis 1.
  std::vector<int64_t> shape = {2, 6};
  for (int64_t i = 0; i < 12; ++i) {
    int64_t r = i / 6, c = i % 6;
    EXPECT_EQ(getScaleIndex(shape, -1, 0, i), 0);
    EXPECT_EQ(getScaleIndex(shape, 0, 0, i), r);
    EXPECT_EQ(getScaleIndex(shape, 1, 0, i), c);
    EXPECT_EQ(getScaleIndex(shape, 1, 4, i), r * 2 + c / 4);
    EXPECT_EQ(getScaleIndex(shape, 0, 2, i), c); // one block of 2 rows
  }
}

} // namespace
