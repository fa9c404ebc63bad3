// attn-fuse-attention: one kernel per score → masked_softmax → weighted_sum chain.
#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/KernelFormation.h"
#include "attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNFUSEATTENTION
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

struct AttnFuseAttentionPass : mlir::attn::impl::AttnFuseAttentionBase<AttnFuseAttentionPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    SmallVector<SmallVector<Operation *, 3>> chains;
    func.walk([&](WeightedSumOp sum) {
      if (isa<KernelOp>(sum->getParentOp()))
        return;
      auto softmax = sum.getWeights().getDefiningOp<MaskedSoftmaxOp>();
      if (!softmax || !softmax->hasOneUse() || softmax->getBlock() != sum->getBlock())
        return;
      Operation *score = softmax.getScores().getDefiningOp();
      if (!isa_and_nonnull<ScoreOp, AdditiveScoreOp>(score) || !score->hasOneUse() ||
          score->getBlock() != sum->getBlock())
        return;
      chains.push_back({score, softmax, sum});
    });
    KernelNamer namer(func);
    for (auto &chain : chains)
      formKernel(chain, namer.name("attention", chain.front()));
  }
};

} // namespace
