// CRC-32 (IEEE 802.3, as zlib and PNG): PNG chunks and the checksums of written safetensors files.
#ifndef ATTN_RUNTIME_CRC32_H
#define ATTN_RUNTIME_CRC32_H

#include <array>
#include <cstddef>
#include <cstdint>

namespace attn::rt {

/// The CRC-32 of `size` bytes at `data`, continuing from `crc` (0 to start).
inline uint32_t crc32(const void *data, size_t size, uint32_t crc = 0) {
  static const std::array<uint32_t, 256> table = [] {
    std::array<uint32_t, 256> t{};
    for (uint32_t n = 0; n < 256; ++n) {
      uint32_t c = n;
      for (int k = 0; k < 8; ++k)
        c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[n] = c;
    }
    return t;
  }();
  const auto *bytes = static_cast<const unsigned char *>(data);
  crc = ~crc;
  for (size_t i = 0; i < size; ++i)
    crc = table[(crc ^ bytes[i]) & 0xFF] ^ (crc >> 8);
  return ~crc;
}

} // namespace attn::rt

#endif // ATTN_RUNTIME_CRC32_H
