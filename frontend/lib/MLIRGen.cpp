// MLIRGen: the frontend's semantic pass. It resolves names (dims, consts, inputs, bindings), binds each
// layer call's arguments against the layer's signature, checks shapes symbolically (so `B` and `S` are
// compared by name, not only by size), names parameters, and emits attn ops with real source locations.
// Errors are reported and the statement is skipped, so one run reports every independent error.
#include "attn/Frontend/MLIRGen.h"

#include "attn/Dialect/AttnDialect.h"
#include "attn/Dialect/AttnOps.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Builders.h"
#include "mlir/IR/Diagnostics.h"
#include "mlir/IR/Verifier.h"
#include "llvm/ADT/STLExtras.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSet.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <cmath>
#include <optional>
#include <set>

using namespace attn;
using namespace attn::ast;
using llvm::StringRef;

namespace {

/// One dimension of a symbolic shape: a static size or a dimension symbol.
struct SymDim {
  int64_t size = -1;
  std::string symbol;
  bool operator==(const SymDim &o) const { return size == o.size && symbol == o.symbol; }
  std::string str() const { return symbol.empty() ? std::to_string(size) : symbol; }
};
using SymShape = std::vector<SymDim>;

std::string str(const SymShape &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + shape[i].str();
  return out + "]";
}

/// A tensor in scope: its IR value, symbolic shape and element type.
struct Tensor {
  mlir::Value value;
  SymShape shape;
  bool isI32 = false;
  bool isInput = false;
  std::string name;
};

std::string str(double value) {
  char buffer[32];
  snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

/// A compile-time number.
struct Number {
  double value;
  bool isInteger;
};

/// The kinds of argument a layer takes.
enum class ArgKind { Tensor, Int, Float, Bool, String, List };

struct ParamSpec {
  const char *name;
  ArgKind kind;
  bool required;
};

struct LayerSpec {
  const char *name;
  std::vector<ParamSpec> params;
  const char *usage;
};

const std::vector<LayerSpec> &layers() {
  static const std::vector<LayerSpec> specs = {
      {"dense", {{"x", ArgKind::Tensor, true}, {"units", ArgKind::Int, true}, {"bias", ArgKind::Bool, false}},
       "dense(x, units, bias = true)"},
      {"embed", {{"tokens", ArgKind::Tensor, true}, {"vocab", ArgKind::Int, true}, {"dim", ArgKind::Int, true}},
       "embed(tokens, vocab, dim)"},
      {"concat", {{"a", ArgKind::Tensor, true}, {"b", ArgKind::Tensor, true}}, "concat(a, b)"},
      {"reshape", {{"x", ArgKind::Tensor, true}, {"shape", ArgKind::List, true}}, "reshape(x, [d1, d2, ...])"},
      {"cross_entropy",
       {{"logits", ArgKind::Tensor, true},
        {"targets", ArgKind::Tensor, true},
        {"ignore", ArgKind::Int, false},
        {"label_smoothing", ArgKind::Float, false}},
       "cross_entropy(logits, targets, ignore = ID, label_smoothing = 0.0)"},
      {"mse", {{"a", ArgKind::Tensor, true}, {"b", ArgKind::Tensor, true}}, "mse(a, b)"},
      {"transpose", {{"x", ArgKind::Tensor, true}, {"a", ArgKind::Int, true}, {"b", ArgKind::Int, true}},
       "transpose(x, a, b)"},
      {"split", {{"x", ArgKind::Tensor, true}, {"parts", ArgKind::Int, true}, {"axis", ArgKind::Int, false}},
       "a, b, ... = split(x, parts, axis = -1)"},
      {"lstm",
       {{"x", ArgKind::Tensor, true},
        {"hidden", ArgKind::Int, true},
        {"bidirectional", ArgKind::Bool, false},
        {"layers", ArgKind::Int, false},
        {"lengths", ArgKind::Tensor, false}},
       "lstm(x, hidden, bidirectional = false, layers = 1, lengths = L)"},
      {"gru",
       {{"x", ArgKind::Tensor, true},
        {"hidden", ArgKind::Int, true},
        {"bidirectional", ArgKind::Bool, false},
        {"layers", ArgKind::Int, false},
        {"lengths", ArgKind::Tensor, false}},
       "gru(x, hidden, bidirectional = false, layers = 1, lengths = L)"},
      {"lstm_cell", {{"x", ArgKind::Tensor, true}, {"h", ArgKind::Tensor, true}, {"c", ArgKind::Tensor, true}},
       "h, c = lstm_cell(x, h, c)"},
      {"gru_cell", {{"x", ArgKind::Tensor, true}, {"h", ArgKind::Tensor, true}}, "h = gru_cell(x, h)"},
      {"relu", {{"x", ArgKind::Tensor, true}}, "relu(x)"},
      {"tanh", {{"x", ArgKind::Tensor, true}}, "tanh(x)"},
      {"sigmoid", {{"x", ArgKind::Tensor, true}}, "sigmoid(x)"},
      {"gelu", {{"x", ArgKind::Tensor, true}}, "gelu(x)"},
      {"softmax", {{"x", ArgKind::Tensor, true}}, "softmax(x)"},
      {"log_softmax", {{"x", ArgKind::Tensor, true}}, "log_softmax(x)"},
      {"layer_norm", {{"x", ArgKind::Tensor, true}, {"eps", ArgKind::Float, false}}, "layer_norm(x, eps = 1e-5)"},
      {"dropout", {{"x", ArgKind::Tensor, true}, {"rate", ArgKind::Float, false}}, "dropout(x, rate = 0.1)"},
      {"conv2d",
       {{"x", ArgKind::Tensor, true},
        {"channels", ArgKind::Int, true},
        {"kernel", ArgKind::Int, true},
        {"stride", ArgKind::Int, false},
        {"padding", ArgKind::Int, false},
        {"dilation", ArgKind::Int, false},
        {"groups", ArgKind::Int, false},
        {"bias", ArgKind::Bool, false}},
       "conv2d(x, channels, kernel, stride = 1, padding = 0, dilation = 1, groups = 1, bias = true)"},
      {"max_pool",
       {{"x", ArgKind::Tensor, true}, {"kernel", ArgKind::Int, true}, {"stride", ArgKind::Int, false},
        {"padding", ArgKind::Int, false}},
       "max_pool(x, kernel, stride = kernel, padding = 0)"},
      {"avg_pool",
       {{"x", ArgKind::Tensor, true}, {"kernel", ArgKind::Int, true}, {"stride", ArgKind::Int, false},
        {"padding", ArgKind::Int, false}},
       "avg_pool(x, kernel, stride = kernel, padding = 0)"},
      {"global_pool", {{"x", ArgKind::Tensor, true}, {"mode", ArgKind::String, false}},
       "global_pool(x, mode = \"avg\")"},
      {"batch_norm", {{"x", ArgKind::Tensor, true}, {"eps", ArgKind::Float, false}}, "batch_norm(x, eps = 1e-5)"},
      {"flatten", {{"x", ArgKind::Tensor, true}}, "flatten(x)"},
      {"channel_attention", {{"x", ArgKind::Tensor, true}, {"reduction", ArgKind::Int, false}},
       "channel_attention(x, reduction = 8)"},
      {"spatial_attention", {{"x", ArgKind::Tensor, true}, {"kernel", ArgKind::Int, false}},
       "spatial_attention(x, kernel = 7)"},
      {"self_attention_2d", {{"x", ArgKind::Tensor, true}, {"reduction", ArgKind::Int, false}},
       "self_attention_2d(x, reduction = 2)"},
      {"dot_attention",
       {{"query", ArgKind::Tensor, true},
        {"keys", ArgKind::Tensor, true},
        {"values", ArgKind::Tensor, true},
        {"heads", ArgKind::Int, false},
        {"causal", ArgKind::Bool, false},
        {"mask", ArgKind::Tensor, false},
        {"scale", ArgKind::Float, false},
        {"score", ArgKind::String, false}},
       "dot_attention(query, keys, values, heads = 1, causal = false, mask = M, scale = 1/sqrt(head size), "
       "score = \"scaled\")"},
      {"additive_attention",
       {{"query", ArgKind::Tensor, true},
        {"keys", ArgKind::Tensor, true},
        {"values", ArgKind::Tensor, false},
        {"units", ArgKind::Int, true},
        {"mask", ArgKind::Tensor, false}},
       "additive_attention(query, keys, values = keys, units, mask = M)"},
  };
  return specs;
}

/// The bound arguments of one call, by parameter name.
struct BoundArgs {
  llvm::StringMap<const Expr *> exprs;
  llvm::StringMap<Location> locs;
  const Expr *get(StringRef name) const { return exprs.lookup(name); }
};

class MLIRGenImpl {
public:
  MLIRGenImpl(mlir::MLIRContext &context, const Model &model)
      : context(context), builder(&context), model(model),
        file(mlir::StringAttr::get(&context, model.file)) {}

  mlir::OwningOpRef<mlir::ModuleOp> run() {
    mlir::ModuleOp module = mlir::ModuleOp::create(loc(model.name.loc));
    builder.setInsertionPointToEnd(module.getBody());
    func = mlir::func::FuncOp::create(builder, loc(model.name.loc), model.name.name,
                                      builder.getFunctionType({}, {}));
    mlir::Block *entry = func.addEntryBlock();
    builder.setInsertionPointToStart(entry);

    for (const StmtPtr &stmt : model.body)
      genStmt(*stmt);
    checkVocabSizes();
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
    for (auto [i, output] : llvm::enumerate(outputs))
      if (output.vocab)
        func.setResultAttr(i, mlir::attn::AttnDialect::kVocabAttr, output.vocab);

    mlir::OwningOpRef<mlir::ModuleOp> owned(module);
    if (mlir::failed(mlir::verify(module)))
      return nullptr;
    return owned;
  }

private:
  //===--------------------------------------------------------------------===//
  // Diagnostics
  //===--------------------------------------------------------------------===//

  mlir::Location loc(const Location &l) { return mlir::FileLineColLoc::get(file, l.line, l.col); }

  mlir::InFlightDiagnostic error(const Location &l) {
    failed = true;
    ++errors;
    return mlir::emitError(loc(l));
  }

  /// Where a name was first declared, for "already declared" errors.
  std::string where(const Location &l) { return std::to_string(l.line) + ":" + std::to_string(l.col); }

  bool declare(const Name &name, StringRef what) {
    auto it = declared.find(name.name);
    if (it != declared.end()) {
      error(name.loc) << "'" << name.name << "' is already declared (as " << it->second.first << " at "
                      << where(it->second.second) << "); every name in a model is declared once";
      return false;
    }
    declared[name.name] = {what.str(), name.loc};
    return true;
  }

  /// A scope of its own for an expanded block or a decoder step: only the declarations `keep` accepts stay
  /// visible, and layers name their parameters under `prefix`. The enclosing statement's names and state
  /// come back when it ends.
  class NestedScope {
  public:
    NestedScope(MLIRGenImpl &gen, llvm::function_ref<bool(StringRef name, StringRef kind)> keep,
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
    ~NestedScope() {
      gen.tensors = std::move(tensors);
      gen.declared = std::move(declared);
      gen.poisoned = std::move(poisoned);
      gen.binding = std::move(binding);
      gen.scopePrefix = std::move(prefix);
      gen.nestedCounts = std::move(counts);
      gen.wantedResults = wanted;
    }
    NestedScope(const NestedScope &) = delete;
    NestedScope &operator=(const NestedScope &) = delete;

  private:
    MLIRGenImpl &gen;
    llvm::StringMap<Tensor> tensors;
    llvm::StringMap<std::pair<std::string, Location>> declared;
    llvm::StringSet<> poisoned;
    std::string binding, prefix;
    llvm::StringMap<unsigned> counts;
    size_t wanted;
  };

  //===--------------------------------------------------------------------===//
  // Statements
  //===--------------------------------------------------------------------===//

  void genStmt(const Stmt &stmt) {
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

  /// `train { loss = NAME, optimizer = adam(...), clip_norm = X }`: NAME, a cross_entropy or mse binding,
  /// is what the gradient program minimizes; the optimizer and clipping drive `./model train`.
  void genTrain(const TrainStmt &s) {
    if (!scopePrefix.empty()) {
      error(s.getLoc()) << "'train' belongs at the top level of the model, not inside a block or decoder";
      return;
    }
    if (trainLoc) {
      error(s.getLoc()) << "the model has a second 'train'; the first is at " << trainLoc->line << ":"
                        << trainLoc->col;
      return;
    }
    trainLoc = s.getLoc();
    llvm::SmallVector<mlir::NamedAttribute> settings{
        builder.getNamedAttr("optimizer", builder.getStringAttr("adam")),
        builder.getNamedAttr("lr", builder.getF32FloatAttr(1e-3f))};
    auto set = [&](StringRef key, mlir::Attribute value) {
      for (mlir::NamedAttribute &a : settings)
        if (a.getName() == key) {
          a.setValue(value);
          return;
        }
      settings.push_back(builder.getNamedAttr(key, value));
    };
    bool sawLoss = false;
    for (const TrainStmt::Setting &setting : s.getSettings()) {
      StringRef key = setting.name.name;
      if (key == "loss") {
        sawLoss = true;
        auto *id = llvm::dyn_cast<IdentExpr>(setting.value.get());
        auto it = id ? tensors.find(id->getName()) : tensors.end();
        mlir::Operation *def = it != tensors.end() ? it->second.value.getDefiningOp() : nullptr;
        if (!llvm::isa_and_nonnull<mlir::attn::CrossEntropyOp, mlir::attn::MseOp>(def))
          error(setting.value->getLoc()) << "expected the name of a cross_entropy or mse binding for 'loss'";
        else
          lossName = id->getName().str();
      } else if (key == "optimizer") {
        genOptimizer(*setting.value, set);
      } else if (key == "schedule") {
        genSchedule(*setting.value, set);
      } else if (key == "clip_norm") {
        std::optional<Number> n = evalNumber(*setting.value);
        if (n && !(n->value > 0))
          error(setting.value->getLoc()) << "expected a positive clip_norm, found " << str(n->value);
        else if (n)
          set("clip_norm", builder.getF32FloatAttr(static_cast<float>(n->value)));
      } else {
        error(setting.name.loc) << "unknown training setting '" << key
                                << "'; the settings are: loss, optimizer, schedule, clip_norm";
      }
    }
    if (!sawLoss)
      error(s.getLoc()) << "'train' needs 'loss = NAME', the binding to minimize";
    trainSettings = builder.getDictionaryAttr(settings);
  }

  /// `constant(warmup = 0)`, `step(every, gamma = 0.1, warmup = 0)` or `cosine(steps, min_lr = 0,
  /// warmup = 0)`: the learning rate over the steps (warm-up is linear from 0).
  template <typename Set> void genSchedule(const Expr &e, Set set) {
    auto *call = llvm::dyn_cast<CallExpr>(&e);
    StringRef kind = call ? call->getCallee() : "";
    if (kind != "constant" && kind != "step" && kind != "cosine") {
      error(e.getLoc()) << "expected a schedule: constant(warmup), step(every, gamma, warmup) or cosine(steps, "
                        << "min_lr, warmup)";
      return;
    }
    set("schedule", builder.getStringAttr(kind));
    std::vector<StringRef> params = kind == "constant" ? std::vector<StringRef>{"warmup"}
                                    : kind == "step"   ? std::vector<StringRef>{"every", "gamma", "warmup"}
                                                       : std::vector<StringRef>{"steps", "min_lr", "warmup"};
    set("gamma", builder.getF32FloatAttr(0.1f));
    std::set<std::string> given = bindArguments(*call, params, [&](StringRef key, const Expr &value) {
      bool integer = key == "warmup" || key == "every" || key == "steps";
      std::optional<Number> n = evalNumber(value);
      if (!n)
        return;
      bool ok = integer ? n->isInteger && n->value >= (key == "warmup" ? 0 : 1) : n->value >= 0;
      if (!ok) {
        error(value.getLoc()) << "expected " << (integer ? (key == "warmup" ? "a whole number >= 0" : "a whole number >= 1")
                                                         : "a number >= 0")
                              << " for " << key << ", found " << str(n->value);
        return;
      }
      if (integer)
        set(key == "steps" ? "total" : key, builder.getI64IntegerAttr(static_cast<int64_t>(n->value)));
      else
        set(key, builder.getF32FloatAttr(static_cast<float>(n->value)));
    });
    for (StringRef required : {StringRef("every"), StringRef("steps")})
      if (llvm::is_contained(params, required) && !given.count(required.str()))
        error(e.getLoc()) << kind << " needs '" << required << "'";
  }

  /// `sgd(lr, momentum = 0, weight_decay = 0)`, `adam(lr, beta1 = 0.9, beta2 = 0.999, eps = 1e-8,
  /// weight_decay = 0)` (L2 added to the gradient) or `adamw(...)` (decoupled weight decay, default 0.01).
  template <typename Set> void genOptimizer(const Expr &e, Set set) {
    auto *call = llvm::dyn_cast<CallExpr>(&e);
    StringRef kind = call ? call->getCallee() : "";
    if (kind != "sgd" && kind != "adam" && kind != "adamw") {
      error(e.getLoc()) << "expected an optimizer: sgd(lr, momentum, weight_decay), adam(lr, beta1, beta2, eps, "
                        << "weight_decay) or adamw(...)";
      return;
    }
    set("optimizer", builder.getStringAttr(kind));
    std::vector<std::pair<StringRef, double>> params =
        kind == "sgd" ? std::vector<std::pair<StringRef, double>>{{"lr", 1e-2}, {"momentum", 0}, {"weight_decay", 0}}
                      : std::vector<std::pair<StringRef, double>>{
                            {"lr", 1e-3}, {"beta1", 0.9}, {"beta2", 0.999}, {"eps", 1e-8},
                            {"weight_decay", kind == "adamw" ? 0.01 : 0.0}};
    for (auto [key, fallback] : params)
      set(key, builder.getF32FloatAttr(static_cast<float>(fallback)));
    std::vector<StringRef> names;
    for (auto &p : params)
      names.push_back(p.first);
    bindArguments(*call, names, [&](StringRef key, const Expr &value) {
      std::optional<Number> n = evalNumber(value);
      bool below1 = key == "beta1" || key == "beta2" || key == "momentum";
      bool ok = n && n->value >= 0 && (key != "lr" || n->value > 0) && (!below1 || n->value < 1);
      if (n && !ok)
        error(value.getLoc()) << "expected " << (key == "lr" ? "a positive" : "a non-negative") << " " << key
                              << (below1 ? " below 1" : "") << ", found " << str(n->value);
      if (n && ok)
        set(key, builder.getF32FloatAttr(static_cast<float>(n->value)));
    });
  }

  /// Binds the arguments of a settings call (positionally in the order of `params`, or by name), calls
  /// `take` for each, and reports unknown ones. Returns the names given.
  std::set<std::string> bindArguments(const CallExpr &call, llvm::ArrayRef<StringRef> params,
                                      llvm::function_ref<void(StringRef, const Expr &)> take) {
    std::set<std::string> given;
    size_t positional = 0;
    for (const Argument &arg : call.getArgs()) {
      StringRef key = arg.name.empty() ? (positional < params.size() ? params[positional++] : "") : arg.name;
      if (!llvm::is_contained(params, key)) {
        error(arg.loc) << call.getCallee() << " has no argument '"
                       << (arg.name.empty() ? "#" + std::to_string(positional + 1) : arg.name)
                       << "'; its arguments are " << llvm::join(params, ", ");
        continue;
      }
      given.insert(key.str());
      take(key, *arg.value);
    }
    return given;
  }


  void genInput(const InputStmt &s) {
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

  void genAssign(const AssignStmt &s) {
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
      t.isInput = llvm::isa<mlir::BlockArgument>(t.value); // e.g. dropout of an input
      t.name = target.name;
      tensors[target.name] = t;
    }
  }

  /// The right-hand side of `a, b = ...`: a layer with that many results.
  std::optional<std::vector<Tensor>> genResults(const Expr &e, size_t count) {
    auto *call = llvm::dyn_cast<CallExpr>(&e);
    static const llvm::StringSet<> multi = {"dot_attention", "additive_attention", "spatial_attention", "lstm_cell",
                                            "split", "greedy", "beam_search", "teacher"};
    if (!call || !multi.contains(call->getCallee())) {
      error(e.getLoc()) << "only dot_attention, additive_attention and spatial_attention (output, weights), "
                        << "lstm_cell (h, c), split (its parts) and decoding (greedy, beam_search, teacher) give "
                        << "several results; this expression gives one";
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

  //===--------------------------------------------------------------------===//
  // Decoders
  //===--------------------------------------------------------------------===//

  /// `decoder NAME(y) carries (...) { ... }`: the initial states are computed here, in the model's scope
  /// (their layers name parameters `NAME.<state>...`); the step is generated at each use.
  void genDecoderStmt(const DecoderStmt &s) {
    if (!declare(s.getName(), "a decoder"))
      return;
    DecoderInfo info{&s, {}, true, {}};
    for (const DecoderStmt::Carried &state : s.getCarries()) {
      binding = s.getName().name + "." + state.name.name;
      nestedCounts.clear();
      std::optional<Tensor> t =
          genTensor(*state.init, /*topLevel=*/true, "the initial value of carried state '" + state.name.name + "'");
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
                                    << (info.init.empty() ? "" : ", and the batch of the first carried state, " +
                                                                     info.init.front().shape.front().str())
                                    << "; found " << (t->isI32 ? "i32" : "f32") << str(t->shape);
        info.ok = false;
        continue;
      }
      info.init.push_back(*t);
    }
    for (const auto &entry : declared)
      info.visible.insert(entry.getKey().str());
    decoderInfos[s.getName().name] = std::move(info);
  }

  /// greedy(step, ...), beam_search(step, ...), teacher(step, tokens, ...): one attn.decode with its own
  /// copy of the step. The step sees the model's tensors (read as loop invariants), its token and its
  /// carried states; a carried state's assignment gives its next value.
  std::optional<Tensor> genDecode(const CallExpr &call, StringRef mode) {
    StringRef usage = mode == "teacher" ? "teacher(decoder, tokens, start = 1)"
                      : mode == "greedy" ? "greedy(decoder, start = 1, stop = 2, pad = 0, max_len = 50)"
                                         : "beam_search(decoder, width = 4, start = 1, stop = 2, pad = 0, max_len = 50, "
                                           "length_penalty = 1.0)";
    const std::vector<Argument> &args = call.getArgs();
    auto *ident = args.empty() || !args[0].name.empty() ? nullptr : llvm::dyn_cast<IdentExpr>(args[0].value.get());
    if (!ident) {
      error(call.getLoc()) << mode << " expects the name of a decoder first; usage: " << usage;
      return std::nullopt;
    }
    auto found = decoderInfos.find(ident->getName());
    if (found == decoderInfos.end()) {
      error(ident->getLoc()) << "'" << ident->getName() << "' is not a decoder" << describeName(ident->getName())
                             << "; usage: " << usage;
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
                         << " (the decoder" << (mode == "teacher" ? " and the tokens" : "") << "); usage: " << usage;
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
      if (v && *v < min) {
        error(arg.value->getLoc()) << "expected " << arg.name << " >= " << min << ", found " << *v;
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

    // The step, generated into a block of its own.
    unsigned errorsBefore = errors;
    SymDim batchDim = info.init.front().shape.front();
    auto *body = new mlir::Block();
    mlir::Location l = loc(call.getLoc());
    mlir::Value token = body->addArgument(
        mlir::RankedTensorType::get({mlir::ShapedType::kDynamic}, builder.getI32Type()), l);
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
    decoderTeacher = teacher ? teacher->value : mlir::Value();
    if (declare(dec.getToken(), "the previous token of a decoder"))
      tensors[dec.getToken().name] = Tensor{token, {batchDim}, true, false, dec.getToken().name};
    for (auto [state, arg, init] : llvm::zip(dec.getCarries(), stateArgs, info.init)) {
      if (declare(state.name, "a carried state"))
        tensors[state.name.name] = Tensor{arg, init.shape, false, false, state.name.name};
      carriedPending.insert(state.name.name);
    }
    for (const StmtPtr &stmt : dec.getBody()) {
      if (auto *assign = llvm::dyn_cast<AssignStmt>(stmt.get()))
        genAssign(*assign);
      else
        error(stmt->getLoc()) << "a decoder step holds only assignments 'NAME = expression' and ends with "
                              << "'emit NAME, ...'";
    }
    std::vector<mlir::Value> next, emits;
    std::vector<Tensor> emitted;
    bool bodyOk = errors == errorsBefore;
    for (auto [state, init] : llvm::zip(dec.getCarries(), info.init)) {
      if (carriedPending.count(state.name.name)) {
        error(state.name.loc) << "carried state '" << state.name.name << "' is never assigned in decoder '"
                              << dec.getName().name << "'; its step must compute the next value";
        bodyOk = false;
        continue;
      }
      auto it = tensors.find(state.name.name);
      if (it == tensors.end()) {
        bodyOk = false; // its assignment failed and was reported
        continue;
      }
      if (!(it->second.shape == init.shape) || it->second.isI32) {
        error(state.name.loc) << "decoder '" << dec.getName().name << "' assigns carried state '" << state.name.name
                              << "' a tensor of shape " << str(it->second.shape) << ", but it starts as "
                              << str(init.shape);
        bodyOk = false;
        continue;
      }
      next.push_back(it->second.value);
    }
    for (const Name &e : dec.getEmits()) {
      auto it = tensors.find(e.name);
      if (it == tensors.end()) {
        if (!poisoned.count(e.name))
          error(e.loc) << "decoder '" << dec.getName().name << "' emits '" << e.name
                       << "', which is not a tensor of its step" << describeName(e.name);
        bodyOk = false;
        continue;
      }
      if (it->second.shape.empty() || !(it->second.shape.front() == batchDim)) {
        error(e.loc) << "decoder '" << dec.getName().name << "' emits '" << e.name << "' " << str(it->second.shape)
                     << ", which is not one row per sequence [" << batchDim.str() << ", ...]";
        bodyOk = false;
        continue;
      }
      emits.push_back(it->second.value);
      emitted.push_back(it->second);
    }
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
    decoderToken = decoderTeacher = mlir::Value();
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
        builder.getF32FloatAttr(static_cast<float>(lengthPenalty)));
    op.getStep().push_back(body);
    for (auto [r, value] : llvm::zip(results, op.getResults()))
      r.value = value;
    lastResults = results;
    return results.front();
  }

  /// zeros(B, d1, ...): a zero tensor whose first dimension is a dimension symbol, bound like any other.
  std::optional<Tensor> genZeros(const CallExpr &call) {
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
        error(arg.value->getLoc()) << "zeros takes a dimension symbol first and constant sizes after it, found '"
                                   << d->symbol << "' in position " << shape.size() + 1;
        ok = false;
      }
      if (d)
        shape.push_back(*d);
    }
    if (!ok)
      return std::nullopt;
    if (shape.size() < 2 || shape.front().symbol.empty()) {
      error(call.getLoc()) << "zeros takes a dimension symbol (the batch) and one or more constant sizes, as in "
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
  std::optional<Tensor> genCell(const CallExpr &call, const BoundArgs &args, StringRef layer,
                                const std::string &prefix) {
    bool isLSTM = layer == "lstm_cell";
    std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'"), h = genTensor(*args.get("h"), false, "'h'");
    std::optional<Tensor> c = isLSTM ? genTensor(*args.get("c"), false, "'c'") : h;
    if (!x || !h || !c || !expectF32(*x, *args.get("x"), layer, "x") || !expectF32(*h, *args.get("h"), layer, "h") ||
        (isLSTM && !expectF32(*c, *args.get("c"), layer, "c")))
      return std::nullopt;
    auto isRows = [](const Tensor &t) { return t.shape.size() == 2 && t.shape[1].symbol.empty(); };
    if (!isRows(*x) || !isRows(*h) || !(x->shape[0] == h->shape[0]) || !(c->shape == h->shape)) {
      error(call.getLoc()) << layer << " expects x [rows, features] and state" << (isLSTM ? "s h, c" : " h")
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
    auto op = mlir::attn::LSTMCellOp::create(builder, at, mlir::TypeRange{type, type}, x->value, h->value, c->value,
                                             wih, bih, whh, bhh);
    lastResults = {Tensor{op.getNewHidden(), h->shape}, Tensor{op.getNewCell(), h->shape}};
    return lastResults.front();
  }

  /// An input's vocabulary may not hold more tokens than the embedding that reads the input has rows.
  void checkVocabSizes() {
    for (auto [arg, at] : inputVocabLocs) {
      mlir::Attribute tokens, size, name;
      for (auto [key, value] : inputAttrs[arg]) {
        if (key == mlir::attn::AttnDialect::kVocabAttr)
          tokens = value;
        else if (key == mlir::attn::AttnDialect::kVocabSizeAttr)
          size = value;
        else if (key == mlir::attn::AttnDialect::kInputNameAttr)
          name = value;
      }
      if (!tokens || !size)
        continue;
      size_t count = llvm::cast<mlir::ArrayAttr>(tokens).size();
      int64_t rows = llvm::cast<mlir::IntegerAttr>(size).getInt();
      if (static_cast<int64_t>(count) > rows)
        error(at) << "the vocabulary has " << count << " tokens, but the embedding of input '"
                  << llvm::cast<mlir::StringAttr>(name).str() << "' has " << rows << " rows (ids 0.." << rows - 1
                  << ")";
    }
  }

  /// The tokens of a vocabulary file (one per line, line n for id n; a path relative to the model file's
  /// directory), or nothing after reporting why not.
  std::optional<mlir::ArrayAttr> readVocab(const VocabRef &ref) {
    llvm::SmallString<256> path(ref.path);
    if (!llvm::sys::path::is_absolute(path)) {
      path = llvm::sys::path::parent_path(model.file);
      llvm::sys::path::append(path, ref.path);
    }
    auto buffer = llvm::MemoryBuffer::getFile(path, /*IsText=*/true);
    if (!buffer) {
      error(ref.loc) << "cannot read vocabulary file '" << path << "': " << buffer.getError().message();
      return std::nullopt;
    }
    llvm::SmallVector<llvm::StringRef> lines;
    llvm::StringRef text = (*buffer)->getBuffer();
    text.consume_back("\n");
    text.split(lines, '\n');
    std::vector<mlir::Attribute> tokens;
    llvm::StringMap<size_t> seen;
    for (auto [i, line] : llvm::enumerate(lines)) {
      line.consume_back("\r");
      if (line.empty() || line.trim() != line) {
        error(ref.loc) << "line " << i + 1 << " of vocabulary file '" << path << "' "
                       << (line.empty() ? "is empty" : "has spaces around its token")
                       << ": expected one token per line, line n holding the token of id n - 1";
        return std::nullopt;
      }
      if (auto [it, inserted] = seen.try_emplace(line, i + 1); !inserted) {
        error(ref.loc) << "token '" << line << "' appears twice in vocabulary file '" << path << "', on lines "
                       << it->second << " and " << i + 1;
        return std::nullopt;
      }
      tokens.push_back(builder.getStringAttr(line));
    }
    if (tokens.empty()) {
      error(ref.loc) << "vocabulary file '" << path << "' is empty";
      return std::nullopt;
    }
    return builder.getArrayAttr(tokens);
  }

  void genOutput(const OutputStmt &s) {
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
                     << (declaredInput ? "an input" : "an input passed through unchanged (dropout is the identity)")
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
        if (std::optional<mlir::ArrayAttr> read = readVocab(*vocab))
          tokens = *read;
      }
      outputs.push_back({n.name, it->second.value, tokens});
    }
  }

  std::string describeName(StringRef name) {
    auto it = declared.find(name);
    if (it == declared.end())
      return "";
    return " (it is " + it->second.first + ", declared at " + where(it->second.second) + ")";
  }

  //===--------------------------------------------------------------------===//
  // Compile-time expressions
  //===--------------------------------------------------------------------===//

  std::optional<Number> evalNumber(const Expr &e) {
    if (auto *n = llvm::dyn_cast<NumberExpr>(&e))
      return Number{n->getValue(), n->isInteger()};
    if (auto *id = llvm::dyn_cast<IdentExpr>(&e)) {
      auto it = consts.find(id->getName());
      if (it != consts.end())
        return it->second;
      if (dims.count(id->getName()))
        error(e.getLoc()) << "'" << id->getName()
                          << "' is a symbolic dimension, known only at run time; expected a constant";
      else if (tensors.count(id->getName()) || poisoned.count(id->getName()))
        error(e.getLoc()) << "'" << id->getName() << "' is a tensor; expected a constant number";
      else
        error(e.getLoc()) << "unknown name '" << id->getName() << "'; expected a constant or a number";
      return std::nullopt;
    }
    if (auto *b = llvm::dyn_cast<BinaryExpr>(&e)) {
      std::optional<Number> l = evalNumber(b->getLHS()), r = evalNumber(b->getRHS());
      if (!l || !r)
        return std::nullopt;
      bool ints = l->isInteger && r->isInteger;
      switch (b->getOp()) {
      case '+': return Number{l->value + r->value, ints};
      case '-': return Number{l->value - r->value, ints};
      case '*': return Number{l->value * r->value, ints};
      default:
        if (r->value == 0) {
          error(b->getRHS().getLoc()) << "division by zero in a constant expression";
          return std::nullopt;
        }
        double q = l->value / r->value;
        return Number{q, ints && std::fmod(l->value, r->value) == 0};
      }
    }
    if (llvm::isa<CallExpr>(&e))
      error(e.getLoc()) << "expected a constant number, found a layer call";
    else
      error(e.getLoc()) << "expected a constant number";
    return std::nullopt;
  }

  std::optional<int64_t> evalInt(const Expr &e, StringRef what) {
    std::optional<Number> n = evalNumber(e);
    if (!n)
      return std::nullopt;
    if (!n->isInteger || std::fabs(n->value) > 9.0e15) {
      error(e.getLoc()) << "expected an integer for " << what << ", found " << str(n->value);
      return std::nullopt;
    }
    return static_cast<int64_t>(n->value);
  }

  /// A dimension of an input's shape: a declared symbol, or a positive constant expression.
  std::optional<SymDim> evalDim(const Expr &e) {
    if (auto *id = llvm::dyn_cast<IdentExpr>(&e))
      if (dims.count(id->getName()))
        return SymDim{-1, id->getName().str()};
    std::optional<int64_t> n = evalInt(e, "a dimension");
    if (!n)
      return std::nullopt;
    if (*n < 1) {
      error(e.getLoc()) << "expected a positive dimension size, found " << *n;
      return std::nullopt;
    }
    return SymDim{*n, ""};
  }

  //===--------------------------------------------------------------------===//
  // Layer calls
  //===--------------------------------------------------------------------===//

  std::optional<Tensor> genTensor(const Expr &e, bool topLevel, StringRef what) {
    if (auto *id = llvm::dyn_cast<IdentExpr>(&e)) {
      if (poisoned.count(id->getName()))
        return std::nullopt;
      auto it = tensors.find(id->getName());
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
    error(e.getLoc()) << "expected a tensor for " << what << ", found a " << (llvm::isa<NumberExpr>(&e) ? "number"
                                                                              : llvm::isa<BoolExpr>(&e) ? "boolean"
                                                                                                        : "string");
    return std::nullopt;
  }

  std::string knownLayers() {
    std::string names;
    for (const LayerSpec &spec : layers())
      names += (names.empty() ? "" : ", ") + std::string(spec.name);
    return names;
  }

  /// `a + b`, `a - b`, `a * b` on two f32 tensors of the same symbolic shape.
  std::optional<Tensor> genArithmetic(const BinaryExpr &e) {
    if (e.getOp() == '/') {
      error(e.getLoc()) << "'/' is not defined on tensors; tensor arithmetic is '+', '-' and '*'";
      return std::nullopt;
    }
    std::string opName = std::string("'") + e.getOp() + "'";
    std::optional<Tensor> lhs = genTensor(e.getLHS(), false, "the left operand of " + opName);
    std::optional<Tensor> rhs = genTensor(e.getRHS(), false, "the right operand of " + opName);
    if (!lhs || !rhs || !expectF32(*lhs, e.getLHS(), opName, "left operand") ||
        !expectF32(*rhs, e.getRHS(), opName, "right operand"))
      return std::nullopt;
    if (lhs->shape != rhs->shape) {
      error(e.getLoc()) << "the operands of " << opName << " must have the same shape, found " << str(lhs->shape)
                        << " and " << str(rhs->shape);
      return std::nullopt;
    }
    mlir::Location l = opLoc(e);
    mlir::Value v = e.getOp() == '+'   ? mlir::attn::AddOp::create(builder, l, lhs->value, rhs->value).getResult()
                    : e.getOp() == '-' ? mlir::attn::SubOp::create(builder, l, lhs->value, rhs->value).getResult()
                                       : mlir::attn::MulOp::create(builder, l, lhs->value, rhs->value).getResult();
    return Tensor{v, lhs->shape};
  }

  std::optional<Tensor> genLayerNorm(const CallExpr &call, const BoundArgs &args, const std::string &prefix) {
    std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
    std::optional<Number> eps = Number{1e-5, false};
    if (const Expr *e = args.get("eps"))
      eps = evalNumber(*e);
    if (!x || !eps || !expectF32(*x, *args.get("x"), "layer_norm", "x"))
      return std::nullopt;
    if (!(eps->value > 0)) {
      error(args.get("eps")->getLoc()) << "expected a positive eps, found " << str(eps->value);
      return std::nullopt;
    }
    if (x->shape.empty() || !x->shape.back().symbol.empty()) {
      error(args.get("x")->getLoc()) << "layer_norm needs a static last dimension on its input, found shape "
                                     << str(x->shape);
      return std::nullopt;
    }
    int64_t width = x->shape.back().size;
    mlir::Location l = loc(call.getLoc());
    mlir::Value w = param(prefix + ".weight", {width}, l);
    mlir::Value b = param(prefix + ".bias", {width}, l);
    auto op = mlir::attn::LayerNormOp::create(builder, opLoc(call), irType(x->shape), x->value, w, b,
                                              builder.getF32FloatAttr(static_cast<float>(eps->value)));
    return Tensor{op.getResult(), x->shape};
  }

  //===--------------------------------------------------------------------===//
  // Convolutional layers
  //===--------------------------------------------------------------------===//

  /// An optional integer argument that must be at least `min`.
  std::optional<int64_t> intArg(const BoundArgs &args, StringRef name, int64_t fallback, int64_t min) {
    const Expr *e = args.get(name);
    if (!e)
      return fallback;
    std::optional<int64_t> v = evalInt(*e, "'" + name.str() + "'");
    if (v && *v < min) {
      error(e->getLoc()) << "expected '" << name << "' >= " << min << ", found " << *v;
      return std::nullopt;
    }
    return v;
  }

  /// Layers over feature maps take f32 [B, C, H, W] with static C, H and W.
  std::optional<Tensor> featureMap(const BoundArgs &args, StringRef layer) {
    const Expr &e = *args.get("x");
    std::optional<Tensor> x = genTensor(e, false, "'x'");
    if (!x || !expectF32(*x, e, layer, "x"))
      return std::nullopt;
    if (x->shape.size() != 4 || !x->shape[1].symbol.empty() || !x->shape[2].symbol.empty() ||
        !x->shape[3].symbol.empty()) {
      error(e.getLoc()) << layer << " expects feature maps [batch, channels, height, width] with constant "
                        << "channels, height and width, found " << str(x->shape);
      return std::nullopt;
    }
    return x;
  }

  /// Sets the result type of a freshly built op from its dimension sources (the dialect's single
  /// definition of its shape) and returns the result with its symbolic shape. `x` is operand 0.
  Tensor finish(mlir::Operation *op, const Tensor &x) {
    SymShape shape;
    for (const mlir::attn::DimSource &src : llvm::cast<mlir::attn::ShapedOpInterface>(op).getResultDimSources()) {
      if (src.isConstant())
        shape.push_back({src.size, ""});
      else if (src.operand == 0)
        shape.push_back(x.shape[src.dim]);
      else
        shape.push_back({llvm::cast<mlir::RankedTensorType>(op->getOperand(src.operand).getType()).getDimSize(src.dim), ""});
    }
    op->getResult(0).setType(irType(shape));
    return Tensor{op->getResult(0), shape};
  }

  std::optional<Tensor> genConv2D(const CallExpr &call, const BoundArgs &args, const std::string &prefix) {
    std::optional<Tensor> x = featureMap(args, "conv2d");
    std::optional<int64_t> channels = intArg(args, "channels", 0, 1), kernel = intArg(args, "kernel", 0, 1),
                           stride = intArg(args, "stride", 1, 1), padding = intArg(args, "padding", 0, 0),
                           dilation = intArg(args, "dilation", 1, 1), groups = intArg(args, "groups", 1, 1);
    std::optional<bool> bias = true;
    if (const Expr *b = args.get("bias"))
      bias = evalBool(*b, "'bias'");
    if (!x || !channels || !kernel || !stride || !padding || !dilation || !groups || !bias)
      return std::nullopt;
    int64_t cin = x->shape[1].size;
    if (cin % *groups != 0 || *channels % *groups != 0) {
      error(call.getLoc()) << "conv2d: input channels (" << cin << ") and output channels (" << *channels
                           << ") must be divisible by groups (" << *groups << ")";
      return std::nullopt;
    }
    for (int d = 2; d < 4; ++d)
      if (x->shape[d].size + 2 * *padding < *dilation * (*kernel - 1) + 1) {
        error(call.getLoc()) << "conv2d: a " << *kernel << "×" << *kernel << " kernel (dilation " << *dilation
                             << ") does not fit the input " << str(x->shape) << " with padding " << *padding;
        return std::nullopt;
      }
    mlir::Location l = loc(call.getLoc());
    mlir::Value w = param(prefix + ".weight", {*channels, cin / *groups, *kernel, *kernel}, l);
    mlir::Value b = *bias ? param(prefix + ".bias", {*channels}, l) : mlir::Value();
    auto op = mlir::attn::Conv2DOp::create(
        builder, opLoc(call), irType(x->shape), x->value, w, b, builder.getDenseI64ArrayAttr({*stride, *stride}),
        builder.getDenseI64ArrayAttr({*padding, *padding}), builder.getDenseI64ArrayAttr({*dilation, *dilation}),
        builder.getI64IntegerAttr(*groups));
    return finish(op, *x);
  }

  std::optional<Tensor> genPool(const CallExpr &call, const BoundArgs &args, StringRef kind) {
    StringRef layer = kind == "max" ? "max_pool" : "avg_pool";
    std::optional<Tensor> x = featureMap(args, layer);
    std::optional<int64_t> kernel = intArg(args, "kernel", 0, 1);
    if (!kernel)
      return std::nullopt;
    std::optional<int64_t> stride = intArg(args, "stride", *kernel, 1), padding = intArg(args, "padding", 0, 0);
    if (!x || !stride || !padding)
      return std::nullopt;
    if (2 * *padding > *kernel) {
      error(args.get("padding")->getLoc()) << layer << ": padding (" << *padding
                                           << ") must be at most half the kernel (" << *kernel << ")";
      return std::nullopt;
    }
    if (x->shape[2].size + 2 * *padding < *kernel || x->shape[3].size + 2 * *padding < *kernel) {
      error(call.getLoc()) << layer << ": a " << *kernel << "×" << *kernel << " window does not fit the input "
                           << str(x->shape) << " with padding " << *padding;
      return std::nullopt;
    }
    auto op = mlir::attn::Pool2DOp::create(builder, opLoc(call), irType(x->shape), x->value,
                                           builder.getStringAttr(kind), builder.getDenseI64ArrayAttr({*kernel, *kernel}),
                                           builder.getDenseI64ArrayAttr({*stride, *stride}),
                                           builder.getDenseI64ArrayAttr({*padding, *padding}));
    return finish(op, *x);
  }

  std::optional<Tensor> genGlobalPool(const CallExpr &call, const BoundArgs &args) {
    std::optional<Tensor> x = featureMap(args, "global_pool");
    std::string mode = "avg";
    if (const Expr *m = args.get("mode")) {
      auto *s = llvm::dyn_cast<StringExpr>(m);
      if (!s || (s->getValue() != "avg" && s->getValue() != "max")) {
        error(m->getLoc()) << "expected mode \"avg\" or \"max\" for global_pool";
        return std::nullopt;
      }
      mode = s->getValue().str();
    }
    if (!x)
      return std::nullopt;
    auto op = mlir::attn::GlobalPoolOp::create(builder, opLoc(call), irType(x->shape), x->value,
                                               builder.getStringAttr(mode));
    return finish(op, *x);
  }

  std::optional<Tensor> genBatchNorm(const CallExpr &call, const BoundArgs &args, const std::string &prefix) {
    const Expr &e = *args.get("x");
    std::optional<Tensor> x = genTensor(e, false, "'x'");
    std::optional<Number> eps = Number{1e-5, false};
    if (const Expr *v = args.get("eps"))
      eps = evalNumber(*v);
    if (!x || !eps || !expectF32(*x, e, "batch_norm", "x"))
      return std::nullopt;
    if (!(eps->value > 0)) {
      error(args.get("eps")->getLoc()) << "expected a positive eps, found " << str(eps->value);
      return std::nullopt;
    }
    if (x->shape.size() < 2 || !x->shape[1].symbol.empty()) {
      error(e.getLoc()) << "batch_norm expects [batch, channels, ...] with a constant channel count, found "
                        << str(x->shape);
      return std::nullopt;
    }
    int64_t c = x->shape[1].size;
    mlir::Location l = loc(call.getLoc());
    mlir::Value w = param(prefix + ".weight", {c}, l), b = param(prefix + ".bias", {c}, l),
                mean = param(prefix + ".running_mean", {c}, l), var = param(prefix + ".running_var", {c}, l);
    auto op = mlir::attn::BatchNormOp::create(builder, opLoc(call), irType(x->shape), x->value, w, b, mean, var,
                                              builder.getF32FloatAttr(static_cast<float>(eps->value)));
    return finish(op, *x);
  }

  std::optional<Tensor> genFlatten(const CallExpr &call, const BoundArgs &args) {
    const Expr &e = *args.get("x");
    std::optional<Tensor> x = genTensor(e, false, "'x'");
    if (!x || !expectF32(*x, e, "flatten", "x"))
      return std::nullopt;
    if (x->shape.size() < 2 ||
        llvm::any_of(llvm::ArrayRef(x->shape).drop_front(), [](const SymDim &d) { return !d.symbol.empty(); })) {
      error(e.getLoc()) << "flatten expects constant dimensions after the first, found " << str(x->shape);
      return std::nullopt;
    }
    auto op = mlir::attn::FlattenOp::create(builder, opLoc(call), irType(x->shape), x->value);
    return finish(op, *x);
  }

  /// channel_attention, spatial_attention and self_attention_2d: attention over a feature map's channels
  /// or positions, returning a reweighted map of the same shape.
  std::optional<Tensor> genFeatureAttention(const CallExpr &call, const BoundArgs &args, StringRef layer,
                                            const std::string &prefix, bool topLevel) {
    std::optional<Tensor> x = featureMap(args, layer);
    if (!x)
      return std::nullopt;
    int64_t c = x->shape[1].size;
    mlir::Location l = loc(call.getLoc()), at = opLoc(call);
    mlir::Operation *op = nullptr;
    if (layer == "spatial_attention") {
      std::optional<int64_t> k = intArg(args, "kernel", 7, 1);
      if (!k)
        return std::nullopt;
      if (*k % 2 == 0) {
        error(args.get("kernel")->getLoc()) << "spatial_attention needs an odd kernel, found " << *k;
        return std::nullopt;
      }
      mlir::Value w = param(prefix + ".conv.weight", {1, 2, *k, *k}, l);
      op = mlir::attn::SpatialAttentionOp::create(builder, at, irType(x->shape), x->value, w);
      Tensor y = finish(op, *x);
      if (topLevel && wantedResults == 2) { // y, weights = spatial_attention(x)
        SymShape shape = x->shape;
        shape[1] = SymDim{1, ""};
        auto weights = mlir::attn::SpatialAttentionWeightsOp::create(builder, at, irType(shape), x->value, w);
        lastResults = {y, Tensor{weights.getResult(), shape}};
      }
      return y;
    }
    bool isChannel = layer == "channel_attention";
    std::optional<int64_t> r = intArg(args, "reduction", isChannel ? 8 : 2, 1);
    if (!r)
      return std::nullopt;
    if (c % *r != 0) {
      error(args.get("reduction") ? args.get("reduction")->getLoc() : call.getLoc())
          << layer << ": the channel count (" << c << ") must be divisible by the reduction (" << *r << ")";
      return std::nullopt;
    }
    int64_t inner = c / *r;
    auto projection = [&](StringRef name, int64_t out, int64_t in) {
      return std::pair{param(prefix + "." + name.str() + ".weight", {out, in}, l),
                       param(prefix + "." + name.str() + ".bias", {out}, l)};
    };
    if (isChannel) {
      auto [w1, b1] = projection("fc1", inner, c);
      auto [w2, b2] = projection("fc2", c, inner);
      op = mlir::attn::ChannelAttentionOp::create(builder, at, irType(x->shape), x->value, w1, b1, w2, b2);
    } else {
      auto [wq, bq] = projection("theta", inner, c);
      auto [wk, bk] = projection("phi", inner, c);
      auto [wv, bv] = projection("g", inner, c);
      auto [wo, bo] = projection("out", c, inner);
      op = mlir::attn::SelfAttention2DOp::create(builder, at, irType(x->shape), x->value, wq, bq, wk, bk, wv, bv,
                                                 wo, bo);
    }
    return finish(op, *x);
  }

  /// embed(tokens, vocab, dim): tokens are an i32 input, whose ids the runtime checks against `vocab`.
  std::optional<Tensor> genEmbed(const CallExpr &call, const BoundArgs &args, const std::string &prefix) {
    const Expr &te = *args.get("tokens");
    std::optional<Tensor> tokens = genTensor(te, false, "'tokens'");
    std::optional<int64_t> vocab = intArg(args, "vocab", 0, 1), dim = intArg(args, "dim", 0, 1);
    if (!tokens || !vocab || !dim)
      return std::nullopt;
    if (!tokens->isI32) {
      error(te.getLoc()) << "embed expects i32 token ids for 'tokens', found f32";
      return std::nullopt;
    }
    // Ids from an input are checked against the vocabulary; a decoder's own tokens come from its scores,
    // or from the teacher's input, which is checked instead.
    mlir::Value source = tokens->value == decoderToken && decoderTeacher ? decoderTeacher : tokens->value;
    auto input = llvm::dyn_cast<mlir::BlockArgument>(source);
    if (!input || input.getOwner() != &func.getBody().front()) {
      mlir::Value table = param(prefix + ".weight", {*vocab, *dim}, loc(call.getLoc()));
      auto op = mlir::attn::EmbeddingOp::create(builder, opLoc(call), irType(tokens->shape), tokens->value, table);
      return finish(op, *tokens);
    }
    auto &attrs = inputAttrs[input.getArgNumber()];
    auto it = llvm::find_if(attrs, [](auto &kv) { return kv.first == mlir::attn::AttnDialect::kVocabSizeAttr; });
    int64_t checked = *vocab;
    if (it != attrs.end())
      checked = std::min(checked, llvm::cast<mlir::IntegerAttr>(it->second).getInt());
    mlir::Attribute vocabAttr = builder.getI64IntegerAttr(checked);
    if (it != attrs.end())
      it->second = vocabAttr;
    else
      attrs.push_back({mlir::attn::AttnDialect::kVocabSizeAttr, vocabAttr});
    mlir::Value table = param(prefix + ".weight", {*vocab, *dim}, loc(call.getLoc()));
    auto op = mlir::attn::EmbeddingOp::create(builder, opLoc(call), irType(tokens->shape), tokens->value, table);
    return finish(op, *tokens);
  }

  /// lstm/gru(x, hidden, bidirectional, layers, lengths): per layer and direction, the input projection of
  /// the whole sequence as one dense layer, then the recurrence; a bidirectional layer concatenates its two
  /// directions. Parameters are named as in torch.nn.LSTM/GRU's state_dict (weight_ih_l0, ..._reverse).
  std::optional<Tensor> genRecurrent(const CallExpr &call, const BoundArgs &args, StringRef layerName,
                                     const std::string &prefix) {
    bool isLSTM = layerName == "lstm";
    int64_t gateCount = isLSTM ? mlir::attn::LSTMOp::kGates : mlir::attn::GRUOp::kGates;
    const Expr &xe = *args.get("x");
    std::optional<Tensor> x = genTensor(xe, false, "'x'");
    std::optional<int64_t> hidden = intArg(args, "hidden", 0, 1), layers = intArg(args, "layers", 1, 1);
    std::optional<bool> bidirectional = false;
    if (const Expr *b = args.get("bidirectional"))
      bidirectional = evalBool(*b, "'bidirectional'");
    std::optional<Tensor> lengths;
    if (const Expr *l = args.get("lengths")) {
      lengths = genTensor(*l, false, "'lengths'");
      if (!lengths)
        return std::nullopt;
    }
    if (!x || !hidden || !layers || !bidirectional || !expectF32(*x, xe, layerName, "x"))
      return std::nullopt;
    if (x->shape.size() != 3 || !x->shape[2].symbol.empty()) {
      error(xe.getLoc()) << layerName << " expects a sequence [batch, steps, features] with constant features, found "
                         << str(x->shape);
      return std::nullopt;
    }
    if (lengths && (!lengths->isI32 || lengths->shape != SymShape{x->shape[0]})) {
      error(args.get("lengths")->getLoc()) << layerName << " expects i32 lengths of shape " << str({x->shape[0]})
                                           << " (one per sequence), found " << (lengths->isI32 ? "i32" : "f32")
                                           << str(lengths->shape);
      return std::nullopt;
    }
    mlir::Location l = loc(call.getLoc()), at = opLoc(call);
    int64_t h = *hidden;
    Tensor input = *x;
    for (int64_t layer = 0; layer < *layers; ++layer) {
      std::vector<Tensor> directions;
      for (bool reverse : {false, true}) {
        if (reverse && !*bidirectional)
          break;
        std::string suffix = "_l" + std::to_string(layer) + (reverse ? "_reverse" : "");
        int64_t in = input.shape[2].size;
        int64_t g = gateCount * h;
        SymShape projected{input.shape[0], input.shape[1], SymDim{g, ""}};
        mlir::Value xp = mlir::attn::DenseOp::create(builder, at, irType(projected), input.value,
                                                     param(prefix + ".weight_ih" + suffix, {g, in}, l),
                                                     param(prefix + ".bias_ih" + suffix, {g}, l));
        SymShape outShape{input.shape[0], input.shape[1], SymDim{h, ""}};
        mlir::Value whh = param(prefix + ".weight_hh" + suffix, {g, h}, l);
        mlir::Value bhh = param(prefix + ".bias_hh" + suffix, {g}, l);
        mlir::Value len = lengths ? lengths->value : mlir::Value();
        mlir::UnitAttr rev = reverse ? builder.getUnitAttr() : nullptr;
        mlir::Value y = isLSTM ? mlir::Value(mlir::attn::LSTMOp::create(builder, at, irType(outShape), xp, whh, bhh,
                                                                        len, rev))
                               : mlir::Value(mlir::attn::GRUOp::create(builder, at, irType(outShape), xp, whh, bhh,
                                                                       len, rev));
        directions.push_back(Tensor{y, outShape});
      }
      if (directions.size() == 1) {
        input = directions.front();
      } else {
        SymShape both{input.shape[0], input.shape[1], SymDim{2 * h, ""}};
        input = Tensor{mlir::attn::ConcatOp::create(builder, at, irType(both), directions[0].value,
                                                    directions[1].value),
                       both};
      }
    }
    return input;
  }

  /// concat(a, b) along the last dimension.
  std::optional<Tensor> genConcat(const CallExpr &call, const BoundArgs &args) {
    const Expr &ae = *args.get("a"), &be = *args.get("b");
    std::optional<Tensor> a = genTensor(ae, false, "'a'"), b = genTensor(be, false, "'b'");
    if (!a || !b || !expectF32(*a, ae, "concat", "a") || !expectF32(*b, be, "concat", "b"))
      return std::nullopt;
    SymShape aLead(a->shape.begin(), a->shape.end() - (a->shape.empty() ? 0 : 1));
    SymShape bLead(b->shape.begin(), b->shape.end() - (b->shape.empty() ? 0 : 1));
    if (a->shape.empty() || aLead != bLead || !a->shape.back().symbol.empty() || !b->shape.back().symbol.empty()) {
      error(call.getLoc()) << "concat joins tensors along a constant last dimension and needs the same leading "
                           << "dimensions, found " << str(a->shape) << " and " << str(b->shape);
      return std::nullopt;
    }
    auto op = mlir::attn::ConcatOp::create(builder, opLoc(call), irType(a->shape), a->value, b->value);
    return finish(op, *a);
  }

  /// cross_entropy(logits [..., V], targets [...] i32, ignore, label_smoothing) and mse(a, b): scalars.
  std::optional<Tensor> genLoss(const CallExpr &call, const BoundArgs &args, StringRef name) {
    bool ce = name == "cross_entropy";
    const Expr &ae = *args.get(ce ? "logits" : "a"), &be = *args.get(ce ? "targets" : "b");
    std::optional<Tensor> a = genTensor(ae, false, ce ? "'logits'" : "'a'");
    std::optional<Tensor> b = genTensor(be, false, ce ? "'targets'" : "'b'");
    if (!a || !b || !expectF32(*a, ae, name, ce ? "logits" : "a"))
      return std::nullopt;
    mlir::Location at = opLoc(call);
    auto scalar = mlir::RankedTensorType::get({}, builder.getF32Type());
    if (!ce) {
      if (!expectF32(*b, be, name, "b"))
        return std::nullopt;
      if (!(a->shape == b->shape)) {
        error(call.getLoc()) << "mse expects two tensors of one shape, found " << str(a->shape) << " and "
                             << str(b->shape);
        return std::nullopt;
      }
      return Tensor{mlir::attn::MseOp::create(builder, at, scalar, a->value, b->value).getResult(), {}};
    }
    SymShape lead(a->shape.begin(), a->shape.end() - (a->shape.empty() ? 0 : 1));
    if (!b->isI32 || a->shape.size() < 2 || !(lead == b->shape) || !a->shape.back().symbol.empty()) {
      error(be.getLoc()) << "cross_entropy expects logits [..., V] with a constant V and i32 targets with the "
                         << "logits' leading dimensions, found " << str(a->shape) << " and "
                         << (b->isI32 ? "i32" : "f32") << str(b->shape);
      return std::nullopt;
    }
    mlir::IntegerAttr ignore;
    if (const Expr *e = args.get("ignore")) {
      std::optional<int64_t> id = evalInt(*e, "'ignore'");
      if (!id)
        return std::nullopt;
      ignore = builder.getI64IntegerAttr(*id);
    }
    double smoothing = 0;
    if (const Expr *e = args.get("label_smoothing")) {
      std::optional<Number> n = evalNumber(*e);
      if (!n)
        return std::nullopt;
      if (!(n->value >= 0 && n->value <= 1)) {
        error(e->getLoc()) << "expected a label_smoothing in [0, 1], found " << str(n->value);
        return std::nullopt;
      }
      smoothing = n->value;
    }
    auto op = mlir::attn::CrossEntropyOp::create(builder, at, scalar, a->value, b->value, ignore,
                                                 builder.getF32FloatAttr(static_cast<float>(smoothing)));
    return Tensor{op.getResult(), {}};
  }

  /// reshape(x, [d...]): the same elements in row-major order. Each d is a symbolic dimension, a positive
  /// constant, or -1 (at most once) for the constant that makes the element counts agree; the symbolic
  /// dimensions must be the input's, in the same order.
  std::optional<Tensor> genReshape(const CallExpr &call, const BoundArgs &args) {
    const Expr &xe = *args.get("x"), &se = *args.get("shape");
    std::optional<Tensor> x = genTensor(xe, false, "'x'");
    auto *list = llvm::dyn_cast<ListExpr>(&se);
    if (!list) {
      error(se.getLoc()) << "reshape expects the new shape as a list such as [B, S, 4, 16]";
      return std::nullopt;
    }
    if (!x || !expectF32(*x, xe, "reshape", "x"))
      return std::nullopt;
    SymShape shape;
    const Expr *inferred = nullptr;
    bool ok = true;
    for (const ExprPtr &element : list->getElements()) {
      if (isMinusOne(*element)) {
        if (inferred) {
          error(element->getLoc()) << "reshape infers at most one dimension (-1); the first is at "
                                   << inferred->getLoc().line << ":" << inferred->getLoc().col;
          ok = false;
        }
        inferred = element.get();
        shape.push_back({-1, ""});
        continue;
      }
      std::optional<SymDim> d = evalDim(*element);
      ok &= d.has_value();
      if (d)
        shape.push_back(*d);
    }
    if (!ok)
      return std::nullopt;
    auto symbols = [](const SymShape &s) {
      std::vector<std::string> names;
      for (const SymDim &d : s)
        if (!d.symbol.empty())
          names.push_back(d.symbol);
      return names;
    };
    auto staticProduct = [](const SymShape &s) {
      int64_t product = 1;
      for (const SymDim &d : s)
        if (d.symbol.empty() && d.size > 0)
          product *= d.size;
      return product;
    };
    if (symbols(shape) != symbols(x->shape)) {
      error(se.getLoc()) << "reshape keeps the symbolic dimensions of its input in order ("
                         << llvm::join(symbols(x->shape), ", ") << "), found " << str(shape);
      return std::nullopt;
    }
    int64_t have = staticProduct(x->shape), want = staticProduct(shape);
    if (inferred) {
      if (have % want != 0) {
        error(inferred->getLoc()) << "reshape cannot infer -1: " << have << " elements per "
                                  << (symbols(shape).empty() ? "tensor" : "symbolic index") << " do not divide by "
                                  << want;
        return std::nullopt;
      }
      for (SymDim &d : shape)
        if (d.symbol.empty() && d.size == -1)
          d.size = have / want;
    } else if (have != want) {
      error(se.getLoc()) << "reshape must keep the number of elements: " << str(x->shape) << " has " << have
                         << " per symbolic index, " << str(shape) << " has " << want;
      return std::nullopt;
    }
    auto op = mlir::attn::ReshapeOp::create(builder, opLoc(call), irType(shape), x->value);
    return Tensor{op.getResult(), shape};
  }

  /// Whether `e` is written `-1`.
  static bool isMinusOne(const Expr &e) {
    auto *b = llvm::dyn_cast<BinaryExpr>(&e);
    auto number = [](const Expr &x, double v) {
      auto *n = llvm::dyn_cast<NumberExpr>(&x);
      return n && n->isInteger() && n->getValue() == v;
    };
    return b && b->getOp() == '-' && number(b->getLHS(), 0) && number(b->getRHS(), 1);
  }

  /// A dimension index in [-rank, rank), negative counting from the end.
  std::optional<int64_t> axisArg(const CallExpr &call, const BoundArgs &args, StringRef name, int64_t fallback,
                                 size_t rank) {
    const Expr *e = args.get(name);
    std::optional<int64_t> axis = e ? evalInt(*e, "'" + name.str() + "'") : fallback;
    if (!axis)
      return std::nullopt;
    int64_t r = static_cast<int64_t>(rank);
    if (*axis < -r || *axis >= r) {
      error(e ? e->getLoc() : call.getLoc()) << "expected '" << name << "' in [" << -r << ", " << r - 1
                                          << "] for a tensor of rank " << r << ", found " << *axis;
      return std::nullopt;
    }
    return *axis < 0 ? *axis + r : *axis;
  }

  /// transpose(x, a, b): swaps dimensions a and b.
  std::optional<Tensor> genTranspose(const CallExpr &call, const BoundArgs &args) {
    const Expr &xe = *args.get("x");
    std::optional<Tensor> x = genTensor(xe, false, "'x'");
    if (!x || !expectF32(*x, xe, "transpose", "x"))
      return std::nullopt;
    std::optional<int64_t> a = axisArg(call, args, "a", 0, x->shape.size()),
                           b = axisArg(call, args, "b", 0, x->shape.size());
    if (!a || !b)
      return std::nullopt;
    llvm::SmallVector<int64_t> perm;
    for (int64_t i = 0; i < static_cast<int64_t>(x->shape.size()); ++i)
      perm.push_back(i == *a ? *b : i == *b ? *a : i);
    SymShape shape = x->shape;
    std::swap(shape[*a], shape[*b]);
    auto op = mlir::attn::TransposeOp::create(builder, opLoc(call), irType(shape), x->value,
                                              builder.getDenseI64ArrayAttr(perm));
    return Tensor{op.getResult(), shape};
  }

  /// a, b, ... = split(x, parts, axis = -1): equal parts of a constant dimension, one slice each.
  std::optional<Tensor> genSplit(const CallExpr &call, const BoundArgs &args, bool topLevel) {
    const Expr &xe = *args.get("x");
    std::optional<Tensor> x = genTensor(xe, false, "'x'");
    std::optional<int64_t> parts = intArg(args, "parts", 1, 1);
    if (!x || !parts || !expectF32(*x, xe, "split", "x"))
      return std::nullopt;
    std::optional<int64_t> axis = axisArg(call, args, "axis", -1, x->shape.size());
    if (!axis)
      return std::nullopt;
    if (!topLevel || wantedResults != static_cast<size_t>(*parts)) {
      error(call.getLoc()) << "split into " << *parts << " parts gives " << *parts << " results; assign them to "
                           << *parts << " names, as in a, b = split(x, 2)";
      return std::nullopt;
    }
    const SymDim &dim = x->shape[*axis];
    if (!dim.symbol.empty() || dim.size % *parts != 0) {
      error(xe.getLoc()) << "split needs a constant dimension " << *axis << " divisible by " << *parts
                         << ", found " << str(x->shape);
      return std::nullopt;
    }
    int64_t size = dim.size / *parts;
    SymShape shape = x->shape;
    shape[*axis] = SymDim{size, ""};
    lastResults.clear();
    for (int64_t p = 0; p < *parts; ++p) {
      auto op = mlir::attn::SliceOp::create(builder, opLoc(call), irType(shape), x->value,
                                            builder.getI64IntegerAttr(*axis), builder.getI64IntegerAttr(p * size),
                                            builder.getI64IntegerAttr(size));
      lastResults.push_back(Tensor{op.getResult(), shape});
    }
    return lastResults.front();
  }

  /// Expands a block at a call: its parameters are bound to the arguments, its statements generated in a
  /// scope of their own (dims, constants and blocks stay visible), and every layer in it names its
  /// parameters `<call prefix>.<inner binding>...`, so each call has its own weights.
  std::optional<Tensor> genBlockCall(const CallExpr &call, const BlockStmt &block, const std::string &prefix) {
    StringRef name = block.getName().name;
    const std::vector<Name> &params = block.getParams();
    std::vector<Tensor> args;
    bool ok = true;
    for (const Argument &arg : call.getArgs()) {
      if (!arg.name.empty()) {
        error(arg.loc) << "block '" << name << "' takes positional arguments only, found '" << arg.name << " ='";
        ok = false;
        continue;
      }
      std::optional<Tensor> t = genTensor(*arg.value, false, "an argument of block '" + name.str() + "'");
      ok &= t.has_value();
      if (t)
        args.push_back(*t);
    }
    if (!ok)
      return std::nullopt;
    if (args.size() != params.size()) {
      std::string names;
      for (const Name &p : params)
        names += (names.empty() ? "" : ", ") + p.name;
      error(call.getLoc()) << "block '" << name << "' takes " << params.size() << " argument"
                           << (params.size() == 1 ? "" : "s") << " (" << names << "), found " << args.size();
      return std::nullopt;
    }
    if (activeBlocks.count(name)) {
      error(call.getLoc()) << "block '" << name << "' calls itself; blocks cannot be recursive";
      return std::nullopt;
    }

    // The block's scope: outer dims, constants and blocks, then the parameters.
    NestedScope scope(*this, [](StringRef, StringRef kind) {
      return kind == "a dimension" || kind == "a constant" || kind == "a block";
    }, prefix + ".");
    poisoned.clear();
    activeBlocks.insert(name);
    for (auto [param, arg] : llvm::zip(params, args))
      if (declare(param, "a block parameter"))
        tensors[param.name] = Tensor{arg.value, arg.shape, arg.isI32, false, param.name};
    for (const StmtPtr &stmt : block.getBody()) {
      if (auto *assign = llvm::dyn_cast<AssignStmt>(stmt.get()))
        genAssign(*assign);
      else
        error(stmt->getLoc()) << "a block holds only assignments 'NAME = expression' and ends with 'return NAME'";
    }
    std::optional<Tensor> result;
    const Name &ret = block.getResult();
    if (auto it = tensors.find(ret.name); it != tensors.end())
      result = it->second;
    else if (!poisoned.count(ret.name))
      error(ret.loc) << "block '" << name << "' returns '" << ret.name << "', which is not a tensor defined in it";

    activeBlocks.erase(name);
    if (result)
      result->isInput = false;
    return result;
  }

  /// Dropout is the identity at inference; its rate is still checked.
  std::optional<Tensor> genDropout(const BoundArgs &args) {
    std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
    if (const Expr *r = args.get("rate")) {
      std::optional<Number> rate = evalNumber(*r);
      if (!rate)
        return std::nullopt;
      if (!(rate->value >= 0 && rate->value < 1)) {
        error(r->getLoc()) << "expected a dropout rate in [0, 1), found " << str(rate->value);
        return std::nullopt;
      }
    }
    return x;
  }

  const LayerSpec *findLayer(StringRef name) {
    for (const LayerSpec &spec : layers())
      if (name == spec.name)
        return &spec;
    return nullptr;
  }

  std::string closestLayer(StringRef name) {
    std::string best;
    unsigned bestDistance = 3;
    for (const LayerSpec &spec : layers()) {
      unsigned d = name.edit_distance(spec.name);
      if (d < bestDistance)
        best = spec.name, bestDistance = d;
    }
    return best;
  }

  /// Binds positional and keyword arguments against `spec`, reporting every mismatch.
  std::optional<BoundArgs> bind(const CallExpr &call, const LayerSpec &spec) {
    BoundArgs bound;
    bool ok = true;
    size_t positional = 0;
    for (const Argument &arg : call.getArgs()) {
      const ParamSpec *param = nullptr;
      if (arg.name.empty()) {
        if (positional >= spec.params.size()) {
          error(arg.loc) << spec.name << " takes at most " << spec.params.size()
                         << " arguments; usage: " << spec.usage;
          ok = false;
          continue;
        }
        param = &spec.params[positional++];
      } else {
        for (const ParamSpec &p : spec.params)
          if (arg.name == p.name)
            param = &p;
        if (!param) {
          std::string names;
          for (const ParamSpec &p : spec.params)
            names += (names.empty() ? "" : ", ") + std::string(p.name);
          error(arg.loc) << spec.name << " has no argument '" << arg.name << "'; its arguments are " << names;
          ok = false;
          continue;
        }
      }
      if (bound.exprs.count(param->name)) {
        error(arg.loc) << "argument '" << param->name << "' of " << spec.name << " is given twice";
        ok = false;
        continue;
      }
      bound.exprs[param->name] = arg.value.get();
      bound.locs[param->name] = arg.loc;
    }
    for (const ParamSpec &p : spec.params)
      if (p.required && !bound.exprs.count(p.name)) {
        error(call.getLoc()) << spec.name << " is missing its argument '" << p.name << "'; usage: "
                             << spec.usage;
        ok = false;
      }
    if (!ok)
      return std::nullopt;
    return bound;
  }

  std::optional<bool> evalBool(const Expr &e, StringRef what) {
    if (auto *b = llvm::dyn_cast<BoolExpr>(&e))
      return b->getValue();
    error(e.getLoc()) << "expected 'true' or 'false' for " << what;
    return std::nullopt;
  }

  /// The name prefix of a layer's parameters: the binding for the statement's outermost call,
  /// `<binding>.<layer><k>` for the k-th nested call of that layer in the statement.
  std::string paramPrefix(StringRef layer, bool topLevel) {
    if (topLevel)
      return binding;
    unsigned k = nestedCounts[layer]++;
    return binding + "." + layer.str() + std::to_string(k);
  }

  /// Every op of a statement carries the statement's binding name, which names the kernels built from it.
  mlir::Location opLoc(const Expr &e) {
    return mlir::NameLoc::get(builder.getStringAttr(binding), loc(e.getLoc()));
  }

  bool expectF32(const Tensor &t, const Expr &e, StringRef layer, StringRef param) {
    if (!t.isI32)
      return true;
    error(e.getLoc()) << layer << " expects an f32 tensor for '" << param << "', found i32"
                      << (t.name.empty() ? "" : " tensor '" + t.name + "'");
    return false;
  }

  mlir::RankedTensorType irType(const SymShape &shape) {
    std::vector<int64_t> dims;
    for (const SymDim &d : shape)
      dims.push_back(d.symbol.empty() ? d.size : mlir::ShapedType::kDynamic);
    return mlir::RankedTensorType::get(dims, builder.getF32Type());
  }

  std::optional<Tensor> genCall(const CallExpr &call, bool topLevel) {
    StringRef callee = call.getCallee();
    if (callee == "greedy" || callee == "beam_search" || callee == "teacher") {
      if (!topLevel) {
        error(call.getLoc()) << callee << " runs a decoder and gives its results to a binding: write "
                             << "'tokens = " << callee << "(...)' as a statement of its own";
        return std::nullopt;
      }
      return genDecode(call, callee);
    }
    if (callee == "zeros")
      return genZeros(call);
    auto block = blocks.find(call.getCallee());
    if (block != blocks.end())
      return genBlockCall(call, *block->second, paramPrefix(call.getCallee(), topLevel));
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
    if (!args)
      return std::nullopt;
    StringRef name = spec->name;
    if (name == "dense")
      return genDense(call, *args, prefix);
    if (name == "dot_attention" || name == "additive_attention")
      return genAttention(call, *args, name, prefix, topLevel && wantedResults == 2);
    if (name == "layer_norm")
      return genLayerNorm(call, *args, prefix);
    if (name == "dropout")
      return genDropout(*args);
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
    if (name == "split")
      return genSplit(call, *args, topLevel);
    if (name == "channel_attention" || name == "spatial_attention" || name == "self_attention_2d")
      return genFeatureAttention(call, *args, name, prefix, topLevel);
    return genUnary(call, *args, name);
  }

  std::optional<Tensor> genUnary(const CallExpr &call, const BoundArgs &args, StringRef name) {
    std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
    if (!x || !expectF32(*x, *args.get("x"), name, "x"))
      return std::nullopt;
    if (x->shape.empty()) {
      error(args.get("x")->getLoc()) << name << " expects a tensor of rank >= 1";
      return std::nullopt;
    }
    mlir::Location l = opLoc(call);
    mlir::Value v = llvm::StringSwitch<std::function<mlir::Value()>>(name)
                        .Case("relu", [&] { return mlir::attn::ReluOp::create(builder, l, x->value).getResult(); })
                        .Case("tanh", [&] { return mlir::attn::TanhOp::create(builder, l, x->value).getResult(); })
                        .Case("sigmoid", [&] { return mlir::attn::SigmoidOp::create(builder, l, x->value).getResult(); })
                        .Case("gelu", [&] { return mlir::attn::GeluOp::create(builder, l, x->value).getResult(); })
                        .Case("log_softmax", [&] { return mlir::attn::LogSoftmaxOp::create(builder, l, x->value).getResult(); })
                        .Default([&] { return mlir::attn::SoftmaxOp::create(builder, l, x->value).getResult(); })();
    return Tensor{v, x->shape};
  }

  mlir::Value param(const std::string &name, std::vector<int64_t> shape, mlir::Location l) {
    auto type = mlir::RankedTensorType::get(shape, builder.getF32Type());
    return mlir::attn::ParamOp::create(builder, l, type, builder.getStringAttr(name));
  }

  std::optional<Tensor> genDense(const CallExpr &call, const BoundArgs &args, const std::string &prefix) {
    std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
    std::optional<int64_t> units = evalInt(*args.get("units"), "'units'");
    std::optional<bool> bias = true;
    if (const Expr *b = args.get("bias"))
      bias = evalBool(*b, "'bias'");
    if (!x || !units || !bias || !expectF32(*x, *args.get("x"), "dense", "x"))
      return std::nullopt;
    if (*units < 1) {
      error(args.get("units")->getLoc()) << "expected a positive number of units, found " << *units;
      return std::nullopt;
    }
    if (x->shape.empty() || !x->shape.back().symbol.empty()) {
      error(args.get("x")->getLoc()) << "dense needs a static last dimension on its input, found shape "
                                     << str(x->shape);
      return std::nullopt;
    }
    int64_t in = x->shape.back().size;
    mlir::Location l = loc(call.getLoc());
    mlir::Value w = param(prefix + ".weight", {*units, in}, l);
    mlir::Value b = *bias ? param(prefix + ".bias", {*units}, l) : mlir::Value();
    SymShape shape = x->shape;
    shape.back() = SymDim{*units, ""};
    auto op = mlir::attn::DenseOp::create(builder, opLoc(call), irType(shape), x->value, w, b);
    return Tensor{op.getResult(), shape};
  }

  /// Two symbolic dimensions must be the same symbol or the same size.
  bool sameDim(const Tensor &a, size_t i, const Tensor &b, size_t j, StringRef what, const Expr &at,
               StringRef aName, StringRef bName) {
    if (a.shape[i] == b.shape[j])
      return true;
    error(at.getLoc()) << "dot_attention: the " << what << " of " << aName << " " << str(a.shape) << " is "
                       << a.shape[i].str() << " but that of " << bName << " " << str(b.shape) << " is "
                       << b.shape[j].str();
    return false;
  }

  /// dot_attention and additive_attention. A rank-2 query [B, D] (one decoder step) is attended as a
  /// one-query sequence and its results squeezed back. When the statement asks for the weights as well
  /// (`ctx, w = ...`), the primitives are emitted directly so that the probabilities are a value; they are
  /// then [B, H, Sq, Sk], without H when it is 1 and without Sq for a rank-2 query.
  std::optional<Tensor> genAttention(const CallExpr &call, const BoundArgs &args, StringRef layer,
                                     const std::string &prefix, bool withWeights) {
    bool additive = layer == "additive_attention";
    const Expr &qe = *args.get("query"), &ke = *args.get("keys");
    const Expr &ve = args.get("values") ? *args.get("values") : ke;
    std::optional<Tensor> q = genTensor(qe, false, "'query'");
    std::optional<Tensor> k = genTensor(ke, false, "'keys'");
    std::optional<Tensor> v = args.get("values") ? genTensor(ve, false, "'values'") : k;
    std::optional<int64_t> heads = intArg(args, "heads", 1, 1), units = intArg(args, "units", 1, 1);
    std::optional<bool> causal = false;
    if (const Expr *c = args.get("causal"))
      causal = evalBool(*c, "'causal'");
    std::optional<Number> scale;
    if (const Expr *e = args.get("scale")) {
      scale = evalNumber(*e);
      if (!scale)
        return std::nullopt;
      if (!(scale->value > 0)) {
        error(e->getLoc()) << "expected a positive scale, found " << str(scale->value);
        return std::nullopt;
      }
    }
    std::string scoreKind = "scaled";
    if (const Expr *e = args.get("score")) {
      auto *str = llvm::dyn_cast<StringExpr>(e);
      if (!str || (str->getValue() != "scaled" && str->getValue() != "dot" && str->getValue() != "general")) {
        error(e->getLoc()) << "expected score \"scaled\", \"dot\" or \"general\" for dot_attention";
        return std::nullopt;
      }
      scoreKind = str->getValue().str();
    }
    std::optional<Tensor> mask;
    if (const Expr *m = args.get("mask")) {
      mask = genTensor(*m, false, "'mask'");
      if (!mask)
        return std::nullopt;
    }
    if (!q || !k || !v || !heads || !units || !causal)
      return std::nullopt;
    if (!expectF32(*q, qe, layer, "query") || !expectF32(*k, ke, layer, "keys") ||
        !expectF32(*v, ve, layer, "values"))
      return std::nullopt;
    bool stepQuery = q->shape.size() == 2;
    if (!stepQuery && q->shape.size() != 3) {
      error(qe.getLoc()) << layer << " expects a query of rank 3 [batch, length, features] or 2 [batch, "
                         << "features], found " << str(q->shape);
      return std::nullopt;
    }
    for (auto [t, e, n] : {std::tuple{&*k, &ke, "keys"}, {&*v, &ve, "values"}})
      if (t->shape.size() != 3) {
        error(e->getLoc()) << layer << " expects " << n << " of rank 3 [batch, length, features], found "
                           << str(t->shape);
        return std::nullopt;
      }
    mlir::Location at = opLoc(call), l = loc(call.getLoc());
    if (stepQuery) {
      SymShape shape{q->shape[0], SymDim{1, ""}, q->shape[1]};
      q = Tensor{mlir::attn::ExpandDimsOp::create(builder, at, irType(shape), q->value, builder.getI64IntegerAttr(1)),
                 shape};
    }
    if (!sameDim(*q, 0, *k, 0, "batch size", ke, "query", "keys") ||
        !sameDim(*k, 0, *v, 0, "batch size", ve, "keys", "values") ||
        !sameDim(*k, 1, *v, 1, "length", ve, "keys", "values"))
      return std::nullopt;
    if (additive && (!q->shape[2].symbol.empty() || !k->shape[2].symbol.empty())) {
      error(call.getLoc()) << "additive_attention needs constant feature sizes, found query " << str(q->shape)
                           << " and keys " << str(k->shape);
      return std::nullopt;
    }
    if (!additive) {
      if (!sameDim(*q, 2, *k, 2, "feature size", ke, "query", "keys"))
        return std::nullopt;
      for (auto [t, e, n] : {std::tuple{&*q, &qe, "query"}, {&*v, &ve, "values"}}) {
        const SymDim &d = t->shape[2];
        if (!d.symbol.empty() || d.size % *heads != 0) {
          error(e->getLoc()) << "dot_attention: the feature size of " << n << " (" << d.str()
                             << ") must be a constant divisible by heads (" << *heads << ")";
          return std::nullopt;
        }
      }
    }
    if (mask) {
      const Expr &me = *args.get("mask");
      if (!mask->isI32) {
        error(me.getLoc()) << layer << " expects an i32 mask (non-zero = attend), found f32";
        return std::nullopt;
      }
      SymShape expected{q->shape[0], k->shape[1]};
      if (mask->shape != expected && mask->shape != SymShape{q->shape[0]}) {
        error(me.getLoc()) << layer << " expects a mask of shape " << str(expected)
                           << " [batch, key length] or lengths " << str({q->shape[0]}) << ", found "
                           << str(mask->shape);
        return std::nullopt;
      }
    }
    mlir::Value maskValue = mask ? mask->value : mlir::Value();
    SymShape ctxShape{q->shape[0], q->shape[1], v->shape[2]};
    mlir::Value queryValue = q->value, context, weights;
    int64_t numHeads = additive ? 1 : *heads;
    if (!additive && scoreKind == "general") {
      int64_t d = q->shape[2].size;
      queryValue = mlir::attn::DenseOp::create(builder, at, irType(q->shape), q->value,
                                               param(prefix + ".weight", {d, d}, l), mlir::Value());
    }
    float dotScale = scale ? float(scale->value)
                     : scoreKind == "scaled" ? 1.0f / std::sqrt(float(q->shape[2].size / numHeads))
                                             : 1.0f;
    SymShape probShape{q->shape[0], SymDim{numHeads, ""}, q->shape[1], k->shape[1]};
    if (additive) {
      int64_t u = *units;
      mlir::Value wq = param(prefix + ".query.weight", {u, q->shape[2].size}, l),
                  bq = param(prefix + ".query.bias", {u}, l),
                  wk = param(prefix + ".keys.weight", {u, k->shape[2].size}, l),
                  bk = param(prefix + ".keys.bias", {u}, l), vw = param(prefix + ".v.weight", {1, u}, l);
      if (withWeights) {
        SymShape qp{q->shape[0], q->shape[1], SymDim{u, ""}}, kp{k->shape[0], k->shape[1], SymDim{u, ""}};
        mlir::Value qv = mlir::attn::DenseOp::create(builder, at, irType(qp), q->value, wq, bq);
        mlir::Value kv = mlir::attn::DenseOp::create(builder, at, irType(kp), k->value, wk, bk);
        mlir::Value scores = mlir::attn::AdditiveScoreOp::create(builder, at, irType(probShape), qv, kv, vw);
        weights = mlir::attn::MaskedSoftmaxOp::create(builder, at, irType(probShape), scores, maskValue, nullptr);
      } else {
        context = mlir::attn::AdditiveAttentionOp::create(builder, at, irType(ctxShape), q->value, k->value,
                                                          v->value, maskValue, wq, bq, wk, bk, vw);
      }
    } else if (withWeights) {
      mlir::Value scores = mlir::attn::ScoreOp::create(builder, at, irType(probShape), queryValue, k->value,
                                                       builder.getI64IntegerAttr(numHeads),
                                                       builder.getF32FloatAttr(dotScale));
      weights = mlir::attn::MaskedSoftmaxOp::create(builder, at, irType(probShape), scores, maskValue,
                                                    *causal ? builder.getUnitAttr() : nullptr);
    } else {
      context = mlir::attn::DotAttentionOp::create(builder, at, irType(ctxShape), queryValue, k->value, v->value,
                                                   maskValue, builder.getI64IntegerAttr(numHeads),
                                                   *causal ? builder.getUnitAttr() : nullptr,
                                                   builder.getF32FloatAttr(dotScale));
    }
    if (weights)
      context = mlir::attn::WeightedSumOp::create(builder, at, irType(ctxShape), weights, v->value);

    Tensor ctx{context, ctxShape};
    if (stepQuery)
      ctx = squeeze(ctx, 1, at);
    lastResults = {ctx};
    if (weights) {
      Tensor w{weights, probShape};
      if (stepQuery)
        w = squeeze(w, 2, at);
      if (numHeads == 1)
        w = squeeze(w, 1, at);
      lastResults.push_back(w);
    }
    return ctx;
  }

  Tensor squeeze(const Tensor &t, int64_t axis, mlir::Location at) {
    SymShape shape = t.shape;
    shape.erase(shape.begin() + axis);
    auto op = mlir::attn::SqueezeOp::create(builder, at, irType(shape), t.value, builder.getI64IntegerAttr(axis));
    return Tensor{op.getResult(), shape};
  }

  mlir::MLIRContext &context;
  mlir::OpBuilder builder;
  const Model &model;
  mlir::StringAttr file;
  mlir::func::FuncOp func;
  bool failed = false;
  bool sawOutput = false;

  llvm::StringMap<std::pair<std::string, Location>> declared;
  llvm::StringSet<> dims;
  llvm::StringMap<Number> consts;
  llvm::StringMap<Tensor> tensors;
  llvm::StringSet<> poisoned;
  std::vector<std::vector<std::pair<llvm::StringRef, mlir::Attribute>>> inputAttrs;
  std::optional<Location> trainLoc; // the `train` statement, once seen
  std::string lossName;             // its loss binding
  mlir::DictionaryAttr trainSettings; // optimizer, its hyperparameters and clip_norm
  struct Output {
    std::string name;
    mlir::Value value;
    mlir::Attribute vocab; // the tokens of a token output, or null
  };
  std::vector<Output> outputs;
  llvm::DenseMap<unsigned, Location> inputVocabLocs; // input argument → its `vocab` clause
  std::string binding;
  llvm::StringMap<unsigned> nestedCounts;
  size_t wantedResults = 1;          // targets of the statement being generated
  std::string scopePrefix;           // "<call prefix>." inside an expanded block
  llvm::StringMap<const BlockStmt *> blocks;
  llvm::StringSet<> activeBlocks;
  std::vector<Tensor> lastResults;   // every result of the last multi-result layer generated
  std::vector<Tensor> inputsInOrder;

  struct DecoderInfo {
    const DecoderStmt *stmt;
    std::vector<Tensor> init; // the carried states' initial values
    bool ok;
    std::set<std::string> visible; // names declared before the decoder statement
  };
  llvm::StringMap<DecoderInfo> decoderInfos;
  bool activeDecoder = false;            // generating a decoder step
  unsigned errors = 0;                   // reported so far
  std::set<std::string> carriedPending;  // carried states the step has not assigned yet
  mlir::Value decoderToken, decoderTeacher;
};

} // namespace

mlir::OwningOpRef<mlir::ModuleOp> attn::mlirGen(mlir::MLIRContext &context, const Model &model) {
  context.getOrLoadDialect<mlir::attn::AttnDialect>();
  context.getOrLoadDialect<mlir::func::FuncDialect>();
  return MLIRGenImpl(context, model).run();
}
