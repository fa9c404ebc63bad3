// The algorithm half of the Halide lowering: one Halide Func definition per attn op, with no scheduling.
// Tensors are row-major with the last dimension contiguous, so a tensor's dimension i is Halide dimension
// rank-1-i. This file holds the core of AlgorithmBuilder: the walk over a kernel's body, the dispatch of
// each op to its family's lowering (Lower*.cpp, a forward op beside its gradient), and the naming and
// stages that several families share.
#include "AlgorithmBuilder.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"

#include <algorithm>
#include <cmath>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

namespace {

/// 1 where `holds`, else 0: a comparison's mask.
Expr mask(Expr holds) { return Halide::select(holds, 1.0f, 0.0f); }

/// xᶜ: small whole exponents as products (exact, and defined for negative x), ½ as a square root.
Expr power(Expr x, float c) {
  if (c == 0.5f)
    return Halide::sqrt(x);
  if (c == std::round(c) && std::fabs(c) <= 4 && c != 0) {
    Expr product = x;
    for (int i = 1; i < int(std::fabs(c)); ++i)
      product = product * x;
    return c > 0 ? product : 1.0f / product;
  }
  return c == 0 ? Expr(1.0f) : Halide::pow(x, c);
}

} // namespace

Expr HTensor::at(std::vector<Expr> index) const {
  std::reverse(index.begin(), index.end());
  return func(index);
}

namespace mlir::attn::halide {

std::vector<Var> makeVars(size_t count, const std::string &prefix) {
  std::vector<Var> vars;
  for (size_t i = 0; i < count; ++i)
    vars.emplace_back(prefix + std::to_string(i));
  return vars;
}

/// Index vector (Halide order) made of `first` followed by `rest`.
std::vector<Expr> prepend(Expr first, const std::vector<Var> &rest) {
  std::vector<Expr> args{first};
  args.insert(args.end(), rest.begin(), rest.end());
  return args;
}

/// Index vector (Halide order) made of `first` followed by `rest`.
std::vector<Expr> prependExpr(Expr first, const std::vector<Expr> &rest) {
  std::vector<Expr> args{first};
  args.insert(args.end(), rest.begin(), rest.end());
  return args;
}

int64_t staticDim(Value v, unsigned i) { return cast<RankedTensorType>(v.getType()).getDimSize(i); }

/// tanh as x·P(x²)/Q(x²), P and Q of degree 4 (fitted to tanh on [0, 9] by reweighted least squares,
/// P(0) = Q(0) = 1), with x clamped to ±8, where the fraction is within 2e-7 of 1 and never above it:
/// within 3.3e-7 of tanh everywhere, 2e-7 relative near 0, and |tanh| < 1. Halide's tanh calls the C
/// library lane by lane; 1 − 2/(e^2x + 1) through its exp takes 1.5 times the instructions (see
/// docs/performance.md, "tanh and the sigmoid").
Expr tanhOf(Expr x) {
  static constexpr float kNumerator[] = {1.0f, 0.13380314f, 0.0034947549f, 2.0596022e-05f, 1.3337967e-08f};
  static constexpr float kDenominator[] = {1.0f, 0.46713632f, 0.025873778f, 0.00032842986f, 7.7694222e-07f};
  x = Halide::clamp(x, -8.0f, 8.0f);
  Expr square = x * x, numerator = kNumerator[4], denominator = kDenominator[4];
  for (int i = 3; i >= 0; --i) {
    numerator = numerator * square + kNumerator[i];
    denominator = denominator * square + kDenominator[i];
  }
  return x * numerator / denominator;
}

/// σ(x) = (1 + tanh(x/2))/2: within 2e-7 of σ, in [0, 1].
Expr sigmoidOf(Expr x) { return 0.5f + 0.5f * tanhOf(0.5f * x); }

/// An RDom over every element of `t` but its last `skipLast` dimensions (Halide order: innermost
/// first), and its points as index expressions.
std::pair<RDom, std::vector<Expr>> everyElement(const HTensor &t, const std::string &name, size_t skipLast) {
  std::vector<Halide::Range> ranges;
  for (size_t d = t.rank() - skipLast; d-- > 0;)
    ranges.emplace_back(0, t.extent(d));
  RDom r(ranges, name);
  std::vector<Expr> at;
  for (int i = 0; i < r.dimensions(); ++i)
    at.push_back(r[i]);
  return {r, at};
}

} // namespace mlir::attn::halide

LogicalResult AlgorithmBuilder::build() {
  Block &body = kernel.getBody().front();
  for (auto [index, arg] : llvm::enumerate(body.getArguments())) {
    auto type = cast<RankedTensorType>(arg.getType());
    Halide::Type elem = type.getElementType().isF32() ? Halide::Float(32) : Halide::Int(32);
    Halide::ImageParam param(elem, type.getRank(), "in" + std::to_string(index));
    HTensor t;
    std::vector<Var> vars = makeVars(type.getRank(), "d");
    t.func = Func("in" + std::to_string(index) + "_view");
    t.func(vars) = param(vars);
    // Static extents are constraints Halide checks once per call and then folds into every loop bound.
    for (int64_t d = 0; d < type.getRank(); ++d) {
      Halide::Internal::Dimension dim = param.dim(static_cast<int>(type.getRank() - 1 - d));
      dim.set_min(0);
      if (!type.isDynamicDim(d))
        dim.set_extent(static_cast<int>(type.getDimSize(d)));
      t.shape.push_back(type.isDynamicDim(d) ? dim.extent() : Expr(static_cast<int>(type.getDimSize(d))));
    }
    out.inputs.push_back(param);
    values[arg] = t;
  }
  for (Operation &op : body.without_terminator()) {
    if (!op.hasTrait<Reindexing>()) {
      out.pattern.push_back(op.getName().stripDialect().str());
      // A broadcasting op that grows its first operand's shape does not continue a pattern's tiles.
      out.patternElementwise.push_back(op.hasTrait<Elementwise>() &&
                                       op.getResult(0).getType() == op.getOperand(0).getType());
    }
    FailureOr<HTensor> result = lower(&op);
    if (failed(result))
      return failure();
    values[op.getResult(0)] = *result;
    if (!op.hasTrait<Reindexing>())
      out.anchor = result->func;
  }
  for (Value v : body.getTerminator()->getOperands()) {
    Func f = values[v].func;
    auto type = cast<RankedTensorType>(v.getType());
    if (f.outputs() == 1)
      for (int64_t d = 0; d < type.getRank(); ++d) {
        Halide::Internal::Dimension dim = f.output_buffer().dim(static_cast<int>(type.getRank() - 1 - d));
        dim.set_min(0);
        if (!type.isDynamicDim(d))
          dim.set_extent(static_cast<int>(type.getDimSize(d)));
      }
    out.outputs.push_back(f);
  }
  return success();
}

FailureOr<HTensor> AlgorithmBuilder::lower(Operation *op) {
  return llvm::TypeSwitch<Operation *, FailureOr<HTensor>>(op)
      .Case([&](DenseOp d) { return lowerDense(d); })
      .Case(
          [&](ReluOp r) { return lowerUnary(r, r.getInput(), [](Expr x) { return Halide::max(x, 0.0f); }); })
      .Case([&](TanhOp t) { return lowerUnary(t, t.getInput(), [](Expr x) { return tanhOf(x); }); })
      .Case([&](SigmoidOp s) {
        return lowerUnary(s, s.getInput(), sigmoidOf);
      })
      .Case([&](GeluOp g) {
        return lowerUnary(g, g.getInput(),
                          [](Expr x) { return 0.5f * x * (1.0f + Halide::erf(x * float(M_SQRT1_2))); });
      })
      .Case([&](ExpOp u) { return lowerUnary(u, u.getInput(), [](Expr x) { return Halide::exp(x); }); })
      .Case([&](LogOp u) { return lowerUnary(u, u.getInput(), [](Expr x) { return Halide::log(x); }); })
      .Case([&](SqrtOp u) { return lowerUnary(u, u.getInput(), [](Expr x) { return Halide::sqrt(x); }); })
      .Case([&](RsqrtOp u) {
        return lowerUnary(u, u.getInput(), [](Expr x) { return 1.0f / Halide::sqrt(x); });
      })
      .Case([&](AbsOp u) { return lowerUnary(u, u.getInput(), [](Expr x) { return Halide::abs(x); }); })
      .Case([&](NegOp u) { return lowerUnary(u, u.getInput(), [](Expr x) { return -x; }); })
      .Case([&](AddOp a) { return lowerBinary(a, [](Expr l, Expr r) { return l + r; }); })
      .Case([&](SubOp a) { return lowerBinary(a, [](Expr l, Expr r) { return l - r; }); })
      .Case([&](MulOp a) { return lowerBinary(a, [](Expr l, Expr r) { return l * r; }); })
      .Case([&](DivOp a) { return lowerBinary(a, [](Expr l, Expr r) { return l / r; }); })
      .Case([&](MaximumOp a) { return lowerBinary(a, [](Expr l, Expr r) { return Halide::max(l, r); }); })
      .Case([&](MinimumOp a) { return lowerBinary(a, [](Expr l, Expr r) { return Halide::min(l, r); }); })
      .Case([&](LessOp a) { return lowerBinary(a, [](Expr l, Expr r) { return mask(l < r); }); })
      .Case([&](LessEqualOp a) { return lowerBinary(a, [](Expr l, Expr r) { return mask(l <= r); }); })
      .Case([&](GreaterOp a) { return lowerBinary(a, [](Expr l, Expr r) { return mask(l > r); }); })
      .Case([&](GreaterEqualOp a) { return lowerBinary(a, [](Expr l, Expr r) { return mask(l >= r); }); })
      .Case([&](EqualOp a) { return lowerBinary(a, [](Expr l, Expr r) { return mask(l == r); }); })
      .Case([&](NotEqualOp a) { return lowerBinary(a, [](Expr l, Expr r) { return mask(l != r); }); })
      .Case([&](SelectOp s) {
        return lowerBroadcasting(s, "select",
                                 [](ArrayRef<Expr> x) { return Halide::select(x[0] != 0.0f, x[1], x[2]); });
      })
      .Case([&](PowOp p) {
        float c = p.getExponent().convertToFloat();
        return lowerUnary(p, p.getInput(), [c](Expr x) { return power(x, c); });
      })
      .Case([&](ArgmaxOp a) { return lowerArgmax(a); })
      .Case([&](MatmulOp m) { return lowerMatmul(m); })
      .Case([&](ConstantOp c) {
        Func f(name(c, "constant"));
        f() = Expr(c.getValue().convertToFloat());
        return HTensor{f, {}};
      })
      .Case([&](SoftmaxOp s) { return lowerSoftmax(s.getInput(), s, /*log=*/false); })
      .Case([&](LogSoftmaxOp s) { return lowerSoftmax(s.getInput(), s, /*log=*/true); })
      .Case([&](LayerNormOp l) { return lowerLayerNorm(l); })
      .Case([&](DropoutOp d) { return lowerDropout(d); })
      .Case([&](RandomShiftOp r) { return lowerRandomShift(r); })
      .Case([&](PositionsOp p) { return lowerPositions(p); })
      .Case([&](SinusoidOp p) { return lowerSinusoid(p); })
      .Case([&](ShiftRightOp p) { return lowerShiftRight(p); })
      .Case([&](CacheWriteOp c) { return lowerCacheWrite(c); })
      .Case([&](LSTMOp l) { return lowerRecurrence(l, /*isLSTM=*/true); })
      .Case([&](GRUOp g) { return lowerRecurrence(g, /*isLSTM=*/false); })
      .Case([&](LSTMCellOp c) { return lowerLSTMCell(c); })
      .Case([&](GRUCellOp c) { return lowerGRUCell(c); })
      .Case([&](ZerosOp z) { return lowerZeros(z); })
      .Case([&](Conv2DOp c) { return lowerConv2D(c); })
      .Case([&](Pool2DOp p) { return lowerPool2D(p); })
      .Case([&](GlobalPoolOp p) { return lowerGlobalPool(p); })
      .Case([&](BatchNormOp b) { return lowerBatchNorm(b); })
      .Case([&](FlattenOp f) { return lowerFlatten(f); })
      .Case([&](ReduceOp r) { return lowerReduce(r); })
      .Case([&](CrossEntropyOp c) { return lowerCrossEntropy(c); })
      .Case([&](MseOp m) { return lowerMse(m); })
      .Case([&](DenseGradWeightOp d) { return lowerDenseGradWeight(d); })
      .Case([&](SumLeadingOp d) { return lowerSumLeading(d); })
      .Case([&](ActivationGradOp a) { return lowerActivationGrad(a); })
      .Case([&](ScaleOp a) {
        float factor = a.getFactor().convertToFloat();
        return lowerUnary(a, a.getInput(), [factor](Expr x) { return x * factor; });
      })
      .Case([&](SoftmaxGradOp g) { return lowerSoftmaxGrad(g); })
      .Case([&](CrossEntropyGradOp g) { return lowerCrossEntropyGrad(g); })
      .Case([&](MseGradOp g) { return lowerMseGrad(g); })
      .Case([&](EmbeddingGradOp g) { return lowerEmbeddingGrad(g); })
      .Case([&](LayerNormGradOp g) { return lowerLayerNormGrad(g); })
      .Case([&](ProbsGradOp g) { return lowerProbsGrad(g); })
      .Case([&](AdditiveScoreGradOp g) { return lowerAdditiveScoreGrad(g); })
      .Case([&](RecurrenceGradOp g) { return lowerRecurrenceGrad(g); })
      .Case([&](RecurrenceWeightGradOp g) { return lowerRecurrenceWeightGrad(g); })
      .Case([&](CellGradOp g) { return lowerCellGrad(g); })
      .Case([&](Conv2DGradOp g) { return lowerConv2DGrad(g); })
      .Case([&](PoolGradOp g) { return lowerPoolGrad(g); })
      .Case([&](ReduceGradOp g) { return lowerReduceGrad(g); })
      .Case([&](BroadcastGradOp g) { return lowerBroadcastGrad(g); })
      .Case([&](SliceGradOp g) { return lowerSliceGrad(g); })
      .Case([&](BatchNormTrainOp g) { return lowerBatchNormTrain(g); })
      .Case([&](BatchNormGradOp g) { return lowerBatchNormGrad(g); })
      .Case([&](BatchSumsOp g) { return lowerBatchSums(g); })
      .Case([&](BroadcastOp b) { return lowerBroadcast(b); })
      .Case([&](ScoreOp s) { return lowerScore(s); })
      .Case([&](AdditiveScoreOp s) { return lowerAdditiveScore(s); })
      .Case([&](ExpandDimsOp e) { return lowerExpandDims(e); })
      .Case([&](EmbeddingOp e) { return lowerEmbedding(e); })
      .Case([&](ConcatOp c) { return lowerConcat(c); })
      .Case([&](SqueezeOp e) { return lowerSqueeze(e); })
      .Case([&](ReshapeOp r) { return lowerReshape(r); })
      .Case([&](TransposeOp t) { return lowerTranspose(t); })
      .Case([&](SliceOp s) { return lowerSlice(s); })
      .Case([&](MaskedSoftmaxOp m) { return lowerMaskedSoftmax(m); })
      .Case([&](WeightedSumOp w) { return lowerWeightedSum(w); })
      .Default([&](Operation *other) -> FailureOr<HTensor> {
        return other->emitOpError("has no Halide lowering; run attn-decompose before lowering");
      });
}

std::string AlgorithmBuilder::name(Operation *op, StringRef stage) {
  return op->getName().stripDialect().str() + std::to_string(counter++) + "_" + stage.str();
}

/// A weight W [out, in] as wT(o, i) = W[o, i], so that the outputs are innermost: stored once per call
/// (scheduleTranspose), or read in place when the weight is given as [in, out] (transposed_weight).
Func AlgorithmBuilder::weightTransposed(Operation *op, StringRef stage, const HTensor &w, bool given, Var o,
                                        Var i) {
  Func wT(name(op, stage));
  if (given) {
    wT(o, i) = w.func(o, i);
  } else {
    wT(o, i) = w.func(i, o);
    out.transposes.push_back(wT);
  }
  return wT;
}

/// A matrix product as its schedule tiles it (MatmulStages): an accumulator starts from `init` and adds
/// `term`, which ranges over a reduction domain; the result (named `stage`, unless named already) copies it.
Func AlgorithmBuilder::product(Operation *op, StringRef stage, const std::vector<Var> &at, Expr init,
                               Expr term, std::optional<Func> named) {
  Func acc(name(op, (stage + "_acc").str()));
  MatmulStages m{acc, named ? *named : Func(name(op, stage))};
  m.acc(at) = init;
  m.acc(at) += term;
  m.result(at) = m.acc(at);
  out.matmuls.push_back(m);
  return m.result;
}

/// A new reduction Func, recorded for scheduling.
Func AlgorithmBuilder::reduction(Operation *op, StringRef stage) {
  Func f(name(op, stage));
  out.reductions.push_back(f);
  return f;
}

int ScheduleKnobs::get(const std::string &name, int fallback, std::vector<int> candidates) {
  auto known = llvm::find_if(knobs, [&](const Knob &k) { return k.name == name; });
  if (known != knobs.end())
    return known->value;
  auto given = overrides.find(name);
  int value =
      given != overrides.end() && llvm::is_contained(candidates, given->second) ? given->second : fallback;
  if (!llvm::is_contained(candidates, fallback))
    candidates.insert(candidates.begin(), fallback);
  knobs.push_back({name, value, fallback, std::move(candidates)});
  return value;
}

std::map<std::string, int> ScheduleKnobs::values() const {
  std::map<std::string, int> values;
  for (const Knob &k : knobs)
    values[k.name] = k.value;
  return values;
}

std::string mlir::attn::halide::describeKnobs(const std::map<std::string, int> &values) {
  std::vector<std::string> parts;
  for (const auto &[name, value] : values)
    parts.push_back(name + "=" + std::to_string(value));
  return llvm::join(parts, " ");
}

FailureOr<LoweredKernel> mlir::attn::halide::buildAlgorithm(KernelOp kernel, const MachineParams &machine,
                                                            ScheduleKnobs knobs) {
  LoweredKernel lowered;
  lowered.machine = machine;
  lowered.knobs = std::move(knobs);
  lowered.entry = kernel.getEntryName();
  if (failed(AlgorithmBuilder(kernel, lowered).build()))
    return failure();
  return lowered;
}
