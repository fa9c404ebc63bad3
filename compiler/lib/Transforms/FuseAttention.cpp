// attn-fuse-attention: one kernel per score → masked_softmax → weighted_sum chain, with the projection of a
// single query row and the probabilities when something outside reads them; one kernel for the gradients
// of an additive score with respect to its operands.
#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/KernelFormation.h"
#include "attn/Transforms/Passes.h"

#include "llvm/ADT/MapVector.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFUSEATTENTION
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The dense layer that projects the query of `score` when it is the projection's only reader and the
/// query is one row per batch (a decoder step): that projection costs less than a kernel launch, so it
/// runs inside the attention kernel.
DenseOp queryProjection(Operation *score) {
  Value query = score->getOperand(0);
  auto dense = query.getDefiningOp<DenseOp>();
  if (!dense || !query.hasOneUse() || dense->getBlock() != score->getBlock())
    return nullptr;
  auto type = cast<RankedTensorType>(query.getType());
  return type.getRank() == 3 && type.getDimSize(1) == 1 ? dense : nullptr;
}

/// The gradients of one additive score with respect to several of its operands (the same query, keys, v
/// and incoming gradient), in block order: one kernel computes them, so that they share the tanh of every
/// (query, key) pair. A group is kept only when everything that reads it comes after its last member,
/// where the kernel goes.
SmallVector<SmallVector<Operation *, 4>> scoreGradientSiblings(func::FuncOp func) {
  llvm::MapVector<std::tuple<Block *, Value, Value, Value, Value>, SmallVector<Operation *, 4>> groups;
  func.walk([&](AdditiveScoreGradOp g) {
    if (!isa<KernelOp>(g->getParentOp()))
      groups[{g->getBlock(), g.getQuery(), g.getKeys(), g.getV(), g.getGrad()}].push_back(g);
  });
  SmallVector<SmallVector<Operation *, 4>> kept;
  for (auto &[key, ops] : groups) {
    if (ops.size() < 2)
      continue;
    Operation *last = ops.back();
    auto follows = [&](Operation *user) {
      Operation *owner = last->getBlock()->findAncestorOpInBlock(*user);
      return owner && (owner == last || last->isBeforeInBlock(owner));
    };
    if (llvm::all_of(ops, [&](Operation *op) { return llvm::all_of(op->getUsers(), follows); }))
      kept.push_back(ops);
  }
  return kept;
}

struct AttnFuseAttentionPass : mlir::attn::impl::AttnFuseAttentionBase<AttnFuseAttentionPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    SmallVector<SmallVector<Operation *, 4>> chains;
    func.walk([&](WeightedSumOp sum) {
      if (isa<KernelOp>(sum->getParentOp()))
        return;
      auto softmax = sum.getWeights().getDefiningOp<MaskedSoftmaxOp>();
      if (!softmax || softmax->getBlock() != sum->getBlock())
        return;
      // The kernel takes the place of the weighted sum, so other readers of the probabilities must follow it.
      if (llvm::any_of(softmax->getUsers(), [&](Operation *user) { return user->isBeforeInBlock(sum); }))
        return;
      Operation *score = softmax.getScores().getDefiningOp();
      if (!isa_and_nonnull<ScoreOp, AdditiveScoreOp>(score) || !score->hasOneUse() ||
          score->getBlock() != sum->getBlock())
        return;
      SmallVector<Operation *, 4> chain;
      if (DenseOp projection = queryProjection(score))
        chain.push_back(projection);
      chain.append({score, softmax, sum});
      chains.push_back(std::move(chain));
    });
    KernelNamer namer(func);
    for (auto &chain : chains)
      formKernel(chain, namer.name("attention", chain[chain.size() - 3]));
    for (auto &siblings : scoreGradientSiblings(func))
      formKernel(siblings, namer.name("additive_score_grad", siblings.front()));
  }
};

} // namespace
