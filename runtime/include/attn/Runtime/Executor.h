// Runs a compiled model: checks the inputs and weights a user supplied against the model's table, binds the
// symbolic dimensions (batch size, sequence length) from the inputs, sizes and allocates every intermediate,
// and calls the Halide kernels in order. All checks happen before the first kernel runs, so a mistake in
// the inputs is reported in the user's terms ("input 'mask' has shape [2, 9], but the model expects
// [B, S] ...") rather than as a bounds error from deep inside a kernel.
//
// The Halide runtime functions called here (halide_set_error_handler, halide_set_num_threads,
// halide_set_custom_do_par_for, halide_copy_to_host, halide_device_free, and the command line's
// halide_set_gpu_device) are not defined by this library: a compiled model gets them from the Halide runtime
// object attnc links into it.
#ifndef ATTN_RUNTIME_EXECUTOR_H
#define ATTN_RUNTIME_EXECUTOR_H

#include "attn/Runtime/Communicator.h"
#include "attn/Runtime/Error.h"
#include "attn/Runtime/ModelSpec.h"
#include "attn/Runtime/Tensor.h"

#include <functional>
#include <initializer_list>
#include <map>
#include <string>
#include <vector>

namespace attn::rt {

/// Where runs' time goes, summed over the runs that fill it: each kernel by name (a decoder loop's kernels
/// once per step), and each decoder loop as a whole (its kernels included).
struct ProfileEntry {
  double seconds = 0;
  int64_t calls = 0;
  double flops = 0; // floating-point operations of the kernel's calls; 0 where the model table has none
};
struct Profile {
  std::map<std::string, ProfileEntry> kernels, decoders;
  int threads = 0; // the worker threads of the runs
};

/// The input of a gradient program with dropout that the runtime makes from RunOptions::dropout (i32 [6]:
/// the seed's low and high words, the step, the row offset, 1 when dropout is on); users never give it.
constexpr const char *kDropoutSeedInput = "attn.dropout_seed";

struct RunOptions {
  std::string weightsFile = "the weight file"; // how error messages name where the weights came from
  int numThreads = 0; // Halide worker threads; 0 keeps Halide's default (HL_NUM_THREADS, else one per core)
  Profile *profile = nullptr; // if set, every kernel call and decoder loop adds its time here
  // A data-parallel run: the processes that attn.all_sum kernels sum over (none: this one alone), and this
  // process's part of the global loss, which weighs its share of sums of gradients (docs/distributed.md).
  // The sums that outputReady starts are finished before runModel returns.
  Communicator *communicator = nullptr;
  double lossShare = 1;
  // Dropout in a gradient program (which then reads the input kDropoutSeedInput, made here): off unless
  // `on`; its random stream is keyed by `seed` and `step`, and this process's rows start at `rowOffset`
  // of the whole batch, so that every process draws what one process draws for the whole batch.
  struct Dropout {
    bool on = false;
    uint64_t seed = 0;
    int64_t step = 0;
    int64_t rowOffset = 0;
  } dropout;
  // Called with each output as soon as the step that computes it is done (the tensor stays where it is
  // and becomes the output); an error it returns ends the run.
  std::function<Status(const std::string &name, const Tensor &tensor)> outputReady;
  // For programs whose kernels run on a GPU (no effect on CPU programs): the weights' device copies stay
  // after the run, for the next one, instead of being freed (the caller frees them: releaseDeviceCopies);
  // and outputs named "grad.*" stay on the device, device-dirty, for kernels that read them there.
  bool weightsStayOnDevice = false;
  bool gradientsStayOnDevice = false;
  // For timing GPU programs as frameworks time GPU work (bench, profile): the inputs' device copies stay
  // like the weights' (the caller frees them), and every output stays on the device, device-dirty, the run
  // ending once it is complete there (no copy back).
  bool inputsStayOnDevice = false;
  bool outputsStayOnDevice = false;
};

/// The size a dimension symbol takes in one run, and the input that bound it.
struct SymbolBinding {
  int64_t size;
  std::string input;
};
using SymbolBindings = std::map<std::string, SymbolBinding>;

/// Checks that the table attnc emitted is self-consistent (indices in range, dimension sources earlier,
/// every kernel operand computed before use), so nothing below can index out of bounds. Errors start with
/// "model table: " and point at a compiler bug, not at the user's input.
Status checkModelSpec(const attn_model_spec &spec);

/// The indices of the values with `role`, in table order.
std::vector<int32_t> valuesWithRole(const attn_model_spec &spec, attn_role role);

/// The shape of `value` as the model declares it, with symbols for dynamic dimensions: "[B, S, 32]". The
/// dynamic dimensions of computed values are traced back to the input symbol they copy. Requires a table
/// that passed checkModelSpec.
std::string symbolicShape(const attn_model_spec &spec, int32_t value);

/// Whether each value is read by some kernel or decoder of the program (an input it does not read, such as
/// the targets of a loss that only the gradient program computes, may be left out).
std::vector<bool> valuesRead(const attn_model_spec &spec);

/// Checks `inputs` against the model's inputs (names, dtypes, ranks, static sizes) and binds each symbol to
/// the size it has in the first input, in table order, that uses it; every later use must agree.
Expected<SymbolBindings> checkInputs(const attn_model_spec &spec, const TensorMap &inputs);

/// The parameters a weights file of the model holds: the program's own, then those of its gradient program
/// that it lacks (parameters only the loss reads).
std::vector<const attn_value *> weightFileParameters(const attn_model_spec &spec);

/// Checks that `weights` holds the program's parameters, with their dtypes and shapes, and nothing but a
/// weights file of the model holds (weightFileParameters): a file's header, or the tensors a run reads.
Status checkWeights(const attn_model_spec &spec, const TensorInfoMap &weights,
                    const std::string &weightsFile);
Status checkWeights(const attn_model_spec &spec, const TensorMap &weights, const std::string &weightsFile);

/// Copies `buffer` back (`what` names it in an error) if a GPU kernel left it newer on the device, so that
/// its host data can be read; a no-op without a device copy (every buffer of a CPU program).
Status copyToHost(halide_buffer_t *buffer, const std::string &what);
/// Whether the program's kernels were compiled for a GPU (CUDA or OpenCL).
bool runsOnGpu(const attn_model_spec &spec);

/// Waits until the device has finished every kernel writing `buffer`; a no-op without a device copy.
Status deviceSync(halide_buffer_t *buffer, const std::string &what);
/// copyToHost, then frees the device copy: the host data is again the only one.
Status releaseDeviceCopy(halide_buffer_t *buffer, const std::string &what);

/// copyToHost and releaseDeviceCopy for every tensor of a map.
Status copyToHost(TensorMap &tensors);
Status releaseDeviceCopies(TensorMap &tensors);

/// Releases the device copies of the tensor maps it names (releaseDeviceCopies) when it goes out of scope,
/// however the scope ends: for tensors kept on a GPU across runs.
class DeviceCopiesReleaser {
public:
  explicit DeviceCopiesReleaser(std::initializer_list<TensorMap *> maps) : maps_(maps) {}
  DeviceCopiesReleaser(const DeviceCopiesReleaser &) = delete;
  DeviceCopiesReleaser &operator=(const DeviceCopiesReleaser &) = delete;
  ~DeviceCopiesReleaser() {
    for (TensorMap *map : maps_)
      (void)releaseDeviceCopies(*map);
  }

private:
  std::vector<TensorMap *> maps_;
};

/// Checks everything above, runs every kernel and returns the outputs by name. `weights` and `inputs` are
/// only read, but Halide takes their buffers as mutable (a GPU kernel records device copies in them).
/// Device copies of the inputs and weights are freed before it returns, and outputs come back on the host,
/// unless RunOptions says otherwise (weightsStayOnDevice, inputsStayOnDevice, gradientsStayOnDevice,
/// outputsStayOnDevice).
/// Installs process-wide Halide handlers for the duration of the call: do not run two models at once.
Expected<TensorMap> runModel(const attn_model_spec &spec, TensorMap &weights, TensorMap &inputs,
                             const RunOptions &options = {});

} // namespace attn::rt

#endif // ATTN_RUNTIME_EXECUTOR_H
