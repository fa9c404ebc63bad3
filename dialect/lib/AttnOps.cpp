// Verifiers and dimension sources of the forward attn ops that AttnOps.td declares: parameters, layer ops
// (dense, reindexing, losses, normalization, recurrences, attention) and the attention primitives. The
// convolutional layers, the kernel and decoder regions and the gradient ops have files of their own.
#include "attn/Dialect/AttnOps.h"

#include "OpHelpers.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("expects a non-empty parameter name");
  if (!getType().hasStaticShape())
    return emitOpError() << "expects a static shape for parameter '" << getName() << "', found "
                         << shapeString(getType());
  std::optional<StringRef> init = getInit();
  bool scaled = init == "normal" || init == "uniform";
  if (init && !scaled &&
      !llvm::is_contained(ArrayRef<StringRef>{"uniform_fan_in", "glorot_uniform", "zeros", "ones"}, *init))
    return emitOpError() << "expects init uniform_fan_in, glorot_uniform, zeros, ones, normal or uniform, "
                            "found '"
                         << *init << "'";
  FloatAttr scale = getInitScaleAttr();
  if (scaled != bool(scale))
    return emitOpError() << (scaled ? "expects an init_scale for init '" + init->str() + "'"
                                    : std::string("expects init_scale only with init normal or uniform"));
  if (scaled && !(scale.getValueAsDouble() > 0))
    return emitOpError() << "expects a positive init_scale, found " << scale.getValueAsDouble();
  return success();
}

//===----------------------------------------------------------------------===//
// DenseOp
//===----------------------------------------------------------------------===//

LogicalResult DenseOp::verify() {
  if (rankOf(getInput()) < 1)
    return emitOpError() << "expects an input of rank >= 1, found a scalar tensor";
  bool transposed = getTransposedWeight();
  if (failed(expectRank(*this, "a weight", getWeight(), 2, transposed ? "[in, out]" : "[out, in]")))
    return failure();
  unsigned last = rankOf(getInput()) - 1, in = transposed ? 0 : 1, out = 1 - in;
  if (conflict(dimOf(getInput(), last), dimOf(getWeight(), in)))
    return emitOpError() << "expects the input's last dimension (" << dimOf(getInput(), last)
                         << ") to equal the weight's input dimension (" << dimOf(getWeight(), in)
                         << " in " << shapeString(getWeight().getType()) << ")";
  if (Value bias = getBias()) {
    if (failed(expectRank(*this, "a bias", bias, 1, "[out]")) ||
        failed(expectSameDim(*this, "output dimension", "bias", bias, 0, "weight", getWeight(), out)))
      return failure();
  }
  return verifyResultShape(*this);
}

SmallVector<DimSource> DenseOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims.back() = DimSource::of(1, getTransposedWeight() ? 1 : 0);
  return dims;
}

//===----------------------------------------------------------------------===//
// Embedding and concat
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (failed(expectRank(*this, "a table", getTable(), 2, "[vocabulary, features]")))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> EmbeddingOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getTokens());
  dims.push_back(DimSource::of(1, 1));
  return dims;
}

LogicalResult ConcatOp::verify() {
  Value a = getLhs(), b = getRhs();
  if (rankOf(a) < 1 || rankOf(a) != rankOf(b))
    return emitOpError() << "expects two tensors of the same rank >= 1, found " << shapeString(a.getType())
                         << " and " << shapeString(b.getType());
  unsigned last = rankOf(a) - 1;
  for (unsigned d = 0; d < last; ++d)
    if (failed(expectSameDim(*this, "dimension " + std::to_string(d), "lhs", a, d, "rhs", b, d)))
      return failure();
  if (ShapedType::isDynamic(dimOf(a, last)) || ShapedType::isDynamic(dimOf(b, last)))
    return emitOpError() << "expects static last dimensions, found " << shapeString(a.getType()) << " and "
                         << shapeString(b.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> ConcatOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getLhs());
  unsigned last = rankOf(getLhs()) - 1;
  dims.back() = DimSource::constant(dimOf(getLhs(), last) + dimOf(getRhs(), last));
  return dims;
}

//===----------------------------------------------------------------------===//
// Elementwise and softmax
//===----------------------------------------------------------------------===//

// The activations and add, sub and mul get their verifier and dimension sources from their ODS classes
// (Attn_ElementwiseDefinitions in AttnOps.td).

/// Softmax and log-softmax work along the last dimension of their input, which must have one.
static LogicalResult verifyAlongLastDim(Operation *op, Value input) {
  if (rankOf(input) < 1)
    return op->emitOpError() << "expects an input of rank >= 1, found a scalar tensor";
  return verifyResultShape(op);
}

LogicalResult SoftmaxOp::verify() { return verifyAlongLastDim(*this, getInput()); }
SmallVector<DimSource> SoftmaxOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult ExpandDimsOp::verify() {
  int64_t axis = getAxis(), rank = rankOf(getInput());
  if (axis < 0 || axis > rank)
    return emitOpError() << "expects an axis in [0, " << rank << "], found " << axis;
  return verifyResultShape(*this);
}

SmallVector<DimSource> ExpandDimsOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims.insert(dims.begin() + getAxis(), DimSource::constant(1));
  return dims;
}

LogicalResult SqueezeOp::verify() {
  int64_t axis = getAxis(), rank = rankOf(getInput());
  if (axis < 0 || axis >= rank)
    return emitOpError() << "expects an axis in [0, " << rank - 1 << "], found " << axis;
  if (dimOf(getInput(), axis) != 1)
    return emitOpError() << "expects dimension " << axis << " to have size 1, found "
                         << shapeString(getInput().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> SqueezeOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims.erase(dims.begin() + getAxis());
  return dims;
}

/// The product of a shape's static dimensions and the number of its dynamic ones.
static std::pair<int64_t, int64_t> staticProductAndDynamicCount(RankedTensorType type) {
  int64_t product = 1, dynamic = 0;
  for (int64_t d : type.getShape())
    ShapedType::isDynamic(d) ? ++dynamic : product *= d;
  return {product, dynamic};
}

LogicalResult ReshapeOp::verify() {
  auto in = cast<RankedTensorType>(getInput().getType()), out = cast<RankedTensorType>(getType());
  auto [inProduct, inDynamic] = staticProductAndDynamicCount(in);
  auto [outProduct, outDynamic] = staticProductAndDynamicCount(out);
  if (inDynamic != outDynamic || inProduct != outProduct)
    return emitOpError()
           << "expects a result with the input's dynamic dimensions and as many elements, found "
           << shapeString(in) << " (" << inDynamic << " dynamic, static product " << inProduct
           << ") reshaped to " << shapeString(out) << " (" << outDynamic << " dynamic, static product "
           << outProduct << ")";
  return success();
}

SmallVector<DimSource> ReshapeOp::getResultDimSources() {
  auto in = cast<RankedTensorType>(getInput().getType()), out = cast<RankedTensorType>(getType());
  SmallVector<DimSource> dims;
  unsigned next = 0;
  for (int64_t d : out.getShape()) {
    if (!ShapedType::isDynamic(d)) {
      dims.push_back(DimSource::constant(d));
      continue;
    }
    while (next < in.getRank() && !in.isDynamicDim(next))
      ++next;
    // Past the input's dynamic dimensions the verifier reports the mismatch; the size stays unknown.
    dims.push_back(next < in.getRank() ? DimSource::of(0, next++)
                                       : DimSource::constant(ShapedType::kDynamic));
  }
  return dims;
}

LogicalResult TransposeOp::verify() {
  ArrayRef<int64_t> perm = getPermutation();
  int64_t rank = rankOf(getInput());
  SmallVector<bool> seen(rank, false);
  bool valid = static_cast<int64_t>(perm.size()) == rank;
  for (int64_t p : perm)
    valid = valid && p >= 0 && p < rank && !std::exchange(seen[p], true);
  if (!valid) {
    InFlightDiagnostic diag = emitOpError() << "expects a permutation of 0.." << rank - 1 << ", found [";
    llvm::interleaveComma(perm, diag);
    return diag << "]";
  }
  return verifyResultShape(*this);
}

SmallVector<DimSource> TransposeOp::getResultDimSources() {
  SmallVector<DimSource> dims;
  for (int64_t p : getPermutation())
    dims.push_back(DimSource::of(0, p));
  return dims;
}

LogicalResult SliceOp::verify() {
  int64_t axis = getAxis(), rank = rankOf(getInput());
  if (axis < 0 || axis >= rank)
    return emitOpError() << "expects an axis in [0, " << rank - 1 << "], found " << axis;
  int64_t extent = dimOf(getInput(), axis);
  if (ShapedType::isDynamic(extent))
    return emitOpError() << "expects a static dimension " << axis << ", found "
                         << shapeString(getInput().getType());
  if (getStart() < 0 || getSize() < 1 || getStart() + getSize() > extent)
    return emitOpError() << "expects 0 <= start, 1 <= size and start + size <= " << extent << ", found start "
                         << getStart() << " and size " << getSize();
  return verifyResultShape(*this);
}

SmallVector<DimSource> SliceOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims[getAxis()] = DimSource::constant(getSize());
  return dims;
}

LogicalResult ReduceOp::verify() {
  int64_t axis = getAxis(), rank = rankOf(getInput());
  if (axis < 0 || axis >= rank)
    return emitOpError() << "expects an axis in [0, " << rank - 1 << "], found " << axis;
  if (!llvm::is_contained({"sum", "mean", "max", "min"}, getKind()))
    return emitOpError() << "expects kind \"sum\", \"mean\", \"max\" or \"min\", found \"" << getKind()
                         << "\"";
  return verifyResultShape(*this);
}

SmallVector<DimSource> ReduceOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims[getAxis()] = DimSource::constant(1);
  return dims;
}

LogicalResult SelectOp::verify() {
  if (failed(verifyBroadcast(*this, /*first=*/1)))
    return failure();
  // The condition broadcasts to the result without enlarging it.
  Value condition = getCondition();
  auto result = cast<RankedTensorType>(getType());
  bool ok = rankOf(condition) <= result.getRank();
  for (int64_t d = 1; ok && d <= rankOf(condition); ++d) {
    int64_t size = dimOf(condition, unsigned(rankOf(condition) - d));
    ok = size == 1 || !conflict(size, result.getDimSize(result.getRank() - d));
  }
  if (!ok)
    return emitOpError() << "expects a condition that broadcasts to " << shapeString(result) << ", found "
                         << shapeString(condition.getType());
  return success();
}

LogicalResult ArgmaxOp::verify() {
  int64_t axis = getAxis(), rank = rankOf(getInput());
  if (axis < 0 || axis >= rank)
    return emitOpError() << "expects an axis in [0, " << rank - 1 << "], found " << axis;
  return verifyResultShape(*this);
}

SmallVector<DimSource> ArgmaxOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims.erase(dims.begin() + getAxis());
  return dims;
}

LogicalResult BroadcastOp::verify() {
  Value x = getInput(), like = getLike();
  bool ok = rankOf(x) == rankOf(like);
  for (int64_t d = 0; ok && d < rankOf(x); ++d)
    ok = dimOf(x, d) == 1 || !conflict(dimOf(x, d), dimOf(like, d));
  if (!ok)
    return emitOpError() << "expects an input whose dimensions are 1 or those of "
                         << shapeString(like.getType()) << ", found " << shapeString(x.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> BroadcastOp::getResultDimSources() {
  SmallVector<DimSource> dims;
  for (unsigned d = 0, e = rankOf(getLike()); d < e; ++d)
    dims.push_back(DimSource::of(1, d));
  return dims;
}

LogicalResult CrossEntropyOp::verify() {
  Value logits = getLogits(), targets = getTargets();
  bool ok = rankOf(logits) >= 2 && rankOf(targets) == rankOf(logits) - 1;
  for (int64_t d = 0; ok && d < rankOf(targets); ++d)
    ok = !conflict(dimOf(logits, d), dimOf(targets, d));
  if (!ok)
    return emitOpError() << "expects logits [..., V] and targets with their leading dimensions, found "
                         << shapeString(logits.getType()) << " and " << shapeString(targets.getType());
  if (ShapedType::isDynamic(dimOf(logits, rankOf(logits) - 1)))
    return emitOpError() << "expects a static number of classes, found " << shapeString(logits.getType());
  float smoothing = getLabelSmoothing().convertToFloat();
  if (!(smoothing >= 0 && smoothing <= 1))
    return emitOpError() << "expects a label smoothing in [0, 1], found " << smoothing;
  return verifyResultShape(*this);
}

SmallVector<DimSource> CrossEntropyOp::getResultDimSources() { return {}; }

LogicalResult MseOp::verify() {
  Value a = getLhs(), b = getRhs();
  bool ok = rankOf(a) == rankOf(b);
  for (int64_t d = 0; ok && d < rankOf(a); ++d)
    ok = !conflict(dimOf(a, d), dimOf(b, d));
  if (!ok)
    return emitOpError() << "expects two tensors of one shape, found " << shapeString(a.getType()) << " and "
                         << shapeString(b.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> MseOp::getResultDimSources() { return {}; }

LogicalResult LogSoftmaxOp::verify() { return verifyAlongLastDim(*this, getInput()); }
SmallVector<DimSource> LogSoftmaxOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult LayerNormOp::verify() {
  Value x = getInput();
  if (rankOf(x) < 1)
    return emitOpError() << "expects an input of rank >= 1, found a scalar tensor";
  unsigned last = rankOf(x) - 1;
  if (ShapedType::isDynamic(dimOf(x, last)))
    return emitOpError() << "expects a static last dimension to normalize over, found "
                         << shapeString(x.getType());
  for (auto [name, param] : {std::pair{"weight", getWeight()}, {"bias", getBias()}}) {
    if (!param)
      continue;
    if (failed(expectRank(*this, std::string("a ") + name, param, 1, "[features]")) ||
        failed(expectSameDim(*this, "feature size", name, param, 0, "the input", x, last)))
      return failure();
  }
  if (!(getEpsilon().convertToDouble() > 0))
    return emitOpError() << "expects a positive epsilon, found " << getEpsilon().convertToDouble();
  return verifyResultShape(*this);
}
SmallVector<DimSource> LayerNormOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult DropoutOp::verify() {
  float rate = getRate().convertToFloat();
  if (!(rate >= 0 && rate < 1))
    return emitOpError() << "expects a rate in [0, 1), found " << rate;
  if (Value seed = getSeed(); seed && (rankOf(seed) != 1 || conflict(dimOf(seed, 0), 6)))
    return emitOpError() << "expects the seed as i32 [6] (seed low and high, step, row offset, on, decoder "
                            "step), found "
                         << shapeString(seed.getType());
  return verifyResultShape(*this);
}
SmallVector<DimSource> DropoutOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult RandomShiftOp::verify() {
  if (rankOf(getInput()) < 3)
    return emitOpError() << "expects images [N, ..., H, W] of rank 3 or more, found "
                         << shapeString(getInput().getType());
  if (getPixels() < 1)
    return emitOpError() << "expects a shift of at least 1 pixel, found " << getPixels();
  if (Value seed = getSeed(); seed && (rankOf(seed) != 1 || conflict(dimOf(seed, 0), 6)))
    return emitOpError() << "expects the seed as i32 [6], as attn.dropout's, found "
                         << shapeString(seed.getType());
  return verifyResultShape(*this);
}
SmallVector<DimSource> RandomShiftOp::getResultDimSources() { return identityDims(getInput()); }

//===----------------------------------------------------------------------===//
// Recurrent ops
//===----------------------------------------------------------------------===//

LogicalResult mlir::attn::detail::verifyRecurrence(Operation *op, Value xp, Value w, Value b, Value lengths,
                                                   Value steps, int64_t gates) {
  if (failed(expectRank(op, "projected inputs", xp, 3, "[batch, steps, gates × hidden]")) ||
      failed(expectRank(op, "a recurrent weight", w, 2, "[gates × hidden, hidden]")) ||
      failed(expectRank(op, "a recurrent bias", b, 1, "[gates × hidden]")))
    return failure();
  int64_t hidden = dimOf(w, 1);
  if (dimOf(w, 0) != gates * hidden)
    return op->emitOpError() << "expects a recurrent weight [" << gates << " × hidden, hidden], found "
                             << shapeString(w.getType());
  if (dimOf(xp, 2) != gates * hidden || dimOf(b, 0) != gates * hidden)
    return op->emitOpError() << "expects projected inputs [batch, steps, " << gates * hidden
                             << "] and a bias [" << gates * hidden << "], found " << shapeString(xp.getType())
                             << " and " << shapeString(b.getType());
  if (lengths)
    if (failed(expectRank(op, "lengths", lengths, 1, "[batch]")) ||
        failed(expectSameDim(op, "batch size", "lengths", lengths, 0, "the inputs", xp, 0)))
      return failure();
  // What the forward pass keeps of each step: LSTM the gates and the cell state, GRU the gates' hidden side.
  int64_t slots = (gates == LSTMOp::kGates ? gates + 1 : gates) * hidden;
  if (rankOf(steps) != 3 || dimOf(steps, 2) != slots || conflict(dimOf(steps, 0), dimOf(xp, 0)) ||
      conflict(dimOf(steps, 1), dimOf(xp, 1)))
    return op->emitOpError() << "expects the steps [batch, steps, " << slots << "], found "
                             << shapeString(steps.getType());
  return verifyResultShape(op);
}

LogicalResult LSTMOp::verify() {
  return verifyRecurrence(*this, getProjected(), getWHh(), getBHh(), getLengths(), getSteps(), kGates);
}
LogicalResult GRUOp::verify() {
  return verifyRecurrence(*this, getProjected(), getWHh(), getBHh(), getLengths(), getSteps(), kGates);
}

static SmallVector<DimSource> recurrenceDims() {
  return {DimSource::of(0, 0), DimSource::of(0, 1), DimSource::of(1, 1)};
}
SmallVector<DimSource> LSTMOp::getResultDimSources() { return recurrenceDims(); }
SmallVector<DimSource> GRUOp::getResultDimSources() { return recurrenceDims(); }

/// Checks one recurrent cell step: inputs [N, In], a state [N, H], weights for `gates` gate blocks.
static LogicalResult verifyCell(Operation *op, Value x, Value h, Value wih, Value bih, Value whh, Value bhh,
                                int64_t gates, bool transposed) {
  if (failed(expectRank(op, "an input", x, 2, "[rows, features]")) ||
      failed(expectRank(op, "a hidden state", h, 2, "[rows, hidden]")) ||
      failed(expectRank(op, "an input weight", wih, 2, "[gates × hidden, features]")) ||
      failed(expectRank(op, "a recurrent weight", whh, 2, "[gates × hidden, hidden]")) ||
      failed(expectRank(op, "an input bias", bih, 1, "[gates × hidden]")) ||
      failed(expectRank(op, "a recurrent bias", bhh, 1, "[gates × hidden]")) ||
      failed(expectSameDim(op, "row count", "the input", x, 0, "the hidden state", h, 0)))
    return failure();
  int64_t hidden = dimOf(h, 1);
  if (ShapedType::isDynamic(hidden))
    return op->emitOpError() << "expects a static hidden size, found a hidden state "
                             << shapeString(h.getType());
  auto expectShape = [&](StringRef what, Value v, ArrayRef<int64_t> shape) -> LogicalResult {
    if (cast<RankedTensorType>(v.getType()).getShape() == shape)
      return success();
    std::string want = "[";
    llvm::interleave(shape, [&](int64_t d) { want += std::to_string(d); }, [&] { want += ", "; });
    return op->emitOpError() << "expects " << what << " " << want << "] for hidden size " << hidden
                             << " and input width " << dimOf(x, 1) << ", found " << shapeString(v.getType());
  };
  auto weight = [&](int64_t in) {
    return transposed ? SmallVector<int64_t>{in, gates * hidden} : SmallVector<int64_t>{gates * hidden, in};
  };
  return failure(failed(expectShape("an input weight", wih, weight(dimOf(x, 1)))) ||
                 failed(expectShape("a recurrent weight", whh, weight(hidden))) ||
                 failed(expectShape("an input bias", bih, {gates * hidden})) ||
                 failed(expectShape("a recurrent bias", bhh, {gates * hidden})));
}

LogicalResult LSTMCellOp::verify() {
  if (failed(verifyCell(*this, getInput(), getHidden(), getWIh(), getBIh(), getWHh(), getBHh(), kGates,
                        getTransposedWeights())))
    return failure();
  if (getCell().getType() != getHidden().getType())
    return emitOpError() << "expects the cell state to have the hidden state's shape "
                         << shapeString(getHidden().getType()) << ", found "
                         << shapeString(getCell().getType());
  if (getNewCell().getType() != getNewHidden().getType())
    return emitOpError("expects the new hidden and cell states to have one type");
  int64_t gates = kGates * dimOf(getHidden(), 1);
  Value g = getGates();
  if (rankOf(g) != 2 || dimOf(g, 1) != gates || conflict(dimOf(g, 0), dimOf(getHidden(), 0)))
    return emitOpError() << "expects gates [rows, " << gates << "] for a hidden state "
                         << shapeString(getHidden().getType()) << ", found " << shapeString(g.getType());
  return verifyResultShape(*this);
}
LogicalResult GRUCellOp::verify() {
  if (failed(verifyCell(*this, getInput(), getHidden(), getWIh(), getBIh(), getWHh(), getBHh(), kGates,
                        getTransposedWeights())))
    return failure();
  return verifyResultShape(*this);
}
/// Cells: the results have the hidden state's shape (operand 1); an LSTM's gates, its rows (the verifier
/// checks their width; shape inference fills in only the rows).
SmallVector<DimSource> LSTMCellOp::getResultDimSources() {
  return {DimSource::of(1, 0), DimSource::of(1, 1)};
}
SmallVector<DimSource> GRUCellOp::getResultDimSources() { return {DimSource::of(1, 0), DimSource::of(1, 1)}; }

LogicalResult ZerosOp::verify() {
  auto type = cast<RankedTensorType>(getType());
  if (type.getRank() < 1 || static_cast<int64_t>(getDim()) >= rankOf(getLike()))
    return emitOpError() << "expects a result of rank >= 1 and a dimension of 'like' "
                         << shapeString(getLike().getType()) << ", found dim = " << getDim();
  for (int64_t d = 1; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      return emitOpError() << "expects static dimensions after the first, found " << shapeString(type);
  return verifyResultShape(*this);
}
SmallVector<DimSource> ZerosOp::getResultDimSources() {
  auto type = cast<RankedTensorType>(getType());
  SmallVector<DimSource> dims{DimSource::of(0, getDim())};
  for (int64_t d = 1; d < type.getRank(); ++d)
    dims.push_back(DimSource::constant(type.getDimSize(d)));
  return dims;
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

static LogicalResult expectStaticDivisible(Operation *op, StringRef what, Value v, unsigned i,
                                           int64_t heads) {
  int64_t d = dimOf(v, i);
  if (ShapedType::isDynamic(d))
    return op->emitOpError() << "expects a static feature dimension for " << what << ", found "
                             << shapeString(v.getType());
  if (d % heads != 0)
    return op->emitOpError() << "expects the feature dimension of " << what << " (" << d
                             << ") to be divisible by num_heads (" << heads << ")";
  return success();
}

static LogicalResult verifyMask(Operation *op, Value mask, Value batchOf, Value keysOf, unsigned keyDim) {
  if (!mask)
    return success();
  // A rank-1 mask holds each sequence's length: keys j < length are kept.
  if (rankOf(mask) == 1)
    return expectSameDim(op, "batch size", "lengths mask", mask, 0, "the scores", batchOf, 0);
  if (failed(expectRank(op, "a mask", mask, 2, "[batch, keys] or lengths [batch]")) ||
      failed(expectSameDim(op, "batch size", "mask", mask, 0, "the scores", batchOf, 0)) ||
      failed(expectSameDim(op, "key length", "mask", mask, 1, "the keys", keysOf, keyDim)))
    return failure();
  return success();
}

/// The positions [batch] of the first query of each row, which shift causality; only with `causal`.
static LogicalResult verifyOffset(Operation *op, Value offset, bool causal, Value batchOf) {
  if (!offset)
    return success();
  if (!causal)
    return op->emitOpError("takes query positions (offset) only with causal");
  if (failed(expectRank(op, "query positions (offset)", offset, 1, "[batch]")))
    return failure();
  return expectSameDim(op, "batch size", "query positions (offset)", offset, 0, "the scores", batchOf, 0);
}

static LogicalResult verifyScale(Operation *op, std::optional<APFloat> scale) {
  if (scale && !(scale->convertToDouble() > 0 && std::isfinite(scale->convertToDouble())))
    return op->emitOpError() << "expects a positive finite scale, found " << scale->convertToDouble();
  return success();
}

/// An attention layer's query [batch, queries, features], keys and values [batch, keys, features], of one
/// batch size.
static LogicalResult verifyAttentionOperands(Operation *op, Value q, Value k, Value v) {
  if (failed(expectRank(op, "a query", q, 3, "[batch, queries, features]")) ||
      failed(expectRank(op, "keys", k, 3, "[batch, keys, features]")) ||
      failed(expectRank(op, "values", v, 3, "[batch, keys, features]")) ||
      failed(expectSameDim(op, "batch size", "query", q, 0, "keys", k, 0)) ||
      failed(expectSameDim(op, "batch size", "keys", k, 0, "values", v, 0)))
    return failure();
  return success();
}

LogicalResult DotAttentionOp::verify() {
  Value q = getQuery(), k = getKeys(), v = getValues();
  int64_t heads = getNumHeads();
  if (failed(verifyAttentionOperands(*this, q, k, v)) ||
      failed(expectSameDim(*this, "feature size", "query", q, 2, "keys", k, 2)) ||
      failed(expectSameDim(*this, "key length", "keys", k, 1, "values", v, 1)) ||
      failed(expectStaticDivisible(*this, "the query", q, 2, heads)) ||
      failed(expectStaticDivisible(*this, "the values", v, 2, heads)) ||
      failed(verifyMask(*this, getMask(), q, k, 1)) ||
      failed(verifyOffset(*this, getOffset(), getCausal(), q)) || failed(verifyScale(*this, getScale())))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> DotAttentionOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1), DimSource::of(2, 2)};
}

/// The query [batch, queries, D] and keys [batch, keys, D] that a score op compares, with one batch size
/// and one D, which `what` names ("features", "units") and `size` measures ("feature size", "unit count").
static LogicalResult verifyScoreOperands(Operation *op, Value q, Value k, StringRef what, StringRef size) {
  if (failed(expectRank(op, "a query", q, 3, ("[batch, queries, " + what + "]").str())) ||
      failed(expectRank(op, "keys", k, 3, ("[batch, keys, " + what + "]").str())) ||
      failed(expectSameDim(op, "batch size", "query", q, 0, "keys", k, 0)) ||
      failed(expectSameDim(op, size, "query", q, 2, "keys", k, 2)))
    return failure();
  return success();
}

LogicalResult ScoreOp::verify() {
  Value q = getQuery(), k = getKeys();
  if (failed(verifyScoreOperands(*this, q, k, "features", "feature size")) ||
      failed(expectStaticDivisible(*this, "the query", q, 2, getNumHeads())) ||
      failed(verifyScale(*this, getScale())))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> ScoreOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::constant(getNumHeads()), DimSource::of(0, 1),
          DimSource::of(1, 1)};
}

/// A projection of `what` given as an [units, in] weight with an optional [units] bias.
static LogicalResult verifyAttentionProjection(Operation *op, StringRef what, Value input, Value weight,
                                               Value bias) {
  if (failed(expectRank(op, std::string("a ") + what.str() + " weight", weight, 2, "[units, features]")) ||
      failed(expectSameDim(op, "feature size", what, input, rankOf(input) - 1, "its weight", weight, 1)))
    return failure();
  if (bias && (failed(expectRank(op, std::string("a ") + what.str() + " bias", bias, 1, "[units]")) ||
               failed(expectSameDim(op, "unit count", "the bias", bias, 0, "its weight", weight, 0))))
    return failure();
  return success();
}

static LogicalResult verifyV(Operation *op, Value v, int64_t units) {
  if (failed(expectRank(op, "v", v, 2, "[1, units]")))
    return failure();
  if (dimOf(v, 0) != 1 || conflict(dimOf(v, 1), units))
    return op->emitOpError() << "expects v to be [1, " << units << "], found " << shapeString(v.getType());
  return success();
}

LogicalResult AdditiveScoreOp::verify() {
  Value q = getQuery(), k = getKeys();
  if (failed(verifyScoreOperands(*this, q, k, "units", "unit count")) ||
      failed(verifyV(*this, getV(), dimOf(q, 2))))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> AdditiveScoreOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::constant(1), DimSource::of(0, 1), DimSource::of(1, 1)};
}

LogicalResult AdditiveAttentionOp::verify() {
  Value q = getQuery(), k = getKeys(), v = getValues();
  if (failed(verifyAttentionOperands(*this, q, k, v)) ||
      failed(expectSameDim(*this, "key length", "keys", k, 1, "values", v, 1)) ||
      failed(verifyAttentionProjection(*this, "query", q, getQueryWeight(), getQueryBias())) ||
      failed(verifyAttentionProjection(*this, "keys", k, getKeyWeight(), getKeyBias())) ||
      failed(expectSameDim(*this, "unit count", "the query weight", getQueryWeight(), 0, "the key weight",
                           getKeyWeight(), 0)) ||
      failed(verifyV(*this, getV(), dimOf(getQueryWeight(), 0))) ||
      failed(verifyMask(*this, getMask(), q, k, 1)))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> AdditiveAttentionOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1), DimSource::of(2, 2)};
}

LogicalResult MaskedSoftmaxOp::verify() {
  if (failed(expectRank(*this, "scores", getScores(), 4, "[batch, heads, queries, keys]")) ||
      failed(verifyMask(*this, getMask(), getScores(), getScores(), 3)) ||
      failed(verifyOffset(*this, getOffset(), getCausal(), getScores())))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> MaskedSoftmaxOp::getResultDimSources() { return identityDims(getScores()); }

LogicalResult WeightedSumOp::verify() {
  Value w = getWeights(), v = getValues();
  if (failed(expectRank(*this, "weights", w, 4, "[batch, heads, queries, keys]")) ||
      failed(expectRank(*this, "values", v, 3, "[batch, keys, features]")) ||
      failed(expectSameDim(*this, "batch size", "weights", w, 0, "values", v, 0)) ||
      failed(expectSameDim(*this, "key length", "weights", w, 3, "values", v, 1)))
    return failure();
  int64_t heads = dimOf(w, 1);
  if (ShapedType::isDynamic(heads))
    return emitOpError() << "expects a static number of heads (dimension 1 of the weights), found "
                         << shapeString(w.getType());
  if (failed(expectStaticDivisible(*this, "the values", v, 2, heads)))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> WeightedSumOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 2), DimSource::of(1, 2)};
}

//===----------------------------------------------------------------------===//
// Broadcasting arithmetic and scalars
//===----------------------------------------------------------------------===//

RankedTensorType mlir::attn::broadcastType(Type a, Type b) {
  auto ta = cast<RankedTensorType>(a), tb = cast<RankedTensorType>(b);
  int64_t rank = std::max(ta.getRank(), tb.getRank());
  SmallVector<int64_t> shape(rank);
  for (int64_t i = 0; i < rank; ++i) { // from the last dimension
    int64_t x = i < ta.getRank() ? ta.getDimSize(ta.getRank() - 1 - i) : 1;
    int64_t y = i < tb.getRank() ? tb.getDimSize(tb.getRank() - 1 - i) : 1;
    shape[rank - 1 - i] = x == 1 ? y : y == 1 || ShapedType::isDynamic(y) ? x : y;
  }
  return RankedTensorType::get(shape, Float32Type::get(a.getContext()));
}

/// `: T` where both operands and the result have type T, else `: (A, B) -> R`.
static ParseResult parseBroadcastTypes(OpAsmParser &parser, Type &lhs, Type &rhs, Type &result) {
  if (failed(parser.parseOptionalLParen())) {
    if (parser.parseType(result))
      return failure();
    lhs = rhs = result;
    return success();
  }
  return failure(parser.parseType(lhs) || parser.parseComma() || parser.parseType(rhs) ||
                 parser.parseRParen() || parser.parseArrow() || parser.parseType(result));
}

static void printBroadcastTypes(OpAsmPrinter &p, Operation *, Type lhs, Type rhs, Type result) {
  if (lhs == result && rhs == result)
    p << result;
  else
    p << "(" << lhs << ", " << rhs << ") -> " << result;
}

LogicalResult MatmulOp::verify() {
  Value a = getLhs(), b = getRhs();
  if (rankOf(a) < 2 || rankOf(b) < 2)
    return emitOpError() << "expects operands of rank >= 2, found " << shapeString(a.getType()) << " and "
                         << shapeString(b.getType());
  int64_t k = dimOf(a, unsigned(rankOf(a) - 1));
  int64_t kb = dimOf(b, unsigned(rankOf(b) - (getTransposeB() ? 1 : 2)));
  if (conflict(k, kb))
    return emitOpError() << "expects the contracted dimensions of " << shapeString(a.getType()) << " and "
                         << shapeString(b.getType()) << (getTransposeB() ? " (transposed)" : "")
                         << " to agree, found " << k << " and " << kb;
  int64_t dim = 0;
  if (broadcastConflict(a, b, 2, dim))
    return emitOpError() << "expects batch dimensions that broadcast, found " << shapeString(a.getType())
                         << " and " << shapeString(b.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> MatmulOp::getResultDimSources() {
  SmallVector<DimSource> dims = broadcastDims(getLhs(), getRhs(), 2);
  dims.push_back(DimSource::of(0, unsigned(rankOf(getLhs()) - 2)));
  dims.push_back(DimSource::of(1, unsigned(rankOf(getRhs()) - (getTransposeB() ? 2 : 1))));
  return dims;
}

LogicalResult ConstantOp::verify() {
  if (cast<RankedTensorType>(getType()).getRank() != 0)
    return emitOpError() << "expects a rank-0 result, found " << shapeString(getType());
  return success();
}
SmallVector<DimSource> ConstantOp::getResultDimSources() { return {}; }

//===----------------------------------------------------------------------===//
// ODS-generated definitions of every op, gradient ops included
//===----------------------------------------------------------------------===//

#define GET_OP_CLASSES
#include "attn/Dialect/AttnOps.cpp.inc"
