// The gradient of a teacher-forced decoder: its forward loop stacks what each step read and computed, and a
// reverse loop over the same steps runs the step's gradient rules on those stacks; gradients that sum over
// the steps (weight gradients, attention seen from its keys and values) are taken once after it.
#include "GradientBuilder.h"
#include "attn/Transforms/KernelFormation.h"

#include <functional>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::autodiff;

namespace {

/// A step value's type [N, ...] stacked over the steps: [batch, steps, ...].
RankedTensorType stackedType(Type step, int64_t batch, int64_t steps) {
  auto type = cast<RankedTensorType>(step);
  SmallVector<int64_t> shape{batch, steps};
  shape.append(type.getShape().begin() + 1, type.getShape().end());
  return RankedTensorType::get(shape, type.getElementType());
}

/// A decoder of the same steps emitting `emits` (stacked into results of `types`), replacing `decode`.
DecodeOp reemit(DecodeOp decode, ArrayRef<Type> types, ArrayRef<Value> emits) {
  OpBuilder b(decode);
  auto replacement = DecodeOp::create(b, decode.getLoc(), types, decode.getInit(), decode.getTeacher(),
                                      ValueRange(), decode.getModeAttr(), decode.getStartAttr(),
                                      decode.getStopAttr(), decode.getPadAttr(), decode.getMaxLenAttr(),
                                      decode.getWidthAttr(), decode.getLengthPenaltyAttr());
  replacement.getStep().takeBody(decode.getStep());
  replacement.getYield().getEmitsMutable().assign(emits);
  return replacement;
}

} // namespace

LogicalResult GradientBuilder::decodeRule(DecodeOp d) {
  if (d.getMode() != "teacher")
    return d.emitOpError() << "in mode \"" << d.getMode()
                           << "\" is a search, which has no gradient: train with teacher(...) decoding";
  Location loc = d.getLoc();
  const SavedSteps &steps = saved.at(d);
  unsigned numStates = d.getInit().size(), numEmits = steps.numEmits;
  Region &step = d.getStep();
  llvm::SetVector<Value> captures;
  step.walk([&](Operation *op) {
    for (Value v : op->getOperands())
      if (!step.isAncestor(v.getParentRegion()) && needed.contains(v))
        captures.insert(v);
  });

  SmallVector<Value> init, sequences;
  for (Value s : d.getInit())
    init.push_back(zerosLike(s));
  for (Value c : captures)
    init.push_back(zerosLike(c));
  for (BlockArgument state : d.getStateArguments())
    sequences.push_back(d.getResult(steps.result.at(state)));
  SmallVector<unsigned> emitted; // the emitted values that have a gradient
  for (unsigned i = 0; i < numEmits; ++i)
    if (Value g = gradOf(d.getResult(i))) {
      sequences.push_back(g);
      emitted.push_back(i);
    }
  auto reverse =
      DecodeOp::create(b, loc, ValueRange(init).getTypes(), init, d.getTeacher(), sequences,
                       b.getStringAttr("reverse"), d.getStartAttr(), d.getStopAttr(), d.getPadAttr(),
                       d.getMaxLenAttr(), d.getWidthAttr(), d.getLengthPenaltyAttr());
  Block *body = new Block();
  reverse.getStep().push_back(body);
  Block &forward = step.front();
  Value token = body->addArgument(d.getTokenArgument().getType(), loc);
  SmallVector<Value> slices, carried;
  for (Value seq : sequences) {
    auto type = cast<RankedTensorType>(seq.getType());
    SmallVector<int64_t> shape{type.getDimSize(0)};
    shape.append(type.getShape().begin() + 2, type.getShape().end());
    slices.push_back(body->addArgument(RankedTensorType::get(shape, type.getElementType()), loc));
  }
  for (Value v : init)
    carried.push_back(body->addArgument(v.getType(), loc));

  OpBuilder::InsertionGuard guard(b);
  b.setInsertionPointToStart(body);
  IRMapping mapping;
  mapping.map(d.getTokenArgument(), token);
  mapping.map(d.getStateArguments(), ArrayRef(slices).take_front(numStates));
  for (Operation &op : forward.without_terminator())
    b.clone(op, mapping);

  llvm::SetVector<Value> inner(needed.begin(), needed.end());
  inner.insert(slices.begin(), slices.begin() + numStates);
  for (Operation &op : body->getOperations())
    if (llvm::any_of(op.getOperands(), [&](Value v) { return inner.contains(v); }))
      inner.insert(op.result_begin(), op.result_end());
  GradientBuilder grads(b, inner, saved);
  auto yield = cast<DecodeYieldOp>(forward.getTerminator());
  for (unsigned i = 0; i < numStates; ++i)
    grads.accumulate(mapping.lookup(yield.getStates()[i]), carried[i]);
  for (auto [k, i] : llvm::enumerate(emitted))
    grads.accumulate(mapping.lookup(yield.getEmits()[i]), slices[numStates + k]);
  SmallVector<Operation *> ops;
  for (Operation &op : body->getOperations())
    ops.push_back(&op);
  for (Operation *op : llvm::reverse(ops))
    if (llvm::any_of(op->getResults(), [&](Value r) { return grads.gradOf(r); }))
      if (failed(grads.propagate(op)))
        return failure();

  // The forward values the rules read come from the forward pass: last op first, so that a value only
  // the recomputation of a later one read is not saved.
  for (Operation &op : llvm::reverse(forward.without_terminator())) {
    if (op.getNumResults() == 0)
      continue;
    Operation *clone = mapping.lookup(op.getResult(0)).getDefiningOp();
    if (!isReindexing(&op))
      for (auto [value, recomputed] : llvm::zip(op.getResults(), clone->getResults())) {
        auto at = steps.result.find(value);
        if (recomputed.use_empty() || at == steps.result.end())
          continue;
        Value stacked = d.getResult(at->second);
        unsigned position = 1 + reverse.getSequences().size();
        reverse.getSequencesMutable().append(stacked);
        recomputed.replaceAllUsesWith(body->insertArgument(position, recomputed.getType(), loc));
      }
    if (clone->use_empty())
      clone->erase();
  }

  // Gradients of loop invariants that sum over rows (a dense layer's weight and bias) are taken once
  // after the loop, over every step's rows, from stacks of their operands, not step by step.
  SmallVector<Value> sequenceList(reverse.getSequences()), emits;
  llvm::DenseMap<Value, Value> stacks; // step value → its stack over the steps (an emitted one: null)
  for (auto [k, seq] : llvm::enumerate(sequenceList))
    stacks[body->getArgument(1 + k)] = seq;
  auto fromStep = [&](Value v) { // a value of the step's rows
    return stacks.count(v) || llvm::is_contained(ArrayRef(carried).take_front(numStates), v) ||
           (v.getDefiningOp() && v.getDefiningOp()->getBlock() == body);
  };
  // A value the step only reindexes from forward stacks (a dense layer's concatenated input) is
  // reindexed once after the loop, from the whole stacks, rather than redone and stacked every step.
  std::function<bool(Value)> fromStacks = [&](Value v) {
    if (stacks.lookup(v))
      return true;
    Operation *op = v.getDefiningOp();
    auto axis = op ? op->getAttrOfType<IntegerAttr>("axis") : IntegerAttr();
    auto transpose = dyn_cast_or_null<TransposeOp>(op);
    bool rowsStay = transpose ? transpose.getPermutation().front() == 0 : (!axis || axis.getInt() > 0);
    return op && op->getBlock() == body && isa<ConcatOp, ExpandDimsOp, SqueezeOp, SliceOp, TransposeOp>(op) &&
           rowsStay && llvm::all_of(op->getOperands(), fromStacks);
  };
  SmallVector<Value> reindexed; // such values, in the order they are first read
  SmallVector<SmallVector<Operation *>> afterLoop(captures.size());
  SmallVector<Value> next, carriedInit;
  for (unsigned i = 0; i < numStates; ++i) {
    Value g = grads.gradOf(slices[i]);
    next.push_back(g ? g : zerosLike(carried[i]));
    carriedInit.push_back(init[i]);
  }
  SmallVector<int> resultOf(captures.size(), -1); // the loop result accumulating capture j, if any
  for (auto [j, c] : llvm::enumerate(captures)) {
    SmallVector<Value> terms, pending;
    if (Value g = grads.gradOf(c))
      pending.push_back(g);
    while (!pending.empty()) { // the sum's terms
      Value v = pending.pop_back_val();
      if (auto add = v.getDefiningOp<AddOp>(); add && add->getBlock() == body) {
        pending.append({add.getLhs(), add.getRhs()});
        continue;
      }
      Operation *term = v.getDefiningOp();
      if ((isa_and_nonnull<DenseGradWeightOp, SumLeadingOp>(term) || overOneKey(term)) &&
          llvm::all_of(term->getOperands(), fromStep)) {
        afterLoop[j].push_back(term);
        for (Value operand : term->getOperands()) {
          if (stacks.lookup(operand) || llvm::is_contained(reindexed, operand))
            continue;
          if (fromStacks(operand))
            reindexed.push_back(operand);
          else if (stacks.try_emplace(operand, Value()).second)
            emits.push_back(operand);
        }
      } else {
        terms.push_back(v);
      }
    }
    if (terms.empty())
      continue; // nothing to carry
    Value acc = carried[numStates + j];
    for (Value term : terms)
      acc = AddOp::create(b, loc, acc.getType(), acc, term);
    resultOf[j] = next.size();
    next.push_back(acc);
    carriedInit.push_back(init[numStates + j]);
  }
  DecodeYieldOp::create(b, loc, next, emits);
  for (unsigned j = captures.size(); j-- > 0;)
    if (resultOf[j] < 0)
      body->eraseArgument(cast<BlockArgument>(carried[numStates + j]).getArgNumber());

  // The loop again, carrying only what it adds to and giving the emitted values' stacks.
  SmallVector<Type> types(ValueRange(carriedInit).getTypes());
  auto teacher = cast<RankedTensorType>(d.getTeacher().getType());
  for (Value e : emits)
    types.push_back(stackedType(e.getType(), teacher.getDimSize(0), teacher.getDimSize(1)));
  b.setInsertionPoint(reverse);
  auto loop = DecodeOp::create(b, loc, types, carriedInit, d.getTeacher(), sequenceList,
                               reverse.getModeAttr(), d.getStartAttr(), d.getStopAttr(), d.getPadAttr(),
                               d.getMaxLenAttr(), d.getWidthAttr(), d.getLengthPenaltyAttr());
  loop.getStep().takeBody(reverse.getStep());
  reverse.erase();
  for (auto [k, e] : llvm::enumerate(emits))
    stacks[e] = loop.getResult(carriedInit.size() + k);

  b.setInsertionPointAfter(loop);
  std::function<Value(Value)> restack = [&](Value v) { // v (fromStacks) over every step
    if (Value stacked = stacks.lookup(v))
      return stacked;
    Operation *op = v.getDefiningOp();
    IRMapping operands;
    for (Value operand : op->getOperands())
      operands.map(operand, restack(operand));
    Operation *whole = b.clone(*op, operands);
    if (auto axis = op->getAttrOfType<IntegerAttr>("axis")) // the steps' axis comes after the rows'
      whole->setAttr("axis", b.getI64IntegerAttr(axis.getInt() + 1));
    if (auto transpose = dyn_cast<TransposeOp>(whole)) {
      SmallVector<int64_t> order{0, 1};
      for (int64_t axis : transpose.getPermutation().drop_front())
        order.push_back(axis + 1);
      transpose.setPermutation(order);
    }
    whole->getResult(0).setType(stackedType(v.getType(), teacher.getDimSize(0), teacher.getDimSize(1)));
    return stacks[v] = whole->getResult(0);
  };
  for (Value v : reindexed)
    restack(v);
  for (unsigned i = 0; i < numStates; ++i)
    accumulate(d.getInit()[i], loop.getResult(i));
  for (auto [j, c] : llvm::enumerate(captures)) {
    Value total = resultOf[j] >= 0 ? loop.getResult(resultOf[j]) : Value();
    for (Operation *term : afterLoop[j]) {
      IRMapping stacked;
      for (Value operand : term->getOperands())
        stacked.map(operand, stacks.lookup(operand));
      Value sum = overAllSteps(term, stacked);
      total = total ? AddOp::create(b, loc, total.getType(), total, sum).getResult() : sum;
    }
    if (total)
      accumulate(c, total);
  }
  return success();
}

bool GradientBuilder::overOneKey(Operation *op) {
  auto sum = dyn_cast_or_null<WeightedSumOp>(op);
  return sum && cast<RankedTensorType>(sum.getWeights().getType()).getShape().back() == 1;
}

Value GradientBuilder::overAllSteps(Operation *term, IRMapping &stacked) {
  Location loc = term->getLoc();
  if (auto dw = dyn_cast<DenseGradWeightOp>(term))
    return weightGrad(stacked.lookup(dw.getGrad()), stacked.lookup(dw.getInput()), loc);
  if (auto sum = dyn_cast<WeightedSumOp>(term)) {
    // The steps become the keys: [B, T, H, Sq, 1] weights → [B, H, Sq, T], [B, T, 1, Dv] values →
    // [B, T, Dv].
    Value weights = stacked.lookup(sum.getWeights()), values = stacked.lookup(sum.getValues());
    ArrayRef<int64_t> w = cast<RankedTensorType>(weights.getType()).getShape();
    ArrayRef<int64_t> v = cast<RankedTensorType>(values.getType()).getShape();
    Type f32 = b.getF32Type();
    weights = SqueezeOp::create(b, loc, RankedTensorType::get(w.drop_back(), f32), weights,
                                b.getI64IntegerAttr(4));
    weights = TransposeOp::create(b, loc, RankedTensorType::get({w[0], w[2], w[3], w[1]}, f32), weights,
                                  b.getDenseI64ArrayAttr({0, 2, 3, 1}));
    values = SqueezeOp::create(b, loc, RankedTensorType::get({v[0], v[1], v[3]}, f32), values,
                               b.getI64IntegerAttr(2));
    return WeightedSumOp::create(b, loc, sum.getType(), weights, values);
  }
  return b.clone(*term, stacked)->getResult(0);
}

Value GradientBuilder::weightGrad(Value dy, Value x, Location loc) {
  auto last = [](Value v) { return cast<RankedTensorType>(v.getType()).getShape().back(); };
  auto type = RankedTensorType::get({last(dy), last(x)}, b.getF32Type());
  if (auto concat = x.getDefiningOp<ConcatOp>()) {
    Value lhs = weightGrad(dy, concat.getLhs(), loc);
    return ConcatOp::create(b, loc, type, lhs, weightGrad(dy, concat.getRhs(), loc));
  }
  return DenseGradWeightOp::create(b, loc, type, dy, x);
}

void autodiff::saveSteps(DecodeOp decode, SavedDecoders &saved) {
  SmallVector<Type> types(decode.getResultTypes());
  SmallVector<Value> emits(decode.getYield().getEmits());
  int64_t batch = cast<RankedTensorType>(decode.getInit().front().getType()).getDimSize(0);
  int64_t steps = cast<RankedTensorType>(decode.getTeacher().getType()).getDimSize(1);
  SavedSteps saving;
  saving.numEmits = emits.size();
  auto save = [&](Value v) {
    auto type = dyn_cast<RankedTensorType>(v.getType());
    if (!type || type.getRank() < 1)
      return;
    saving.result[v] = types.size();
    types.push_back(stackedType(type, batch, steps));
    emits.push_back(v);
  };
  for (BlockArgument state : decode.getStateArguments())
    save(state);
  for (Operation &op : decode.getStep().front().without_terminator())
    if (!isReindexing(&op))
      for (Value v : op.getResults())
        save(v);
  DecodeOp stacking = reemit(decode, types, emits);
  decode.replaceAllUsesWith(stacking.getResults().take_front(decode.getNumResults()));
  decode.erase();
  saved[stacking] = std::move(saving);
}

void autodiff::dropUnread(DecodeOp decode) {
  SmallVector<Type> types;
  SmallVector<Value> emits, kept;
  for (auto [result, emit] : llvm::zip(decode.getResults(), decode.getYield().getEmits()))
    if (!result.use_empty() || (emits.empty() && result == decode.getResults().back())) {
      types.push_back(result.getType());
      emits.push_back(emit);
      kept.push_back(result);
    }
  if (kept.size() == decode.getNumResults())
    return;
  DecodeOp pruned = reemit(decode, types, emits);
  for (auto [old, result] : llvm::zip(kept, pruned.getResults()))
    old.replaceAllUsesWith(result);
  decode.erase();
}
