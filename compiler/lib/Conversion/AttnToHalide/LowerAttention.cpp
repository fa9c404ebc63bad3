// Attention: dot-product and additive scores, the masked softmax over keys, the weighted sum of values,
// the streaming form of the whole dot-product chain (an online softmax over blocks of keys), and the
// gradients of the probabilities and of additive scores.
#include "AlgorithmBuilder.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

namespace {

/// A score below any finite one, for excluded keys, with no infinities to propagate.
constexpr float kExcludedScore = -3.0e38f;

/// Where exp stops being a normal float: fast_exp's argument is clamped there.
constexpr float kLowestExponent = -87.0f;

/// Keys a streaming block holds, queries a tile holds, and the vector lanes the block maxima and sums
/// are first reduced to (a multiple of every target's float vector width).
constexpr int kLanes = 16;

/// The shared memory a CUDA kernel gets without opting in to more, which GPU streaming attention keeps to.
constexpr int64_t kGpuSharedBytes = 48 * 1024;

/// The slots of a value row and of a query's state in GPU streaming attention (StreamingAttentionStages).
int gpuSlots(int dv) { return (dv + 1 + 3) / 4 * 4; }

/// The shared memory of one block of threads of GPU streaming attention: a tile of queries, a block's keys
/// and values (in gpuSlots), the tile's scores for them (with a row for their maximum) and the tile's state
/// (gpuSlots per query, each with the running maximum).
int64_t gpuSharedBytes(int64_t queryTile, int64_t keyBlock, int64_t dk, int dv) {
  int64_t slots = gpuSlots(dv);
  return 4 * (queryTile * dk + keyBlock * (dk + slots) + (keyBlock + 1) * queryTile + 2 * slots * queryTile);
}

/// Whether `op` is the end of a dot-product attention chain that nothing else reads into: then it is
/// lowered as one streaming computation (queries at positions of their own, a decoder step's against its
/// cache, are not: their keys are few).
std::pair<ScoreOp, MaskedSoftmaxOp> streamingChain(WeightedSumOp op) {
  auto softmax = op.getWeights().getDefiningOp<MaskedSoftmaxOp>();
  if (!softmax || !softmax->hasOneUse() || softmax.getOffset())
    return {};
  auto score = softmax.getScores().getDefiningOp<ScoreOp>();
  if (!score || !score->hasOneUse())
    return {};
  return {score, softmax};
}

/// 2^t for t ≤ 0, as the CPU streaming attention computes its exponentials: 2^⌈t⌉ put in the exponent
/// bits of 2^(t − ⌈t⌉), a polynomial of degree 5 on (−1, 0] (a relative error under 3e-7, fitted to
/// Chebyshev nodes). Its argument is clamped where floats stop being normal. It needs no floor, which x86
/// rounds as two halves of a 512-bit vector in Halide's fast_exp: 21 instructions per vector of
/// probabilities instead of 30.
Expr exp2NonPositive(Expr t) {
  static constexpr float kCoefficients[] = {0.99999994f,  0.69314224f,  0.24017219f,
                                            0.055279724f, 0.009188612f, 0.00093878835f};
  t = Halide::max(t, -125.0f);
  Expr whole = Halide::cast<int32_t>(t); // toward zero: ⌈t⌉
  Expr fraction = t - Halide::cast<float>(whole);
  Expr power = kCoefficients[5];
  for (int i = 4; i >= 0; --i)
    power = power * fraction + kCoefficients[i];
  return Halide::reinterpret(Halide::Float(32), Halide::reinterpret(Halide::Int(32), power) + (whole << 23));
}

/// log2(e): e^x = 2^(x · log2 e).
constexpr float kLog2E = 1.44269504f;

/// Folding a block whose largest score is `blockMax` into a running maximum `max`: the new maximum and
/// the factors that rescale the running sums and the block's sums to it. One of the two factors is 1, so
/// one exponential serves both (exp2NonPositive on a CPU).
std::tuple<Expr, Expr, Expr> rescaling(Expr max, Expr blockMax, float scale, bool gpu) {
  Expr oldWins = max >= blockMax;
  Expr exponent = -Halide::abs(max - blockMax) * scale;
  Expr factor = gpu ? Halide::exp(exponent) : exp2NonPositive(exponent * kLog2E);
  return {Halide::max(max, blockMax), Halide::select(oldWins, 1.0f, factor),
          Halide::select(oldWins, factor, 1.0f)};
}

} // namespace

/// score[b, h, i, j] = scale · Σ_d q[b, i, h·Dh + d] · k[b, j, h·Dh + d].
FailureOr<HTensor> AlgorithmBuilder::lowerScore(ScoreOp op) {
  const HTensor &q = values[op.getQuery()];
  const HTensor &k = values[op.getKeys()];
  int64_t heads = op.getNumHeads();
  int64_t headSize = staticDim(op.getQuery(), 2) / heads;
  ScoreStages s{Func(name(op, "dot")), Func(name(op, "score")), Func(name(op, "keys_t")), Var("j"), Var("i"),
                Var("h"), Var("b")};
  int hs = static_cast<int>(headSize);
  s.dot(s.j, s.i, s.h, s.b) = 0.0f;
  // Scores a softmax normalizes are attention (scheduled over rows of keys); others sum lanes of features.
  bool normalized = llvm::any_of(op->getUsers(), [](Operation *user) { return isa<MaskedSoftmaxOp>(user); });
  if (int width = hs % 16 == 0 ? 16 : hs % 8 == 0 ? 8 : 0; !normalized && width) {
    RDom ro(0, hs / width, "ro"), rl(0, width, "rl");
    Expr feature = s.h * hs + ro * width + s.l;
    s.lanes = Func(name(op, "lanes"));
    s.lanes(s.l, s.j, s.i, s.h, s.b) = 0.0f;
    s.lanes(s.l, s.j, s.i, s.h, s.b) += q.func(feature, s.i, s.b) * k.func(feature, s.j, s.b);
    s.dot(s.j, s.i, s.h, s.b) += s.lanes(rl, s.j, s.i, s.h, s.b);
  } else {
    RDom rd(0, hs, "rd");
    Var d("d");
    // Clamped, so that a schedule may compute whole vectors of keys past the last one (short rows).
    s.keysT(s.j, d, s.h, s.b) = k.func(s.h * hs + d, Halide::clamp(s.j, 0, k.extent(1) - 1), s.b);
    s.dot(s.j, s.i, s.h, s.b) += q.func(s.h * hs + rd, s.i, s.b) * s.keysT(s.j, rd, s.h, s.b);
  }
  s.result(s.j, s.i, s.h, s.b) = s.dot(s.j, s.i, s.h, s.b) * op.getScale().convertToFloat();
  out.score.push_back(s);
  return HTensor{s.result, {q.extent(0), Expr(static_cast<int>(heads)), q.extent(1), k.extent(1)}};
}

/// score[b, 0, i, j] = Σ_u v[u] · tanh(q[b, i, u] + k[b, j, u]).
FailureOr<HTensor> AlgorithmBuilder::lowerAdditiveScore(AdditiveScoreOp op) {
  const HTensor &q = values[op.getQuery()];
  const HTensor &k = values[op.getKeys()];
  const HTensor &v = values[op.getV()];
  int units = int(staticDim(op.getV(), 1));
  ScoreStages s{
      Func(name(op, "dot")), Func(name(op, "score")), Func(), Var("j"), Var("i"), Var("h"), Var("b")};
  auto term = [&](Expr unit) {
    return v.func(unit, 0) * tanhOf(q.func(unit, s.i, s.b) + k.func(unit, s.j, s.b));
  };
  s.dot(s.j, s.i, s.h, s.b) = 0.0f;
  int width = out.machine.gpu ? 0 : units % 16 == 0 ? 16 : units % 8 == 0 ? 8 : 0;
  if (width) {
    // On a CPU, a key's terms summed a vector of units at a time (the keys are contiguous along the
    // units), the lanes added once at the end; a GPU thread sums a key's terms itself.
    RDom ro(0, units / width, "ro"), rl(0, width, "rl");
    s.lanes = Func(name(op, "lanes"));
    s.lanes(s.l, s.j, s.i, s.h, s.b) = 0.0f;
    s.lanes(s.l, s.j, s.i, s.h, s.b) += term(ro * width + s.l);
    s.dot(s.j, s.i, s.h, s.b) += s.lanes(rl, s.j, s.i, s.h, s.b);
  } else {
    RDom ru(0, units, "ru");
    s.dot(s.j, s.i, s.h, s.b) += term(ru);
  }
  s.result(s.j, s.i, s.h, s.b) = s.dot(s.j, s.i, s.h, s.b);
  out.score.push_back(s);
  return HTensor{s.result, {q.extent(0), Expr(1), q.extent(1), k.extent(1)}};
}

/// The gradients of Σ_u v[u]·tanh(q[b,i,u] + k[b,j,u]) (see AttnGradOps.td). The gradients of one score
/// in one kernel (attn-fuse-attention puts them together) read tanh(q + k) stored once.
FailureOr<HTensor> AlgorithmBuilder::lowerAdditiveScoreGrad(AdditiveScoreGradOp op) {
  const HTensor &q = values[op.getQuery()], &k = values[op.getKeys()], &v = values[op.getV()];
  const HTensor &ds = values[op.getGrad()];
  Var u("u"), n("n"), b("b");
  auto siblings = llvm::count_if(op->getBlock()->getOps<AdditiveScoreGradOp>(), [&](AdditiveScoreGradOp g) {
    return g.getQuery() == op.getQuery() && g.getKeys() == op.getKeys();
  });
  std::function<Expr(Expr, Expr, Expr, Expr)> tanhAt = [&](Expr unit, Expr i, Expr j, Expr batch) {
    return tanhOf(q.func(unit, i, batch) + k.func(unit, j, batch));
  };
  LoweredKernel::AdditiveScoreGrad *stored = nullptr; // where the tanh is stored for the siblings
  if (siblings > 1) {
    auto [index, fresh] =
        additiveTanh.try_emplace({op.getQuery(), op.getKeys()}, out.additiveScoreGrads.size());
    if (fresh) {
      Var i("i"), j("j");
      Func t(name(op, "tanh"));
      t(u, i, j, b) = tanhAt(u, i, j, b);
      out.reductions.push_back(t);
      out.additiveScoreGrads.push_back({t, {}});
    }
    stored = &out.additiveScoreGrads[index->second];
    tanhAt = [t = stored->tanh](Expr unit, Expr i, Expr j, Expr batch) { return t(unit, i, j, batch); };
  }
  auto perRow = [&](Func f) {
    if (stored)
      stored->perRow.push_back(f);
    return f;
  };
  StringRef wrt = op.getWrt();
  if (wrt == "v") {
    // Partial sums per batch row in parallel, then their sum: the result has too few elements to split.
    Func rows = perRow(reduction(op, "dv_rows"));
    RDom r(0, k.extent(1), 0, q.extent(1), "rv"), rb(0, q.extent(0), "rb");
    rows(u, b) = 0.0f;
    rows(u, b) += ds.func(r.x, r.y, 0, b) * tanhAt(u, r.y, r.x, b);
    Func f = reduction(op, "dv");
    f(u, n) = 0.0f;
    f(u, n) += rows(u, rb);
    return HTensor{f, v.shape};
  }
  auto slope = [&](Expr i, Expr j, Expr batch) {
    Expr t = tanhAt(u, i, j, batch);
    return ds.func(j, i, 0, batch) * v.func(u, 0) * (1.0f - t * t);
  };
  bool query = wrt == "query";
  Func f = perRow(reduction(op, "d" + wrt.str()));
  if (!query && staticDim(op.getQuery(), 1) == 1) { // one query (a decoder step): nothing to sum
    f(u, n, b) = slope(0, n, b);
    return HTensor{f, k.shape};
  }
  RDom r(0, query ? k.extent(1) : q.extent(1), "rs");
  f(u, n, b) = 0.0f;
  f(u, n, b) += query ? slope(n, r, b) : slope(r, n, b);
  return HTensor{f, query ? q.shape : k.shape};
}

/// Whether query i of batch row b may attend to key j under `op`'s causality and padding mask.
Expr AlgorithmBuilder::keepsKey(MaskedSoftmaxOp op, Expr j, Expr i, Expr b) {
  Expr ok = Halide::Internal::const_true();
  if (op.getCausal())
    ok = ok && j <= (op.getOffset() ? i + values[op.getOffset()].func(b) : i);
  if (Value mask = op.getMask()) {
    const HTensor &m = values[mask];
    // A mask per key is read clamped: schedules may compute scores past the last key, never used.
    ok = ok && (cast<RankedTensorType>(mask.getType()).getRank() == 1
                    ? j < m.func(b)
                    : m.func(Halide::clamp(j, 0, m.extent(1) - 1), b) != 0);
  }
  return ok;
}

/// Softmax over keys j, skipping keys that the padding mask or causality exclude; rows with no key
/// left are zero rather than NaN.
FailureOr<HTensor> AlgorithmBuilder::lowerMaskedSoftmax(MaskedSoftmaxOp op) {
  const HTensor &scores = values[op.getScores()];
  MaskedSoftmaxStages s;
  s.j = Var("j"), s.i = Var("i"), s.h = Var("h"), s.b = Var("b");
  s.escapes = !op->hasOneUse();
  auto keep = [&](Expr j, Expr i, Expr b) { return keepsKey(op, j, i, b); };
  const float excluded = kExcludedScore;
  RDom rj(0, scores.extent(3), "rj");
  s.max = Func(name(op, "max"));
  s.max(s.i, s.h, s.b) = excluded;
  s.max(s.i, s.h, s.b) = Halide::max(
      s.max(s.i, s.h, s.b), Halide::select(keep(rj, s.i, s.b), scores.func(rj, s.i, s.h, s.b), excluded));
  s.exp = Func(name(op, "exp"));
  s.exp(s.j, s.i, s.h, s.b) =
      Halide::select(keep(s.j, s.i, s.b),
                     Halide::exp(scores.func(s.j, s.i, s.h, s.b) - s.max(s.i, s.h, s.b)), 0.0f);
  s.sum = Func(name(op, "sum"));
  s.sum(s.i, s.h, s.b) = 0.0f;
  s.sum(s.i, s.h, s.b) += s.exp(rj, s.i, s.h, s.b);
  s.result = Func(name(op, "probs"));
  Expr total = s.sum(s.i, s.h, s.b);
  s.result(s.j, s.i, s.h, s.b) =
      Halide::select(total > 0.0f, s.exp(s.j, s.i, s.h, s.b) / total, 0.0f);
  out.maskedSoftmax.push_back(s);
  return HTensor{s.result, scores.shape};
}

/// p·(dp − Σ dp·p) over the last dimension.
FailureOr<HTensor> AlgorithmBuilder::lowerProbsGrad(ProbsGradOp op) {
  const HTensor &p = values[op.getProbs()], &dp = values[op.getGrad()];
  std::vector<Var> rows = makeVars(p.rank() - 1, "r");
  Var j("j");
  RDom rj(0, p.extent(p.rank() - 1), "rj");
  Func dot = reduction(op, "dot");
  dot(rows) = 0.0f;
  dot(rows) += p.func(prepend(rj, rows)) * dp.func(prepend(rj, rows));
  Func f(name(op, "probs_grad"));
  f(prepend(j, rows)) = p.func(prepend(j, rows)) * (dp.func(prepend(j, rows)) - dot(rows));
  return HTensor{f, p.shape};
}

/// out[b, i, h·Dvh + d] = Σ_j p[b, h, i, j] · v[b, j, h·Dvh + d].
FailureOr<HTensor> AlgorithmBuilder::lowerWeightedSum(WeightedSumOp op) {
  if (auto [score, softmax] = streamingChain(op); score)
    return lowerStreamingAttention(op, score, softmax);
  const HTensor &p = values[op.getWeights()];
  const HTensor &v = values[op.getValues()];
  int64_t heads = staticDim(op.getWeights(), 1);
  WeightedSumStages s{Func(name(op, "acc")), Func(name(op, "context")), Var("c"), Var("i"), Var("b"),
                      staticDim(op.getValues(), 2) / heads};
  RDom rj(0, v.extent(1), "rj");
  s.acc(s.c, s.i, s.b) = 0.0f;
  s.acc(s.c, s.i, s.b) += p.func(rj, s.i, s.c / static_cast<int>(s.headSize), s.b) * v.func(s.c, rj, s.b);
  s.result(s.c, s.i, s.b) = s.acc(s.c, s.i, s.b);
  out.reductions.push_back(s.acc);
  out.weightedSum.push_back(s);
  return HTensor{s.result, {p.extent(0), p.extent(2), v.extent(2)}};
}

/// The streaming form of softmax(q·kᵀ·scale, masked)·v (see StreamingAttentionStages). Out-of-range keys
/// of the last block and queries of the last tile read clamped rows and are masked or never written.
FailureOr<HTensor> AlgorithmBuilder::lowerStreamingAttention(WeightedSumOp op, ScoreOp score,
                                                             MaskedSoftmaxOp softmax) {
  const HTensor &q = values[score.getQuery()];
  const HTensor &k = values[score.getKeys()];
  const HTensor &v = values[op.getValues()];
  int heads = static_cast<int>(score.getNumHeads());
  int dk = static_cast<int>(staticDim(score.getQuery(), 2)) / heads;
  int dv = static_cast<int>(staticDim(op.getValues(), 2)) / heads;
  float scale = score.getScale().convertToFloat();
  StreamingAttentionStages s;
  bool gpu = out.machine.gpu;
  int queryTile, keyBlock;
  if (gpu) {
    // A tile is a block of threads, which holds in shared memory the tile's queries, a block's keys,
    // values and scores, and the tile's state.
    queryTile = out.knobs.get("query_tile", 32, {16, 32, 64});
    keyBlock = out.knobs.get("key_block", 32, {16, 32, 64});
    while (gpuSharedBytes(queryTile, keyBlock, dk, dv) > kGpuSharedBytes && std::max(queryTile, keyBlock) > 8)
      (keyBlock >= queryTile ? keyBlock : queryTile) /= 2;
    if (int64_t bytes = gpuSharedBytes(queryTile, keyBlock, dk, dv); bytes > kGpuSharedBytes)
      return op.emitError() << "attention heads of " << dk << " and " << dv << " features need "
                            << bytes / 1024 << " KiB of GPU shared memory per block of "
                            << "threads, more than the " << kGpuSharedBytes / 1024
                            << " KiB a kernel gets; compile for the CPU (--target=host)";
  } else {
    // By default a block of up to 256 keys whose keys, values and scores for a tile take at most a quarter
    // of the L2 cache (larger blocks only pay off for long sequences: the tuner tries them). Causal blocks
    // hold up to 128: a tile computes the whole block that holds its diagonal, whose later keys it drops.
    queryTile = out.knobs.get("query_tile", 16, {8, 16, 32});
    int fitting = 64;
    int most = softmax.getCausal() ? 128 : 256;
    while (fitting < most && 4 * int64_t(2 * fitting) * (dk + dv + queryTile) <= out.machine.l2Bytes / 4)
      fitting *= 2;
    keyBlock = out.knobs.get("key_block", fitting, {64, 128, 256, 512});
  }
  s.keyBlock = keyBlock, s.queryTile = queryTile, s.keyHeadSize = dk, s.valueHeadSize = dv;
  s.gpuSlots = gpu ? gpuSlots(dv) : 0;
  for (auto [f, n] : {std::pair{&s.keysT, "keys_t"},
                      {&s.queriesT, "queries_t"},
                      {&s.valuesT, "values_t"},
                      {&s.dot, "dot"},
                      {&s.scores, "scores"},
                      {&s.laneMax, "lane_max"},
                      {&s.blockMax, "block_max"},
                      {&s.probs, "probs"},
                      {&s.laneSum, "lane_sum"},
                      {&s.blockSum, "block_sum"},
                      {&s.pvAcc, "pv_acc"},
                      {&s.pv, "pv"},
                      {&s.state, "state"},
                      {&s.result, "context"}})
    *f = Func(name(op, n));
  s.j = Var("j"), s.jj = Var("jj"), s.lane = Var("lane"), s.i = Var("i"), s.kb = Var("kb"), s.h = Var("h");
  s.b = Var("b"), s.d = Var("d"), s.ii = Var("ii"), s.it = Var("it"), s.c = Var("c");
  Var j = s.j, jj = s.jj, lane = s.lane, i = s.i, kb = s.kb, h = s.h, b = s.b, d = s.d;
  Var ii = s.ii, it = s.it, c = s.c;
  Expr keys = k.extent(1), queries = q.extent(1);
  Expr lastKey = keys - 1;
  Expr hc = c / dv, dc = c % dv;
  Expr blocks = (keys + keyBlock - 1) / keyBlock;
  const float excluded = kExcludedScore;

  RDom rd(0, dk, "rd");
  Expr key = kb * keyBlock + jj;
  Expr query = q.func(h * dk + rd, Halide::min(i, queries - 1), b);
  Expr keyFeature;
  if (gpu) {
    s.keysT(j, d, h, b) = k.func(h * dk + d, Halide::clamp(j, 0, lastKey), b);
    keyFeature = s.keysT(key, rd, h, b);
    s.queriesT(i, d, h, b) = q.func(h * dk + d, Halide::min(i, queries - 1), b);
    query = s.queriesT(i, rd, h, b);
  } else {
    s.keysT(jj, d, kb, h, b) = k.func(h * dk + d, Halide::clamp(key, 0, lastKey), b);
    keyFeature = s.keysT(jj, rd, kb, h, b);
  }
  s.dot(jj, i, kb, h, b) = 0.0f;
  s.dot(jj, i, kb, h, b) += query * keyFeature;
  // Keys past the end (the last block's tail) are excluded (keepsKey reads a per-key mask clamped): `value`
  // where key `at` of block kb is kept for query i, else `excluded`. On a CPU, without a mask or causality,
  // a block that ends within the keys takes `value` as `likely`: Halide then splits the loop over blocks,
  // and every block but a partial last one tests no key.
  auto keepOr = [&](Expr kb, Expr at, Expr i, Expr value, Expr excluded) {
    Expr j = kb * keyBlock + at;
    Expr kept = Halide::select(j < keys && keepsKey(softmax, j, i, b), value, excluded);
    if (gpu || softmax.getMask() || softmax.getCausal())
      return kept;
    return Halide::select(kb * keyBlock + keyBlock <= keys, Halide::likely(value), kept);
  };
  // On a GPU Halide's fast exponential (the last few bits of the mantissa wrong, as a float sum of many
  // keys has anyway), its argument kept from underflowing; on a CPU exp2NonPositive.
  auto probability = [&](Expr kb, Expr at, Expr i, Expr score, Expr max) {
    Expr p = gpu ? Halide::fast_exp(Halide::max((score - max) * scale, kLowestExponent))
                 : exp2NonPositive((score - max) * (scale * kLog2E));
    return keepOr(kb, at, i, p, 0.0f);
  };
  // The blocks are folded in in order. A causal tile stops after the block holding its last query (on a
  // GPU the condition is the same for every thread of a block of threads, so all of them reach the
  // barriers between a block's steps).
  Expr tileQuery = it * queryTile + ii;
  RDom rb(0, blocks, "rb");
  if (softmax.getCausal())
    rb.where(rb * keyBlock <= it * queryTile + queryTile - 1);
  if (gpu) {
    // A block's scores become its probabilities in place: `scores` holds per query the block's keys, then
    // their maximum (row keyBlock). The values have a column of ones after the last feature (dv), so that
    // the probability-weighted values end with the probabilities' sum.
    RDom rk(0, keyBlock, "rk");
    Expr maxRow = keyBlock;
    s.valuesT(d, j, h, b) = Halide::select(
        d < dv, v.func(h * dv + Halide::min(d, dv - 1), Halide::clamp(j, 0, lastKey), b), 1.0f);
    s.scores(jj, i, kb, h, b) = Halide::select(jj == maxRow, excluded, 0.0f);
    s.scores(rk, i, kb, h, b) = s.dot(rk, i, kb, h, b);
    s.scores(maxRow, i, kb, h, b) =
        Halide::max(s.scores(maxRow, i, kb, h, b),
                    keepOr(kb, rk, i, s.scores(rk, i, kb, h, b), excluded));
    s.scores(rk, i, kb, h, b) =
        probability(kb, rk, i, s.scores(rk, i, kb, h, b), s.scores(maxRow, i, kb, h, b));
    s.pvAcc(d, i, kb, h, b) = 0.0f;
    s.pvAcc(d, i, kb, h, b) += s.scores(rk, i, kb, h, b) * s.valuesT(d, kb * keyBlock + rk, h, b);
    // Per query, slots 0 to dv - 1 of the state accumulate the weighted values and slot dv the sum; each slot
    // keeps its own copy of the running maximum, so that the threads updating a query's slots side by side
    // share nothing.
    s.state(d, ii, it, h, b) = Halide::Tuple(0.0f, excluded);
    Expr acc = s.state(d, ii, it, h, b)[0], max = s.state(d, ii, it, h, b)[1];
    auto [newMax, keepOld, keepBlock] = rescaling(max, s.scores(maxRow, tileQuery, rb, h, b), scale, gpu);
    s.state(d, ii, it, h, b) =
        Halide::Tuple(acc * keepOld + s.pvAcc(d, tileQuery, rb, h, b) * keepBlock, newMax);
    // A row with no key left is zero rather than NaN.
    Expr inTile = i % queryTile, tile = i / queryTile;
    Expr total = s.state(dv, inTile, tile, hc, b)[0];
    s.result(c, i, b) = Halide::select(total > 0.0f, s.state(dc, inTile, tile, hc, b)[0] / total, 0.0f);
    out.streaming.push_back(s);
    return HTensor{s.result, {q.extent(0), q.extent(1), v.extent(2)}};
  }

  s.scores(jj, i, kb, h, b) = s.dot(jj, i, kb, h, b);
  RDom rl(0, keyBlock / kLanes, "rl"), rlane(0, kLanes, "rlane"), rj(0, keyBlock, "rj");
  Expr laneKey = rl * kLanes + lane;
  s.laneMax(lane, i, kb, h, b) = excluded;
  s.laneMax(lane, i, kb, h, b) =
      Halide::max(s.laneMax(lane, i, kb, h, b),
                  keepOr(kb, laneKey, i, s.scores(laneKey, i, kb, h, b), excluded));
  s.blockMax(i, kb, h, b) = excluded;
  s.blockMax(i, kb, h, b) = Halide::max(s.blockMax(i, kb, h, b), s.laneMax(rlane, i, kb, h, b));
  s.probs(jj, i, kb, h, b) = probability(kb, jj, i, s.scores(jj, i, kb, h, b), s.blockMax(i, kb, h, b));
  s.laneSum(lane, i, kb, h, b) = 0.0f;
  s.laneSum(lane, i, kb, h, b) += s.probs(laneKey, i, kb, h, b);
  s.blockSum(i, kb, h, b) = 0.0f;
  s.blockSum(i, kb, h, b) += s.laneSum(rlane, i, kb, h, b);
  // Each head's values are copied once into rows of their own, so that the blocks read them contiguously;
  // the copy reads the last key's row for the keys past it.
  s.valuesT(d, j, h, b) = v.func(h * dv + d, Halide::clamp(j, 0, lastKey), b);
  s.pvAcc(d, i, kb, h, b) = 0.0f;
  s.pvAcc(d, i, kb, h, b) += s.probs(rj, i, kb, h, b) * s.valuesT(d, kb * keyBlock + rj, h, b);
  s.pv(d, i, kb, h, b) = s.pvAcc(d, i, kb, h, b);

  s.state(d, ii, it, h, b) = Halide::Tuple(0.0f, excluded, 0.0f);
  Expr acc = s.state(d, ii, it, h, b)[0], max = s.state(d, ii, it, h, b)[1],
       sum = s.state(d, ii, it, h, b)[2];
  Expr blockMax = s.blockMax(tileQuery, rb, h, b);
  auto [newMax, keepOld, keepBlock] = rescaling(max, blockMax, scale, gpu);
  s.state(d, ii, it, h, b) = Halide::Tuple(acc * keepOld + s.pv(d, tileQuery, rb, h, b) * keepBlock, newMax,
                                           sum * keepOld + s.blockSum(tileQuery, rb, h, b) * keepBlock);
  // A row with no key left is zero rather than NaN.
  Expr inTile = i % queryTile, tile = i / queryTile;
  Expr total = s.state(dc, inTile, tile, hc, b)[2];
  s.result(c, i, b) = Halide::select(total > 0.0f, s.state(dc, inTile, tile, hc, b)[0] / total, 0.0f);
  out.streaming.push_back(s);
  return HTensor{s.result, {q.extent(0), q.extent(1), v.extent(2)}};
}
