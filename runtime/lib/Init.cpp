// The initial parameters of `init` (see Init.h).
#include "attn/Runtime/Init.h"

#include "attn/Runtime/Executor.h"

#include <algorithm>
#include <cmath>

namespace attn::rt {

uint64_t splitmix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t hashName(const std::string &name) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : name)
    h = (h ^ c) * 0x100000001B3ull;
  return h;
}

int64_t fanIn(const Shape &shape) {
  int64_t product = 1;
  for (size_t d = shape.size() > 1 ? 1 : 0; d < shape.size(); ++d)
    product *= shape[d];
  return product;
}

namespace {

/// A uniform number in [0, 1) with 24 random bits.
float unitUniform(uint64_t &state) { return static_cast<float>(splitmix64(state) >> 40) * 0x1p-24f; }

} // namespace

void initParameter(Tensor &tensor, const std::string &name, uint64_t seed, int32_t init, double scale) {
  if (tensor.dtype() != DType::F32)
    return;
  float *data = tensor.data<float>();
  int64_t count = tensor.numElements();
  if (init == ATTN_INIT_ZEROS || init == ATTN_INIT_ONES) {
    std::fill(data, data + count, init == ATTN_INIT_ONES ? 1.0f : 0.0f);
    return;
  }
  const Shape &shape = tensor.shape();
  float bound = static_cast<float>(scale);
  if (init == ATTN_INIT_UNIFORM_FAN_IN) {
    bound = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(fanIn(shape), 1)));
  } else if (init == ATTN_INIT_GLOROT_UNIFORM) {
    int64_t fanOut = shape.empty() ? 1 : shape.size() == 1 ? shape[0] : shape[0] * (fanIn(shape) / shape[1]);
    bound = std::sqrt(6.0f / static_cast<float>(std::max<int64_t>(fanIn(shape) + fanOut, 1)));
  }
  uint64_t state = seed ^ hashName(name);
  if (init != ATTN_INIT_NORMAL) {
    for (int64_t e = 0; e < count; ++e)
      data[e] = (2 * unitUniform(state) - 1) * bound;
    return;
  }
  // Box–Muller: two uniforms give two independent standard normals.
  for (int64_t e = 0; e < count; e += 2) {
    float u1 = 1.0f - unitUniform(state), u2 = unitUniform(state); // u1 in (0, 1]
    float radius = std::sqrt(-2.0f * std::log(u1)) * bound, angle = 6.2831853f * u2;
    data[e] = radius * std::cos(angle);
    if (e + 1 < count)
      data[e + 1] = radius * std::sin(angle);
  }
}

Expected<TensorMap> initParameters(const attn_model_spec &spec, uint64_t seed) {
  TensorMap weights;
  for (const attn_value *param : weightFileParameters(spec)) {
    const attn_value &v = *param;
    Shape shape;
    for (int32_t d = 0; d < v.rank; ++d)
      shape.push_back(v.dims[d].size);
    Expected<Tensor> tensor = Tensor::create(static_cast<DType>(v.dtype), shape);
    if (!tensor)
      return makeError("parameter '", v.name, "': ", tensor.message());
    initParameter(*tensor, v.name, seed, v.init, v.init_scale);
    weights.emplace(v.name, std::move(*tensor));
  }
  return weights;
}

} // namespace attn::rt
