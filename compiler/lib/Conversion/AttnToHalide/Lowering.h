// Private to the Halide lowering: the Funcs an attn.kernel becomes, with handles on the stages that its
// schedule needs. Funcs.cpp (with one Lower*.cpp per op family) builds the algorithm, Schedules.cpp
// schedules it; neither knows the other's details beyond these records.
#ifndef ATTN_CONVERSION_ATTNTOHALIDE_LOWERING_H
#define ATTN_CONVERSION_ATTNTOHALIDE_LOWERING_H

#include "attn/Dialect/AttnOps.h"

#include "Halide.h"

#include <map>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace mlir::attn::halide {

/// A tensor inside a pipeline: a Func indexed innermost-first (Halide's order) and its extents listed
/// outermost-first (the tensor's order).
struct HTensor {
  Halide::Func func;
  std::vector<Halide::Expr> shape;

  size_t rank() const { return shape.size(); }
  /// The element at row-major indices.
  Halide::Expr at(std::vector<Halide::Expr> index) const;
  /// The extent of tensor dimension `i` (outermost first).
  Halide::Expr extent(size_t i) const { return shape[i]; }
};

/// y = x·Wᵀ + b: `weightT` is W transposed so the output dimension is innermost, `acc` the reduction.
struct MatmulStages;
struct DenseStages {
  Halide::Func weightT, acc, result;
  Halide::Var n;
  std::vector<Halide::Var> rows; // innermost first
  int64_t width = 0;             // as MatmulStages::width
  int tiledRow = 1;              // as MatmulStages::tiledRow

  /// The layer's sum as a matrix product that writes `result` (the layer's, or what it feeds elementwise).
  MatmulStages product(Halide::Func result) const;
};

/// A 2-D convolution: the input with its zero border (`padded`), the reduction `acc` over input channels
/// and the kernel window (starting from the bias), and `result` copying it so that the accumulation can
/// be scheduled per output tile.
struct Conv2DStages {
  Halide::Func padded, acc, result;
  Halide::Var ow, oh, co, b;
  int outChannels;
  /// Along a row: the output's width, and the columns of `padded` that output column ow's window reads,
  /// ow · columnStride + columnMin onwards, columnSpan of them (a schedule that computes whole vectors past
  /// the row's end has `padded` computed as far as they read: zeros, not whatever memory held).
  int outWidth = 0, columnStride = 1, columnMin = 0, columnSpan = 1;
};

/// softmax and log_softmax: the row maximum, exponentials and their sum.
struct SoftmaxStages {
  Halide::Func max, exp, sum, result;
  Halide::Var x;
  std::vector<Halide::Var> rows;
};

struct LayerNormStages {
  Halide::Func mean, variance, result;
  Halide::Var x;
  std::vector<Halide::Var> rows;
};

/// `keysT` holds each head's keys transposed (key index innermost) so that scores for all keys of one
/// query are a contiguous, vectorizable sweep; additive scores leave it undefined.
/// `lanes`, when defined: a score nothing normalizes (a gradient) sums `l`-wide partial dot products over
/// the head's features, so keys and queries are read as vectors; `dot` adds up the lanes.
struct ScoreStages {
  Halide::Func dot, result, keysT;
  Halide::Var j, i, h, b;
  Halide::Func lanes = Halide::Func();
  Halide::Var l = Halide::Var("l");
};

/// `escapes`: something besides the weighted sum reads the probabilities (the kernel yields them).
struct MaskedSoftmaxStages {
  Halide::Func max, exp, sum, result;
  Halide::Var j, i, h, b;
  bool escapes = false;
};

/// `acc` is the reduction; `result` copies it, so that the accumulation can be scheduled per output row.
struct WeightedSumStages {
  Halide::Func acc, result;
  Halide::Var c, i, b;
  int64_t headSize;
};

/// Scaled dot-product attention (score → masked_softmax → weighted_sum, nothing else reading the scores or
/// probabilities) streamed over blocks of `keyBlock` keys with an online softmax, for tiles of `queryTile`
/// queries: per block, the raw scores (`dot` accumulated, `scores` stored), their maximum (per vector lane,
/// then per row), the exponentials `probs` relative to it and their sum, and the probability-weighted
/// values (`pvAcc` accumulated, `pv` stored). `state` (context accumulator, running maximum, running sum;
/// indexed feature, query in tile, tile, head, batch) folds in the blocks one after another, rescaling what
/// it holds when the maximum grows, so that no row of scores longer than a block is ever stored. A CPU
/// copies each head's keys transposed a block at a time (`keysT`, indexed key in block, feature, block,
/// head, batch) and its values (`valuesT`) once. GPU targets stage the tile's queries (`queriesT`), a
/// block's keys (`keysT`) and values (`valuesT`, with a column of ones after the last feature, so that
/// `pvAcc` ends with the probabilities' sum); `scores` turns into the probabilities in place, with one
/// more row per query for their maximum; `state` holds (accumulator, running maximum) per slot, slot dv
/// accumulating the sum; there are no lane, probability, block or `pv` stages.
struct StreamingAttentionStages {
  Halide::Func keysT, queriesT, valuesT, dot, scores, laneMax, blockMax, probs, laneSum, blockSum, pvAcc, pv,
      state, result;
  Halide::Var j, jj, lane, i, kb, h, b, d, ii, it, c;
  int keyBlock, queryTile, keyHeadSize, valueHeadSize;
  /// GPU targets: the slots of a value row staged and of a query's state, the features and the column of
  /// ones rounded up to whole register tiles of 4, so that no thread tests whether its slots exist.
  int gpuSlots = 0;
};

/// A recurrence as GPU targets lower it (recurrenceState, lowerRecurrenceGrad): its update runs over
/// (q, k, unit, step), writing slot q·H + unit, so that the slots of one unit (its gates, then its states)
/// belong to one thread. `stepIn` is what each step's first slot of every unit starts from (the gates'
/// input projection and bias; the hidden state's incoming gradient), staged once per step; `weightT`, when
/// defined, the recurrent weight with the gates innermost, read by the threads side by side.
struct UnitRecurrenceStages {
  Halide::Func state, stepIn, weightT;
  Halide::Var batch;
};

/// A matrix product result(n, rows...) = acc(n, rows...), acc summing over k the products of a row operand
/// and an operand with n innermost; scheduled in register tiles (Schedules.cpp, scheduleMatmulTiles).
/// `width`: the static extent of n (0 if it is not static); a product one column wide (a dense layer of one
/// unit, a matrix times a vector) is a row of dot products, scheduled as such. A weight gradient also
/// records `height`, the static extent of its first row dimension (0 if it is not static), and
/// `summedRows`, the estimated extent of each dimension its sum runs over, innermost first. `tiledRow`: the
/// dimension of the result (in Halide's order, n being 0) that register tiles span several rows of, the
/// innermost row dimension not of static extent 1 (a decoder step's projection of its single query,
/// [B, 1, H], tiles the batch).
struct MatmulStages {
  Halide::Func acc, result;
  int64_t width = 0, height = 0;
  std::vector<int64_t> summedRows;
  int tiledRow = 1;

  /// The dimension tiledRow of `args` (the result's or the accumulator's variables).
  size_t tiled(const std::vector<Halide::Var> &args) const;
  /// The row dimensions of `args` other than the tiled one, innermost first.
  std::vector<Halide::Var> untiledRows(const std::vector<Halide::Var> &args) const;
};

/// What a default schedule takes from the machine it is for: the f32 lanes of a vector and the vector
/// registers from the Halide target; the L2 cache size (per core) and the number of cores read from this
/// machine at compile time when the target is of its architecture, else a typical 1 MiB and 0 (not
/// known); whether kernels run on a GPU (the target has CUDA or OpenCL).
struct MachineParams {
  int vectorWidth = 4;
  int vectorRegisters = 16;
  int64_t l2Bytes = 1 << 20;
  int cores = 0;
  bool gpu = false;
  static MachineParams of(const Halide::Target &target);
};

/// The tunable parameters of a kernel's hand schedule (tile shapes, block sizes, whether it runs in
/// parallel). A schedule asks for each by name with its default for the machine and the values worth
/// trying; `overrides` (from the tuning database, or a candidate of `attnc tune`) replace the defaults.
class ScheduleKnobs {
public:
  struct Knob {
    std::string name;
    int value, fallback;
    std::vector<int> candidates;
  };
  explicit ScheduleKnobs(std::map<std::string, int> overrides = {}) : overrides(std::move(overrides)) {}

  /// The value of knob `name`: its override if one is given and is among `candidates`, else `fallback`.
  int get(const std::string &name, int fallback, std::vector<int> candidates);
  /// The knobs asked for so far, in order of first use.
  const std::vector<Knob> &used() const { return knobs; }
  /// The value of each knob asked for, by name.
  std::map<std::string, int> values() const;
  /// Whether any override was given (the kernel is tuned).
  bool overridden() const { return !overrides.empty(); }

private:
  std::map<std::string, int> overrides;
  std::vector<Knob> knobs;
};

/// Knob values as `name=value ...`, in name order.
std::string describeKnobs(const std::map<std::string, int> &values);

/// Everything one kernel lowers to.
struct LoweredKernel {
  std::string entry;
  std::vector<std::string> pattern; // names of the computing ops in the kernel body, in order; reindexing
                                   // ops are left out, as they are inlined into their readers
  std::vector<bool> patternElementwise; // per `pattern` entry: whether that op has the Elementwise trait
  std::vector<Halide::ImageParam> inputs;
  std::vector<Halide::Func> outputs;
  /// The result of the last computing op: what a pattern schedule tiles. Reindexing ops after it (a
  /// squeeze, a transpose) only copy it; then it is stored and the outputs read it.
  Halide::Func anchor;
  std::vector<Halide::Func> elementwise;
  /// Reductions of ops without a pattern schedule, and values several ops of the kernel read: computed once
  /// each, flat-scheduled.
  std::vector<Halide::Func> reductions;
  /// Those of `reductions` along the innermost dimension of what they read, one value per row (a sum over
  /// the last axis, a broadcast's gradient over a row).
  std::vector<Halide::Func> rowSums;
  /// A global pool's two stages, both among `reductions`: `columns`(px, c, b) reduces each column of a
  /// channel's positions over the rows, `channels`(c, b) the `width` columns of each channel.
  struct ChannelPool {
    Halide::Func columns, channels;
    int width;
  };
  std::vector<ChannelPool> channelPools;
  /// A convolution's weight gradient: the input with its zero border (`padded`); among `reductions`,
  /// `rows`(u, kx, ky, cig, co) summing over the images and output rows at each position u of a row, and
  /// `dw`(kx, ky, cig, co) adding the `width` positions of the rows.
  struct ConvWeightGrad {
    Halide::Func padded, rows, dw;
    int width, kernelWidth;
  };
  std::vector<ConvWeightGrad> convWeightGrads;
  /// Random words stored f(counter, word) (CPU targets: dropout's masks), four words per counter from one
  /// evaluation of the generator: the counters a vector at a time, the words unrolled.
  struct RandomBits {
    Halide::Func f;
    Halide::Var counter, word;
  };
  std::vector<RandomBits> randomBits;
  /// Recurrences over time (one update whose every dimension is a reduction variable but the batch; on
  /// CPU targets these are laneRecurrences instead) and scatters (an update indexed by data, like an
  /// embedding's gradient): computed once, parallel over the one pure dimension of the update.
  std::vector<std::pair<Halide::Func, Halide::Var>> recurrences;
  /// Recurrences stored f(lane, slot, step, vec) (CPU targets; AlgorithmBuilder.h, RecurrenceRows): the
  /// vectors of rows in parallel, a vector of `lanes` rows at a time and, where `blockVector`, the slots
  /// of a block (the update's first reduction variable) with them, as one wider vector.
  struct LaneRecurrence {
    Halide::Func f;
    Halide::Var lane, vec;
    int lanes = 0;
    bool blockVector = false;
  };
  std::vector<LaneRecurrence> laneRecurrences;
  /// Row-major copies f(slot, step, row) of such a recurrence, read `lanes` rows at a time: a transposition
  /// of a vector of slots by `lanes` rows in registers.
  struct LaneCopy {
    Halide::Func f;
    Halide::Var slot, row;
    int lanes = 0;
  };
  std::vector<LaneCopy> laneCopies;
  /// The recurrences above that run a thread per unit on GPU targets.
  std::vector<UnitRecurrenceStages> unitRecurrences;
  std::vector<DenseStages> dense;
  std::vector<Conv2DStages> conv2d;
  std::vector<MatmulStages> matmuls;
  /// Weight matrices transposed (wT(n, k) = w(k, n)) so that products can vectorize along n.
  std::vector<Halide::Func> transposes;
  std::vector<SoftmaxStages> softmax;
  std::vector<LayerNormStages> layerNorm;
  std::vector<ScoreStages> score;
  std::vector<MaskedSoftmaxStages> maskedSoftmax;
  std::vector<WeightedSumStages> weightedSum;
  /// The gradients of one additive score that read its tanh(q + k), stored once: `tanh`(u, i, j, b) and
  /// the Funcs computed per batch row b, their last dimension (the queries' and keys' gradients, and v's
  /// partial sums per row).
  struct AdditiveScoreGrad {
    Halide::Func tanh;
    std::vector<Halide::Func> perRow;
  };
  std::vector<AdditiveScoreGrad> additiveScoreGrads;
  std::vector<StreamingAttentionStages> streaming;
  MachineParams machine;
  ScheduleKnobs knobs;
  /// Funcs a schedule factored a reduction of (rfactor), which schedule files cannot spell out.
  std::vector<std::string> factored;
};

/// A schedule file (see ScheduleText.cpp): per kernel, an autoscheduler or scheduling statements, each
/// `FUNC[.update(N)]` followed by calls; positions are 1-based lines and columns of the file.
struct ScheduleCall {
  std::string name;
  std::vector<std::string> args;
  unsigned line = 0, column = 0;
};
struct ScheduleStatement {
  std::string func;
  int stage = 0; // 0: the pure definition; n: update n - 1
  std::vector<ScheduleCall> calls;
  unsigned line = 0, column = 0;
};
struct KernelSchedule {
  std::string kernel, autoscheduler;
  std::vector<ScheduleStatement> statements;
  unsigned line = 0, column = 0;
};
struct ScheduleError {
  std::string message;
  unsigned line = 0, column = 0;
};

std::variant<std::vector<KernelSchedule>, ScheduleError> parseSchedules(llvm::StringRef text);

/// The statements that give the kernel's Funcs their current schedule. Throws std::runtime_error naming
/// what a schedule file cannot express (e.g. prefetches, storage folding).
std::string printSchedule(const LoweredKernel &kernel);

/// Applies statements to a kernel whose Funcs have no schedule yet.
std::optional<ScheduleError> applySchedule(LoweredKernel &kernel, const KernelSchedule &schedule);

/// Every Func of the kernel's pipeline, by name.
std::map<std::string, Halide::Internal::Function> pipelineFunctions(const LoweredKernel &kernel);

/// Calls `fn` on the schedule of every stage (pure definition and updates) of every Func of the kernel.
void forEachStageSchedule(const LoweredKernel &kernel,
                          llvm::function_ref<void(Halide::Internal::StageSchedule &)> fn);

/// Builds the algorithm of `kernel` for `machine`, with `knobs` for the block sizes of its algorithm and
/// then of its default schedule; emits an error on it and fails for ops it cannot lower.
FailureOr<LoweredKernel> buildAlgorithm(KernelOp kernel, const MachineParams &machine,
                                        ScheduleKnobs knobs = ScheduleKnobs());

/// Whether the kernel's computing ops are `head` followed by elementwise ops only.
bool patternIs(const LoweredKernel &kernel, std::initializer_list<const char *> head);

/// Whether `f` is one of the kernel's outputs.
bool isOutput(const LoweredKernel &kernel, const Halide::Func &f);

/// Applies the default schedule for the kernel's pattern, as its machine parameters and knobs say: the
/// GPU one (GpuSchedules.cpp) where the machine is a GPU.
void applyDefaultSchedule(LoweredKernel &kernel);

/// The default GPU schedule of a kernel: blocks and threads per pattern, a launch per stored stage else.
void applyGpuSchedule(LoweredKernel &kernel);

/// A pipeline that is not lowered from attn ops, ready to compile: its outputs, arguments and entry point.
struct OptimizerKernel {
  std::vector<Halide::Func> outputs;
  std::vector<Halide::Argument> arguments;
  std::string entry;
};

/// The optimizer kernels of training programs, scheduled for `target` (LowerOptimizers.cpp):
/// `attn_update_adam`, `attn_update_sgd`, `attn_sum_squares` and `attn_update_average`, in that order.
std::vector<OptimizerKernel> buildOptimizerKernels(const Halide::Target &target);

} // namespace mlir::attn::halide

#endif // ATTN_CONVERSION_ATTNTOHALIDE_LOWERING_H
