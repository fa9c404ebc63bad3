// Private to the algorithm half of the Halide lowering: AlgorithmBuilder, which defines the Halide Funcs of
// an attn.kernel op by op, and the index helpers its op families share. Its core (the walk over the body,
// the dispatch by op, naming, shared stages) is in Funcs.cpp; each op family, forward ops beside their
// gradients, has one Lower*.cpp, as Halide's apps/hannk has one generator per op family.
#ifndef ATTN_CONVERSION_ATTNTOHALIDE_ALGORITHMBUILDER_H
#define ATTN_CONVERSION_ATTNTOHALIDE_ALGORITHMBUILDER_H

#include "Lowering.h"

#include "llvm/ADT/DenseMap.h"

#include <functional>
#include <optional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

namespace mlir::attn::halide {

using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

std::vector<Var> makeVars(size_t count, const std::string &prefix);

/// Index vector (Halide order) made of `first` followed by `rest`.
std::vector<Expr> prepend(Expr first, const std::vector<Var> &rest);
std::vector<Expr> prependExpr(Expr first, const std::vector<Expr> &rest);

int64_t staticDim(Value v, unsigned i);

/// tanh and the logistic sigmoid as a rational function, which Halide vectorizes.
Expr tanhOf(Expr x);
Expr sigmoidOf(Expr x);

/// An RDom over every element of `t` but its last `skipLast` dimensions, and its points.
std::pair<RDom, std::vector<Expr>> everyElement(const HTensor &t, const std::string &name,
                                                size_t skipLast = 0);

/// The update domain of a recurrence (see AlgorithmBuilder::slotDomain): `r` with the slot each point
/// updates. Its second variable runs over chunks of `width` consecutive values of the reduced index k, so
/// that one update adds `width` products to a slot's accumulator.
struct SlotDomain {
  RDom r;
  Expr slot;
  int width = 1;
  int chunks = 1;
  /// Slots per block (CPU); `aligned`: every region of slots (gates, states) starts at a multiple of it,
  /// so whatever depends on the region is the same for the whole block and the block can be one vector.
  int block = 1;
  bool aligned = false;
  /// The first k of the point's chunk.
  Expr firstK() const { return r.y * width; }
  /// Whether the point's chunk is the last one.
  Expr lastChunk() const { return r.y == chunks - 1; }
  /// Σ over the chunk's k of term(k).
  Expr sum(const std::function<Expr(Expr)> &term) const;
  /// A slot of the point's block (the first if aligned, else the slot itself), for the tests of the region.
  Expr regionSlot() const { return aligned ? r.z * block : slot; }
  /// slot + offset kept within [0, extent): aligned, the clamp is on the block, so the index stays the
  /// block's first plus its variable and a vector of the block reads consecutive slots.
  Expr offsetSlot(Expr offset, int extent) const;
};

/// How a recurrence Func stores its batch rows b. On a GPU, f(slot, step, b). On a CPU,
/// f(lane, slot, step, vec) with b = vec·lanes + lane: a vector of rows innermost and the slots next, so
/// that the rows of a block of slots are one dense vector (Schedules.cpp, scheduleLaneRecurrence). Rows past
/// the batch in the last vector repeat its last row.
struct RecurrenceRows {
  Var b, lane{"lane"}, vec{"vec"};
  int lanes = 0; // 0: f(slot, step, b)
  Expr batch;
  /// f's pure variables.
  std::vector<Var> args(Var slot, Var step) const;
  /// f at (slot, step) for the rows the definition computes.
  std::vector<Expr> at(Expr slot, Expr step) const;
  /// `e`, written with b, for the rows the definition computes.
  Expr here(Expr e) const;
  /// f at (slot, step) of batch row `row`, for another Func.
  Expr read(Func f, Expr slot, Expr step, Expr row) const;
};

class AlgorithmBuilder {
public:
  AlgorithmBuilder(KernelOp kernel, LoweredKernel &out) : kernel(kernel), out(out) {}

  LogicalResult build();

private:
  // Core (Funcs.cpp).
  FailureOr<HTensor> lower(Operation *op);
  std::string name(Operation *op, StringRef stage);
  Func weightTransposed(Operation *op, StringRef stage, const HTensor &w, bool given, Var o, Var i);
  Func product(Operation *op, StringRef stage, const std::vector<Var> &at, Expr init, Expr term,
               std::optional<Func> named = std::nullopt);
  Func reduction(Operation *op, StringRef stage);

  // Dense layers and elementwise maps (LowerDense.cpp).
  FailureOr<HTensor> lowerDense(DenseOp op);
  FailureOr<HTensor> lowerDenseGradWeight(DenseGradWeightOp op);
  FailureOr<HTensor> lowerSumLeading(SumLeadingOp op);
  FailureOr<HTensor> lowerUnary(Operation *op, Value input, llvm::function_ref<Expr(Expr)> fn);
  FailureOr<HTensor> lowerBroadcasting(Operation *op, StringRef stage,
                                       llvm::function_ref<Expr(ArrayRef<Expr>)> fn);
  FailureOr<HTensor> lowerBinary(Operation *op, llvm::function_ref<Expr(Expr, Expr)> fn);
  FailureOr<HTensor> lowerActivationGrad(ActivationGradOp op);
  FailureOr<HTensor> lowerMatmul(MatmulOp op);

  // Recurrences and cells (LowerRecurrence.cpp).
  template <typename OpT> // LSTMOp or GRUOp
  FailureOr<HTensor> lowerRecurrence(OpT op, bool isLSTM);
  Expr lengthOf(Value lengths, Expr steps, Expr b);
  RecurrenceRows recurrenceRows(Var b, Expr batch) const;
  /// Registers a Func stored as `rows` says for its schedule; `blockVector`: see LaneRecurrence.
  void addRecurrence(const RecurrenceRows &rows, Func f, bool blockVector);
  SlotDomain slotDomain(int slots, int hidden, int reduced, Expr first, Expr steps);
  Func recurrenceState(Operation *op, const HTensor &xp, const HTensor &w, const HTensor &bias, Expr length,
                       bool reverse, bool isLSTM, const RecurrenceRows &rows);
  FailureOr<HTensor> lowerRecurrenceGrad(RecurrenceGradOp op);
  FailureOr<HTensor> lowerRecurrenceWeightGrad(RecurrenceWeightGradOp op);
  Func gateProjection(Operation *op, StringRef stage, Value x, Value weight, Value bias, bool transposed);
  template <typename CellOpT> // LSTMCellOp or GRUCellOp
  std::pair<Func, Func> cellGates(CellOpT op);
  FailureOr<HTensor> lowerLSTMCell(LSTMCellOp op);
  FailureOr<HTensor> lowerGRUCell(GRUCellOp op);
  FailureOr<HTensor> lowerCellGrad(CellGradOp op);

  // Convolutional networks (LowerConv.cpp).
  FailureOr<HTensor> lowerConv2D(Conv2DOp op);
  FailureOr<HTensor> lowerConv2DGrad(Conv2DGradOp op);
  FailureOr<HTensor> lowerPool2D(Pool2DOp op);
  FailureOr<HTensor> lowerPoolGrad(PoolGradOp op);
  std::pair<Func, Func> channelStatistics(Operation *op, const HTensor &x, Value v);
  FailureOr<HTensor> lowerGlobalPool(GlobalPoolOp op);
  FailureOr<HTensor> lowerBatchNorm(BatchNormOp op);
  std::tuple<Func, Func, Func> batchStatistics(Operation *op, const HTensor &x, ValueRange stats);
  Expr localCount(const HTensor &x);
  FailureOr<HTensor> lowerBatchSums(BatchSumsOp op);
  FailureOr<HTensor> lowerDropout(DropoutOp op);
  FailureOr<HTensor> lowerRandomShift(RandomShiftOp op);
  // Positions and key/value caches (LowerSequence.cpp).
  FailureOr<HTensor> lowerPositions(PositionsOp op);
  FailureOr<HTensor> lowerSinusoid(SinusoidOp op);
  FailureOr<HTensor> lowerShiftRight(ShiftRightOp op);
  FailureOr<HTensor> lowerCacheWrite(CacheWriteOp op);
  Func channelSum(Operation *op, const HTensor &x, StringRef stage,
                  const std::function<Expr(std::vector<Expr>)> &f);
  FailureOr<HTensor> lowerBatchNormTrain(BatchNormTrainOp op);
  FailureOr<HTensor> lowerBatchNormGrad(BatchNormGradOp op);
  FailureOr<HTensor> lowerFlatten(FlattenOp op);

  // Attention (LowerAttention.cpp).
  FailureOr<HTensor> lowerScore(ScoreOp op);
  FailureOr<HTensor> lowerAdditiveScore(AdditiveScoreOp op);
  FailureOr<HTensor> lowerAdditiveScoreGrad(AdditiveScoreGradOp op);
  Expr keepsKey(MaskedSoftmaxOp op, Expr j, Expr i, Expr b);
  FailureOr<HTensor> lowerMaskedSoftmax(MaskedSoftmaxOp op);
  FailureOr<HTensor> lowerProbsGrad(ProbsGradOp op);
  FailureOr<HTensor> lowerWeightedSum(WeightedSumOp op);
  FailureOr<HTensor> lowerStreamingAttention(WeightedSumOp op, ScoreOp score, MaskedSoftmaxOp softmax);

  // Reductions and losses (LowerReductions.cpp).
  FailureOr<HTensor> lowerSoftmax(Value input, Operation *op, bool log);
  std::pair<Func, Func> softmaxStatistics(Operation *op, const HTensor &x, const std::vector<Var> &rows,
                                          Expr width);
  FailureOr<HTensor> lowerSoftmaxGrad(SoftmaxGradOp op);
  FailureOr<HTensor> lowerLayerNorm(LayerNormOp op);
  FailureOr<HTensor> lowerLayerNormGrad(LayerNormGradOp op);
  FailureOr<HTensor> lowerReduce(ReduceOp op);
  FailureOr<HTensor> lowerArgmax(ArgmaxOp op);
  FailureOr<HTensor> lowerReduceGrad(ReduceGradOp op);
  Func countedPositions(Operation *op, const HTensor &targets, std::optional<int64_t> ignore);
  FailureOr<HTensor> lowerCrossEntropy(CrossEntropyOp op);
  FailureOr<HTensor> lowerCrossEntropyGrad(CrossEntropyGradOp op);
  FailureOr<HTensor> lowerMse(MseOp op);
  FailureOr<HTensor> lowerMseGrad(MseGradOp op);

  // Reindexing (LowerReindex.cpp).
  FailureOr<HTensor> lowerZeros(ZerosOp op);
  FailureOr<HTensor> lowerBroadcast(BroadcastOp op);
  FailureOr<HTensor> lowerBroadcastGrad(BroadcastGradOp op);
  FailureOr<HTensor> lowerConcat(ConcatOp op);
  FailureOr<HTensor> lowerExpandDims(ExpandDimsOp op);
  FailureOr<HTensor> lowerSqueeze(SqueezeOp op);
  std::vector<Expr> resultShape(Operation *op);
  FailureOr<HTensor> lowerReshape(ReshapeOp op);
  FailureOr<HTensor> lowerTranspose(TransposeOp op);
  FailureOr<HTensor> lowerSlice(SliceOp op);
  FailureOr<HTensor> lowerSliceGrad(SliceGradOp op);
  FailureOr<HTensor> lowerEmbedding(EmbeddingOp op);
  FailureOr<HTensor> lowerEmbeddingGrad(EmbeddingGradOp op);

  KernelOp kernel;
  LoweredKernel &out;
  llvm::DenseMap<Value, HTensor> values;
  /// The tanh(query + keys) of an additive score, stored for the several gradients of it in this kernel:
  /// its index in `out.additiveScoreGrads`.
  llvm::DenseMap<std::pair<Value, Value>, size_t> additiveTanh;
  unsigned counter = 0;
};

} // namespace mlir::attn::halide

#endif // ATTN_CONVERSION_ATTNTOHALIDE_ALGORITHMBUILDER_H
