// Fuzz target: a safetensors file through the reader (header JSON, dtypes, shapes, data_offsets, checksum
// and conversions), and the tensors it returns written back and read again unchanged.
#include "FuzzInput.h"

#include "attn/Runtime/SafeTensors.h"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  std::string path = attn::fuzz::scratchFile(data, size, "safetensors");
  attn::rt::Expected<attn::rt::SafeTensorsFile> file = attn::rt::readSafeTensors(path);
  if (!file)
    return 0;
  if (!attn::rt::writeSafeTensors(path, file->tensors, file->metadata))
    std::abort();
  attn::rt::Expected<attn::rt::SafeTensorsFile> again = attn::rt::readSafeTensors(path);
  if (!again || again->tensors.size() != file->tensors.size())
    std::abort();
  for (const auto &[name, tensor] : file->tensors) {
    const attn::rt::Tensor &back = again->tensors.at(name);
    if (back.shape() != tensor.shape() || back.byteSize() != tensor.byteSize() ||
        std::memcmp(back.data(), tensor.data(), tensor.byteSize()) != 0)
      std::abort();
  }
  return 0;
}
