// The element-wise and structural layers: tensor arithmetic, activations, dense, layer norm, dropout, random
// shifts, concat, reshape, transpose and split, and the losses (cross_entropy, mse) that `train` minimizes.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"

#include <functional>

namespace attn::gen {

/// An operand of arithmetic: an f32 tensor, or a number (a constant expression) as a scalar.
std::optional<Tensor> MLIRGenImpl::genOperand(const Expr &e, StringRef opName, StringRef side) {
  if (isNumber(e)) {
    std::optional<Number> n = evalNumber(e);
    if (!n)
      return std::nullopt;
    auto scalar = mlir::RankedTensorType::get({}, builder.getF32Type());
    mlir::Value v = mlir::attn::ConstantOp::create(builder, opLoc(e), scalar,
                                                   builder.getF32FloatAttr(static_cast<float>(n->value)));
    return Tensor{v, {}};
  }
  std::optional<Tensor> t = genTensor(e, false, ("the " + side + " operand of " + opName).str());
  if (!t || !expectF32(*t, e, opName, (side + " operand").str()))
    return std::nullopt;
  return t;
}

/// `a + b`, `a - b`, `a * b`, `a / b` and the comparisons (masks of 1 and 0) on f32 tensors and numbers
/// under NumPy's broadcasting: the shapes align at their last dimension, and a dimension one operand lacks
/// or has as 1 repeats along the other's.
std::optional<Tensor> MLIRGenImpl::genArithmetic(const BinaryExpr &e) {
  std::string opName = ("'" + e.getOp() + "'").str();
  if (isNumber(e.getLHS()) && isNumber(e.getRHS())) {
    error(e.getLoc()) << opName << " of two numbers is a number, not a tensor: declare it with 'const'";
    return std::nullopt;
  }
  // `-x` is `0 - x` with the 0 at the minus sign (the parser's unary minus): a negation.
  auto *zero = llvm::dyn_cast<NumberExpr>(&e.getLHS());
  if (e.getOp() == "-" && zero && zero->getValue() == 0.0 && zero->getLoc().loc == e.getLoc().loc &&
      !isNumber(e.getRHS())) {
    std::optional<Tensor> x = genOperand(e.getRHS(), "'-'", "negated");
    if (!x)
      return std::nullopt;
    return Tensor{mlir::attn::NegOp::create(builder, opLoc(e), x->value), x->shape};
  }
  std::optional<Tensor> lhs = genOperand(e.getLHS(), opName, "left");
  std::optional<Tensor> rhs = genOperand(e.getRHS(), opName, "right");
  if (!lhs || !rhs)
    return std::nullopt;
  std::optional<SymShape> shape = broadcastOrError(*lhs, *rhs, e, opName);
  if (!shape)
    return std::nullopt;
  mlir::Location l = opLoc(e);
  mlir::Value a = lhs->value, b = rhs->value;
  mlir::Value v = llvm::StringSwitch<std::function<mlir::Value()>>(e.getOp())
                      .Case("+", [&] { return mlir::attn::AddOp::create(builder, l, a, b); })
                      .Case("-", [&] { return mlir::attn::SubOp::create(builder, l, a, b); })
                      .Case("*", [&] { return mlir::attn::MulOp::create(builder, l, a, b); })
                      .Case("/", [&] { return mlir::attn::DivOp::create(builder, l, a, b); })
                      .Case("<", [&] { return mlir::attn::LessOp::create(builder, l, a, b); })
                      .Case("<=", [&] { return mlir::attn::LessEqualOp::create(builder, l, a, b); })
                      .Case(">", [&] { return mlir::attn::GreaterOp::create(builder, l, a, b); })
                      .Case(">=", [&] { return mlir::attn::GreaterEqualOp::create(builder, l, a, b); })
                      .Case("==", [&] { return mlir::attn::EqualOp::create(builder, l, a, b); })
                      .Default([&] { return mlir::attn::NotEqualOp::create(builder, l, a, b); })();
  return Tensor{v, *shape};
}

/// NumPy's broadcast of two shapes, aligned at their last dimension; where two sizes conflict, none, with
/// `left` and `right` set to them.
std::optional<SymShape> MLIRGenImpl::broadcastShapes(const SymShape &x, const SymShape &y, SymDim &left,
                                                     SymDim &right) {
  size_t rank = std::max(x.size(), y.size());
  SymShape shape(rank);
  const SymDim one{1, ""};
  for (size_t i = 0; i < rank; ++i) { // from the last dimension
    left = i < x.size() ? x[x.size() - 1 - i] : one;
    right = i < y.size() ? y[y.size() - 1 - i] : one;
    if (!(left == right) && !(left == one) && !(right == one))
      return std::nullopt;
    shape[rank - 1 - i] = left == one ? right : left;
  }
  return shape;
}

/// matmul(a, b, transpose_b = false): [..., M, K] times [..., K, N] (or [..., N, K] with transpose_b) gives
/// [..., M, N], the leading dimensions broadcasting as in arithmetic.
std::optional<Tensor> MLIRGenImpl::genMatmul(const CallExpr &call, const BoundArgs &args) {
  const Expr &ae = *args.get("a"), &be = *args.get("b");
  std::optional<Tensor> a = genTensor(ae, false, "'a'"), b = genTensor(be, false, "'b'");
  if (!a || !b || !expectF32(*a, ae, "matmul", "a") || !expectF32(*b, be, "matmul", "b"))
    return std::nullopt;
  std::optional<bool> transposeB = boolArg(args, "transpose_b", false);
  if (!transposeB)
    return std::nullopt;
  if (a->shape.size() < 2 || b->shape.size() < 2) {
    error(call.getLoc()) << "matmul expects tensors of rank >= 2, found " << str(a->shape) << " and "
                         << str(b->shape);
    return std::nullopt;
  }
  const SymDim &k = a->shape.back(), &kb = b->shape[b->shape.size() - (*transposeB ? 1 : 2)];
  if (!(k == kb)) {
    error(call.getLoc()) << "matmul contracts the last dimension of 'a' " << str(a->shape) << " with the "
                         << (*transposeB ? "last" : "second-to-last") << " of 'b' " << str(b->shape)
                         << ", but " << k.str() << " and " << kb.str() << " differ";
    return std::nullopt;
  }
  SymDim left, right;
  std::optional<SymShape> shape =
      broadcastShapes(SymShape(a->shape.begin(), a->shape.end() - 2),
                      SymShape(b->shape.begin(), b->shape.end() - 2), left, right);
  if (!shape) {
    error(call.getLoc()) << "the batch dimensions of matmul's " << str(a->shape) << " and " << str(b->shape)
                         << " do not broadcast: " << left.str() << " meets " << right.str();
    return std::nullopt;
  }
  shape->push_back(a->shape[a->shape.size() - 2]);
  shape->push_back(b->shape[b->shape.size() - (*transposeB ? 2 : 1)]);
  auto op = mlir::attn::MatmulOp::create(builder, opLoc(call), irType(*shape), a->value, b->value,
                                         *transposeB ? builder.getUnitAttr() : mlir::UnitAttr());
  return Tensor{op.getResult(), *shape};
}

/// The argument `x` of `layer`: an f32 tensor of rank ≥ 1; none after reporting otherwise.
std::optional<Tensor> MLIRGenImpl::rankedInput(const BoundArgs &args, StringRef layer) {
  const Expr &xe = *args.get("x");
  std::optional<Tensor> x = genTensor(xe, false, "'x'");
  if (!x || !expectF32(*x, xe, layer, "x"))
    return std::nullopt;
  if (x->shape.empty()) {
    error(xe.getLoc()) << layer << " expects a tensor of rank >= 1";
    return std::nullopt;
  }
  return x;
}

std::optional<Tensor> MLIRGenImpl::genUnary(const CallExpr &call, const BoundArgs &args, StringRef name) {
  std::optional<Tensor> x = rankedInput(args, name);
  if (!x)
    return std::nullopt;
  mlir::Location l = opLoc(call);
  // softmax and log_softmax along another axis: swapped with the last, which the op normalizes over.
  std::optional<int64_t> axis = int64_t(x->shape.size()) - 1;
  if (name == "softmax" || name == "log_softmax")
    axis = axisArg(call, args, "axis", -1, x->shape.size());
  if (!axis)
    return std::nullopt;
  int64_t last = int64_t(x->shape.size()) - 1;
  if (*axis != last)
    x = swapAxes(*x, *axis, last, l);
  mlir::Value v =
      llvm::StringSwitch<std::function<mlir::Value()>>(name)
          .Case("relu", [&] { return mlir::attn::ReluOp::create(builder, l, x->value).getResult(); })
          .Case("tanh", [&] { return mlir::attn::TanhOp::create(builder, l, x->value).getResult(); })
          .Case("sigmoid", [&] { return mlir::attn::SigmoidOp::create(builder, l, x->value).getResult(); })
          .Case("gelu", [&] { return mlir::attn::GeluOp::create(builder, l, x->value).getResult(); })
          .Case("exp", [&] { return mlir::attn::ExpOp::create(builder, l, x->value).getResult(); })
          .Case("log", [&] { return mlir::attn::LogOp::create(builder, l, x->value).getResult(); })
          .Case("sqrt", [&] { return mlir::attn::SqrtOp::create(builder, l, x->value).getResult(); })
          .Case("rsqrt", [&] { return mlir::attn::RsqrtOp::create(builder, l, x->value).getResult(); })
          .Case("abs", [&] { return mlir::attn::AbsOp::create(builder, l, x->value).getResult(); })
          .Case("log_softmax",
                [&] { return mlir::attn::LogSoftmaxOp::create(builder, l, x->value).getResult(); })
          .Default([&] { return mlir::attn::SoftmaxOp::create(builder, l, x->value).getResult(); })();
  Tensor y{v, x->shape};
  return *axis == last ? y : swapAxes(y, *axis, last, l);
}

/// `x` with dimensions `a` and `b` swapped (a transpose, which costs nothing inside a kernel).
Tensor MLIRGenImpl::swapAxes(const Tensor &x, int64_t a, int64_t b, mlir::Location at) {
  llvm::SmallVector<int64_t> perm;
  for (int64_t i = 0; i < static_cast<int64_t>(x.shape.size()); ++i)
    perm.push_back(i == a ? b : i == b ? a : i);
  SymShape shape = x.shape;
  std::swap(shape[a], shape[b]);
  auto op = mlir::attn::TransposeOp::create(builder, at, irType(shape), x.value,
                                            builder.getDenseI64ArrayAttr(perm));
  return Tensor{op.getResult(), shape};
}

/// sum, mean, max or min of `x` over `axis` (one axis or a list of them, negative from the end; default
/// the last), keeping the reduced dimensions with size 1 if `keepdims`.
std::optional<Tensor> MLIRGenImpl::genReduce(const CallExpr &call, const BoundArgs &args, StringRef kind) {
  std::optional<Tensor> x = rankedInput(args, kind);
  if (!x)
    return std::nullopt;
  int64_t rank = static_cast<int64_t>(x->shape.size());
  std::vector<int64_t> axes;
  const Expr *axisExpr = args.get("axis");
  auto *list = axisExpr ? llvm::dyn_cast<ListExpr>(axisExpr) : nullptr;
  if (list) {
    if (list->getElements().empty()) {
      error(list->getLoc()) << kind << " expects at least one axis";
      return std::nullopt;
    }
    for (const ExprPtr &e : list->getElements()) {
      std::optional<int64_t> a = evalInt(*e, "an axis");
      if (!a)
        return std::nullopt;
      if (*a < -rank || *a >= rank) {
        error(e->getLoc()) << "expected an axis in [" << -rank << ", " << rank - 1
                           << "] for a tensor of rank " << rank << ", found " << *a;
        return std::nullopt;
      }
      int64_t axis = *a < 0 ? *a + rank : *a;
      if (llvm::is_contained(axes, axis)) {
        error(e->getLoc()) << "axis " << axis << " is listed twice";
        return std::nullopt;
      }
      axes.push_back(axis);
    }
  } else {
    std::optional<int64_t> a = axisArg(call, args, "axis", -1, x->shape.size());
    if (!a)
      return std::nullopt;
    axes.push_back(*a);
  }
  std::optional<bool> keep = boolArg(args, "keepdims", false);
  if (!keep)
    return std::nullopt;
  llvm::sort(axes, std::greater<int64_t>());
  mlir::Location l = opLoc(call);
  Tensor t = *x;
  for (int64_t axis : axes) {
    t.shape[axis] = SymDim{1, ""};
    t.value = mlir::attn::ReduceOp::create(builder, l, irType(t.shape), t.value,
                                           builder.getI64IntegerAttr(axis), builder.getStringAttr(kind));
  }
  if (!*keep)
    for (int64_t axis : axes) // from the last, so that the others keep their place
      t = squeeze(t, axis, l);
  return Tensor{t.value, t.shape};
}

/// expand_dims(x, axis) inserts a dimension of size 1 before `axis` (in [-rank - 1, rank], negative from the
/// end); squeeze(x, axis) removes a dimension of size 1.
std::optional<Tensor> MLIRGenImpl::genExpandOrSqueeze(const CallExpr &call, const BoundArgs &args,
                                                      StringRef name) {
  const Expr &xe = *args.get("x");
  std::optional<Tensor> x = genTensor(xe, false, "'x'");
  if (!x || !expectF32(*x, xe, name, "x"))
    return std::nullopt;
  bool expand = name == "expand_dims";
  std::optional<int64_t> axis = axisArg(call, args, "axis", 0, x->shape.size() + (expand ? 1 : 0));
  if (!axis)
    return std::nullopt;
  mlir::Location l = opLoc(call);
  if (!expand) {
    if (!(x->shape[*axis] == SymDim{1, ""})) {
      error(call.getLoc()) << "squeeze removes a dimension of size 1, but dimension " << *axis << " of "
                           << str(x->shape) << " is " << x->shape[*axis].str();
      return std::nullopt;
    }
    Tensor t = squeeze(*x, *axis, l);
    return Tensor{t.value, t.shape};
  }
  SymShape shape = x->shape;
  shape.insert(shape.begin() + *axis, SymDim{1, ""});
  auto op =
      mlir::attn::ExpandDimsOp::create(builder, l, irType(shape), x->value, builder.getI64IntegerAttr(*axis));
  return Tensor{op.getResult(), shape};
}

std::optional<Tensor> MLIRGenImpl::genDense(const CallExpr &call, const BoundArgs &args,
                                            const std::string &prefix) {
  std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
  std::optional<int64_t> units = evalInt(*args.get("units"), "'units'");
  std::optional<bool> bias = boolArg(args, "bias", true);
  if (!x || !units || !bias || !expectF32(*x, *args.get("x"), "dense", "x"))
    return std::nullopt;
  if (*units < 1) {
    error(args.get("units")->getLoc()) << "expected a positive number of units, found " << *units;
    return std::nullopt;
  }
  if (*units > kMaxSize) {
    error(args.get("units")->getLoc()) << "expected at most " << kMaxSize << " units, found " << *units;
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

std::optional<Tensor> MLIRGenImpl::genLayerNorm(const CallExpr &call, const BoundArgs &args,
                                                const std::string &prefix) {
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

/// dropout(x, rate): inverted dropout in training (the gradient program draws the mask), the identity at
/// inference (attn-autodiff removes it from the model's function).
std::optional<Tensor> MLIRGenImpl::genDropout(const CallExpr &call, const BoundArgs &args) {
  std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
  double rate = 0.1;
  if (const Expr *r = args.get("rate")) {
    std::optional<Number> value = evalNumber(*r);
    if (!value)
      return std::nullopt;
    if (!(value->value >= 0 && value->value < 1)) {
      error(r->getLoc()) << "expected a dropout rate in [0, 1), found " << str(value->value);
      return std::nullopt;
    }
    rate = value->value;
  }
  if (!x || !expectF32(*x, *args.get("x"), "dropout", "x"))
    return std::nullopt;
  auto op = mlir::attn::DropoutOp::create(builder, opLoc(call), irType(x->shape), x->value, mlir::Value(),
                                          builder.getF32FloatAttr(static_cast<float>(rate)),
                                          builder.getI64IntegerAttr(randomStreams++));
  return Tensor{op.getResult(), x->shape};
}

/// random_shift(x, pixels): data augmentation in training, each example of images [N, ..., H, W] shifted by
/// up to `pixels` in each direction with zeros filling in (the gradient program draws the offsets); the
/// identity at inference.
std::optional<Tensor> MLIRGenImpl::genRandomShift(const CallExpr &call, const BoundArgs &args) {
  std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
  std::optional<int64_t> pixels = intArg(args, "pixels", 1, 1);
  if (!x || !pixels || !expectF32(*x, *args.get("x"), "random_shift", "x"))
    return std::nullopt;
  if (x->shape.size() < 3) {
    error(args.get("x")->getLoc()) << "random_shift expects images [batch, ..., height, width] of rank 3 "
                                      "or more, found "
                                   << str(x->shape);
    return std::nullopt;
  }
  auto op = mlir::attn::RandomShiftOp::create(builder, opLoc(call), irType(x->shape), x->value, mlir::Value(),
                                              builder.getI64IntegerAttr(*pixels),
                                              builder.getI64IntegerAttr(randomStreams++), nullptr);
  return Tensor{op.getResult(), x->shape};
}

/// concat(a, b) along the last dimension.
std::optional<Tensor> MLIRGenImpl::genConcat(const CallExpr &call, const BoundArgs &args) {
  const Expr &ae = *args.get("a"), &be = *args.get("b");
  std::optional<Tensor> a = genTensor(ae, false, "'a'"), b = genTensor(be, false, "'b'");
  if (!a || !b || !expectF32(*a, ae, "concat", "a") || !expectF32(*b, be, "concat", "b"))
    return std::nullopt;
  SymShape aLead(a->shape.begin(), a->shape.end() - (a->shape.empty() ? 0 : 1));
  SymShape bLead(b->shape.begin(), b->shape.end() - (b->shape.empty() ? 0 : 1));
  if (a->shape.empty() || aLead != bLead || !a->shape.back().symbol.empty() ||
      !b->shape.back().symbol.empty()) {
    error(call.getLoc()) << "concat joins tensors along a constant last dimension and needs the same leading "
                         << "dimensions, found " << str(a->shape) << " and " << str(b->shape);
    return std::nullopt;
  }
  auto op = mlir::attn::ConcatOp::create(builder, opLoc(call), irType(a->shape), a->value, b->value);
  return finish(op, *a);
}

/// reshape(x, [d...]): the same elements in row-major order. Each d is a symbolic dimension, a positive
/// constant, or -1 (at most once) for the constant that makes the element counts agree; the symbolic
/// dimensions must be the input's, in the same order.
std::optional<Tensor> MLIRGenImpl::genReshape(const CallExpr &call, const BoundArgs &args) {
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
                                << (symbols(shape).empty() ? "tensor" : "symbolic index")
                                << " do not divide by " << want;
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
bool MLIRGenImpl::isMinusOne(const Expr &e) {
  auto *b = llvm::dyn_cast<BinaryExpr>(&e);
  auto number = [](const Expr &x, double v) {
    auto *n = llvm::dyn_cast<NumberExpr>(&x);
    return n && n->isInteger() && n->getValue() == v;
  };
  return b && b->getOp() == "-" && number(b->getLHS(), 0) && number(b->getRHS(), 1);
}

/// transpose(x, a, b): swaps dimensions a and b.
std::optional<Tensor> MLIRGenImpl::genTranspose(const CallExpr &call, const BoundArgs &args) {
  const Expr &xe = *args.get("x");
  std::optional<Tensor> x = genTensor(xe, false, "'x'");
  if (!x || !expectF32(*x, xe, "transpose", "x"))
    return std::nullopt;
  std::optional<int64_t> a = axisArg(call, args, "a", 0, x->shape.size()),
                         b = axisArg(call, args, "b", 0, x->shape.size());
  if (!a || !b)
    return std::nullopt;
  Tensor t = swapAxes(*x, *a, *b, opLoc(call));
  return Tensor{t.value, t.shape};
}

/// a, b, ... = split(x, parts, axis = -1): equal parts of a constant dimension, one slice each.
std::optional<Tensor> MLIRGenImpl::genSplit(const CallExpr &call, const BoundArgs &args, bool topLevel) {
  const Expr &xe = *args.get("x");
  std::optional<Tensor> x = genTensor(xe, false, "'x'");
  std::optional<int64_t> parts = intArg(args, "parts", 1, 1);
  if (!x || !parts || !expectF32(*x, xe, "split", "x"))
    return std::nullopt;
  std::optional<int64_t> axis = axisArg(call, args, "axis", -1, x->shape.size());
  if (!axis)
    return std::nullopt;
  if (!topLevel || wantedResults != static_cast<size_t>(*parts)) {
    error(call.getLoc()) << "split into " << *parts << " parts gives " << *parts
                         << " results; assign them to " << *parts << " names, as in a, b = split(x, 2)";
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
    auto op = mlir::attn::SliceOp::create(
        builder, opLoc(call), irType(shape), x->value, builder.getI64IntegerAttr(*axis),
        builder.getI64IntegerAttr(p * size), builder.getI64IntegerAttr(size));
    lastResults.push_back(Tensor{op.getResult(), shape});
  }
  return lastResults.front();
}

/// cross_entropy(logits [..., V], targets [...] i32, ignore, label_smoothing) and mse(a, b): scalars.
std::optional<Tensor> MLIRGenImpl::genLoss(const CallExpr &call, const BoundArgs &args, StringRef name) {
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
    boundInput(b->value, mlir::attn::AttnDialect::kIgnoreIdAttr, ignore);
  }
  boundInput(b->value, mlir::attn::AttnDialect::kClassesAttr,
             builder.getI64IntegerAttr(a->shape.back().size));
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

} // namespace attn::gen
