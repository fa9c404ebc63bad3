// The algorithm half of the Halide lowering: one Halide Func definition per attn op, with no scheduling.
// Tensors are row-major with the last dimension contiguous, so a tensor's dimension i is Halide dimension
// rank-1-i.
#include "Lowering.h"

#include "llvm/ADT/DenseMap.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;
using Halide::Expr;
using Halide::Func;
using Halide::RDom;
using Halide::Var;

Expr HTensor::at(std::vector<Expr> index) const {
  std::reverse(index.begin(), index.end());
  return func(index);
}

namespace {

std::vector<Var> makeVars(size_t count, const std::string &prefix) {
  std::vector<Var> vars;
  for (size_t i = 0; i < count; ++i)
    vars.emplace_back(prefix + std::to_string(i));
  return vars;
}

std::vector<Expr> asExprs(const std::vector<Var> &vars) { return {vars.begin(), vars.end()}; }

/// Index vector (Halide order) made of `first` followed by `rest`.
std::vector<Expr> prepend(Expr first, const std::vector<Var> &rest) {
  std::vector<Expr> args{first};
  args.insert(args.end(), rest.begin(), rest.end());
  return args;
}

int64_t staticDim(Value v, unsigned i) { return cast<RankedTensorType>(v.getType()).getDimSize(i); }

class AlgorithmBuilder {
public:
  AlgorithmBuilder(KernelOp kernel, LoweredKernel &out) : kernel(kernel), out(out) {}

  LogicalResult build() {
    Block &body = kernel.getBody().front();
    for (auto [index, arg] : llvm::enumerate(body.getArguments())) {
      auto type = cast<RankedTensorType>(arg.getType());
      Halide::Type elem = type.getElementType().isF32() ? Halide::Float(32) : Halide::Int(32);
      Halide::ImageParam param(elem, type.getRank(), "in" + std::to_string(index));
      HTensor t;
      std::vector<Var> vars = makeVars(type.getRank(), "d");
      t.func = Func("in" + std::to_string(index) + "_view");
      t.func(vars) = param(vars);
      for (int d = type.getRank() - 1; d >= 0; --d) {
        param.dim(d).set_min(0);
        t.shape.push_back(param.dim(d).extent());
      }
      out.inputs.push_back(param);
      values[arg] = t;
    }
    for (Operation &op : body.without_terminator()) {
      out.pattern.push_back(op.getName().stripDialect().str());
      FailureOr<HTensor> result = lower(&op);
      if (failed(result))
        return failure();
      values[op.getResult(0)] = *result;
    }
    for (Value v : body.getTerminator()->getOperands())
      out.outputs.push_back(values[v].func);
    return success();
  }

private:
  FailureOr<HTensor> lower(Operation *op) {
    return llvm::TypeSwitch<Operation *, FailureOr<HTensor>>(op)
        .Case([&](DenseOp d) { return lowerDense(d); })
        .Case([&](ReluOp r) { return lowerUnary(r, [](Expr x) { return Halide::max(x, 0.0f); }); })
        .Case([&](TanhOp t) { return lowerUnary(t, [](Expr x) { return Halide::tanh(x); }); })
        .Case([&](SigmoidOp s) {
          return lowerUnary(s, [](Expr x) { return 1.0f / (1.0f + Halide::exp(-x)); });
        })
        .Case([&](GeluOp g) {
          return lowerUnary(g, [](Expr x) { return 0.5f * x * (1.0f + Halide::erf(x * float(M_SQRT1_2))); });
        })
        .Case([&](AddOp a) { return lowerBinary(a, [](Expr l, Expr r) { return l + r; }); })
        .Case([&](SubOp a) { return lowerBinary(a, [](Expr l, Expr r) { return l - r; }); })
        .Case([&](MulOp a) { return lowerBinary(a, [](Expr l, Expr r) { return l * r; }); })
        .Case([&](SoftmaxOp s) { return lowerSoftmax(s.getInput(), s, /*log=*/false); })
        .Case([&](LogSoftmaxOp s) { return lowerSoftmax(s.getInput(), s, /*log=*/true); })
        .Case([&](LayerNormOp l) { return lowerLayerNorm(l); })
        .Case([&](ScoreOp s) { return lowerScore(s); })
        .Case([&](MaskedSoftmaxOp m) { return lowerMaskedSoftmax(m); })
        .Case([&](WeightedSumOp w) { return lowerWeightedSum(w); })
        .Default([&](Operation *other) -> FailureOr<HTensor> {
          return other->emitOpError("has no Halide lowering; run attn-decompose before lowering");
        });
  }

  std::string name(Operation *op, StringRef stage) {
    return op->getName().stripDialect().str() + std::to_string(counter++) + "_" + stage.str();
  }

  /// y[..., n] = Σ_k x[..., k] · W[n, k] + b[n].
  FailureOr<HTensor> lowerDense(DenseOp op) {
    const HTensor &x = values[op.getInput()];
    const HTensor &w = values[op.getWeight()];
    DenseStages s;
    s.n = Var("n");
    s.rows = makeVars(x.rank() - 1, "r");
    Var k("k");
    s.weightT = Func(name(op, "weight_t"));
    s.weightT(s.n, k) = w.func(k, s.n);
    RDom r(0, x.extent(x.rank() - 1), "rk");
    s.acc = Func(name(op, "acc"));
    s.acc(prepend(s.n, s.rows)) = 0.0f;
    s.acc(prepend(s.n, s.rows)) += x.func(prepend(r, s.rows)) * s.weightT(s.n, r);
    s.result = Func(name(op, "dense"));
    Expr bias = op.getBias() ? values[op.getBias()].func(s.n) : Expr(0.0f);
    s.result(prepend(s.n, s.rows)) = s.acc(prepend(s.n, s.rows)) + bias;

    HTensor y{s.result, x.shape};
    y.shape.back() = w.extent(0);
    out.dense.push_back(s);
    return y;
  }

  template <typename OpT, typename Fn>
  FailureOr<HTensor> lowerUnary(OpT op, Fn fn) {
    const HTensor &x = values[op.getInput()];
    std::vector<Var> vars = makeVars(x.rank(), "e");
    Func f(name(op, "map"));
    f(vars) = fn(x.func(vars));
    out.elementwise.push_back(f);
    return HTensor{f, x.shape};
  }

  template <typename OpT, typename Fn>
  FailureOr<HTensor> lowerBinary(OpT op, Fn fn) {
    const HTensor &a = values[op.getLhs()];
    const HTensor &b = values[op.getRhs()];
    std::vector<Var> vars = makeVars(a.rank(), "e");
    Func f(name(op, "map"));
    f(vars) = fn(a.func(vars), b.func(vars));
    out.elementwise.push_back(f);
    return HTensor{f, a.shape};
  }

  /// Softmax (or log-softmax) over the last dimension, shifted by the row maximum for stability.
  FailureOr<HTensor> lowerSoftmax(Value input, Operation *op, bool log) {
    const HTensor &x = values[input];
    SoftmaxStages s;
    s.x = Var("x");
    s.rows = makeVars(x.rank() - 1, "r");
    RDom r(0, x.extent(x.rank() - 1), "rx");
    s.max = Func(name(op, "max"));
    s.max(s.rows) = Halide::maximum(x.func(prepend(r, s.rows)));
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

  /// (x - mean) / sqrt(var + eps) · w + b over the last dimension, with the biased variance.
  FailureOr<HTensor> lowerLayerNorm(LayerNormOp op) {
    const HTensor &x = values[op.getInput()];
    LayerNormStages s;
    s.x = Var("x");
    s.rows = makeVars(x.rank() - 1, "r");
    int64_t width = staticDim(op.getInput(), x.rank() - 1);
    RDom r(0, static_cast<int>(width), "rx");
    float inv = 1.0f / static_cast<float>(width);
    s.mean = Func(name(op, "mean"));
    s.mean(s.rows) = 0.0f;
    s.mean(s.rows) += x.func(prepend(r, s.rows)) * inv;
    s.variance = Func(name(op, "variance"));
    s.variance(s.rows) = 0.0f;
    Expr centered = x.func(prepend(r, s.rows)) - s.mean(s.rows);
    s.variance(s.rows) += centered * centered * inv;
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

  /// score[b, h, i, j] = scale · Σ_d q[b, i, h·Dh + d] · k[b, j, h·Dh + d].
  FailureOr<HTensor> lowerScore(ScoreOp op) {
    const HTensor &q = values[op.getQuery()];
    const HTensor &k = values[op.getKeys()];
    int64_t heads = op.getNumHeads();
    int64_t headSize = staticDim(op.getQuery(), 2) / heads;
    ScoreStages s{Func(name(op, "dot")), Func(name(op, "score")), Var("j"), Var("i"), Var("h"), Var("b")};
    RDom rd(0, static_cast<int>(headSize), "rd");
    Expr feature = s.h * static_cast<int>(headSize) + rd;
    s.dot(s.j, s.i, s.h, s.b) = 0.0f;
    s.dot(s.j, s.i, s.h, s.b) += q.func(feature, s.i, s.b) * k.func(feature, s.j, s.b);
    s.result(s.j, s.i, s.h, s.b) = s.dot(s.j, s.i, s.h, s.b) * op.getScale().convertToFloat();
    out.score.push_back(s);
    return HTensor{s.result, {q.extent(0), Expr(static_cast<int>(heads)), q.extent(1), k.extent(1)}};
  }

  /// Softmax over keys j, skipping keys that the padding mask or causality exclude; rows with no key
  /// left are zero rather than NaN.
  FailureOr<HTensor> lowerMaskedSoftmax(MaskedSoftmaxOp op) {
    const HTensor &scores = values[op.getScores()];
    MaskedSoftmaxStages s;
    s.j = Var("j"), s.i = Var("i"), s.h = Var("h"), s.b = Var("b");
    auto keep = [&](Expr j, Expr i, Expr b) {
      Expr ok = Halide::Internal::const_true();
      if (op.getCausal())
        ok = ok && j <= i;
      if (op.getMask())
        ok = ok && values[op.getMask()].func(j, b) != 0;
      return ok;
    };
    const float excluded = -3.0e38f; // below any finite score, and no infinities to propagate
    RDom rj(0, scores.extent(3), "rj");
    s.max = Func(name(op, "max"));
    s.max(s.i, s.h, s.b) = excluded;
    s.max(s.i, s.h, s.b) = Halide::max(s.max(s.i, s.h, s.b),
                                       Halide::select(keep(rj, s.i, s.b), scores.func(rj, s.i, s.h, s.b), excluded));
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

  /// out[b, i, h·Dvh + d] = Σ_j p[b, h, i, j] · v[b, j, h·Dvh + d].
  FailureOr<HTensor> lowerWeightedSum(WeightedSumOp op) {
    const HTensor &p = values[op.getWeights()];
    const HTensor &v = values[op.getValues()];
    int64_t heads = staticDim(op.getWeights(), 1);
    WeightedSumStages s{Func(name(op, "context")), Var("c"), Var("i"), Var("b"),
                        staticDim(op.getValues(), 2) / heads};
    RDom rj(0, v.extent(1), "rj");
    s.result(s.c, s.i, s.b) = 0.0f;
    s.result(s.c, s.i, s.b) +=
        p.func(rj, s.i, s.c / static_cast<int>(s.headSize), s.b) * v.func(s.c, rj, s.b);
    out.weightedSum.push_back(s);
    return HTensor{s.result, {p.extent(0), p.extent(2), v.extent(2)}};
  }

  KernelOp kernel;
  LoweredKernel &out;
  llvm::DenseMap<Value, HTensor> values;
  unsigned counter = 0;
};

} // namespace

FailureOr<LoweredKernel> mlir::attn::halide::buildAlgorithm(KernelOp kernel) {
  LoweredKernel lowered;
  lowered.entry = kernel.getEntryName();
  if (failed(AlgorithmBuilder(kernel, lowered).build()))
    return failure();
  return lowered;
}
