// attn-autodiff: reverse-mode differentiation by gradient rules on the dialect. For a model function that
// names its loss, builds `<model>_grad`: the same inputs, the forward computation, and the gradient of the
// loss with respect to every parameter that reaches it. Gradients are expressed with forward primitives
// (a dense layer's input gradient is a dense layer through the transposed weight) and the gradient
// primitives of AttnGradOps.td, so the backward graph is fused and lowered like the forward one.
#include "GradientBuilder.h"
#include "attn/Transforms/KernelFormation.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/MapVector.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/TypeSwitch.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNAUTODIFF
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::autodiff;

LogicalResult GradientBuilder::propagate(Operation *op) {
  if (op->hasAttr("transposed_weight") || op->hasAttr("transposed_weights"))
    return op->emitOpError("reads its weights transposed, which attn-transpose-step-weights does after "
                           "attn-autodiff: the gradient rules take them as [out, in]");
  Value dy = op->getNumResults() == 1 ? gradOf(op->getResult(0)) : Value();
  Location loc = op->getLoc();
  auto typeOf = [](Value v) { return v.getType(); };
  return llvm::TypeSwitch<Operation *, LogicalResult>(op)
      .Case([&](ParamOp) { return success(); })
      // A loss's gradient op is its gradient for d(loss) = 1, scaled by dy where the loss is a term of
      // a larger one.
      .Case([&](CrossEntropyOp ce) {
        accumulate(ce.getLogits(),
                   scaledBy(dy, ce.getResult(),
                            CrossEntropyGradOp::create(b, loc, typeOf(ce.getLogits()), ce.getLogits(),
                                                       ce.getTargets(), ce.getIgnoreIndexAttr(),
                                                       ce.getLabelSmoothingAttr())));
        return success();
      })
      .Case([&](MseOp m) {
        Value da = scaledBy(dy, m.getResult(),
                            MseGradOp::create(b, loc, typeOf(m.getLhs()), m.getLhs(), m.getRhs()));
        accumulate(m.getLhs(), da);
        if (needed.contains(m.getRhs()))
          accumulate(m.getRhs(), negated(da));
        return success();
      })
      .Case([&](DenseOp d) {
        denseRule(d.getInput(), d.getWeight(), d.getBias(), dy);
        return success();
      })
      .Case([&](LSTMCellOp c) {
        Value dh = gradOf(c.getNewHidden());
        if (!dh)
          dh = zerosLike(c.getHidden());
        // The pre-activations are the forward step's (in a decoder's reverse loop, read back from its
        // stack), not computed again.
        Value gates = c.getGates(), dc = gradOf(c.getNewCell());
        auto cellGrad = [&](Type type, StringRef wrt) {
          return CellGradOp::create(b, loc, type, ValueRange{gates}, c.getCell(), dh, dc,
                                    b.getStringAttr("lstm"), b.getStringAttr(wrt));
        };
        if (needed.contains(c.getCell()))
          accumulate(c.getCell(), cellGrad(typeOf(c.getCell()), "state"));
        Value dg = cellGrad(gates.getType(), "gates");
        denseRule(c.getInput(), c.getWIh(), c.getBIh(), dg);
        denseRule(c.getHidden(), c.getWHh(), c.getBHh(), dg);
        return success();
      })
      .Case([&](GRUCellOp c) {
        auto [xg, hg] =
            gateProjections(c.getInput(), c.getHidden(), c.getWIh(), c.getBIh(), c.getWHh(), c.getBHh());
        auto cellGrad = [&](Type type, StringRef wrt) {
          return CellGradOp::create(b, loc, type, ValueRange{xg, hg}, c.getHidden(), dy, Value(),
                                    b.getStringAttr("gru"), b.getStringAttr(wrt));
        };
        if (needed.contains(c.getHidden()))
          accumulate(c.getHidden(), cellGrad(typeOf(c.getHidden()), "state"));
        denseRule(c.getInput(), c.getWIh(), c.getBIh(), cellGrad(xg.getType(), "input_gates"));
        denseRule(c.getHidden(), c.getWHh(), c.getBHh(), cellGrad(hg.getType(), "hidden_gates"));
        return success();
      })
      .Case<LSTMOp, GRUOp>([&](Operation *op) {
        bool lstm = isa<LSTMOp>(op);
        Value xp = op->getOperand(0), w = op->getOperand(1), bias = op->getOperand(2);
        Value lengths = op->getNumOperands() > 3 ? op->getOperand(3) : Value();
        UnitAttr reverse = op->getAttrOfType<UnitAttr>("reverse");
        auto xpType = cast<RankedTensorType>(xp.getType());
        int64_t hidden = cast<RankedTensorType>(w.getType()).getDimSize(1);
        auto gradType = RankedTensorType::get({xpType.getDimSize(0), xpType.getDimSize(1), 4 * hidden},
                                              xpType.getElementType());
        // Only h has a gradient: the second result, steps, exists for this rule to read.
        Value h = op->getResult(0), dh = gradOf(h);
        Value dg = RecurrenceGradOp::create(b, loc, gradType, xp, w, bias, h, op->getResult(1), dh, lengths,
                                            b.getStringAttr(lstm ? "lstm" : "gru"), reverse);
        // GRU: [0, 3H) are the projected inputs' gradients, r and z with n's hidden side the
        // recurrent ones.
        Value dProjected = lstm ? dg : slice(dg, 0, 3 * hidden);
        Value dHidden = lstm ? dg
                             : ConcatOp::create(b, loc, typeOf(xp), slice(dg, 0, 2 * hidden),
                                                slice(dg, 3 * hidden, hidden)).getResult();
        accumulate(xp, dProjected);
        accumulate(w,
                   RecurrenceWeightGradOp::create(b, loc, typeOf(w), dHidden, h, reverse));
        accumulate(bias, SumLeadingOp::create(b, loc, typeOf(bias), dHidden));
        return success();
      })
      .Case([&](DecodeOp d) { return decodeRule(d); })
      .Case([&](Conv2DOp c) {
        // Batch normalization in training subtracts each channel's mean, so a bias before it has no
        // effect: its gradient is zero, exactly (summed, the normalization's input gradient is only
        // rounding noise, which Adam would turn into steps of the full learning rate). The users are
        // the normalization's ops and the gradient ops already made from them.
        bool normalized = llvm::all_of(c->getUsers(), [&](Operation *user) {
          return isa<BatchNormTrainOp, BatchSumsOp, BatchNormGradOp>(user) &&
                 user->getOperand(0) == c.getResult();
        });
        for (auto [operand, wrt] :
             {std::pair{c.getInput(), "input"}, {c.getWeight(), "weight"}, {c.getBias(), "bias"}})
          if (operand && needed.contains(operand) && normalized && operand == c.getBias())
            accumulate(operand, zerosLike(operand));
          else if (operand && needed.contains(operand))
            accumulate(operand,
                       Conv2DGradOp::create(b, loc, typeOf(operand), c.getInput(), c.getWeight(), dy,
                                            b.getStringAttr(wrt), c.getStrideAttr(), c.getPaddingAttr(),
                                            c.getDilationAttr(), c.getGroupsAttr()));
        return success();
      })
      .Case([&](Pool2DOp p) {
        return inputGradient<PoolGradOp>(loc, p.getInput(), dy, p.getKindAttr(), p.getKernelAttr(),
                                         p.getStrideAttr(), p.getPaddingAttr());
      })
      .Case([&](GlobalPoolOp p) {
        // One window over the whole map; its maximum's gradient is shared among ties, as torch.amax.
        auto type = cast<RankedTensorType>(p.getInput().getType());
        auto dyType = cast<RankedTensorType>(dy.getType());
        auto one = RankedTensorType::get({dyType.getDimSize(0), dyType.getDimSize(1), 1}, b.getF32Type());
        auto two =
            RankedTensorType::get({dyType.getDimSize(0), dyType.getDimSize(1), 1, 1}, b.getF32Type());
        Value windows =
            ExpandDimsOp::create(b, loc, two, ExpandDimsOp::create(b, loc, one, dy, b.getI64IntegerAttr(2)),
                                 b.getI64IntegerAttr(3));
        auto size = b.getDenseI64ArrayAttr({type.getDimSize(2), type.getDimSize(3)});
        accumulate(p.getInput(),
                   PoolGradOp::create(b, loc, type, p.getInput(), windows,
                                      b.getStringAttr(p.getKind() == "max" ? "amax" : "avg"), size, size,
                                      b.getDenseI64ArrayAttr({0, 0})));
        return success();
      })
      .Case([&](ReduceOp r) {
        // A sum's or a mean's gradient reads its input only for the shape.
        Value x = r.getInput();
        Value shape = r.getKind() == "sum" || r.getKind() == "mean" ? shapeSource(x) : x;
        accumulate(x, ReduceGradOp::create(b, loc, x.getType(), shape, dy, r.getAxisAttr(), r.getKindAttr()));
        return success();
      })
      .Case([&](BroadcastOp br) {
        Value x = br.getInput();
        accumulate(x, BroadcastGradOp::create(b, loc, x.getType(), shapeSource(x), dy));
        return success();
      })
      .Case([&](SliceOp sl) {
        return inputGradient<SliceGradOp>(loc, sl.getInput(), dy, sl.getAxisAttr(), sl.getStartAttr());
      })
      .Case([&](BatchNormTrainOp bn) {
        // With statistics over every process, dx needs the gradient's sums over every process too.
        SmallVector<Value> global(bn.getStats());
        if (!global.empty())
          global.push_back(
              AllSumOp::create(b, loc,
                               BatchSumsOp::create(b, loc, global[0].getType(), bn.getInput(),
                                                   ValueRange{dy, global[0], global[1]},
                                                   b.getStringAttr("grad"), bn.getEpsilonAttr()),
                               /*cotangent=*/true));
        for (auto [operand, wrt, stats] : {std::tuple{bn.getInput(), "input", ValueRange(global)},
                                           {bn.getWeight(), "weight", ValueRange(global).take_front(2)},
                                           {bn.getBias(), "bias", ValueRange()}})
          if (needed.contains(operand))
            accumulate(operand,
                       BatchNormGradOp::create(b, loc, typeOf(operand), bn.getInput(), bn.getWeight(), dy,
                                               stats, b.getStringAttr(wrt), bn.getEpsilonAttr()));
        return success();
      })
      .Case([&](DropoutOp d) { // the same mask, drawn again
        accumulate(d.getInput(), DropoutOp::create(b, loc, typeOf(d.getInput()), dy, d.getSeed(),
                                                   d.getRateAttr(), d.getStreamAttr()));
        return success();
      })
      .Case([&](RandomShiftOp r) { // the same offsets, the other way
        accumulate(r.getInput(),
                   RandomShiftOp::create(b, loc, typeOf(r.getInput()), dy, r.getSeed(), r.getPixelsAttr(),
                                         r.getStreamAttr(), r.getInverse() ? nullptr : b.getUnitAttr()));
        return success();
      })
      .Case<ReluOp, TanhOp, SigmoidOp, GeluOp, ExpOp, LogOp, SqrtOp, RsqrtOp, AbsOp>([&](Operation *act) {
        StringRef kind = act->getName().stripDialect();
        return inputGradient<ActivationGradOp>(loc, act->getOperand(0), dy, b.getStringAttr(kind));
      })
      .Case([&](NegOp n) {
        if (needed.contains(n.getInput()))
          accumulate(n.getInput(), negated(dy));
        return success();
      })
      .Case([&](ConstantOp) { return success(); })
      // Broadcasting arithmetic: an operand's gradient is summed over what it was broadcast along.
      .Case([&](AddOp a) {
        accumulate(a.getLhs(), [&] { return dy; });
        accumulate(a.getRhs(), [&] { return dy; });
        return success();
      })
      .Case([&](SubOp s) {
        accumulate(s.getLhs(), [&] { return dy; });
        accumulate(s.getRhs(), [&] { return negated(dy); });
        return success();
      })
      .Case([&](MulOp m) {
        accumulate(m.getLhs(), [&] { return MulOp::create(b, loc, dy, m.getRhs()).getResult(); });
        accumulate(m.getRhs(), [&] { return MulOp::create(b, loc, dy, m.getLhs()).getResult(); });
        return success();
      })
      .Case([&](MatmulOp m) { // C = A·B: dA = dC·Bᵀ, dB = Aᵀ·dC (with transpose_b, B = Bₜᵀ: dBₜ = dCᵀ·A)
        bool tb = m.getTransposeB();
        accumulate(m.getLhs(), [&] { return matmul(dy, m.getRhs(), !tb); });
        accumulate(m.getRhs(), [&] {
          return tb ? matmul(lastTwoSwapped(dy), m.getLhs(), false)
                    : matmul(lastTwoSwapped(m.getLhs()), dy, false);
        });
        return success();
      })
      .Case<MaximumOp, MinimumOp>([&](Operation *op) {
        // dy goes to the operand chosen, halved between equal ones (as PyTorch).
        Value lhs = op->getOperand(0), rhs = op->getOperand(1);
        auto share = [&] {
          Value wins = isa<MaximumOp>(op) ? GreaterOp::create(b, loc, lhs, rhs).getResult()
                                          : LessOp::create(b, loc, lhs, rhs).getResult();
          Value ties = EqualOp::create(b, loc, lhs, rhs);
          Value half = ScaleOp::create(b, loc, ties.getType(), ties, b.getF32FloatAttr(0.5f));
          return MulOp::create(b, loc, dy, AddOp::create(b, loc, wins, half)).getResult();
        };
        Value toLhs = needed.contains(lhs) || needed.contains(rhs) ? share() : Value();
        accumulate(lhs, [&] { return toLhs; });
        accumulate(rhs, [&] { return SubOp::create(b, loc, dy, toLhs).getResult(); });
        return success();
      })
      .Case<LessOp, LessEqualOp, GreaterOp, GreaterEqualOp, EqualOp, NotEqualOp, ArgmaxOp, SinusoidOp>(
          [&](Operation *) { return success(); }) // piecewise constant: no gradient
      .Case([&](SelectOp s) {
        Value zero =
            ConstantOp::create(b, loc, RankedTensorType::get({}, b.getF32Type()), b.getF32FloatAttr(0));
        accumulate(s.getLhs(),
                   [&] { return SelectOp::create(b, loc, dy.getType(), s.getCondition(), dy, zero); });
        accumulate(s.getRhs(),
                   [&] { return SelectOp::create(b, loc, dy.getType(), s.getCondition(), zero, dy); });
        return success();
      })
      .Case([&](PowOp p) { // d(xᶜ) = c·xᶜ⁻¹·dx
        accumulate(p.getInput(), [&] {
          float c = p.getExponent().convertToFloat();
          Value slope = PowOp::create(b, loc, p.getInput(), b.getF32FloatAttr(c - 1));
          slope = ScaleOp::create(b, loc, slope.getType(), slope, b.getF32FloatAttr(c));
          return MulOp::create(b, loc, dy, slope).getResult();
        });
        return success();
      })
      .Case([&](DivOp d) { // d(a/b) = da/b − (a/b)·db/b
        accumulate(d.getLhs(), [&] { return DivOp::create(b, loc, dy, d.getRhs()).getResult(); });
        accumulate(d.getRhs(), [&] {
          Value quotient = MulOp::create(b, loc, dy, d.getResult());
          return negated(DivOp::create(b, loc, quotient, d.getRhs()));
        });
        return success();
      })
      .Case([&](SoftmaxOp s) {
        accumulate(s.getInput(), SoftmaxGradOp::create(b, loc, typeOf(dy), s.getInput(), dy, UnitAttr()));
        return success();
      })
      .Case([&](LogSoftmaxOp s) {
        accumulate(s.getInput(),
                   SoftmaxGradOp::create(b, loc, typeOf(dy), s.getInput(), dy, b.getUnitAttr()));
        return success();
      })
      .Case([&](ExpandDimsOp e) {
        accumulate(e.getInput(), SqueezeOp::create(b, loc, typeOf(e.getInput()), dy, e.getAxisAttr()));
        return success();
      })
      .Case([&](SqueezeOp s) {
        accumulate(s.getInput(), ExpandDimsOp::create(b, loc, typeOf(s.getInput()), dy, s.getAxisAttr()));
        return success();
      })
      .Case<ReshapeOp, FlattenOp>([&](Operation *r) {
        Value x = r->getOperand(0);
        accumulate(x, ReshapeOp::create(b, loc, typeOf(x), dy));
        return success();
      })
      .Case([&](TransposeOp t) {
        ArrayRef<int64_t> perm = t.getPermutation();
        SmallVector<int64_t> inverse(perm.size());
        for (auto [i, p] : llvm::enumerate(perm))
          inverse[p] = i;
        accumulate(t.getInput(), TransposeOp::create(b, loc, typeOf(t.getInput()), dy,
                                                     b.getDenseI64ArrayAttr(inverse)));
        return success();
      })
      .Case([&](ConcatOp c) {
        auto type = cast<RankedTensorType>(c.getLhs().getType());
        int64_t axis = type.getRank() - 1, split = type.getDimSize(axis);
        auto part = [&](Value v, int64_t start) {
          int64_t size = cast<RankedTensorType>(v.getType()).getDimSize(axis);
          accumulate(v, SliceOp::create(b, loc, typeOf(v), dy, b.getI64IntegerAttr(axis),
                                        b.getI64IntegerAttr(start), b.getI64IntegerAttr(size)));
        };
        part(c.getLhs(), 0);
        part(c.getRhs(), split);
        return success();
      })
      .Case([&](EmbeddingOp e) {
        accumulate(e.getTable(), EmbeddingGradOp::create(b, loc, typeOf(e.getTable()), e.getTokens(), dy));
        return success();
      })
      .Case([&](LayerNormOp l) {
        Value x = l.getInput();
        if (needed.contains(x))
          accumulate(x,
                     LayerNormGradOp::create(b, loc, typeOf(x), x, dy, l.getWeight(), l.getEpsilonAttr()));
        if (Value w = l.getWeight()) {
          Value normalized =
              LayerNormOp::create(b, loc, typeOf(x), x, Value(), Value(), l.getEpsilonAttr());
          Value scaled = MulOp::create(b, loc, typeOf(dy), dy, normalized);
          accumulate(w, SumLeadingOp::create(b, loc, typeOf(w), scaled));
        }
        if (Value bias = l.getBias())
          accumulate(bias, SumLeadingOp::create(b, loc, typeOf(bias), dy));
        return success();
      })
      .Case([&](MaskedSoftmaxOp m) {
        accumulate(m.getScores(), ProbsGradOp::create(b, loc, typeOf(dy), m.getResult(), dy));
        return success();
      })
      .Case([&](WeightedSumOp w) {
        Value p = w.getWeights(), v = w.getValues();
        int64_t heads = cast<RankedTensorType>(p.getType()).getDimSize(1);
        if (needed.contains(p))
          accumulate(p, ScoreOp::create(b, loc, typeOf(p), dy, v, b.getI64IntegerAttr(heads),
                                        b.getF32FloatAttr(1.0f)));
        if (needed.contains(v))
          accumulate(v, WeightedSumOp::create(b, loc, typeOf(v), swapLast(p), dy));
        return success();
      })
      .Case([&](ScoreOp s) {
        Value q = s.getQuery(), k = s.getKeys();
        float scale = s.getScale().convertToFloat();
        auto scaled = [&](Value v) {
          return scale == 1.0f
                     ? v
                     : ScaleOp::create(b, loc, v.getType(), v, b.getF32FloatAttr(scale)).getResult();
        };
        if (needed.contains(q))
          accumulate(q, scaled(WeightedSumOp::create(b, loc, typeOf(q), dy, k)));
        if (needed.contains(k))
          accumulate(k, scaled(WeightedSumOp::create(b, loc, typeOf(k), swapLast(dy), q)));
        return success();
      })
      .Case([&](AdditiveScoreOp a) {
        for (auto [operand, wrt] :
             {std::pair{a.getQuery(), "query"}, {a.getKeys(), "keys"}, {a.getV(), "v"}})
          if (needed.contains(operand))
            accumulate(operand,
                       AdditiveScoreGradOp::create(b, loc, typeOf(operand), a.getQuery(), a.getKeys(),
                                                   a.getV(), dy, b.getStringAttr(wrt)));
        return success();
      })
      .Default([&](Operation *other) {
        return other->emitOpError()
               << "has no gradient rule yet: see docs/training.md for the ops that have one";
      });
}

/// A smaller tensor whose sum over every dimension but the last equals `dy`'s, else `dy`. The gradient of an
/// additive score with respect to its keys and the one with respect to its query both sum to the sum of
/// v·(1 − tanh²)·ds over every query-key pair, so the keys' projection's bias gradient is read from the
/// query's gradient ([B, queries, U]) when it is computed anyway, not from the keys' ([B, keys, U]).
static Value sameLeadingSum(Value dy) {
  auto keys = dy.getDefiningOp<AdditiveScoreGradOp>();
  if (!keys || keys.getWrt() != "keys")
    return dy;
  for (Operation *user : keys.getQuery().getUsers()) {
    auto query = dyn_cast<AdditiveScoreGradOp>(user);
    if (query && query.getWrt() == "query" && query.getQuery() == keys.getQuery() &&
        query.getKeys() == keys.getKeys() && query.getV() == keys.getV() && query.getGrad() == keys.getGrad())
      return query.getResult();
  }
  return dy;
}

void GradientBuilder::denseRule(Value x, Value w, Value bias, Value dy) {
  Location loc = dy.getLoc();
  auto wType = cast<RankedTensorType>(w.getType());
  if (needed.contains(x) && wType.getDimSize(0) == 1 && cast<RankedTensorType>(x.getType()).getRank() > 1) {
    // A layer of one output (a score's projection): dx[..., k] = dy[..., 0] · W[0, k] is a broadcast
    // product, elementwise, not a sum of one term.
    accumulate(x, MulOp::create(b, loc, x.getType(), dy, w).getResult());
  } else if (needed.contains(x)) {
    auto wT = RankedTensorType::get({wType.getDimSize(1), wType.getDimSize(0)}, wType.getElementType());
    Value transposed = TransposeOp::create(b, loc, wT, w, b.getDenseI64ArrayAttr({1, 0}));
    accumulate(x, DenseOp::create(b, loc, x.getType(), dy, transposed, Value()));
  }
  if (needed.contains(w))
    accumulate(w, DenseGradWeightOp::create(b, loc, w.getType(), dy, x));
  if (bias && needed.contains(bias))
    accumulate(bias, SumLeadingOp::create(b, loc, bias.getType(), sameLeadingSum(dy)));
}

std::pair<Value, Value> GradientBuilder::gateProjections(Value x, Value h, Value wih, Value bih, Value whh,
                                                         Value bhh) {
  auto type = RankedTensorType::get({cast<RankedTensorType>(x.getType()).getDimSize(0),
                                     cast<RankedTensorType>(wih.getType()).getDimSize(0)},
                                    b.getF32Type());
  return {DenseOp::create(b, x.getLoc(), type, x, wih, bih),
          DenseOp::create(b, h.getLoc(), type, h, whh, bhh)};
}

Value GradientBuilder::slice(Value v, int64_t start, int64_t size) {
  auto type = cast<RankedTensorType>(v.getType());
  auto part = RankedTensorType::get({type.getDimSize(0), type.getDimSize(1), size}, type.getElementType());
  return SliceOp::create(b, v.getLoc(), part, v, b.getI64IntegerAttr(2), b.getI64IntegerAttr(start),
                         b.getI64IntegerAttr(size));
}

Value GradientBuilder::swapLast(Value v) {
  auto type = cast<RankedTensorType>(v.getType());
  SmallVector<int64_t> shape(type.getShape());
  std::swap(shape[2], shape[3]);
  return TransposeOp::create(b, v.getLoc(), RankedTensorType::get(shape, type.getElementType()), v,
                             b.getDenseI64ArrayAttr({0, 1, 3, 2}));
}

namespace {

struct AttnAutodiffPass : mlir::attn::impl::AttnAutodiffBase<AttnAutodiffPass> {
  using AttnAutodiffBase::AttnAutodiffBase;

  void runOnOperation() override {
    SmallVector<func::FuncOp> models;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func->hasAttr(AttnDialect::kLossAttr))
        models.push_back(func);
    for (func::FuncOp model : models)
      if (failed(differentiate(model)))
        return signalPassFailure();
    // Dropout and random shifts are the identity everywhere but in training.
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (!func->hasAttr(AttnDialect::kGradOfAttr))
        func.walk([](RandomOpInterface random) {
          random->replaceAllUsesWith(ValueRange{random.getInput()});
          random->erase();
        });
  }

  /// Gives the random ops (dropout, random shifts) of gradient function `grad` their random stream: a new
  /// input "attn.dropout_seed" that the runtime fills (the seed, the step, the row offset, on or off, and
  /// the step of a decoder loop, so that each step of a decoder draws its own mask).
  static LogicalResult seedRandomOps(func::FuncOp grad) {
    SmallVector<RandomOpInterface> randoms;
    grad.walk([&](RandomOpInterface random) { randoms.push_back(random); });
    if (randoms.empty())
      return success();
    Builder b(grad.getContext());
    auto type = RankedTensorType::get({6}, b.getI32Type());
    NamedAttribute attrs[] = {
        b.getNamedAttr(AttnDialect::kInputNameAttr, b.getStringAttr("attn.dropout_seed")),
        b.getNamedAttr(AttnDialect::kInputDimsAttr, b.getArrayAttr({b.getI64IntegerAttr(6)}))};
    unsigned index = grad.getNumArguments();
    if (failed(grad.insertArgument(index, type, b.getDictionaryAttr(attrs), grad.getLoc())))
      return failure();
    for (RandomOpInterface random : randoms)
      random.getSeedMutable().assign(grad.getArgument(index));
    return success();
  }

  LogicalResult differentiate(func::FuncOp model) {
    auto lossName = model->getAttrOfType<StringAttr>(AttnDialect::kLossAttr);
    auto names = model->getAttrOfType<ArrayAttr>(AttnDialect::kOutputNamesAttr);
    auto ret = cast<func::ReturnOp>(model.getBody().front().getTerminator());
    std::optional<unsigned> lossIndex;
    for (auto [i, name] : llvm::enumerate(names ? names.getValue() : ArrayRef<Attribute>()))
      if (name == lossName)
        lossIndex = i;
    if (!lossIndex)
      return model.emitOpError() << "names its loss '" << lossName.getValue()
                                 << "', which is not one of its outputs";

    OpBuilder b(model);
    b.setInsertionPointAfter(model);
    auto grad = func::FuncOp::create(b, model.getLoc(), (model.getName() + "_grad").str(),
                                     b.getFunctionType(model.getArgumentTypes(), {}));
    if (ArrayAttr args = model.getAllArgAttrs())
      grad.setAllArgAttrs(args);
    grad->setAttr(AttnDialect::kGradOfAttr, b.getStringAttr(model.getName()));
    Block *body = grad.addEntryBlock();
    b.setInsertionPointToStart(body);
    IRMapping mapping;
    mapping.map(model.getArguments(), body->getArguments());
    for (Operation &op : model.getBody().front().without_terminator())
      b.clone(op, mapping);
    Value loss = mapping.lookup(ret.getOperand(*lossIndex));
    if (failed(seedRandomOps(grad))) {
      grad.erase();
      return failure();
    }

    SavedDecoders saved;
    for (auto decode : llvm::make_early_inc_range(body->getOps<DecodeOp>()))
      if (decode.getMode() == "teacher")
        saveSteps(decode, saved);
    // Training normalizes by the batch's statistics and updates the running ones (results "update.<name>").
    SmallVector<std::pair<StringAttr, Value>> updates;
    for (auto bn : llvm::make_early_inc_range(body->getOps<BatchNormOp>())) {
      b.setInsertionPoint(bn);
      // Data-parallel training normalizes by the statistics of every process's batch: the mean from the
      // all-summed count and Σx, then the variance from the all-summed Σ(x − mean)².
      SmallVector<Value> stats;
      if (distributed) {
        auto type = RankedTensorType::get({2, bn.getWeight().getType().getDimSize(0)}, b.getF32Type());
        for (StringRef of : {"x", "centered"})
          stats.push_back(AllSumOp::create(b, bn.getLoc(),
                                           BatchSumsOp::create(b, bn.getLoc(), type, bn.getInput(), stats,
                                                               b.getStringAttr(of), bn.getEpsilonAttr())));
      }
      auto train = [&](Value running, StringRef statistic, Type type) {
        return BatchNormTrainOp::create(b, bn.getLoc(), type, bn.getInput(), bn.getWeight(), bn.getBias(),
                                        running, stats, b.getStringAttr(statistic), bn.getEpsilonAttr(),
                                        b.getF32FloatAttr(0.1f));
      };
      Value output = train(bn.getMean(), "output", bn.getType());
      for (auto [running, statistic] : {std::pair{bn.getMean(), "mean"}, {bn.getVariance(), "variance"}})
        if (auto param = running.getDefiningOp<ParamOp>())
          updates.push_back({param.getNameAttr(), train(running, statistic, running.getType())});
      bn.replaceAllUsesWith(output);
      bn.erase();
    }
    b.setInsertionPointToEnd(body);

    // The values that depend on a parameter, in program order (a decoder depends on what its step reads).
    llvm::SetVector<Value> needed;
    for (Operation &op : body->getOperations()) {
      bool depends = isa<ParamOp>(op);
      op.walk([&](Operation *inner) {
        depends |= llvm::any_of(inner->getOperands(), [&](Value v) { return needed.contains(v); });
      });
      if (depends)
        needed.insert(op.result_begin(), op.result_end());
    }

    GradientBuilder grads(b, needed, saved);
    auto lossType = cast<RankedTensorType>(loss.getType());
    if (lossType.getRank() != 0)
      return model.emitOpError() << "has loss '" << lossName.getValue() << "' of rank " << lossType.getRank()
                                 << ": the loss must be a scalar";
    // A cross_entropy or mse loss is its own seed: their gradient ops are d(loss)/d(operand) for
    // d(loss) = 1. Any other loss starts from the constant 1.
    if (isa_and_nonnull<CrossEntropyOp, MseOp>(loss.getDefiningOp()))
      grads.accumulate(loss, loss);
    else
      grads.accumulate(loss, ConstantOp::create(b, loss.getLoc(), lossType, b.getF32FloatAttr(1.0f)));

    // Backwards over the forward ops that lead to the loss.
    SmallVector<Operation *> forward;
    for (Operation &op : body->getOperations())
      if (op.getNumResults() > 0 && needed.contains(op.getResult(0)))
        forward.push_back(&op);
    for (Operation *op : llvm::reverse(forward)) {
      if (llvm::none_of(op->getResults(), [&](Value r) { return grads.gradOf(r); }))
        continue;
      if (failed(grads.propagate(op))) {
        grad.erase();
        return failure();
      }
    }

    // One gradient per parameter name (a parameter read twice has one gradient, the sum).
    llvm::MapVector<StringAttr, Value> byName;
    for (Operation &op : body->getOperations())
      if (auto param = dyn_cast<ParamOp>(op))
        if (Value g = grads.gradOf(param.getResult())) {
          auto [it, inserted] = byName.try_emplace(param.getNameAttr(), g);
          if (!inserted)
            it->second = AddOp::create(b, param.getLoc(), g.getType(), it->second, g);
        }
    SmallVector<Value> results{loss};
    SmallVector<Attribute> resultNames{b.getStringAttr("loss")};
    for (auto [name, g] : byName) {
      results.push_back(g);
      resultNames.push_back(b.getStringAttr("grad." + name.str()));
    }
    for (auto [name, value] : updates) {
      results.push_back(value);
      resultNames.push_back(b.getStringAttr("update." + name.str()));
    }
    func::ReturnOp::create(b, model.getLoc(), results);
    grad.setType(b.getFunctionType(grad.getArgumentTypes(), ValueRange(results).getTypes()));
    grad->setAttr(AttnDialect::kOutputNamesAttr, b.getArrayAttr(resultNames));

    // The forward outputs other than the loss are not needed here, nor the stacks no reverse loop reads.
    eraseDead(*body);
    for (auto decode : llvm::make_early_inc_range(body->getOps<DecodeOp>()))
      if (decode.getMode() == "teacher")
        dropUnread(decode);
    if (model->removeAttr(AttnDialect::kInternalLossAttr))
      dropLoss(model, *lossIndex);
    return success();
  }

  /// Removes result `index` (the loss) from a model that outputs it only for differentiation, and the
  /// work only it needed (the targets are then an input that inference does not read).
  static void dropLoss(func::FuncOp model, unsigned index) {
    auto ret = cast<func::ReturnOp>(model.getBody().front().getTerminator());
    ret->eraseOperand(index);
    SmallVector<Attribute> names(model->getAttrOfType<ArrayAttr>(AttnDialect::kOutputNamesAttr).getValue());
    names.erase(names.begin() + index);
    model->setAttr(AttnDialect::kOutputNamesAttr, ArrayAttr::get(model.getContext(), names));
    model.setType(FunctionType::get(model.getContext(), model.getArgumentTypes(), ret.getOperandTypes()));
    eraseDead(model.getBody().front());
  }

  /// Erases the ops of `block` (and of decoder steps in it) whose results nothing reads.
  static void eraseDead(Block &block) {
    SmallVector<Operation *> ops;
    for (Operation &op : block.without_terminator())
      ops.push_back(&op);
    for (Operation *op : llvm::reverse(ops)) {
      if (op->use_empty() && isMemoryEffectFree(op)) {
        op->erase();
        continue;
      }
      if (auto decode = dyn_cast<DecodeOp>(op))
        eraseDead(decode.getStep().front());
    }
  }

};

} // namespace
