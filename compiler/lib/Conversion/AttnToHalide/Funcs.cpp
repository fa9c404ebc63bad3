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

/// Index vector (Halide order) made of `first` followed by `rest`.
std::vector<Expr> prependExpr(Expr first, const std::vector<Expr> &rest) {
  std::vector<Expr> args{first};
  args.insert(args.end(), rest.begin(), rest.end());
  return args;
}

int64_t staticDim(Value v, unsigned i) { return cast<RankedTensorType>(v.getType()).getDimSize(i); }

/// tanh through exp, which Halide vectorizes (its tanh calls the C library lane by lane):
/// 1 − 2/(exp(2x) + 1), exact at ±∞ and within 1e-7 absolute elsewhere.
Expr tanhOf(Expr x) { return 1.0f - 2.0f / (Halide::exp(2.0f * x) + 1.0f); }

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
      if (!op.hasTrait<Reindexing>())
        out.pattern.push_back(op.getName().stripDialect().str());
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

private:
  FailureOr<HTensor> lower(Operation *op) {
    return llvm::TypeSwitch<Operation *, FailureOr<HTensor>>(op)
        .Case([&](DenseOp d) { return lowerDense(d); })
        .Case([&](ReluOp r) { return lowerUnary(r, [](Expr x) { return Halide::max(x, 0.0f); }); })
        .Case([&](TanhOp t) { return lowerUnary(t, [](Expr x) { return tanhOf(x); }); })
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
          return lowerUnary(a, [factor](Expr x) { return x * factor; });
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

  std::string name(Operation *op, StringRef stage) {
    return op->getName().stripDialect().str() + std::to_string(counter++) + "_" + stage.str();
  }

  /// A weight W [out, in] as wT(o, i) = W[o, i], so that the outputs are innermost: stored once per call
  /// (scheduleTranspose), or read in place when the weight is given as [in, out] (transposed_weight).
  Func weightTransposed(Operation *op, StringRef stage, const HTensor &w, bool given, Var o, Var i) {
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
  Func product(Operation *op, StringRef stage, const std::vector<Var> &at, Expr init, Expr term,
               std::optional<Func> named = std::nullopt) {
    Func acc(name(op, (stage + "_acc").str()));
    MatmulStages m{acc, named ? *named : Func(name(op, stage))};
    m.acc(at) = init;
    m.acc(at) += term;
    m.result(at) = m.acc(at);
    out.matmuls.push_back(m);
    return m.result;
  }

  /// y[..., n] = Σ_k x[..., k] · W[n, k] + b[n].
  FailureOr<HTensor> lowerDense(DenseOp op) {
    const HTensor &x = values[op.getInput()];
    const HTensor &w = values[op.getWeight()];
    DenseStages s;
    s.n = Var("n");
    s.rows = makeVars(x.rank() - 1, "r");
    s.weightT = weightTransposed(op, "weight_t", w, op.getTransposedWeight(), s.n, Var("k"));
    RDom r(0, x.extent(x.rank() - 1), "rk");
    s.acc = Func(name(op, "acc"));
    s.acc(prepend(s.n, s.rows)) = 0.0f;
    s.acc(prepend(s.n, s.rows)) += x.func(prepend(r, s.rows)) * s.weightT(s.n, r);
    s.result = Func(name(op, "dense"));
    Expr bias = op.getBias() ? values[op.getBias()].func(s.n) : Expr(0.0f);
    s.result(prepend(s.n, s.rows)) = s.acc(prepend(s.n, s.rows)) + bias;
    if (!s.rows.empty())
      out.matmuls.push_back({s.acc, s.result});

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

  /// mean(rows) and the biased variance(rows) of `x` over its last dimension, `width` wide.
  static void defineRowMoments(const HTensor &x, int width, const std::vector<Var> &rows, Func mean, Func variance) {
    RDom r(0, width, "rx");
    float inv = 1.0f / float(width);
    mean(rows) = 0.0f;
    mean(rows) += x.func(prepend(r, rows)) * inv;
    variance(rows) = 0.0f;
    Expr centered = x.func(prepend(r, rows)) - mean(rows);
    variance(rows) += centered * centered * inv;
  }

  /// A recurrence (LSTM or GRU) as one Func `state(slot, step, b)`. For each step, the first G·H slots
  /// accumulate the hidden projections W_hh·h_{step−1} + b_hh gate by gate (LSTM: plus the input
  /// projection), then the state slots follow: LSTM [4H, 5H) the cell and [5H, 6H) the hidden state, GRU
  /// [3H, 4H) the hidden state. One update runs over (slot, k, step), innermost first: the gate slots add
  /// W_hh[:, k]·h[k]; after the last k the state slots read the finished gates of their step. Halide
  /// requires a recursive update to index its own Func with the left-hand side's pure variables, so only the
  /// batch is pure and everything else is a reduction variable: the steps stay in order, the batch runs
  /// in parallel.
  template <typename OpT>
  FailureOr<HTensor> lowerRecurrence(OpT op, bool isLSTM) {
    const HTensor &xp = values[op.getProjected()];
    int hidden = int(staticDim(op.getWHh(), 1));
    Var t("t"), b("b"), j("j");
    Expr steps = xp.extent(1), length = lengthOf(op.getLengths(), steps, b);
    bool reverse = op.getReverse();
    Func state = recurrenceState(op, xp, values[op.getWHh()], values[op.getBHh()], length, reverse, isLSTM, b);
    int hSlot = isLSTM ? 5 * hidden : 3 * hidden;
    Func result(name(op, isLSTM ? "lstm" : "gru"));
    result(j, t, b) = Halide::select(t < length, state(hSlot + j, timeAt(t, length, reverse) + 1, b), 0.0f);
    return HTensor{result, {xp.extent(0), steps, Expr(hidden)}};
  }

  /// The valid steps of each sequence: `lengths`[b] clamped to the steps, or all of them.
  Expr lengthOf(Value lengths, Expr steps, Var b) {
    return lengths ? Halide::clamp(values[lengths].func(b), 0, steps) : steps;
  }

  /// The time index read at step `step` (0-based): reversed within the sequence's length for `reverse`.
  static Expr timeAt(Expr step, Expr length, bool reverse) {
    return reverse ? Halide::select(step < length, length - 1 - step, step) : step;
  }

  static Expr sigmoid(Expr x) { return 1.0f / (1.0f + Halide::exp(-x)); }

  Func recurrenceState(Operation *op, const HTensor &xp, const HTensor &w, const HTensor &bias, Expr length,
                       bool reverse, bool isLSTM, Var b) {
    int hidden = int(staticDim(op->getOperand(1), 1)), gates = (isLSTM ? 4 : 3) * hidden;
    int hSlot = isLSTM ? 5 * hidden : gates; // where the hidden state lives
    int slots = hSlot + hidden;
    Expr steps = xp.extent(1);
    Var slot("slot"), t("t");
    Func state(name(op, "state"));
    Expr g = Halide::clamp(slot, 0, gates - 1);
    Expr xAt = xp.func(g, Halide::clamp(timeAt(t - 1, length, reverse), 0, steps - 1), b);
    state(slot, t, b) =
        Halide::select(t > 0 && slot < gates, (isLSTM ? xAt : Expr(0.0f)) + bias.func(g), 0.0f);
    // Slots in blocks (kRecurrenceBlock, unrolled by the schedule) that accumulate over k together.
    int blocks = (slots + kRecurrenceBlock - 1) / kRecurrenceBlock;
    RDom r({{0, kRecurrenceBlock}, {0, hidden}, {0, blocks}, {1, steps}}, "r");
    Expr s = r.z * kRecurrenceBlock + r.x, k = r.y, step = r[3];
    r.where(s < gates || (k == hidden - 1 && s < slots)); // the state slots update once, after the gates
    auto at = [&](Expr index, Expr when) { return state(index, when, b); };
    Expr gate = at(s, step) + w.func(k, Halide::clamp(s, 0, gates - 1)) * at(hSlot + k, step - 1);
    Expr stateValue;
    if (isLSTM) {
      // One slot's new state with three transcendentals (a select evaluates both of its sides):
      // c = σ(f)·c_prev + σ(i)·tanh(g), h = σ(o)·tanh(c).
      Expr isCell = s < 5 * hidden;
      Expr j = Halide::clamp(Halide::select(isCell, s - 4 * hidden, s - 5 * hidden), 0, hidden - 1);
      Expr gate = sigmoid(at(Halide::select(isCell, hidden + j, 3 * hidden + j), step));
      Expr squashed = tanhOf(at(Halide::select(isCell, 2 * hidden + j, 4 * hidden + j), step));
      stateValue = Halide::select(isCell, gate * at(4 * hidden + j, step - 1) + sigmoid(at(j, step)) * squashed,
                                  gate * squashed);
    } else {
      Expr h = Halide::clamp(s - gates, 0, hidden - 1);
      auto x = [&](int gateIndex) {
        return xp.func(gateIndex * hidden + h, Halide::clamp(timeAt(step - 1, length, reverse), 0, steps - 1), b);
      };
      Expr reset = sigmoid(x(0) + at(h, step)), update = sigmoid(x(1) + at(hidden + h, step));
      Expr candidate = tanhOf(x(2) + reset * at(2 * hidden + h, step));
      stateValue = (1.0f - update) * candidate + update * at(hSlot + h, step - 1);
    }
    state(s, step, b) = Halide::select(s < gates, gate,
                                       Halide::select(k == hidden - 1, stateValue, at(s, step)));
    out.recurrences.emplace_back(state, b);
    return state;
  }

  /// Backpropagation through time as one Func `back(slot, step, b)`, from the last step down (the forward
  /// states are recomputed by recurrenceState). Slots [0, H) hold dh, the gradient of the step's hidden
  /// state: dy at its time plus, accumulated over the gates k, W_hh[k, j]·(hidden-side gate gradient k of
  /// the next step) (GRU: plus dh·z of the next step). After the last k the other slots read the finished
  /// dh: LSTM [H, 2H) the cell gradient, [2H, 6H) the gate gradients; GRU [H, 4H) the projected inputs'
  /// gradients for r, z, n and [4H, 5H) n's hidden-side gradient. Steps past a sequence's length get dy = 0,
  /// so they and their gradients stay 0.
  FailureOr<HTensor> lowerRecurrenceGrad(RecurrenceGradOp op) {
    bool isLSTM = op.getCell() == "lstm", reverse = op.getReverse();
    const HTensor &xp = values[op.getProjected()], &w = values[op.getWHh()], &dy = values[op.getGrad()];
    int hidden = int(staticDim(op.getWHh(), 1)), gates = (isLSTM ? 4 : 3) * hidden;
    Var slot("slot"), u("u"), b("b"), g("g"), t("t");
    Expr steps = xp.extent(1), length = lengthOf(op.getLengths(), steps, b);
    // The forward pass again, without its recurrence: the hidden state each step read comes from the
    // result h, so every step's gate pre-activations are one matrix product (LSTM: with the input
    // projection; GRU: the hidden side only), and the LSTM cell state an elementwise recurrence.
    const HTensor &h = values[op.getHidden()];
    auto prevHidden = [&](Expr i, Expr step) {
      Expr time = Halide::clamp(timeAt(step - 2, length, reverse), 0, steps - 1);
      return Halide::select(step >= 2, h.func(i, time, b), 0.0f);
    };
    Func pre(name(op, "preactivations"));
    {
      Var gv("gv");
      Func wT = weightTransposed(op, "w_hh_t", w, /*given=*/false, gv, Var("k"));
      RDom rk(0, hidden, "rk");
      Expr time = Halide::clamp(timeAt(u - 1, length, reverse), 0, steps - 1);
      product(op, "preactivations", {gv, u, b},
              values[op.getBHh()].func(gv) + (isLSTM ? xp.func(gv, time, b) : Expr(0.0f)),
              wT(gv, rk) * prevHidden(rk, u), pre);
    }
    auto P = [&](Expr index, Expr step) { return pre(index, Halide::clamp(step, 1, steps), b); };
    Func cellState(name(op, "cell_state"));
    if (isLSTM) {
      Var j2("j2");
      cellState(j2, u, b) = 0.0f;
      RDom rt(1, steps, "rt");
      cellState(j2, rt, b) = sigmoid(P(hidden + j2, rt)) * cellState(j2, rt - 1, b) +
                             sigmoid(P(j2, rt)) * tanhOf(P(2 * hidden + j2, rt));
      out.recurrences.emplace_back(cellState, b);
    }
    auto C = [&](Expr i, Expr step) { return cellState(i, Halide::clamp(step, 0, steps), b); };
    // The activations of every step, computed once: LSTM σ(i), σ(f), tanh(g), σ(o) in [0, 4H) and tanh(c)
    // in [4H, 5H); GRU r, z, n.
    Func act(name(op, "activations"));
    {
      Var a("a");
      if (isLSTM) {
        Expr x = Halide::select(a < 4 * hidden, P(Halide::min(a, 4 * hidden - 1), u),
                                C(Halide::clamp(a - 4 * hidden, 0, hidden - 1), u));
        Expr isTanh = (a >= 2 * hidden && a < 3 * hidden) || a >= 4 * hidden;
        act(a, u, b) = Halide::select(isTanh, tanhOf(x), sigmoid(x));
      } else {
        Expr i = a % hidden;
        Expr time = Halide::clamp(timeAt(u - 1, length, reverse), 0, steps - 1);
        Expr gate = xp.func(Halide::clamp(a, 0, gates - 1), time, b) + P(Halide::clamp(a, 0, gates - 1), u);
        Expr reset = sigmoid(xp.func(i, time, b) + P(i, u));
        act(a, u, b) = Halide::select(a < 2 * hidden, sigmoid(gate),
                                      tanhOf(xp.func(2 * hidden + i, time, b) + reset * P(2 * hidden + i, u)));
      }
      out.reductions.push_back(act);
    }
    auto A = [&](Expr index, Expr step) { return act(index, Halide::clamp(step, 1, steps), b); };

    Func back(name(op, "back"));
    Expr dyAt = dy.func(Halide::clamp(slot, 0, hidden - 1),
                        Halide::clamp(timeAt(u - 1, length, reverse), 0, steps - 1), b);
    back(slot, u, b) = Halide::select(slot < hidden && u >= 1 && u <= length, dyAt, 0.0f);
    int slots = isLSTM ? 6 * hidden : 5 * hidden;
    int blocks = (slots + kRecurrenceBlock - 1) / kRecurrenceBlock;
    RDom r({{0, kRecurrenceBlock}, {0, gates}, {0, blocks}, {0, steps}}, "r");
    Expr s = r.z * kRecurrenceBlock + r.x, k = r.y, step = steps - r[3];
    r.where(s < hidden || (k == gates - 1 && s < slots)); // the gate slots update once, after dh is complete
    auto G = [&](Expr index, Expr when) { return back(index, Halide::clamp(when, 1, steps + 1), b); };
    Expr j = Halide::clamp(s, 0, hidden - 1);
    // The hidden-side gradient of gate k at the next step, and dh's sum over the gates.
    Expr nextGate = isLSTM ? G(2 * hidden + k, step + 1)
                           : Halide::select(k < 2 * hidden, G(hidden + k, step + 1), G(2 * hidden + k, step + 1));
    Expr dh = G(s, step) + w.func(j, k) * nextGate;
    if (!isLSTM) {
      dh += Halide::select(k == 0, G(j, step + 1) * A(hidden + j, step + 1), 0.0f);
    }

    // After the last k: the gate gradients of this step, for the slot's gate q and unit i.
    Expr rest = Halide::clamp(s - hidden, 0, slots - hidden - 1);
    Expr finished;
    if (isLSTM) {
      Expr q = Halide::clamp(rest - hidden, 0, 4 * hidden - 1) / hidden;
      Expr i = Halide::clamp(Halide::select(s < 2 * hidden, rest, (rest - hidden) % hidden), 0, hidden - 1);
      Expr in = A(i, step), forget = A(hidden + i, step), cand = A(2 * hidden + i, step);
      Expr outGate = A(3 * hidden + i, step), tc = A(4 * hidden + i, step);
      Expr cellGrad = G(hidden + i, step + 1) * A(hidden + i, step + 1) + G(i, step) * outGate * (1.0f - tc * tc);
      Expr dc = G(hidden + i, step), dhi = G(i, step);
      Expr gateGrad = Halide::select(q == 0, dc * cand * in * (1.0f - in),
                                     q == 1, dc * C(i, step - 1) * forget * (1.0f - forget),
                                     q == 2, dc * in * (1.0f - cand * cand),
                                     dhi * tc * outGate * (1.0f - outGate));
      finished = Halide::select(s < 2 * hidden, cellGrad, gateGrad);
    } else {
      Expr q = rest / hidden, i = rest % hidden;
      Expr reset = A(i, step), update = A(hidden + i, step), cand = A(2 * hidden + i, step);
      Expr hn = P(2 * hidden + i, step);
      Expr dhi = G(i, step);
      Expr dn = dhi * (1.0f - update) * (1.0f - cand * cand);
      finished = Halide::select(q == 0, dn * hn * reset * (1.0f - reset),
                                q == 1, dhi * (prevHidden(i, step) - cand) * update * (1.0f - update),
                                q == 2, dn, dn * reset);
    }
    back(s, step, b) = Halide::select(s < hidden, dh, Halide::select(k == gates - 1, finished, G(s, step)));
    out.recurrences.emplace_back(back, b);

    int outSlot = isLSTM ? 2 * hidden : hidden;
    Expr stepOf = reverse ? length - t : t + 1;
    Func result(name(op, "gate_grads"));
    result(g, t, b) = Halide::select(t < length, back(outSlot + g, Halide::clamp(stepOf, 1, steps), b), 0.0f);
    return HTensor{result, {xp.extent(0), steps, Expr(4 * hidden)}};
  }

  /// dW[g, k] = Σ_{b,t} dg[b, t, g]·h_prev[b, t, k], h_prev being h one step earlier in the reading order.
  FailureOr<HTensor> lowerRecurrenceWeightGrad(RecurrenceWeightGradOp op) {
    const HTensor &dg = values[op.getGrad()], &h = values[op.getHidden()];
    Expr steps = h.extent(1);
    RDom r(0, steps, 0, h.extent(0), "rt");
    Expr prev = op.getReverse() ? r.x + 1 : r.x - 1;
    Var k("k"), g("g");
    Expr hPrev = Halide::select(prev >= 0 && prev < steps, h.func(k, Halide::clamp(prev, 0, steps - 1), r.y), 0.0f);
    Func dw = product(op, "dw", {k, g}, 0.0f, dg.func(g, r.x, r.y) * hPrev);
    return HTensor{dw, {dg.extent(2), h.extent(2)}};
  }

  /// The gradients of one LSTM or GRU cell step (see attn.cell_grad).
  FailureOr<HTensor> lowerCellGrad(CellGradOp op) {
    const HTensor &xg = values[op.getInputGates()], &hg = values[op.getHiddenGates()];
    const HTensor &state = values[op.getState()], &dy = values[op.getGrad()];
    int hidden = int(staticDim(op.getState(), 1));
    Var g("g"), n("n");
    StringRef wrt = op.getWrt();
    bool onState = wrt == "state";
    Expr i = onState ? Expr(g) : Expr(g % hidden), q = g / hidden;
    auto pre = [&](int gate) { return xg.func(gate * hidden + i, n) + hg.func(gate * hidden + i, n); };
    Expr dh = dy.func(i, n);
    Expr value;
    if (op.getCell() == "lstm") {
      Expr in = sigmoid(pre(0)), forget = sigmoid(pre(1)), cand = tanhOf(pre(2)), outGate = sigmoid(pre(3));
      Expr c = state.func(i, n);
      Expr tc = tanhOf(forget * c + in * cand);
      Expr dc = dh * outGate * (1.0f - tc * tc);
      if (Value cellGrad = op.getCellGrad())
        dc += values[cellGrad].func(i, n);
      value = onState ? dc * forget
                      : Halide::select(q == 0, dc * cand * in * (1.0f - in), q == 1, dc * c * forget * (1.0f - forget),
                                       q == 2, dc * in * (1.0f - cand * cand), dh * tc * outGate * (1.0f - outGate));
    } else {
      Expr reset = sigmoid(pre(0)), update = sigmoid(pre(1));
      Expr hn = hg.func(2 * hidden + i, n);
      Expr cand = tanhOf(xg.func(2 * hidden + i, n) + reset * hn);
      Expr dn = dh * (1.0f - update) * (1.0f - cand * cand);
      Expr gateGrad = Halide::select(q == 0, dn * hn * reset * (1.0f - reset),
                                     q == 1, dh * (state.func(i, n) - cand) * update * (1.0f - update),
                                     wrt == "hidden_gates" ? dn * reset : dn);
      value = onState ? dh * update : gateGrad;
    }
    Func result(name(op, "cell_grad"));
    result(g, n) = value;
    return HTensor{result, onState ? state.shape : xg.shape};
  }

  /// acc(g, n) = bias(g) + Σ_k x[n, k] · W[g, k]: one gate projection of a cell, with W transposed once so
  /// that the gates are the vectorized, contiguous dimension.
  Func gateProjection(Operation *op, StringRef stage, Value x, Value weight, Value bias, bool transposed) {
    const HTensor &in = values[x];
    const HTensor &w = values[weight];
    Var g("g"), n("n");
    Func wT = weightTransposed(op, (stage + "_weight_t").str(), w, transposed, g, Var("k"));
    RDom r(0, int(staticDim(x, 1)), "rk");
    return product(op, stage, {g, n}, values[bias].func(g), in.func(r, n) * wT(g, r));
  }

  /// One LSTM step (gates i, f, g, o); the cell state is the op's second result.
  FailureOr<HTensor> lowerLSTMCell(LSTMCellOp op) {
    int hidden = int(staticDim(op.getHidden(), 1));
    bool transposed = op.getTransposedWeights();
    Func xg = gateProjection(op, "input_gates", op.getInput(), op.getWIh(), op.getBIh(), transposed);
    Func hg = gateProjection(op, "hidden_gates", op.getHidden(), op.getWHh(), op.getBHh(), transposed);
    Var j("j"), n("n");
    auto gate = [&](int index) { return xg(index * hidden + j, n) + hg(index * hidden + j, n); };
    auto sigmoid = [](Expr x) { return 1.0f / (1.0f + Halide::exp(-x)); };
    Func cell(name(op, "cell"));
    cell(j, n) = sigmoid(gate(1)) * values[op.getCell()].func(j, n) + sigmoid(gate(0)) * tanhOf(gate(2));
    Func h(name(op, "hidden"));
    h(j, n) = sigmoid(gate(3)) * tanhOf(cell(j, n));
    const HTensor &state = values[op.getHidden()];
    values[op.getNewCell()] = HTensor{cell, state.shape};
    return HTensor{h, state.shape};
  }

  /// One GRU step (gates r, z, n).
  FailureOr<HTensor> lowerGRUCell(GRUCellOp op) {
    int hidden = int(staticDim(op.getHidden(), 1));
    bool transposed = op.getTransposedWeights();
    Func xg = gateProjection(op, "input_gates", op.getInput(), op.getWIh(), op.getBIh(), transposed);
    Func hg = gateProjection(op, "hidden_gates", op.getHidden(), op.getWHh(), op.getBHh(), transposed);
    Var j("j"), n("n");
    auto sigmoid = [](Expr x) { return 1.0f / (1.0f + Halide::exp(-x)); };
    Expr reset = sigmoid(xg(j, n) + hg(j, n));
    Expr update = sigmoid(xg(hidden + j, n) + hg(hidden + j, n));
    Expr candidate = tanhOf(xg(2 * hidden + j, n) + reset * hg(2 * hidden + j, n));
    Func h(name(op, "gru_cell"));
    h(j, n) = (1.0f - update) * candidate + update * values[op.getHidden()].func(j, n);
    return HTensor{h, values[op.getHidden()].shape};
  }

  FailureOr<HTensor> lowerZeros(ZerosOp op) {
    auto type = cast<RankedTensorType>(op.getType());
    std::vector<Var> vars = makeVars(type.getRank(), "e");
    Func f(name(op, "zeros"));
    f(vars) = 0.0f;
    std::vector<Expr> shape{values[op.getLike()].extent(op.getDim())};
    for (int64_t d = 1; d < type.getRank(); ++d)
      shape.push_back(Expr(int(type.getDimSize(d))));
    return HTensor{f, shape};
  }

  //===------------------------------------------------------------------===//
  // Feature maps: tensors [B, C, H, W] are Funcs (w, h, c, b).
  //===------------------------------------------------------------------===//

  /// A Func that reads `x` inside its H × W extent and `outside` beyond it.
  static Func padded(const HTensor &x, Value v, float outside) {
    int h = static_cast<int>(staticDim(v, 2)), w = static_cast<int>(staticDim(v, 3));
    return Halide::BoundaryConditions::constant_exterior(x.func, outside, {{0, w}, {0, h}});
  }

  /// A new reduction Func, recorded for scheduling.
  Func reduction(Operation *op, StringRef stage) {
    Func f(name(op, stage));
    out.reductions.push_back(f);
    return f;
  }

  FailureOr<HTensor> lowerConv2D(Conv2DOp op) {
    const HTensor &x = values[op.getInput()];
    const HTensor &w = values[op.getWeight()];
    auto wType = cast<RankedTensorType>(op.getWeight().getType());
    int cinGroup = wType.getDimSize(1), kh = wType.getDimSize(2), kw = wType.getDimSize(3);
    int coutGroup = wType.getDimSize(0) / op.getGroups();
    auto stride = op.getStride(), pad = op.getPadding(), dil = op.getDilation();
    auto type = cast<RankedTensorType>(op.getType());
    Conv2DStages c{Func(name(op, "padded")), Func(), Func(name(op, "conv")), Var("ow"), Var("oh"), Var("co"),
                   Var("b"), static_cast<int>(type.getDimSize(1))};
    Var ow = c.ow, oh = c.oh, co = c.co, b = c.b;
    Func in = padded(x, op.getInput(), 0.0f);
    std::vector<Var> inVars = makeVars(4, "p");
    c.padded(inVars) = in(inVars);
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

  FailureOr<HTensor> lowerPool2D(Pool2DOp op) {
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

  /// Average and maximum of each channel over all positions: Funcs (c, b).
  std::pair<Func, Func> channelStatistics(Operation *op, const HTensor &x, Value v) {
    int h = int(staticDim(v, 2)), w = int(staticDim(v, 3));
    Var c("c"), b("b");
    RDom r(0, w, 0, h, "rp");
    Func sum = reduction(op, "sum"), max = reduction(op, "max");
    sum(c, b) = 0.0f;
    sum(c, b) += x.func(r.x, r.y, c, b);
    max(c, b) = -3.0e38f;
    max(c, b) = Halide::max(max(c, b), x.func(r.x, r.y, c, b));
    Func avg(name(op, "avg"));
    avg(c, b) = sum(c, b) / float(h * w);
    return {avg, max};
  }

  FailureOr<HTensor> lowerGlobalPool(GlobalPoolOp op) {
    const HTensor &x = values[op.getInput()];
    auto [avg, max] = channelStatistics(op, x, op.getInput());
    return HTensor{op.getKind() == "max" ? max : avg, {x.extent(0), x.extent(1)}};
  }

  FailureOr<HTensor> lowerBatchNorm(BatchNormOp op) {
    const HTensor &x = values[op.getInput()];
    std::vector<Var> vars = makeVars(x.rank(), "e");
    Var c = vars[x.rank() - 2];
    auto at = [&](Value v) { return values[v].func(c); };
    Func f(name(op, "batch_norm"));
    f(vars) = (x.func(vars) - at(op.getMean())) / Halide::sqrt(at(op.getVariance()) + op.getEpsilon().convertToFloat()) *
                  at(op.getWeight()) +
              at(op.getBias());
    out.elementwise.push_back(f);
    return HTensor{f, x.shape};
  }

  FailureOr<HTensor> lowerFlatten(FlattenOp op) {
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

  /// Mean or maximum along a static axis, kept with size 1.
  FailureOr<HTensor> lowerReduce(ReduceOp op) {
    const HTensor &x = values[op.getInput()];
    int64_t axis = op.getAxis();
    int extent = int(staticDim(op.getInput(), axis));
    bool isMax = op.getKind() == "max";
    std::vector<Var> vars = makeVars(x.rank(), "e");
    std::vector<Expr> index(vars.begin(), vars.end());
    Func acc(name(op, isMax ? "max" : "sum"));
    if (extent <= 32 && axis != x.rank() - 1) {
      // A short reduction across rows (channels of a feature map) is one expression: each vector along
      // the row adds up its rows' vectors, with no accumulator in memory.
      Expr total;
      for (int i = 0; i < extent; ++i) {
        index[x.rank() - 1 - axis] = i;
        Expr value = x.func(index);
        total = !total.defined() ? value : isMax ? Halide::max(total, value) : total + value;
      }
      acc(vars) = total;
    } else {
      RDom r(0, extent, "ra");
      index[x.rank() - 1 - axis] = r;
      out.reductions.push_back(acc);
      acc(vars) = isMax ? Expr(-3.0e38f) : Expr(0.0f);
      acc(vars) = isMax ? Halide::max(acc(vars), x.func(index)) : acc(vars) + x.func(index);
    }
    Func f(name(op, isMax ? "reduce_max" : "reduce_mean"));
    f(vars) = isMax ? acc(vars) : acc(vars) / float(extent);
    std::vector<Expr> shape = x.shape;
    shape[axis] = Expr(1);
    return HTensor{f, shape};
  }

  /// An RDom over every element of `t` but its last `skipLast` dimensions (Halide order: innermost
  /// first), and its points as index expressions.
  static std::pair<RDom, std::vector<Expr>> everyElement(const HTensor &t, const std::string &name,
                                                         size_t skipLast = 0) {
    std::vector<Halide::Range> ranges;
    for (size_t d = t.rank() - skipLast; d-- > 0;)
      ranges.emplace_back(0, t.extent(d));
    RDom r(ranges, name);
    std::vector<Expr> at;
    for (int i = 0; i < r.dimensions(); ++i)
      at.push_back(r[i]);
    return {r, at};
  }

  /// Whether a position with target id `target` counts in a cross-entropy that ignores `ignore`.
  static Expr isCounted(Expr target, std::optional<int64_t> ignore) {
    return ignore ? target != int(*ignore) : Halide::Internal::const_true();
  }

  /// The number of target positions whose id is not `ignore`, as a scalar Func. The indicator is a Func of
  /// the position, so the reduction keeps its loop even when every position counts.
  Func countedPositions(Operation *op, const HTensor &targets, std::optional<int64_t> ignore) {
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
  FailureOr<HTensor> lowerCrossEntropy(CrossEntropyOp op) {
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

  /// The number of elements of `t` (at least 1), as a float.
  static Expr elementCount(const HTensor &t) {
    Expr count = 1;
    for (const Expr &e : t.shape)
      count = count * e;
    return Halide::cast<float>(Halide::max(count, 1));
  }

  /// mean((a − b)²) over every element.
  FailureOr<HTensor> lowerMse(MseOp op) {
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

  //===------------------------------------------------------------------===//
  // Gradient primitives
  //===------------------------------------------------------------------===//

  /// dw[n, k] = Σ_rows dy[row, n] · x[row, k].
  FailureOr<HTensor> lowerDenseGradWeight(DenseGradWeightOp op) {
    const HTensor &dy = values[op.getGrad()], &x = values[op.getInput()];
    auto [r, at] = everyElement(dy, "rr", 1);
    Var k("k"), n("n");
    Func dw = product(op, "dw", {k, n}, 0.0f, dy.func(prependExpr(n, at)) * x.func(prependExpr(k, at)));
    return HTensor{dw, {dy.extent(dy.rank() - 1), x.extent(x.rank() - 1)}};
  }

  /// db[n] = Σ_rows dy[row, n].
  FailureOr<HTensor> lowerSumLeading(SumLeadingOp op) {
    const HTensor &dy = values[op.getInput()];
    auto [r, at] = everyElement(dy, "rr", 1);
    Var n("n");
    Func db = reduction(op, "db");
    db(n) = 0.0f;
    db(n) += dy.func(prependExpr(n, at));
    return HTensor{db, {dy.extent(dy.rank() - 1)}};
  }

  FailureOr<HTensor> lowerActivationGrad(ActivationGradOp op) {
    const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
    std::vector<Var> vars = makeVars(x.rank(), "e");
    Expr v = x.func(vars), g = dy.func(vars), slope;
    StringRef kind = op.getKind();
    if (kind == "relu") {
      slope = Halide::select(v > 0.0f, 1.0f, 0.0f);
    } else if (kind == "tanh") {
      Expr t = tanhOf(v);
      slope = 1.0f - t * t;
    } else if (kind == "sigmoid") {
      Expr s = 1.0f / (1.0f + Halide::exp(-v));
      slope = s * (1.0f - s);
    } else { // gelu: Φ(x) + x·φ(x)
      slope = 0.5f * (1.0f + Halide::erf(v * float(M_SQRT1_2))) + v * Halide::exp(-0.5f * v * v) * float(0.5 * M_2_SQRTPI * M_SQRT1_2);
    }
    Func f(name(op, "activation_grad"));
    f(vars) = g * slope;
    out.elementwise.push_back(f);
    return HTensor{f, x.shape};
  }

  /// The row statistics of a softmax over the last dimension of `x`: its maximum and the sum of
  /// exponentials, as Funcs over the rows.
  std::pair<Func, Func> softmaxStatistics(Operation *op, const HTensor &x, const std::vector<Var> &rows, int width) {
    RDom rv(0, width, "rv");
    Func max = reduction(op, "max"), sum = reduction(op, "sum_exp");
    max(rows) = -3.0e38f;
    max(rows) = Halide::max(max(rows), x.func(prepend(rv, rows)));
    sum(rows) = 0.0f;
    sum(rows) += Halide::exp(x.func(prepend(rv, rows)) - max(rows));
    return {max, sum};
  }

  /// softmax: y·(dy − Σ dy·y); log-softmax: dy − y·Σ dy.
  FailureOr<HTensor> lowerSoftmaxGrad(SoftmaxGradOp op) {
    const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
    int width = int(staticDim(op.getInput(), x.rank() - 1));
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

  FailureOr<HTensor> lowerCrossEntropyGrad(CrossEntropyGradOp op) {
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
    f(prepend(v, rows)) = Halide::select(isCounted(target, op.getIgnoreIndex()), (p - wanted) / Halide::max(count(), 1.0f), 0.0f);
    return HTensor{f, logits.shape};
  }

  /// dtable[v, e] = Σ over positions with id v of dy[pos, e]: a scatter, parallel over the features.
  FailureOr<HTensor> lowerEmbeddingGrad(EmbeddingGradOp op) {
    const HTensor &ids = values[op.getTokens()], &dy = values[op.getGrad()];
    int vocab = int(cast<RankedTensorType>(op.getType()).getDimSize(0));
    auto [r, at] = everyElement(ids, "ri");
    Var e("e"), v("v");
    Func table(name(op, "dtable"));
    table(e, v) = 0.0f;
    table(e, Halide::clamp(ids.func(at), 0, vocab - 1)) += dy.func(prependExpr(e, at));
    out.recurrences.emplace_back(table, e);
    return HTensor{table, {Expr(vocab), dy.extent(dy.rank() - 1)}};
  }

  /// dx = (g − mean(g) − x̂·mean(g·x̂)) / σ with g = dy·w, over the last dimension.
  FailureOr<HTensor> lowerLayerNormGrad(LayerNormGradOp op) {
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

  /// p·(dp − Σ dp·p) over the last dimension.
  FailureOr<HTensor> lowerProbsGrad(ProbsGradOp op) {
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

  /// The gradients of Σ_u v[u]·tanh(q[b,i,u] + k[b,j,u]) (see AttnGradOps.td).
  FailureOr<HTensor> lowerAdditiveScoreGrad(AdditiveScoreGradOp op) {
    const HTensor &q = values[op.getQuery()], &k = values[op.getKeys()], &v = values[op.getV()];
    const HTensor &ds = values[op.getGrad()];
    Var u("u"), n("n"), b("b");
    StringRef wrt = op.getWrt();
    auto slope = [&](Expr i, Expr j, Expr batch) {
      Expr t = tanhOf(q.func(u, i, batch) + k.func(u, j, batch));
      return std::pair{t, ds.func(j, i, 0, batch) * v.func(u, 0) * (1.0f - t * t)};
    };
    Func f = reduction(op, "d" + wrt.str());
    if (wrt == "v") {
      RDom r(0, k.extent(1), 0, q.extent(1), 0, q.extent(0), "rv");
      Expr t = tanhOf(q.func(u, r.y, r.z) + k.func(u, r.x, r.z));
      f(u, n) = 0.0f;
      f(u, n) += ds.func(r.x, r.y, 0, r.z) * t;
      return HTensor{f, v.shape};
    }
    bool query = wrt == "query";
    RDom r(0, query ? k.extent(1) : q.extent(1), "rs");
    f(u, n, b) = 0.0f;
    f(u, n, b) += query ? slope(n, r, b).second : slope(r, n, b).second;
    return HTensor{f, query ? q.shape : k.shape};
  }

  /// 2(a − b) / N.
  FailureOr<HTensor> lowerMseGrad(MseGradOp op) {
    const HTensor &a = values[op.getLhs()], &b = values[op.getRhs()];
    std::vector<Var> vars = makeVars(a.rank(), "e");
    Func f(name(op, "mse_grad"));
    f(vars) = 2.0f * (a.func(vars) - b.func(vars)) / elementCount(a);
    out.elementwise.push_back(f);
    return HTensor{f, a.shape};
  }

  /// Size-1 dimensions of the input repeat across the corresponding dimensions of `like`.
  FailureOr<HTensor> lowerBroadcast(BroadcastOp op) {
    const HTensor &x = values[op.getInput()];
    auto in = cast<RankedTensorType>(op.getInput().getType());
    std::vector<Var> vars = makeVars(x.rank(), "e");
    std::vector<Expr> index(vars.begin(), vars.end());
    for (int64_t d = 0; d < in.getRank(); ++d)
      if (in.getDimSize(d) == 1)
        index[x.rank() - 1 - d] = 0;
    Func f(name(op, "broadcast"));
    f(vars) = x.func(index);
    return HTensor{f, values[op.getLike()].shape};
  }

  /// score[b, h, i, j] = scale · Σ_d q[b, i, h·Dh + d] · k[b, j, h·Dh + d].
  FailureOr<HTensor> lowerScore(ScoreOp op) {
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
      s.keysT(s.j, d, s.h, s.b) = k.func(s.h * hs + d, s.j, s.b);
      s.dot(s.j, s.i, s.h, s.b) += q.func(s.h * hs + rd, s.i, s.b) * s.keysT(s.j, rd, s.h, s.b);
    }
    s.result(s.j, s.i, s.h, s.b) = s.dot(s.j, s.i, s.h, s.b) * op.getScale().convertToFloat();
    out.score.push_back(s);
    return HTensor{s.result, {q.extent(0), Expr(static_cast<int>(heads)), q.extent(1), k.extent(1)}};
  }

  /// score[b, 0, i, j] = Σ_u v[u] · tanh(q[b, i, u] + k[b, j, u]).
  FailureOr<HTensor> lowerAdditiveScore(AdditiveScoreOp op) {
    const HTensor &q = values[op.getQuery()];
    const HTensor &k = values[op.getKeys()];
    const HTensor &v = values[op.getV()];
    int units = int(staticDim(op.getV(), 1));
    ScoreStages s{Func(name(op, "dot")), Func(name(op, "score")), Func(), Var("j"), Var("i"), Var("h"), Var("b")};
    RDom ru(0, units, "ru");
    s.dot(s.j, s.i, s.h, s.b) = 0.0f;
    s.dot(s.j, s.i, s.h, s.b) += v.func(ru, 0) * tanhOf(q.func(ru, s.i, s.b) + k.func(ru, s.j, s.b));
    s.result(s.j, s.i, s.h, s.b) = s.dot(s.j, s.i, s.h, s.b);
    out.score.push_back(s);
    return HTensor{s.result, {q.extent(0), Expr(1), q.extent(1), k.extent(1)}};
  }

  /// out[..., e] = table[id, e]. Ids were range-checked by the runtime; the clamp only tells Halide the
  /// rows it may read.
  FailureOr<HTensor> lowerEmbedding(EmbeddingOp op) {
    const HTensor &ids = values[op.getTokens()];
    const HTensor &table = values[op.getTable()];
    int vocab = int(staticDim(op.getTable(), 0));
    Var e("e");
    std::vector<Var> rows = makeVars(ids.rank(), "r");
    Func f(name(op, "embedding"));
    f(prepend(e, rows)) = table.func(e, Halide::clamp(ids.func(rows), 0, vocab - 1));
    std::vector<Expr> shape = ids.shape;
    shape.push_back(table.extent(1));
    return HTensor{f, shape};
  }

  /// out[..., c] = a[..., c] for c < A, else b[..., c - A].
  FailureOr<HTensor> lowerConcat(ConcatOp op) {
    const HTensor &a = values[op.getLhs()];
    const HTensor &b = values[op.getRhs()];
    int split = int(staticDim(op.getLhs(), a.rank() - 1));
    int total = split + int(staticDim(op.getRhs(), b.rank() - 1));
    Var c("c");
    std::vector<Var> rows = makeVars(a.rank() - 1, "r");
    Func f(name(op, "concat"));
    f(prepend(c, rows)) = Halide::select(c < split, a.func(prepend(Halide::min(c, split - 1), rows)),
                                         b.func(prepend(Halide::max(c - split, 0), rows)));
    std::vector<Expr> shape = a.shape;
    shape.back() = Expr(total);
    out.elementwise.push_back(f);
    return HTensor{f, shape};
  }

  /// Inserting or removing a dimension of size 1 is a reindexing (Halide index = rank - 1 - axis).
  FailureOr<HTensor> lowerExpandDims(ExpandDimsOp op) {
    const HTensor &x = values[op.getInput()];
    size_t rank = x.rank() + 1, axis = op.getAxis();
    std::vector<Var> vars = makeVars(rank, "e");
    std::vector<Expr> index(vars.begin(), vars.end());
    index.erase(index.begin() + (rank - 1 - axis));
    Func f(name(op, "expand_dims"));
    f(vars) = x.func(index);
    std::vector<Expr> shape = x.shape;
    shape.insert(shape.begin() + axis, Expr(1));
    return HTensor{f, shape};
  }

  FailureOr<HTensor> lowerSqueeze(SqueezeOp op) {
    const HTensor &x = values[op.getInput()];
    size_t axis = op.getAxis();
    std::vector<Var> vars = makeVars(x.rank() - 1, "e");
    std::vector<Expr> index(vars.begin(), vars.end());
    index.insert(index.begin() + (x.rank() - 1 - axis), Expr(0));
    Func f(name(op, "squeeze"));
    f(vars) = x.func(index);
    std::vector<Expr> shape = x.shape;
    shape.erase(shape.begin() + axis);
    return HTensor{f, shape};
  }

  /// The result's extents, outermost first, from the op's dimension sources.
  std::vector<Expr> resultShape(Operation *op) {
    std::vector<Expr> shape;
    for (DimSource d : cast<ShapedOpInterface>(op).getResultDimSources())
      shape.push_back(d.isConstant() ? Expr(int(d.size)) : values[op->getOperand(d.operand)].extent(d.dim));
    return shape;
  }

  /// Row-major reinterpretation. Leading dimensions that the reshape keeps are indexed directly; the rest
  /// go through their linear index, which the simplifier folds when their extents are static.
  FailureOr<HTensor> lowerReshape(ReshapeOp op) {
    const HTensor &x = values[op.getInput()];
    std::vector<Expr> shape = resultShape(op);
    SmallVector<DimSource> sources = cast<ShapedOpInterface>(op.getOperation()).getResultDimSources();
    size_t rank = shape.size(), kept = 0;
    while (kept < rank && kept < x.rank() && !sources[kept].isConstant() && sources[kept].dim == kept)
      ++kept;
    std::vector<Var> vars = makeVars(rank, "e"); // Halide order: vars[0] is tensor dimension rank - 1
    auto var = [&](size_t dim) { return vars[rank - 1 - dim]; };
    std::vector<Expr> index(x.rank()); // Halide order
    for (size_t d = 0; d < kept; ++d)
      index[x.rank() - 1 - d] = var(d);
    Expr linear = 0;
    for (size_t d = kept; d < rank; ++d)
      linear = linear * shape[d] + var(d);
    for (size_t d = x.rank(); d-- > kept;) {
      index[x.rank() - 1 - d] = d == kept ? linear : linear % x.extent(d);
      linear = linear / x.extent(d);
    }
    Func f(name(op, "reshape"));
    f(vars) = x.func(index);
    return HTensor{f, shape};
  }

  /// y[i0, …] = x[j…] with j[permutation[k]] = ik.
  FailureOr<HTensor> lowerTranspose(TransposeOp op) {
    const HTensor &x = values[op.getInput()];
    ArrayRef<int64_t> perm = op.getPermutation();
    size_t rank = perm.size();
    std::vector<Var> vars = makeVars(rank, "e");
    std::vector<Expr> index(rank);
    for (size_t k = 0; k < rank; ++k)
      index[rank - 1 - perm[k]] = vars[rank - 1 - k];
    Func f(name(op, "transpose"));
    f(vars) = x.func(index);
    return HTensor{f, resultShape(op)};
  }

  FailureOr<HTensor> lowerSlice(SliceOp op) {
    const HTensor &x = values[op.getInput()];
    std::vector<Var> vars = makeVars(x.rank(), "e");
    std::vector<Expr> index(vars.begin(), vars.end());
    size_t at = x.rank() - 1 - op.getAxis();
    index[at] = index[at] + int(op.getStart());
    Func f(name(op, "slice"));
    f(vars) = x.func(index);
    return HTensor{f, resultShape(op)};
  }

  /// The gradients of a convolution (see attn.conv2d_grad). The input's gradient gathers, for each input
  /// position, the output positions whose windows read it.
  FailureOr<HTensor> lowerConv2DGrad(Conv2DGradOp op) {
    const HTensor &x = values[op.getInput()], &w = values[op.getWeight()], &dy = values[op.getGrad()];
    auto wType = cast<RankedTensorType>(op.getWeight().getType());
    int cout = wType.getDimSize(0), cinGroup = wType.getDimSize(1), kh = wType.getDimSize(2), kw = wType.getDimSize(3);
    int coutGroup = cout / int(op.getGroups());
    int oh = int(staticDim(op.getGrad(), 2)), ow = int(staticDim(op.getGrad(), 3));
    auto stride = op.getStride(), pad = op.getPadding(), dil = op.getDilation();
    StringRef wrt = op.getWrt();
    if (wrt == "bias" || wrt == "weight") {
      RDom r(0, ow, 0, oh, 0, dy.extent(0), "ro");
      Var co("co"), kx("kx"), ky("ky"), cig("cig");
      if (wrt == "bias") {
        Func db = reduction(op, "db");
        db(co) = 0.0f;
        db(co) += dy.func(r.x, r.y, co, r.z);
        return HTensor{db, {Expr(cout)}};
      }
      Func in = padded(x, op.getInput(), 0.0f);
      Expr ix = r.x * int(stride[1]) + kx * int(dil[1]) - int(pad[1]);
      Expr iy = r.y * int(stride[0]) + ky * int(dil[0]) - int(pad[0]);
      Func dw = reduction(op, "dw");
      dw(kx, ky, cig, co) = 0.0f;
      dw(kx, ky, cig, co) += dy.func(r.x, r.y, co, r.z) * in(ix, iy, (co / coutGroup) * cinGroup + cig, r.z);
      return HTensor{dw, w.shape};
    }
    Var ix("ix"), iy("iy"), ci("ci"), b("b");
    RDom r(0, coutGroup, 0, kh, 0, kw, "rk");
    Expr co = (ci / cinGroup) * coutGroup + r.x;
    Expr ny = iy + int(pad[0]) - r.y * int(dil[0]), nx = ix + int(pad[1]) - r.z * int(dil[1]);
    Expr oy = ny / int(stride[0]), ox = nx / int(stride[1]);
    Expr valid = ny >= 0 && nx >= 0 && ny % int(stride[0]) == 0 && nx % int(stride[1]) == 0 && oy < oh && ox < ow;
    Func dx = reduction(op, "dx");
    dx(ix, iy, ci, b) = 0.0f;
    dx(ix, iy, ci, b) += Halide::select(valid,
                                        dy.func(Halide::clamp(ox, 0, ow - 1), Halide::clamp(oy, 0, oh - 1), co, b) *
                                            w.func(r.z, r.y, ci % cinGroup, co),
                                        0.0f);
    return HTensor{dx, x.shape};
  }

  /// The input gradient of pooling: each input position gathers the windows that read it ("max": the
  /// window's first largest element takes it; "amax": its largest elements share it; "avg": all do).
  FailureOr<HTensor> lowerPoolGrad(PoolGradOp op) {
    const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
    StringRef kind = op.getKind();
    auto kernel = op.getKernel(), stride = op.getStride(), pad = op.getPadding();
    int k0 = int(kernel[0]), k1 = int(kernel[1]);
    int oh = int(staticDim(op.getGrad(), 2)), ow = int(staticDim(op.getGrad(), 3));
    Func in = padded(x, op.getInput(), -3.0e38f);
    Var wx("wx"), wy("wy"), c("c"), b("b");
    RDom window(0, k0, 0, k1, "rw");
    Expr sample = in(wx * int(stride[1]) + window.y - int(pad[1]), wy * int(stride[0]) + window.x - int(pad[0]), c, b);
    Func max = reduction(op, "max"), first = reduction(op, "first"), ties = reduction(op, "ties");
    if (kind != "avg") {
      max(wx, wy, c, b) = -3.0e38f;
      max(wx, wy, c, b) = Halide::max(max(wx, wy, c, b), sample);
      first(wx, wy, c, b) = k0 * k1;
      first(wx, wy, c, b) = Halide::min(first(wx, wy, c, b),
                                        Halide::select(sample == max(wx, wy, c, b), window.x * k1 + window.y, k0 * k1));
      ties(wx, wy, c, b) = 0.0f;
      ties(wx, wy, c, b) += Halide::select(sample == max(wx, wy, c, b), 1.0f, 0.0f);
    }
    Var ix("ix"), iy("iy");
    RDom r(0, k0, 0, k1, "rk");
    Expr ny = iy + int(pad[0]) - r.x, nx = ix + int(pad[1]) - r.y;
    Expr oy = Halide::clamp(ny / int(stride[0]), 0, oh - 1), ox = Halide::clamp(nx / int(stride[1]), 0, ow - 1);
    Expr valid = ny >= 0 && nx >= 0 && ny % int(stride[0]) == 0 && nx % int(stride[1]) == 0 &&
                 ny / int(stride[0]) < oh && nx / int(stride[1]) < ow;
    Expr g = dy.func(ox, oy, c, b);
    Expr share = kind == "avg"   ? g / float(k0 * k1)
                 : kind == "max" ? Halide::select(first(ox, oy, c, b) == r.x * k1 + r.y, g, 0.0f)
                                 : Halide::select(x.func(ix, iy, c, b) == max(ox, oy, c, b), g / ties(ox, oy, c, b), 0.0f);
    Func dx = reduction(op, "dx");
    dx(ix, iy, c, b) = 0.0f;
    dx(ix, iy, c, b) += Halide::select(valid, share, 0.0f);
    return HTensor{dx, x.shape};
  }

  /// The input gradient of a mean or maximum along an axis (the maximum's largest elements share it, as
  /// torch.amax).
  FailureOr<HTensor> lowerReduceGrad(ReduceGradOp op) {
    const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
    int64_t axis = op.getAxis();
    int extent = int(staticDim(op.getInput(), axis));
    size_t at = x.rank() - 1 - axis;
    std::vector<Var> vars = makeVars(x.rank(), "e");
    std::vector<Expr> reduced(vars.begin(), vars.end());
    reduced[at] = 0;
    Func dx(name(op, "reduce_grad"));
    if (op.getKind() == "mean") {
      dx(vars) = dy.func(reduced) / float(extent);
      return HTensor{dx, x.shape};
    }
    std::vector<Expr> along(vars.begin(), vars.end());
    RDom r(0, extent, "ra");
    along[at] = r;
    Func max = reduction(op, "max"), ties = reduction(op, "ties");
    max(vars) = -3.0e38f;
    max(vars) = Halide::max(max(vars), x.func(along));
    ties(vars) = 0.0f;
    ties(vars) += Halide::select(x.func(along) == max(vars), 1.0f, 0.0f);
    dx(vars) = Halide::select(x.func(vars) == max(reduced), dy.func(reduced) / ties(reduced), 0.0f);
    return HTensor{dx, x.shape};
  }

  /// dy summed over the dimensions the broadcast repeated.
  FailureOr<HTensor> lowerBroadcastGrad(BroadcastGradOp op) {
    const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
    auto in = cast<RankedTensorType>(op.getInput().getType());
    auto grad = cast<RankedTensorType>(op.getGrad().getType());
    std::vector<Var> vars = makeVars(x.rank(), "e");
    std::vector<Halide::Range> ranges;
    std::vector<size_t> summed; // Halide dimensions
    for (int64_t d = in.getRank() - 1; d >= 0; --d)
      if (in.getDimSize(d) == 1 && grad.getDimSize(d) != 1) {
        ranges.emplace_back(0, dy.extent(d));
        summed.push_back(size_t(in.getRank() - 1 - d));
      }
    if (summed.empty()) {
      Func f(name(op, "broadcast_grad"));
      f(vars) = dy.func(vars);
      return HTensor{f, x.shape};
    }
    RDom r(ranges, "rb");
    std::vector<Expr> index(vars.begin(), vars.end());
    for (size_t i = 0; i < summed.size(); ++i)
      index[summed[i]] = r[int(i)];
    Func sum = reduction(op, "broadcast_grad");
    sum(vars) = 0.0f;
    sum(vars) += dy.func(index);
    return HTensor{sum, x.shape};
  }

  FailureOr<HTensor> lowerSliceGrad(SliceGradOp op) {
    const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
    std::vector<Var> vars = makeVars(x.rank(), "e");
    size_t at = x.rank() - 1 - op.getAxis();
    int start = int(op.getStart()), size = int(staticDim(op.getGrad(), op.getAxis()));
    std::vector<Expr> index(vars.begin(), vars.end());
    index[at] = Halide::clamp(Expr(vars[at]) - start, 0, size - 1);
    Func f(name(op, "slice_grad"));
    f(vars) = Halide::select(vars[at] >= start && vars[at] < start + size, dy.func(index), 0.0f);
    return HTensor{f, x.shape};
  }

  /// The mean and biased variance of each channel of x [B, C, ...] over the batch and the positions, as
  /// Funcs of c, and the number of values each covers.
  std::tuple<Func, Func, Expr> batchStatistics(Operation *op, const HTensor &x) {
    Expr count = Halide::cast<float>(x.extent(0));
    for (size_t d = 2; d < x.rank(); ++d)
      count = count * Halide::cast<float>(x.extent(d));
    size_t ci = x.rank() - 2;
    Var c("c");
    Func sum = channelSum(op, x, "sum", [&](std::vector<Expr> i) { return x.func(i); });
    Func mean(name(op, "mean"));
    mean(c) = sum(c) / count;
    Func squares = channelSum(op, x, "squares", [&](std::vector<Expr> i) {
      Expr centered = x.func(i) - mean(i[ci]);
      return centered * centered;
    });
    Func variance(name(op, "variance"));
    variance(c) = squares(c) / count;
    return {mean, variance, count};
  }

  /// Per-channel sums over the batch and positions of f(index), for x's layout.
  Func channelSum(Operation *op, const HTensor &x, StringRef stage, const std::function<Expr(std::vector<Expr>)> &f) {
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

  FailureOr<HTensor> lowerBatchNormTrain(BatchNormTrainOp op) {
    const HTensor &x = values[op.getInput()];
    auto [mean, variance, count] = batchStatistics(op, x);
    StringRef statistic = op.getStatistic();
    float m = op.getMomentum().convertToFloat();
    Var c("c");
    if (statistic != "output") {
      Func f(name(op, "running"));
      Expr batch = statistic == "mean" ? mean(c) : variance(c) * count / Halide::max(count - 1.0f, 1.0f);
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

  FailureOr<HTensor> lowerBatchNormGrad(BatchNormGradOp op) {
    const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
    auto [mean, variance, count] = batchStatistics(op, x);
    float eps = op.getEpsilon().convertToFloat();
    auto normalized = [&](const std::vector<Expr> &index, Expr c) {
      return (x.func(index) - mean(c)) / Halide::sqrt(variance(c) + eps);
    };
    size_t ci = x.rank() - 2;
    Func sumDy = channelSum(op, x, "sum_dy", [&](std::vector<Expr> i) { return dy.func(i); });
    StringRef wrt = op.getWrt();
    if (wrt == "bias")
      return HTensor{sumDy, {x.extent(1)}};
    Func sumDyX = channelSum(op, x, "sum_dy_x", [&](std::vector<Expr> i) { return dy.func(i) * normalized(i, i[ci]); });
    if (wrt == "weight")
      return HTensor{sumDyX, {x.extent(1)}};
    std::vector<Var> vars = makeVars(x.rank(), "e");
    std::vector<Expr> index(vars.begin(), vars.end());
    Var c = vars[ci];
    Func dx(name(op, "batch_norm_grad"));
    dx(vars) = values[op.getWeight()].func(c) / Halide::sqrt(variance(c) + eps) *
               (dy.func(vars) - sumDy(c) / count - normalized(index, c) * sumDyX(c) / count);
    return HTensor{dx, x.shape};
  }

  /// A score below any finite one, for excluded keys, with no infinities to propagate.
  static constexpr float kExcludedScore = -3.0e38f;

  /// Whether query i of batch row b may attend to key j under `op`'s causality and padding mask.
  Expr keepsKey(MaskedSoftmaxOp op, Expr j, Expr i, Expr b) {
    Expr ok = Halide::Internal::const_true();
    if (op.getCausal())
      ok = ok && j <= i;
    if (Value mask = op.getMask())
      ok = ok && (cast<RankedTensorType>(mask.getType()).getRank() == 1 ? j < values[mask].func(b)
                                                                        : values[mask].func(j, b) != 0);
    return ok;
  }

  /// Softmax over keys j, skipping keys that the padding mask or causality exclude; rows with no key
  /// left are zero rather than NaN.
  FailureOr<HTensor> lowerMaskedSoftmax(MaskedSoftmaxOp op) {
    const HTensor &scores = values[op.getScores()];
    MaskedSoftmaxStages s;
    s.j = Var("j"), s.i = Var("i"), s.h = Var("h"), s.b = Var("b");
    s.escapes = !op->hasOneUse();
    auto keep = [&](Expr j, Expr i, Expr b) { return keepsKey(op, j, i, b); };
    const float excluded = kExcludedScore;
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

  /// Keys a streaming block holds, queries a tile holds, and the vector lanes the block maxima and sums
  /// are first reduced to (a multiple of every target's float vector width).
  static constexpr int kKeyBlock = 256, kQueryTile = 16, kLanes = 16;

  /// Whether `op` is the end of a dot-product attention chain that nothing else reads into: then it is
  /// lowered as one streaming computation.
  static std::pair<ScoreOp, MaskedSoftmaxOp> streamingChain(WeightedSumOp op) {
    auto softmax = op.getWeights().getDefiningOp<MaskedSoftmaxOp>();
    if (!softmax || !softmax->hasOneUse())
      return {};
    auto score = softmax.getScores().getDefiningOp<ScoreOp>();
    if (!score || !score->hasOneUse())
      return {};
    return {score, softmax};
  }

  /// The streaming form of softmax(q·kᵀ·scale, masked)·v (see StreamingAttentionStages). Out-of-range keys
  /// of the last block and queries of the last tile read clamped rows and are masked or never written.
  FailureOr<HTensor> lowerStreamingAttention(WeightedSumOp op, ScoreOp score, MaskedSoftmaxOp softmax) {
    const HTensor &q = values[score.getQuery()];
    const HTensor &k = values[score.getKeys()];
    const HTensor &v = values[op.getValues()];
    int heads = static_cast<int>(score.getNumHeads());
    int dk = static_cast<int>(staticDim(score.getQuery(), 2)) / heads;
    int dv = static_cast<int>(staticDim(op.getValues(), 2)) / heads;
    float scale = score.getScale().convertToFloat();
    StreamingAttentionStages s;
    s.keyBlock = kKeyBlock, s.queryTile = kQueryTile, s.valueHeadSize = dv;
    for (auto [f, n] : {std::pair{&s.keysT, "keys_t"}, {&s.dot, "dot"}, {&s.scores, "scores"},
                        {&s.laneMax, "lane_max"}, {&s.blockMax, "block_max"}, {&s.probs, "probs"},
                        {&s.laneSum, "lane_sum"}, {&s.blockSum, "block_sum"}, {&s.pvAcc, "pv_acc"},
                        {&s.pv, "pv"}, {&s.state, "state"}, {&s.result, "context"}})
      *f = Func(name(op, n));
    s.j = Var("j"), s.jj = Var("jj"), s.lane = Var("lane"), s.i = Var("i"), s.kb = Var("kb"), s.h = Var("h");
    s.b = Var("b"), s.d = Var("d"), s.ii = Var("ii"), s.it = Var("it"), s.c = Var("c");
    Var j = s.j, jj = s.jj, lane = s.lane, i = s.i, kb = s.kb, h = s.h, b = s.b, d = s.d;
    Expr keys = k.extent(1), queries = q.extent(1);
    Expr lastKey = keys - 1;
    const float excluded = kExcludedScore;

    s.keysT(j, d, h, b) = k.func(h * dk + d, Halide::clamp(j, 0, lastKey), b);
    RDom rd(0, dk, "rd");
    Expr key = kb * kKeyBlock + jj;
    s.dot(jj, i, kb, h, b) = 0.0f;
    s.dot(jj, i, kb, h, b) += q.func(h * dk + rd, Halide::min(i, queries - 1), b) * s.keysT(key, rd, h, b);
    s.scores(jj, i, kb, h, b) = s.dot(jj, i, kb, h, b);

    // Keys past the end (the last block's tail) are excluded; the mask is read at a clamped key there.
    auto keep = [&](Expr j, Expr i, Expr b) {
      return j < keys && keepsKey(softmax, Halide::min(j, lastKey), i, b);
    };
    RDom rl(0, kKeyBlock / kLanes, "rl"), rlane(0, kLanes, "rlane"), rj(0, kKeyBlock, "rj");
    Expr laneKey = rl * kLanes + lane;
    s.laneMax(lane, i, kb, h, b) = excluded;
    s.laneMax(lane, i, kb, h, b) =
        Halide::max(s.laneMax(lane, i, kb, h, b),
                    Halide::select(keep(kb * kKeyBlock + laneKey, i, b), s.scores(laneKey, i, kb, h, b), excluded));
    s.blockMax(i, kb, h, b) = excluded;
    s.blockMax(i, kb, h, b) = Halide::max(s.blockMax(i, kb, h, b), s.laneMax(rlane, i, kb, h, b));
    s.probs(jj, i, kb, h, b) =
        Halide::select(keep(key, i, b), Halide::exp((s.scores(jj, i, kb, h, b) - s.blockMax(i, kb, h, b)) * scale),
                       0.0f);
    s.laneSum(lane, i, kb, h, b) = 0.0f;
    s.laneSum(lane, i, kb, h, b) += s.probs(laneKey, i, kb, h, b);
    s.blockSum(i, kb, h, b) = 0.0f;
    s.blockSum(i, kb, h, b) += s.laneSum(rlane, i, kb, h, b);
    s.pvAcc(d, i, kb, h, b) = 0.0f;
    s.pvAcc(d, i, kb, h, b) +=
        s.probs(rj, i, kb, h, b) * v.func(h * dv + d, Halide::min(kb * kKeyBlock + rj, lastKey), b);
    s.pv(d, i, kb, h, b) = s.pvAcc(d, i, kb, h, b);

    // Fold the blocks in, in order; a causal tile stops after the block holding its last query.
    Var ii = s.ii, it = s.it;
    Expr tileQuery = it * kQueryTile + ii;
    RDom rb(0, (keys + kKeyBlock - 1) / kKeyBlock, "rb");
    if (softmax.getCausal())
      rb.where(rb * kKeyBlock <= it * kQueryTile + kQueryTile - 1);
    s.state(d, ii, it, h, b) = Halide::Tuple(0.0f, excluded, 0.0f);
    Expr acc = s.state(d, ii, it, h, b)[0], max = s.state(d, ii, it, h, b)[1], sum = s.state(d, ii, it, h, b)[2];
    Expr blockMax = s.blockMax(tileQuery, rb, h, b);
    Expr newMax = Halide::max(max, blockMax);
    Expr keepOld = Halide::exp((max - newMax) * scale), keepBlock = Halide::exp((blockMax - newMax) * scale);
    s.state(d, ii, it, h, b) = Halide::Tuple(acc * keepOld + s.pv(d, tileQuery, rb, h, b) * keepBlock, newMax,
                                             sum * keepOld + s.blockSum(tileQuery, rb, h, b) * keepBlock);

    // A row with no key left is zero rather than NaN.
    Var c = s.c;
    Expr hc = c / dv, dc = c % dv, tile = i / kQueryTile, inTile = i % kQueryTile;
    Expr total = s.state(dc, inTile, tile, hc, b)[2];
    s.result(c, i, b) = Halide::select(total > 0.0f, s.state(dc, inTile, tile, hc, b)[0] / total, 0.0f);
    out.streaming.push_back(s);
    return HTensor{s.result, {q.extent(0), q.extent(1), v.extent(2)}};
  }

  /// out[b, i, h·Dvh + d] = Σ_j p[b, h, i, j] · v[b, j, h·Dvh + d].
  FailureOr<HTensor> lowerWeightedSum(WeightedSumOp op) {
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
