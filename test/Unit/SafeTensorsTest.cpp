// safetensors reading and writing: round trips with metadata, the conversions from PyTorch's other
// dtypes, an error naming the file and the tensor for every malformed header, and atomic replacement that
// keeps the previous file when a write fails.
#include "attn/Runtime/SafeTensors.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

#include <cmath>
#include <csignal>
#include <sys/resource.h>

using namespace attn::rt;
using attn::test::bytesOf;
using attn::test::makeTensor;
using attn::test::readBytes;
using attn::test::TempDir;
using attn::test::valuesOf;
using attn::test::writeBytes;

namespace {

/// A safetensors file with header `json` (unpadded) followed by `data`.
std::string stFile(const std::string &json, const std::string &data) {
  std::string out;
  for (int i = 0; i < 8; ++i)
    out += static_cast<char>((json.size() >> (8 * i)) & 0xFF);
  return out + json + data;
}

class SafeTensors : public testing::Test {
protected:
  std::string readError(const std::string &bytes) {
    writeBytes(path, bytes);
    Expected<SafeTensorsFile> f = readSafeTensors(path);
    EXPECT_FALSE(f.ok());
    return f.ok() ? "" : f.message();
  }

  TempDir dir;
  std::string path = dir.file("w.safetensors");
};

TEST_F(SafeTensors, RoundTripWithMetadata) {
  TensorMap tensors;
  tensors.emplace("q.weight", makeTensor<float>({2, 3}, {1, 2, 3, 4, 5, 6}));
  tensors.emplace("b", makeTensor<float>({3}, {-1, 0, 1}));
  tensors.emplace("ids", makeTensor<int32_t>({2}, {7, -8}));
  tensors.emplace("scalar", makeTensor<float>({}, {3.5f}));
  tensors.emplace("empty", makeTensor<float>({0, 4}, {}));
  tensors.emplace("odd \"name\"\n\xc3\xa9", makeTensor<float>({1}, {9}));
  ASSERT_TRUE(writeSafeTensors(path, tensors, {{"format", "pt"}, {"note", "a \"quoted\" value"}}).ok());

  Expected<SafeTensorsFile> back = readSafeTensors(path);
  ASSERT_TRUE(back.ok()) << back.message();
  EXPECT_EQ(back->metadata,
            (std::map<std::string, std::string>{{"format", "pt"}, {"note", "a \"quoted\" value"}}));
  ASSERT_EQ(back->tensors.size(), tensors.size());
  for (const auto &[name, t] : tensors) {
    ASSERT_TRUE(back->tensors.count(name)) << name;
    const Tensor &b = back->tensors.at(name);
    EXPECT_EQ(b.shape(), t.shape()) << name;
    EXPECT_EQ(b.dtype(), t.dtype()) << name;
    EXPECT_EQ(std::string(static_cast<const char *>(b.data()), b.byteSize()),
              std::string(static_cast<const char *>(t.data()), t.byteSize()))
        << name;
  }
}

TEST_F(SafeTensors, WritesSortedKeysAndAnAlignedHeader) {
  TensorMap tensors;
  tensors.emplace("z", makeTensor<float>({1}, {1}));
  tensors.emplace("a", makeTensor<int32_t>({2}, {2, 3}));
  ASSERT_TRUE(writeSafeTensors(path, tensors).ok());
  std::string bytes = readBytes(path);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = n << 8 | static_cast<unsigned char>(bytes[i]);
  EXPECT_EQ((8 + n) % 8, 0u);
  std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.substr(0, header.find_last_not_of(' ') + 1),
            "{\"__metadata__\":{\"crc32\":\"2491738725\"},"
            "\"a\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[0,8]},"
            "\"z\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}");
  EXPECT_EQ(bytes.substr(8 + n), bytesOf<int32_t>({2, 3}) + bytesOf<float>({1}));
}

TEST_F(SafeTensors, DetectsDamagedDataByItsChecksum) {
  TensorMap tensors;
  tensors.emplace("w", makeTensor<float>({3}, {1, 2, 3}));
  ASSERT_TRUE(writeSafeTensors(path, tensors).ok());
  std::string bytes = readBytes(path);
  bytes[bytes.size() - 2] ^= 0x10;
  writeBytes(path, bytes);
  Expected<SafeTensorsFile> f = readSafeTensors(path);
  ASSERT_FALSE(f.ok());
  EXPECT_NE(f.message().find("the file is corrupt"), std::string::npos) << f.message();
}

TEST_F(SafeTensors, ReadsFilesWithoutPaddingOrMetadata) {
  writeBytes(path, stFile("{}", ""));
  Expected<SafeTensorsFile> f = readSafeTensors(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_TRUE(f->tensors.empty());
  EXPECT_TRUE(f->metadata.empty());
}

TEST_F(SafeTensors, ConvertsOtherDtypes) {
  std::string data = bytesOf<double>({0.5, -2}) +                                  // F64 at [0, 16)
                     bytesOf<uint16_t>({0x3C00, 0xC000, 0x0001, 0x7C00, 0x3555}) + // F16 at [16, 26)
                     bytesOf<uint16_t>({0x3F80, 0xC040}) +                         // BF16 at [26, 30)
                     bytesOf<int64_t>({-5, INT32_MAX});                            // I64 at [30, 46)
  writeBytes(path, stFile("{\"d\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]},"
                          "\"h\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[16,26]},"
                          "\"bf\":{\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[26,30]},"
                          "\"l\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[30,46]}}",
                          data));
  Expected<SafeTensorsFile> f = readSafeTensors(path);
  ASSERT_TRUE(f.ok()) << f.message();
  EXPECT_EQ(valuesOf<float>(f->tensors.at("d")), (std::vector<float>{0.5f, -2.0f}));
  std::vector<float> h = valuesOf<float>(f->tensors.at("h"));
  EXPECT_EQ(h[0], 1.0f);
  EXPECT_EQ(h[1], -2.0f);
  EXPECT_EQ(h[2], 5.9604644775390625e-8f); // the smallest subnormal half
  EXPECT_EQ(h[3], HUGE_VALF);
  EXPECT_EQ(h[4], 0.333251953125f);
  EXPECT_EQ(valuesOf<float>(f->tensors.at("bf")), (std::vector<float>{1.0f, -3.0f}));
  EXPECT_EQ(f->tensors.at("l").dtype(), DType::I32);
  EXPECT_EQ(valuesOf<int32_t>(f->tensors.at("l")), (std::vector<int32_t>{-5, INT32_MAX}));
}

TEST_F(SafeTensors, Int64OutOfRange) {
  EXPECT_EQ(readError(stFile("{\"l\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}",
                             bytesOf<int64_t>({-(int64_t(1) << 40)}))),
            path + ": tensor 'l': element 0 is -1099511627776, which does not fit in int32");
}

TEST_F(SafeTensors, TruncatedFiles) {
  EXPECT_EQ(readError(std::string("\x10\x00\x00", 3)),
            path + ": truncated: the file has 3 bytes, too few for the 8-byte header "
                   "length a safetensors file starts with");
  std::string full =
      stFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", bytesOf<float>({1, 2}));
  EXPECT_EQ(readError(full.substr(0, 20)),
            path + ": header length 54 goes beyond the end of the file (20 bytes): the "
                   "file is truncated or not a safetensors file");
  EXPECT_EQ(
      readError(full.substr(0, full.size() - 3)),
      path + ": tensor 'a': data_offsets [0, 8] go beyond the end of the data section (5 bytes): the file is "
             "truncated or corrupt");
  EXPECT_EQ(
      readError(std::string("\xff\xff\xff\xff\xff\xff\xff\xff{}", 10)),
      path + ": header length 18446744073709551615 goes beyond the end of the file (10 bytes): the file is "
             "truncated or not a safetensors file");
}

TEST_F(SafeTensors, BadJson) {
  EXPECT_EQ(readError(stFile("{\"a\" {}}", "")),
            path + ": malformed JSON header: at byte 5: expected ':' after an "
                   "object key");
  EXPECT_EQ(readError(stFile("[1, 2]", "")), path + ": the header is a JSON array, not an object");
  EXPECT_EQ(readError(stFile("{\"a\":1,\"a\":2}", "")),
            path + ": malformed JSON header: at byte 7: duplicate key \"a\"");
}

TEST_F(SafeTensors, MalformedEntries) {
  auto entry = [&](const std::string &name, const std::string &fields, const std::string &data = "") {
    return readError(stFile("{\"" + name + "\":" + fields + "}", data));
  };
  std::string where = path + ": tensor 'w'";
  EXPECT_EQ(entry("w", "[1]"),
            where + ": expected an object with dtype, shape and data_offsets, found a array");
  EXPECT_EQ(entry("w", "{\"dtype\":\"F32\",\"shape\":[1]}"), where + ": missing field \"data_offsets\"");
  EXPECT_EQ(entry("w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4],\"x\":1}", "abcd"),
            where + ": unexpected field \"x\"");
  EXPECT_EQ(entry("w", "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}", "a"),
            where + ": unsupported dtype 'U8' (supported: F32, I32, F64, F16, BF16, I64)");
  EXPECT_EQ(entry("w", "{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}", "abcd"),
            where + ": shape must be an array of non-negative integers");
  EXPECT_EQ(entry("w", "{\"dtype\":\"F32\",\"shape\":[1.5],\"data_offsets\":[0,4]}", "abcd"),
            where + ": shape must be an array of non-negative integers");
  EXPECT_EQ(entry("w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}", "abcd"),
            where + ": data_offsets must be an array of two non-negative integers");
  EXPECT_EQ(entry("w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}", "abcd"),
            where + ": data_offsets [4, 0] end before they begin");
  EXPECT_EQ(
      entry("w", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,400]}", "abcd"),
      where +
          ": data_offsets [0, 400] go beyond the end of the data section (4 bytes): the file is truncated "
          "or corrupt");
  EXPECT_EQ(entry("w", "{\"dtype\":\"F32\",\"shape\":[5,5],\"data_offsets\":[0,96]}", std::string(96, 'x')),
            where + ": data_offsets [0, 96] hold 96 bytes, but F32[5, 5] needs 100");
  EXPECT_EQ(
      entry("w", "{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}", "abcd"),
      where + ": data_offsets [0, 4] hold 4 bytes, but F32[4611686018427387904, 4] needs more than 2^63");
}

TEST_F(SafeTensors, DataOffsetsMustBeContiguousAndDisjoint) {
  auto two = [&](const std::string &a, const std::string &b, const std::string &data) {
    return readError(stFile("{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + a +
                                "},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":" + b + "}}",
                            data));
  };
  EXPECT_EQ(two("[0,4]", "[0,4]", "abcd"),
            path + ": tensor 'b' starts at byte 0 of the data, but the tensor before it ends at byte 4: "
                   "data_offsets must be contiguous and disjoint");
  EXPECT_EQ(two("[0,4]", "[8,12]", "abcdefghijkl"),
            path + ": tensor 'b' starts at byte 8 of the data, but the tensor before it ends at byte 4: "
                   "data_offsets must be contiguous and disjoint");
  EXPECT_EQ(two("[4,8]", "[8,12]", "abcdefghijkl"),
            path + ": tensor 'a' starts at byte 4 of the data, but the data starts at byte 0: "
                   "data_offsets must be contiguous and disjoint");
  EXPECT_EQ(two("[0,4]", "[4,8]", "abcdefghijkl"),
            path + ": the tensors' data ends at byte 8, but the file holds 12 bytes of data: data_offsets "
                   "must cover the data exactly");
}

TEST_F(SafeTensors, MalformedMetadata) {
  EXPECT_EQ(readError(stFile("{\"__metadata__\":{\"epoch\":3}}", "")),
            path + ": __metadata__ must be an object mapping strings to strings (\"epoch\" is a number)");
  EXPECT_EQ(readError(stFile("{\"__metadata__\":[]}", "")),
            path + ": __metadata__ must be an object mapping strings to strings");
}

TEST_F(SafeTensors, ATensorCannotBeNamedMetadata) {
  TensorMap tensors;
  tensors.emplace("__metadata__", makeTensor<float>({1}, {1}));
  Status s = writeSafeTensors(path, tensors);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), path + ": a tensor cannot be named __metadata__");
}

TEST_F(SafeTensors, FailedWriteKeepsTheOldFile) {
  TensorMap old;
  old.emplace("w", makeTensor<float>({2}, {1, 2}));
  ASSERT_TRUE(writeSafeTensors(path, old).ok());
  std::string before = readBytes(path);

  // Make the write fail half-way, as a full disk would: a file size limit turns write() into EFBIG.
  TensorMap big;
  big.emplace("w", makeTensor<float>({4096}, std::vector<float>(4096, 3.0f)));
  struct rlimit saved;
  ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &saved), 0);
  struct rlimit limited = saved;
  limited.rlim_cur = 1024;
  auto previousSignal = std::signal(SIGXFSZ, SIG_IGN);
  ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limited), 0);
  Status s = writeSafeTensors(path, big);
  setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, previousSignal);

  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find("write failed: File too large"), std::string::npos) << s.message();
  EXPECT_EQ(readBytes(path), before);
  EXPECT_EQ(dir.list(), std::vector<std::string>{"w.safetensors"}); // no temporary file left behind
}

TEST_F(SafeTensors, FailedRenameKeepsTheTarget) {
  std::string target = dir.file("taken");
  std::filesystem::create_directory(target);
  writeBytes(target + "/keep", "x");
  Status s = writeSafeTensors(target, {});
  ASSERT_FALSE(s.ok());
  EXPECT_NE(s.message().find(target + ": cannot replace it with " + target + ".tmp."), std::string::npos)
      << s.message();
  EXPECT_EQ(readBytes(target + "/keep"), "x");
  EXPECT_EQ(dir.list(), std::vector<std::string>{"taken"});
}

TEST_F(SafeTensors, MissingFile) {
  Expected<SafeTensorsFile> f = readSafeTensors(dir.file("none.safetensors"));
  ASSERT_FALSE(f.ok());
  EXPECT_EQ(f.message(), dir.file("none.safetensors") + ": cannot open: No such file or directory");
}

} // namespace
