// What the fuzz targets share. The runtime's readers take a path (they check the file's type and size
// before reading), so a target writes each input to a scratch file of its own process first.
#ifndef ATTN_TEST_FUZZ_FUZZINPUT_H
#define ATTN_TEST_FUZZ_FUZZINPUT_H

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include <unistd.h>

namespace attn::fuzz {

/// Writes `data` to this process's scratch file `$TMPDIR/attn-fuzz-<pid>.<suffix>` and returns its path.
inline std::string scratchFile(const uint8_t *data, size_t size, const char *suffix) {
  static const std::string dir = [] {
    const char *tmp = std::getenv("TMPDIR");
    return std::string(tmp && *tmp ? tmp : "/tmp");
  }();
  std::string path = dir + "/attn-fuzz-" + std::to_string(::getpid()) + "." + suffix;
  FILE *f = std::fopen(path.c_str(), "wb");
  if (!f)
    std::abort(); // the harness itself is broken, not the code under test
  if (size && std::fwrite(data, 1, size, f) != size)
    std::abort();
  std::fclose(f);
  return path;
}

} // namespace attn::fuzz

#endif // ATTN_TEST_FUZZ_FUZZINPUT_H
