// Fuzz target: a .npy file through the reader (magic, version, header dict, dtype, shape, byte order,
// Fortran order, conversions), and what it returns written back and read again unchanged.
#include "FuzzInput.h"

#include "attn/Runtime/Npy.h"

#include <cstring>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using namespace attn::rt;
  std::string path = attn::fuzz::scratchFile(data, size, "npy");
  Expected<Tensor> tensor = readNpy(path);
  if (!tensor)
    return 0;
  if (!writeNpy(path, *tensor))
    std::abort();
  Expected<Tensor> again = readNpy(path);
  if (!again || again->shape() != tensor->shape() || again->dtype() != tensor->dtype() ||
      std::memcmp(again->data(), tensor->data(), tensor->byteSize()) != 0)
    std::abort();
  return 0;
}
