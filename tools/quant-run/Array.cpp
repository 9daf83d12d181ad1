//===- Array.cpp - host arrays -------------------------------------------===//
//
// Part of quant.
//
//===----------------------------------------------------------------------===//

#include "Array.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>

using namespace qrun;

int64_t Array::numElements() const {
  int64_t n = 1;
  for (int64_t e : shape)
    n *= e;
  return n;
}

bool Array::allocate(std::string &error) {
  numBytes_ = static_cast<size_t>(numElements()) * elementBytes(dtype);
  size_t words = std::max<size_t>((numBytes_ + 7) / 8, 1);
  auto *p = static_cast<uint64_t *>(std::calloc(words, 8));
  storage_.reset(p, [](uint64_t *q) { std::free(q); });
  if (!p) {
    error = "cannot allocate " + std::to_string(numBytes_) + " bytes for a " +
            shapeString(shape.data(), shape.size()) + " array of " +
            dtypeName(dtype);
    numBytes_ = 0;
    return false;
  }
  return true;
}

size_t qrun::elementBytes(QuantDLDataType dtype) {
  return (static_cast<size_t>(dtype.bits) + 7) / 8;
}

std::string qrun::dtypeName(QuantDLDataType dtype) {
  std::string bits = std::to_string(dtype.bits);
  switch (dtype.code) {
  case 0:
    return "int" + bits;
  case 1:
    return "uint" + bits;
  case 2:
    return "float" + bits;
  case 4:
    return "bfloat" + bits;
  case 6:
    return dtype.bits == 8 ? "bool" : "bool" + bits;
  default:
    return "dtype(code " + std::to_string(dtype.code) + ", bits " + bits + ")";
  }
}

std::string qrun::shapeString(const int64_t *shape, size_t rank) {
  std::string s = "[";
  for (size_t d = 0; d < rank; ++d) {
    if (d)
      s += ", ";
    s += shape[d] < 0 ? std::string("?") : std::to_string(shape[d]);
  }
  return s + "]";
}

bool qrun::checkedNumElements(const std::vector<int64_t> &shape,
                              size_t elemBytes, int64_t &numel,
                              std::string &error) {
  int64_t n = 1;
  for (int64_t e : shape) {
    if (e < 0) {
      error =
          "negative extent in shape " + shapeString(shape.data(), shape.size());
      return false;
    }
    if (__builtin_mul_overflow(n, e, &n)) {
      error = "shape " + shapeString(shape.data(), shape.size()) +
              " has too many elements";
      return false;
    }
  }
  int64_t bytes;
  if (__builtin_mul_overflow(n, static_cast<int64_t>(elemBytes), &bytes)) {
    error = "shape " + shapeString(shape.data(), shape.size()) +
            " has too many elements";
    return false;
  }
  numel = n;
  return true;
}

namespace {
float halfToFloat(uint16_t h) {
  uint32_t sign = (h >> 15) & 1, exponent = (h >> 10) & 0x1f,
           mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0)
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);
  else if (exponent == 31)
    magnitude = mantissa ? NAN : INFINITY;
  else
    magnitude = std::ldexp(static_cast<float>(mantissa | 0x400),
                           static_cast<int>(exponent) - 25);
  return sign ? -magnitude : magnitude;
}

template <typename T> T load(const void *data, int64_t i) {
  T v;
  std::memcpy(&v, static_cast<const char *>(data) + i * sizeof(T), sizeof(T));
  return v;
}
} // namespace

double qrun::elementAsDouble(const void *data, QuantDLDataType dtype,
                             int64_t i) {
  switch (dtype.code) {
  case 0:
    switch (dtype.bits) {
    case 8:
      return load<int8_t>(data, i);
    case 16:
      return load<int16_t>(data, i);
    case 32:
      return load<int32_t>(data, i);
    case 64:
      return static_cast<double>(load<int64_t>(data, i));
    }
    break;
  case 1:
    switch (dtype.bits) {
    case 8:
      return load<uint8_t>(data, i);
    case 16:
      return load<uint16_t>(data, i);
    case 32:
      return load<uint32_t>(data, i);
    case 64:
      return static_cast<double>(load<uint64_t>(data, i));
    }
    break;
  case 2:
    switch (dtype.bits) {
    case 16:
      return halfToFloat(load<uint16_t>(data, i));
    case 32:
      return load<float>(data, i);
    case 64:
      return load<double>(data, i);
    }
    break;
  case 4:
    if (dtype.bits == 16) {
      uint32_t bits = static_cast<uint32_t>(load<uint16_t>(data, i)) << 16;
      float f;
      std::memcpy(&f, &bits, sizeof(f));
      return f;
    }
    break;
  case 6:
    return load<uint8_t>(data, i) ? 1.0 : 0.0;
  }
  return NAN;
}

bool qrun::readFile(const std::string &path, std::string &bytes,
                    std::string &error) {
  FILE *f = std::fopen(path.c_str(), "rb");
  if (!f) {
    error = "cannot read '" + path + "': " + std::strerror(errno);
    return false;
  }
  bytes.clear();
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), f)) > 0)
    bytes.append(buffer, n);
  bool failed = std::ferror(f);
  int savedErrno = errno;
  std::fclose(f);
  if (failed) {
    error = "cannot read '" + path + "': " + std::strerror(savedErrno);
    return false;
  }
  return true;
}
