// The convolutional layers over feature maps [batch, channels, height, width]: conv2d, max/avg/global
// pooling, batch normalization and flatten, with the checks that a feature map and a kernel fit.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

namespace attn::gen {

/// Layers over feature maps take f32 [B, C, H, W] with static C, H and W.
std::optional<Tensor> MLIRGenImpl::featureMap(const BoundArgs &args, StringRef layer) {
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

std::optional<Tensor> MLIRGenImpl::genConv2D(const CallExpr &call, const BoundArgs &args,
                                             const std::string &prefix) {
  std::optional<Tensor> x = featureMap(args, "conv2d");
  std::optional<int64_t> channels = intArg(args, "channels", 0, 1), kernel = intArg(args, "kernel", 0, 1),
                         stride = intArg(args, "stride", 1, 1), padding = intArg(args, "padding", 0, 0),
                         dilation = intArg(args, "dilation", 1, 1), groups = intArg(args, "groups", 1, 1);
  std::optional<bool> bias = boolArg(args, "bias", true);
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
      builder, opLoc(call), irType(x->shape), x->value, w, b,
      builder.getDenseI64ArrayAttr({*stride, *stride}), builder.getDenseI64ArrayAttr({*padding, *padding}),
      builder.getDenseI64ArrayAttr({*dilation, *dilation}), builder.getI64IntegerAttr(*groups));
  return finish(op, *x);
}

std::optional<Tensor> MLIRGenImpl::genPool(const CallExpr &call, const BoundArgs &args, StringRef kind) {
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
  auto op = mlir::attn::Pool2DOp::create(
      builder, opLoc(call), irType(x->shape), x->value, builder.getStringAttr(kind),
      builder.getDenseI64ArrayAttr({*kernel, *kernel}), builder.getDenseI64ArrayAttr({*stride, *stride}),
      builder.getDenseI64ArrayAttr({*padding, *padding}));
  return finish(op, *x);
}

std::optional<Tensor> MLIRGenImpl::genGlobalPool(const CallExpr &call, const BoundArgs &args) {
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

std::optional<Tensor> MLIRGenImpl::genBatchNorm(const CallExpr &call, const BoundArgs &args,
                                                const std::string &prefix) {
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
  // The running statistics start as PyTorch's, at mean 0 and variance 1 (drawn like weights, a variance
  // could be negative, and a model evaluated before training would take square roots of it).
  mlir::Value w = param(prefix + ".weight", {c}, l), b = param(prefix + ".bias", {c}, l),
              mean = param(prefix + ".running_mean", {c}, l, "zeros"),
              var = param(prefix + ".running_var", {c}, l, "ones");
  auto op = mlir::attn::BatchNormOp::create(builder, opLoc(call), irType(x->shape), x->value, w, b, mean, var,
                                            builder.getF32FloatAttr(static_cast<float>(eps->value)));
  return finish(op, *x);
}

std::optional<Tensor> MLIRGenImpl::genFlatten(const CallExpr &call, const BoundArgs &args) {
  const Expr &e = *args.get("x");
  std::optional<Tensor> x = genTensor(e, false, "'x'");
  if (!x || !expectF32(*x, e, "flatten", "x"))
    return std::nullopt;
  if (x->shape.size() < 2 || llvm::any_of(llvm::ArrayRef(x->shape).drop_front(),
                                          [](const SymDim &d) { return !d.symbol.empty(); })) {
    error(e.getLoc()) << "flatten expects constant dimensions after the first, found " << str(x->shape);
    return std::nullopt;
  }
  auto op = mlir::attn::FlattenOp::create(builder, opLoc(call), irType(x->shape), x->value);
  return finish(op, *x);
}

} // namespace attn::gen
