// Element types as .npy and safetensors files store them. One table lists every type the runtime reads,
// with its spelling in each format's header (a column per format), its size, and the conversion that turns
// it into f32 or i32, so the readers and writers of both formats take their element types, and the way
// they read them into tensors, from one place.
#ifndef ATTN_RUNTIME_STOREDTYPE_H
#define ATTN_RUNTIME_STOREDTYPE_H

#include "attn/Runtime/Convert.h"
#include "attn/Runtime/DType.h"
#include "attn/Runtime/Error.h"
#include "attn/Runtime/File.h"
#include "attn/Runtime/Tensor.h"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace attn::rt {

/// The file formats whose headers name element types.
enum class FileFormat { Npy, SafeTensors };

/// An element type as a file stores it.
struct StoredType {
  const char *npy;                      // its .npy descr ("<f4"), or null where .npy files are not read as it
  const char *safetensors;              // its safetensors dtype ("F32"), or null
  DType dtype;                          // what it is read as
  size_t itemSize;                      // bytes per element in the file
  std::optional<Conversion> conversion; // how the bytes become `dtype`; none where they are its own

  /// Its spelling in `format`'s headers, or null.
  const char *spelling(FileFormat format) const { return format == FileFormat::Npy ? npy : safetensors; }
};

/// The stored type spelled `name` in `format`'s headers, or null if the runtime does not read it.
const StoredType *findStoredType(FileFormat format, std::string_view name);

/// The stored type that holds `dtype` as it is, without conversion: how tensors are written.
const StoredType &storedTypeOf(DType dtype);

/// Reads a tensor of `shape`, stored as `type` at `offset` of `file`, into a tensor of `type.dtype`. The
/// caller has checked that the file holds all its bytes. A read error starts with the file's path; an
/// error in creating the tensor or converting its elements starts with `where`.
Expected<Tensor> readStoredTensor(const InputFile &file, uint64_t offset, const StoredType &type, Shape shape,
                                  const std::string &where);

} // namespace attn::rt

#endif // ATTN_RUNTIME_STOREDTYPE_H
