// Fuzz target: a vocabulary file through the reader the compiler and the programs share, then text encoded
// with it and decoded back. The input's first line is the text; the rest is the vocabulary file.
#include "FuzzInput.h"

#include "attn/Runtime/Text.h"

#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace attn::rt;
  std::string_view bytes(reinterpret_cast<const char *>(data), size);
  size_t newline = bytes.find('\n');
  std::string text(bytes.substr(0, newline));
  std::string_view file = newline == std::string_view::npos ? std::string_view() : bytes.substr(newline + 1);
  std::string path =
      attn::fuzz::scratchFile(reinterpret_cast<const uint8_t *>(file.data()), file.size(), "vocab");
  Expected<Vocabulary> vocab = Vocabulary::readFile(path);
  if (!vocab)
    return 0;
  Expected<std::vector<int32_t>> ids = vocab->encode(text);
  if (!ids)
    return 0;
  for (int32_t id : *ids)
    if (id < 0 || static_cast<size_t>(id) >= vocab->size())
      std::abort();
  vocab->split(text);
  vocab->decode(*ids, -1, {});
  return 0;
}
