// attn-autodiff: reverse-mode differentiation by gradient rules on the dialect. For a model function that
// names its loss, builds `<model>_grad`: the same inputs, the forward computation, and the gradient of the
// loss with respect to every parameter that reaches it. Gradients are expressed with forward primitives
// (a dense layer's input gradient is a dense layer through the transposed weight) and the gradient
// primitives of AttnGradOps.td, so the backward graph is fused and lowered like the forward one.
#include "attn/Dialect/AttnOps.h"
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

namespace {

class GradientBuilder {
public:
  GradientBuilder(OpBuilder &builder, llvm::SetVector<Value> &needed) : b(builder), needed(needed) {}

  /// Adds `g` to the gradient of `v`, if `v` depends on a parameter.
  void accumulate(Value v, Value g) {
    if (!needed.contains(v))
      return;
    auto [it, inserted] = grads.try_emplace(v, g);
    if (!inserted)
      it->second = AddOp::create(b, g.getLoc(), g.getType(), it->second, g);
  }

  Value gradOf(Value v) const { return grads.lookup(v); }

  /// Applies the gradient rule of `op`, whose results' gradients are known; fails on an op without one.
  LogicalResult propagate(Operation *op) {
    Value dy = op->getNumResults() == 1 ? gradOf(op->getResult(0)) : Value();
    Location loc = op->getLoc();
    auto typeOf = [](Value v) { return v.getType(); };
    return llvm::TypeSwitch<Operation *, LogicalResult>(op)
        .Case([&](ParamOp) { return success(); })
        .Case([&](CrossEntropyOp ce) {
          accumulate(ce.getLogits(),
                     CrossEntropyGradOp::create(b, loc, typeOf(ce.getLogits()), ce.getLogits(), ce.getTargets(),
                                                ce.getIgnoreIndexAttr(), ce.getLabelSmoothingAttr()));
          return success();
        })
        .Case([&](MseOp m) {
          Value da = MseGradOp::create(b, loc, typeOf(m.getLhs()), m.getLhs(), m.getRhs());
          accumulate(m.getLhs(), da);
          if (needed.contains(m.getRhs()))
            accumulate(m.getRhs(), ScaleOp::create(b, loc, typeOf(da), da, b.getF32FloatAttr(-1.0f)));
          return success();
        })
        .Case([&](DenseOp d) {
          Value x = d.getInput(), w = d.getWeight();
          if (needed.contains(x)) {
            auto wType = cast<RankedTensorType>(w.getType());
            auto wT = RankedTensorType::get({wType.getDimSize(1), wType.getDimSize(0)}, wType.getElementType());
            Value transposed = TransposeOp::create(b, loc, wT, w, b.getDenseI64ArrayAttr({1, 0}));
            accumulate(x, DenseOp::create(b, loc, typeOf(x), dy, transposed, Value()));
          }
          accumulate(w, DenseGradWeightOp::create(b, loc, typeOf(w), dy, x));
          if (Value bias = d.getBias())
            accumulate(bias, SumLeadingOp::create(b, loc, typeOf(bias), dy));
          return success();
        })
        .Case<ReluOp, TanhOp, SigmoidOp, GeluOp>([&](Operation *act) {
          Value x = act->getOperand(0);
          StringRef kind = act->getName().stripDialect();
          accumulate(x, ActivationGradOp::create(b, loc, typeOf(x), x, dy, b.getStringAttr(kind)));
          return success();
        })
        .Case([&](AddOp a) {
          accumulate(a.getLhs(), dy);
          accumulate(a.getRhs(), dy);
          return success();
        })
        .Case([&](SubOp s) {
          accumulate(s.getLhs(), dy);
          if (needed.contains(s.getRhs()))
            accumulate(s.getRhs(), ScaleOp::create(b, loc, typeOf(dy), dy, b.getF32FloatAttr(-1.0f)));
          return success();
        })
        .Case([&](MulOp m) {
          if (needed.contains(m.getLhs()))
            accumulate(m.getLhs(), MulOp::create(b, loc, typeOf(dy), dy, m.getRhs()));
          if (needed.contains(m.getRhs()))
            accumulate(m.getRhs(), MulOp::create(b, loc, typeOf(dy), dy, m.getLhs()));
          return success();
        })
        .Case([&](SoftmaxOp s) {
          accumulate(s.getInput(), SoftmaxGradOp::create(b, loc, typeOf(dy), s.getInput(), dy, UnitAttr()));
          return success();
        })
        .Case([&](LogSoftmaxOp s) {
          accumulate(s.getInput(), SoftmaxGradOp::create(b, loc, typeOf(dy), s.getInput(), dy, b.getUnitAttr()));
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
            accumulate(x, LayerNormGradOp::create(b, loc, typeOf(x), x, dy, l.getWeight(), l.getEpsilonAttr()));
          if (Value w = l.getWeight()) {
            Value normalized = LayerNormOp::create(b, loc, typeOf(x), x, Value(), Value(), l.getEpsilonAttr());
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
            accumulate(p, ScoreOp::create(b, loc, typeOf(p), dy, v, b.getI64IntegerAttr(heads), b.getF32FloatAttr(1.0f)));
          if (needed.contains(v))
            accumulate(v, WeightedSumOp::create(b, loc, typeOf(v), swapLast(p), dy));
          return success();
        })
        .Case([&](ScoreOp s) {
          Value q = s.getQuery(), k = s.getKeys();
          float scale = s.getScale().convertToFloat();
          auto scaled = [&](Value v) {
            return scale == 1.0f ? v : ScaleOp::create(b, loc, v.getType(), v, b.getF32FloatAttr(scale)).getResult();
          };
          if (needed.contains(q))
            accumulate(q, scaled(WeightedSumOp::create(b, loc, typeOf(q), dy, k)));
          if (needed.contains(k))
            accumulate(k, scaled(WeightedSumOp::create(b, loc, typeOf(k), swapLast(dy), q)));
          return success();
        })
        .Case([&](AdditiveScoreOp a) {
          for (auto [operand, wrt] : {std::pair{a.getQuery(), "query"}, {a.getKeys(), "keys"}, {a.getV(), "v"}})
            if (needed.contains(operand))
              accumulate(operand, AdditiveScoreGradOp::create(b, loc, typeOf(operand), a.getQuery(), a.getKeys(),
                                                              a.getV(), dy, b.getStringAttr(wrt)));
          return success();
        })
        .Default([&](Operation *other) {
          return other->emitOpError() << "has no gradient rule yet: see docs/training.md for the ops that have one";
        });
  }

private:
  /// [B, H, S, T] → [B, H, T, S]: attention probabilities or scores seen from the keys.
  Value swapLast(Value v) {
    auto type = cast<RankedTensorType>(v.getType());
    SmallVector<int64_t> shape(type.getShape());
    std::swap(shape[2], shape[3]);
    return TransposeOp::create(b, v.getLoc(), RankedTensorType::get(shape, type.getElementType()), v,
                               b.getDenseI64ArrayAttr({0, 1, 3, 2}));
  }

  OpBuilder &b;
  llvm::SetVector<Value> &needed;
  llvm::DenseMap<Value, Value> grads;
};

struct AttnAutodiffPass : mlir::attn::impl::AttnAutodiffBase<AttnAutodiffPass> {
  void runOnOperation() override {
    SmallVector<func::FuncOp> models;
    for (auto func : getOperation().getOps<func::FuncOp>())
      if (func->hasAttr(AttnDialect::kLossAttr))
        models.push_back(func);
    for (func::FuncOp model : models)
      if (failed(differentiate(model)))
        return signalPassFailure();
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

    // The values that depend on a parameter, in program order.
    llvm::SetVector<Value> needed;
    for (Operation &op : body->getOperations()) {
      bool depends = isa<ParamOp>(op) || llvm::any_of(op.getOperands(), [&](Value v) { return needed.contains(v); });
      if (depends)
        needed.insert(op.result_begin(), op.result_end());
    }

    GradientBuilder grads(b, needed);
    Operation *lossOp = loss.getDefiningOp();
    if (!isa_and_nonnull<CrossEntropyOp, MseOp>(lossOp))
      return model.emitOpError() << "has loss '" << lossName.getValue()
                                 << "', which is not a cross_entropy or mse: the loss must be one of them";
    // The loss is its own seed: the gradient ops of losses are d(loss)/d(operand) for d(loss) = 1.
    grads.accumulate(loss, loss);

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
    func::ReturnOp::create(b, model.getLoc(), results);
    grad.setType(b.getFunctionType(grad.getArgumentTypes(), ValueRange(results).getTypes()));
    grad->setAttr(AttnDialect::kOutputNamesAttr, b.getArrayAttr(resultNames));

    // The forward outputs other than the loss are not needed here.
    for (Operation &op : llvm::make_early_inc_range(llvm::reverse(body->without_terminator())))
      if (op.use_empty() && isMemoryEffectFree(&op))
        op.erase();
    return success();
  }
};

} // namespace
