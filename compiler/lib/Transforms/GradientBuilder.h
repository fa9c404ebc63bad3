// attn-autodiff's reverse mode: the gradient of each value, which the op rules (Autodiff.cpp) and the
// reverse loops of teacher-forced decoders (DecoderGradient.cpp) add to.
#ifndef ATTN_TRANSFORMS_GRADIENTBUILDER_H
#define ATTN_TRANSFORMS_GRADIENTBUILDER_H

#include "attn/Dialect/AttnOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

namespace mlir::attn::autodiff {

/// What a teacher-forced decoder of the gradient function stacks over its steps for its reverse loop,
/// after its own emitted values: the state each step reads, and the value of each computing op of the step.
struct SavedSteps {
  unsigned numEmits = 0;                  // the decoder's own emitted values
  llvm::DenseMap<Value, unsigned> result; // step value → the decoder result stacking it
};
using SavedDecoders = llvm::DenseMap<Operation *, SavedSteps>;

/// Makes a teacher-forced decoder also emit, stacked over the steps, the carried state each step reads
/// and the value of each computing op of its step (reindexings excepted), for its reverse loop.
void saveSteps(DecodeOp decode, SavedDecoders &saved);

/// Drops the stacked values of a teacher-forced decoder that nothing reads (one emitted value stays).
void dropUnread(DecodeOp decode);

/// The gradients of a function's values (or of a reverse step's) as the gradient rules add to them, and the
/// rules: `propagate` applies an op's (Autodiff.cpp), `decodeRule` builds a decoder's reverse loop
/// (DecoderGradient.cpp).
class GradientBuilder {
public:
  GradientBuilder(OpBuilder &builder, llvm::SetVector<Value> &needed, const SavedDecoders &saved)
      : b(builder), needed(needed), saved(saved) {}

  /// Adds `g` to the gradient of `v`, if `v` depends on a parameter.
  void accumulate(Value v, Value g) {
    if (!needed.contains(v))
      return;
    auto [it, inserted] = grads.try_emplace(v, g);
    if (!inserted)
      it->second = AddOp::create(b, g.getLoc(), g.getType(), it->second, g);
  }

  /// Adds the gradient `make` builds, summed down to `v`'s shape where `v` was broadcast, if `v` depends on
  /// a parameter.
  void accumulate(Value v, llvm::function_ref<Value()> make) {
    if (!needed.contains(v))
      return;
    Value g = make();
    if (g.getType() != v.getType())
      g = BroadcastGradOp::create(b, g.getLoc(), v.getType(), shapeSource(v), g);
    accumulate(v, g);
  }

  /// `g` times the loss gradient `dy`, unless `dy` is the seed of the loss `loss` itself (d(loss) = 1).
  Value scaledBy(Value dy, Value loss, Value g) {
    return dy == loss ? g : MulOp::create(b, g.getLoc(), g, dy).getResult();
  }

  /// a·b (a·bᵀ with `transposeB`) as attn.matmul, its result type inferred.
  Value matmul(Value a, Value bv, bool transposeB) {
    auto op = MatmulOp::create(b, a.getLoc(), a.getType(), a, bv, transposeB ? b.getUnitAttr() : UnitAttr());
    op.getResult().setType(cast<ShapedOpInterface>(op.getOperation()).inferResultType());
    return op;
  }

  /// `v` with its last two dimensions swapped.
  Value lastTwoSwapped(Value v) {
    auto type = cast<RankedTensorType>(v.getType());
    int64_t rank = type.getRank();
    SmallVector<int64_t> perm, shape(type.getShape());
    for (int64_t i = 0; i < rank; ++i)
      perm.push_back(i == rank - 1 ? rank - 2 : i == rank - 2 ? rank - 1 : i);
    std::swap(shape[rank - 1], shape[rank - 2]);
    return TransposeOp::create(b, v.getLoc(), RankedTensorType::get(shape, type.getElementType()), v,
                               b.getDenseI64ArrayAttr(perm));
  }

  Value negated(Value g) { return ScaleOp::create(b, g.getLoc(), g.getType(), g, b.getF32FloatAttr(-1.0f)); }

  Value gradOf(Value v) const { return grads.lookup(v); }

  /// Applies the gradient rule of `op`, whose results' gradients are known; fails on an op without one.
  LogicalResult propagate(Operation *op);

  /// The rule of an op whose input gradient is one gradient primitive of that input and the output
  /// gradient `dy` (and the op's attributes), of the input's type: adds `GradOp(x, dy, attrs...)` to x's.
  template <typename GradOp, typename... Attrs>
  LogicalResult inputGradient(Location loc, Value x, Value dy, Attrs... attrs) {
    accumulate(x, GradOp::create(b, loc, x.getType(), x, dy, attrs...));
    return success();
  }

  /// A value of `v`'s shape for a gradient op that reads only the shape (a sum's, a broadcast's): the
  /// function's input or parameter that `v` is computed from elementwise, keeping its type, where there is
  /// one, so that `v` itself need not be stored for the gradient; else `v`.
  static Value shapeSource(Value v) {
    Value at = v;
    while (Operation *def = at.getDefiningOp()) {
      if (isa<ParamOp>(def))
        return at;
      if (!def->hasTrait<Elementwise>())
        return v;
      auto same = llvm::find_if(def->getOperands(), [&](Value x) { return x.getType() == at.getType(); });
      if (same == def->operand_end())
        return v;
      at = *same;
    }
    return at;
  }

  /// Zeros of `v`'s type (the start of a gradient accumulator).
  Value zerosLike(Value v) { return ScaleOp::create(b, v.getLoc(), v.getType(), v, b.getF32FloatAttr(0.0f)); }

private:
  /// y = x·Wᵀ + bias with output gradient dy: the gradients of x, W and the bias.
  void denseRule(Value x, Value w, Value bias, Value dy);

  /// A GRU cell's gate projections x·W_ihᵀ + b_ih and h·W_hhᵀ + b_hh, recomputed for its gradient.
  std::pair<Value, Value> gateProjections(Value x, Value h, Value wih, Value bih, Value whh, Value bhh);

  /// `size` entries of the last dimension of a [B, T, G] gradient from `start`.
  Value slice(Value v, int64_t start, int64_t size);

  /// A teacher-forced decoder (which, in the gradient function, also stacks the state each step read and
  /// the values its ops computed: SavedSteps) is differentiated by a reverse loop over the same steps: the
  /// step's gradient rules, carrying the state's gradient back a step and summing the gradients of the
  /// loop-invariant values it reads (encoder outputs, parameters). The values the rules read are the
  /// forward pass's, read back from its stacks; only reindexings of them are redone.
  LogicalResult decodeRule(DecodeOp d);

  /// A weighted sum over one key: a decoder step's attention seen from its values ([B, H, Sq, 1] weights of
  /// [B, 1, Dv] values), which sums over the steps like a weight gradient over rows.
  static bool overOneKey(Operation *op);

  /// `term`, a gradient a reverse loop sums over its steps, taken once over every step from the stacks of
  /// its operands (`stacked`).
  Value overAllSteps(Operation *term, IRMapping &stacked);

  /// Σ over rows of dyᵀ·x. For x = concat(a, c), the gradients of a's and c's columns joined, so that each
  /// product reads its operand where it lies rather than through the join.
  Value weightGrad(Value dy, Value x, Location loc);

  /// [B, H, S, T] → [B, H, T, S]: attention probabilities or scores seen from the keys.
  Value swapLast(Value v);

  OpBuilder &b;
  llvm::SetVector<Value> &needed;
  const SavedDecoders &saved;
  llvm::DenseMap<Value, Value> grads;
};

} // namespace mlir::attn::autodiff

#endif // ATTN_TRANSFORMS_GRADIENTBUILDER_H
