// The `train { }` statement: which binding is the loss, the optimizer and its hyperparameters, the
// learning-rate schedule and gradient clipping, gathered into the settings `./model train` reads.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

namespace attn::gen {

/// `train { loss = NAME, optimizer = adam(...), clip_norm = X, ema = D }`: NAME, a cross_entropy or mse
/// binding, is what the gradient program minimizes; the optimizer, clipping and the parameters' moving
/// average drive `./model train`.
void MLIRGenImpl::genTrain(const TrainStmt &s) {
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
      bool scalar =
          it != tensors.end() && it->second.shape.empty() && !it->second.isI32 && !it->second.isInput;
      if (!scalar)
        error(setting.value->getLoc())
            << "expected the name of a scalar f32 binding for 'loss' (a cross_entropy, "
               "an mse, or arithmetic and reductions down to a scalar)";
      else
        lossName = id->getName().str();
    } else if (key == "optimizer") {
      genOptimizer(*setting.value, set);
    } else if (key == "schedule") {
      genLrSchedule(*setting.value, set);
    } else if (key == "clip_norm") {
      std::optional<Number> n = evalNumber(*setting.value);
      if (n && !(n->value > 0))
        error(setting.value->getLoc()) << "expected a positive clip_norm, found " << str(n->value);
      else if (n)
        set("clip_norm", builder.getF32FloatAttr(static_cast<float>(n->value)));
    } else if (key == "ema") {
      std::optional<Number> n = evalNumber(*setting.value);
      if (n && !(n->value > 0 && n->value < 1))
        error(setting.value->getLoc())
            << "expected an ema decay between 0 and 1 (such as 0.999), found " << str(n->value);
      else if (n)
        set("ema", builder.getF32FloatAttr(static_cast<float>(n->value)));
    } else {
      error(setting.name.loc) << "unknown training setting '" << key
                              << "'; the settings are: loss, optimizer, schedule, clip_norm, ema";
    }
  }
  if (!sawLoss)
    error(s.getLoc()) << "'train' needs 'loss = NAME', the binding to minimize";
  trainSettings = builder.getDictionaryAttr(settings);
}

/// `constant(warmup = 0)`, `step(every, gamma = 0.1, warmup = 0)` or `cosine(steps, min_lr = 0,
/// warmup = 0)`: the learning rate over the steps (warm-up is linear from 0).
void MLIRGenImpl::genLrSchedule(const Expr &e, SetSetting set) {
  auto *call = llvm::dyn_cast<CallExpr>(&e);
  StringRef kind = call ? call->getCallee() : "";
  if (kind != "constant" && kind != "step" && kind != "cosine") {
    error(e.getLoc()) << "expected a learning-rate schedule: constant(warmup), step(every, gamma, warmup) "
                      << "or cosine(steps, min_lr, warmup)";
    return;
  }
  set("lr_schedule", builder.getStringAttr(kind));
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
      error(value.getLoc()) << "expected "
                            << (integer ? (key == "warmup" ? "a whole number >= 0" : "a whole number >= 1")
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
void MLIRGenImpl::genOptimizer(const Expr &e, SetSetting set) {
  auto *call = llvm::dyn_cast<CallExpr>(&e);
  StringRef kind = call ? call->getCallee() : "";
  if (kind != "sgd" && kind != "adam" && kind != "adamw") {
    error(e.getLoc())
        << "expected an optimizer: sgd(lr, momentum, weight_decay), adam(lr, beta1, beta2, eps, "
        << "weight_decay) or adamw(...)";
    return;
  }
  set("optimizer", builder.getStringAttr(kind));
  std::vector<std::pair<StringRef, double>> params =
      kind == "sgd"
          ? std::vector<std::pair<StringRef, double>>{{"lr", 1e-2}, {"momentum", 0}, {"weight_decay", 0}}
          : std::vector<std::pair<StringRef, double>>{{"lr", 1e-3},
                                                      {"beta1", 0.9},
                                                      {"beta2", 0.999},
                                                      {"eps", 1e-8},
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

} // namespace attn::gen
