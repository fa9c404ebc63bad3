// Reductions along a dimension: softmax and log-softmax, layer normalization, mean and maximum along an
// axis, and the losses (cross-entropy with label smoothing and ignored targets, mean squared error), each
// with its gradient.
#include "AlgorithmBuilder.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

namespace {

/// mean(rows) and the biased variance(rows) of `x` over its last dimension, `width` wide.
void defineRowMoments(const HTensor &x, int width, const std::vector<Var> &rows, Func mean, Func variance) {
  RDom r(0, width, "rx");
  float inv = 1.0f / float(width);
  mean(rows) = 0.0f;
  mean(rows) += x.func(prepend(r, rows)) * inv;
  variance(rows) = 0.0f;
  Expr centered = x.func(prepend(r, rows)) - mean(rows);
  variance(rows) += centered * centered * inv;
}

/// max(rows): the maximum of `x` over its last dimension, `width` wide, as an update that GPU schedules can
/// factor.
void defineRowMaximum(const HTensor &x, Expr width, const std::vector<Var> &rows, Func max) {
  RDom r(0, width, "rx");
  max(rows) = Halide::Float(32).min();
  max(rows) = Halide::max(max(rows), x.func(prepend(r, rows)));
}

/// Whether a position with target id `target` counts in a cross-entropy that ignores `ignore`.
Expr isCounted(Expr target, std::optional<int64_t> ignore) {
  return ignore ? target != int(*ignore) : Halide::Internal::const_true();
}

/// The number of elements of `t` (at least 1), as a float.
Expr elementCount(const HTensor &t) {
  Expr count = 1;
  for (const Expr &e : t.shape)
    count = count * e;
  return Halide::cast<float>(Halide::max(count, 1));
}

} // namespace

/// Softmax (or log-softmax) over the last dimension, shifted by the row maximum for stability.
FailureOr<HTensor> AlgorithmBuilder::lowerSoftmax(Value input, Operation *op, bool log) {
  const HTensor &x = values[input];
  SoftmaxStages s;
  s.x = Var("x");
  s.rows = makeVars(x.rank() - 1, "r");
  RDom r(0, x.extent(x.rank() - 1), "rx");
  s.max = Func(name(op, "max"));
  defineRowMaximum(x, x.extent(x.rank() - 1), s.rows, s.max);
  s.exp = Func(name(op, "exp"));
  s.exp(prepend(s.x, s.rows)) = Halide::exp(x.func(prepend(s.x, s.rows)) - s.max(s.rows));
  s.sum = Func(name(op, "sum"));
  s.sum(s.rows) = 0.0f;
  s.sum(s.rows) += s.exp(prepend(r, s.rows));
  s.result = Func(name(op, log ? "log_softmax" : "softmax"));
  std::vector<Expr> at = prepend(s.x, s.rows);
  s.result(at) = log ? x.func(at) - s.max(s.rows) - Halide::log(s.sum(s.rows)) : s.exp(at) / s.sum(s.rows);
  out.softmax.push_back(s);
  return HTensor{s.result, x.shape};
}

/// The row statistics of a softmax over the last dimension of `x`: its maximum and the sum of
/// exponentials, as Funcs over the rows.
std::pair<Func, Func> AlgorithmBuilder::softmaxStatistics(Operation *op, const HTensor &x,
                                                          const std::vector<Var> &rows, Expr width) {
  RDom rv(0, width, "rv");
  Func max = reduction(op, "max"), sum = reduction(op, "sum_exp");
  defineRowMaximum(x, width, rows, max);
  sum(rows) = 0.0f;
  sum(rows) += Halide::exp(x.func(prepend(rv, rows)) - max(rows));
  return {max, sum};
}

/// softmax: y·(dy − Σ dy·y); log-softmax: dy − y·Σ dy.
FailureOr<HTensor> AlgorithmBuilder::lowerSoftmaxGrad(SoftmaxGradOp op) {
  const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
  Expr width = x.extent(x.rank() - 1); // dynamic where a softmax along another axis was moved last
  std::vector<Var> rows = makeVars(x.rank() - 1, "r");
  Var c("c");
  auto [max, sum] = softmaxStatistics(op, x, rows, width);
  auto y = [&](Expr at) { return Halide::exp(x.func(prepend(at, rows)) - max(rows)) / sum(rows); };
  RDom rv(0, width, "rd");
  Func dot = reduction(op, "dot");
  dot(rows) = 0.0f;
  dot(rows) += dy.func(prepend(rv, rows)) * (op.getLog() ? Expr(1.0f) : y(rv));
  Func f(name(op, "softmax_grad"));
  Expr g = dy.func(prepend(c, rows));
  f(prepend(c, rows)) = op.getLog() ? g - y(c) * dot(rows) : y(c) * (g - dot(rows));
  return HTensor{f, x.shape};
}

/// (x - mean) / sqrt(var + eps) · w + b over the last dimension, with the biased variance.
FailureOr<HTensor> AlgorithmBuilder::lowerLayerNorm(LayerNormOp op) {
  const HTensor &x = values[op.getInput()];
  LayerNormStages s;
  s.x = Var("x");
  s.rows = makeVars(x.rank() - 1, "r");
  s.mean = Func(name(op, "mean"));
  s.variance = Func(name(op, "variance"));
  defineRowMoments(x, int(staticDim(op.getInput(), x.rank() - 1)), s.rows, s.mean, s.variance);
  std::vector<Expr> at = prepend(s.x, s.rows);
  Expr y = (x.func(at) - s.mean(s.rows)) /
           Halide::sqrt(s.variance(s.rows) + op.getEpsilon().convertToFloat());
  if (op.getWeight())
    y = y * values[op.getWeight()].func(s.x);
  if (op.getBias())
    y = y + values[op.getBias()].func(s.x);
  s.result = Func(name(op, "layer_norm"));
  s.result(at) = y;
  out.layerNorm.push_back(s);
  return HTensor{s.result, x.shape};
}

/// dx = (g − mean(g) − x̂·mean(g·x̂)) / σ with g = dy·w, over the last dimension.
FailureOr<HTensor> AlgorithmBuilder::lowerLayerNormGrad(LayerNormGradOp op) {
  const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
  int width = int(staticDim(op.getInput(), x.rank() - 1));
  float inv = 1.0f / float(width), eps = op.getEpsilon().convertToFloat();
  std::vector<Var> rows = makeVars(x.rank() - 1, "r");
  Var c("c");
  RDom rx(0, width, "rx");
  Func mean = reduction(op, "mean"), variance = reduction(op, "variance");
  defineRowMoments(x, width, rows, mean, variance);
  Expr sigma = Halide::sqrt(variance(rows) + eps);
  auto normalized = [&](Expr at) { return (x.func(prepend(at, rows)) - mean(rows)) / sigma; };
  auto g = [&](Expr at) {
    Expr d = dy.func(prepend(at, rows));
    return op.getWeight() ? d * values[op.getWeight()].func(at) : d;
  };
  Func meanG = reduction(op, "mean_g"), meanGX = reduction(op, "mean_gx");
  meanG(rows) = 0.0f;
  meanG(rows) += g(rx) * inv;
  meanGX(rows) = 0.0f;
  meanGX(rows) += g(rx) * normalized(rx) * inv;
  Func f(name(op, "layer_norm_grad"));
  f(prepend(c, rows)) = (g(c) - meanG(rows) - normalized(c) * meanGX(rows)) / sigma;
  return HTensor{f, x.shape};
}

/// Mean or maximum along a static axis, kept with size 1.
FailureOr<HTensor> AlgorithmBuilder::lowerReduce(ReduceOp op) {
  const HTensor &x = values[op.getInput()];
  int64_t axis = op.getAxis();
  StringRef kind = op.getKind();
  int64_t extent = cast<RankedTensorType>(op.getInput().getType()).getDimSize(axis);
  auto combine = [&](Expr a, Expr b) {
    return kind == "max" ? Halide::max(a, b) : kind == "min" ? Halide::min(a, b) : a + b;
  };
  std::vector<Var> vars = makeVars(x.rank(), "e");
  std::vector<Expr> index(vars.begin(), vars.end());
  Func acc(name(op, kind == "mean" ? "sum" : kind));
  if (!ShapedType::isDynamic(extent) && extent <= 32 && axis != int64_t(x.rank()) - 1) {
    // A short reduction across rows (channels of a feature map) is one expression: each vector along
    // the row adds up its rows' vectors, with no accumulator in memory.
    Expr total;
    for (int64_t i = 0; i < extent; ++i) {
      index[x.rank() - 1 - axis] = int(i);
      total = !total.defined() ? x.func(index) : combine(total, x.func(index));
    }
    acc(vars) = total;
  } else {
    RDom r(0, x.extent(size_t(axis)), "ra");
    index[x.rank() - 1 - axis] = r;
    out.reductions.push_back(acc);
    if (axis == int64_t(x.rank()) - 1)
      out.rowSums.push_back(acc);
    acc(vars) = kind == "max" ? Expr(-3.0e38f) : kind == "min" ? Expr(3.0e38f) : Expr(0.0f);
    acc(vars) = combine(acc(vars), x.func(index));
  }
  Func f(name(op, ("reduce_" + kind).str()));
  f(vars) = kind == "mean" ? acc(vars) / Halide::cast<float>(x.extent(size_t(axis))) : acc(vars);
  std::vector<Expr> shape = x.shape;
  shape[axis] = Expr(1);
  return HTensor{f, shape};
}

/// The first index of the largest element along the axis, as i32; the axis is removed.
FailureOr<HTensor> AlgorithmBuilder::lowerArgmax(ArgmaxOp op) {
  const HTensor &x = values[op.getInput()];
  size_t axis = size_t(op.getAxis()), at = x.rank() - 1 - axis;
  std::vector<Var> vars = makeVars(x.rank() - 1, "e");
  std::vector<Expr> index(vars.begin(), vars.end());
  Halide::RDom r(0, x.extent(axis), "ra");
  index.insert(index.begin() + at, r);
  Func f(name(op, "argmax"));
  f(vars) = Halide::cast<int32_t>(Halide::argmax(r, x.func(index))[0]);
  std::vector<Expr> shape = x.shape;
  shape.erase(shape.begin() + axis);
  return HTensor{f, shape};
}

FailureOr<HTensor> AlgorithmBuilder::lowerReduceGrad(ReduceGradOp op) {
  const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
  int64_t axis = op.getAxis();
  StringRef kind = op.getKind();
  size_t at = x.rank() - 1 - axis;
  std::vector<Var> vars = makeVars(x.rank(), "e");
  std::vector<Expr> reduced(vars.begin(), vars.end());
  reduced[at] = 0;
  Func dx(name(op, "reduce_grad"));
  if (kind == "sum" || kind == "mean") {
    Expr count = Halide::cast<float>(x.extent(size_t(axis)));
    dx(vars) = kind == "sum" ? dy.func(reduced) : dy.func(reduced) / count;
    return HTensor{dx, x.shape};
  }
  // max or min: shared among the elements that reach it.
  bool isMax = kind == "max";
  std::vector<Expr> along(vars.begin(), vars.end());
  RDom r(0, x.extent(size_t(axis)), "ra");
  along[at] = r;
  Func best = reduction(op, kind), ties = reduction(op, "ties");
  best(vars) = isMax ? -3.0e38f : 3.0e38f;
  best(vars) = isMax ? Halide::max(best(vars), x.func(along)) : Halide::min(best(vars), x.func(along));
  ties(vars) = 0.0f;
  ties(vars) += Halide::select(x.func(along) == best(vars), 1.0f, 0.0f);
  dx(vars) = Halide::select(x.func(vars) == best(reduced), dy.func(reduced) / ties(reduced), 0.0f);
  return HTensor{dx, x.shape};
}

/// The number of target positions whose id is not `ignore`, as a scalar Func. The indicator is a Func of
/// the position, so the reduction keeps its loop even when every position counts.
Func AlgorithmBuilder::countedPositions(Operation *op, const HTensor &targets,
                                        std::optional<int64_t> ignore) {
  std::vector<Var> rows = makeVars(targets.rank(), "r");
  Func indicator(name(op, "counted"));
  indicator(rows) = Halide::select(isCounted(targets.func(rows), ignore), 1.0f, 0.0f);
  auto [r, at] = everyElement(targets, "rc");
  Func count = reduction(op, "count");
  count() = 0.0f;
  count() += indicator(at);
  return count;
}

/// The mean, over the positions counted, of −(1 − ε)·log p[t] − (ε / V)·Σ_v log p[v], with log p the
/// log-softmax of each row of logits.
FailureOr<HTensor> AlgorithmBuilder::lowerCrossEntropy(CrossEntropyOp op) {
  const HTensor &logits = values[op.getLogits()], &targets = values[op.getTargets()];
  int classes = int(staticDim(op.getLogits(), logits.rank() - 1));
  float smoothing = op.getLabelSmoothing().convertToFloat();
  std::vector<Var> rows = makeVars(targets.rank(), "r");
  auto [max, sumExp] = softmaxStatistics(op, logits, rows, classes);
  RDom rv(0, classes, "rv");
  Func sumLogits = reduction(op, "sum_logits");
  sumLogits(rows) = 0.0f;
  sumLogits(rows) += logits.func(prepend(rv, rows));
  Expr target = targets.func(rows);
  Expr logSumExp = max(rows) + Halide::log(sumExp(rows));
  Expr nll = logSumExp - logits.func(prepend(Halide::clamp(target, 0, classes - 1), rows));
  Expr uniform = logSumExp - sumLogits(rows) / float(classes);
  Expr counted = isCounted(target, op.getIgnoreIndex());
  Func row(name(op, "row"));
  row(rows) = Halide::select(counted, (1.0f - smoothing) * nll + smoothing * uniform, 0.0f);
  auto [r, at] = everyElement(targets, "rt");
  Func total = reduction(op, "total");
  total() = 0.0f;
  total() += row(at);
  Func count = countedPositions(op, targets, op.getIgnoreIndex());
  Func result(name(op, "cross_entropy"));
  result() = Halide::select(count() > 0.0f, total() / count(), 0.0f);
  return HTensor{result, {}};
}

FailureOr<HTensor> AlgorithmBuilder::lowerCrossEntropyGrad(CrossEntropyGradOp op) {
  const HTensor &logits = values[op.getLogits()], &targets = values[op.getTargets()];
  int classes = int(staticDim(op.getLogits(), logits.rank() - 1));
  float smoothing = op.getLabelSmoothing().convertToFloat();
  std::vector<Var> rows = makeVars(targets.rank(), "r");
  Var v("v");
  auto [max, sum] = softmaxStatistics(op, logits, rows, classes);
  Func count = countedPositions(op, targets, op.getIgnoreIndex());
  Expr target = targets.func(rows);
  Expr p = Halide::exp(logits.func(prepend(v, rows)) - max(rows)) / sum(rows);
  Expr wanted = Halide::select(v == target, 1.0f - smoothing, 0.0f) + smoothing / float(classes);
  Func f(name(op, "cross_entropy_grad"));
  f(prepend(v, rows)) =
      Halide::select(isCounted(target, op.getIgnoreIndex()), (p - wanted) / Halide::max(count(), 1.0f), 0.0f);
  return HTensor{f, logits.shape};
}

/// mean((a − b)²) over every element.
FailureOr<HTensor> AlgorithmBuilder::lowerMse(MseOp op) {
  const HTensor &a = values[op.getLhs()], &b = values[op.getRhs()];
  auto [r, at] = everyElement(a, "re");
  Func total = reduction(op, "total");
  Expr diff = a.func(at) - b.func(at);
  total() = 0.0f;
  total() += diff * diff;
  Func result(name(op, "mse"));
  result() = total() / elementCount(a);
  return HTensor{result, {}};
}

/// 2(a − b) / N.
FailureOr<HTensor> AlgorithmBuilder::lowerMseGrad(MseGradOp op) {
  const HTensor &a = values[op.getLhs()], &b = values[op.getRhs()];
  std::vector<Var> vars = makeVars(a.rank(), "e");
  Func f(name(op, "mse_grad"));
  f(vars) = 2.0f * (a.func(vars) - b.func(vars)) / elementCount(a);
  out.elementwise.push_back(f);
  return HTensor{f, a.shape};
}
