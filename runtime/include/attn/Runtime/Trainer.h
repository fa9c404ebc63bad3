// Training: runs a model's gradient program on batches and updates its parameters with the optimizer
// kernels attnc compiled into it (attn_training), with global-norm clipping. The optimizer state lives beside
// the weights in checkpoints, so training resumes exactly.
#ifndef ATTN_RUNTIME_TRAINER_H
#define ATTN_RUNTIME_TRAINER_H

#include "attn/Runtime/Dataset.h"
#include "attn/Runtime/Executor.h"
#include "attn/Runtime/SafeTensors.h"

#include <functional>
#include <optional>
#include <string_view>

namespace attn::rt {

/// Runs `spec` with the parameters it reads taken from `weights` (a gradient program may read fewer than
/// the model has); the tensors are moved out and back, not copied.
Expected<TensorMap> runWithParameters(const attn_model_spec &spec, TensorMap &weights, TensorMap &inputs,
                                      const RunOptions &options);

/// The optimizer's state: `optimizer.m.<parameter>` (Adam's first moment, SGD's momentum buffer),
/// `optimizer.v.<parameter>` (Adam's second moment), `optimizer.average.<parameter>` (the parameter's
/// moving average, for a model that trains with `ema`), and the number of steps taken.
struct OptimizerState {
  TensorMap moments;
  int64_t step = 0;
};

/// The prefix of a parameter's moving average in the optimizer state.
inline constexpr std::string_view kAveragePrefix = "optimizer.average.";

/// Exchanges every parameter of `weights` that has a moving average in `state` with its average; a second
/// call undoes the first. Inference, evaluation and validation use the averages where a checkpoint has them.
void swapAverages(TensorMap &weights, OptimizerState &state);

/// The averages swapped in for as long as it lives (swapAverages at its start and its end).
class AveragesSwappedIn {
public:
  AveragesSwappedIn(TensorMap &weights, OptimizerState &state) : weights_(weights), state_(state) {
    swapAverages(weights_, state_);
  }
  AveragesSwappedIn(const AveragesSwappedIn &) = delete;
  AveragesSwappedIn &operator=(const AveragesSwappedIn &) = delete;
  ~AveragesSwappedIn() { swapAverages(weights_, state_); }

private:
  TensorMap &weights_;
  OptimizerState &state_;
};

/// The largest step a checkpoint may record: 2^53, so that steps stay exact in floating point and adding any
/// number of steps `train` accepts cannot overflow.
constexpr int64_t kMaxCheckpointStep = int64_t(1) << 53;

/// Checks a checkpoint's optimizer tensors, `optimizer.m.<parameter>`, `optimizer.v.<parameter>` and
/// `optimizer.average.<parameter>`: each must belong to a parameter of the file and have its shape, as f32.
/// Errors name the file and the tensor.
Status checkOptimizerState(const TensorInfoMap &file, const std::string &path);

/// Checks a weight file or checkpoint, as its header describes it, against the model: its optimizer state
/// as above, and exactly the model's parameters with their dtypes and shapes.
Status checkCheckpoint(const attn_model_spec &spec, const TensorInfoMap &file, const std::string &path);

/// Moves a checkpoint's optimizer state out of `file` (read from `path`) into `state`: the tensors named
/// `optimizer.m.<parameter>`, `optimizer.v.<parameter>` and `optimizer.average.<parameter>`, and the step in
/// the metadata. Each of those tensors must belong to a parameter of the file and have its shape, as f32;
/// the step must be a whole number in [0, kMaxCheckpointStep]. A file without a step is at step 0. Errors
/// name the file and the tensor or value.
Status takeOptimizerState(SafeTensorsFile &file, const std::string &path, OptimizerState &state);

/// The default size of the buckets in which data-parallel training sums gradients.
constexpr int64_t kBucketBytes = 256 << 10;

struct TrainOptions {
  int64_t steps = 100;
  int64_t batch = 32;  // examples per step; the whole data set if it has fewer
  uint64_t seed = 0;   // the order of examples: shuffled per epoch from this seed
  RunOptions run;
  const Dataset *valid = nullptr; // validation examples, evaluated every `validEvery` steps
  int64_t validEvery = 100;
  int64_t patience = 0; // stop after this many validations without a new best (0: never)
  // Data-parallel training (run.communicator with several processes): gradients are summed in buckets
  // of about this many bytes, and the processes compare checksums of their parameters every checkEvery
  // steps (and at the first and last).
  int64_t bucketBytes = kBucketBytes;
  int64_t checkEvery = 100;
};

/// The batches of one epoch, each a list of example indices.
std::vector<std::vector<int64_t>> epochBatches(const Dataset &data, int64_t size, uint64_t seed,
                                               int64_t epoch);
int64_t batchesPerEpoch(const Dataset &data, int64_t batch);

/// The learning rate of step `step` (from 1) under the model's learning-rate schedule.
double learningRate(const attn_training &training, int64_t step);

/// What one step reports; `validLoss` is set on the steps that validate.
struct StepReport {
  int64_t step;
  double loss, gradNorm, learningRate;
  int64_t examples;
  int64_t units; // what the data counts for speed: its target tokens, or the examples
  std::optional<double> validLoss;
  bool best = false;     // the validation loss is the lowest so far
  bool stopping = false; // early stopping ends training after this step
  double waitSeconds = 0; // data-parallel training: the time this process waited in sums in the step
};

/// The mean loss of the gradient program over `data`, in chunks of `batch` examples (each chunk's mean
/// weighted by its examples); with several processes (run.communicator), each chunk split among them.
Expected<double> evaluate(const attn_model_spec &model, TensorMap &weights, const Dataset &data,
                          int64_t batch, const RunOptions &run);

/// Trains `model` (which must have a gradient program and training settings) for `options.steps` steps from
/// `state`, on batches of `data` (see epochBatches). Calls `report` after each step; an error it returns
/// (a checkpoint that could not be written) ends training after that step, with `weights` and `state`
/// consistent.
Status train(const attn_model_spec &model, TensorMap &weights, const Dataset &data, OptimizerState &state,
             const TrainOptions &options, const std::function<Status(const StepReport &)> &report);

} // namespace attn::rt

#endif // ATTN_RUNTIME_TRAINER_H
