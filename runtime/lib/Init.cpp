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

void initUniform(Tensor &tensor, const std::string &name, uint64_t seed) {
  if (tensor.dtype() != DType::F32)
    return;
  float bound = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(fanIn(tensor.shape()), 1)));
  uint64_t state = seed ^ hashName(name);
  float *data = tensor.data<float>();
  for (int64_t e = 0; e < tensor.numElements(); ++e) {
    float unit = static_cast<float>(splitmix64(state) >> 40) * 0x1p-24f; // [0, 1), 24 bits
    data[e] = (2 * unit - 1) * bound;
  }
}

Expected<TensorMap> initParameters(const attn_model_spec &spec, uint64_t seed) {
  TensorMap weights;
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_PARAM)) {
    const attn_value &v = spec.values[i];
    Shape shape;
    for (int32_t d = 0; d < v.rank; ++d)
      shape.push_back(v.dims[d].size);
    Expected<Tensor> tensor = Tensor::create(static_cast<DType>(v.dtype), shape);
    if (!tensor)
      return makeError("parameter '", v.name, "': ", tensor.message());
    initUniform(*tensor, v.name, seed);
    weights.emplace(v.name, std::move(*tensor));
  }
  return weights;
}

} // namespace attn::rt
