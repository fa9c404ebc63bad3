// Private to the runtime: the state of one model run — every value's shape and buffer — shared by the
// executor, which runs the model's top-level kernels, and the decoder loop, which runs step kernels.
#ifndef ATTN_RUNTIME_EXECUTION_H
#define ATTN_RUNTIME_EXECUTION_H

#include "attn/Runtime/Executor.h"
#include "attn/Runtime/ThreadPool.h"

#include <chrono>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace attn::rt {

/// Halide's process-wide settings for one run (error handler, thread count, the runtime's thread pool for
/// parallel loops), restored when it ends.
class HalideSession {
public:
  explicit HalideSession(int numThreads);
  ~HalideSession();
  HalideSession(const HalideSession &) = delete;
  HalideSession &operator=(const HalideSession &) = delete;

  /// What Halide reported since the last call, or "".
  std::string takeError();

  /// The threads parallel loops run on: the run's setting, else HL_NUM_THREADS, else one per core.
  int threads() const { return threads_; }

private:
  halide_error_handler_t previousHandler_;
  int previousThreads_ = 0;
  int threads_;
  halide_do_par_for_t previousParFor_;
  int previousPoolThreads_;
};

/// Adds the time from its construction to its destruction, and one call, to `entry`: how a profiled run
/// times a kernel or a decoder loop. Without an entry (a run not profiled) it reads no clock.
class ProfileTimer {
public:
  explicit ProfileTimer(ProfileEntry *entry) : entry_(entry) {
    if (entry_)
      begin_ = std::chrono::steady_clock::now();
  }
  ~ProfileTimer() {
    if (!entry_)
      return;
    entry_->seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - begin_).count();
    ++entry_->calls;
  }
  ProfileTimer(const ProfileTimer &) = delete;
  ProfileTimer &operator=(const ProfileTimer &) = delete;

private:
  ProfileEntry *entry_;
  std::chrono::steady_clock::time_point begin_;
};

class Execution {
public:
  Execution(const attn_model_spec &spec, HalideSession &session)
      : spec(spec), session(session), shapes(spec.num_values), buffers(spec.num_values, nullptr),
        temps(spec.num_values) {}
  ~Execution();

  /// Sets the shape of a computed value from its dimension sources, which are sized already.
  void computeShape(int32_t value);

  /// Gives `value` a fresh tensor of `shape`, zero-filled unless a kernel is about to write it whole.
  Status allocate(int32_t value, Shape shape, bool zeroed = true);

  /// Runs one kernel; with `allocateResults`, its results get fresh tensors first.
  Status call(const attn_kernel &kernel, bool allocateResults);
  /// Runs a sum across processes (a kernel entry without a pipeline) into its allocated result.
  Status allSum(const attn_kernel &kernel);

  /// The floating-point operations of a call of `kernel` on the current shapes; 0 where they are not known.
  double flops(const attn_kernel &kernel) const;

  /// Drops a computed value's tensor (and any device copy).
  void release(int32_t value);

  /// Makes the host memory of `value` current: copies it back if a GPU kernel wrote it last. Anything that
  /// reads a value on the host calls this first; anything that writes it there marks it host-dirty.
  Status toHost(int32_t value);

  /// For a kernel that failed with Halide error `rc`: what to do when a GPU program finds no GPU, or "".
  std::string deviceHint(int rc) const;

  const attn_model_spec &spec;
  HalideSession &session;
  Profile *profile = nullptr; // RunOptions::profile
  Communicator *communicator = nullptr; // RunOptions::communicator
  double lossShare = 1;                 // RunOptions::lossShare
  std::vector<Shape> shapes;
  std::vector<halide_buffer_t *> buffers; // what kernels read: a value's own tensor, or one it aliases
  std::vector<Tensor> temps;              // the tensors of computed values

private:
  std::vector<void *> argv; // a kernel call's arguments, reused from call to call
};

/// Runs decoder `d` to its end: sizes and fills its STEP values, loops over its step kernels, and leaves its
/// results in `ex`. Step-internal values are released before it returns.
Status runDecoder(Execution &ex, const attn_decoder &d);

} // namespace attn::rt

#endif // ATTN_RUNTIME_EXECUTION_H
