// The table attnc emits for every compiled model and the runtime executes: the model's values (inputs,
// parameters, intermediates), its kernels in call order, and its named outputs. It is plain C so that attnc
// can emit it as a small C file; the kernels are Halide AOT pipelines called through their `_argv` entry.
#ifndef ATTN_RUNTIME_MODELSPEC_H
#define ATTN_RUNTIME_MODELSPEC_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum attn_dtype { ATTN_F32 = 0, ATTN_I32 = 1 };
enum attn_role { ATTN_ROLE_INPUT = 0, ATTN_ROLE_PARAM = 1, ATTN_ROLE_TEMP = 2 };

// One dimension of a value. Static dimensions have size >= 0. A dynamic dimension (size == -1) of an input
// names its symbol ("B", "S"); a dynamic dimension of a computed value is copied at run time from dimension
// `src_dim` of value `src_value`, which is always an earlier value.
typedef struct attn_dim {
  int64_t size;
  const char *symbol;
  int32_t src_value;
  int32_t src_dim;
} attn_dim;

// Dimensions are listed outermost first (row-major, as in .npy and safetensors).
typedef struct attn_value {
  const char *name; // input name, parameter key in the weight file, or an internal name
  int32_t role;     // enum attn_role
  int32_t dtype;    // enum attn_dtype
  int32_t rank;
  const attn_dim *dims;
  int64_t vocab_size; // an i32 input of token ids: every element must be in [0, vocab_size); 0 = unchecked
} attn_value;

// A Halide pipeline: `entry` takes `num_args` halide_buffer_t pointers, the kernel's operands followed by its
// results; `args` holds their value indices in that order. The last `num_results` are written by the kernel.
typedef struct attn_kernel {
  const char *name;
  int (*entry)(void **args);
  int32_t num_args;
  int32_t num_results;
  const int32_t *args;
} attn_kernel;

typedef struct attn_output {
  const char *name;
  int32_t value;
} attn_output;

typedef struct attn_model_spec {
  const char *name;
  const char *source_file;
  const char *target; // the Halide target string the kernels were compiled for
  int32_t num_values;
  const attn_value *values;
  int32_t num_kernels;
  const attn_kernel *kernels;
  int32_t num_outputs;
  const attn_output *outputs;
} attn_model_spec;

// The command line of a generated program (`info`, `infer`, `init`); returns the process exit code.
int attn_main(const attn_model_spec *model, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif // ATTN_RUNTIME_MODELSPEC_H
