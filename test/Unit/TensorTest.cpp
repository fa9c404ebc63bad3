// Tensor storage and its halide_buffer_t view: Halide counts dimensions from the innermost, so a wrong
// reversal or stride here would silently transpose every kernel's operands. Also the table of element types
// as files store them, which .npy and safetensors share.
#include "attn/Runtime/Tensor.h"

#include "attn/Runtime/StoredType.h"

#include "TestUtil.h"

#include <gtest/gtest.h>

using namespace attn::rt;
using attn::test::makeTensor;

namespace {

TEST(Tensor, HalideViewReversesDimensionsWithRowMajorStrides) {
  Expected<Tensor> t = Tensor::create(DType::F32, {2, 7, 32});
  ASSERT_TRUE(t.ok()) << t.message();
  const halide_buffer_t *b = t->buffer();
  EXPECT_EQ(b->dimensions, 3);
  EXPECT_EQ(b->type, halide_type_of<float>());
  EXPECT_EQ(b->host, static_cast<const uint8_t *>(t->data()));
  EXPECT_EQ(b->dim[0].extent, 32);
  EXPECT_EQ(b->dim[0].stride, 1);
  EXPECT_EQ(b->dim[1].extent, 7);
  EXPECT_EQ(b->dim[1].stride, 32);
  EXPECT_EQ(b->dim[2].extent, 2);
  EXPECT_EQ(b->dim[2].stride, 7 * 32);
  for (int d = 0; d < 3; ++d)
    EXPECT_EQ(b->dim[d].min, 0);
  EXPECT_EQ(b->device, 0u);
  EXPECT_EQ(t->numElements(), 2 * 7 * 32);
  EXPECT_EQ(t->byteSize(), 2u * 7 * 32 * 4);
}

TEST(Tensor, StorageIsAlignedAndZeroed) {
  Expected<Tensor> t = Tensor::create(DType::I32, {3, 5});
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(reinterpret_cast<uintptr_t>(t->data()) % Tensor::kAlignment, 0u);
  EXPECT_EQ(t->buffer()->type, halide_type_of<int32_t>());
  for (int64_t i = 0; i < t->numElements(); ++i)
    EXPECT_EQ(t->data<int32_t>()[i], 0);
}

TEST(Tensor, ScalarAndEmptyTensors) {
  Expected<Tensor> scalar = Tensor::create(DType::F32, {});
  ASSERT_TRUE(scalar.ok());
  EXPECT_EQ(scalar->numElements(), 1);
  EXPECT_EQ(scalar->buffer()->dimensions, 0);
  EXPECT_EQ(scalar->describe(), "f32[]");

  Expected<Tensor> empty = Tensor::create(DType::F32, {4, 0});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->numElements(), 0);
  EXPECT_NE(empty->buffer()->host, nullptr); // Halide reads a null host as "no allocation"
  EXPECT_EQ(empty->buffer()->dim[1].stride, 0);
}

TEST(Tensor, InvalidShapesAreErrors) {
  Expected<Tensor> negative = Tensor::create(DType::F32, {2, -1});
  ASSERT_FALSE(negative.ok());
  EXPECT_EQ(negative.message(),
            "shape [2, -1] is invalid: a dimension is negative or there are too many elements");

  Expected<Tensor> wide = Tensor::create(DType::F32, {int64_t(1) << 31});
  ASSERT_FALSE(wide.ok());
  EXPECT_EQ(wide.message(),
            "shape [2147483648] is too large: Halide buffers hold at most 2^31 - 1 elements per "
            "dimension and stride");

  EXPECT_FALSE(Tensor::create(DType::F32, {int64_t(1) << 40, int64_t(1) << 40}).ok());
}

TEST(Tensor, MoveKeepsTheHalideViewPointingAtTheData) {
  Tensor a = makeTensor<float>({2, 2}, {1, 2, 3, 4});
  const void *data = a.data();
  Tensor b = std::move(a);
  EXPECT_EQ(b.data(), data);
  EXPECT_EQ(b.buffer()->host, static_cast<const uint8_t *>(data));
  EXPECT_EQ(b.buffer()->dim[0].extent, 2);
  EXPECT_EQ(a.buffer()->host, nullptr);
  EXPECT_EQ(a.numElements(), 0);

  Tensor c;
  c = std::move(b);
  EXPECT_EQ(c.buffer()->host, static_cast<const uint8_t *>(data));
  EXPECT_EQ(c.describe(), "f32[2, 2]");
}

TEST(Tensor, CloneCopiesTheData) {
  Tensor a = makeTensor<int32_t>({3}, {7, 8, 9});
  Expected<Tensor> b = a.clone();
  ASSERT_TRUE(b.ok());
  EXPECT_NE(b->data(), a.data());
  EXPECT_EQ(attn::test::valuesOf<int32_t>(*b), (std::vector<int32_t>{7, 8, 9}));
  EXPECT_EQ(b->dtype(), DType::I32);
}

TEST(Tensor, Formatting) {
  EXPECT_EQ(formatShape({2, 7, 32}), "[2, 7, 32]");
  EXPECT_EQ(formatShape({}), "[]");
  EXPECT_STREQ(dtypeName(DType::I32), "i32");
  EXPECT_EQ(countElements({3, 4}), 12);
  EXPECT_EQ(countElements({}), 1);
  EXPECT_EQ(countElements({-2}), -1);
  EXPECT_EQ(countElements({int64_t(1) << 62, 4}), -1);
}

TEST(StoredType, OneRowPerTypeWithEachFormatsSpelling) {
  const StoredType *f64 = findStoredType(FileFormat::Npy, "<f8");
  ASSERT_NE(f64, nullptr);
  EXPECT_EQ(findStoredType(FileFormat::SafeTensors, "F64"), f64);
  EXPECT_EQ(f64->dtype, DType::F32);
  EXPECT_EQ(f64->itemSize, 8u);
  EXPECT_EQ(f64->conversion, Conversion::F64ToF32);
  // Each format reads only its own spellings, and only the types it holds weights or data in.
  EXPECT_EQ(findStoredType(FileFormat::Npy, "F32"), nullptr);
  EXPECT_EQ(findStoredType(FileFormat::SafeTensors, "<f4"), nullptr);
  EXPECT_EQ(findStoredType(FileFormat::SafeTensors, "BOOL"), nullptr);
  EXPECT_EQ(findStoredType(FileFormat::Npy, ""), nullptr);
  // Tensors are written as the type that holds them without conversion.
  EXPECT_STREQ(storedTypeOf(DType::F32).npy, "<f4");
  EXPECT_STREQ(storedTypeOf(DType::I32).safetensors, "I32");
  EXPECT_FALSE(storedTypeOf(DType::I32).conversion);
}

} // namespace
