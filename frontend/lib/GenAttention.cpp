// The attention layers: dot-product (multi-head, causal, masked, scaled/dot/general scores) and additive
// attention over sequences, with their weights as a second result on request, and the attention layers
// over feature maps (channel, spatial and 2-D self-attention).
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

#include <cmath>
#include <tuple>

namespace attn::gen {

/// Two symbolic dimensions must be the same symbol or the same size.
bool MLIRGenImpl::sameDim(const Tensor &a, size_t i, const Tensor &b, size_t j, StringRef what,
                          const Expr &at, StringRef aName, StringRef bName) {
  if (a.shape[i] == b.shape[j])
    return true;
  error(at.getLoc()) << "dot_attention: the " << what << " of " << aName << " " << str(a.shape) << " is "
                     << a.shape[i].str() << " but that of " << bName << " " << str(b.shape) << " is "
                     << b.shape[j].str();
  return false;
}

/// dot_attention and additive_attention. A rank-2 query [B, D] (one decoder step) is attended as a
/// one-query sequence and its results squeezed back. When the statement asks for the weights as well
/// (`ctx, w = ...`), the primitives are emitted directly so that the probabilities are a value; they are
/// then [B, H, Sq, Sk], without H when it is 1 and without Sq for a rank-2 query.
std::optional<Tensor> MLIRGenImpl::genAttention(const CallExpr &call, const BoundArgs &args, StringRef layer,
                                                const std::string &prefix, bool withWeights) {
  bool additive = layer == "additive_attention";
  const Expr &qe = *args.get("query"), &ke = *args.get("keys");
  const Expr &ve = args.get("values") ? *args.get("values") : ke;
  std::optional<Tensor> q = genTensor(qe, false, "'query'");
  allowCache = !additive; // a decoder step attends over its key/value caches
  std::optional<Tensor> k = genTensor(ke, false, "'keys'");
  allowCache = !additive;
  std::optional<Tensor> v = args.get("values") ? genTensor(ve, false, "'values'") : k;
  allowCache = false;
  std::optional<int64_t> heads = intArg(args, "heads", 1, 1), units = intArg(args, "units", 1, 1);
  std::optional<bool> causal = boolArg(args, "causal", false);
  std::optional<Number> scale;
  if (const Expr *e = args.get("scale")) {
    scale = evalNumber(*e);
    if (!scale)
      return std::nullopt;
    if (!(scale->value > 0)) {
      error(e->getLoc()) << "expected a positive scale, found " << str(scale->value);
      return std::nullopt;
    }
  }
  std::string scoreKind = "scaled";
  if (const Expr *e = args.get("score")) {
    auto *str = llvm::dyn_cast<StringExpr>(e);
    if (!str || (str->getValue() != "scaled" && str->getValue() != "dot" && str->getValue() != "general")) {
      error(e->getLoc()) << "expected score \"scaled\", \"dot\" or \"general\" for dot_attention";
      return std::nullopt;
    }
    scoreKind = str->getValue().str();
  }
  std::optional<Tensor> mask;
  if (const Expr *m = args.get("mask")) {
    mask = genTensor(*m, false, "'mask'");
    if (!mask)
      return std::nullopt;
  }
  if (!q || !k || !v || !heads || !units || !causal)
    return std::nullopt;
  if (!expectF32(*q, qe, layer, "query") || !expectF32(*k, ke, layer, "keys") ||
      !expectF32(*v, ve, layer, "values"))
    return std::nullopt;
  bool stepQuery = q->shape.size() == 2;
  if (!stepQuery && q->shape.size() != 3) {
    error(qe.getLoc()) << layer << " expects a query of rank 3 [batch, length, features] or 2 [batch, "
                       << "features], found " << str(q->shape);
    return std::nullopt;
  }
  for (auto [t, e, n] : {std::tuple{&*k, &ke, "keys"}, {&*v, &ve, "values"}})
    if (t->shape.size() != 3) {
      error(e->getLoc()) << layer << " expects " << n << " of rank 3 [batch, length, features], found "
                         << str(t->shape);
      return std::nullopt;
    }
  // Over caches, the query of a search step sits at the step's position; teacher forcing run at once
  // attends causally over the rows appended at every step.
  mlir::Value offset;
  if (k->isCache || v->isCache) {
    std::string problem =
        !(k->isCache && v->isCache) ? "keys and values must both be caches"
        : !*causal                  ? "attention over a cache is causal: give causal = true"
        : args.get("mask") ? "attention over a cache takes no mask (causality keeps the rows written)"
        : !isFilledCache(*k) || !isFilledCache(*v)
            ? "append this step's row to the cache before attending over it"
        : stepQuery == parallelTeacher ? "the query over a cache is one row per sequence [batch, features]"
                                       : "";
    if (!problem.empty()) {
      error(call.getLoc()) << layer << " over a key/value cache: " << problem;
      return std::nullopt;
    }
    offset = decoderPosition;
  }
  mlir::Location at = opLoc(call), l = loc(call.getLoc());
  if (stepQuery) {
    SymShape shape{q->shape[0], SymDim{1, ""}, q->shape[1]};
    q = Tensor{
        mlir::attn::ExpandDimsOp::create(builder, at, irType(shape), q->value, builder.getI64IntegerAttr(1)),
        shape};
  }
  if (!sameDim(*q, 0, *k, 0, "batch size", ke, "query", "keys") ||
      !sameDim(*k, 0, *v, 0, "batch size", ve, "keys", "values") ||
      !sameDim(*k, 1, *v, 1, "length", ve, "keys", "values"))
    return std::nullopt;
  if (additive && (!q->shape[2].symbol.empty() || !k->shape[2].symbol.empty())) {
    error(call.getLoc()) << "additive_attention needs constant feature sizes, found query " << str(q->shape)
                         << " and keys " << str(k->shape);
    return std::nullopt;
  }
  if (!additive) {
    if (!sameDim(*q, 2, *k, 2, "feature size", ke, "query", "keys"))
      return std::nullopt;
    for (auto [t, e, n] : {std::tuple{&*q, &qe, "query"}, {&*v, &ve, "values"}}) {
      const SymDim &d = t->shape[2];
      if (!d.symbol.empty() || d.size % *heads != 0) {
        error(e->getLoc()) << "dot_attention: the feature size of " << n << " (" << d.str()
                           << ") must be a constant divisible by heads (" << *heads << ")";
        return std::nullopt;
      }
    }
  }
  if (mask) {
    const Expr &me = *args.get("mask");
    if (!mask->isI32) {
      error(me.getLoc()) << layer << " expects an i32 mask (non-zero = attend), found f32";
      return std::nullopt;
    }
    SymShape expected{q->shape[0], k->shape[1]};
    if (mask->shape != expected && mask->shape != SymShape{q->shape[0]}) {
      error(me.getLoc()) << layer << " expects a mask of shape " << str(expected)
                         << " [batch, key length] or lengths " << str({q->shape[0]}) << ", found "
                         << str(mask->shape);
      return std::nullopt;
    }
    if (mask->shape.size() == 1)
      boundLengths(mask->value, k->shape[1]);
  }
  mlir::Value maskValue = mask ? mask->value : mlir::Value();
  SymShape ctxShape{q->shape[0], q->shape[1], v->shape[2]};
  mlir::Value queryValue = q->value, context, weights;
  int64_t numHeads = additive ? 1 : *heads;
  if (!additive && scoreKind == "general") {
    int64_t d = q->shape[2].size;
    queryValue = mlir::attn::DenseOp::create(builder, at, irType(q->shape), q->value,
                                             param(prefix + ".weight", {d, d}, l), mlir::Value());
  }
  float dotScale = scale ? float(scale->value)
                   : scoreKind == "scaled" ? 1.0f / std::sqrt(float(q->shape[2].size / numHeads))
                                           : 1.0f;
  SymShape probShape{q->shape[0], SymDim{numHeads, ""}, q->shape[1], k->shape[1]};
  if (additive) {
    int64_t u = *units;
    mlir::Value wq = param(prefix + ".query.weight", {u, q->shape[2].size}, l),
                bq = param(prefix + ".query.bias", {u}, l),
                wk = param(prefix + ".keys.weight", {u, k->shape[2].size}, l),
                bk = param(prefix + ".keys.bias", {u}, l), vw = param(prefix + ".v.weight", {1, u}, l);
    if (withWeights) {
      SymShape qp{q->shape[0], q->shape[1], SymDim{u, ""}}, kp{k->shape[0], k->shape[1], SymDim{u, ""}};
      mlir::Value qv = mlir::attn::DenseOp::create(builder, at, irType(qp), q->value, wq, bq);
      mlir::Value kv = mlir::attn::DenseOp::create(builder, at, irType(kp), k->value, wk, bk);
      mlir::Value scores = mlir::attn::AdditiveScoreOp::create(builder, at, irType(probShape), qv, kv, vw);
      weights = mlir::attn::MaskedSoftmaxOp::create(builder, at, irType(probShape), scores, maskValue,
                                                    mlir::Value(), nullptr);
    } else {
      context = mlir::attn::AdditiveAttentionOp::create(builder, at, irType(ctxShape), q->value, k->value,
                                                        v->value, maskValue, wq, bq, wk, bk, vw);
    }
  } else if (withWeights) {
    mlir::Value scores = mlir::attn::ScoreOp::create(builder, at, irType(probShape), queryValue, k->value,
                                                     builder.getI64IntegerAttr(numHeads),
                                                     builder.getF32FloatAttr(dotScale));
    weights = mlir::attn::MaskedSoftmaxOp::create(builder, at, irType(probShape), scores, maskValue, offset,
                                                  *causal ? builder.getUnitAttr() : nullptr);
  } else {
    context = mlir::attn::DotAttentionOp::create(
        builder, at, irType(ctxShape), queryValue, k->value, v->value, maskValue, offset,
        builder.getI64IntegerAttr(numHeads), *causal ? builder.getUnitAttr() : nullptr,
        builder.getF32FloatAttr(dotScale));
  }
  if (weights)
    context = mlir::attn::WeightedSumOp::create(builder, at, irType(ctxShape), weights, v->value);

  Tensor ctx{context, ctxShape};
  if (stepQuery)
    ctx = squeeze(ctx, 1, at);
  lastResults = {ctx};
  if (weights) {
    Tensor w{weights, probShape};
    if (stepQuery)
      w = squeeze(w, 2, at);
    if (numHeads == 1)
      w = squeeze(w, 1, at);
    lastResults.push_back(w);
  }
  return ctx;
}

/// channel_attention, spatial_attention and self_attention_2d: attention over a feature map's channels
/// or positions, returning a reweighted map of the same shape.
std::optional<Tensor> MLIRGenImpl::genFeatureAttention(const CallExpr &call, const BoundArgs &args,
                                                       StringRef layer, const std::string &prefix,
                                                       bool topLevel) {
  std::optional<Tensor> x = featureMap(args, layer);
  if (!x)
    return std::nullopt;
  int64_t c = x->shape[1].size;
  mlir::Location l = loc(call.getLoc()), at = opLoc(call);
  mlir::Operation *op = nullptr;
  if (layer == "spatial_attention") {
    std::optional<int64_t> k = intArg(args, "kernel", 7, 1);
    if (!k)
      return std::nullopt;
    if (*k % 2 == 0) {
      error(args.get("kernel")->getLoc()) << "spatial_attention needs an odd kernel, found " << *k;
      return std::nullopt;
    }
    mlir::Value w = param(prefix + ".conv.weight", {1, 2, *k, *k}, l);
    op = mlir::attn::SpatialAttentionOp::create(builder, at, irType(x->shape), x->value, w);
    Tensor y = finish(op, *x);
    if (topLevel && wantedResults == 2) { // y, weights = spatial_attention(x)
      SymShape shape = x->shape;
      shape[1] = SymDim{1, ""};
      auto weights = mlir::attn::SpatialAttentionWeightsOp::create(builder, at, irType(shape), x->value, w);
      lastResults = {y, Tensor{weights.getResult(), shape}};
    }
    return y;
  }
  bool isChannel = layer == "channel_attention";
  std::optional<int64_t> r = intArg(args, "reduction", isChannel ? 8 : 2, 1);
  if (!r)
    return std::nullopt;
  if (c % *r != 0) {
    error(args.get("reduction") ? args.get("reduction")->getLoc() : call.getLoc())
        << layer << ": the channel count (" << c << ") must be divisible by the reduction (" << *r << ")";
    return std::nullopt;
  }
  int64_t inner = c / *r;
  auto projection = [&](StringRef name, int64_t out, int64_t in) {
    return std::pair{param(prefix + "." + name.str() + ".weight", {out, in}, l),
                     param(prefix + "." + name.str() + ".bias", {out}, l)};
  };
  if (isChannel) {
    auto [w1, b1] = projection("fc1", inner, c);
    auto [w2, b2] = projection("fc2", c, inner);
    op = mlir::attn::ChannelAttentionOp::create(builder, at, irType(x->shape), x->value, w1, b1, w2, b2);
  } else {
    auto [wq, bq] = projection("theta", inner, c);
    auto [wk, bk] = projection("phi", inner, c);
    auto [wv, bv] = projection("g", inner, c);
    auto [wo, bo] = projection("out", c, inner);
    op = mlir::attn::SelfAttention2DOp::create(builder, at, irType(x->shape), x->value, wq, bq, wk, bk, wv,
                                               bv, wo, bo);
  }
  return finish(op, *x);
}

} // namespace attn::gen
