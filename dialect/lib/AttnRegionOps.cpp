// Verifiers of the attn ops that hold a region, a fused kernel and a decoder loop, and the tracing of a
// dimension back through kernel boundaries, which only these ops interrupt.
#include "attn/Dialect/AttnOps.h"

#include "OpHelpers.h"

#include "llvm/ADT/STLExtras.h"

#include <string>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

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
    return emitOpError() << (getTeacher()
                                 ? "takes teacher tokens only in modes \"teacher\" and \"reverse\""
                                 : "in mode \"" + mode.str() + "\" expects teacher tokens [batch, steps]");
  if (!getSequences().empty() && !isReverse())
    return emitOpError("takes sequences only in mode \"reverse\"");
  if (getPositioned() && !isSearch())
    return emitOpError() << "gives the step its position only in modes \"greedy\" and \"beam\" (a "
                         << "teacher-forced decoder that reads positions runs its steps at once)";
  if (isReverse())
    return verifyReverse();
  if (getInit().empty())
    return emitOpError("expects at least one carried state");
  if (getMaxLen() < 1 || getWidth() < 1 || getStart() < 0 || getStop() < 0 || getPad() < 0)
    return emitOpError()
           << "expects max_len >= 1, width >= 1 and non-negative start, stop and pad tokens, found "
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
        failed(expectSameDim(*this, "batch size", "the teacher tokens", teacher, 0, "carried state 0", first,
                             0)))
      return failure();

  Block &body = getStep().front();
  unsigned leading = getNumLeadingArguments();
  if (body.getNumArguments() != getInit().size() + leading)
    return emitOpError() << "expects a step body with " << getInit().size() + leading
                         << " arguments (the previous token" << (getPositioned() ? ", the position" : "")
                         << ", then one per carried state), found " << body.getNumArguments();
  for (unsigned i = 0; i < leading; ++i) {
    auto arg = dyn_cast<RankedTensorType>(body.getArgument(i).getType());
    if (!arg || arg.getRank() != 1 || !arg.getElementType().isInteger(32))
      return emitOpError() << "expects the step's "
                           << (i == 0 ? "first argument to be the previous token"
                                      : "second argument to be its position")
                           << ", i32 [rows], found " << body.getArgument(i).getType();
  }
  for (auto [i, init, arg] : llvm::enumerate(getInit(), getStateArguments()))
    if (!compatible(init.getType(), arg.getType()))
      return emitOpError() << "expects step argument " << i + leading << " to have the type of carried state "
                           << i << " " << shapeString(init.getType()) << ", found "
                           << shapeString(arg.getType());
  auto yield = dyn_cast<DecodeYieldOp>(body.back());
  if (!yield)
    return emitOpError("expects its step to end with attn.decode_yield");
  if (yield.getStates().size() != getInit().size())
    return emitOpError() << "expects the step to yield " << getInit().size() << " carried states, found "
                         << yield.getStates().size();
  for (auto [i, next, arg] : llvm::enumerate(yield.getStates(), getStateArguments()))
    if (!compatible(next.getType(), arg.getType()))
      return emitOpError() << "expects next state " << i << " to have the type of step argument "
                           << i + leading << " " << shapeString(arg.getType()) << ", found "
                           << shapeString(next.getType());
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
    expected.push_back(
        RankedTensorType::get({batch, ShapedType::kDynamic}, IntegerType::get(getContext(), 32)));
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
      return emitOpError() << "expects " << what << " to be [batch, steps, ...], found "
                           << shapeString(seq.getType());
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
      return emitOpError() << "expects step argument " << i + 1 << " to be one step of sequence " << i
                           << ", found " << shapeString(arg.getType());
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
// Dimension tracing
//===----------------------------------------------------------------------===//

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
