// Reindexing: ops that only move elements (broadcast, concat, expand_dims, squeeze, reshape, transpose,
// slice, an embedding's table lookup) or make them (zeros), as Funcs that their readers inline, and the
// gradients of the ones training differentiates (broadcast, slice, embedding).
#include "AlgorithmBuilder.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

FailureOr<HTensor> AlgorithmBuilder::lowerZeros(ZerosOp op) {
  auto type = cast<RankedTensorType>(op.getType());
  std::vector<Var> vars = makeVars(type.getRank(), "e");
  Func f(name(op, "zeros"));
  f(vars) = 0.0f;
  std::vector<Expr> shape{values[op.getLike()].extent(op.getDim())};
  for (int64_t d = 1; d < type.getRank(); ++d)
    shape.push_back(Expr(int(type.getDimSize(d))));
  return HTensor{f, shape};
}

/// Size-1 dimensions of the input repeat across the corresponding dimensions of `like`.
FailureOr<HTensor> AlgorithmBuilder::lowerBroadcast(BroadcastOp op) {
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

/// dy summed over the dimensions the broadcast repeated: the leading ones the input lacks and the input's
/// size-1 ones.
FailureOr<HTensor> AlgorithmBuilder::lowerBroadcastGrad(BroadcastGradOp op) {
  const HTensor &x = values[op.getInput()], &dy = values[op.getGrad()];
  auto in = cast<RankedTensorType>(op.getInput().getType());
  auto grad = cast<RankedTensorType>(op.getGrad().getType());
  int64_t extra = grad.getRank() - in.getRank();
  std::vector<Var> vars = makeVars(x.rank(), "e");
  std::vector<Halide::Range> ranges;
  std::vector<size_t> summed;         // Halide dimensions of dy
  std::vector<Expr> index(dy.rank()); // Halide order; dy's dimension h is the input's h where it has one
  for (int64_t d = grad.getRank() - 1; d >= 0; --d) {
    size_t h = size_t(grad.getRank() - 1 - d);
    if (d < extra || (in.getDimSize(d - extra) == 1 && grad.getDimSize(d) != 1)) {
      ranges.emplace_back(0, dy.extent(size_t(d)));
      summed.push_back(h);
    } else {
      index[h] = vars[h];
    }
  }
  if (summed.empty()) {
    Func f(name(op, "broadcast_grad"));
    f(vars) = dy.func(index);
    return HTensor{f, x.shape};
  }
  RDom r(ranges, "rb");
  for (size_t i = 0; i < summed.size(); ++i)
    index[summed[i]] = r[int(i)];
  Func sum = reduction(op, "broadcast_grad");
  sum(vars) = 0.0f;
  sum(vars) += dy.func(index);
  if (summed == std::vector<size_t>{0})
    out.rowSums.push_back(sum);
  return HTensor{sum, x.shape};
}

/// out[..., c] = a[..., c] for c < A, else b[..., c - A].
FailureOr<HTensor> AlgorithmBuilder::lowerConcat(ConcatOp op) {
  const HTensor &a = values[op.getLhs()];
  const HTensor &b = values[op.getRhs()];
  int split = int(staticDim(op.getLhs(), a.rank() - 1));
  int total = split + int(staticDim(op.getRhs(), b.rank() - 1));
  Var c("c");
  std::vector<Var> rows = makeVars(a.rank() - 1, "r");
  Func f(name(op, "concat"));
  // The larger part is marked likely: Halide partitions a loop over c (a product's sum, a vector loop)
  // at the seam, so that each side reads its part alone, without a select between two clamped loads.
  Expr fromA = a.func(prepend(Halide::min(c, split - 1), rows));
  Expr fromB = b.func(prepend(Halide::max(c - split, 0), rows));
  if (2 * split >= total)
    fromA = Halide::likely(fromA);
  else
    fromB = Halide::likely(fromB);
  f(prepend(c, rows)) = Halide::select(c < split, fromA, fromB);
  std::vector<Expr> shape = a.shape;
  shape.back() = Expr(total);
  out.elementwise.push_back(f);
  return HTensor{f, shape};
}

/// Inserting or removing a dimension of size 1 is a reindexing (Halide index = rank - 1 - axis).
FailureOr<HTensor> AlgorithmBuilder::lowerExpandDims(ExpandDimsOp op) {
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

FailureOr<HTensor> AlgorithmBuilder::lowerSqueeze(SqueezeOp op) {
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
std::vector<Expr> AlgorithmBuilder::resultShape(Operation *op) {
  std::vector<Expr> shape;
  for (DimSource d : cast<ShapedOpInterface>(op).getResultDimSources())
    shape.push_back(d.isConstant() ? Expr(int(d.size)) : values[op->getOperand(d.operand)].extent(d.dim));
  return shape;
}

/// Row-major reinterpretation. Leading dimensions that the reshape keeps are indexed directly; the rest
/// go through their linear index, which the simplifier folds when their extents are static.
FailureOr<HTensor> AlgorithmBuilder::lowerReshape(ReshapeOp op) {
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
FailureOr<HTensor> AlgorithmBuilder::lowerTranspose(TransposeOp op) {
  const HTensor &x = values[op.getInput()];
  ArrayRef<int64_t> perm = op.getPermutation();
  size_t rank = perm.size();
  std::vector<Var> vars = makeVars(rank, "e");
  std::vector<Expr> index(rank);
  for (size_t k = 0; k < rank; ++k)
    index[rank - 1 - perm[k]] = vars[rank - 1 - k];
  Func f(name(op, "transpose"));
  f(vars) = x.func(index);
  // A kernel of matrix transposes only (a decoder's weights, transposed once before its loops) stores each
  // in blocks transposed in registers, as the weights inside a dense kernel are; elsewhere a transpose is
  // read in place by what consumes it.
  auto notTranspose = [](Operation &other) { return !isa<TransposeOp>(other); };
  if (rank == 2 && perm[0] == 1 && llvm::none_of(kernel.getBody().front().without_terminator(), notTranspose))
    out.transposes.push_back(f);
  return HTensor{f, resultShape(op)};
}

FailureOr<HTensor> AlgorithmBuilder::lowerSlice(SliceOp op) {
  const HTensor &x = values[op.getInput()];
  std::vector<Var> vars = makeVars(x.rank(), "e");
  std::vector<Expr> index(vars.begin(), vars.end());
  size_t at = x.rank() - 1 - op.getAxis();
  index[at] = index[at] + int(op.getStart());
  Func f(name(op, "slice"));
  f(vars) = x.func(index);
  return HTensor{f, resultShape(op)};
}

FailureOr<HTensor> AlgorithmBuilder::lowerSliceGrad(SliceGradOp op) {
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

/// out[..., e] = table[id, e]. Ids were range-checked by the runtime; the clamp only tells Halide the
/// rows it may read.
FailureOr<HTensor> AlgorithmBuilder::lowerEmbedding(EmbeddingOp op) {
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

/// dtable[v, e] = Σ over positions with id v of dy[pos, e]: a scatter, parallel over the features.
FailureOr<HTensor> AlgorithmBuilder::lowerEmbeddingGrad(EmbeddingGradOp op) {
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
