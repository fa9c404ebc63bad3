// Decoders: the `decoder` statement with its carried states, the decoding calls (greedy, beam_search,
// teacher) that each generate a copy of the step into an attn.decode, `zeros` for initial states, and the
// single-step recurrent cells (lstm_cell, gru_cell) that decoder steps are written with.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

namespace attn::gen {

/// `decoder NAME(y) carries (...) { ... }`: the initial states are computed here, in the model's scope
/// (their layers name parameters `NAME.<state>...`); the step is generated at each use.
void MLIRGenImpl::genDecoderStmt(const DecoderStmt &s) {
  if (!declare(s.getName(), "a decoder"))
    return;
  DecoderInfo info{&s, {}, true, {}};
  const DecoderStmt::Carried *plain = nullptr, *cache = nullptr;
  for (const DecoderStmt::Carried &state : s.getCarries()) {
    binding = s.getName().name + "." + state.name.name;
    nestedCounts.clear();
    carriedInit = true;
    std::optional<Tensor> t = genTensor(*state.init, /*topLevel=*/true,
                                        "the initial value of carried state '" + state.name.name + "'");
    carriedInit = false;
    if (t)
      (t->isCache ? cache : plain) = &state;
    if (!t) {
      info.ok = false;
      continue;
    }
    bool staticRest = t->shape.size() >= 2 && llvm::all_of(llvm::drop_begin(t->shape), [](const SymDim &d) {
                        return d.symbol.empty();
                      });
    if (t->isI32 || !staticRest ||
        (!info.init.empty() && !(t->shape.front() == info.init.front().shape.front()))) {
      error(state.init->getLoc()) << "carried state '" << state.name.name << "' must start as an f32 tensor "
                                  << "[batch, ...] with constant sizes after the batch"
                                  << (info.init.empty() ? ""
                                                        : ", and the batch of the first carried state, " +
                                                              info.init.front().shape.front().str())
                                  << "; found " << (t->isI32 ? "i32" : "f32") << str(t->shape);
      info.ok = false;
      continue;
    }
    info.init.push_back(*t);
  }
  // Teacher forcing runs a decoder of caches over all its steps at once, which other state would forbid.
  if (cache && plain) {
    error(plain->name.loc) << "decoder '" << s.getName().name << "' carries key/value caches ('"
                           << cache->name.name << "'), so every carried state must be one; '"
                           << plain->name.name << "' is not (teacher forcing runs a decoder of caches over "
                           << "all its steps at once)";
    info.ok = false;
  }
  info.caches = cache != nullptr;
  if (s.getPosition() && !cache && info.ok) {
    error(s.getPosition()->loc) << "decoder '" << s.getName().name << "' names its step's position '"
                                << s.getPosition()->name << "', which only a decoder that carries "
                                << "key/value caches has: carries (k = cache(B, L, D), ...)";
    info.ok = false;
  }
  for (const auto &entry : declared)
    info.visible.insert(entry.getKey().str());
  decoderInfos[s.getName().name] = std::move(info);
}

/// greedy(step, ...), beam_search(step, ...), teacher(step, tokens, ...): one attn.decode with its own
/// copy of the step. The step sees the model's tensors (read as loop invariants), its token and its
/// carried states; a carried state's assignment gives its next value.
std::optional<Tensor> MLIRGenImpl::genDecode(const CallExpr &call, StringRef mode) {
  StringRef usage = mode == "teacher" ? "teacher(decoder, tokens, start = 1)"
                    : mode == "greedy"
                        ? "greedy(decoder, start = 1, stop = 2, pad = 0, max_len = 50)"
                        : "beam_search(decoder, width = 4, start = 1, stop = 2, pad = 0, max_len = 50, "
                          "length_penalty = 1.0)";
  const std::vector<Argument> &args = call.getArgs();
  auto *ident =
      args.empty() || !args[0].name.empty() ? nullptr : llvm::dyn_cast<IdentExpr>(args[0].value.get());
  if (!ident) {
    error(call.getLoc()) << mode << " expects the name of a decoder first; usage: " << usage;
    return std::nullopt;
  }
  auto found = decoderInfos.find(ident->getName());
  if (found == decoderInfos.end()) {
    error(ident->getLoc()) << "'" << ident->getName() << "' is not a decoder"
                           << describeName(ident->getName()) << "; usage: " << usage;
    return std::nullopt;
  }
  if (activeDecoder) {
    error(call.getLoc()) << mode << " cannot run inside the step of a decoder";
    return std::nullopt;
  }
  const DecoderInfo &info = found->second;
  const DecoderStmt &dec = *info.stmt;

  // Arguments: the teacher's tokens, then keywords.
  llvm::StringMap<int64_t> ints{{"start", 1}, {"stop", 2}, {"pad", 0}, {"max_len", 50}, {"width", 1}};
  double lengthPenalty = 1.0;
  std::set<std::string> allowed = {"start"};
  if (mode != "teacher")
    allowed.insert({"stop", "pad", "max_len"});
  if (mode == "beam_search") {
    allowed.insert({"width", "length_penalty"});
    ints["width"] = 4;
  }
  std::optional<Tensor> teacher;
  bool ok = info.ok;
  size_t positional = 0;
  std::set<std::string> seen;
  for (const Argument &arg : llvm::drop_begin(args)) {
    if (arg.name.empty()) {
      if (mode != "teacher" || positional++ > 0) {
        error(arg.loc) << mode << " takes one positional argument" << (mode == "teacher" ? "s" : "")
                       << " (the decoder" << (mode == "teacher" ? " and the tokens" : "")
                       << "); usage: " << usage;
        ok = false;
        continue;
      }
      teacher = genTensor(*arg.value, false, "the teacher's tokens");
      if (teacher && (!teacher->isI32 || teacher->shape.size() != 2 ||
                      (!info.init.empty() && !(teacher->shape[0] == info.init.front().shape[0])))) {
        error(arg.loc) << "teacher expects i32 tokens [batch, steps]"
                       << (info.init.empty() ? "" : " with the batch " + info.init.front().shape[0].str())
                       << ", found " << (teacher->isI32 ? "i32" : "f32") << str(teacher->shape);
        teacher.reset();
      }
      ok &= teacher.has_value();
      continue;
    }
    if (!allowed.count(arg.name) || !seen.insert(arg.name).second) {
      std::string names;
      for (const std::string &a : allowed)
        names += (names.empty() ? "" : ", ") + a;
      if (allowed.count(arg.name))
        error(arg.loc) << "argument '" << arg.name << "' of " << mode << " is given twice";
      else
        error(arg.loc) << mode << " has no argument '" << arg.name << "'; its arguments are " << names;
      ok = false;
      continue;
    }
    if (arg.name == "length_penalty") {
      std::optional<Number> n = evalNumber(*arg.value);
      if (n && n->value >= 0)
        lengthPenalty = n->value;
      else {
        if (n)
          error(arg.value->getLoc()) << "expected a length_penalty >= 0, found " << str(n->value);
        ok = false;
      }
      continue;
    }
    std::optional<int64_t> v = evalInt(*arg.value, "'" + arg.name + "'");
    int64_t min = arg.name == "max_len" || arg.name == "width" ? 1 : 0;
    if (v && (*v < min || *v > kMaxSize)) {
      error(arg.value->getLoc()) << "expected " << arg.name << (*v < min ? " >= " : " <= ")
                                 << (*v < min ? min : kMaxSize) << ", found " << *v;
      v.reset();
    }
    ok &= v.has_value();
    if (v)
      ints[arg.name] = *v;
  }
  if (mode == "teacher" && positional == 0 && ok) {
    error(call.getLoc()) << "teacher expects the target tokens after the decoder; usage: " << usage;
    return std::nullopt;
  }
  if (!ok)
    return std::nullopt;
  if (teacher) // its rows end with the stop token: data read from text gets it appended
    boundInput(teacher->value, mlir::attn::AttnDialect::kTeacherStopAttr,
               builder.getI64IntegerAttr(ints["stop"]));
  if (info.caches && mode == "teacher")
    return genParallelTeacher(call, info, *teacher, ints["start"]);
  if (info.caches)
    for (auto [state, init] : llvm::zip(dec.getCarries(), info.init))
      if (ints["max_len"] > init.shape[1].size) {
        auto given = llvm::find_if(args, [](const Argument &a) { return a.name == "max_len"; });
        error(given != args.end() ? given->value->getLoc() : call.getLoc())
            << mode << " runs up to max_len = " << ints["max_len"] << " steps, but cache '" << state.name.name
            << "' of decoder '" << dec.getName().name << "' holds " << init.shape[1].size
            << "; give max_len <= " << init.shape[1].size << " or a longer cache";
        return std::nullopt;
      }

  // The step, generated into a block of its own; a decoder of caches also reads its position.
  unsigned errorsBefore = errors;
  SymDim batchDim = info.init.front().shape.front();
  auto *body = new mlir::Block();
  mlir::Location l = loc(call.getLoc());
  auto rowsI32 = mlir::RankedTensorType::get({mlir::ShapedType::kDynamic}, builder.getI32Type());
  mlir::Value token = body->addArgument(rowsI32, l);
  mlir::Value position = info.caches ? body->addArgument(rowsI32, l) : mlir::Value();
  std::vector<mlir::Value> stateArgs, initValues;
  for (const Tensor &t : info.init) {
    auto type = llvm::cast<mlir::RankedTensorType>(t.value.getType());
    llvm::SmallVector<int64_t> shape(type.getShape());
    shape[0] = mlir::ShapedType::kDynamic;
    stateArgs.push_back(body->addArgument(mlir::RankedTensorType::get(shape, builder.getF32Type()), l));
    initValues.push_back(t.value);
  }

  mlir::OpBuilder::InsertPoint savedPoint = builder.saveInsertionPoint();
  builder.setInsertionPointToStart(body);
  std::optional<NestedScope> scope;
  // The step sees what was declared before the decoder statement, as if it were written there.
  scope.emplace(*this, [&](StringRef name, StringRef) { return info.visible.count(name.str()) > 0; },
                dec.getName().name + ".");
  activeDecoder = true;
  decoderToken = token;
  decoderPosition = position;
  decoderTeacher = teacher ? teacher->value : mlir::Value();
  if (declare(dec.getToken(), "the previous token of a decoder"))
    tensors[dec.getToken().name] = Tensor{token, {batchDim}, true, false, dec.getToken().name};
  if (dec.getPosition() && declare(*dec.getPosition(), "the position of a decoder step"))
    tensors[dec.getPosition()->name] = Tensor{position, {batchDim}, true, false, dec.getPosition()->name};
  for (auto [state, arg, init] : llvm::zip(dec.getCarries(), stateArgs, info.init)) {
    if (declare(state.name, "a carried state"))
      tensors[state.name.name] = Tensor{arg, init.shape, false, false, state.name.name, init.isCache};
    carriedPending.insert(state.name.name);
  }
  genStepStatements(dec);
  std::vector<mlir::Value> next, emits;
  bool bodyOk = errors == errorsBefore;
  for (auto [state, init] : llvm::zip(dec.getCarries(), info.init)) {
    auto it = tensors.find(state.name.name);
    if (carriedPending.count(state.name.name) || it == tensors.end()) {
      bodyOk = false; // reported by genStepStatements, or its assignment failed and was reported
      continue;
    }
    if (!(it->second.shape == init.shape) || it->second.isI32 || it->second.isCache != init.isCache) {
      error(state.name.loc) << "decoder '" << dec.getName().name << "' assigns carried state '"
                            << state.name.name << "' a tensor of shape " << str(it->second.shape)
                            << ", but it starts as " << str(init.shape)
                            << (init.isCache ? " (a cache, extended by append(" + state.name.name + ", row))"
                                             : "");
      bodyOk = false;
      continue;
    }
    next.push_back(it->second.value);
  }
  std::optional<std::vector<Tensor>> stepped = stepEmits(dec, batchDim, nullptr);
  std::vector<Tensor> emitted = stepped ? *stepped : std::vector<Tensor>();
  bodyOk &= stepped.has_value();
  for (const Tensor &t : emitted)
    emits.push_back(t.value);
  if (bodyOk && mode != "teacher") {
    const Tensor &scores = emitted.front();
    if (scores.isI32 || scores.shape.size() != 2 || !scores.shape[1].symbol.empty()) {
      error(dec.getEmits().front().loc)
          << mode << " picks tokens from the first value decoder '" << dec.getName().name
          << "' emits, which must be f32 scores [" << batchDim.str() << ", vocabulary] with a constant "
          << "vocabulary; found " << (scores.isI32 ? "i32" : "f32") << str(scores.shape);
      bodyOk = false;
    }
  }
  if (bodyOk)
    mlir::attn::DecodeYieldOp::create(builder, loc(dec.getEmits().front().loc), next, emits);

  scope.reset();
  carriedPending.clear();
  activeDecoder = false;
  decoderToken = decoderTeacher = decoderPosition = mlir::Value();
  builder.restoreInsertionPoint(savedPoint);
  if (!bodyOk) {
    body->dropAllDefinedValueUses();
    body->dropAllReferences();
    delete body;
    return std::nullopt;
  }

  // Results: tokens [B, L] then the other emitted values stacked over the steps (search), or every
  // emitted value stacked over the teacher's steps.
  SymDim steps = teacher ? teacher->shape[1] : SymDim{-1, binding + ".length"};
  std::vector<Tensor> results;
  size_t firstStacked = 0;
  if (mode != "teacher") {
    results.push_back(Tensor{{}, {batchDim, steps}, true});
    firstStacked = 1;
  }
  for (size_t i = firstStacked; i < emitted.size(); ++i) {
    SymShape shape{batchDim, steps};
    shape.insert(shape.end(), emitted[i].shape.begin() + 1, emitted[i].shape.end());
    results.push_back(Tensor{{}, shape, emitted[i].isI32});
  }
  std::vector<mlir::Type> types;
  for (const Tensor &r : results) {
    mlir::RankedTensorType t = irType(r.shape);
    types.push_back(r.isI32 ? mlir::RankedTensorType::get(t.getShape(), builder.getI32Type()) : t);
  }
  auto op = mlir::attn::DecodeOp::create(
      builder, opLoc(call), types, initValues, teacher ? teacher->value : mlir::Value(), mlir::ValueRange(),
      builder.getStringAttr(mode == "beam_search" ? "beam" : mode), builder.getI64IntegerAttr(ints["start"]),
      builder.getI64IntegerAttr(ints["stop"]), builder.getI64IntegerAttr(ints["pad"]),
      builder.getI64IntegerAttr(ints["max_len"]), builder.getI64IntegerAttr(ints["width"]),
      builder.getF32FloatAttr(static_cast<float>(lengthPenalty)),
      info.caches ? builder.getUnitAttr() : nullptr);
  op.getStep().push_back(body);
  for (auto [r, value] : llvm::zip(results, op.getResults()))
    r.value = value;
  if (mode != "teacher")
    tokenCounts[results.front().value] = emitted.front().shape[1].size;
  lastResults = results;
  return results.front();
}

/// The statements of a decoder step, and a diagnostic for each carried state they leave unassigned.
void MLIRGenImpl::genStepStatements(const DecoderStmt &dec) {
  genBodyStatements(dec.getBody(), "a decoder step", "'emit NAME, ...'");
  for (const DecoderStmt::Carried &state : dec.getCarries())
    if (carriedPending.count(state.name.name))
      error(state.name.loc) << "carried state '" << state.name.name << "' is never assigned in decoder '"
                            << dec.getName().name << "'; its step must compute the next value";
}

/// What a decoder step emits: one row per sequence [B, ...], or with `steps` one row per sequence and
/// step [B, T, ...] (all steps at once). None after a diagnostic.
std::optional<std::vector<Tensor>> MLIRGenImpl::stepEmits(const DecoderStmt &dec, const SymDim &batch,
                                                          const SymDim *steps) {
  std::vector<Tensor> emitted;
  bool ok = true;
  for (const Name &e : dec.getEmits()) {
    auto it = tensors.find(e.name);
    if (it == tensors.end()) {
      if (!poisoned.count(e.name))
        error(e.loc) << "decoder '" << dec.getName().name << "' emits '" << e.name
                     << "', which is not a tensor of its step" << describeName(e.name);
      ok = false;
      continue;
    }
    const SymShape &shape = it->second.shape;
    if (shape.empty() || !(shape.front() == batch) ||
        (steps && (shape.size() < 2 || !(shape[1] == *steps)))) {
      error(e.loc) << "decoder '" << dec.getName().name << "' emits '" << e.name << "' " << str(shape)
                   << ", which is not one row per sequence [" << batch.str() << ", ...]"
                   << (steps ? " and step [" + batch.str() + ", " + steps->str() +
                                   ", ...] when teacher forcing runs all steps at once (attention weights "
                                   "over a cache are emitted by searches only)"
                             : "");
      ok = false;
      continue;
    }
    emitted.push_back(it->second);
  }
  if (!ok)
    return std::nullopt;
  return emitted;
}

/// zeros(B, d1, ...): a zero tensor whose first dimension is a dimension symbol, bound like any other.
std::optional<Tensor> MLIRGenImpl::genZeros(const CallExpr &call) {
  SymShape shape;
  bool ok = true;
  for (const Argument &arg : call.getArgs()) {
    if (!arg.name.empty()) {
      error(arg.loc) << "zeros takes dimensions only, as in zeros(B, 64)";
      return std::nullopt;
    }
    std::optional<SymDim> d = evalDim(*arg.value);
    ok &= d.has_value();
    if (d && !shape.empty() && !d->symbol.empty()) {
      error(arg.value->getLoc())
          << "zeros takes a dimension symbol first and constant sizes after it, found '" << d->symbol
          << "' in position " << shape.size() + 1;
      ok = false;
    }
    if (d)
      shape.push_back(*d);
  }
  if (!ok)
    return std::nullopt;
  if (shape.size() < 2 || shape.front().symbol.empty()) {
    error(call.getLoc())
        << "zeros takes a dimension symbol (the batch) and one or more constant sizes, as in "
        << "zeros(B, 64)";
    return std::nullopt;
  }
  for (const Tensor &in : inputsInOrder)
    for (auto [d, dim] : llvm::enumerate(in.shape))
      if (dim == shape.front()) {
        auto op = mlir::attn::ZerosOp::create(builder, opLoc(call), irType(shape), in.value,
                                              builder.getI64IntegerAttr(d));
        return Tensor{op.getResult(), shape};
      }
  error(call.getArgs().front().value->getLoc()) << "no input has dimension '" << shape.front().symbol
                                                << "', so zeros cannot know its size";
  return std::nullopt;
}

/// h, c = lstm_cell(x, h, c) and h = gru_cell(x, h), with torch.nn.LSTMCell / GRUCell's parameters.
std::optional<Tensor> MLIRGenImpl::genCell(const CallExpr &call, const BoundArgs &args, StringRef layer,
                                           const std::string &prefix) {
  bool isLSTM = layer == "lstm_cell";
  std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'"),
                        h = genTensor(*args.get("h"), false, "'h'");
  std::optional<Tensor> c = isLSTM ? genTensor(*args.get("c"), false, "'c'") : h;
  if (!x || !h || !c || !expectF32(*x, *args.get("x"), layer, "x") ||
      !expectF32(*h, *args.get("h"), layer, "h") || (isLSTM && !expectF32(*c, *args.get("c"), layer, "c")))
    return std::nullopt;
  auto isRows = [](const Tensor &t) { return t.shape.size() == 2 && t.shape[1].symbol.empty(); };
  if (!isRows(*x) || !isRows(*h) || !(x->shape[0] == h->shape[0]) || !(c->shape == h->shape)) {
    error(call.getLoc())
        << layer << " expects x [rows, features] and state" << (isLSTM ? "s h, c" : " h")
        << " [rows, hidden] with constant features and hidden size and the same rows, found x "
        << str(x->shape) << ", h " << str(h->shape) << (isLSTM ? ", c " + str(c->shape) : "");
    return std::nullopt;
  }
  int64_t hidden = h->shape[1].size, in = x->shape[1].size;
  int64_t g = (isLSTM ? mlir::attn::LSTMCellOp::kGates : mlir::attn::GRUCellOp::kGates) * hidden;
  mlir::Location l = loc(call.getLoc()), at = opLoc(call);
  mlir::Value wih = param(prefix + ".weight_ih", {g, in}, l), bih = param(prefix + ".bias_ih", {g}, l);
  mlir::Value whh = param(prefix + ".weight_hh", {g, hidden}, l), bhh = param(prefix + ".bias_hh", {g}, l);
  mlir::Type type = h->value.getType();
  if (!isLSTM) {
    auto op = mlir::attn::GRUCellOp::create(builder, at, type, x->value, h->value, wih, bih, whh, bhh);
    lastResults = {Tensor{op.getResult(), h->shape}};
    return lastResults.front();
  }
  auto hType = mlir::cast<mlir::RankedTensorType>(type);
  auto gatesType = mlir::RankedTensorType::get({hType.getDimSize(0), g}, hType.getElementType());
  auto op = mlir::attn::LSTMCellOp::create(builder, at, mlir::TypeRange{type, type, gatesType}, x->value,
                                           h->value, c->value, wih, bih, whh, bhh);
  lastResults = {Tensor{op.getNewHidden(), h->shape}, Tensor{op.getNewCell(), h->shape}};
  return lastResults.front();
}

} // namespace attn::gen
