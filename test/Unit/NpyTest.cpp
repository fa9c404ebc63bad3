// .npy reading and writing: round trips, the conversions from NumPy's default dtypes, and an error that
// names the file and the problem for every way a file can be malformed.
#include "attn/Runtime/Npy.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

using namespace attn::rt;
using attn::test::bytesOf;
using attn::test::makeTensor;
using attn::test::TempDir;
using attn::test::valuesOf;
using attn::test::writeBytes;

namespace {

/// A version 1.0 .npy file with header dict `dict`, padded as NumPy does, followed by `data`.
std::string npyFile(const std::string &dict, const std::string &data, char major = 1) {
  size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  header.resize((prefix + header.size() + 1 + 63) / 64 * 64 - prefix - 1, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += major;
  out += '\0';
  for (size_t i = 0; i < prefix - 8; ++i)
    out += static_cast<char>((header.size() >> (8 * i)) & 0xFF);
  return out + header + data;
}

std::string dict(const std::string &descr, const std::string &shape, const char *fortran = "False") {
  return "{'descr': '" + descr + "', 'fortran_order': " + fortran + ", 'shape': " + shape + ", }";
}

class Npy : public testing::Test {
protected:
  /// Writes `bytes` to x.npy and reads it back, expecting an error; returns its message.
  std::string readError(const std::string &bytes) {
    writeBytes(path, bytes);
    Expected<Tensor> t = readNpy(path);
    EXPECT_FALSE(t.ok());
    return t.ok() ? "" : t.message();
  }

  TempDir dir;
  std::string path = dir.file("x.npy");
};

TEST_F(Npy, RoundTripsEveryRank) {
  std::vector<Shape> shapes = {{}, {5}, {2, 3}, {2, 1, 3}, {1, 2, 3, 2}, {0, 3}};
  for (const Shape &shape : shapes) {
    int64_t n = countElements(shape);
    std::vector<float> values(n);
    for (int64_t i = 0; i < n; ++i)
      values[i] = 0.5f * i - 1;
    ASSERT_TRUE(writeNpy(path, makeTensor<float>(shape, values)).ok());
    Expected<Tensor> back = readNpy(path);
    ASSERT_TRUE(back.ok()) << back.message();
    EXPECT_EQ(back->shape(), shape);
    EXPECT_EQ(back->dtype(), DType::F32);
    EXPECT_EQ(valuesOf<float>(*back), values);
  }
}

TEST_F(Npy, RoundTripsI32) {
  ASSERT_TRUE(writeNpy(path, makeTensor<int32_t>({2, 2}, {1, -2, INT32_MAX, INT32_MIN})).ok());
  Expected<Tensor> back = readNpy(path);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->dtype(), DType::I32);
  EXPECT_EQ(valuesOf<int32_t>(*back), (std::vector<int32_t>{1, -2, INT32_MAX, INT32_MIN}));
}

TEST_F(Npy, WritesTheHeaderNumPyWrites) {
  ASSERT_TRUE(writeNpy(path, makeTensor<float>({3}, {1, 2, 3})).ok());
  std::string bytes = attn::test::readBytes(path);
  EXPECT_EQ(bytes,
            npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", bytesOf<float>({1, 2, 3})));
  EXPECT_EQ((bytes.size() - 12) % 64, 0u); // the data starts at a multiple of 64

  ASSERT_TRUE(writeNpy(path, makeTensor<int32_t>({}, {4})).ok());
  EXPECT_EQ(attn::test::readBytes(path),
            npyFile("{'descr': '<i4', 'fortran_order': False, 'shape': (), }", bytesOf<int32_t>({4})));
}

TEST_F(Npy, ReadsVersion2Headers) {
  writeBytes(path, npyFile(dict("<f4", "(2,)"), bytesOf<float>({1.5f, 2.5f}), 2));
  Expected<Tensor> t = readNpy(path);
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ(valuesOf<float>(*t), (std::vector<float>{1.5f, 2.5f}));
}

TEST_F(Npy, ConvertsNumPyDefaultDtypes) {
  struct Case {
    std::string descr, data;
    DType dtype;
    std::vector<double> expected;
  };
  std::vector<Case> cases = {
      {"<f8", bytesOf<double>({0.25, -3.0, 1e-3}), DType::F32, {0.25, -3.0, static_cast<float>(1e-3)}},
      {"<i8", bytesOf<int64_t>({-7, 0, INT32_MAX}), DType::I32, {-7, 0, INT32_MAX}},
      {"|b1", std::string("\x01\x00\x01", 3), DType::I32, {1, 0, 1}},
      {"|u1", std::string("\xff\x00\x07", 3), DType::I32, {255, 0, 7}},
      {"|i1", std::string("\xff\x80\x07", 3), DType::I32, {-1, -128, 7}},
  };
  for (const Case &c : cases) {
    writeBytes(path, npyFile(dict(c.descr, "(3,)"), c.data));
    Expected<Tensor> t = readNpy(path);
    ASSERT_TRUE(t.ok()) << c.descr << ": " << t.message();
    EXPECT_EQ(t->dtype(), c.dtype) << c.descr;
    for (int i = 0; i < 3; ++i) {
      double v = c.dtype == DType::F32 ? double(t->data<float>()[i]) : double(t->data<int32_t>()[i]);
      EXPECT_EQ(v, c.expected[i]) << c.descr << " element " << i;
    }
  }
}

TEST_F(Npy, AcceptsHeaderVariants) {
  // Double quotes, no trailing comma, Python 2 long integers.
  writeBytes(path, npyFile("{\"descr\": \"<i4\", \"shape\": (1L, 2L), \"fortran_order\": False}",
                           bytesOf<int32_t>({3, 4})));
  Expected<Tensor> t = readNpy(path);
  ASSERT_TRUE(t.ok()) << t.message();
  EXPECT_EQ(t->shape(), (Shape{1, 2}));
}

TEST_F(Npy, Int64OutOfRangeIsAnError) {
  EXPECT_EQ(readError(npyFile(dict("<i8", "(2,)"), bytesOf<int64_t>({1, int64_t(1) << 32}))),
            path + ": element 1 is 4294967296, which does not fit in int32");
}

TEST_F(Npy, MissingFileOrDirectory) {
  Expected<Tensor> missing = readNpy(dir.file("nope.npy"));
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.message(), dir.file("nope.npy") + ": cannot open: No such file or directory");
  Expected<Tensor> directory = readNpy(dir.path());
  ASSERT_FALSE(directory.ok());
  EXPECT_EQ(directory.message(), dir.path() + ": not a regular file");
}

TEST_F(Npy, BadMagic) {
  EXPECT_EQ(readError("PK\x03\x04 not numpy at all"), path +
                                                          ": not a NumPy .npy file (it does not start with "
                                                          "\"\\x93NUMPY\")");
  EXPECT_EQ(readError(""), path + ": not a NumPy .npy file (it does not start with \"\\x93NUMPY\")");
}

TEST_F(Npy, UnsupportedVersion) {
  EXPECT_EQ(readError(npyFile(dict("<f4", "(1,)"), bytesOf<float>({1}), 3)),
            path + ": unsupported .npy format version 3.0 (only 1.0 and 2.0 are read)");
}

TEST_F(Npy, TruncatedHeader) {
  std::string full = npyFile(dict("<f4", "(2,)"), bytesOf<float>({1, 2}));
  EXPECT_EQ(readError(full.substr(0, 9)),
            path + ": truncated: the file ends inside the header length (9 bytes)");
  EXPECT_EQ(readError(full.substr(0, 40)),
            path + ": truncated: the header is 118 bytes, but the file has only 30 after the header length");
}

TEST_F(Npy, TruncatedData) {
  std::string full = npyFile(dict("<f4", "(2, 7)"), bytesOf<float>(std::vector<float>(14)));
  EXPECT_EQ(readError(full.substr(0, full.size() - 16)),
            path + ": truncated: header says 56 bytes of data, file has 40");
  EXPECT_EQ(readError(full + "xxxx"),
            path + ": header says 56 bytes of data, but the file has 60 (trailing bytes)");
}

TEST_F(Npy, FortranOrder) {
  EXPECT_EQ(readError(npyFile(dict("<f4", "(1,)", "True"), bytesOf<float>({1}))),
            path + ": Fortran-order arrays are not supported; save a C-order array (np.ascontiguousarray)");
}

TEST_F(Npy, UnsupportedDtypes) {
  EXPECT_EQ(readError(npyFile(dict("<f2", "(1,)"), "ab")),
            path + ": unsupported dtype '<f2'; use float32, float64, int32, int64, int8, uint8 or bool");
  EXPECT_EQ(readError(npyFile(dict(">f4", "(1,)"), "abcd")),
            path + ": big-endian data ('>f4') is not supported; convert it with "
                   "arr.astype(arr.dtype.newbyteorder('<'))");
  EXPECT_EQ(readError(npyFile("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }", "abcd")),
            path + ": unsupported dtype: structured arrays are not supported");
}

TEST_F(Npy, MalformedHeaders) {
  EXPECT_EQ(readError(npyFile("{'descr': '<f4', 'fortran_order': False}", "")),
            path + ": malformed header: it must have the keys 'descr', 'fortran_order' and 'shape'");
  EXPECT_EQ(readError(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'extra': 1}", "abcd")),
            path + ": malformed header: unexpected key 'extra'");
  EXPECT_EQ(readError(npyFile("{'descr' '<f4'}", "")),
            path + ": malformed header: expected ':' at character 9 in {'descr' '<f4'}");
  EXPECT_EQ(readError(npyFile(dict("<f4", "(-1,)"), "")),
            path + ": malformed header: 'shape' must hold non-negative integers");
  EXPECT_EQ(readError(npyFile(dict("<f4", "[1]"), "abcd")),
            path + ": malformed header: 'shape' must be a tuple");
  EXPECT_EQ(readError(npyFile("{'descr': '<f4', 'fortran_order': 0, 'shape': (1,)}", "abcd")),
            path + ": malformed header: 'fortran_order' must be True or False");
  EXPECT_EQ(readError(npyFile(dict("<f4", "(4611686018427387904, 4)"), "")),
            path + ": malformed header: shape [4611686018427387904, 4] has too many elements");
  EXPECT_EQ(readError(npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), } trailing", "abcd")),
            path + ": malformed header: unexpected text after the dict at character 58 in {'descr': '<f4', "
                   "'fortran_order': False, 'shape': (1,), } trailing");
}

TEST_F(Npy, WriteFailureNamesTheFile) {
  Status s = writeNpy(dir.file("missing-dir/y.npy"), makeTensor<float>({1}, {1}));
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("missing-dir/y.npy: cannot create"), std::string::npos) << s.message();
}

} // namespace
