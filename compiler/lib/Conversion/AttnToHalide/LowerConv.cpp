// Convolutional networks. Feature maps: tensors [B, C, H, W] are Funcs (w, h, c, b). Convolution,
// pooling (windowed and global), batch normalization (with batch statistics when training) and flattening,
// each with its gradients.
#include "AlgorithmBuilder.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

namespace {

/// A Func that reads `x` inside its H × W extent and `outside` beyond it.
Func padded(const HTensor &x, Value v, float outside) {
  int h = static_cast<int>(staticDim(v, 2)), w = static_cast<int>(staticDim(v, 3));
  return Halide::BoundaryConditions::constant_exterior(x.func, outside, {{0, w}, {0, h}});
}

/// `x` with a zero border, as a Func named `name` of its own, which a schedule can store (what a
/// convolution reads).
Func zeroBordered(const HTensor &x, Value v, const std::string &name) {
  Func copy(name);
  std::vector<Var> vars = makeVars(4, "p");
  copy(vars) = padded(x, v, 0.0f)(vars);
  return copy;
}

/// Records in `c` the columns of its bordered input that output column ow's window reads: from
/// ow · stride + first, a kernel of `kernel` columns `dilation` apart.
void recordColumns(Conv2DStages &c, int64_t outWidth, int64_t stride, int64_t first, int64_t kernel,
                   int64_t dilation) {
  c.outWidth = static_cast<int>(outWidth);
  c.columnStride = static_cast<int>(stride);
  c.columnMin = static_cast<int>(first);
  c.columnSpan = static_cast<int>((kernel - 1) * dilation + 1);
}

} // namespace

FailureOr<HTensor> AlgorithmBuilder::lowerConv2D(Conv2DOp op) {
  const HTensor &x = values[op.getInput()];
  const HTensor &w = values[op.getWeight()];
  auto wType = cast<RankedTensorType>(op.getWeight().getType());
  int cinGroup = wType.getDimSize(1), kh = wType.getDimSize(2), kw = wType.getDimSize(3);
  int coutGroup = wType.getDimSize(0) / op.getGroups();
  auto stride = op.getStride(), pad = op.getPadding(), dil = op.getDilation();
  auto type = cast<RankedTensorType>(op.getType());
  Conv2DStages c{zeroBordered(x, op.getInput(), name(op, "padded")), Func(), Func(name(op, "conv")), Var("ow"),
                 Var("oh"), Var("co"), Var("b"), static_cast<int>(type.getDimSize(1))};
  recordColumns(c, type.getDimSize(3), stride[1], -pad[1], kw, dil[1]);
  Var ow = c.ow, oh = c.oh, co = c.co, b = c.b;
  RDom r(0, cinGroup, 0, kh, 0, kw, "rc");
  c.acc = reduction(op, "acc");
  c.acc(ow, oh, co, b) = op.getBias() ? values[op.getBias()].func(co) : Expr(0.0f);
  Expr ix = ow * int(stride[1]) + r.z * int(dil[1]) - int(pad[1]);
  Expr iy = oh * int(stride[0]) + r.y * int(dil[0]) - int(pad[0]);
  c.acc(ow, oh, co, b) += c.padded(ix, iy, (co / coutGroup) * cinGroup + r.x, b) * w.func(r.z, r.y, r.x, co);
  c.result(ow, oh, co, b) = c.acc(ow, oh, co, b);
  out.conv2d.push_back(c);
  return HTensor{c.result, {x.extent(0), Expr(int(type.getDimSize(1))), Expr(int(type.getDimSize(2))),
                            Expr(int(type.getDimSize(3)))}};
}

/// The gradients of a convolution (see attn.conv2d_grad). The input's gradient gathers, for each input
/// position, the output positions whose windows read it: with stride 1, a convolution.
FailureOr<HTensor> AlgorithmBuilder::lowerConv2DGrad(Conv2DGradOp op) {
  const HTensor &x = values[op.getInput()], &w = values[op.getWeight()], &dy = values[op.getGrad()];
  auto wType = cast<RankedTensorType>(op.getWeight().getType());
  int cout = wType.getDimSize(0), cinGroup = wType.getDimSize(1), kh = wType.getDimSize(2),
      kw = wType.getDimSize(3);
  int coutGroup = cout / int(op.getGroups());
  int oh = int(staticDim(op.getGrad(), 2)), ow = int(staticDim(op.getGrad(), 3));
  auto stride = op.getStride(), pad = op.getPadding(), dil = op.getDilation();
  StringRef wrt = op.getWrt();
  if (wrt == "bias" || wrt == "weight") {
    Var co("co"), kx("kx"), ky("ky"), cig("cig");
    if (wrt == "bias") {
      RDom r(0, ow, 0, oh, 0, dy.extent(0), "ro");
      Func db = reduction(op, "db");
      db(co) = 0.0f;
      db(co) += dy.func(r.x, r.y, co, r.z);
      return HTensor{db, {Expr(cout)}};
    }
    // Summed over the images and output rows at each position u of a row first, then along the row, so
    // that a schedule can keep a row's sums for several kernel columns and output channels in registers.
    Func inPadded = zeroBordered(x, op.getInput(), name(op, "padded"));
    Var u("u");
    RDom images(0, oh, 0, dy.extent(0), "rr");
    Expr ix = u * int(stride[1]) + kx * int(dil[1]) - int(pad[1]);
    Expr iy = images.x * int(stride[0]) + ky * int(dil[0]) - int(pad[0]);
    Func rows = reduction(op, "dw_rows");
    rows(u, kx, ky, cig, co) = 0.0f;
    rows(u, kx, ky, cig, co) +=
        dy.func(u, images.x, co, images.y) * inPadded(ix, iy, (co / coutGroup) * cinGroup + cig, images.y);
    RDom along(0, ow, "ru");
    Func dw = reduction(op, "dw");
    dw(kx, ky, cig, co) = 0.0f;
    dw(kx, ky, cig, co) += rows(along, kx, ky, cig, co);
    out.convWeightGrads.push_back({inPadded, rows, dw, ow, kw});
    return HTensor{dw, w.shape};
  }
  Var ix("ix"), iy("iy"), ci("ci"), b("b");
  RDom r(0, coutGroup, 0, kh, 0, kw, "rk");
  Expr co = (ci / cinGroup) * coutGroup + r.x;
  if (stride[0] == 1 && stride[1] == 1) {
    // A convolution of the gradient, zero-bordered, with the kernel flipped: scheduled as one.
    auto type = cast<RankedTensorType>(op.getType());
    Conv2DStages c{zeroBordered(dy, op.getGrad(), name(op, "padded")), reduction(op, "dx"),
                   Func(name(op, "dx_result")), ix, iy, ci, b, static_cast<int>(type.getDimSize(1))};
    recordColumns(c, type.getDimSize(3), 1, pad[1] - (kw - 1) * dil[1], kw, dil[1]);
    c.acc(ix, iy, ci, b) = 0.0f;
    c.acc(ix, iy, ci, b) +=
        c.padded(ix + int(pad[1]) - r.z * int(dil[1]), iy + int(pad[0]) - r.y * int(dil[0]), co, b) *
        w.func(r.z, r.y, ci % cinGroup, co);
    c.result(ix, iy, ci, b) = c.acc(ix, iy, ci, b);
    out.conv2d.push_back(c);
    return HTensor{c.result, x.shape};
  }
  Expr ny = iy + int(pad[0]) - r.y * int(dil[0]), nx = ix + int(pad[1]) - r.z * int(dil[1]);
  Expr oy = ny / int(stride[0]), ox = nx / int(stride[1]);
  Expr valid =
      ny >= 0 && nx >= 0 && ny % int(stride[0]) == 0 && nx % int(stride[1]) == 0 && oy < oh && ox < ow;
  Func dx = reduction(op, "dx");
  dx(ix, iy, ci, b) = 0.0f;
  dx(ix, iy, ci, b) +=
      Halide::select(valid,
                     dy.func(Halide::clamp(ox, 0, ow - 1), Halide::clamp(oy, 0, oh - 1), co, b) *
                         w.func(r.z, r.y, ci % cinGroup, co),
                     0.0f);
  return HTensor{dx, x.shape};
}

FailureOr<HTensor> AlgorithmBuilder::lowerPool2D(Pool2DOp op) {
  const HTensor &x = values[op.getInput()];
  bool isMax = op.getKind() == "max";
  auto kernel = op.getKernel(), stride = op.getStride(), pad = op.getPadding();
  Func in = padded(x, op.getInput(), isMax ? -3.0e38f : 0.0f);
  Var ow("ow"), oh("oh"), c("c"), b("b");
  auto sampleAt = [&](Expr ky, Expr kx) {
    return in(ow * int(stride[1]) + kx - int(pad[1]), oh * int(stride[0]) + ky - int(pad[0]), c, b);
  };
  Func pool(name(op, isMax ? "max" : "sum"));
  if (kernel[0] * kernel[1] <= 16) {
    // A small window is one expression over its samples: no reduction loop, vectorizable along rows.
    Expr total;
    for (int64_t ky = 0; ky < kernel[0]; ++ky)
      for (int64_t kx = 0; kx < kernel[1]; ++kx) {
        Expr sample = sampleAt(int(ky), int(kx));
        total = !total.defined() ? sample : isMax ? Halide::max(total, sample) : total + sample;
      }
    pool(ow, oh, c, b) = total;
  } else {
    RDom r(0, int(kernel[0]), 0, int(kernel[1]), "rk");
    out.reductions.push_back(pool);
    Expr sample = sampleAt(r.x, r.y);
    pool(ow, oh, c, b) = isMax ? Expr(-3.0e38f) : Expr(0.0f);
    pool(ow, oh, c, b) = isMax ? Halide::max(pool(ow, oh, c, b), sample) : pool(ow, oh, c, b) + sample;
  }
  Func result(name(op, "pool"));
  result(ow, oh, c, b) = isMax ? pool(ow, oh, c, b) : pool(ow, oh, c, b) / float(kernel[0] * kernel[1]);
  auto type = cast<RankedTensorType>(op.getType());
  return HTensor{result, {x.extent(0), x.extent(1), Expr(int(type.getDimSize(2))),
                          Expr(int(type.getDimSize(3)))}};
}

/// The input gradient of pooling: each input position gathers the windows that read it ("max": the
/// window's first largest element takes it; "amax": its largest elements share it; "avg": all do).
FailureOr<HTensor> AlgorithmBuilder::lowerPoolGrad(PoolGradOp op) {
  const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
  StringRef kind = op.getKind();
  auto kernel = op.getKernel(), stride = op.getStride(), pad = op.getPadding();
  int k0 = int(kernel[0]), k1 = int(kernel[1]);
  int oh = int(staticDim(op.getGrad(), 2)), ow = int(staticDim(op.getGrad(), 3));
  Func in = padded(x, op.getInput(), -3.0e38f);
  Var wx("wx"), wy("wy"), c("c"), b("b");
  RDom window(0, k0, 0, k1, "rw");
  Expr sample =
      in(wx * int(stride[1]) + window.y - int(pad[1]), wy * int(stride[0]) + window.x - int(pad[0]), c, b);
  Func max = reduction(op, "max"), first = reduction(op, "first"), ties = reduction(op, "ties");
  if (kind != "avg") {
    max(wx, wy, c, b) = -3.0e38f;
    max(wx, wy, c, b) = Halide::max(max(wx, wy, c, b), sample);
    first(wx, wy, c, b) = k0 * k1;
    first(wx, wy, c, b) = Halide::min(
        first(wx, wy, c, b), Halide::select(sample == max(wx, wy, c, b), window.x * k1 + window.y, k0 * k1));
    ties(wx, wy, c, b) = 0.0f;
    ties(wx, wy, c, b) += Halide::select(sample == max(wx, wy, c, b), 1.0f, 0.0f);
  }
  // Each input position sums over the windows that hold it: at most ceil(k / stride) along each axis, the
  // one starting at or before it and those before that (one for windows that do not overlap, such as a
  // global pool's), not over all k positions of a window.
  Var ix("ix"), iy("iy");
  int s0 = int(stride[0]), s1 = int(stride[1]);
  RDom r(0, (k0 + s0 - 1) / s0, 0, (k1 + s1 - 1) / s1, "rk");
  Expr ny = iy + int(pad[0]), nx = ix + int(pad[1]);     // positions in the padded map, never negative
  Expr holderY = ny / s0 - r.x, holderX = nx / s1 - r.y; // a window holding it, if in range
  Expr ky = ny - holderY * s0, kx = nx - holderX * s1;     // its offset in that window
  Expr valid = holderY >= 0 && holderX >= 0 && holderY < oh && holderX < ow && ky < k0 && kx < k1;
  Expr oy = Halide::clamp(holderY, 0, oh - 1), ox = Halide::clamp(holderX, 0, ow - 1);
  Expr g = dy.func(ox, oy, c, b);
  Expr share = kind == "avg"   ? g / float(k0 * k1)
               : kind == "max" ? Halide::select(first(ox, oy, c, b) == ky * k1 + kx, g, 0.0f)
                               : Halide::select(x.func(ix, iy, c, b) == max(ox, oy, c, b),
                                                g / ties(ox, oy, c, b), 0.0f);
  Func dx = reduction(op, "dx");
  dx(ix, iy, c, b) = 0.0f;
  dx(ix, iy, c, b) += Halide::select(valid, share, 0.0f);
  return HTensor{dx, x.shape};
}

/// Average and maximum of each channel over all positions: Funcs (c, b). The columns of positions are
/// reduced over the rows first, then each channel's columns (LoweredKernel::ChannelPool), so that a
/// schedule can read the rows as vectors along the contiguous x.
std::pair<Func, Func> AlgorithmBuilder::channelStatistics(Operation *op, const HTensor &x, Value v) {
  int h = int(staticDim(v, 2)), w = int(staticDim(v, 3));
  Var px("px"), c("c"), b("b");
  RDom ry(0, h, "ry"), rx(0, w, "rx");
  Func columnSum = reduction(op, "column_sum"), columnMax = reduction(op, "column_max");
  columnSum(px, c, b) = 0.0f;
  columnSum(px, c, b) += x.func(px, ry, c, b);
  columnMax(px, c, b) = -3.0e38f;
  columnMax(px, c, b) = Halide::max(columnMax(px, c, b), x.func(px, ry, c, b));
  Func sum = reduction(op, "sum"), max = reduction(op, "max");
  sum(c, b) = 0.0f;
  sum(c, b) += columnSum(rx, c, b);
  max(c, b) = -3.0e38f;
  max(c, b) = Halide::max(max(c, b), columnMax(rx, c, b));
  out.channelPools.push_back({columnSum, sum, w});
  out.channelPools.push_back({columnMax, max, w});
  Func avg(name(op, "avg"));
  avg(c, b) = sum(c, b) / float(h * w);
  return {avg, max};
}

FailureOr<HTensor> AlgorithmBuilder::lowerGlobalPool(GlobalPoolOp op) {
  const HTensor &x = values[op.getInput()];
  auto [avg, max] = channelStatistics(op, x, op.getInput());
  return HTensor{op.getKind() == "max" ? max : avg, {x.extent(0), x.extent(1)}};
}

FailureOr<HTensor> AlgorithmBuilder::lowerBatchNorm(BatchNormOp op) {
  const HTensor &x = values[op.getInput()];
  std::vector<Var> vars = makeVars(x.rank(), "e");
  Var c = vars[x.rank() - 2];
  auto at = [&](Value v) { return values[v].func(c); };
  Func f(name(op, "batch_norm"));
  f(vars) = (x.func(vars) - at(op.getMean())) /
                Halide::sqrt(at(op.getVariance()) + op.getEpsilon().convertToFloat()) * at(op.getWeight()) +
            at(op.getBias());
  out.elementwise.push_back(f);
  return HTensor{f, x.shape};
}

/// The mean and biased variance of each channel of x [B, C, ...] over the batch and the positions, as
/// Funcs of c, and the number of values each covers: from x, or from `stats` (the [2, C] sums of
/// attn.batch_sums "x" and "centered" over every process) where the op has them.
std::tuple<Func, Func, Func> AlgorithmBuilder::batchStatistics(Operation *op, const HTensor &x,
                                                               ValueRange stats) {
  Var c("c");
  Func mean(name(op, "mean")), variance(name(op, "variance")), count(name(op, "count"));
  if (!stats.empty()) {
    Func sums = values[stats[0]].func, centered = values[stats[1]].func;
    count(c) = sums(c, 0);
    mean(c) = sums(c, 1) / sums(c, 0);
    variance(c) = centered(c, 1) / centered(c, 0);
    return {mean, variance, count};
  }
  count(c) = localCount(x);
  Func sum = channelSum(op, x, "sum", [&](std::vector<Expr> i) { return x.func(i); });
  mean(c) = sum(c) / count(c);
  size_t ci = x.rank() - 2;
  Func squares = channelSum(op, x, "squares", [&](std::vector<Expr> i) {
    Expr centered = x.func(i) - mean(i[ci]);
    return centered * centered;
  });
  variance(c) = squares(c) / count(c);
  return {mean, variance, count};
}

/// The number of values of each channel of x [B, C, ...] in this process: B times the positions.
Expr AlgorithmBuilder::localCount(const HTensor &x) {
  Expr count = Halide::cast<float>(x.extent(0));
  for (size_t d = 2; d < x.rank(); ++d)
    count = count * Halide::cast<float>(x.extent(d));
  return count;
}

FailureOr<HTensor> AlgorithmBuilder::lowerBatchSums(BatchSumsOp op) {
  const HTensor &x = values[op.getInput()];
  size_t ci = x.rank() - 2;
  StringRef of = op.getOf();
  Var c("c"), k("k");
  Func first, second;
  if (of == "x") {
    first(c) = localCount(x);
    second = channelSum(op, x, "sum", [&](std::vector<Expr> i) { return x.func(i); });
  } else if (of == "centered") {
    Func sums = values[op.getRest()[0]].func;
    first(c) = localCount(x);
    second = channelSum(op, x, "squares", [&](std::vector<Expr> i) {
      Expr centered = x.func(i) - sums(i[ci], 1) / sums(i[ci], 0);
      return centered * centered;
    });
  } else {
    const HTensor &dy = values[op.getRest()[0]];
    auto [mean, variance, count] = batchStatistics(op, x, op.getRest().drop_front());
    float eps = op.getEpsilon().convertToFloat();
    first = channelSum(op, x, "sum_dy", [&](std::vector<Expr> i) { return dy.func(i); });
    second = channelSum(op, x, "sum_dy_x", [&](std::vector<Expr> i) {
      return dy.func(i) * (x.func(i) - mean(i[ci])) / Halide::sqrt(variance(i[ci]) + eps);
    });
  }
  Func f(name(op, "batch_sums"));
  f(c, k) = Halide::select(k == 0, first(c), second(c));
  return HTensor{f, {x.extent(1), Expr(2)}};
}

/// Per-channel sums over the batch and positions of f(index), for x's layout.
Func AlgorithmBuilder::channelSum(Operation *op, const HTensor &x, StringRef stage,
                                  const std::function<Expr(std::vector<Expr>)> &f) {
  std::vector<Halide::Range> ranges;
  for (size_t d = x.rank(); d-- > 0;)
    if (d != 1)
      ranges.emplace_back(0, x.extent(d));
  RDom r(ranges, "rc");
  std::vector<Expr> index;
  for (int i = 0; i < r.dimensions(); ++i)
    index.push_back(r[i]);
  Var c("c");
  index.insert(index.begin() + (x.rank() - 2), c);
  Func sum = reduction(op, stage);
  sum(c) = 0.0f;
  sum(c) += f(index);
  return sum;
}

FailureOr<HTensor> AlgorithmBuilder::lowerBatchNormTrain(BatchNormTrainOp op) {
  const HTensor &x = values[op.getInput()];
  auto [mean, variance, count] = batchStatistics(op, x, op.getStats());
  StringRef statistic = op.getStatistic();
  float m = op.getMomentum().convertToFloat();
  Var c("c");
  if (statistic != "output") {
    Func f(name(op, "running"));
    Expr batch = statistic == "mean" ? mean(c) : variance(c) * count(c) / Halide::max(count(c) - 1.0f, 1.0f);
    f(c) = (1.0f - m) * values[op.getRunning()].func(c) + m * batch;
    return HTensor{f, values[op.getRunning()].shape};
  }
  std::vector<Var> vars = makeVars(x.rank(), "e");
  Var ch = vars[x.rank() - 2];
  Func f(name(op, "batch_norm"));
  f(vars) = (x.func(vars) - mean(ch)) / Halide::sqrt(variance(ch) + op.getEpsilon().convertToFloat()) *
                values[op.getWeight()].func(ch) +
            values[op.getBias()].func(ch);
  return HTensor{f, x.shape};
}

FailureOr<HTensor> AlgorithmBuilder::lowerBatchNormGrad(BatchNormGradOp op) {
  const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
  ValueRange stats = op.getStats();
  auto [mean, variance, count] = batchStatistics(op, x, stats.take_front(2));
  float eps = op.getEpsilon().convertToFloat();
  auto normalized = [&](const std::vector<Expr> &index, Expr c) {
    return (x.func(index) - mean(c)) / Halide::sqrt(variance(c) + eps);
  };
  size_t ci = x.rank() - 2;
  StringRef wrt = op.getWrt();
  Var c("c");
  Func sumDy(name(op, "sum_dy")), sumDyX(name(op, "sum_dy_x"));
  if (stats.size() == 3) { // the gradient's sums over every process, in this process's units
    Func global = values[stats[2]].func;
    sumDy(c) = global(c, 0);
    sumDyX(c) = global(c, 1);
  } else {
    sumDy = channelSum(op, x, "sum_dy", [&](std::vector<Expr> i) { return dy.func(i); });
    if (wrt == "bias")
      return HTensor{sumDy, {x.extent(1)}};
    sumDyX =
        channelSum(op, x, "sum_dy_x", [&](std::vector<Expr> i) { return dy.func(i) * normalized(i, i[ci]); });
    if (wrt == "weight")
      return HTensor{sumDyX, {x.extent(1)}};
  }
  std::vector<Var> vars = makeVars(x.rank(), "e");
  std::vector<Expr> index(vars.begin(), vars.end());
  Var e = vars[ci];
  Func dx(name(op, "batch_norm_grad"));
  dx(vars) = values[op.getWeight()].func(e) / Halide::sqrt(variance(e) + eps) *
             (dy.func(vars) - sumDy(e) / count(e) - normalized(index, e) * sumDyX(e) / count(e));
  return HTensor{dx, x.shape};
}

FailureOr<HTensor> AlgorithmBuilder::lowerFlatten(FlattenOp op) {
  const HTensor &x = values[op.getInput()];
  auto type = cast<RankedTensorType>(op.getInput().getType());
  Var i("i"), b("b");
  std::vector<Expr> index; // Halide order: innermost dimension first
  Expr rest = i;
  for (int64_t d = type.getRank() - 1; d >= 1; --d) {
    int size = int(type.getDimSize(d));
    index.push_back(rest % size);
    rest = rest / size;
  }
  index.push_back(b);
  Func f(name(op, "flatten"));
  f(i, b) = x.func(index);
  auto result = cast<RankedTensorType>(op.getType());
  return HTensor{f, {x.extent(0), Expr(int(result.getDimSize(1)))}};
}
