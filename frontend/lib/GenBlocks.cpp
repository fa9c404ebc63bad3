// Blocks and declared parameters: a `block` declared in the model is expanded at every call, in a scope of
// its own, so each call builds its own layers with its own parameters; `param` declares one by name.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

namespace attn::gen {

namespace {

/// The initializers of `param ... init = ...` (attn.param's `init`), the default first, with the argument
/// each takes (none if null).
struct Initializer {
  const char *name;
  const char *argument;
};
constexpr Initializer kInitializers[] = {
    {"uniform_fan_in", nullptr}, {"glorot_uniform", nullptr}, {"zeros", nullptr},
    {"ones", nullptr},           {"normal", "std"},           {"uniform", "bound"},
};

std::string initializerForms() {
  std::string forms;
  for (const Initializer &init : kInitializers)
    forms += (forms.empty() ? "" : ", ") + std::string(init.name) +
             (init.argument ? "(" + std::string(init.argument) + ")" : "");
  return forms;
}

} // namespace

void MLIRGenImpl::genParam(const ParamStmt &s) {
  const Name &name = s.getName();
  bool ok = true;
  if (s.getDType() != "f32") {
    error(s.getDTypeLoc()) << "a parameter is f32, found '" << s.getDType() << "'";
    ok = false;
  }
  std::vector<int64_t> shape;
  SymShape symShape;
  for (const ExprPtr &e : s.getShape()) {
    std::optional<SymDim> d = evalDim(*e);
    if (d && !d->symbol.empty()) {
      error(e->getLoc()) << "the shape of parameter '" << name.name << "' must be constant; '" << d->symbol
                         << "' is a dimension bound at run time";
      d.reset();
    }
    ok &= d.has_value();
    if (d) {
      shape.push_back(d->size);
      symShape.push_back(*d);
    }
  }

  // The initializer: a name, or a call with its one argument.
  const Initializer *init = &kInitializers[0];
  std::optional<double> argument;
  if (const Expr *e = s.getInit()) {
    auto *call = llvm::dyn_cast<CallExpr>(e);
    auto *ident = llvm::dyn_cast<IdentExpr>(e);
    StringRef kind = call ? call->getCallee() : ident ? ident->getName() : "";
    auto *found = llvm::find_if(kInitializers, [&](const Initializer &i) { return kind == i.name; });
    if (found == std::end(kInitializers)) {
      error(e->getLoc()) << "expected an initializer (" << initializerForms() << ") for parameter '"
                         << name.name << "'";
      ok = false;
    } else if (!found->argument != !call || (call && call->getArgs().size() != 1)) {
      error(e->getLoc()) << "initializer '" << found->name << "' takes "
                         << (found->argument ? "one argument, " + std::string(found->argument)
                                             : "no arguments");
      ok = false;
    } else if (call) {
      const Argument &arg = call->getArgs().front();
      std::optional<Number> value;
      if (!arg.name.empty() && arg.name != found->argument)
        error(arg.loc) << "initializer '" << found->name << "' has no argument '" << arg.name
                       << "'; expected " << found->argument;
      else if ((value = evalNumber(*arg.value)) && value->value <= 0)
        error(arg.value->getLoc()) << "the " << found->argument << " of initializer '" << found->name
                                   << "' must be positive, found " << str(value->value);
      else
        argument = value ? std::optional<double>(value->value) : std::nullopt;
      ok &= argument.has_value();
    }
    init = found == std::end(kInitializers) ? init : found;
  }
  if (!declare(name, "a parameter") || !ok)
    return;
  std::string key = scopePrefix + name.name;
  auto type = mlir::RankedTensorType::get(shape, builder.getF32Type());
  auto op = mlir::attn::ParamOp::create(builder, loc(name.loc), type, builder.getStringAttr(key));
  if (init != &kInitializers[0])
    op.setInitAttr(builder.getStringAttr(init->name));
  if (argument)
    op.setInitScaleAttr(builder.getF64FloatAttr(*argument));
  tensors[name.name] = Tensor{op.getResult(), symShape, false, false, name.name};
}

/// The statements of a block or decoder step (`holder`): declared parameters and assignments only.
void MLIRGenImpl::genBodyStatements(const std::vector<StmtPtr> &body, StringRef holder, StringRef end) {
  for (const StmtPtr &stmt : body) {
    if (auto *assign = llvm::dyn_cast<AssignStmt>(stmt.get()))
      genAssign(*assign);
    else if (auto *param = llvm::dyn_cast<ParamStmt>(stmt.get()))
      genParam(*param);
    else
      error(stmt->getLoc()) << holder << " holds only parameters 'param NAME : f32[DIMS]' and assignments "
                            << "'NAME = expression', and ends with " << end;
  }
}

/// Expands a block at a call: its parameters are bound to the arguments, its statements generated in a
/// scope of their own (dims, constants and blocks stay visible), and every layer in it names its
/// parameters `<call prefix>.<inner binding>...`, so each call has its own weights. A block of several
/// results leaves them all in lastResults and must be the whole right-hand side of `a, b = ...`.
std::optional<Tensor> MLIRGenImpl::genBlockCall(const CallExpr &call, const BlockStmt &block, bool topLevel,
                                                const std::string &prefix) {
  StringRef name = block.getName().name;
  size_t count = block.getResults().size();
  if (count > 1 && !(topLevel && wantedResults == count)) {
    error(call.getLoc()) << "block '" << name << "' returns " << count
                         << " tensors: call it as the whole right-hand side of an assignment to " << count
                         << " names";
    return std::nullopt;
  }
  const std::vector<Name> &params = block.getParams();
  std::vector<Tensor> args;
  bool ok = true;
  for (const Argument &arg : call.getArgs()) {
    if (!arg.name.empty()) {
      error(arg.loc) << "block '" << name << "' takes positional arguments only, found '" << arg.name
                     << " ='";
      ok = false;
      continue;
    }
    allowCache = true; // a block may take a decoder's cache, to attend over it or append to it
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
      tensors[param.name] = Tensor{arg.value, arg.shape, arg.isI32, false, param.name, arg.isCache};
  genBodyStatements(block.getBody(), "a block", "'return NAME, ...'");
  std::vector<Tensor> results;
  for (const Name &ret : block.getResults()) {
    if (auto it = tensors.find(ret.name); it != tensors.end()) {
      results.push_back(it->second);
      results.back().isInput = false;
    } else if (!poisoned.count(ret.name)) {
      error(ret.loc) << "block '" << name << "' returns '" << ret.name
                     << "', which is not a tensor defined in it";
    }
  }
  activeBlocks.erase(name);
  if (results.size() != block.getResults().size())
    return std::nullopt;
  lastResults = results;
  return results.front();
}

} // namespace attn::gen
