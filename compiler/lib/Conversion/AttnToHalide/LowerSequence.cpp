// Positions and key/value caches: the positions of a sequence and their sinusoidal encodings, teacher
// tokens shifted right by one, and the cache row a decoder step writes.
#include "AlgorithmBuilder.h"

#include <cmath>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

/// positions[b, s] = s.
FailureOr<HTensor> AlgorithmBuilder::lowerPositions(PositionsOp op) {
  const HTensor &x = values[op.getInput()];
  Var s("s"), b("b");
  Func f(name(op, "positions"));
  f(s, b) = Halide::cast<int32_t>(s);
  return HTensor{f, {x.extent(0), x.extent(1)}};
}

/// result[..., 2i] = sin(p·ω_i), result[..., 2i + 1] = cos(p·ω_i), ω_i = 10000^(−2i/dim), in f32 as
/// PyTorch's usual table: exp(2i · −ln(10000)/dim).
FailureOr<HTensor> AlgorithmBuilder::lowerSinusoid(SinusoidOp op) {
  const HTensor &p = values[op.getPositions()];
  int64_t dim = op.getDim();
  Var d("d");
  std::vector<Var> rows = makeVars(p.rank(), "r");
  Expr pair = Halide::cast<float>(d / 2 * 2);
  Expr omega = Halide::exp(pair * static_cast<float>(-std::log(10000.0) / double(dim)));
  Expr angle = Halide::cast<float>(p.func(rows)) * omega;
  Func f(name(op, "sinusoid"));
  f(prepend(d, rows)) = Halide::select(d % 2 == 0, Halide::sin(angle), Halide::cos(angle));
  std::vector<Expr> shape = p.shape;
  shape.push_back(static_cast<int>(dim));
  return HTensor{f, shape};
}

/// result[b, 0] = fill, result[b, t] = tokens[b, t − 1].
FailureOr<HTensor> AlgorithmBuilder::lowerShiftRight(ShiftRightOp op) {
  const HTensor &tokens = values[op.getTokens()];
  Var t("t"), b("b");
  Func f(name(op, "shift_right"));
  f(t, b) = Halide::select(t == 0, static_cast<int32_t>(op.getFill()), tokens.func(Halide::max(t - 1, 0), b));
  return HTensor{f, tokens.shape};
}

/// result[n, j, ...] = row[n, ...] at j = position[n], else cache[n, j, ...].
FailureOr<HTensor> AlgorithmBuilder::lowerCacheWrite(CacheWriteOp op) {
  const HTensor &cache = values[op.getCache()], &row = values[op.getRow()];
  const HTensor &position = values[op.getPosition()];
  std::vector<Var> vars = makeVars(cache.rank(), "e");
  Var n = vars.back(), j = vars[cache.rank() - 2];
  std::vector<Expr> rowIndex(vars.begin(), vars.end());
  rowIndex.erase(rowIndex.begin() + cache.rank() - 2);
  Func f(name(op, "cache_write"));
  f(vars) = Halide::select(j == position.func(n), row.func(rowIndex), cache.func(vars));
  return HTensor{f, cache.shape};
}
