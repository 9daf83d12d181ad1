//===- FormatsTest.cpp - quant-run's .npy/.npz/.pb readers ----------------===//
//
// Part of quant. Every dtype through the .npy writer and reader, the header
// variants numpy writes, and ONNX TensorProto's typed fields (the lit tests
// in test/Runtime cover float32 end to end through quant-run).
//
//===----------------------------------------------------------------------===//

#include "Array.h"

#include <zip.h>

#include <gtest/gtest.h>

#include <onnx/onnx_pb.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <unistd.h>
#include <vector>

using namespace qrun;

namespace {

std::string tempPath(const std::string &name) {
  return testing::TempDir() + "quant-formats-" + std::to_string(getpid()) +
         "-" + name;
}

struct DtypeCase {
  QuantDLDataType dtype;
  const char *descr;
};
const DtypeCase kDtypes[] = {
    {{2, 16, 1}, "'<f2'"}, {{2, 32, 1}, "'<f4'"}, {{2, 64, 1}, "'<f8'"},
    {{0, 8, 1}, "'|i1'"},  {{0, 16, 1}, "'<i2'"}, {{0, 32, 1}, "'<i4'"},
    {{0, 64, 1}, "'<i8'"}, {{1, 8, 1}, "'|u1'"},  {{1, 16, 1}, "'<u2'"},
    {{1, 32, 1}, "'<u4'"}, {{1, 64, 1}, "'<u8'"}, {{6, 8, 1}, "'|b1'"},
};

TEST(NpyFormat, RoundTripEveryDtype) {
  for (const DtypeCase &c : kDtypes) {
    for (std::vector<int64_t> shape :
         {std::vector<int64_t>{}, {5}, {2, 3}, {0, 4}}) {
      Array a;
      a.dtype = c.dtype;
      a.shape = shape;
      std::string allocError;
      ASSERT_TRUE(a.allocate(allocError)) << allocError;
      auto *bytes = static_cast<unsigned char *>(a.data());
      for (size_t i = 0; i < a.numBytes(); ++i)
        bytes[i] =
            c.dtype.code == 6 ? i % 2 : static_cast<unsigned char>(i * 37);
      std::string path = tempPath("rt.npy");
      std::string error;
      ASSERT_TRUE(writeNpy(path, a.dtype, a.shape.data(),
                           static_cast<int32_t>(a.shape.size()), a.data(),
                           error))
          << error;
      std::string file;
      ASSERT_TRUE(readFile(path, file, error)) << error;
      // numpy's layout: the data starts on a 64-byte boundary, the header
      // names the dtype as numpy does.
      size_t headerLength = static_cast<unsigned char>(file[8]) |
                            static_cast<unsigned char>(file[9]) << 8;
      EXPECT_EQ((10 + headerLength) % 64, 0u);
      EXPECT_NE(file.find(c.descr), std::string::npos) << file.substr(0, 80);
      EXPECT_EQ(file[10 + headerLength - 1], '\n');

      Array b;
      ASSERT_TRUE(parseNpy(file, b, error)) << error;
      EXPECT_EQ(b.dtype.code, a.dtype.code);
      EXPECT_EQ(b.dtype.bits, a.dtype.bits);
      EXPECT_EQ(b.shape, a.shape);
      ASSERT_EQ(b.numBytes(), a.numBytes());
      EXPECT_EQ(std::memcmp(a.data(), b.data(), a.numBytes()), 0);
      std::remove(path.c_str());
    }
  }
}

std::string npyWithHeader(const std::string &dict, const std::string &data,
                          int major = 1) {
  std::string header = dict + "\n";
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(major);
  out += '\0';
  size_t n = header.size();
  out += static_cast<char>(n & 0xff);
  out += static_cast<char>((n >> 8) & 0xff);
  if (major > 1) {
    out += '\0';
    out += '\0';
  }
  return out + header + data;
}

TEST(NpyFormat, HeaderVariants) {
  std::string four(16, '\1');
  Array a;
  std::string error;
  // Version 2.0, double quotes, no trailing comma, Python 2 longs, '='.
  ASSERT_TRUE(parseNpy(npyWithHeader("{\"descr\": \"=i4\", \"fortran_order\": "
                                     "False, \"shape\": (2L, 2L)}",
                                     four, 2),
                       a, error))
      << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a.dtype.code, 0);
  // Fortran order is harmless for rank 1; big-endian for one byte too.
  ASSERT_TRUE(parseNpy(npyWithHeader("{'descr': '>u1', 'fortran_order': True, "
                                     "'shape': (16,), }",
                                     four),
                       a, error))
      << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{16}));
}

TEST(NpyFormat, Errors) {
  std::string error;
  Array a;
  auto fails = [&](const std::string &bytes, const std::string &message) {
    error.clear();
    EXPECT_FALSE(parseNpy(bytes, a, error));
    EXPECT_NE(error.find(message), std::string::npos) << error;
  };
  fails("nope", "not a .npy file");
  fails(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(2,), }",
                      "12345678", 9),
        "unsupported .npy format version 9");
  fails(npyWithHeader("{'descr': '<f4', 'fortran_order': False}", ""),
        "'descr', 'fortran_order' or 'shape' is missing");
  fails(npyWithHeader("{'descr': [('a', '<f4')], 'fortran_order': False, "
                      "'shape': (1,), }",
                      "1234"),
        "structured dtypes are not supported");
  fails(npyWithHeader("{'descr': '|O', 'fortran_order': False, 'shape': (1,), "
                      "}",
                      "12345678"),
        "unsupported dtype '|O'");
  fails(npyWithHeader("{'descr': '>f8', 'fortran_order': False, 'shape': "
                      "(1,), }",
                      "12345678"),
        "big-endian dtype '>f8' is not supported");
  fails(npyWithHeader("{'descr': '<f4', 'fortran_order': True, 'shape': (2, "
                      "2), }",
                      std::string(16, '\0')),
        "fortran_order arrays are not supported");
  fails(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(3037000500, 3037000500, 4), }",
                      ""),
        "too many elements");
  fails(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(99999999999999999999,), }",
                      ""),
        "'shape' is not a tuple of integers");
  fails(npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': "
                      "(2,), }",
                      "1234567"),
        "needs 8 bytes of data, the file has 7");
  std::string truncated = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", "");
  fails(truncated.substr(0, 20), "truncated header");
}

TEST(NpzFormat, ReadsEntriesAndRejectsGarbage) {
  std::string error;
  std::vector<std::pair<std::string, Array>> entries;
  std::string path = tempPath("garbage.npz");
  FILE *f = std::fopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  std::fputs("PK\x03\x04 not really", f);
  std::fclose(f);
  EXPECT_FALSE(readNpz(path, entries, error));
  EXPECT_NE(error.find("as .npz"), std::string::npos) << error;
  std::remove(path.c_str());
  EXPECT_FALSE(readNpz(tempPath("missing.npz"), entries, error));
}

/// Writes `entries` (name, bytes) as a deflated zip.
void writeZip(const std::string &path,
              const std::vector<std::pair<std::string, std::string>> &entries) {
  int code = 0;
  zip_t *z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code);
  ASSERT_NE(z, nullptr);
  for (const auto &[name, bytes] : entries) {
    zip_source_t *src = zip_source_buffer(z, bytes.data(), bytes.size(), 0);
    ASSERT_NE(src, nullptr);
    zip_int64_t i = zip_file_add(z, name.c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(i, 0);
    zip_set_file_compression(z, i, ZIP_CM_DEFLATE, 9);
  }
  ASSERT_EQ(zip_close(z), 0);
}

TEST(NpzFormat, RefusesZipBombsBeforeInflating) {
  // 64 MiB of zeros deflate to ~64 KiB. An entry whose header declares 2^40
  // floats (4 TiB), and one whose header declares 4 floats: both are refused
  // from the header and the archive's declared size, without inflating the
  // data or allocating for the declared shape.
  std::string zeros(64 << 20, '\0');
  std::string huge = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1048576, 1048576), }",
      zeros);
  std::string small = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }", zeros);
  std::string path = tempPath("bomb.npz");
  std::vector<std::pair<std::string, Array>> entries;
  std::string error;
  writeZip(path, {{"x.npy", huge}});
  EXPECT_FALSE(readNpz(path, entries, error));
  EXPECT_NE(error.find("shape [1048576, 1048576] of float32 needs "
                       "4398046511104 bytes of data, the file has 67108864"),
            std::string::npos)
      << error;
  writeZip(path, {{"x.npy", small}});
  EXPECT_FALSE(readNpz(path, entries, error));
  EXPECT_NE(error.find("needs 16 bytes of data, the file has 67108864"),
            std::string::npos)
      << error;
  // An entry whose declared size agrees with its header but no deflate
  // stream of its compressed size could produce (the central directory's
  // uncompressed size forged to about 4 GB for a header of 1,073,741,000 floats).
  std::string forged = npyWithHeader(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (1073741000,), }",
      zeros);
  writeZip(path, {{"x.npy", forged}});
  {
    FILE *f = std::fopen(path.c_str(), "rb");
    ASSERT_NE(f, nullptr);
    std::string zip;
    char buf[1 << 16];
    for (size_t n; (n = std::fread(buf, 1, sizeof(buf), f)) > 0;)
      zip.append(buf, n);
    std::fclose(f);
    size_t central = zip.find("PK\x01\x02");
    ASSERT_NE(central, std::string::npos);
    // Header + 1,073,741,000 floats, as the .npy header says.
    uint32_t declared =
        static_cast<uint32_t>(forged.size() - zeros.size()) + 1073741000u * 4u;
    std::memcpy(&zip[central + 24], &declared, 4);
    f = std::fopen(path.c_str(), "wb");
    ASSERT_NE(f, nullptr);
    std::fwrite(zip.data(), 1, zip.size(), f);
    std::fclose(f);
  }
  EXPECT_FALSE(readNpz(path, entries, error));
  EXPECT_NE(error.find("more than deflate can produce"), std::string::npos)
      << error;
  // A well-formed archive still reads, stored or deflated.
  std::string ok =
      npyWithHeader("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }",
                    std::string("\0\0\x80\x3f\0\0\0\x40", 8));
  writeZip(path, {{"a.npy", ok}, {"b.npy", ok}});
  ASSERT_TRUE(readNpz(path, entries, error)) << error;
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[1].first, "b");
  EXPECT_EQ(static_cast<const float *>(entries[1].second.data())[1], 2.0f);
  std::remove(path.c_str());
}

TEST(TensorProtoFormat, TypedFields) {
  using onnx::TensorProto;
  std::string error, name;
  Array a;
  auto parse = [&](const TensorProto &t) {
    error.clear();
    return parseTensorProto(t.SerializeAsString(), a, name, error);
  };

  TensorProto floats;
  floats.set_name("f");
  floats.set_data_type(TensorProto::FLOAT);
  floats.add_dims(2);
  floats.add_float_data(1.5f);
  floats.add_float_data(-2.0f);
  ASSERT_TRUE(parse(floats)) << error;
  EXPECT_EQ(name, "f");
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 1), -2.0);

  // int8 values live in int32_data, one per element.
  TensorProto int8s;
  int8s.set_data_type(TensorProto::INT8);
  int8s.add_dims(3);
  for (int v : {-128, -1, 127})
    int8s.add_int32_data(v);
  ASSERT_TRUE(parse(int8s)) << error;
  EXPECT_EQ(a.dtype.bits, 8);
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 0), -128);
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 1), -1);
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 2), 127);

  // float16 bit patterns in int32_data.
  TensorProto halves;
  halves.set_data_type(TensorProto::FLOAT16);
  halves.add_dims(3);
  for (int bits : {0x3c00, 0xc000, 0x0001})
    halves.add_int32_data(bits);
  ASSERT_TRUE(parse(halves)) << error;
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 0), 1.0);
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 1), -2.0);
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 2), std::ldexp(1.0, -24));

  TensorProto bools;
  bools.set_data_type(TensorProto::BOOL);
  bools.add_dims(2);
  bools.add_int32_data(1);
  bools.add_int32_data(0);
  ASSERT_TRUE(parse(bools)) << error;
  EXPECT_EQ(a.dtype.code, 6);
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 0), 1.0);

  TensorProto int64s;
  int64s.set_data_type(TensorProto::INT64);
  int64s.add_dims(1);
  int64s.add_dims(2);
  int64s.add_int64_data(-5);
  int64s.add_int64_data(INT64_C(1) << 40);
  ASSERT_TRUE(parse(int64s)) << error;
  EXPECT_EQ(a.shape, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 1), std::ldexp(1.0, 40));

  TensorProto doubles;
  doubles.set_data_type(TensorProto::DOUBLE);
  doubles.add_double_data(0.25); // rank 0
  ASSERT_TRUE(parse(doubles)) << error;
  EXPECT_TRUE(a.shape.empty());
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 0), 0.25);

  TensorProto uint32s;
  uint32s.set_data_type(TensorProto::UINT32);
  uint32s.add_dims(1);
  uint32s.add_uint64_data(4000000000u);
  ASSERT_TRUE(parse(uint32s)) << error;
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 0), 4000000000.0);

  TensorProto raw;
  raw.set_data_type(TensorProto::INT16);
  raw.add_dims(2);
  raw.set_raw_data(std::string("\x01\x00\xff\xff", 4));
  ASSERT_TRUE(parse(raw)) << error;
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 0), 1);
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 1), -1);
}

TEST(TensorProtoFormat, Errors) {
  using onnx::TensorProto;
  std::string error, name;
  Array a;
  EXPECT_FALSE(
      parseTensorProto(std::string("\xff\xff\xff", 3), a, name, error));
  EXPECT_EQ(error, "not a valid ONNX TensorProto");

  TensorProto count;
  count.set_data_type(TensorProto::FLOAT);
  count.add_dims(3);
  count.add_float_data(1.0f);
  EXPECT_FALSE(parseTensorProto(count.SerializeAsString(), a, name, error));
  EXPECT_EQ(error, "float_data has 1 values, the shape needs 3");

  TensorProto raw;
  raw.set_data_type(TensorProto::FLOAT);
  raw.add_dims(2);
  raw.set_raw_data("abc");
  EXPECT_FALSE(parseTensorProto(raw.SerializeAsString(), a, name, error));
  EXPECT_EQ(error, "raw_data has 3 bytes, shape [2] of float32 needs 8");

  TensorProto negative;
  negative.set_data_type(TensorProto::FLOAT);
  negative.add_dims(-1);
  EXPECT_FALSE(parseTensorProto(negative.SerializeAsString(), a, name, error));
  EXPECT_NE(error.find("negative extent"), std::string::npos) << error;

  // A shape no message of this size can hold is refused before allocating.
  TensorProto lie;
  lie.set_data_type(TensorProto::FLOAT);
  lie.add_dims(1 << 20);
  lie.add_dims(1 << 20);
  EXPECT_FALSE(parseTensorProto(lie.SerializeAsString(), a, name, error));
  EXPECT_NE(error.find("has more elements than its"), std::string::npos)
      << error;

  TensorProto external;
  external.set_data_type(TensorProto::FLOAT);
  external.set_data_location(TensorProto::EXTERNAL);
  EXPECT_FALSE(parseTensorProto(external.SerializeAsString(), a, name, error));
  EXPECT_EQ(error, "TensorProto with external data is not supported");

  TensorProto strings;
  strings.set_data_type(TensorProto::STRING);
  EXPECT_FALSE(parseTensorProto(strings.SerializeAsString(), a, name, error));
  EXPECT_EQ(error, "unsupported TensorProto data_type 8 (STRING)");
}

TEST(ArrayHelpers, HalfAndBfloat) {
  uint16_t half[] = {0x7c00, 0xfc00, 0x7e00, 0x3555};
  QuantDLDataType f16 = {2, 16, 1};
  EXPECT_EQ(elementAsDouble(half, f16, 0), INFINITY);
  EXPECT_EQ(elementAsDouble(half, f16, 1), -INFINITY);
  EXPECT_TRUE(std::isnan(elementAsDouble(half, f16, 2)));
  EXPECT_NEAR(elementAsDouble(half, f16, 3), 1.0 / 3, 1e-3);
  uint16_t bf[] = {0x3f80, 0xc040};
  QuantDLDataType bf16 = {4, 16, 1};
  EXPECT_EQ(elementAsDouble(bf, bf16, 0), 1.0);
  EXPECT_EQ(elementAsDouble(bf, bf16, 1), -3.0);
}

TEST(NpyFormat, BfloatIsWrittenAsFloat32) {
  uint16_t bf[] = {0x3f80, 0xc040};
  int64_t shape[] = {2};
  std::string path = tempPath("bf.npy"), error, file;
  ASSERT_TRUE(writeNpy(path, {4, 16, 1}, shape, 1, bf, error)) << error;
  ASSERT_TRUE(readFile(path, file, error)) << error;
  Array a;
  ASSERT_TRUE(parseNpy(file, a, error)) << error;
  EXPECT_EQ(a.dtype.code, 2);
  EXPECT_EQ(a.dtype.bits, 32);
  EXPECT_EQ(elementAsDouble(a.data(), a.dtype, 1), -3.0);
  std::remove(path.c_str());
}

} // namespace
