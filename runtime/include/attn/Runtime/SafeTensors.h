// safetensors files: the weights and checkpoints of compiled models, readable and writable by PyTorch and
// Hugging Face tools. Reading checks the whole header against the file before it allocates tensors, and
// converts the float and integer types PyTorch commonly saves (F64, F16, BF16, I64) to the model's f32 and
// i32. Writing replaces the file atomically, so a failed save never destroys the previous checkpoint.
#ifndef ATTN_RUNTIME_SAFETENSORS_H
#define ATTN_RUNTIME_SAFETENSORS_H

#include "attn/Runtime/Error.h"
#include "attn/Runtime/Tensor.h"

#include <functional>
#include <map>
#include <string>

namespace attn::rt {

struct SafeTensorsFile {
  TensorMap tensors;
  std::map<std::string, std::string> metadata; // the header's "__metadata__"
};

/// Checks a file's tensors, as its header describes them, before their data is read.
using HeaderCheck = std::function<Status(const TensorInfoMap &header)>;

/// Reads every tensor of a safetensors file. F32 and I32 are read as they are; F64, F16 and BF16 become
/// f32; I64 becomes i32 and must fit in it. Errors name the file and, where it applies, the tensor.
/// `check`, if given, sees the header (dtypes as read into memory) first: a file it refuses is not read.
Expected<SafeTensorsFile> readSafeTensors(const std::string &path, const HeaderCheck &check = {});

/// Writes `tensors` (as F32 or I32, in key order, their data contiguous) and `metadata` to `path`,
/// replacing it atomically. The metadata also records "crc32", the checksum of the data, which reading
/// verifies, so damaged bytes are an error rather than wrong weights.
Status writeSafeTensors(const std::string &path, const TensorMap &tensors,
                        const std::map<std::string, std::string> &metadata = {});

} // namespace attn::rt

#endif // ATTN_RUNTIME_SAFETENSORS_H
