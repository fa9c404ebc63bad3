// The runtime's tensor: owned, 64-byte aligned storage of f32 or i32 elements in row-major order, with a
// halide_buffer_t describing it, so the same object is read from .npy or safetensors, handed to Halide
// kernels without copying, and written back out. Shapes are listed outermost first, as in NumPy; Halide
// counts dimensions from the innermost, so the buffer's dimension i is shape[rank - 1 - i].
#ifndef ATTN_RUNTIME_TENSOR_H
#define ATTN_RUNTIME_TENSOR_H

#include "attn/Runtime/DType.h"
#include "attn/Runtime/Error.h"

#include "HalideRuntime.h"

#include <cassert>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace attn::rt {

using Shape = std::vector<int64_t>;

/// "[2, 7, 32]"; "[]" for a scalar.
std::string formatShape(const Shape &shape);

/// The number of elements of `shape`, or -1 if a dimension is negative or the product overflows int64.
int64_t countElements(const Shape &shape);

class Tensor {
public:
  static constexpr size_t kAlignment = 64;
  static constexpr size_t kElementSize = 4; // f32 and i32 alike

  /// A tensor that holds nothing, as left behind by a move; it can only be assigned to or destroyed.
  Tensor() = default;

  /// A zero-filled tensor (uninitialized with `zeroed` false, for a result that a kernel writes whole).
  /// Fails if the shape has a negative dimension, or a dimension or stride that a halide_buffer_t cannot
  /// hold (its extents and strides are int32), or if memory runs out.
  static Expected<Tensor> create(DType dtype, Shape shape, bool zeroed = true);

  Tensor(Tensor &&other) noexcept;
  Tensor &operator=(Tensor &&other) noexcept;
  Tensor(const Tensor &) = delete;
  Tensor &operator=(const Tensor &) = delete;
  ~Tensor() = default;

  Expected<Tensor> clone() const;

  DType dtype() const { return dtype_; }
  const Shape &shape() const { return shape_; }
  int rank() const { return static_cast<int>(shape_.size()); }
  int64_t numElements() const { return numElements_; }
  size_t byteSize() const { return static_cast<size_t>(numElements_) * kElementSize; }

  void *data() { return storage_.get(); }
  const void *data() const { return storage_.get(); }
  template <typename T> T *data() {
    assert(DTypeOf<T>::value == dtype_ && "element type does not match the tensor's dtype");
    return static_cast<T *>(data());
  }
  template <typename T> const T *data() const {
    assert(DTypeOf<T>::value == dtype_ && "element type does not match the tensor's dtype");
    return static_cast<const T *>(data());
  }

  /// The Halide view of this tensor; it stays valid, and owned by the tensor, until the tensor is moved.
  /// A GPU kernel may leave a device copy in it (its `device` field), newer than the host data when
  /// device-dirty; a move carries the copy along. A new tensor is host-dirty: whoever writes its data on
  /// the host afterwards marks it so again (see Executor.h for who copies and frees device copies).
  halide_buffer_t *buffer() { return &buffer_; }
  const halide_buffer_t *buffer() const { return &buffer_; }

  /// "f32[2, 7, 32]".
  std::string describe() const;

private:
  struct FreeStorage {
    void operator()(void *p) const { std::free(p); }
  };

  void resetBuffer();

  DType dtype_ = DType::F32;
  Shape shape_;
  int64_t numElements_ = 0;
  std::unique_ptr<void, FreeStorage> storage_;
  std::vector<halide_dimension_t> dims_;
  halide_buffer_t buffer_ = {};
};

/// Tensors by name: a model's inputs, outputs or weights. Ordered, so files list them reproducibly; found
/// by a name of any string type without a copy of it (a model table's names are C strings).
using TensorMap = std::map<std::string, Tensor, std::less<>>;

/// What a tensor is without its data: its element type (as read into memory) and its shape. A file's
/// header is checked as these before any data is read.
struct TensorInfo {
  DType dtype;
  Shape shape;
};
using TensorInfoMap = std::map<std::string, TensorInfo, std::less<>>;

/// The dtypes and shapes of `tensors`.
TensorInfoMap describe(const TensorMap &tensors);

} // namespace attn::rt

#endif // ATTN_RUNTIME_TENSOR_H
