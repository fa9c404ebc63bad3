// Private to the Halide lowering: what the autotuner (Tuner.cpp) shares with scheduling for compilation
// (AttnToHalide.cpp): the hand-scheduled lowering of a kernel with given knobs, the sizes kernels are
// planned for, and the tuning database (TuningDb.cpp) that carries tuned knobs from one to the other.
#ifndef ATTN_CONVERSION_ATTNTOHALIDE_TUNING_H
#define ATTN_CONVERSION_ATTNTOHALIDE_TUNING_H

#include "attn/Conversion/AttnToHalide.h"

#include "Lowering.h"

namespace mlir::attn::halide {

/// The size assumed for dimension `d` of `v`: its static size, else the --estimate for its name, else the
/// default of the mode.
int64_t estimatedExtent(Value v, int64_t d, const ScheduleOptions &options);

/// The extents assumed for `v`, innermost first (Halide's order).
Halide::Region estimatedRegion(Value v, const ScheduleOptions &options);

/// Builds `kernel` with its hand-written schedule for `target`, the knobs as `knobs` sets them; besides
/// the pattern's knobs, `parallel` (0 or 1) says whether its loops may run in parallel. Halide's errors
/// are thrown.
FailureOr<LoweredKernel> lowerByHand(KernelOp kernel, const Halide::Target &target,
                                     const MachineParams &machine, const ScheduleOptions &options,
                                     ScheduleKnobs knobs);

/// What a tuned schedule is filed under: a kernel of this structure, compiled for this target, measured on
/// this CPU, at about these sizes.
struct TuningKey {
  std::string fingerprint;    // a hash of the kernel's ops, types and attributes (not of its name)
  std::string target;         // the Halide target string
  std::string cpu;            // the CPU it was measured on (hostCpu())
  std::vector<int64_t> shape; // the estimated extent of each dynamic input dimension, rounded up to 2^n
};

TuningKey tuningKey(KernelOp kernel, const Halide::Target &target, const ScheduleOptions &options);

/// This machine's CPU: its model name, family and model numbers, and L2 cache size.
std::string hostCpu();

/// One tuned kernel: the knobs that won, and the times measured for the hand and tuned schedules.
struct TuningRecord {
  TuningKey key;
  std::string kernel, pattern, model; // where it was tuned, for reports
  std::map<std::string, int> knobs;
  double handSeconds = 0, tunedSeconds = 0;
};

/// A tuning database: a file of JSON lines, one record each. A later record for the same key replaces an
/// earlier one.
class TuningDb {
public:
  /// Reads `path`; a missing file is an empty database. Otherwise errors are emitted at the file's line.
  static FailureOr<TuningDb> load(MLIRContext *context, StringRef path);

  /// The record for `key`, or for the same kernel, target and CPU at the nearest sizes; null if none.
  const TuningRecord *find(const TuningKey &key) const;

  bool empty() const { return records.empty(); }

  /// Adds `record`, replacing one with the same key.
  void put(TuningRecord record);

  /// Writes the database to its file atomically (a temporary file renamed over it).
  LogicalResult save(std::string &error) const;

private:
  std::string path;
  std::vector<TuningRecord> records;
};

} // namespace mlir::attn::halide

#endif // ATTN_CONVERSION_ATTNTOHALIDE_TUNING_H
