// Dense layers and elementwise maps: y = x·Wᵀ + b as a matrix product, the activations and the
// elementwise arithmetic, and their gradients (the weight's as a matrix product over the rows, the bias's
// as a sum over them, an activation's as its slope times dy).
#include "AlgorithmBuilder.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

/// The static extent of the last dimension of `type`, 0 if it is dynamic.
static int64_t staticWidth(Type type) {
  auto ranked = cast<RankedTensorType>(type);
  return ranked.isDynamicDim(ranked.getRank() - 1) ? 0 : ranked.getDimSize(ranked.getRank() - 1);
}

/// The dimension of a product's result of type `type` that its register tiles span rows of
/// (MatmulStages::tiledRow): in Halide's order, the innermost but one not of static extent 1, else 1.
static int tiledRow(Type type) {
  auto ranked = cast<RankedTensorType>(type);
  for (int64_t i = 1; i < ranked.getRank(); ++i)
    if (ranked.getDimSize(ranked.getRank() - 1 - i) != 1)
      return int(i);
  return 1;
}

MatmulStages DenseStages::product(Func result) const { return {acc, result, width, 0, {}, tiledRow}; }

size_t MatmulStages::tiled(const std::vector<Var> &args) const {
  return std::min<size_t>(tiledRow, args.size() - 1);
}

std::vector<Var> MatmulStages::untiledRows(const std::vector<Var> &args) const {
  std::vector<Var> rows;
  for (size_t i = 1; i < args.size(); ++i)
    if (i != tiled(args))
      rows.push_back(args[i]);
  return rows;
}

/// y[..., n] = Σ_k x[..., k] · W[n, k] + b[n].
FailureOr<HTensor> AlgorithmBuilder::lowerDense(DenseOp op) {
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
  s.width = staticWidth(op.getType());
  s.tiledRow = tiledRow(op.getType());
  if (!s.rows.empty())
    out.matmuls.push_back(s.product(s.result));

  HTensor y{s.result, x.shape};
  y.shape.back() = w.extent(op.getTransposedWeight() ? 1 : 0); // a transposed weight is [in, out]
  out.dense.push_back(s);
  return y;
}

/// dw[n, k] = Σ_rows dy[row, n] · x[row, k].
FailureOr<HTensor> AlgorithmBuilder::lowerDenseGradWeight(DenseGradWeightOp op) {
  const HTensor &dy = values[op.getGrad()], &x = values[op.getInput()];
  auto [r, at] = everyElement(dy, "rr", 1);
  Var k("k"), n("n");
  Func dw = product(op, "dw", {k, n}, 0.0f, dy.func(prependExpr(n, at)) * x.func(prependExpr(k, at)));
  out.matmuls.back().width = staticWidth(op.getType());
  out.matmuls.back().height = staticWidth(op.getGrad().getType());
  return HTensor{dw, {dy.extent(dy.rank() - 1), x.extent(x.rank() - 1)}};
}

/// db[n] = Σ_rows dy[row, n].
FailureOr<HTensor> AlgorithmBuilder::lowerSumLeading(SumLeadingOp op) {
  const HTensor &dy = values[op.getInput()];
  auto [r, at] = everyElement(dy, "rr", 1);
  Var n("n");
  Func db = reduction(op, "db");
  db(n) = 0.0f;
  db(n) += dy.func(prependExpr(n, at));
  return HTensor{db, {dy.extent(dy.rank() - 1)}};
}

FailureOr<HTensor> AlgorithmBuilder::lowerUnary(Operation *op, Value input,
                                                llvm::function_ref<Expr(Expr)> fn) {
  const HTensor &x = values[input];
  std::vector<Var> vars = makeVars(x.rank(), "e");
  Func f(name(op, "map"));
  f(vars) = fn(x.func(vars));
  out.elementwise.push_back(f);
  return HTensor{f, x.shape};
}

/// Where a broadcasting op reads `v` for the result element at `vars` (Halide order, of a result of type
/// `result`): `inner` for `v`'s last `inner.size()` dimensions, then the result's index aligned at the last
/// dimension, 0 along a size-1 dimension of `v` where the result's is not 1 (NumPy's broadcasting).
static std::vector<Expr> broadcastIndex(Value v, RankedTensorType result, const std::vector<Var> &vars,
                                        std::vector<Expr> inner = {}) {
  auto type = cast<RankedTensorType>(v.getType());
  int64_t extra = result.getRank() - type.getRank();
  std::vector<Expr> index = std::move(inner); // Halide order: innermost first
  for (int64_t d = type.getRank() - 1 - int64_t(index.size()); d >= 0; --d) {
    bool repeats = type.getDimSize(d) == 1 && result.getDimSize(d + extra) != 1;
    index.push_back(repeats ? Expr(0) : Expr(vars[size_t(result.getRank() - 1 - (d + extra))]));
  }
  return index;
}

/// A broadcasting op (attn.add and its kin, attn.select): `fn` of its operands, each read at its
/// broadcastIndex.
FailureOr<HTensor> AlgorithmBuilder::lowerBroadcasting(Operation *op, StringRef stage,
                                                       llvm::function_ref<Expr(ArrayRef<Expr>)> fn) {
  auto resultType = cast<RankedTensorType>(op->getResult(0).getType());
  std::vector<Var> vars = makeVars(size_t(resultType.getRank()), "e");
  SmallVector<Expr> operands;
  for (Value v : op->getOperands())
    operands.push_back(values[v].func(broadcastIndex(v, resultType, vars)));
  Func f(name(op, stage));
  f(vars) = fn(operands);
  out.elementwise.push_back(f);
  return HTensor{f, resultShape(op)};
}

FailureOr<HTensor> AlgorithmBuilder::lowerBinary(Operation *op, llvm::function_ref<Expr(Expr, Expr)> fn) {
  return lowerBroadcasting(op, "map", [&](ArrayRef<Expr> x) { return fn(x[0], x[1]); });
}

/// result[..., m, n] = Σ_k lhs[..., m, k]·rhs[..., k, n] (rhs[..., n, k] with transpose_b): a product that
/// the matrix-product schedules tile, n innermost. The batch dimensions broadcast as in attn.add.
FailureOr<HTensor> AlgorithmBuilder::lowerMatmul(MatmulOp op) {
  auto resultType = cast<RankedTensorType>(op.getType());
  std::vector<Var> vars = makeVars(size_t(resultType.getRank()), "e"); // Halide order: n, m, the batch
  Expr k = RDom(0, values[op.getLhs()].extent(values[op.getLhs()].rank() - 1), "rk");
  auto read = [&](Value v, Expr inner, Expr outer) {
    return values[v].func(broadcastIndex(v, resultType, vars, {inner, outer}));
  };
  Expr a = read(op.getLhs(), k, vars[1]);
  Expr b = op.getTransposeB() ? read(op.getRhs(), k, vars[0]) : read(op.getRhs(), vars[0], k);
  Func f = product(op, "matmul", vars, 0.0f, a * b);
  out.matmuls.back().width = staticWidth(resultType);
  out.matmuls.back().tiledRow = tiledRow(resultType);
  return HTensor{f, resultShape(op)};
}

FailureOr<HTensor> AlgorithmBuilder::lowerActivationGrad(ActivationGradOp op) {
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
    Expr s = sigmoidOf(v);
    slope = s * (1.0f - s);
  } else if (kind == "gelu") { // Φ(x) + x·φ(x)
    slope = 0.5f * (1.0f + Halide::erf(v * float(M_SQRT1_2))) +
            v * Halide::exp(-0.5f * v * v) * float(0.5 * M_2_SQRTPI * M_SQRT1_2);
  } else if (kind == "exp") {
    slope = Halide::exp(v);
  } else if (kind == "log") {
    slope = 1.0f / v;
  } else if (kind == "sqrt") {
    slope = 0.5f / Halide::sqrt(v);
  } else if (kind == "rsqrt") {
    slope = -0.5f / (v * Halide::sqrt(v));
  } else { // abs: the sign, 0 at 0
    slope = Halide::select(v > 0.0f, 1.0f, v < 0.0f, -1.0f, 0.0f);
  }
  Func f(name(op, "activation_grad"));
  f(vars) = g * slope;
  out.elementwise.push_back(f);
  return HTensor{f, x.shape};
}
