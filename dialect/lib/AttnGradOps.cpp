// Verifiers and dimension sources of the gradient ops that AttnGradOps.td declares: what attn-autodiff's
// rules emit besides forward ops, checked like any computing op.
#include "attn/Dialect/AttnOps.h"

#include "OpHelpers.h"

#include "llvm/ADT/STLExtras.h"

#include <string>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

//===----------------------------------------------------------------------===//
// Gradient primitives
//===----------------------------------------------------------------------===//

/// Whether `a` and `b` have the same rank and no two of their dimensions conflict, skipping the last
/// `skipLast` dimensions.
static bool sameLeading(Value a, Value b, int64_t skipLast) {
  if (rankOf(a) != rankOf(b))
    return false;
  for (int64_t d = 0; d + skipLast < rankOf(a); ++d)
    if (conflict(dimOf(a, d), dimOf(b, d)))
      return false;
  return true;
}

LogicalResult DenseGradWeightOp::verify() {
  Value dy = getGrad(), x = getInput();
  if (rankOf(dy) < 1 || !sameLeading(dy, x, 1) || ShapedType::isDynamic(dimOf(dy, rankOf(dy) - 1)) ||
      ShapedType::isDynamic(dimOf(x, rankOf(x) - 1)))
    return emitOpError()
           << "expects a gradient [..., N] and an input [..., K] with the same leading dimensions "
           << "and static N and K, found " << shapeString(dy.getType()) << " and "
           << shapeString(x.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> DenseGradWeightOp::getResultDimSources() {
  return {DimSource::of(0, rankOf(getGrad()) - 1), DimSource::of(1, rankOf(getInput()) - 1)};
}

LogicalResult SumLeadingOp::verify() {
  if (rankOf(getInput()) < 1 || ShapedType::isDynamic(dimOf(getInput(), rankOf(getInput()) - 1)))
    return emitOpError() << "expects a tensor with a static last dimension, found "
                         << shapeString(getInput().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> SumLeadingOp::getResultDimSources() {
  return {DimSource::of(0, rankOf(getInput()) - 1)};
}

LogicalResult ActivationGradOp::verify() {
  if (!sameLeading(getInput(), getGrad(), 0))
    return emitOpError() << "expects an input and a gradient of one shape, found "
                         << shapeString(getInput().getType()) << " and " << shapeString(getGrad().getType());
  StringRef kind = getKind();
  if (!llvm::is_contained({"relu", "tanh", "sigmoid", "gelu", "exp", "log", "sqrt", "rsqrt", "abs"}, kind))
    return emitOpError() << "expects kind \"relu\", \"tanh\", \"sigmoid\", \"gelu\", \"exp\", \"log\", "
                            "\"sqrt\", \"rsqrt\" or \"abs\", found \""
                         << kind << "\"";
  return verifyResultShape(*this);
}

SmallVector<DimSource> ActivationGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult ScaleOp::verify() { return success(); }

SmallVector<DimSource> ScaleOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult SoftmaxGradOp::verify() {
  if (rankOf(getInput()) < 1 || !sameLeading(getInput(), getGrad(), 0))
    return emitOpError() << "expects an input and a gradient of one shape, found "
                         << shapeString(getInput().getType()) << " and " << shapeString(getGrad().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> SoftmaxGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult CrossEntropyGradOp::verify() {
  Value logits = getLogits(), targets = getTargets();
  bool ok = rankOf(logits) >= 2 && rankOf(targets) == rankOf(logits) - 1;
  for (int64_t d = 0; ok && d < rankOf(targets); ++d)
    ok = !conflict(dimOf(logits, d), dimOf(targets, d));
  if (!ok || ShapedType::isDynamic(dimOf(logits, rankOf(logits) - 1)))
    return emitOpError()
           << "expects logits [..., V] with a static V and targets with their leading dimensions, "
           << "found " << shapeString(logits.getType()) << " and " << shapeString(targets.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> CrossEntropyGradOp::getResultDimSources() { return identityDims(getLogits()); }

LogicalResult MseGradOp::verify() {
  if (!sameLeading(getLhs(), getRhs(), 0))
    return emitOpError() << "expects two tensors of one shape, found " << shapeString(getLhs().getType())
                         << " and " << shapeString(getRhs().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> MseGradOp::getResultDimSources() { return identityDims(getLhs()); }

LogicalResult EmbeddingGradOp::verify() {
  Value ids = getTokens(), dy = getGrad();
  auto type = cast<RankedTensorType>(getType());
  if (rankOf(dy) != rankOf(ids) + 1 || !sameLeading(dy, dy, 0) || type.getRank() != 2 ||
      type.isDynamicDim(0) || conflict(type.getDimSize(1), dimOf(dy, rankOf(dy) - 1)))
    return emitOpError()
           << "expects ids [...], a gradient [..., E] and a result [V, E] with a static V, found "
           << shapeString(ids.getType()) << ", " << shapeString(dy.getType()) << " and " << shapeString(type);
  return success();
}

SmallVector<DimSource> EmbeddingGradOp::getResultDimSources() {
  return {DimSource::constant(cast<RankedTensorType>(getType()).getDimSize(0)),
          DimSource::of(1, rankOf(getGrad()) - 1)};
}

LogicalResult LayerNormGradOp::verify() {
  if (!sameLeading(getInput(), getGrad(), 0) ||
      ShapedType::isDynamic(dimOf(getInput(), rankOf(getInput()) - 1)))
    return emitOpError()
           << "expects an input and a gradient of one shape with a static last dimension, found "
           << shapeString(getInput().getType()) << " and " << shapeString(getGrad().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> LayerNormGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult ProbsGradOp::verify() {
  if (!sameLeading(getProbs(), getGrad(), 0))
    return emitOpError() << "expects probabilities and a gradient of one shape, found "
                         << shapeString(getProbs().getType()) << " and " << shapeString(getGrad().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> ProbsGradOp::getResultDimSources() { return identityDims(getProbs()); }

LogicalResult AdditiveScoreGradOp::verify() {
  StringRef wrt = getWrt();
  if (wrt != "query" && wrt != "keys" && wrt != "v")
    return emitOpError() << "expects wrt \"query\", \"keys\" or \"v\", found \"" << wrt << "\"";
  return verifyResultShape(*this);
}

SmallVector<DimSource> AdditiveScoreGradOp::getResultDimSources() {
  Value like = getWrt() == "query" ? getQuery() : getWrt() == "keys" ? getKeys() : getV();
  unsigned operand = getWrt() == "query" ? 0 : getWrt() == "keys" ? 1 : 2;
  SmallVector<DimSource> dims;
  for (unsigned d = 0, e = rankOf(like); d < e; ++d)
    dims.push_back(DimSource::of(operand, d));
  return dims;
}

LogicalResult RecurrenceGradOp::verify() {
  StringRef cell = getCell();
  if (cell != "lstm" && cell != "gru")
    return emitOpError() << "expects cell \"lstm\" or \"gru\", found \"" << cell << "\"";
  int64_t gates = cell == "lstm" ? LSTMOp::kGates : GRUOp::kGates;
  Value xp = getProjected();
  if (failed(verifyRecurrence(*this, xp, getWHh(), getBHh(), getLengths(), getSteps(), gates)))
    return failure();
  for (auto [what, v] : {std::pair{"result", getHidden()}, {"result's gradient", getGrad()}})
    if (rankOf(v) != 3 || !sameLeading(v, xp, 1) || dimOf(v, 2) != dimOf(getWHh(), 1))
      return emitOpError() << "expects the " << what << " [batch, steps, " << dimOf(getWHh(), 1)
                           << "], found " << shapeString(v.getType());
  return success();
}

SmallVector<DimSource> RecurrenceGradOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1), DimSource::constant(4 * dimOf(getWHh(), 1))};
}

LogicalResult RecurrenceWeightGradOp::verify() {
  Value dg = getGrad(), h = getHidden();
  if (rankOf(dg) != 3 || rankOf(h) != 3 || !sameLeading(dg, h, 1) || ShapedType::isDynamic(dimOf(dg, 2)) ||
      ShapedType::isDynamic(dimOf(h, 2)))
    return emitOpError()
           << "expects gate gradients [batch, steps, G] and hidden states [batch, steps, H] with "
           << "static G and H, found " << shapeString(dg.getType()) << " and " << shapeString(h.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> RecurrenceWeightGradOp::getResultDimSources() {
  return {DimSource::of(0, 2), DimSource::of(1, 2)};
}

LogicalResult CellGradOp::verify() {
  StringRef cell = getCell(), wrt = getWrt();
  bool lstm = cell == "lstm";
  if (!lstm && cell != "gru")
    return emitOpError() << "expects cell \"lstm\" or \"gru\", found \"" << cell << "\"";
  if (lstm ? (wrt != "gates" && wrt != "state")
           : (wrt != "input_gates" && wrt != "hidden_gates" && wrt != "state"))
    return emitOpError() << "expects wrt "
                         << (lstm ? "\"gates\" or \"state\""
                                  : "\"input_gates\", \"hidden_gates\" or \"state\"")
                         << " for cell \"" << cell << "\", found \"" << wrt << "\"";
  if (getCellGrad() && !lstm)
    return emitOpError("takes a cell state gradient only for an LSTM");
  size_t expected = lstm ? 1 : 2;
  if (getGates().size() != expected)
    return emitOpError() << "expects "
                         << (lstm ? "one gates tensor (the pre-activations)" : "two gates tensors (xg, hg)")
                         << " for cell \"" << cell << "\", found " << getGates().size();
  Value state = getState();
  int64_t gates = (lstm ? LSTMCellOp::kGates : GRUCellOp::kGates) * dimOf(state, 1);
  for (Value g : getGates())
    if (rankOf(g) != 2 || dimOf(g, 1) != gates || !sameLeading(g, state, 1))
      return emitOpError() << "expects gates [rows, " << gates << "] for a state "
                           << shapeString(state.getType()) << ", found " << shapeString(g.getType());
  for (Value g : {getGrad(), getCellGrad()})
    if (g && g.getType() != state.getType())
      return emitOpError() << "expects state gradients of the state's shape " << shapeString(state.getType())
                           << ", found " << shapeString(g.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> CellGradOp::getResultDimSources() {
  if (getWrt() != "state")
    return identityDims(getGates().front());
  int state = int(getGates().size()); // the operand after the gates
  return {DimSource::of(state, 0), DimSource::of(state, 1)};
}

/// `wrt` is one of `allowed`.
static LogicalResult expectOneOf(Operation *op, StringRef what, StringRef value,
                                 ArrayRef<StringRef> allowed) {
  if (llvm::is_contained(allowed, value))
    return success();
  std::string list;
  for (StringRef a : allowed)
    list += (list.empty() ? "\"" : ", \"") + a.str() + "\"";
  return op->emitOpError() << "expects " << what << " " << list << ", found \"" << value << "\"";
}

LogicalResult Conv2DGradOp::verify() {
  if (failed(expectOneOf(*this, "wrt", getWrt(), {"input", "weight", "bias"})) ||
      failed(expectRank(*this, "an input", getInput(), 4, "[batch, channels, height, width]")) ||
      failed(expectRank(*this, "a weight", getWeight(), 4, "[out, in / groups, kh, kw]")) ||
      failed(expectRank(*this, "a gradient", getGrad(), 4, "[batch, out, height, width]")))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> Conv2DGradOp::getResultDimSources() {
  if (getWrt() == "bias")
    return {DimSource::of(1, 0)};
  unsigned operand = getWrt() == "input" ? 0 : 1;
  SmallVector<DimSource> dims;
  for (unsigned d = 0; d < 4; ++d)
    dims.push_back(DimSource::of(operand, d));
  return dims;
}

LogicalResult PoolGradOp::verify() {
  if (failed(expectOneOf(*this, "kind", getKind(), {"max", "amax", "avg"})) ||
      failed(expectRank(*this, "an input", getInput(), 4, "[batch, channels, height, width]")) ||
      failed(expectRank(*this, "a gradient", getGrad(), 4, "[batch, channels, height, width]")))
    return failure();
  return verifyResultShape(*this);
}
SmallVector<DimSource> PoolGradOp::getResultDimSources() { return identityDims(getInput()); }

/// The input gradient of an op along `axis` of its input (a reduction, a slice): `axis` is a dimension of
/// `input` and `grad` has the input's rank.
static LogicalResult expectAxisGradient(Operation *op, int64_t axis, Value input, Value grad) {
  if (axis >= 0 && axis < rankOf(input) && rankOf(grad) == rankOf(input))
    return success();
  return op->emitOpError() << "expects an axis of the input and a gradient of its rank, found axis " << axis
                           << " for " << shapeString(input.getType()) << " and "
                           << shapeString(grad.getType());
}

LogicalResult ReduceGradOp::verify() {
  if (failed(expectOneOf(*this, "kind", getKind(), {"sum", "mean", "max", "min"})) ||
      failed(expectAxisGradient(*this, static_cast<int64_t>(getAxis()), getInput(), getGrad())))
    return failure();
  return verifyResultShape(*this);
}
SmallVector<DimSource> ReduceGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult BroadcastGradOp::verify() {
  Value x = getInput(), dy = getGrad();
  int64_t extra = rankOf(dy) - rankOf(x);
  bool ok = extra >= 0;
  for (int64_t d = 0; ok && d < rankOf(x); ++d)
    ok = dimOf(x, unsigned(d)) == 1 || !conflict(dimOf(x, unsigned(d)), dimOf(dy, unsigned(d + extra)));
  if (!ok)
    return emitOpError() << "expects a gradient of a shape the input broadcasts to, found "
                         << shapeString(dy.getType()) << " for " << shapeString(x.getType());
  return verifyResultShape(*this);
}
SmallVector<DimSource> BroadcastGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult SliceGradOp::verify() {
  if (failed(expectAxisGradient(*this, static_cast<int64_t>(getAxis()), getInput(), getGrad())))
    return failure();
  return verifyResultShape(*this);
}
SmallVector<DimSource> SliceGradOp::getResultDimSources() { return identityDims(getInput()); }

/// Checks the optional statistics of a batch normalization op: `expected` tensors of the [2, C] sums
/// attn.batch_sums makes of its input x [B, C, ...].
static LogicalResult expectBatchSums(Operation *op, Value x, ValueRange stats, size_t expected) {
  if (stats.size() != expected)
    return op->emitOpError() << "expects " << expected << " statistics operands here, found " << stats.size();
  for (Value s : stats)
    if (rankOf(s) != 2 || conflict(dimOf(s, 0), 2) || rankOf(x) < 2 || conflict(dimOf(s, 1), dimOf(x, 1)))
      return op->emitOpError() << "expects statistics [2, C] for the input " << shapeString(x.getType())
                               << ", found " << shapeString(s.getType());
  return success();
}

LogicalResult BatchNormGradOp::verify() {
  if (failed(expectOneOf(*this, "wrt", getWrt(), {"input", "weight", "bias"})))
    return failure();
  if (!sameLeading(getInput(), getGrad(), 0))
    return emitOpError() << "expects an input and a gradient of one shape, found "
                         << shapeString(getInput().getType()) << " and " << shapeString(getGrad().getType());
  // Across processes: x's sums for x̂ (not for the bias's Σ dy), and the gradient's sums for dx.
  size_t global = getWrt() == "input" ? 3 : getWrt() == "weight" ? 2 : 0;
  if (!getStats().empty() && failed(expectBatchSums(*this, getInput(), getStats(), global)))
    return failure();
  return verifyResultShape(*this);
}
SmallVector<DimSource> BatchNormGradOp::getResultDimSources() {
  if (getWrt() == "input")
    return identityDims(getInput());
  return {DimSource::of(1, 0)};
}

LogicalResult BatchNormTrainOp::verify() {
  if (failed(expectOneOf(*this, "statistic", getStatistic(), {"output", "mean", "variance"})))
    return failure();
  if (!getStats().empty() && failed(expectBatchSums(*this, getInput(), getStats(), 2)))
    return failure();
  return verifyResultShape(*this);
}
SmallVector<DimSource> BatchNormTrainOp::getResultDimSources() {
  if (getStatistic() == "output")
    return identityDims(getInput());
  return {DimSource::of(3, 0)};
}

LogicalResult BatchSumsOp::verify() {
  if (failed(expectOneOf(*this, "of", getOf(), {"x", "centered", "grad"})))
    return failure();
  if (rankOf(getInput()) < 2 || ShapedType::isDynamic(dimOf(getInput(), 1)))
    return emitOpError() << "expects [batch, channels, ...] with a static channel count, found "
                         << shapeString(getInput().getType());
  ValueRange rest = getRest();
  if (getOf() == "grad") {
    if (rest.empty() || !sameLeading(getInput(), rest.front(), 0))
      return emitOpError() << "expects a gradient of the input's shape after the input";
    rest = rest.drop_front();
  }
  if (failed(expectBatchSums(*this, getInput(), rest, getOf() == "x" ? 0 : getOf() == "centered" ? 1 : 2)))
    return failure();
  return verifyResultShape(*this);
}
SmallVector<DimSource> BatchSumsOp::getResultDimSources() {
  return {DimSource::constant(2), DimSource::of(0, 1)};
}
