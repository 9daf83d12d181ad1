//===- Npy.cpp - numpy .npy files -----------------------------------------===//
//
// Part of quant. The format: "\x93NUMPY", major and minor version bytes, a
// little-endian header length (2 bytes in 1.0, 4 in 2.0/3.0), a Python dict
// literal {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), } padded
// with spaces and a newline, then the raw data.
//
//===----------------------------------------------------------------------===//

#include "Array.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <vector>

using namespace qrun;

namespace {
constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
/// The longest header read: numpy writes a few hundred bytes; a longer one
/// is not an array this tool needs, and reading it could take any memory.
constexpr size_t kMaxHeaderBytes = 1 << 20;

/// A cursor over the header dict, with the few Python literals numpy uses.
class HeaderParser {
public:
  explicit HeaderParser(const std::string &text) : text_(text) {}

  bool parse(std::string &descr, bool &fortranOrder,
             std::vector<int64_t> &shape, std::string &error) {
    bool haveDescr = false, haveOrder = false, haveShape = false;
    skipSpace();
    if (!consume('{'))
      return fail("expected '{'", error);
    while (true) {
      skipSpace();
      if (consume('}'))
        break;
      std::string key;
      if (!parseString(key))
        return fail("expected a quoted key", error);
      skipSpace();
      if (!consume(':'))
        return fail("expected ':' after '" + key + "'", error);
      skipSpace();
      if (key == "descr") {
        if (peek() == '[')
          return fail("structured dtypes are not supported", error);
        if (!parseString(descr))
          return fail("'descr' is not a string", error);
        haveDescr = true;
      } else if (key == "fortran_order") {
        if (!parseBool(fortranOrder))
          return fail("'fortran_order' is not True or False", error);
        haveOrder = true;
      } else if (key == "shape") {
        if (!parseTuple(shape))
          return fail("'shape' is not a tuple of integers", error);
        haveShape = true;
      } else {
        return fail("unexpected key '" + key + "'", error);
      }
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume('}'))
        break;
      return fail("expected ',' or '}'", error);
    }
    if (!haveDescr || !haveOrder || !haveShape)
      return fail("'descr', 'fortran_order' or 'shape' is missing", error);
    return true;
  }

private:
  bool fail(const std::string &what, std::string &error) {
    error = "malformed .npy header: " + what;
    return false;
  }
  char peek() const { return pos_ < text_.size() ? text_[pos_] : '\0'; }
  bool consume(char c) {
    if (peek() != c)
      return false;
    ++pos_;
    return true;
  }
  void skipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n'))
      ++pos_;
  }
  bool parseString(std::string &out) {
    char quote = peek();
    if (quote != '\'' && quote != '"')
      return false;
    size_t end = text_.find(quote, pos_ + 1);
    if (end == std::string::npos)
      return false;
    out = text_.substr(pos_ + 1, end - pos_ - 1);
    pos_ = end + 1;
    return true;
  }
  bool parseBool(bool &out) {
    if (text_.compare(pos_, 4, "True") == 0) {
      pos_ += 4;
      out = true;
      return true;
    }
    if (text_.compare(pos_, 5, "False") == 0) {
      pos_ += 5;
      out = false;
      return true;
    }
    return false;
  }
  bool parseTuple(std::vector<int64_t> &out) {
    out.clear();
    if (!consume('('))
      return false;
    while (true) {
      skipSpace();
      if (consume(')'))
        return true;
      if (peek() < '0' || peek() > '9')
        return false;
      int64_t value = 0;
      while (peek() >= '0' && peek() <= '9') {
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_add_overflow(value, peek() - '0', &value))
          return false;
        ++pos_;
      }
      consume('L'); // Python 2 longs
      out.push_back(value);
      skipSpace();
      if (consume(','))
        continue;
      skipSpace();
      if (consume(')'))
        return true;
      return false;
    }
  }

  const std::string &text_;
  size_t pos_ = 0;
};

struct DescrEntry {
  const char *kindSize; // descr without the byte-order character
  QuantDLDataType dtype;
};
constexpr DescrEntry kDescrs[] = {
    {"f2", {2, 16, 1}}, {"f4", {2, 32, 1}}, {"f8", {2, 64, 1}},
    {"i1", {0, 8, 1}},  {"i2", {0, 16, 1}}, {"i4", {0, 32, 1}},
    {"i8", {0, 64, 1}}, {"u1", {1, 8, 1}},  {"u2", {1, 16, 1}},
    {"u4", {1, 32, 1}}, {"u8", {1, 64, 1}}, {"b1", {6, 8, 1}},
};

bool parseDescr(const std::string &descr, QuantDLDataType &dtype,
                std::string &error) {
  if (descr.size() == 3 && std::strchr("<>|=", descr[0])) {
    for (const DescrEntry &e : kDescrs) {
      if (descr.compare(1, 2, e.kindSize) != 0)
        continue;
      if (descr[0] == '>' && e.dtype.bits > 8) {
        error = "big-endian dtype '" + descr +
                "' is not supported; save it little-endian (arr.astype('<" +
                descr.substr(1) + "'))";
        return false;
      }
      dtype = e.dtype;
      return true;
    }
  }
  error = "unsupported dtype '" + descr +
          "' (supported: float16/32/64, int8/16/32/64, uint8/16/32/64, bool)";
  return false;
}

const char *descrOf(QuantDLDataType dtype) {
  for (const DescrEntry &e : kDescrs) {
    if (e.dtype.code == dtype.code && e.dtype.bits == dtype.bits)
      return e.kindSize;
  }
  return nullptr;
}
} // namespace

bool qrun::parseNpyHeader(const char *bytes, size_t size, NpyHeader &out,
                          std::string &error) {
  if (size < kMagicSize + 4 || std::memcmp(bytes, kMagic, kMagicSize) != 0) {
    error = "not a .npy file (no \\x93NUMPY magic)";
    return false;
  }
  unsigned major = static_cast<unsigned char>(bytes[6]);
  size_t headerLength, headerStart;
  auto byte = [&](size_t i) {
    return static_cast<size_t>(static_cast<unsigned char>(bytes[i]));
  };
  if (major == 1) {
    headerLength = byte(8) | byte(9) << 8;
    headerStart = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) {
      error = "malformed .npy file: truncated header";
      return false;
    }
    headerLength = byte(8) | byte(9) << 8 | byte(10) << 16 | byte(11) << 24;
    headerStart = 12;
  } else {
    error = "unsupported .npy format version " + std::to_string(major);
    return false;
  }
  if (headerLength > kMaxHeaderBytes) {
    error = "malformed .npy file: a header of " + std::to_string(headerLength) +
            " bytes (numpy writes a few hundred)";
    return false;
  }
  if (size - headerStart < headerLength) {
    error = "malformed .npy file: truncated header";
    return false;
  }
  std::string header(bytes + headerStart, headerLength);

  std::string descr;
  bool fortranOrder = false;
  std::vector<int64_t> shape;
  if (!HeaderParser(header).parse(descr, fortranOrder, shape, error))
    return false;
  QuantDLDataType dtype;
  if (!parseDescr(descr, dtype, error))
    return false;
  // A Fortran-ordered array of rank <= 1 has the same bytes as a C one.
  if (fortranOrder && shape.size() > 1) {
    error = "fortran_order arrays are not supported; save "
            "np.ascontiguousarray(arr)";
    return false;
  }
  int64_t numel;
  if (!checkedNumElements(shape, elementBytes(dtype), numel, error))
    return false;
  out.dtype = dtype;
  out.shape = std::move(shape);
  out.dataStart = headerStart + headerLength;
  out.dataBytes = static_cast<uint64_t>(numel) * elementBytes(dtype);
  return true;
}

std::string qrun::npyDataSizeError(const NpyHeader &h, uint64_t have) {
  return "malformed .npy file: shape " +
         shapeString(h.shape.data(), h.shape.size()) + " of " +
         dtypeName(h.dtype) + " needs " + std::to_string(h.dataBytes) +
         " bytes of data, the file has " + std::to_string(have);
}

bool qrun::parseNpy(const std::string &bytes, Array &out, std::string &error) {
  NpyHeader h;
  if (!parseNpyHeader(bytes.data(), bytes.size(), h, error))
    return false;
  size_t have = bytes.size() - h.dataStart;
  if (have != h.dataBytes) {
    error = npyDataSizeError(h, have);
    return false;
  }
  out.dtype = h.dtype;
  out.shape = std::move(h.shape);
  if (!out.allocate(error))
    return false;
  if (h.dataBytes)
    std::memcpy(out.data(), bytes.data() + h.dataStart, h.dataBytes);
  return true;
}

bool qrun::writeNpy(const std::string &path, QuantDLDataType dtype,
                    const int64_t *shape, int32_t ndim, const void *data,
                    std::string &error) {
  int64_t numel = 1;
  for (int32_t d = 0; d < ndim; ++d)
    numel *= shape[d];

  // bfloat16 has no .npy dtype: widen it (exactly) to float32.
  std::vector<float> widened;
  if (dtype.code == 4 && dtype.bits == 16) {
    widened.resize(static_cast<size_t>(numel));
    for (int64_t i = 0; i < numel; ++i)
      widened[i] = static_cast<float>(elementAsDouble(data, dtype, i));
    data = widened.data();
    dtype = QuantDLDataType{2, 32, 1};
  }
  const char *kindSize = descrOf(dtype);
  if (!kindSize) {
    error = "cannot write dtype " + dtypeName(dtype) + " to .npy";
    return false;
  }

  std::string header = "{'descr': '";
  header += dtype.bits == 8 ? '|' : '<';
  header += kindSize;
  header += "', 'fortran_order': False, 'shape': (";
  for (int32_t d = 0; d < ndim; ++d) {
    if (d)
      header += ", ";
    header += std::to_string(shape[d]);
  }
  header += ndim == 1 ? ",), }" : "), }";
  // Pad so that the data starts on a 64-byte boundary, as numpy does.
  bool v2 = header.size() + 1 + 10 > 65535;
  size_t prefix = v2 ? 12 : 10;
  size_t total = prefix + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';

  std::string bytes(kMagic, kMagicSize);
  bytes += static_cast<char>(v2 ? 2 : 1);
  bytes += '\0';
  size_t length = header.size();
  for (size_t i = 0; i < (v2 ? 4u : 2u); ++i)
    bytes += static_cast<char>((length >> (8 * i)) & 0xff);
  bytes += header;

  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f) {
    error = "cannot write '" + path + "': " + std::strerror(errno);
    return false;
  }
  size_t dataBytes = static_cast<size_t>(numel) * elementBytes(dtype);
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size() &&
            (dataBytes == 0 || std::fwrite(data, 1, dataBytes, f) == dataBytes);
  int savedErrno = errno;
  ok = std::fclose(f) == 0 && ok;
  if (!ok) {
    error = "cannot write '" + path + "': " + std::strerror(savedErrno);
    return false;
  }
  return true;
}
