// Tensor storage and its halide_buffer_t view. Storage is 64-byte aligned so Halide's vector loads never
// straddle cache lines at the start of a buffer, and never null, even for zero elements, because Halide
// treats a null host pointer as "no host allocation".
#include "attn/Runtime/Tensor.h"

#include <climits>
#include <cstring>

namespace attn::rt {

std::string formatShape(const Shape &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i)
      out += ", ";
    out += std::to_string(shape[i]);
  }
  return out + "]";
}

int64_t countElements(const Shape &shape) {
  int64_t n = 1;
  for (int64_t d : shape)
    if (d < 0 || __builtin_mul_overflow(n, d, &n))
      return -1;
  return n;
}

Expected<Tensor> Tensor::create(DType dtype, Shape shape, bool zeroed) {
  int64_t n = countElements(shape);
  if (n < 0)
    return makeError("shape ", formatShape(shape), " is invalid: a dimension is negative or there are too ",
                     "many elements");
  Tensor t;
  t.dims_.resize(shape.size());
  int64_t stride = 1;
  for (size_t i = 0; i < shape.size(); ++i) {
    int64_t extent = shape[shape.size() - 1 - i];
    if (extent > INT32_MAX || stride > INT32_MAX)
      return makeError("shape ", formatShape(shape), " is too large: Halide buffers hold at most 2^31 - 1 ",
                       "elements per dimension and stride");
    t.dims_[i] = halide_dimension_t(0, static_cast<int32_t>(extent), static_cast<int32_t>(stride));
    stride *= extent;
  }
  size_t bytes = static_cast<size_t>(n) * kElementSize;
  size_t allocated = (bytes / kAlignment + 1) * kAlignment; // a multiple of the alignment, never zero
  t.storage_.reset(std::aligned_alloc(kAlignment, allocated));
  if (!t.storage_)
    return makeError("out of memory allocating ", bytes, " bytes for a ", dtypeName(dtype),
                     formatShape(shape), " tensor");
  if (zeroed)
    std::memset(t.storage_.get(), 0, bytes);
  t.dtype_ = dtype;
  t.shape_ = std::move(shape);
  t.numElements_ = n;
  t.resetBuffer();
  t.buffer_.set_host_dirty(true); // the host holds the data: a GPU kernel that reads it uploads it first
  return t;
}

Tensor::Tensor(Tensor &&other) noexcept { *this = std::move(other); }

Tensor &Tensor::operator=(Tensor &&other) noexcept {
  if (this == &other)
    return *this;
  dtype_ = other.dtype_;
  shape_ = std::move(other.shape_);
  numElements_ = other.numElements_;
  storage_ = std::move(other.storage_);
  dims_ = std::move(other.dims_);
  resetBuffer();
  // A device copy moves with the data (whoever frees it later sees it here).
  buffer_.device = other.buffer_.device;
  buffer_.device_interface = other.buffer_.device_interface;
  buffer_.flags = other.buffer_.flags;
  other.shape_.clear();
  other.numElements_ = 0;
  other.dims_.clear();
  other.resetBuffer();
  return *this;
}

Expected<Tensor> Tensor::clone() const {
  Expected<Tensor> copy = create(dtype_, shape_);
  if (copy)
    std::memcpy(copy->data(), data(), byteSize());
  return copy;
}

std::string Tensor::describe() const { return dtypeName(dtype_) + formatShape(shape_); }

void Tensor::resetBuffer() {
  buffer_ = {};
  buffer_.host = static_cast<uint8_t *>(storage_.get());
  buffer_.type = dtype_ == DType::F32 ? halide_type_of<float>() : halide_type_of<int32_t>();
  buffer_.dimensions = static_cast<int32_t>(dims_.size());
  buffer_.dim = dims_.empty() ? nullptr : dims_.data();
}

TensorInfoMap describe(const TensorMap &tensors) {
  TensorInfoMap infos;
  for (const auto &[name, tensor] : tensors)
    infos.emplace(name, TensorInfo{tensor.dtype(), tensor.shape()});
  return infos;
}

} // namespace attn::rt
