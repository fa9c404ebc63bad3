// A hand-made model table standing in for one attnc emits, with plain C++ kernels over halide_buffer_t in
// place of Halide pipelines (they have the same `_argv` calling convention). Shared by the executor and
// command-line tests.
//
//   input x: f32[B, S, 4], input mask: i32[B, S], parameter bias: f32[4]
//   y = (x + bias) * mask            f32[B, S, 4]
//   total = sum of y over its last dimension    f32[B, S]
//
// The dimensions of `total` are copied from two different values, one of them an input.
#ifndef ATTN_TEST_UNIT_TOYMODEL_H
#define ATTN_TEST_UNIT_TOYMODEL_H

#include "attn/Runtime/ModelSpec.h"

#include "HalideRuntime.h"

#include <initializer_list>

namespace attn::test::toy {

/// The element at row-major `index` of a buffer whose dimension 0 is the innermost.
template <typename T> T &at(halide_buffer_t *b, std::initializer_list<int> index) {
  int64_t offset = 0;
  int d = b->dimensions;
  for (int i : index)
    offset += int64_t(i) * b->dim[--d].stride;
  return reinterpret_cast<T *>(b->host)[offset];
}

/// Extent of row-major dimension `d`.
inline int extent(const halide_buffer_t *b, int d) { return b->dim[b->dimensions - 1 - d].extent; }

/// out[b, s, c] = x[b, s, c] + bias[c]; like a Halide pipeline, it fails if its output has the wrong size.
int addBias(void **args);
/// out[b, s, c] = x[b, s, c] * mask[b, s].
int applyMask(void **args);
/// out[b, s] = sum over c of x[b, s, c].
int sumLast(void **args);

// Value indices: 0 x, 1 mask, 2 bias, 3 add_bias.0, 4 apply_mask.0 (output y), 5 sum.0 (output total).
extern const attn_dim kMaskDims[];
extern const attn_dim kBiasDims[];
extern const attn_value kValues[6];
extern const attn_kernel kKernels[3];
extern const attn_model_spec kModel;

} // namespace attn::test::toy

#endif // ATTN_TEST_UNIT_TOYMODEL_H
