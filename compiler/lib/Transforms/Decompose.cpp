// attn-decompose: rewrites attention layers into the primitives score, masked_softmax and weighted_sum.
#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/Passes.h"

#include "mlir/IR/PatternMatch.h"
#include "mlir/Transforms/GreedyPatternRewriteDriver.h"

#include <cmath>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNDECOMPOSE
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// dot_attention(q, k, v) = weighted_sum(masked_softmax(score(q, k)), v). The scale defaults to
/// 1/sqrt(head size), as in torch.nn.functional.scaled_dot_product_attention.
struct DecomposeDotAttention : OpRewritePattern<DotAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(DotAttentionOp op, PatternRewriter &rewriter) const override {
    auto qType = cast<RankedTensorType>(op.getQuery().getType());
    auto kType = cast<RankedTensorType>(op.getKeys().getType());
    int64_t heads = op.getNumHeads();
    float scale = op.getScale() ? op.getScale()->convertToFloat()
                                : 1.0f / std::sqrt(float(qType.getDimSize(2) / heads));
    auto scoreType = RankedTensorType::get(
        {qType.getDimSize(0), heads, qType.getDimSize(1), kType.getDimSize(1)}, rewriter.getF32Type());

    Location loc = op.getLoc();
    Value scores = ScoreOp::create(rewriter, loc, scoreType, op.getQuery(), op.getKeys(),
                                   rewriter.getI64IntegerAttr(heads), rewriter.getF32FloatAttr(scale));
    Value probs = MaskedSoftmaxOp::create(rewriter, loc, scoreType, scores, op.getMask(), op.getCausalAttr());
    rewriter.replaceOpWithNewOp<WeightedSumOp>(op, op.getType(), probs, op.getValues());
    return success();
  }
};

/// additive_attention(q, k, v) = weighted_sum(masked_softmax(additive_score(dense(q), dense(k))), v). The
/// key projection is a dense layer of its own, so it is computed once per sequence, not once per query.
struct DecomposeAdditiveAttention : OpRewritePattern<AdditiveAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(AdditiveAttentionOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    auto project = [&](Value x, Value w, Value b) -> Value {
      auto type = cast<RankedTensorType>(x.getType());
      SmallVector<int64_t> shape(type.getShape());
      shape.back() = cast<RankedTensorType>(w.getType()).getDimSize(0);
      return DenseOp::create(rewriter, loc, RankedTensorType::get(shape, rewriter.getF32Type()), x, w, b);
    };
    Value q = project(op.getQuery(), op.getQueryWeight(), op.getQueryBias());
    Value k = project(op.getKeys(), op.getKeyWeight(), op.getKeyBias());
    auto qType = cast<RankedTensorType>(q.getType()), kType = cast<RankedTensorType>(k.getType());
    auto scoreType = RankedTensorType::get({qType.getDimSize(0), 1, qType.getDimSize(1), kType.getDimSize(1)},
                                           rewriter.getF32Type());
    Value scores = AdditiveScoreOp::create(rewriter, loc, scoreType, q, k, op.getV());
    Value probs = MaskedSoftmaxOp::create(rewriter, loc, scoreType, scores, op.getMask(), UnitAttr());
    rewriter.replaceOpWithNewOp<WeightedSumOp>(op, op.getType(), probs, op.getValues());
    return success();
  }
};

struct AttnDecomposePass : mlir::attn::impl::AttnDecomposeBase<AttnDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeDotAttention, DecomposeAdditiveAttention>(&getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
