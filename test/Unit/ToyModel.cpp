// The toy model of ToyModel.h: its kernels and its table, written as attnc writes generated tables.
#include "ToyModel.h"

namespace attn::test::toy {

int addBias(void **args) {
  auto *x = static_cast<halide_buffer_t *>(args[0]);
  auto *bias = static_cast<halide_buffer_t *>(args[1]);
  auto *out = static_cast<halide_buffer_t *>(args[2]);
  if (out->dimensions != 3 || extent(out, 0) != extent(x, 0) || extent(out, 1) != extent(x, 1) ||
      extent(out, 2) != extent(bias, 0))
    return -1;
  for (int b = 0; b < extent(x, 0); ++b)
    for (int s = 0; s < extent(x, 1); ++s)
      for (int c = 0; c < extent(x, 2); ++c)
        at<float>(out, {b, s, c}) = at<float>(x, {b, s, c}) + at<float>(bias, {c});
  return 0;
}

int applyMask(void **args) {
  auto *x = static_cast<halide_buffer_t *>(args[0]);
  auto *mask = static_cast<halide_buffer_t *>(args[1]);
  auto *out = static_cast<halide_buffer_t *>(args[2]);
  for (int b = 0; b < extent(x, 0); ++b)
    for (int s = 0; s < extent(x, 1); ++s)
      for (int c = 0; c < extent(x, 2); ++c)
        at<float>(out, {b, s, c}) = at<float>(x, {b, s, c}) * at<int32_t>(mask, {b, s});
  return 0;
}

int sumLast(void **args) {
  auto *x = static_cast<halide_buffer_t *>(args[0]);
  auto *out = static_cast<halide_buffer_t *>(args[1]);
  if (out->dimensions != 2 || extent(out, 0) != extent(x, 0) || extent(out, 1) != extent(x, 1))
    return -1;
  for (int b = 0; b < extent(x, 0); ++b)
    for (int s = 0; s < extent(x, 1); ++s) {
      float sum = 0;
      for (int c = 0; c < extent(x, 2); ++c)
        sum += at<float>(x, {b, s, c});
      at<float>(out, {b, s}) = sum;
    }
  return 0;
}

namespace {
const attn_dim xDims[] = {{-1, "B", -1, 0}, {-1, "S", -1, 0}, {4, nullptr, -1, 0}};
const attn_dim biasedDims[] = {{-1, nullptr, 0, 0}, {-1, nullptr, 0, 1}, {4, nullptr, -1, 0}};
const attn_dim maskedDims[] = {{-1, nullptr, 3, 0}, {-1, nullptr, 3, 1}, {4, nullptr, -1, 0}};
const attn_dim totalDims[] = {{-1, nullptr, 4, 0}, {-1, nullptr, 1, 1}};
const int32_t addBiasArgs[] = {0, 2, 3};
const int32_t applyMaskArgs[] = {3, 1, 4};
const int32_t sumArgs[] = {4, 5};
const attn_output outputs[] = {{"y", 4}, {"total", 5}};
} // namespace

const attn_dim kMaskDims[] = {{-1, "B", -1, 0}, {-1, "S", -1, 0}};
const attn_dim kBiasDims[] = {{4, nullptr, -1, 0}};
const attn_value kValues[6] = {
    {"x", ATTN_ROLE_INPUT, ATTN_F32, 3, xDims},
    {"mask", ATTN_ROLE_INPUT, ATTN_I32, 2, kMaskDims},
    {"bias", ATTN_ROLE_PARAM, ATTN_F32, 1, kBiasDims},
    {"add_bias.0", ATTN_ROLE_TEMP, ATTN_F32, 3, biasedDims},
    {"apply_mask.0", ATTN_ROLE_TEMP, ATTN_F32, 3, maskedDims},
    {"sum.0", ATTN_ROLE_TEMP, ATTN_F32, 2, totalDims},
};
const attn_kernel kKernels[3] = {
    {"add_bias", addBias, 3, 1, addBiasArgs},
    {"apply_mask", applyMask, 3, 1, applyMaskArgs},
    {"sum", sumLast, 2, 1, sumArgs},
};
const int32_t kSteps[] = {0, 1, 2};
const attn_model_spec kModel = {"toy", "toy.attn", "host", 6,      kValues, 3,      kKernels,
                                0,     nullptr,    3,      kSteps, 2,       outputs};

} // namespace attn::test::toy
