// MLIRGen: the frontend's semantic pass. It resolves names (dims, consts, inputs, bindings), binds each
// layer call's arguments against the layer's signature, checks shapes symbolically (so `B` and `S` are
// compared by name, not only by size), names parameters, and emits attn ops with real source locations.
// Errors are reported and the statement is skipped, so one run reports every independent error. This file
// drives the pass (statements, declarations, scopes, tensor expressions and the dispatch of layer calls);
// MLIRGenImpl.h says which file defines the rest.
#include "attn/Frontend/MLIRGen.h"

#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnDialect.h"
#include "attn/Dialect/AttnOps.h"

#include "mlir/IR/Verifier.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringSet.h"

#include <utility>

namespace attn::gen {

mlir::OwningOpRef<mlir::ModuleOp> MLIRGenImpl::run() {
  mlir::ModuleOp module = mlir::ModuleOp::create(loc(model.name.loc));
  builder.setInsertionPointToEnd(module.getBody());
  func = mlir::func::FuncOp::create(builder, loc(model.name.loc), model.name.name,
                                    builder.getFunctionType({}, {}));
  mlir::Block *entry = func.addEntryBlock();
  builder.setInsertionPointToStart(entry);

  for (const StmtPtr &stmt : model.body)
    genStmt(*stmt);
  checkVocabSizes();
  checkTensorSizes();
  if (!sawOutput && !failed)
    error(model.name.loc) << "model '" << model.name.name
                          << "' declares no outputs: add 'output NAME' naming the tensors to return";
  if (failed) {
    module.erase();
    return nullptr;
  }

  // The loss is an output of the model, so that the gradient program can find it (attn-autodiff removes
  // it again from a model that does not output it).
  bool internalLoss =
      !lossName.empty() && llvm::none_of(outputs, [&](const Output &o) { return o.name == lossName; });
  if (internalLoss)
    outputs.push_back({lossName, tensors[lossName].value, {}});
  std::vector<mlir::Value> results;
  std::vector<mlir::Attribute> names;
  std::vector<mlir::Type> types;
  for (const Output &output : outputs) {
    results.push_back(output.value);
    types.push_back(output.value.getType());
    names.push_back(builder.getStringAttr(output.name));
  }
  mlir::func::ReturnOp::create(builder, loc(model.name.loc), results);
  func.setType(builder.getFunctionType(entry->getArgumentTypes(), types));
  func->setAttr(mlir::attn::AttnDialect::kOutputNamesAttr, builder.getArrayAttr(names));
  if (!lossName.empty()) {
    func->setAttr(mlir::attn::AttnDialect::kLossAttr, builder.getStringAttr(lossName));
    func->setAttr(mlir::attn::AttnDialect::kTrainAttr, trainSettings);
    if (internalLoss)
      func->setAttr(mlir::attn::AttnDialect::kInternalLossAttr, builder.getUnitAttr());
  }
  for (auto [i, attrs] : llvm::enumerate(inputAttrs))
    for (auto [k, v] : attrs)
      func.setArgAttr(i, k, v);
  for (auto [i, output] : llvm::enumerate(outputs)) {
    if (output.vocab)
      func.setResultAttr(i, mlir::attn::AttnDialect::kVocabAttr, output.vocab);
    if (int64_t ids = tokenCounts.lookup(output.value))
      func.setResultAttr(i, mlir::attn::AttnDialect::kVocabSizeAttr, builder.getI64IntegerAttr(ids));
  }

  mlir::OwningOpRef<mlir::ModuleOp> owned(module);
  if (mlir::failed(mlir::verify(module)))
    return nullptr;
  return owned;
}

mlir::Location MLIRGenImpl::loc(const Location &l) { return mlir::FileLineColLoc::get(file, l.line, l.col); }

mlir::InFlightDiagnostic MLIRGenImpl::error(const Location &l) { return error(loc(l)); }

mlir::InFlightDiagnostic MLIRGenImpl::error(mlir::Location l) {
  failed = true;
  ++errors;
  return mlir::emitError(l);
}

/// Every tensor of the model (inputs, parameters, layer results) must fit a kernel's buffer: its constant
/// dimensions multiply to at most kMaxElements. Reports the first such tensor of each statement, at it.
void MLIRGenImpl::checkTensorSizes() {
  auto tooLarge = [](mlir::Type type) -> std::optional<double> {
    auto ranked = llvm::dyn_cast<mlir::RankedTensorType>(type);
    if (!ranked)
      return std::nullopt;
    double elements = 1;
    for (int64_t d : ranked.getShape())
      elements *= mlir::ShapedType::isDynamic(d) ? 1.0 : static_cast<double>(d);
    return elements > static_cast<double>(kMaxElements) ? std::optional<double>(elements) : std::nullopt;
  };
  auto report = [&](mlir::Location at, mlir::Type type, double elements, const std::string &what) {
    error(at) << what << " of type " << type << " has " << str(elements)
              << " elements; a tensor may have at most " << kMaxElements
              << " (2 GiB of f32) in its constant dimensions";
  };
  for (mlir::BlockArgument arg : func.getArguments())
    if (std::optional<double> n = tooLarge(arg.getType()))
      report(arg.getLoc(), arg.getType(), *n, "the input");
  llvm::DenseSet<mlir::Location> reported;
  func.walk([&](mlir::Operation *op) {
    for (mlir::Value result : op->getResults())
      if (std::optional<double> n = tooLarge(result.getType()); n && reported.insert(op->getLoc()).second)
        report(op->getLoc(), result.getType(), *n,
               llvm::isa<mlir::attn::ParamOp>(op)
                   ? "parameter '" + llvm::cast<mlir::attn::ParamOp>(op).getName().str() + "'"
                   : "the result");
  });
}

void MLIRGenImpl::boundInput(mlir::Value v, StringRef key, mlir::Attribute bound) {
  auto input = llvm::dyn_cast<mlir::BlockArgument>(v);
  if (!input || input.getOwner() != &func.getBody().front())
    return;
  auto &attrs = inputAttrs[input.getArgNumber()];
  auto it = llvm::find_if(attrs, [&](auto &kv) { return kv.first == key; });
  if (it == attrs.end()) {
    attrs.push_back({key, bound});
    return;
  }
  auto known = llvm::dyn_cast<mlir::IntegerAttr>(it->second), now = llvm::dyn_cast<mlir::IntegerAttr>(bound);
  if (known && now && now.getInt() < known.getInt())
    it->second = bound;
}

/// Lengths count the steps of a sequence dimension: a constant, or a declared dimension whose size the
/// program binds from the inputs. (Other symbols are not bound by name, so such lengths go unchecked.)
void MLIRGenImpl::boundLengths(mlir::Value v, const SymDim &steps) {
  if (steps.symbol.empty())
    boundInput(v, mlir::attn::AttnDialect::kMaxLengthAttr, builder.getI64IntegerAttr(steps.size));
  else if (dims.count(steps.symbol))
    boundInput(v, mlir::attn::AttnDialect::kMaxLengthAttr, builder.getStringAttr(steps.symbol));
}

/// Where a name was first declared, for "already declared" errors.
std::string MLIRGenImpl::where(const Location &l) {
  return std::to_string(l.line) + ":" + std::to_string(l.col);
}

bool MLIRGenImpl::declare(const Name &name, StringRef what) {
  auto it = declared.find(name.name);
  if (it != declared.end()) {
    error(name.loc) << "'" << name.name << "' is already declared (as " << it->second.first << " at "
                    << where(it->second.second) << "); every name in a model is declared once";
    return false;
  }
  declared[name.name] = {what.str(), name.loc};
  return true;
}

MLIRGenImpl::NestedScope::NestedScope(MLIRGenImpl &gen,
                                      llvm::function_ref<bool(StringRef name, StringRef kind)> keep,
                                      std::string prefix)
    : gen(gen), tensors(gen.tensors), declared(gen.declared), poisoned(gen.poisoned), binding(gen.binding),
      prefix(gen.scopePrefix), counts(gen.nestedCounts), wanted(gen.wantedResults) {
  for (auto it = gen.declared.begin(); it != gen.declared.end();) {
    auto next = std::next(it);
    if (!keep(it->getKey(), it->second.first)) {
      gen.tensors.erase(it->getKey());
      gen.declared.erase(it);
    }
    it = next;
  }
  gen.scopePrefix = std::move(prefix);
}

MLIRGenImpl::NestedScope::~NestedScope() {
  gen.tensors = std::move(tensors);
  gen.declared = std::move(declared);
  gen.poisoned = std::move(poisoned);
  gen.binding = std::move(binding);
  gen.scopePrefix = std::move(prefix);
  gen.nestedCounts = std::move(counts);
  gen.wantedResults = wanted;
}

std::string MLIRGenImpl::describeName(StringRef name) {
  auto it = declared.find(name);
  if (it == declared.end())
    return "";
  return " (it is " + it->second.first + ", declared at " + where(it->second.second) + ")";
}

void MLIRGenImpl::genStmt(const Stmt &stmt) {
  if (auto *s = llvm::dyn_cast<DimStmt>(&stmt)) {
    for (const Name &n : s->getNames())
      if (declare(n, "a dimension"))
        dims.insert(n.name);
  } else if (auto *s = llvm::dyn_cast<ConstStmt>(&stmt)) {
    for (const ConstStmt::Def &def : s->getDefs()) {
      std::optional<Number> value = evalNumber(*def.value);
      if (declare(def.name, "a constant") && value)
        consts[def.name.name] = *value;
    }
  } else if (auto *s = llvm::dyn_cast<InputStmt>(&stmt)) {
    genInput(*s);
  } else if (auto *s = llvm::dyn_cast<ParamStmt>(&stmt)) {
    genParam(*s);
  } else if (auto *s = llvm::dyn_cast<AssignStmt>(&stmt)) {
    genAssign(*s);
  } else if (auto *s = llvm::dyn_cast<OutputStmt>(&stmt)) {
    genOutput(*s);
  } else if (auto *s = llvm::dyn_cast<BlockStmt>(&stmt)) {
    if (declare(s->getName(), "a block"))
      blocks[s->getName().name] = s;
  } else if (auto *s = llvm::dyn_cast<DecoderStmt>(&stmt)) {
    genDecoderStmt(*s);
  } else if (auto *s = llvm::dyn_cast<TrainStmt>(&stmt)) {
    genTrain(*s);
  }
}

void MLIRGenImpl::genInput(const InputStmt &s) {
  bool isI32 = s.getDType() == "i32";
  if (!isI32 && s.getDType() != "f32") {
    error(s.getDTypeLoc()) << "expected a dtype ('f32' or 'i32'), found '" << s.getDType() << "'";
    return;
  }
  SymShape shape;
  std::vector<int64_t> irShape;
  std::vector<mlir::Attribute> dimAttrs;
  bool ok = true;
  for (const ExprPtr &e : s.getShape()) {
    std::optional<SymDim> d = evalDim(*e);
    if (!d) {
      ok = false;
      continue;
    }
    shape.push_back(*d);
    irShape.push_back(d->symbol.empty() ? d->size : mlir::ShapedType::kDynamic);
    dimAttrs.push_back(d->symbol.empty() ? mlir::Attribute(builder.getI64IntegerAttr(d->size))
                                         : mlir::Attribute(builder.getStringAttr(d->symbol)));
  }
  if (!declare(s.getName(), "an input") || !ok)
    return;
  mlir::Type elem = isI32 ? mlir::Type(builder.getI32Type()) : mlir::Type(builder.getF32Type());
  auto type = mlir::RankedTensorType::get(irShape, elem);
  mlir::Value arg = func.getBody().front().addArgument(type, loc(s.getName().loc));
  inputAttrs.push_back({{mlir::attn::AttnDialect::kInputNameAttr, builder.getStringAttr(s.getName().name)},
                        {mlir::attn::AttnDialect::kInputDimsAttr, builder.getArrayAttr(dimAttrs)}});
  if (s.getVocab()) {
    if (!isI32)
      error(s.getVocab()->loc) << "a vocabulary names token ids: input '" << s.getName().name
                               << "' is f32, expected i32";
    else if (std::optional<mlir::ArrayAttr> tokens = readVocab(*s.getVocab()))
      inputAttrs.back().push_back({mlir::attn::AttnDialect::kVocabAttr, *tokens});
    inputVocabLocs[func.getBody().front().getNumArguments() - 1] = s.getVocab()->loc;
  }
  tensors[s.getName().name] = Tensor{arg, shape, isI32, true, s.getName().name};
  inputsInOrder.push_back(tensors[s.getName().name]);
}

void MLIRGenImpl::genAssign(const AssignStmt &s) {
  const std::vector<Name> &targets = s.getTargets();
  bool declaredAll = true;
  for (const Name &target : targets)
    declaredAll &= carriedPending.erase(target.name) || declare(target, "a binding");
  if (!declaredAll)
    return;
  binding = scopePrefix + targets.front().name;
  nestedCounts.clear();
  wantedResults = targets.size();
  std::optional<std::vector<Tensor>> results;
  if (targets.size() == 1) {
    if (std::optional<Tensor> t = genTensor(s.getValue(), /*topLevel=*/true, "the right-hand side"))
      results = std::vector<Tensor>{*t};
  } else {
    results = genResults(s.getValue(), targets.size());
  }
  wantedResults = 1;
  for (auto [i, target] : llvm::enumerate(targets)) {
    if (!results) {
      poisoned.insert(target.name);
      continue;
    }
    Tensor t = (*results)[i];
    mlir::Value source = t.value; // dropout or a random shift of an input is that input at inference
    while (auto random = source.getDefiningOp<mlir::attn::RandomOpInterface>())
      source = random.getInput();
    t.isInput = llvm::isa<mlir::BlockArgument>(source);
    t.name = target.name;
    tensors[target.name] = t;
  }
}

/// The right-hand side of `a, b = ...`: a layer with that many results.
std::optional<std::vector<Tensor>> MLIRGenImpl::genResults(const Expr &e, size_t count) {
  auto *call = llvm::dyn_cast<CallExpr>(&e);
  static const llvm::StringSet<> multi = {"dot_attention", "additive_attention", "spatial_attention",
                                          "lstm_cell",     "split",              "greedy",
                                          "beam_search",   "teacher"};
  if (!call || !(multi.contains(call->getCallee()) || blocks.count(call->getCallee()))) {
    error(e.getLoc())
        << "only dot_attention, additive_attention and spatial_attention (output, weights), "
        << "lstm_cell (h, c), split (its parts), decoding (greedy, beam_search, teacher) and blocks "
        << "that return several tensors give several results; this expression gives one";
    return std::nullopt;
  }
  StringRef callee = call->getCallee();
  bool pair = callee == "dot_attention" || callee == "additive_attention" || callee == "spatial_attention" ||
              callee == "lstm_cell";
  if (pair && count != 2) {
    error(e.getLoc()) << callee << " gives 2 results ("
                      << (callee == "lstm_cell"           ? "h, c"
                          : callee == "spatial_attention" ? "output, weights"
                                                          : "context, weights")
                      << "), not " << count;
    return std::nullopt;
  }
  lastResults.clear();
  if (!genCall(*call, /*topLevel=*/true))
    return std::nullopt;
  if (lastResults.size() != count) {
    error(e.getLoc()) << call->getCallee() << " gives " << lastResults.size() << " result"
                      << (lastResults.size() == 1 ? "" : "s") << " here, not " << count;
    return std::nullopt;
  }
  return std::vector<Tensor>{lastResults.begin(), lastResults.end()};
}

void MLIRGenImpl::genOutput(const OutputStmt &s) {
  sawOutput = true;
  for (auto [n, vocab] : llvm::zip(s.getNames(), s.getVocabs())) {
    if (poisoned.count(n.name))
      continue;
    auto it = tensors.find(n.name);
    if (it == tensors.end()) {
      error(n.loc) << "output '" << n.name << "' is not a tensor defined in this model"
                   << describeName(n.name);
      continue;
    }
    if (it->second.isInput) {
      bool declaredInput = declared.lookup(n.name).first == "an input";
      error(n.loc) << "output '" << n.name << "' is "
                   << (declaredInput
                           ? "an input"
                           : "an input passed through unchanged (dropout and random_shift are the identity)")
                   << "; outputs must be computed by a layer";
      continue;
    }
    if (llvm::any_of(outputs, [&](const Output &o) { return o.name == n.name; })) {
      error(n.loc) << "'" << n.name << "' is already an output";
      continue;
    }
    mlir::Attribute tokens;
    if (vocab) {
      if (!it->second.isI32) {
        error(vocab->loc) << "a vocabulary names token ids: output '" << n.name << "' is f32, expected i32";
        continue;
      }
      std::optional<mlir::ArrayAttr> read = readVocab(*vocab);
      int64_t ids = tokenCounts.lookup(it->second.value);
      if (read && static_cast<int64_t>(read->size()) < ids) {
        error(vocab->loc) << "the vocabulary has " << read->size() << " tokens, but output '" << n.name
                          << "' holds ids 0.." << ids - 1 << " (the scores it is picked from have " << ids
                          << " columns): every id needs a token";
        continue;
      }
      if (read)
        tokens = *read;
    }
    outputs.push_back({n.name, it->second.value, tokens});
  }
}

std::optional<Tensor> MLIRGenImpl::genTensor(const Expr &e, bool topLevel, StringRef what) {
  bool cacheOk = std::exchange(allowCache, false);
  if (auto *id = llvm::dyn_cast<IdentExpr>(&e)) {
    if (poisoned.count(id->getName()))
      return std::nullopt;
    auto it = tensors.find(id->getName());
    if (it != tensors.end() && it->second.isCache && !cacheOk) {
      error(e.getLoc()) << "'" << id->getName() << "' is a key/value cache: only dot_attention(query, "
                        << id->getName() << ", ..., causal = true) reads it, append(" << id->getName()
                        << ", row) extends it, and blocks pass it on";
      return std::nullopt;
    }
    if (it != tensors.end())
      return it->second;
    error(e.getLoc()) << "expected a tensor for " << what << ", found '" << id->getName() << "'"
                      << (declared.count(id->getName()) ? describeName(id->getName())
                                                        : std::string(" (not declared)"));
    return std::nullopt;
  }
  if (auto *call = llvm::dyn_cast<CallExpr>(&e))
    return genCall(*call, topLevel);
  if (auto *bin = llvm::dyn_cast<BinaryExpr>(&e))
    return genArithmetic(*bin);
  error(e.getLoc()) << "expected a tensor for " << what << ", found a "
                    << (llvm::isa<NumberExpr>(&e) ? "number"
                        : llvm::isa<BoolExpr>(&e) ? "boolean"
                                                  : "string");
  return std::nullopt;
}

std::optional<Tensor> MLIRGenImpl::genCall(const CallExpr &call, bool topLevel) {
  StringRef callee = call.getCallee();
  if (callee == "greedy" || callee == "beam_search" || callee == "teacher") {
    if (!topLevel) {
      error(call.getLoc()) << callee << " runs a decoder and gives its results to a binding: write "
                           << "'tokens = " << callee << "(...)' as a statement of its own";
      return std::nullopt;
    }
    return genDecode(call, callee);
  }
  if ((callee == "zeros" || callee == "cache") && parallelTeacher) {
    error(call.getLoc()) << callee << "(...) cannot be computed inside the step of a decoder that carries "
                         << "key/value caches: teacher forcing runs its steps at once";
    return std::nullopt;
  }
  if (callee == "zeros")
    return genZeros(call);
  if (callee == "cache")
    return genCache(call);
  auto block = blocks.find(call.getCallee());
  if (block != blocks.end())
    return genBlockCall(call, *block->second, topLevel, paramPrefix(call.getCallee(), topLevel));
  const LayerSpec *spec = findLayer(call.getCallee());
  if (!spec) {
    auto diag = error(call.getLoc()) << "unknown layer '" << call.getCallee() << "'";
    std::string near = closestLayer(call.getCallee());
    if (!near.empty())
      diag << "; did you mean '" << near << "'?";
    else
      diag << "; known layers: " << knownLayers();
    return std::nullopt;
  }
  std::string prefix = paramPrefix(spec->name, topLevel);
  std::optional<BoundArgs> args = bind(call, *spec);
  if (!args || (parallelTeacher && !checkParallelStep(call, *spec, *args)))
    return std::nullopt;
  StringRef name = spec->name;
  if (name == "append")
    return genAppend(call, *args);
  if (name == "positions")
    return genPositions(call, *args);
  if (name == "sinusoid")
    return genSinusoid(call, *args);
  if (name == "dense")
    return genDense(call, *args, prefix);
  if (name == "dot_attention" || name == "additive_attention")
    return genAttention(call, *args, name, prefix, topLevel && wantedResults == 2);
  if (name == "layer_norm")
    return genLayerNorm(call, *args, prefix);
  if (name == "dropout")
    return genDropout(call, *args);
  if (name == "random_shift")
    return genRandomShift(call, *args);
  if (name == "embed")
    return genEmbed(call, *args, prefix);
  if (name == "concat")
    return genConcat(call, *args);
  if (name == "lstm" || name == "gru")
    return genRecurrent(call, *args, name, prefix);
  if (name == "lstm_cell" || name == "gru_cell")
    return genCell(call, *args, name, prefix);
  if (name == "conv2d")
    return genConv2D(call, *args, prefix);
  if (name == "max_pool" || name == "avg_pool")
    return genPool(call, *args, name == "max_pool" ? "max" : "avg");
  if (name == "global_pool")
    return genGlobalPool(call, *args);
  if (name == "batch_norm")
    return genBatchNorm(call, *args, prefix);
  if (name == "flatten")
    return genFlatten(call, *args);
  if (name == "reshape")
    return genReshape(call, *args);
  if (name == "cross_entropy" || name == "mse")
    return genLoss(call, *args, name);
  if (name == "transpose")
    return genTranspose(call, *args);
  if (name == "sum" || name == "mean" || name == "max" || name == "min")
    return genReduce(call, *args, name);
  if (name == "matmul")
    return genMatmul(call, *args);
  if (name == "expand_dims" || name == "squeeze")
    return genExpandOrSqueeze(call, *args, name);
  if (name == "split")
    return genSplit(call, *args, topLevel);
  if (name == "pow")
    return genPow(call, *args);
  if (name == "maximum" || name == "minimum")
    return genExtremum(call, *args, name);
  if (name == "clamp")
    return genClamp(call, *args);
  if (name == "where")
    return genWhere(call, *args);
  if (name == "argmax")
    return genArgmax(call, *args);
  if (name == "slice")
    return genSlice(call, *args);
  if (name == "channel_attention" || name == "spatial_attention" || name == "self_attention_2d")
    return genFeatureAttention(call, *args, name, prefix, topLevel);
  return genUnary(call, *args, name);
}

/// The name prefix of a layer's parameters: the binding for the statement's outermost call,
/// `<binding>.<layer><k>` for the k-th nested call of that layer in the statement.
std::string MLIRGenImpl::paramPrefix(StringRef layer, bool topLevel) {
  if (topLevel)
    return binding;
  unsigned k = nestedCounts[layer]++;
  return binding + "." + layer.str() + std::to_string(k);
}

/// Every op of a statement carries the statement's binding name, which names the kernels built from it.
mlir::Location MLIRGenImpl::opLoc(const Expr &e) {
  return mlir::NameLoc::get(builder.getStringAttr(binding), loc(e.getLoc()));
}

/// A layer's parameter `name`; `init` names its initializer (as a `param` statement's `init`) where the
/// default (uniform_fan_in) does not fit it: batch norm's running statistics.
mlir::Value MLIRGenImpl::param(const std::string &name, std::vector<int64_t> shape, mlir::Location l,
                               llvm::StringRef init) {
  auto type = mlir::RankedTensorType::get(shape, builder.getF32Type());
  auto op = mlir::attn::ParamOp::create(builder, l, type, builder.getStringAttr(name));
  if (!init.empty())
    op.setInitAttr(builder.getStringAttr(init));
  return op;
}

} // namespace attn::gen

mlir::OwningOpRef<mlir::ModuleOp> attn::mlirGen(mlir::MLIRContext &context, const ast::Model &model) {
  context.getOrLoadDialect<mlir::attn::AttnDialect>();
  context.getOrLoadDialect<mlir::func::FuncDialect>();
  return gen::MLIRGenImpl(context, model).run();
}
