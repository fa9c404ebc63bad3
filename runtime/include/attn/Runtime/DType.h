// The element types a model computes with: f32 and i32, numbered as in the model table attnc emits. The
// types that files may store, and how they become these two, are in StoredType.h.
#ifndef ATTN_RUNTIME_DTYPE_H
#define ATTN_RUNTIME_DTYPE_H

#include "attn/Runtime/ModelSpec.h"

#include <cstdint>

namespace attn::rt {

enum class DType : int32_t { F32 = ATTN_F32, I32 = ATTN_I32 };

/// "f32" or "i32".
inline const char *dtypeName(DType dtype) { return dtype == DType::F32 ? "f32" : "i32"; }

template <typename T> struct DTypeOf;
template <> struct DTypeOf<float> { static constexpr DType value = DType::F32; };
template <> struct DTypeOf<int32_t> { static constexpr DType value = DType::I32; };

} // namespace attn::rt

#endif // ATTN_RUNTIME_DTYPE_H
