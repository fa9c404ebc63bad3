// Random initial parameters, as `init` writes them to try a model without trained weights. The numbers
// come from splitmix64 seeded per parameter with the seed xor the FNV-1a hash of the parameter's name, so
// the same seed gives the same weights on every machine and compiler, and adding a parameter does not
// change the others.
#ifndef ATTN_RUNTIME_INIT_H
#define ATTN_RUNTIME_INIT_H

#include "attn/Runtime/Error.h"
#include "attn/Runtime/ModelSpec.h"
#include "attn/Runtime/Tensor.h"

#include <cstdint>
#include <string>

namespace attn::rt {

/// The pseudo-random generator of `init`: splitmix64, chosen because it is tiny, fast and, unlike the
/// standard library's distributions, gives the same numbers with every compiler.
uint64_t splitmix64(uint64_t &state);

/// FNV-1a, to give each parameter a stream of its own, so adding a parameter does not change the others.
uint64_t hashName(const std::string &name);

/// The product of all dimensions but the first (the size of a one-dimensional shape, 1 for a scalar).
int64_t fanIn(const Shape &shape);

/// Fills an f32 `tensor` as initializer `init` (enum attn_init) with `scale` says: uniform in
/// ±1/sqrt(fan_in) (PyTorch's default for nn.Linear weights), uniform in ±sqrt(6 / (fan_in + fan_out))
/// (Glorot; fan_out is the first dimension times the receptive field, the dimensions after the second),
/// zeros, ones, normal with standard deviation `scale` (Box–Muller) or uniform in ±`scale`. The numbers
/// come from splitmix64 seeded with `seed` xor hashName(`name`). Leaves other dtypes as they are.
void initParameter(Tensor &tensor, const std::string &name, uint64_t seed, int32_t init, double scale);

/// Every parameter of `spec`, f32 ones drawn by initParameter with the parameter's initializer, i32 ones
/// zero.
Expected<TensorMap> initParameters(const attn_model_spec &spec, uint64_t seed);

} // namespace attn::rt

#endif // ATTN_RUNTIME_INIT_H
