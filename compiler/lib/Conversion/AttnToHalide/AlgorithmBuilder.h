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

/// tanh through exp, which Halide vectorizes.
Expr tanhOf(Expr x);

/// An RDom over every element of `t` but its last `skipLast` dimensions, and its points.
std::pair<RDom, std::vector<Expr>> everyElement(const HTensor &t, const std::string &name,
                                                size_t skipLast = 0);

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
  Expr lengthOf(Value lengths, Expr steps, Var b);
  std::pair<RDom, Expr> slotDomain(int slots, int hidden, int reduced, Expr first, Expr steps);
  Func recurrenceState(Operation *op, const HTensor &xp, const HTensor &w, const HTensor &bias, Expr length,
                       bool reverse, bool isLSTM, Var b);
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
  /// tanh(query + keys) of an additive score, stored for the several gradients of it in this kernel.
  llvm::DenseMap<std::pair<Value, Value>, Func> additiveTanh;
  unsigned counter = 0;
};

} // namespace mlir::attn::halide

#endif // ATTN_CONVERSION_ATTNTOHALIDE_ALGORITHMBUILDER_H
