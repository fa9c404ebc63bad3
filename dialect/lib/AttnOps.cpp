// Verifiers and dimension sources of the attn ops. Every verifier message names the operand at fault, what
// was expected and what was found, with shapes printed as [B?, 7, 32] where '?' marks a dynamic dimension.
#include "attn/Dialect/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>
#include <string>

using namespace mlir;
using namespace mlir::attn;

//===----------------------------------------------------------------------===//
// Helpers
//===----------------------------------------------------------------------===//

static std::string shapeString(Type type) {
  auto shaped = cast<RankedTensorType>(type);
  std::string out = "[";
  llvm::interleave(
      shaped.getShape(),
      [&](int64_t d) { out += ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d); },
      [&] { out += ", "; });
  return out + "]";
}

static int64_t dimOf(Value v, unsigned i) { return cast<RankedTensorType>(v.getType()).getDimSize(i); }
static int64_t rankOf(Value v) { return cast<RankedTensorType>(v.getType()).getRank(); }

/// Two dimensions conflict only when both are known and differ.
static bool conflict(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

static LogicalResult expectRank(Operation *op, StringRef what, Value v, int64_t rank,
                                StringRef layout) {
  if (rankOf(v) == rank)
    return success();
  return op->emitOpError() << "expects " << what << " of rank " << rank << " " << layout << ", found rank "
                           << rankOf(v) << " " << shapeString(v.getType());
}

/// Checks that dimension `i` of `a` and dimension `j` of `b` agree where both are known.
static LogicalResult expectSameDim(Operation *op, StringRef what, StringRef aName, Value a, unsigned i,
                                   StringRef bName, Value b, unsigned j) {
  if (!conflict(dimOf(a, i), dimOf(b, j)))
    return success();
  return op->emitOpError() << "expects the " << what << " of " << aName << " " << shapeString(a.getType())
                           << " and " << bName << " " << shapeString(b.getType()) << " to agree, found "
                           << dimOf(a, i) << " and " << dimOf(b, j);
}

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

/// The result type must be compatible with the one implied by the operands.
static LogicalResult verifyResultShape(Operation *op) {
  auto shaped = cast<ShapedOpInterface>(op);
  RankedTensorType inferred = shaped.inferResultType();
  Type actual = op->getResult(0).getType();
  auto actualTensor = cast<RankedTensorType>(actual);
  bool ok = actualTensor.getRank() == inferred.getRank();
  for (int64_t i = 0; ok && i < inferred.getRank(); ++i)
    ok = !conflict(actualTensor.getDimSize(i), inferred.getDimSize(i));
  if (ok)
    return success();
  return op->emitOpError() << "result shape " << shapeString(actual) << " does not match the shape "
                           << shapeString(inferred) << " implied by the operands";
}

static SmallVector<DimSource> identityDims(Value v) {
  SmallVector<DimSource> dims;
  for (unsigned i = 0, e = rankOf(v); i < e; ++i)
    dims.push_back(DimSource::of(0, i));
  return dims;
}

//===----------------------------------------------------------------------===//
// ParamOp
//===----------------------------------------------------------------------===//

LogicalResult ParamOp::verify() {
  if (getName().empty())
    return emitOpError("expects a non-empty parameter name");
  if (!getType().hasStaticShape())
    return emitOpError() << "expects a static shape for parameter '" << getName() << "', found "
                         << shapeString(getType());
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

LogicalResult ReluOp::verify() { return verifyResultShape(*this); }
LogicalResult TanhOp::verify() { return verifyResultShape(*this); }
LogicalResult SigmoidOp::verify() { return verifyResultShape(*this); }
SmallVector<DimSource> ReluOp::getResultDimSources() { return identityDims(getInput()); }
SmallVector<DimSource> TanhOp::getResultDimSources() { return identityDims(getInput()); }
SmallVector<DimSource> SigmoidOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult GeluOp::verify() { return verifyResultShape(*this); }
SmallVector<DimSource> GeluOp::getResultDimSources() { return identityDims(getInput()); }
LogicalResult AddOp::verify() { return verifyResultShape(*this); }
LogicalResult SubOp::verify() { return verifyResultShape(*this); }
LogicalResult MulOp::verify() { return verifyResultShape(*this); }
SmallVector<DimSource> AddOp::getResultDimSources() { return identityDims(getLhs()); }
SmallVector<DimSource> SubOp::getResultDimSources() { return identityDims(getLhs()); }
SmallVector<DimSource> MulOp::getResultDimSources() { return identityDims(getLhs()); }

LogicalResult SoftmaxOp::verify() {
  if (rankOf(getInput()) < 1)
    return emitOpError() << "expects an input of rank >= 1, found a scalar tensor";
  return verifyResultShape(*this);
}
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
    return emitOpError() << "expects a result with the input's dynamic dimensions and as many elements, found "
                         << shapeString(in) << " (" << inDynamic << " dynamic, static product " << inProduct
                         << ") reshaped to " << shapeString(out) << " (" << outDynamic
                         << " dynamic, static product " << outProduct << ")";
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
    dims.push_back(next < in.getRank() ? DimSource::of(0, next++) : DimSource::constant(ShapedType::kDynamic));
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
    return emitOpError() << "expects a static dimension " << axis << ", found " << shapeString(getInput().getType());
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
  if (ShapedType::isDynamic(dimOf(getInput(), axis)))
    return emitOpError() << "expects a static dimension " << axis << ", found " << shapeString(getInput().getType());
  if (getKind() != "mean" && getKind() != "max")
    return emitOpError() << "expects kind \"mean\" or \"max\", found \"" << getKind() << "\"";
  return verifyResultShape(*this);
}

SmallVector<DimSource> ReduceOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims[getAxis()] = DimSource::constant(1);
  return dims;
}

LogicalResult BroadcastOp::verify() {
  Value x = getInput(), like = getLike();
  bool ok = rankOf(x) == rankOf(like);
  for (int64_t d = 0; ok && d < rankOf(x); ++d)
    ok = dimOf(x, d) == 1 || !conflict(dimOf(x, d), dimOf(like, d));
  if (!ok)
    return emitOpError() << "expects an input whose dimensions are 1 or those of " << shapeString(like.getType())
                         << ", found " << shapeString(x.getType());
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

LogicalResult LogSoftmaxOp::verify() {
  if (rankOf(getInput()) < 1)
    return emitOpError() << "expects an input of rank >= 1, found a scalar tensor";
  return verifyResultShape(*this);
}
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

//===----------------------------------------------------------------------===//
// Recurrent ops
//===----------------------------------------------------------------------===//

/// Checks a recurrence with `gates` blocks of the hidden size in its weights.
static LogicalResult verifyRecurrence(Operation *op, Value xp, Value w, Value b, Value lengths, int64_t gates) {
  if (failed(expectRank(op, "projected inputs", xp, 3, "[batch, steps, gates × hidden]")) ||
      failed(expectRank(op, "a recurrent weight", w, 2, "[gates × hidden, hidden]")) ||
      failed(expectRank(op, "a recurrent bias", b, 1, "[gates × hidden]")))
    return failure();
  int64_t hidden = dimOf(w, 1);
  if (dimOf(w, 0) != gates * hidden)
    return op->emitOpError() << "expects a recurrent weight [" << gates << " × hidden, hidden], found "
                             << shapeString(w.getType());
  if (dimOf(xp, 2) != gates * hidden || dimOf(b, 0) != gates * hidden)
    return op->emitOpError() << "expects projected inputs [batch, steps, " << gates * hidden << "] and a bias ["
                             << gates * hidden << "], found " << shapeString(xp.getType()) << " and "
                             << shapeString(b.getType());
  if (lengths)
    if (failed(expectRank(op, "lengths", lengths, 1, "[batch]")) ||
        failed(expectSameDim(op, "batch size", "lengths", lengths, 0, "the inputs", xp, 0)))
      return failure();
  return verifyResultShape(op);
}

LogicalResult LSTMOp::verify() {
  return verifyRecurrence(*this, getProjected(), getWHh(), getBHh(), getLengths(), kGates);
}
LogicalResult GRUOp::verify() {
  return verifyRecurrence(*this, getProjected(), getWHh(), getBHh(), getLengths(), kGates);
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
    return op->emitOpError() << "expects a static hidden size, found a hidden state " << shapeString(h.getType());
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
                         << shapeString(getHidden().getType()) << ", found " << shapeString(getCell().getType());
  if (getNewCell().getType() != getNewHidden().getType())
    return emitOpError("expects both results to have one type");
  return verifyResultShape(*this);
}
LogicalResult GRUCellOp::verify() {
  if (failed(verifyCell(*this, getInput(), getHidden(), getWIh(), getBIh(), getWHh(), getBHh(), kGates,
                        getTransposedWeights())))
    return failure();
  return verifyResultShape(*this);
}
/// Cells: the results have the hidden state's shape (operand 1).
SmallVector<DimSource> LSTMCellOp::getResultDimSources() { return {DimSource::of(1, 0), DimSource::of(1, 1)}; }
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
// Convolutional ops
//===----------------------------------------------------------------------===//

/// Feature maps are [B, C, H, W] with static C, H and W (B may be dynamic).
static LogicalResult expectFeatureMap(Operation *op, Value v) {
  if (failed(expectRank(op, "an input", v, 4, "[batch, channels, height, width]")))
    return failure();
  auto type = cast<RankedTensorType>(v.getType());
  for (int d = 1; d < 4; ++d)
    if (type.isDynamicDim(d))
      return op->emitOpError() << "expects static channels, height and width, found "
                               << shapeString(v.getType());
  return success();
}

static LogicalResult expectPairs(Operation *op, ArrayRef<std::pair<StringRef, ArrayRef<int64_t>>> attrs,
                                 int64_t min) {
  for (auto [name, values] : attrs) {
    if (values.size() != 2)
      return op->emitOpError() << "expects " << name << " to have 2 values (height, width), found "
                               << values.size();
    for (int64_t v : values)
      if (v < min)
        return op->emitOpError() << "expects " << name << " values >= " << min << ", found " << v;
  }
  return success();
}

/// (in + 2·padding − dilation·(kernel − 1) − 1) / stride + 1, or 0 if the window does not fit.
static int64_t windowCount(int64_t in, int64_t kernel, int64_t stride, int64_t padding, int64_t dilation) {
  int64_t span = in + 2 * padding - dilation * (kernel - 1) - 1;
  return span < 0 ? 0 : span / stride + 1;
}

LogicalResult Conv2DOp::verify() {
  Value x = getInput(), w = getWeight();
  if (failed(expectFeatureMap(*this, x)) ||
      failed(expectRank(*this, "a weight", w, 4, "[out channels, in channels / groups, kh, kw]")) ||
      failed(expectPairs(*this, {{"stride", getStride()}, {"dilation", getDilation()}}, 1)) ||
      failed(expectPairs(*this, {{"padding", getPadding()}}, 0)))
    return failure();
  int64_t groups = getGroups(), cin = dimOf(x, 1), cout = dimOf(w, 0);
  if (cin % groups != 0 || cout % groups != 0)
    return emitOpError() << "expects input channels (" << cin << ") and output channels (" << cout
                         << ") divisible by groups (" << groups << ")";
  if (dimOf(w, 1) != cin / groups)
    return emitOpError() << "expects a weight with " << cin / groups
                         << " input channels per group (input channels / groups), found "
                         << shapeString(w.getType());
  if (Value b = getBias())
    if (failed(expectRank(*this, "a bias", b, 1, "[out channels]")) ||
        failed(expectSameDim(*this, "output channels", "bias", b, 0, "weight", w, 0)))
      return failure();
  for (int d = 0; d < 2; ++d)
    if (windowCount(dimOf(x, 2 + d), dimOf(w, 2 + d), getStride()[d], getPadding()[d], getDilation()[d]) < 1)
      return emitOpError() << "expects the kernel to fit the padded input, found input "
                           << shapeString(x.getType()) << " and weight " << shapeString(w.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> Conv2DOp::getResultDimSources() {
  Value x = getInput(), w = getWeight();
  SmallVector<DimSource> dims{DimSource::of(0, 0), DimSource::of(1, 0)};
  for (int d = 0; d < 2; ++d)
    dims.push_back(DimSource::constant(
        windowCount(dimOf(x, 2 + d), dimOf(w, 2 + d), getStride()[d], getPadding()[d], getDilation()[d])));
  return dims;
}

static LogicalResult expectPoolKind(Operation *op, StringRef kind) {
  if (kind == "max" || kind == "avg")
    return success();
  return op->emitOpError() << "expects kind \"max\" or \"avg\", found \"" << kind << "\"";
}

LogicalResult Pool2DOp::verify() {
  Value x = getInput();
  if (failed(expectFeatureMap(*this, x)) || failed(expectPoolKind(*this, getKind())) ||
      failed(expectPairs(*this, {{"kernel", getKernel()}, {"stride", getStride()}}, 1)) ||
      failed(expectPairs(*this, {{"padding", getPadding()}}, 0)))
    return failure();
  for (int d = 0; d < 2; ++d) {
    if (2 * getPadding()[d] > getKernel()[d])
      return emitOpError() << "expects padding at most half the kernel, found padding " << getPadding()[d]
                           << " for kernel " << getKernel()[d];
    if (windowCount(dimOf(x, 2 + d), getKernel()[d], getStride()[d], getPadding()[d], 1) < 1)
      return emitOpError() << "expects the window to fit the padded input, found input "
                           << shapeString(x.getType()) << " and kernel " << getKernel()[d];
  }
  return verifyResultShape(*this);
}

SmallVector<DimSource> Pool2DOp::getResultDimSources() {
  Value x = getInput();
  SmallVector<DimSource> dims{DimSource::of(0, 0), DimSource::of(0, 1)};
  for (int d = 0; d < 2; ++d)
    dims.push_back(
        DimSource::constant(windowCount(dimOf(x, 2 + d), getKernel()[d], getStride()[d], getPadding()[d], 1)));
  return dims;
}

LogicalResult GlobalPoolOp::verify() {
  if (failed(expectFeatureMap(*this, getInput())) || failed(expectPoolKind(*this, getKind())))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> GlobalPoolOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1)};
}

/// Checks that each of `params` is a vector of the input's `channels`.
static LogicalResult expectChannelVectors(Operation *op, Value x, ArrayRef<std::pair<StringRef, Value>> params) {
  for (auto [name, v] : params)
    if (failed(expectRank(op, std::string("a ") + name.str(), v, 1, "[channels]")) ||
        failed(expectSameDim(op, "channel count", name, v, 0, "the input", x, 1)))
      return failure();
  return success();
}

LogicalResult BatchNormOp::verify() {
  Value x = getInput();
  if (rankOf(x) < 2)
    return emitOpError() << "expects an input of rank >= 2 [batch, channels, ...], found "
                         << shapeString(x.getType());
  if (ShapedType::isDynamic(dimOf(x, 1)))
    return emitOpError() << "expects a static channel count, found " << shapeString(x.getType());
  if (failed(expectChannelVectors(*this, x, {{"weight", getWeight()}, {"bias", getBias()},
                                              {"mean", getMean()}, {"variance", getVariance()}})))
    return failure();
  if (!(getEpsilon().convertToDouble() > 0))
    return emitOpError() << "expects a positive epsilon, found " << getEpsilon().convertToDouble();
  return verifyResultShape(*this);
}

SmallVector<DimSource> BatchNormOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult FlattenOp::verify() {
  auto type = cast<RankedTensorType>(getInput().getType());
  if (type.getRank() < 2)
    return emitOpError() << "expects an input of rank >= 2, found " << shapeString(type);
  for (int64_t d = 1; d < type.getRank(); ++d)
    if (type.isDynamicDim(d))
      return emitOpError() << "expects static dimensions after the first, found " << shapeString(type);
  return verifyResultShape(*this);
}

SmallVector<DimSource> FlattenOp::getResultDimSources() {
  auto type = cast<RankedTensorType>(getInput().getType());
  int64_t size = 1;
  for (int64_t d = 1; d < type.getRank(); ++d)
    size *= type.getDimSize(d);
  return {DimSource::of(0, 0), DimSource::constant(size)};
}

/// A 1×1 convolution given as an [out, in] matrix and its [out] bias.
static LogicalResult expectProjection(Operation *op, StringRef name, Value w, Value b, int64_t in,
                                      std::optional<int64_t> out) {
  if (failed(expectRank(op, std::string("a ") + name.str() + " weight", w, 2, "[out, in]")) ||
      failed(expectRank(op, std::string("a ") + name.str() + " bias", b, 1, "[out]")))
    return failure();
  if (dimOf(w, 1) != in || (out && dimOf(w, 0) != *out))
    return op->emitOpError() << "expects the " << name << " weight to be [" << (out ? std::to_string(*out) : "N")
                             << ", " << in << "], found " << shapeString(w.getType());
  if (dimOf(b, 0) != dimOf(w, 0))
    return op->emitOpError() << "expects the " << name << " bias to be [" << dimOf(w, 0) << "], found "
                             << shapeString(b.getType());
  return success();
}

LogicalResult ChannelAttentionOp::verify() {
  Value x = getInput();
  if (failed(expectFeatureMap(*this, x)) ||
      failed(expectProjection(*this, "first", getW1(), getB1(), dimOf(x, 1), std::nullopt)) ||
      failed(expectProjection(*this, "second", getW2(), getB2(), dimOf(getW1(), 0), dimOf(x, 1))))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> ChannelAttentionOp::getResultDimSources() { return identityDims(getInput()); }

/// CBAM spatial attention's operands: a feature map and a [1, 2, k, k] kernel with an odd k.
static LogicalResult verifySpatialAttention(Operation *op, Value x, Value w) {
  if (failed(expectFeatureMap(op, x)) || failed(expectRank(op, "a weight", w, 4, "[1, 2, k, k]")))
    return failure();
  if (dimOf(w, 0) != 1 || dimOf(w, 1) != 2 || dimOf(w, 2) != dimOf(w, 3) || dimOf(w, 2) % 2 == 0)
    return op->emitOpError() << "expects a weight [1, 2, k, k] with an odd k, found " << shapeString(w.getType());
  return verifyResultShape(op);
}

LogicalResult SpatialAttentionOp::verify() { return verifySpatialAttention(*this, getInput(), getWeight()); }

SmallVector<DimSource> SpatialAttentionOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult SpatialAttentionWeightsOp::verify() { return verifySpatialAttention(*this, getInput(), getWeight()); }

SmallVector<DimSource> SpatialAttentionWeightsOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getInput());
  dims[1] = DimSource::constant(1);
  return dims;
}

LogicalResult SelfAttention2DOp::verify() {
  Value x = getInput();
  if (failed(expectFeatureMap(*this, x)))
    return failure();
  int64_t c = dimOf(x, 1), inner = dimOf(getWq(), 0);
  if (failed(expectProjection(*this, "query", getWq(), getBq(), c, std::nullopt)) ||
      failed(expectProjection(*this, "key", getWk(), getBk(), c, inner)) ||
      failed(expectProjection(*this, "value", getWv(), getBv(), c, inner)) ||
      failed(expectProjection(*this, "output", getWo(), getBo(), inner, c)))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> SelfAttention2DOp::getResultDimSources() { return identityDims(getInput()); }

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

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

static LogicalResult verifyScale(Operation *op, std::optional<APFloat> scale) {
  if (scale && !(scale->convertToDouble() > 0 && std::isfinite(scale->convertToDouble())))
    return op->emitOpError() << "expects a positive finite scale, found " << scale->convertToDouble();
  return success();
}

LogicalResult DotAttentionOp::verify() {
  Value q = getQuery(), k = getKeys(), v = getValues();
  int64_t heads = getNumHeads();
  if (failed(expectRank(*this, "a query", q, 3, "[batch, queries, features]")) ||
      failed(expectRank(*this, "keys", k, 3, "[batch, keys, features]")) ||
      failed(expectRank(*this, "values", v, 3, "[batch, keys, features]")) ||
      failed(expectSameDim(*this, "batch size", "query", q, 0, "keys", k, 0)) ||
      failed(expectSameDim(*this, "batch size", "keys", k, 0, "values", v, 0)) ||
      failed(expectSameDim(*this, "feature size", "query", q, 2, "keys", k, 2)) ||
      failed(expectSameDim(*this, "key length", "keys", k, 1, "values", v, 1)) ||
      failed(expectStaticDivisible(*this, "the query", q, 2, heads)) ||
      failed(expectStaticDivisible(*this, "the values", v, 2, heads)) ||
      failed(verifyMask(*this, getMask(), q, k, 1)) ||
      failed(verifyScale(*this, getScale())))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> DotAttentionOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1), DimSource::of(2, 2)};
}

LogicalResult ScoreOp::verify() {
  Value q = getQuery(), k = getKeys();
  if (failed(expectRank(*this, "a query", q, 3, "[batch, queries, features]")) ||
      failed(expectRank(*this, "keys", k, 3, "[batch, keys, features]")) ||
      failed(expectSameDim(*this, "batch size", "query", q, 0, "keys", k, 0)) ||
      failed(expectSameDim(*this, "feature size", "query", q, 2, "keys", k, 2)) ||
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
  if (failed(expectRank(*this, "a query", q, 3, "[batch, queries, units]")) ||
      failed(expectRank(*this, "keys", k, 3, "[batch, keys, units]")) ||
      failed(expectSameDim(*this, "batch size", "query", q, 0, "keys", k, 0)) ||
      failed(expectSameDim(*this, "unit count", "query", q, 2, "keys", k, 2)) ||
      failed(verifyV(*this, getV(), dimOf(q, 2))))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> AdditiveScoreOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::constant(1), DimSource::of(0, 1), DimSource::of(1, 1)};
}

LogicalResult AdditiveAttentionOp::verify() {
  Value q = getQuery(), k = getKeys(), v = getValues();
  if (failed(expectRank(*this, "a query", q, 3, "[batch, queries, features]")) ||
      failed(expectRank(*this, "keys", k, 3, "[batch, keys, features]")) ||
      failed(expectRank(*this, "values", v, 3, "[batch, keys, features]")) ||
      failed(expectSameDim(*this, "batch size", "query", q, 0, "keys", k, 0)) ||
      failed(expectSameDim(*this, "batch size", "keys", k, 0, "values", v, 0)) ||
      failed(expectSameDim(*this, "key length", "keys", k, 1, "values", v, 1)) ||
      failed(verifyAttentionProjection(*this, "query", q, getQueryWeight(), getQueryBias())) ||
      failed(verifyAttentionProjection(*this, "keys", k, getKeyWeight(), getKeyBias())) ||
      failed(expectSameDim(*this, "unit count", "the query weight", getQueryWeight(), 0, "the key weight",
                           getKeyWeight(), 0)) ||
      failed(verifyV(*this, getV(), dimOf(getQueryWeight(), 0))) || failed(verifyMask(*this, getMask(), q, k, 1)))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> AdditiveAttentionOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1), DimSource::of(2, 2)};
}

LogicalResult MaskedSoftmaxOp::verify() {
  if (failed(expectRank(*this, "scores", getScores(), 4, "[batch, heads, queries, keys]")) ||
      failed(verifyMask(*this, getMask(), getScores(), getScores(), 3)))
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
// DecodeOp
//===----------------------------------------------------------------------===//

DecodeYieldOp DecodeOp::getYield() { return cast<DecodeYieldOp>(getStep().front().getTerminator()); }

/// `type` with a dimension of `size` inserted at 1: a per-step value stacked over the steps.
static RankedTensorType stacked(Type type, int64_t batch, int64_t steps) {
  auto t = cast<RankedTensorType>(type);
  SmallVector<int64_t> shape{batch, steps};
  shape.append(t.getShape().begin() + 1, t.getShape().end());
  return RankedTensorType::get(shape, t.getElementType());
}

/// Two types agree where both are known.
static bool compatible(Type a, Type b) {
  auto x = cast<RankedTensorType>(a), y = cast<RankedTensorType>(b);
  if (x.getElementType() != y.getElementType() || x.getRank() != y.getRank())
    return false;
  for (int64_t i = 0; i < x.getRank(); ++i)
    if (conflict(x.getDimSize(i), y.getDimSize(i)))
      return false;
  return true;
}

LogicalResult DecodeOp::verify() {
  StringRef mode = getMode();
  if (mode != "teacher" && mode != "greedy" && mode != "beam" && mode != "reverse")
    return emitOpError() << "expects mode \"teacher\", \"greedy\", \"beam\" or \"reverse\", found \"" << mode
                         << "\"";
  if (isSearch() == static_cast<bool>(getTeacher()))
    return emitOpError() << (getTeacher() ? "takes teacher tokens only in modes \"teacher\" and \"reverse\""
                                          : "in mode \"" + mode.str() + "\" expects teacher tokens [batch, steps]");
  if (!getSequences().empty() && !isReverse())
    return emitOpError("takes sequences only in mode \"reverse\"");
  if (isReverse())
    return verifyReverse();
  if (getInit().empty())
    return emitOpError("expects at least one carried state");
  if (getMaxLen() < 1 || getWidth() < 1 || getStart() < 0 || getStop() < 0 || getPad() < 0)
    return emitOpError() << "expects max_len >= 1, width >= 1 and non-negative start, stop and pad tokens, found "
                         << "max_len = " << getMaxLen() << ", width = " << getWidth() << ", start = " << getStart()
                         << ", stop = " << getStop() << ", pad = " << getPad();
  if (getWidth() != 1 && mode != "beam")
    return emitOpError() << "takes a beam width only in mode \"beam\", found width = " << getWidth();
  Value first = getInit().front();
  for (auto [i, init] : llvm::enumerate(getInit())) {
    if (rankOf(init) < 1)
      return emitOpError() << "expects carried state " << i << " to have a batch dimension, found a scalar";
    if (failed(expectSameDim(*this, "batch size", "carried state " + std::to_string(i), init, 0,
                             "carried state 0", first, 0)))
      return failure();
  }
  if (Value teacher = getTeacher())
    if (failed(expectRank(*this, "teacher tokens", teacher, 2, "[batch, steps]")) ||
        failed(expectSameDim(*this, "batch size", "the teacher tokens", teacher, 0, "carried state 0", first, 0)))
      return failure();

  Block &body = getStep().front();
  if (body.getNumArguments() != getInit().size() + 1)
    return emitOpError() << "expects a step body with " << getInit().size() + 1
                         << " arguments (the previous token, then one per carried state), found "
                         << body.getNumArguments();
  auto token = dyn_cast<RankedTensorType>(body.getArgument(0).getType());
  if (!token || token.getRank() != 1 || !token.getElementType().isInteger(32))
    return emitOpError() << "expects the step's first argument to be the previous token, i32 [rows], found "
                         << body.getArgument(0).getType();
  for (auto [i, init, arg] : llvm::enumerate(getInit(), getStateArguments()))
    if (!compatible(init.getType(), arg.getType()))
      return emitOpError() << "expects step argument " << i + 1 << " to have the type of carried state " << i
                           << " " << shapeString(init.getType()) << ", found " << shapeString(arg.getType());
  auto yield = dyn_cast<DecodeYieldOp>(body.back());
  if (!yield)
    return emitOpError("expects its step to end with attn.decode_yield");
  if (yield.getStates().size() != getInit().size())
    return emitOpError() << "expects the step to yield " << getInit().size() << " carried states, found "
                         << yield.getStates().size();
  for (auto [i, next, arg] : llvm::enumerate(yield.getStates(), getStateArguments()))
    if (!compatible(next.getType(), arg.getType()))
      return emitOpError() << "expects next state " << i << " to have the type of step argument " << i + 1 << " "
                           << shapeString(arg.getType()) << ", found " << shapeString(next.getType());
  if (yield.getEmits().empty())
    return emitOpError("expects the step to emit at least one value");
  for (auto [i, emit] : llvm::enumerate(yield.getEmits()))
    if (rankOf(emit) < 1)
      return emitOpError() << "expects emitted value " << i << " to have a row dimension, found a scalar";

  int64_t batch = dimOf(first, 0);
  SmallVector<Type> expected;
  if (isSearch()) {
    Value scores = yield.getEmits().front();
    if (rankOf(scores) != 2 || !cast<RankedTensorType>(scores.getType()).getElementType().isF32() ||
        ShapedType::isDynamic(dimOf(scores, 1)))
      return emitOpError() << "in mode \"" << mode << "\" expects the first emitted value to be f32 scores "
                           << "[rows, vocabulary] with a static vocabulary, found " << scores.getType();
    expected.push_back(RankedTensorType::get({batch, ShapedType::kDynamic}, IntegerType::get(getContext(), 32)));
    for (Value emit : yield.getEmits().drop_front())
      expected.push_back(stacked(emit.getType(), batch, ShapedType::kDynamic));
  } else {
    for (Value emit : yield.getEmits())
      expected.push_back(stacked(emit.getType(), batch, dimOf(getTeacher(), 1)));
  }
  if (getNumResults() != expected.size())
    return emitOpError() << "in mode \"" << mode << "\" expects " << expected.size() << " results ("
                         << (isSearch() ? "the tokens, then each emitted value after the first"
                                        : "each emitted value")
                         << ", stacked over the steps), found " << getNumResults();
  for (auto [i, result, want] : llvm::enumerate(getResults(), expected))
    if (!compatible(result.getType(), want))
      return emitOpError() << "expects result " << i << " to be " << want << ", found " << result.getType();
  return success();
}

/// Mode "reverse": a teacher-forced loop's backward pass. Its carried state may have any shape (gradient
/// accumulators); each sequence [B, T, ...] gives the step its slice [B, ...]; the results are the state,
/// then each emitted value stacked over the steps [B, T, ...].
LogicalResult DecodeOp::verifyReverse() {
  Value teacher = getTeacher();
  if (failed(expectRank(*this, "teacher tokens", teacher, 2, "[batch, steps]")))
    return failure();
  for (auto [i, seq] : llvm::enumerate(getSequences())) {
    std::string what = "sequence " + std::to_string(i);
    if (rankOf(seq) < 2)
      return emitOpError() << "expects " << what << " to be [batch, steps, ...], found " << shapeString(seq.getType());
    if (failed(expectSameDim(*this, "batch size", what, seq, 0, "the teacher tokens", teacher, 0)) ||
        failed(expectSameDim(*this, "step count", what, seq, 1, "the teacher tokens", teacher, 1)))
      return failure();
  }
  Block &body = getStep().front();
  size_t expected = 1 + getSequences().size() + getInit().size();
  if (body.getNumArguments() != expected)
    return emitOpError() << "expects a step body with " << expected
                         << " arguments (the previous token, one per sequence, one per carried state), found "
                         << body.getNumArguments();
  for (auto [i, seq, arg] : llvm::enumerate(getSequences(), getSequenceArguments())) {
    auto type = cast<RankedTensorType>(seq.getType());
    SmallVector<int64_t> shape{type.getDimSize(0)};
    shape.append(type.getShape().begin() + 2, type.getShape().end());
    if (!compatible(RankedTensorType::get(shape, type.getElementType()), arg.getType()))
      return emitOpError() << "expects step argument " << i + 1 << " to be one step of sequence " << i << ", found "
                           << shapeString(arg.getType());
  }
  auto yield = dyn_cast<DecodeYieldOp>(body.back());
  if (!yield)
    return emitOpError("expects its step to end with attn.decode_yield");
  size_t numStates = getInit().size();
  if (yield.getStates().size() != numStates || getNumResults() != numStates + yield.getEmits().size())
    return emitOpError() << "in mode \"reverse\" expects the step to yield one value per carried state ("
                         << numStates << ") and the loop to give those, then each emitted value stacked";
  for (auto [i, emit, result] : llvm::enumerate(yield.getEmits(), getResults().drop_front(numStates))) {
    if (rankOf(emit) < 1)
      return emitOpError() << "expects emitted value " << i << " to have a row dimension, found a scalar";
    Type want = stacked(emit.getType(), dimOf(teacher, 0), dimOf(teacher, 1));
    if (!compatible(result.getType(), want))
      return emitOpError() << "expects result " << numStates + i << " to be " << want << ", found "
                           << result.getType();
  }
  for (auto [i, init, arg, next, result] :
       llvm::enumerate(getInit(), getStateArguments(), yield.getStates(), getResults().take_front(numStates)))
    if (!compatible(init.getType(), arg.getType()) || !compatible(init.getType(), next.getType()) ||
        !compatible(init.getType(), result.getType()))
      return emitOpError() << "expects carried state " << i << " to keep the type "
                           << shapeString(init.getType()) << " as step argument, next state and result";
  return success();
}

//===----------------------------------------------------------------------===//
// KernelOp
//===----------------------------------------------------------------------===//

LogicalResult KernelOp::verify() {
  Block &body = getBody().front();
  if (body.getNumArguments() != getInputs().size())
    return emitOpError() << "expects one body argument per input (" << getInputs().size() << "), found "
                         << body.getNumArguments();
  for (auto [i, input, arg] : llvm::enumerate(getInputs(), body.getArguments()))
    if (input.getType() != arg.getType())
      return emitOpError() << "expects body argument " << i << " to have the type of input " << i << " ("
                           << input.getType() << "), found " << arg.getType();
  auto yield = body.empty() ? YieldOp() : dyn_cast<YieldOp>(body.back());
  if (!yield)
    return emitOpError("expects its body to end with attn.yield");
  if (yield.getValues().getTypes() != getResultTypes())
    return emitOpError() << "expects attn.yield to return the kernel's result types " << getResultTypes()
                         << ", found " << yield.getValues().getTypes();
  for (Operation &op : body.without_terminator())
    if (!isa<ShapedOpInterface>(op))
      return op.emitOpError("cannot be part of an attn.kernel: only attn computing ops can be fused");
  return success();
}

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
    return emitOpError() << "expects a gradient [..., N] and an input [..., K] with the same leading dimensions "
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
    return emitOpError() << "expects an input and a gradient of one shape, found " << shapeString(getInput().getType())
                         << " and " << shapeString(getGrad().getType());
  StringRef kind = getKind();
  if (kind != "relu" && kind != "tanh" && kind != "sigmoid" && kind != "gelu")
    return emitOpError() << "expects kind \"relu\", \"tanh\", \"sigmoid\" or \"gelu\", found \"" << kind << "\"";
  return verifyResultShape(*this);
}

SmallVector<DimSource> ActivationGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult ScaleOp::verify() { return success(); }

SmallVector<DimSource> ScaleOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult SoftmaxGradOp::verify() {
  if (rankOf(getInput()) < 1 || !sameLeading(getInput(), getGrad(), 0))
    return emitOpError() << "expects an input and a gradient of one shape, found " << shapeString(getInput().getType())
                         << " and " << shapeString(getGrad().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> SoftmaxGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult CrossEntropyGradOp::verify() {
  Value logits = getLogits(), targets = getTargets();
  bool ok = rankOf(logits) >= 2 && rankOf(targets) == rankOf(logits) - 1;
  for (int64_t d = 0; ok && d < rankOf(targets); ++d)
    ok = !conflict(dimOf(logits, d), dimOf(targets, d));
  if (!ok || ShapedType::isDynamic(dimOf(logits, rankOf(logits) - 1)))
    return emitOpError() << "expects logits [..., V] with a static V and targets with their leading dimensions, "
                         << "found " << shapeString(logits.getType()) << " and " << shapeString(targets.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> CrossEntropyGradOp::getResultDimSources() { return identityDims(getLogits()); }

LogicalResult MseGradOp::verify() {
  if (!sameLeading(getLhs(), getRhs(), 0))
    return emitOpError() << "expects two tensors of one shape, found " << shapeString(getLhs().getType()) << " and "
                         << shapeString(getRhs().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> MseGradOp::getResultDimSources() { return identityDims(getLhs()); }

LogicalResult EmbeddingGradOp::verify() {
  Value ids = getTokens(), dy = getGrad();
  auto type = cast<RankedTensorType>(getType());
  if (rankOf(dy) != rankOf(ids) + 1 || !sameLeading(dy, dy, 0) || type.getRank() != 2 ||
      type.isDynamicDim(0) || conflict(type.getDimSize(1), dimOf(dy, rankOf(dy) - 1)))
    return emitOpError() << "expects ids [...], a gradient [..., E] and a result [V, E] with a static V, found "
                         << shapeString(ids.getType()) << ", " << shapeString(dy.getType()) << " and "
                         << shapeString(type);
  return success();
}

SmallVector<DimSource> EmbeddingGradOp::getResultDimSources() {
  return {DimSource::constant(cast<RankedTensorType>(getType()).getDimSize(0)),
          DimSource::of(1, rankOf(getGrad()) - 1)};
}

LogicalResult LayerNormGradOp::verify() {
  if (!sameLeading(getInput(), getGrad(), 0) || ShapedType::isDynamic(dimOf(getInput(), rankOf(getInput()) - 1)))
    return emitOpError() << "expects an input and a gradient of one shape with a static last dimension, found "
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
  if (failed(verifyRecurrence(*this, xp, getWHh(), getBHh(), getLengths(), gates)))
    return failure();
  for (auto [what, v] : {std::pair{"result", getHidden()}, {"result's gradient", getGrad()}})
    if (rankOf(v) != 3 || !sameLeading(v, xp, 1) || dimOf(v, 2) != dimOf(getWHh(), 1))
      return emitOpError() << "expects the " << what << " [batch, steps, " << dimOf(getWHh(), 1) << "], found "
                           << shapeString(v.getType());
  return success();
}

SmallVector<DimSource> RecurrenceGradOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1), DimSource::constant(4 * dimOf(getWHh(), 1))};
}

LogicalResult RecurrenceWeightGradOp::verify() {
  Value dg = getGrad(), h = getHidden();
  if (rankOf(dg) != 3 || rankOf(h) != 3 || !sameLeading(dg, h, 1) || ShapedType::isDynamic(dimOf(dg, 2)) ||
      ShapedType::isDynamic(dimOf(h, 2)))
    return emitOpError() << "expects gate gradients [batch, steps, G] and hidden states [batch, steps, H] with "
                         << "static G and H, found " << shapeString(dg.getType()) << " and "
                         << shapeString(h.getType());
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
  if (lstm ? (wrt != "gates" && wrt != "state") : (wrt != "input_gates" && wrt != "hidden_gates" && wrt != "state"))
    return emitOpError() << "expects wrt " << (lstm ? "\"gates\" or \"state\"" : "\"input_gates\", \"hidden_gates\" or \"state\"")
                         << " for cell \"" << cell << "\", found \"" << wrt << "\"";
  if (getCellGrad() && !lstm)
    return emitOpError("takes a cell state gradient only for an LSTM");
  Value state = getState();
  int64_t gates = (lstm ? LSTMCellOp::kGates : GRUCellOp::kGates) * dimOf(state, 1);
  for (Value g : {getInputGates(), getHiddenGates()})
    if (rankOf(g) != 2 || dimOf(g, 1) != gates || !sameLeading(g, state, 1))
      return emitOpError() << "expects gate projections [rows, " << gates << "] for a state "
                           << shapeString(state.getType()) << ", found " << shapeString(g.getType());
  for (Value g : {getGrad(), getCellGrad()})
    if (g && g.getType() != state.getType())
      return emitOpError() << "expects state gradients of the state's shape " << shapeString(state.getType())
                           << ", found " << shapeString(g.getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> CellGradOp::getResultDimSources() {
  if (getWrt() != "state")
    return identityDims(getInputGates());
  return {DimSource::of(2, 0), DimSource::of(2, 1)};
}

/// `wrt` is one of `allowed`.
static LogicalResult expectOneOf(Operation *op, StringRef what, StringRef value, ArrayRef<StringRef> allowed) {
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

LogicalResult ReduceGradOp::verify() {
  if (failed(expectOneOf(*this, "kind", getKind(), {"mean", "max"})))
    return failure();
  int64_t axis = static_cast<int64_t>(getAxis());
  if (axis < 0 || axis >= rankOf(getInput()) || rankOf(getGrad()) != rankOf(getInput()))
    return emitOpError() << "expects an axis of the input and a gradient of its rank, found axis " << axis
                         << " for " << shapeString(getInput().getType()) << " and " << shapeString(getGrad().getType());
  return verifyResultShape(*this);
}
SmallVector<DimSource> ReduceGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult BroadcastGradOp::verify() {
  if (rankOf(getGrad()) != rankOf(getInput()))
    return emitOpError() << "expects a gradient of the input's rank, found " << shapeString(getGrad().getType())
                         << " for " << shapeString(getInput().getType());
  return verifyResultShape(*this);
}
SmallVector<DimSource> BroadcastGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult SliceGradOp::verify() {
  int64_t axis = static_cast<int64_t>(getAxis());
  if (axis < 0 || axis >= rankOf(getInput()) || rankOf(getGrad()) != rankOf(getInput()))
    return emitOpError() << "expects an axis of the input and a gradient of its rank, found axis " << axis
                         << " for " << shapeString(getInput().getType()) << " and " << shapeString(getGrad().getType());
  return verifyResultShape(*this);
}
SmallVector<DimSource> SliceGradOp::getResultDimSources() { return identityDims(getInput()); }

LogicalResult BatchNormGradOp::verify() {
  if (failed(expectOneOf(*this, "wrt", getWrt(), {"input", "weight", "bias"})))
    return failure();
  if (!sameLeading(getInput(), getGrad(), 0))
    return emitOpError() << "expects an input and a gradient of one shape, found " << shapeString(getInput().getType())
                         << " and " << shapeString(getGrad().getType());
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
  return verifyResultShape(*this);
}
SmallVector<DimSource> BatchNormTrainOp::getResultDimSources() {
  if (getStatistic() == "output")
    return identityDims(getInput());
  return {DimSource::of(3, 0)};
}

#define GET_OP_CLASSES
#include "attn/Dialect/AttnOps.cpp.inc"

std::pair<Value, unsigned> mlir::attn::traceDimension(Value v, unsigned dim, function_ref<bool(Value)> stop) {
  for (;;) {
    if (stop(v))
      return {v, dim};
    if (auto arg = dyn_cast<BlockArgument>(v)) {
      if (auto kernel = dyn_cast<KernelOp>(arg.getOwner()->getParentOp())) {
        v = kernel.getInputs()[arg.getArgNumber()];
        continue;
      }
      return {v, dim};
    }
    Operation *op = v.getDefiningOp();
    if (auto kernel = dyn_cast<KernelOp>(op)) {
      v = kernel.getBody().front().getTerminator()->getOperand(cast<OpResult>(v).getResultNumber());
      continue;
    }
    auto shaped = dyn_cast<ShapedOpInterface>(op);
    if (!shaped)
      return {v, dim};
    DimSource src = shaped.getResultDimSources()[dim];
    v = op->getOperand(src.operand); // dynamic dimensions never come from constants
    dim = src.dim;
  }
}
