// attn-decompose: rewrites attention layers into primitives: score, masked_softmax and weighted_sum for
// sequence attention; pooling, dense, reductions, convolutions, broadcasts and elementwise ops for the CNN
// attention layers.
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
    Value probs = MaskedSoftmaxOp::create(rewriter, loc, scoreType, scores, op.getMask(), op.getOffset(),
                                          op.getCausalAttr());
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
    Value probs =
        MaskedSoftmaxOp::create(rewriter, loc, scoreType, scores, op.getMask(), Value(), UnitAttr());
    rewriter.replaceOpWithNewOp<WeightedSumOp>(op, op.getType(), probs, op.getValues());
    return success();
  }
};

/// Creates `OpT` and gives its result the type its operands imply.
template <typename OpT, typename... Args>
Value build(PatternRewriter &rewriter, Location loc, Value typeHint, Args &&...args) {
  auto op = OpT::create(rewriter, loc, typeHint.getType(), std::forward<Args>(args)...);
  op->getResult(0).setType(cast<ShapedOpInterface>(op.getOperation()).inferResultType());
  return op->getResult(0);
}

/// x · broadcast(w) for per-channel ([B, C]) or per-position ([B, 1, H, W]) weights w of a feature map x.
Value scaleFeatureMap(PatternRewriter &rewriter, Location loc, Value x, Value w) {
  for (int64_t axis = cast<RankedTensorType>(w.getType()).getRank(); axis < 4; ++axis)
    w = build<ExpandDimsOp>(rewriter, loc, x, w, rewriter.getI64IntegerAttr(axis));
  Value spread = build<BroadcastOp>(rewriter, loc, x, w, x);
  return build<MulOp>(rewriter, loc, x, x, spread);
}

/// channel_attention: x · σ(MLP(avgpool x) + MLP(maxpool x)), MLP(z) = W2·relu(W1·z + b1) + b2.
struct DecomposeChannelAttention : OpRewritePattern<ChannelAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(ChannelAttentionOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto mlp = [&](StringRef kind) {
      Value pooled = build<GlobalPoolOp>(rewriter, loc, x, x, rewriter.getStringAttr(kind));
      Value hidden =
          build<ReluOp>(rewriter, loc, x, build<DenseOp>(rewriter, loc, x, pooled, op.getW1(), op.getB1()));
      return build<DenseOp>(rewriter, loc, x, hidden, op.getW2(), op.getB2());
    };
    Value avg = mlp("avg"), max = mlp("max"); // in this order: argument order is unspecified
    Value logits = build<AddOp>(rewriter, loc, x, avg, max);
    rewriter.replaceOp(op, scaleFeatureMap(rewriter, loc, x, build<SigmoidOp>(rewriter, loc, x, logits)));
    return success();
  }
};

/// σ(conv([mean_c x; max_c x])) of CBAM spatial attention, [B, 1, H, W]. The two-channel convolution is
/// the sum of one convolution per statistic, each with its slice of the kernel.
Value spatialWeights(PatternRewriter &rewriter, Location loc, Value x, Value w) {
  int64_t pad = cast<RankedTensorType>(w.getType()).getDimSize(2) / 2;
  auto one = rewriter.getDenseI64ArrayAttr({1, 1});
  auto convolve = [&](StringRef kind, int64_t channel) {
    Value stat =
        build<ReduceOp>(rewriter, loc, x, x, rewriter.getI64IntegerAttr(1), rewriter.getStringAttr(kind));
    Value kernel = build<SliceOp>(rewriter, loc, w, w, rewriter.getI64IntegerAttr(1),
                                  rewriter.getI64IntegerAttr(channel), rewriter.getI64IntegerAttr(1));
    return build<Conv2DOp>(rewriter, loc, stat, stat, kernel, Value(), one,
                           rewriter.getDenseI64ArrayAttr({pad, pad}), one, rewriter.getI64IntegerAttr(1));
  };
  Value mean = convolve("mean", 0), max = convolve("max", 1); // in this order: argument order is unspecified
  return build<SigmoidOp>(rewriter, loc, mean, build<AddOp>(rewriter, loc, mean, mean, max));
}

/// spatial_attention: x · broadcast(spatial weights).
struct DecomposeSpatialAttention : OpRewritePattern<SpatialAttentionOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SpatialAttentionOp op, PatternRewriter &rewriter) const override {
    Value weights = spatialWeights(rewriter, op.getLoc(), op.getInput(), op.getWeight());
    rewriter.replaceOp(op, scaleFeatureMap(rewriter, op.getLoc(), op.getInput(), weights));
    return success();
  }
};

/// spatial_attention_weights: the same weights, which CSE then shares with the layer's own.
struct DecomposeSpatialAttentionWeights : OpRewritePattern<SpatialAttentionWeightsOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SpatialAttentionWeightsOp op, PatternRewriter &rewriter) const override {
    rewriter.replaceOp(op, spatialWeights(rewriter, op.getLoc(), op.getInput(), op.getWeight()));
    return success();
  }
};

/// self_attention_2d: the feature map as a sequence of H·W positions [B, H·W, C]; θ, φ and g are dense
/// layers, then scores (unscaled), softmax and weighted sum, the output projection, and the residual.
struct DecomposeSelfAttention2D : OpRewritePattern<SelfAttention2DOp> {
  using OpRewritePattern::OpRewritePattern;

  LogicalResult matchAndRewrite(SelfAttention2DOp op, PatternRewriter &rewriter) const override {
    Location loc = op.getLoc();
    Value x = op.getInput();
    auto type = cast<RankedTensorType>(x.getType());
    int64_t c = type.getDimSize(1), positions = type.getDimSize(2) * type.getDimSize(3);
    auto swap = rewriter.getDenseI64ArrayAttr({0, 2, 1});
    auto tensor = [&](ArrayRef<int64_t> shape) {
      return RankedTensorType::get(shape, rewriter.getF32Type());
    };
    int64_t batch = type.getDimSize(0);
    Value flat = ReshapeOp::create(rewriter, loc, tensor({batch, c, positions}), x);
    Value seq = build<TransposeOp>(rewriter, loc, flat, flat, swap);
    auto project = [&](Value in, Value w, Value b) { return build<DenseOp>(rewriter, loc, in, in, w, b); };
    Value theta = project(seq, op.getWq(), op.getBq()), phi = project(seq, op.getWk(), op.getBk()),
          g = project(seq, op.getWv(), op.getBv());
    Value scores = build<ScoreOp>(rewriter, loc, theta, theta, phi, rewriter.getI64IntegerAttr(1),
                                   rewriter.getF32FloatAttr(1.0f));
    Value probs = build<MaskedSoftmaxOp>(rewriter, loc, scores, scores, Value(), Value(), UnitAttr());
    Value context = build<WeightedSumOp>(rewriter, loc, g, probs, g);
    Value out = build<TransposeOp>(rewriter, loc, flat, project(context, op.getWo(), op.getBo()), swap);
    Value map = ReshapeOp::create(rewriter, loc, type, out);
    rewriter.replaceOpWithNewOp<AddOp>(op, x, map);
    return success();
  }
};

struct AttnDecomposePass : mlir::attn::impl::AttnDecomposeBase<AttnDecomposePass> {
  void runOnOperation() override {
    RewritePatternSet patterns(&getContext());
    patterns.add<DecomposeDotAttention, DecomposeAdditiveAttention, DecomposeChannelAttention,
                 DecomposeSpatialAttention, DecomposeSpatialAttentionWeights, DecomposeSelfAttention2D>(
        &getContext());
    if (failed(applyPatternsGreedily(getOperation(), std::move(patterns))))
      signalPassFailure();
  }
};

} // namespace
