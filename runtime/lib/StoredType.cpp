// The table of stored element types behind the .npy and safetensors readers and writers. A row whose
// spelling in a format is null is a type that format's reader does not accept (NumPy has no bfloat16;
// safetensors files of booleans or bytes hold no weights a model reads).
#include "attn/Runtime/StoredType.h"

#include <vector>

namespace attn::rt {

namespace {

const StoredType kStoredTypes[] = {
    // npy    safetensors  read as     size  conversion
    {"<f4", "F32", DType::F32, 4, std::nullopt},
    {"<i4", "I32", DType::I32, 4, std::nullopt},
    {"<f8", "F64", DType::F32, 8, Conversion::F64ToF32},
    {"<i8", "I64", DType::I32, 8, Conversion::I64ToI32},
    {nullptr, "F16", DType::F32, 2, Conversion::F16ToF32},
    {nullptr, "BF16", DType::F32, 2, Conversion::BF16ToF32},
    {"|b1", nullptr, DType::I32, 1, Conversion::BoolToI32},
    {"|u1", nullptr, DType::I32, 1, Conversion::U8ToI32},
    {"|i1", nullptr, DType::I32, 1, Conversion::I8ToI32},
};

} // namespace

const StoredType *findStoredType(FileFormat format, std::string_view name) {
  for (const StoredType &type : kStoredTypes)
    if (const char *spelling = type.spelling(format); spelling && name == spelling)
      return &type;
  return nullptr;
}

const StoredType &storedTypeOf(DType dtype) {
  for (const StoredType &type : kStoredTypes)
    if (type.dtype == dtype && !type.conversion)
      return type;
  return kStoredTypes[0]; // not reached: the table has an exact row for every DType
}

Expected<Tensor> readStoredTensor(const InputFile &file, uint64_t offset, const StoredType &type, Shape shape,
                                  const std::string &where) {
  Expected<Tensor> tensor = Tensor::create(type.dtype, std::move(shape));
  if (!tensor)
    return makeError(where, ": ", tensor.message());
  size_t bytes = static_cast<size_t>(tensor->numElements()) * type.itemSize;
  if (!type.conversion) {
    if (Status s = file.read(offset, tensor->data(), bytes); !s)
      return s.takeError();
    return tensor;
  }
  std::vector<unsigned char> raw(bytes);
  if (Status s = file.read(offset, raw.data(), bytes); !s)
    return s.takeError();
  if (Status s = convertElements(*type.conversion, raw.data(), *tensor, where); !s)
    return s.takeError();
  return tensor;
}

} // namespace attn::rt
