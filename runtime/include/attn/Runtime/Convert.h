// Element conversions shared by the .npy and safetensors readers: files may hold float64, float16,
// bfloat16, int64, bool, int8 or uint8 data, which is converted on reading to the model's f32 and i32.
#ifndef ATTN_RUNTIME_CONVERT_H
#define ATTN_RUNTIME_CONVERT_H

#include "attn/Runtime/Error.h"
#include "attn/Runtime/Tensor.h"

#include <string>

namespace attn::rt {

enum class Conversion { F64ToF32, F16ToF32, BF16ToF32, I64ToI32, BoolToI32, U8ToI32, I8ToI32 };

/// Converts `tensor.numElements()` little-endian elements at `raw` into `tensor`. An int64 that does not fit
/// in int32 is an error prefixed with `where` (the file, and the tensor if there are several).
Status convertElements(Conversion conversion, const unsigned char *raw, Tensor &tensor,
                       const std::string &where);

} // namespace attn::rt

#endif // ATTN_RUNTIME_CONVERT_H
