// Positions and key/value caches: `positions` and `sinusoid` (position encodings), the caches a decoder
// carries (`cache(B, L, D)`, `append`), and teacher forcing of such a decoder, which runs all its steps at
// once over [B, T, ...]: step t's key and value rows are row t of the keys and values of the whole target,
// so causal attention over them is what the cache gives step t.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

#include "llvm/ADT/StringSet.h"

namespace attn::gen {

/// cache(B, L, d1, ...): the initial value of a decoder's key/value cache, L rows of [d1, ...] per
/// sequence, all zero; step t writes row t (append) and attends over rows 0..t.
std::optional<Tensor> MLIRGenImpl::genCache(const CallExpr &call) {
  if (!carriedInit) {
    error(call.getLoc()) << "cache(B, L, D) is the initial value of a carried state of a decoder, as in "
                         << "'decoder step(y, t) carries (k = cache(B, 32, 64)) { ... }'";
    return std::nullopt;
  }
  std::optional<Tensor> t = genZeros(call);
  if (!t)
    return std::nullopt;
  if (t->shape.size() < 3) {
    error(call.getLoc()) << "cache takes the batch, the number of rows (the longest decoding) and the "
                         << "size of a row, as in cache(B, 32, 64); found " << str(t->shape);
    return std::nullopt;
  }
  t->isCache = true;
  return t;
}

/// Whether `t` is a cache with this step's row appended: the carried value itself is not (a search step
/// reads it as its block argument; all steps at once have no value for it).
bool MLIRGenImpl::isFilledCache(const Tensor &t) const {
  return t.isCache && t.value && !llvm::isa<mlir::BlockArgument>(t.value);
}

/// A cache operand: a name bound to a cache, as attention and append read it.
std::optional<Tensor> MLIRGenImpl::cacheOperand(const Expr &e, StringRef what) {
  allowCache = true;
  std::optional<Tensor> t = genTensor(e, false, what);
  allowCache = false;
  if (t && !t->isCache) {
    error(e.getLoc()) << "append extends a carried key/value cache (carries (k = cache(B, L, D))), found "
                      << (t->isI32 ? "i32" : "f32") << str(t->shape);
    return std::nullopt;
  }
  return t;
}

/// k = append(k, row): in a search step, the cache with row t (the step's position) set to `row` [B, ...];
/// when teacher forcing runs all steps at once, `row` is [B, T, ...], every step's row, and is the cache.
std::optional<Tensor> MLIRGenImpl::genAppend(const CallExpr &call, const BoundArgs &args) {
  std::optional<Tensor> cache = cacheOperand(*args.get("cache"), "'cache'");
  std::optional<Tensor> row = genTensor(*args.get("row"), false, "'row'");
  if (!cache || !row || !expectF32(*row, *args.get("row"), "append", "row"))
    return std::nullopt;
  if (isFilledCache(*cache)) {
    error(call.getLoc()) << "append: this step has appended its row to the cache already";
    return std::nullopt;
  }
  // The row's shape: the cache's without the row dimension (a search step), or with the steps (at once).
  SymShape expected = cache->shape;
  if (!parallelTeacher)
    expected.erase(expected.begin() + 1);
  if (row->shape != expected) {
    error(args.get("row")->getLoc()) << "append expects a row " << str(expected) << " for the cache "
                                     << str(cache->shape) << ", found " << str(row->shape);
    return std::nullopt;
  }
  if (parallelTeacher)
    return Tensor{row->value, row->shape, false, false, "", true};
  auto op = mlir::attn::CacheWriteOp::create(builder, opLoc(call), cache->value.getType(), cache->value,
                                             row->value, decoderPosition);
  return Tensor{op.getResult(), cache->shape, false, false, "", true};
}

/// positions(x): i32 [B, S], the position s of each element along dimension 1 of x [B, S, ...].
std::optional<Tensor> MLIRGenImpl::genPositions(const CallExpr &call, const BoundArgs &args) {
  std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
  if (!x)
    return std::nullopt;
  if (x->shape.size() < 2) {
    error(args.get("x")->getLoc()) << "positions expects a sequence [batch, length, ...], found "
                                   << str(x->shape);
    return std::nullopt;
  }
  SymShape shape{x->shape[0], x->shape[1]};
  auto type = mlir::RankedTensorType::get(irType(shape).getShape(), builder.getI32Type());
  auto op = mlir::attn::PositionsOp::create(builder, opLoc(call), type, x->value);
  return Tensor{op.getResult(), shape, true};
}

/// sinusoid(p, dim): f32 [..., dim], the sinusoidal encodings of i32 positions p [...].
std::optional<Tensor> MLIRGenImpl::genSinusoid(const CallExpr &call, const BoundArgs &args) {
  std::optional<Tensor> p = genTensor(*args.get("positions"), false, "'positions'");
  std::optional<int64_t> dim = intArg(args, "dim", 0, 2);
  if (!p || !dim)
    return std::nullopt;
  if (!p->isI32 || p->shape.empty()) {
    error(args.get("positions")->getLoc())
        << "sinusoid expects i32 positions (positions(x), or a decoder's "
        << "step position), found " << (p->isI32 ? "i32" : "f32") << str(p->shape);
    return std::nullopt;
  }
  if (*dim % 2 != 0) {
    error(args.get("dim")->getLoc()) << "sinusoid needs an even dim (sine and cosine pairs), found " << *dim;
    return std::nullopt;
  }
  SymShape shape = p->shape;
  shape.push_back(SymDim{*dim, ""});
  auto op = mlir::attn::SinusoidOp::create(builder, opLoc(call), irType(shape), p->value,
                                           builder.getI64IntegerAttr(*dim));
  return Tensor{op.getResult(), shape};
}

/// Inside a step run over all steps at once, every tensor of the step has the steps after its batch: a
/// layer that names dimensions by position (a reshape, a positive axis) would mean something else there.
bool MLIRGenImpl::checkParallelStep(const CallExpr &call, const LayerSpec &spec, const BoundArgs &args) {
  static const llvm::StringSet<> positional = {"reshape",
                                               "transpose",
                                               "expand_dims",
                                               "squeeze",
                                               "split",
                                               "slice",
                                               "flatten",
                                               "lstm",
                                               "gru",
                                               "lstm_cell",
                                               "gru_cell",
                                               "conv2d",
                                               "max_pool",
                                               "avg_pool",
                                               "global_pool",
                                               "batch_norm",
                                               "random_shift",
                                               "channel_attention",
                                               "spatial_attention",
                                               "self_attention_2d",
                                               "cross_entropy",
                                               "mse"};
  StringRef why = " (its teacher forcing runs every step at once, over [batch, steps, ...])";
  if (positional.contains(spec.name)) {
    error(call.getLoc()) << spec.name << " cannot be used in the step of a decoder that carries key/value "
                         << "caches" << why;
    return false;
  }
  const Expr *axis = args.get("axis");
  if (!axis)
    return true;
  std::vector<const Expr *> axes{axis};
  if (auto *list = llvm::dyn_cast<ListExpr>(axis)) {
    axes.clear();
    for (const ExprPtr &e : list->getElements())
      axes.push_back(e.get());
  }
  for (const Expr *a : axes)
    if (std::optional<Number> n = evalNumber(*a); n && n->value >= 0) {
      error(a->getLoc()) << spec.name << " in the step of a decoder that carries key/value caches counts "
                         << "axes from the end (axis = -1)" << why;
      return false;
    }
  return true;
}

/// teacher(step, tokens, start) for a decoder of caches: its statements generated once over [B, T, ...],
/// reading shift_right(tokens) (step t's token) and positions 0..T-1; each emitted value [B, T, ...] is a
/// result as it is.
std::optional<Tensor> MLIRGenImpl::genParallelTeacher(const CallExpr &call, const DecoderInfo &info,
                                                      const Tensor &teacher, int64_t start) {
  const DecoderStmt &dec = *info.stmt;
  unsigned errorsBefore = errors;
  SymDim batch = teacher.shape[0], steps = teacher.shape[1];
  mlir::Location at = opLoc(call);
  auto tokens = mlir::attn::ShiftRightOp::create(builder, at, teacher.value.getType(), teacher.value,
                                                 builder.getI64IntegerAttr(start));

  std::optional<NestedScope> scope;
  scope.emplace(
      *this, [&](StringRef name, StringRef) { return info.visible.count(name.str()) > 0; },
      dec.getName().name + ".");
  activeDecoder = parallelTeacher = true;
  decoderToken = tokens;
  decoderTeacher = teacher.value;
  if (declare(dec.getToken(), "the previous token of a decoder"))
    tensors[dec.getToken().name] = Tensor{tokens, teacher.shape, true, false, dec.getToken().name};
  if (dec.getPosition() && declare(*dec.getPosition(), "the position of a decoder step")) {
    auto positions = mlir::attn::PositionsOp::create(builder, at, teacher.value.getType(), teacher.value);
    tensors[dec.getPosition()->name] = Tensor{positions, teacher.shape, true, false, dec.getPosition()->name};
  }
  for (auto [state, init] : llvm::zip(dec.getCarries(), info.init)) {
    SymShape shape = init.shape;
    shape[1] = steps;
    if (declare(state.name, "a carried state"))
      tensors[state.name.name] = Tensor{mlir::Value(), shape, false, false, state.name.name, true};
    carriedPending.insert(state.name.name);
  }
  genStepStatements(dec);
  bool ok = errors == errorsBefore;
  for (const DecoderStmt::Carried &state : dec.getCarries()) {
    auto it = tensors.find(state.name.name);
    if (ok && (it == tensors.end() || !isFilledCache(it->second))) {
      error(state.name.loc) << "decoder '" << dec.getName().name << "' must assign its cache '"
                            << state.name.name << "' append(" << state.name.name << ", row)";
      ok = false;
    }
  }
  std::optional<std::vector<Tensor>> emitted = ok ? stepEmits(dec, batch, &steps) : std::nullopt;
  scope.reset();
  carriedPending.clear();
  activeDecoder = parallelTeacher = false;
  decoderToken = decoderTeacher = mlir::Value();
  if (!emitted)
    return std::nullopt;
  lastResults = *emitted;
  for (Tensor &t : lastResults)
    t.name.clear();
  return lastResults.front();
}

} // namespace attn::gen
