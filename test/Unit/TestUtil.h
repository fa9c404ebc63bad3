// Helpers shared by the runtime unit tests: a scratch directory per test, raw file access for crafting
// malformed files byte by byte, and tensors built from literal values.
#ifndef ATTN_TEST_UNIT_TESTUTIL_H
#define ATTN_TEST_UNIT_TESTUTIL_H

#include "attn/Runtime/Tensor.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace attn::test {

/// A fresh directory, removed with everything in it when the test ends.
class TempDir {
public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "attn-unit-XXXXXX").string();
    if (!mkdtemp(pattern.data()))
      ADD_FAILURE() << "mkdtemp failed";
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir &) = delete;
  TempDir &operator=(const TempDir &) = delete;

  std::string path() const { return path_; }
  std::string file(const std::string &name) const { return path_ + "/" + name; }

  /// The names of the entries in the directory, sorted.
  std::vector<std::string> list() const {
    std::vector<std::string> names;
    for (const auto &entry : std::filesystem::directory_iterator(path_))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

private:
  std::string path_;
};

inline void writeBytes(const std::string &path, const std::string &bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string readBytes(const std::string &path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

/// The little-endian bytes of `values`.
template <typename T> std::string bytesOf(const std::vector<T> &values) {
  return std::string(reinterpret_cast<const char *>(values.data()), values.size() * sizeof(T));
}

template <typename T> rt::Tensor makeTensor(rt::Shape shape, const std::vector<T> &values) {
  rt::Expected<rt::Tensor> t = rt::Tensor::create(rt::DTypeOf<T>::value, std::move(shape));
  EXPECT_TRUE(t.ok()) << t.message();
  EXPECT_EQ(static_cast<size_t>(t->numElements()), values.size());
  std::copy(values.begin(), values.end(), t->template data<T>());
  return std::move(*t);
}

template <typename T> std::vector<T> valuesOf(const rt::Tensor &t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numElements());
}

} // namespace attn::test

#endif // ATTN_TEST_UNIT_TESTUTIL_H
