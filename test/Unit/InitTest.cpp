// The initial weights of `init`: splitmix64 and FNV-1a against their published test vectors, fan_in by
// shape, and the first values drawn for a seed, so a change to any of them (which would change every
// weight file `init` writes) fails here.
#include "attn/Runtime/Init.h"

#include "TestUtil.h"
#include "ToyModel.h"

#include <gtest/gtest.h>

#include <cmath>

using namespace attn::rt;
using attn::test::valuesOf;

namespace {

TEST(Init, SplitMix64ReferenceOutputs) {
  uint64_t state = 0;
  EXPECT_EQ(splitmix64(state), 0xE220A8397B1DCDAFull);
  EXPECT_EQ(splitmix64(state), 0x6E789E6AA1B965F4ull);
  EXPECT_EQ(splitmix64(state), 0x06C45D188009454Full);
  EXPECT_EQ(state, 3 * 0x9E3779B97F4A7C15ull);
}

TEST(Init, HashNameIsFnv1a) {
  EXPECT_EQ(hashName(""), 0xCBF29CE484222325ull);
  EXPECT_EQ(hashName("a"), 0xAF63DC4C8601EC8Cull);
  EXPECT_EQ(hashName("foobar"), 0x85944171F73967E8ull);
}

TEST(Init, FanInIsEveryDimensionButTheFirst) {
  EXPECT_EQ(fanIn({}), 1);
  EXPECT_EQ(fanIn({7}), 7);
  EXPECT_EQ(fanIn({32, 16}), 16);
  EXPECT_EQ(fanIn({8, 3, 5, 5}), 75);
}

TEST(Init, FirstValuesForASeed) {
  Expected<Tensor> bias = Tensor::create(DType::F32, {4});
  ASSERT_TRUE(bias.ok()) << bias.message();
  initParameter(*bias, "bias", 7, ATTN_INIT_UNIFORM_FAN_IN, 0);
  EXPECT_EQ(valuesOf<float>(*bias),
            (std::vector<float>{-0x1.07ae0cp-2f, -0x1.31c1a4p-2f, -0x1.7fa224p-2f, 0x1.0913d8p-2f}));

  Expected<Tensor> w = Tensor::create(DType::F32, {2, 6});
  ASSERT_TRUE(w.ok()) << w.message();
  initParameter(*w, "w", 0, ATTN_INIT_UNIFORM_FAN_IN, 0);
  std::vector<float> values = valuesOf<float>(*w);
  EXPECT_EQ(values[0], 0x1.4bf96p-2f);
  EXPECT_EQ(values[1], 0x1.d2e546p-3f);
  EXPECT_EQ(values[2], -0x1.9ea8d4p-2f);
  for (float v : values)
    EXPECT_LT(std::fabs(v), 1 / std::sqrt(6.0f)); // the bound of fan_in 6
}

TEST(Init, DeclaredInitializers) {
  Expected<Tensor> w = Tensor::create(DType::F32, {40, 60});
  ASSERT_TRUE(w.ok()) << w.message();
  initParameter(*w, "w", 3, ATTN_INIT_GLOROT_UNIFORM, 0);
  float glorot = std::sqrt(6.0f / 100), largest = 0;
  for (float v : valuesOf<float>(*w))
    largest = std::max(largest, std::fabs(v));
  EXPECT_LE(largest, glorot);
  EXPECT_GT(largest, 0.95f * glorot); // 2400 draws reach near the bound

  initParameter(*w, "w", 3, ATTN_INIT_NORMAL, 0.5);
  double sum = 0, squares = 0;
  for (float v : valuesOf<float>(*w)) {
    sum += v;
    squares += double(v) * v;
  }
  double mean = sum / 2400, std = std::sqrt(squares / 2400 - mean * mean);
  EXPECT_NEAR(mean, 0, 0.03); // 3 standard errors of 0.5/sqrt(2400)
  EXPECT_NEAR(std, 0.5, 0.03);

  initParameter(*w, "w", 3, ATTN_INIT_ONES, 0);
  for (float v : valuesOf<float>(*w))
    ASSERT_EQ(v, 1.0f);
  initParameter(*w, "w", 3, ATTN_INIT_ZEROS, 0);
  for (float v : valuesOf<float>(*w))
    ASSERT_EQ(v, 0.0f);
}

TEST(Init, IntegersStayZero) {
  Expected<Tensor> counts = Tensor::create(DType::I32, {3});
  ASSERT_TRUE(counts.ok()) << counts.message();
  initParameter(*counts, "counts", 1, ATTN_INIT_NORMAL, 1);
  EXPECT_EQ(valuesOf<int32_t>(*counts), (std::vector<int32_t>{0, 0, 0}));
}

TEST(Init, EveryParameterOfTheModel) {
  Expected<TensorMap> weights = initParameters(attn::test::toy::kModel, 7);
  ASSERT_TRUE(weights.ok()) << weights.message();
  ASSERT_EQ(weights->size(), 1u);
  EXPECT_EQ(valuesOf<float>(weights->at("bias")),
            (std::vector<float>{-0x1.07ae0cp-2f, -0x1.31c1a4p-2f, -0x1.7fa224p-2f, 0x1.0913d8p-2f}));
}

} // namespace
