// The signatures of the built-in layers (parameter names, kinds, which are required, a usage line) and the
// binding of a call's positional and keyword arguments against them, with the suggestions and messages
// shown when a call does not match. Settings calls (optimizers, schedules) bind by a plain name list.
#include "MLIRGenImpl.h"

#include "llvm/ADT/StringExtras.h"

namespace attn::gen {

const std::vector<LayerSpec> &layers() {
  static const std::vector<LayerSpec> specs = {
      {"dense",
       {{"x", ArgKind::Tensor, true}, {"units", ArgKind::Int, true}, {"bias", ArgKind::Bool, false}},
       "dense(x, units, bias = true)"},
      {"embed",
       {{"tokens", ArgKind::Tensor, true}, {"vocab", ArgKind::Int, true}, {"dim", ArgKind::Int, true}},
       "embed(tokens, vocab, dim)"},
      {"concat", {{"a", ArgKind::Tensor, true}, {"b", ArgKind::Tensor, true}}, "concat(a, b)"},
      {"reshape",
       {{"x", ArgKind::Tensor, true}, {"shape", ArgKind::List, true}},
       "reshape(x, [d1, d2, ...])"},
      {"cross_entropy",
       {{"logits", ArgKind::Tensor, true},
        {"targets", ArgKind::Tensor, true},
        {"ignore", ArgKind::Int, false},
        {"label_smoothing", ArgKind::Float, false}},
       "cross_entropy(logits, targets, ignore = ID, label_smoothing = 0.0)"},
      {"mse", {{"a", ArgKind::Tensor, true}, {"b", ArgKind::Tensor, true}}, "mse(a, b)"},
      {"transpose",
       {{"x", ArgKind::Tensor, true}, {"a", ArgKind::Int, true}, {"b", ArgKind::Int, true}},
       "transpose(x, a, b)"},
      {"split",
       {{"x", ArgKind::Tensor, true}, {"parts", ArgKind::Int, true}, {"axis", ArgKind::Int, false}},
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
      {"lstm_cell",
       {{"x", ArgKind::Tensor, true}, {"h", ArgKind::Tensor, true}, {"c", ArgKind::Tensor, true}},
       "h, c = lstm_cell(x, h, c)"},
      {"gru_cell", {{"x", ArgKind::Tensor, true}, {"h", ArgKind::Tensor, true}}, "h = gru_cell(x, h)"},
      {"relu", {{"x", ArgKind::Tensor, true}}, "relu(x)"},
      {"tanh", {{"x", ArgKind::Tensor, true}}, "tanh(x)"},
      {"sigmoid", {{"x", ArgKind::Tensor, true}}, "sigmoid(x)"},
      {"gelu", {{"x", ArgKind::Tensor, true}}, "gelu(x)"},
      {"exp", {{"x", ArgKind::Tensor, true}}, "exp(x)"},
      {"log", {{"x", ArgKind::Tensor, true}}, "log(x)"},
      {"sqrt", {{"x", ArgKind::Tensor, true}}, "sqrt(x)"},
      {"rsqrt", {{"x", ArgKind::Tensor, true}}, "rsqrt(x)"},
      {"abs", {{"x", ArgKind::Tensor, true}}, "abs(x)"},
      {"softmax", {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::Int, false}}, "softmax(x, axis = -1)"},
      {"log_softmax",
       {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::Int, false}},
       "log_softmax(x, axis = -1)"},
      {"sum",
       {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::List, false}, {"keepdims", ArgKind::Bool, false}},
       "sum(x, axis = -1, keepdims = false)"},
      {"mean",
       {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::List, false}, {"keepdims", ArgKind::Bool, false}},
       "mean(x, axis = -1, keepdims = false)"},
      {"max",
       {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::List, false}, {"keepdims", ArgKind::Bool, false}},
       "max(x, axis = -1, keepdims = false)"},
      {"min",
       {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::List, false}, {"keepdims", ArgKind::Bool, false}},
       "min(x, axis = -1, keepdims = false)"},
      {"matmul",
       {{"a", ArgKind::Tensor, true}, {"b", ArgKind::Tensor, true}, {"transpose_b", ArgKind::Bool, false}},
       "matmul(a, b, transpose_b = false)"},
      {"pow", {{"x", ArgKind::Tensor, true}, {"exponent", ArgKind::Float, true}}, "pow(x, exponent)"},
      {"maximum", {{"a", ArgKind::Tensor, true}, {"b", ArgKind::Tensor, true}}, "maximum(a, b)"},
      {"minimum", {{"a", ArgKind::Tensor, true}, {"b", ArgKind::Tensor, true}}, "minimum(a, b)"},
      {"clamp",
       {{"x", ArgKind::Tensor, true}, {"min", ArgKind::Tensor, false}, {"max", ArgKind::Tensor, false}},
       "clamp(x, min = a, max = b)"},
      {"where",
       {{"mask", ArgKind::Tensor, true}, {"a", ArgKind::Tensor, true}, {"b", ArgKind::Tensor, true}},
       "where(mask, a, b)"},
      {"argmax", {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::Int, false}}, "argmax(x, axis = -1)"},
      {"slice",
       {{"x", ArgKind::Tensor, true},
        {"axis", ArgKind::Int, true},
        {"start", ArgKind::Int, true},
        {"end", ArgKind::Int, false}},
       "slice(x, axis, start, end)"},
      {"expand_dims", {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::Int, true}}, "expand_dims(x, axis)"},
      {"squeeze", {{"x", ArgKind::Tensor, true}, {"axis", ArgKind::Int, true}}, "squeeze(x, axis)"},
      {"layer_norm",
       {{"x", ArgKind::Tensor, true}, {"eps", ArgKind::Float, false}},
       "layer_norm(x, eps = 1e-5)"},
      {"dropout", {{"x", ArgKind::Tensor, true}, {"rate", ArgKind::Float, false}}, "dropout(x, rate = 0.1)"},
      {"append", {{"cache", ArgKind::Tensor, true}, {"row", ArgKind::Tensor, true}}, "k = append(k, row)"},
      {"positions", {{"x", ArgKind::Tensor, true}}, "positions(x)"},
      {"sinusoid",
       {{"positions", ArgKind::Tensor, true}, {"dim", ArgKind::Int, true}},
       "sinusoid(positions, dim)"},
      {"random_shift",
       {{"x", ArgKind::Tensor, true}, {"pixels", ArgKind::Int, false}},
       "random_shift(x, pixels = 1)"},
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
       {{"x", ArgKind::Tensor, true},
        {"kernel", ArgKind::Int, true},
        {"stride", ArgKind::Int, false},
        {"padding", ArgKind::Int, false}},
       "max_pool(x, kernel, stride = kernel, padding = 0)"},
      {"avg_pool",
       {{"x", ArgKind::Tensor, true},
        {"kernel", ArgKind::Int, true},
        {"stride", ArgKind::Int, false},
        {"padding", ArgKind::Int, false}},
       "avg_pool(x, kernel, stride = kernel, padding = 0)"},
      {"global_pool",
       {{"x", ArgKind::Tensor, true}, {"mode", ArgKind::String, false}},
       "global_pool(x, mode = \"avg\")"},
      {"batch_norm",
       {{"x", ArgKind::Tensor, true}, {"eps", ArgKind::Float, false}},
       "batch_norm(x, eps = 1e-5)"},
      {"flatten", {{"x", ArgKind::Tensor, true}}, "flatten(x)"},
      {"channel_attention",
       {{"x", ArgKind::Tensor, true}, {"reduction", ArgKind::Int, false}},
       "channel_attention(x, reduction = 8)"},
      {"spatial_attention",
       {{"x", ArgKind::Tensor, true}, {"kernel", ArgKind::Int, false}},
       "spatial_attention(x, kernel = 7)"},
      {"self_attention_2d",
       {{"x", ArgKind::Tensor, true}, {"reduction", ArgKind::Int, false}},
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

const LayerSpec *MLIRGenImpl::findLayer(StringRef name) {
  for (const LayerSpec &spec : layers())
    if (name == spec.name)
      return &spec;
  return nullptr;
}

std::string MLIRGenImpl::closestLayer(StringRef name) {
  std::string best;
  unsigned bestDistance = 3;
  for (const LayerSpec &spec : layers()) {
    unsigned d = name.edit_distance(spec.name);
    if (d < bestDistance)
      best = spec.name, bestDistance = d;
  }
  return best;
}

std::string MLIRGenImpl::knownLayers() {
  std::string names;
  for (const LayerSpec &spec : layers())
    names += (names.empty() ? "" : ", ") + std::string(spec.name);
  return names;
}

/// Binds positional and keyword arguments against `spec`, reporting every mismatch.
std::optional<BoundArgs> MLIRGenImpl::bind(const CallExpr &call, const LayerSpec &spec) {
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

/// An optional integer argument in [min, max].
/// A true/false argument, `fallback` when not given.
std::optional<bool> MLIRGenImpl::boolArg(const BoundArgs &args, StringRef name, bool fallback) {
  const Expr *e = args.get(name);
  return e ? evalBool(*e, "'" + name.str() + "'") : fallback;
}

std::optional<int64_t> MLIRGenImpl::intArg(const BoundArgs &args, StringRef name, int64_t fallback,
                                           int64_t min, int64_t max) {
  const Expr *e = args.get(name);
  if (!e)
    return fallback;
  std::optional<int64_t> v = evalInt(*e, "'" + name.str() + "'");
  if (v && *v < min) {
    error(e->getLoc()) << "expected '" << name << "' >= " << min << ", found " << *v;
    return std::nullopt;
  }
  if (v && *v > max) {
    error(e->getLoc()) << "expected '" << name << "' <= " << max << ", found " << *v;
    return std::nullopt;
  }
  return v;
}

/// A dimension index in [-rank, rank), negative counting from the end.
std::optional<int64_t> MLIRGenImpl::axisArg(const CallExpr &call, const BoundArgs &args, StringRef name,
                                            int64_t fallback, size_t rank) {
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

/// Binds the arguments of a settings call (positionally in the order of `params`, or by name), calls
/// `take` for each, and reports unknown ones. Returns the names given.
std::set<std::string> MLIRGenImpl::bindArguments(const CallExpr &call, llvm::ArrayRef<StringRef> params,
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

} // namespace attn::gen
