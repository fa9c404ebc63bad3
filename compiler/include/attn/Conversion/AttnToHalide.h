// Lowering of attn.kernel regions to Halide pipelines, compiled ahead of time for a target. Halide's headers
// stay out of this interface so that only the lowering's own files pay for them.
#ifndef ATTN_CONVERSION_ATTNTOHALIDE_H
#define ATTN_CONVERSION_ATTNTOHALIDE_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Support/LLVM.h"
#include "llvm/Support/raw_ostream.h"

#include <map>
#include <string>
#include <vector>

namespace mlir::attn {

/// Halide target strings: `host` (this machine, every feature it has) or any string Halide's
/// Target parser accepts, e.g. `x86-64-linux-avx2-fma`. Returns the canonical string, or an error message.
FailureOr<std::string> resolveHalideTarget(StringRef spec, std::string &error);

/// How kernels are scheduled: the hand-written schedule of each kernel's pattern (the default), a schedule
/// file's, or a Halide autoscheduler's.
struct ScheduleOptions {
  /// A schedule file (`attnc --schedule`, in the format `--emit=schedule` writes): the kernels it names get
  /// its schedule.
  std::string file;
  /// An autoscheduler for the other kernels (`--autoschedule`: adams2019, li2018 or mullapudi2016); empty
  /// for the hand-written schedules.
  std::string autoscheduler;
  /// The sizes an autoscheduler plans for, by dimension name (`--estimate B=64`); unnamed dimensions and
  /// names not given are taken as kDefaultEstimate (1 in latency mode).
  std::map<std::string, int64_t> estimates;
  static constexpr int64_t kDefaultEstimate = 64;
  /// Latency mode (`--mode=latency`): schedules for one example at a time. Kernels estimated at fewer than
  /// kSerialWorkPerLane multiply-adds per f32 lane of the target's vectors run on one thread (waking the
  /// others would cost more than it saves: a few microseconds, in which one core does about that many
  /// vector multiply-adds); the others spread their work over every thread as in throughput mode.
  bool latency = false;
  static constexpr int64_t kSerialWorkPerLane = 8192;
  /// A tuning database (`attnc --tuning-db`, written by `attnc tune`): kernels with the hand-written
  /// schedule take the knobs it records for their structure, target, this CPU and the nearest sizes.
  /// Empty: none.
  std::string tuningDb;
};

/// Where `attnc tune` files its results and `attnc` looks for them unless told otherwise:
/// $XDG_CACHE_HOME/attnc/tuning.jsonl, else ~/.cache/attnc/tuning.jsonl.
std::string defaultTuningDb();

/// What `attnc tune` does: search each kernel's hand-schedule knobs by timing candidates on this machine
/// at the estimated sizes, within `budgetSeconds` in all, and file the winners in
/// `ScheduleOptions::tuningDb`.
struct TuneOptions {
  double budgetSeconds = 300;
  std::string model;        // the model file, recorded with each result
  bool forwardOnly = false; // only the kernels of inference, not those of the gradient program
};

/// Whether programs for `target` run on this machine (`attnc tune` times them here): its architecture, OS,
/// and no x86 vector extension this CPU lacks.
bool runsOnHost(StringRef target);

/// Tunes the hand-scheduled kernels of `module` (which must run on this machine and use neither a
/// schedule file nor an autoscheduler), printing progress to `log`. Candidates whose results
/// differ from the default schedule's by more than 1e-4 (relative to the largest magnitude) are rejected.
LogicalResult tuneKernels(ModuleOp module, StringRef target, const ScheduleOptions &schedule,
                          const TuneOptions &tune, llvm::raw_ostream &log);

/// Prints, per kernel of `module`, the hand and tuned times and knobs the tuning database holds.
LogicalResult reportTuning(ModuleOp module, StringRef target, const ScheduleOptions &schedule,
                           llvm::raw_ostream &os);

/// The LLVM triple of a Halide target's architecture and OS (`aarch64-linux-gnu` for `arm-64-linux-...`), or
/// an empty string for one attnc cannot build a model table for.
std::string targetTriple(StringRef target);

/// Whether `target` (a canonical target string) runs kernels on the CPU. Then the step kernels of teacher
/// and reverse decoders, whose rows are independent, get serial schedules, and the runtime splits those
/// decoders' rows among threads instead (ModelSpecInfo::splitRows).
bool splitsDecoderRows(StringRef target);

struct CompiledKernel {
  std::string name;   // the kernel's name in the IR
  std::string entry;  // the C symbol of its pipeline
  std::string object; // the object file holding it
};

/// Compiles every attn.kernel in `module` to an object file in `dir`, and the Halide runtime (once) to
/// `dir/halide_runtime.o`. Errors are emitted on the offending kernel.
LogicalResult compileKernels(ModuleOp module, StringRef target, const ScheduleOptions &schedule,
                             StringRef dir, std::vector<CompiledKernel> &kernels, std::string &runtimeObject);

/// Compiles the optimizer kernels a training program calls, into `dir`: `attn_update_sgd` (momentum,
/// weight decay), `attn_update_adam` (Adam, or AdamW with decoupled weight decay), `attn_sum_squares`
/// (for global-norm clipping) and `attn_update_average` (a parameter's moving average), each over one
/// flattened parameter.
LogicalResult compileOptimizerKernels(ModuleOp module, StringRef target, StringRef dir,
                                      std::vector<CompiledKernel> &kernels);

/// Prints the lowered Halide statement of every kernel in `module`, in order.
LogicalResult printKernelsAsHalide(ModuleOp module, StringRef target, const ScheduleOptions &schedule,
                                   llvm::raw_ostream &os);

/// Prints the schedule in force for every kernel as a schedule file that `ScheduleOptions::file` reads.
LogicalResult printSchedules(ModuleOp module, StringRef target, const ScheduleOptions &schedule,
                             llvm::raw_ostream &os);

} // namespace mlir::attn

#endif // ATTN_CONVERSION_ATTNTOHALIDE_H
