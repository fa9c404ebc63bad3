// attn-npy-compare ACTUAL.npy EXPECTED.npy [--rtol R] [--atol A]: the numeric check of the lit suites,
// comparing a compiled model's output with a PyTorch golden. An element passes when
// |actual - expected| <= atol + rtol * |expected| (NumPy's allclose rule), or when both are the same
// infinity or both NaN. Two safetensors files (weights, checkpoints) are compared tensor by tensor, and
// must hold the same names. Exit code 0 when every element passes, 1 when one does not or a file cannot be
// read, 2 on a malformed command line.
#include "attn/Runtime/Npy.h"
#include "attn/Runtime/SafeTensors.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace attn::rt;

namespace {

constexpr int kMaxReported = 5;

double element(const Tensor &t, int64_t i) {
  return t.dtype() == DType::F32 ? t.data<float>()[i] : t.data<int32_t>()[i];
}

/// The row-major multi-index of flat index `i`, as "[0, 2, 5]".
std::string indexOf(const Shape &shape, int64_t i) {
  Shape index(shape.size());
  for (size_t d = shape.size(); d-- > 0;) {
    index[d] = i % shape[d];
    i /= shape[d];
  }
  return formatShape(index);
}

int usage(const char *message) {
  std::fprintf(stderr,
               "error: %s\nusage: attn-npy-compare ACTUAL.npy EXPECTED.npy [--rtol 1e-5] [--atol 1e-6]\n",
               message);
  return 2;
}

bool parseTolerance(const char *text, double &out) {
  char *end;
  out = std::strtod(text, &end);
  return *text && !*end && out >= 0 && std::isfinite(out);
}

/// Both files as read, or (after printing why one could not be read) nothing.
template <typename T> std::optional<std::pair<T, T>> readBoth(Expected<T> actual, Expected<T> expected) {
  for (Expected<T> *file : {&actual, &expected})
    if (!*file) {
      std::fprintf(stderr, "error: %s\n", file->message().c_str());
      return std::nullopt;
    }
  return std::pair<T, T>{std::move(*actual), std::move(*expected)};
}

/// Compares two tensors element by element; prints the largest errors and the first failures.
int compare(const Tensor &actual, const Tensor &expected, const char *actualFile, const char *expectedFile,
            double rtol, double atol) {
  if (actual.shape() != expected.shape()) {
    std::printf("FAIL: %s has shape %s, but %s has shape %s\n", actualFile,
                formatShape(actual.shape()).c_str(), expectedFile, formatShape(expected.shape()).c_str());
    return 1;
  }
  double maxAbs = 0, maxRel = 0;
  int64_t failures = 0;
  std::vector<int64_t> reported;
  for (int64_t i = 0; i < actual.numElements(); ++i) {
    double a = element(actual, i), e = element(expected, i);
    bool pass = a == e || (std::isnan(a) && std::isnan(e));
    if (!pass) {
      double abs = std::fabs(a - e);
      pass = abs <= atol + rtol * std::fabs(e); // false when a or e is NaN or abs is infinite
      maxAbs = std::isnan(abs) ? abs : std::max(maxAbs, abs);
      if (e != 0)
        maxRel = std::isnan(abs) ? abs : std::max(maxRel, abs / std::fabs(e));
    }
    if (!pass && failures++ < kMaxReported)
      reported.push_back(i);
  }
  std::printf("max abs err %g, max rel err %g over %lld elements\n", maxAbs, maxRel,
              static_cast<long long>(actual.numElements()));
  if (failures == 0)
    return 0;
  std::printf("FAIL: %lld of %lld elements differ by more than %g + %g * |expected|\n",
              static_cast<long long>(failures), static_cast<long long>(actual.numElements()), atol, rtol);
  for (int64_t i : reported)
    std::printf("  at %s: actual %.9g, expected %.9g\n", indexOf(actual.shape(), i).c_str(),
                element(actual, i), element(expected, i));
  return 1;
}

} // namespace

int main(int argc, char **argv) {
  std::vector<const char *> files;
  double rtol = 1e-5, atol = 1e-6;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--rtol" || arg == "--atol") {
      if (i + 1 >= argc)
        return usage((arg + " needs a value").c_str());
      if (!parseTolerance(argv[++i], arg == "--rtol" ? rtol : atol))
        return usage((arg + " needs a non-negative number").c_str());
    } else if (arg.rfind("--", 0) == 0) {
      return usage(("unknown option " + arg).c_str());
    } else {
      files.push_back(argv[i]);
    }
  }
  if (files.size() != 2)
    return usage("expected two .npy (or two .safetensors) files");

  // A .npy file starts with its magic string; anything else is read as safetensors.
  auto isNpy = [](const char *path) {
    char magic[6] = {};
    std::ifstream(path, std::ios::binary).read(magic, sizeof magic);
    return std::string(magic, sizeof magic) == "\x93NUMPY";
  };
  if (isNpy(files[0]) || isNpy(files[1])) {
    auto tensors = readBoth(readNpy(files[0]), readNpy(files[1]));
    return tensors ? compare(tensors->first, tensors->second, files[0], files[1], rtol, atol) : 1;
  }
  auto read = readBoth(readSafeTensors(files[0]), readSafeTensors(files[1]));
  if (!read)
    return 1;
  SafeTensorsFile *actual = &read->first, *expected = &read->second;
  int rc = 0;
  for (const auto &[name, tensor] : expected->tensors)
    if (!actual->tensors.count(name)) {
      std::printf("FAIL: %s has no tensor '%s'\n", files[0], name.c_str());
      rc = 1;
    }
  for (const auto &[name, tensor] : actual->tensors) {
    auto e = expected->tensors.find(name);
    if (e == expected->tensors.end()) {
      std::printf("FAIL: %s has no tensor '%s'\n", files[1], name.c_str());
      rc = 1;
      continue;
    }
    std::printf("%s: ", name.c_str());
    rc |= compare(tensor, e->second, files[0], files[1], rtol, atol);
  }
  return rc;
}
