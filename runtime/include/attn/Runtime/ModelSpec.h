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
// STEP values belong to a decoder and are sized by the runtime when the decoder starts (the previous
// token, the carried state, row views of loop-invariant values) or ends (its results).
enum attn_role { ATTN_ROLE_INPUT = 0, ATTN_ROLE_PARAM = 1, ATTN_ROLE_TEMP = 2, ATTN_ROLE_STEP = 3 };
// How `init`, and training without a weight file, draw a parameter (a `param` statement's `init`): see
// attn/Runtime/Init.h.
enum attn_init {
  ATTN_INIT_UNIFORM_FAN_IN = 0,
  ATTN_INIT_GLOROT_UNIFORM = 1,
  ATTN_INIT_ZEROS = 2,
  ATTN_INIT_ONES = 3,
  ATTN_INIT_NORMAL = 4, // standard deviation init_scale
  ATTN_INIT_UNIFORM = 5 // in [-init_scale, init_scale]
};
enum attn_decode_mode {
  ATTN_DECODE_TEACHER = 0,
  ATTN_DECODE_GREEDY = 1,
  ATTN_DECODE_BEAM = 2,
  ATTN_DECODE_REVERSE = 3
};

// One dimension of a value. Static dimensions have size >= 0. A dynamic dimension (size == -1) of an input
// names its symbol ("B", "S"); a dynamic dimension of a computed value is copied at run time from dimension
// `src_dim` of value `src_value`, which is always an earlier value. A dynamic dimension of a STEP value is
// set by the runtime (src_value = -1) and names what it is ("B", "rows", "steps").
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
  int64_t vocab_size; // an i32 input of token ids: every element must be in [0, vocab_size); 0 = unchecked.
                      // An output of searched token ids: its ids lie in [0, vocab_size).
  // The vocabulary of a token input or output (the model's `vocab` clause): token n for id n.
  int32_t num_vocab_tokens;
  const char *const *vocab_tokens;
  // An i32 input of class labels (cross_entropy targets): every element must be in [0, num_classes), or
  // be ignore_id where has_ignore_id; 0 = unchecked.
  int64_t num_classes;
  int32_t has_ignore_id;
  int64_t ignore_id;
  // An i32 input of sequence lengths: every element must be in [1, max_length], or in [1, the size of the
  // dimension symbol max_length_dim] where that is not null; max_length 0 and no symbol = unchecked.
  int64_t max_length;
  const char *max_length_dim;
  // An i32 input of target tokens that a decoder is teacher-forced with: the stop token that ends each
  // target sequence (--tsv appends it to each row), or -1.
  int32_t teacher_stop;
  // A parameter's initializer (enum attn_init) and its scale, where it takes one.
  int32_t init;
  double init_scale;
} attn_value;

// Part of a kernel's floating-point operations per call: `coefficient` times the extents of `num_factors`
// dimensions of the kernel's arguments, `factors` holding (argument position, dimension) pairs.
typedef struct attn_flop_term {
  double coefficient;
  int32_t num_factors;
  const int32_t *factors;
} attn_flop_term;

// What a kernel entry is: a Halide pipeline, or a sum across the processes of a data-parallel run
// (attn.all_sum; the identity in one process), plain or of gradients (`cotangent`: see docs/distributed.md).
enum attn_collective { ATTN_PIPELINE = 0, ATTN_ALL_SUM = 1, ATTN_ALL_SUM_COTANGENT = 2 };

// A Halide pipeline: `entry` takes `num_args` halide_buffer_t pointers, the kernel's operands followed by its
// results; `args` holds their value indices in that order. The last `num_results` are written by the kernel.
// Its floating-point operations per call are the sum of its `num_flop_terms` terms (-1: not known).
// A sum across processes has no entry, one operand and one result of its shape.
typedef struct attn_kernel {
  const char *name;
  int (*entry)(void **args);
  int32_t num_args;
  int32_t num_results;
  const int32_t *args;
  int32_t num_flop_terms;
  const attn_flop_term *flop_terms;
  int32_t collective; // enum attn_collective
} attn_kernel;

// A decoder loop (attn.decode). Each step the runtime writes the previous token of each of the N rows into
// `token` (i32 [N]), runs kernels [first_kernel, first_kernel + num_kernels), and reads the emitted values;
// the carried state moves from `state_out` to `state_in`. N is the batch B, or B·width in beam search, where
// every batch row is repeated `width` times in `state_in` and in the `views`, the step's copies of the
// loop-invariant values `captures` whose first dimension is the batch.
// ATTN_DECODE_REVERSE (a teacher-forced loop's gradient) runs the teacher's steps from the last to the first;
// before step t the runtime copies slice t of each `sequences` value [B, T, ...] into its `sequence_views`
// value [B, ...]; its carried state keeps the shapes of `state_init` (gradient accumulators), and the results
// are the state after step 0, then one [B, T, ...] per emitted value (step t's in slice t).
// With `split_rows` (teacher and reverse loops compiled for the CPU, whose step kernels are serial), the
// rows are independent: the runtime may run contiguous ranges of them on separate threads, each range
// with its own step values. `state_rows[i]` says whether state i is indexed by row (split with the rows)
// or is an accumulator over the whole batch (each range starts from zeros, the first from the initial
// value, and the results are their sum).
typedef struct attn_decoder {
  const char *name;
  int32_t mode; // enum attn_decode_mode
  int32_t start, stop, pad, max_len, width;
  float length_penalty;
  int32_t first_kernel, num_kernels;
  int32_t token;
  int32_t position; // i32 [N], every row t at step t (a decoder with key/value caches), else -1
  int32_t teacher;  // i32 [B, T] teacher tokens in ATTN_DECODE_TEACHER mode, else -1
  int32_t num_states;
  const int32_t *state_init, *state_in, *state_out;
  int32_t num_captures;
  const int32_t *captures, *views;
  int32_t num_emits;
  const int32_t *emits;
  // Teacher mode: one [B, T, ...] result per emitted value. Search: tokens [B, L], then one [B, L, ...]
  // per emitted value after the first (the scores).
  int32_t num_results;
  const int32_t *results;
  int32_t num_sequences;
  const int32_t *sequences, *sequence_views;
  int32_t split_rows;
  const int32_t *state_rows;
} attn_decoder;

enum attn_optimizer { ATTN_SGD = 0, ATTN_ADAM = 1, ATTN_ADAMW = 2 };
// The learning-rate schedule (the `schedule = ...` setting of `train { }`), not a kernel schedule.
enum attn_lr_schedule { ATTN_LR_CONSTANT = 0, ATTN_LR_STEP = 1, ATTN_LR_COSINE = 2 };

// How a model trains (its `train { ... }`): the optimizer and its hyperparameters, global-norm clipping
// (0 = none), and the optimizer kernels, each over one flattened parameter (`_argv` entries):
//   adam: param, grad, m, v, &lr, &beta1, &beta2, &eps, &weight_decay, &bias1, &bias2, &scale, &decoupled,
//         param_out, m_out, v_out   (bias1 = 1 − beta1^t, bias2 = 1 − beta2^t, scale multiplies grad)
//   sgd:  param, grad, buf, &lr, &momentum, &weight_decay, &scale, param_out, buf_out
//   sum_squares: grad, out (a scalar Σ grad²)
//   average: param, average, &decay, average_out   (average + (1 − decay)·(param − average))
// The learning rate at step t (from 1) is lr·t/warmup during the warm-up; then, k steps after it (from 0),
// lr (constant), lr·gamma^⌊k/every⌋ (step, as torch's StepLR) or
// min_lr + (lr − min_lr)·(1 + cos(π·k/total))/2 until k = total, then min_lr (cosine, as CosineAnnealingLR).
// With ema > 0, training also keeps an exponential moving average of each parameter, updated after step t
// with the decay min(ema, (1 + t)/(10 + t)).
typedef struct attn_training {
  int32_t optimizer; // enum attn_optimizer
  float lr, beta1, beta2, eps, weight_decay, momentum, clip_norm, ema;
  int32_t lr_schedule; // enum attn_lr_schedule
  int64_t warmup, every, total;
  float gamma, min_lr;
  int (*adam)(void **args);
  int (*sgd)(void **args);
  int (*sum_squares)(void **args);
  int (*average)(void **args);
  // The input of the gradient program holding the loss's targets when the loss is a cross_entropy with
  // an ignored id (its mean is over the targets not ignored), else -1 (a mean over the batch's rows).
  int32_t loss_targets;
} attn_training;

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
  int32_t num_decoders;
  const attn_decoder *decoders;
  // What runs, in order: kernel k as k >= 0, decoder d as -1 - d. Step kernels run only inside their decoder.
  int32_t num_steps;
  const int32_t *steps;
  int32_t num_outputs;
  const attn_output *outputs;
  // The gradient program of a model that trains (attnc's `<model>_grad`): the same inputs and parameters
  // (and those only the loss reads), and as outputs the loss and `grad.<parameter>` for each parameter the
  // loss depends on; else null.
  const struct attn_model_spec *gradient;
  const attn_training *training; // with `gradient`, how `./model train` updates the parameters
} attn_model_spec;

// The command line of a generated program (its commands are in runtime/lib/cli/); returns the process exit
// code.
int attn_main(const attn_model_spec *model, int argc, char **argv);
// The same as one rank of a data-parallel run under MPI (`mpirun -np N ./model train ...`): the main of
// programs built with attnc --distributed=mpi, defined by the runtime's MPI library (attn_runtime_mpi).
int attn_main_mpi(const attn_model_spec *model, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif // ATTN_RUNTIME_MODELSPEC_H
