// File access shared by the .npy and safetensors readers and writers. Reading goes piece by piece at known
// offsets, so a reader can check a header against the file's size before it allocates anything, and can
// read tensor data straight into tensor storage. Writing is atomic: a file the user already has is either
// replaced whole or left untouched, never half-written.
#ifndef ATTN_RUNTIME_FILE_H
#define ATTN_RUNTIME_FILE_H

#include "attn/Runtime/Error.h"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace attn::rt {

// .npy and safetensors data is little-endian and is read straight into tensor storage.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "the runtime's file readers assume a little-endian host");

/// Whether `path` exists and is not a regular file (nor a link to one): a FIFO, a device, a socket or a
/// directory. Readers refuse those before they open them, since opening a FIFO blocks until a writer comes
/// and a device such as /dev/zero never ends.
bool isSpecialFile(const std::string &path);

/// A regular file open for reading (opening never blocks: a FIFO or device is refused with "not a regular
/// file"). Error messages start with its path.
class InputFile {
public:
  static Expected<InputFile> open(const std::string &path);

  InputFile(InputFile &&other) noexcept;
  InputFile &operator=(InputFile &&other) noexcept;
  InputFile(const InputFile &) = delete;
  InputFile &operator=(const InputFile &) = delete;
  ~InputFile();

  const std::string &path() const { return path_; }
  uint64_t size() const { return size_; }

  /// Reads exactly `size` bytes at `offset`.
  Status read(uint64_t offset, void *dest, size_t size) const;

private:
  InputFile(std::string path, int fd, uint64_t size) : path_(std::move(path)), fd_(fd), size_(size) {}

  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

struct ByteRange {
  const void *data;
  size_t size;
};

/// Replaces `path` with the concatenation of `pieces`. Writes `path.tmp.<pid>` in the same directory,
/// syncs it, renames it over `path` and syncs the directory; on any failure the temporary file is removed
/// and an existing `path` is left as it was. The temporary file is created exclusively and never through a
/// link: whatever already stands at its name (a leftover, or a link planted to redirect the write) is
/// removed first, not written through. Stale temporary files of `path` are removed first.
Status writeFileAtomically(const std::string &path, const std::vector<ByteRange> &pieces);

/// Removes what writes of `path` by processes that died left behind: `path.tmp.<pid>` files and links
/// whose process no longer exists.
void removeStaleTemporaries(const std::string &path);

/// Fails unless a file can be created at `path`: its folder exists and this process may write in it. For
/// long work, checked before it starts rather than when its result is written. Removes stale temporary
/// files of `path` (above).
Status checkWritable(const std::string &path);

} // namespace attn::rt

#endif // ATTN_RUNTIME_FILE_H
