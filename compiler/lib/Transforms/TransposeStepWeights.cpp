// attn-transpose-step-weights: the dense layers and cells of a decoder step read their weights as [in, out],
// transposed once before the loop, so that no step's kernel transposes them again.
#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/Builders.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNTRANSPOSESTEPWEIGHTS
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct AttnTransposeStepWeightsPass
    : mlir::attn::impl::AttnTransposeStepWeightsBase<AttnTransposeStepWeightsPass> {
  void runOnOperation() override {
    getOperation().walk([](DecodeOp decode) {
      Region &step = decode.getStep();
      auto outside = [&](Value v) { return !step.isAncestor(v.getParentRegion()); };
      OpBuilder b(decode);
      llvm::DenseMap<Value, Value> transposed; // one transpose per weight
      auto transpose = [&](OpOperand &weight) {
        Value w = weight.get();
        auto [it, inserted] = transposed.try_emplace(w);
        if (inserted) {
          auto t = w.getDefiningOp<TransposeOp>();
          if (t && t.getPermutation() == ArrayRef<int64_t>{1, 0}) {
            it->second = t.getInput();
          } else {
            auto type = cast<RankedTensorType>(w.getType());
            auto swapped =
                RankedTensorType::get({type.getDimSize(1), type.getDimSize(0)}, type.getElementType());
            it->second = TransposeOp::create(b, w.getLoc(), swapped, w, b.getDenseI64ArrayAttr({1, 0}));
          }
        }
        weight.set(it->second);
        if (auto t = w.getDefiningOp<TransposeOp>(); t && t->use_empty())
          t->erase(), transposed.erase(w);
      };
      step.walk([&](Operation *op) {
        if (auto d = dyn_cast<DenseOp>(op); d && !d.getTransposedWeight() && outside(d.getWeight())) {
          transpose(d.getWeightMutable());
          d.setTransposedWeight(true);
        } else if (auto c = dyn_cast<LSTMCellOp>(op); c && !c.getTransposedWeights() && outside(c.getWIh()) &&
                   outside(c.getWHh())) {
          transpose(c.getWIhMutable());
          transpose(c.getWHhMutable());
          c.setTransposedWeights(true);
        } else if (auto c = dyn_cast<GRUCellOp>(op); c && !c.getTransposedWeights() && outside(c.getWIh()) &&
                   outside(c.getWHh())) {
          transpose(c.getWIhMutable());
          transpose(c.getWHhMutable());
          c.setTransposedWeights(true);
        }
      });
    });
  }
};

} // namespace
