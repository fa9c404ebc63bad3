// Elementwise choices and selections built from primitives: pow, maximum, minimum, clamp, where (with the
// comparisons of GenTensorOps.cpp making its masks), argmax and slice.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

namespace attn::gen {

/// The broadcast shape of `a` and `b`, the operands of `what`; none after reporting at `at` where they do
/// not broadcast.
std::optional<SymShape> MLIRGenImpl::broadcastOrError(const Tensor &a, const Tensor &b, const Expr &at,
                                                      StringRef what) {
  SymDim left, right;
  std::optional<SymShape> shape = broadcastShapes(a.shape, b.shape, left, right);
  if (!shape)
    error(at.getLoc()) << "the operands of " << what << " have shapes " << str(a.shape) << " and "
                       << str(b.shape) << ", which do not broadcast: " << left.str() << " meets "
                       << right.str() << " (sizes must be equal, or one of them 1)";
  return shape;
}

/// attn.maximum (`max`) or attn.minimum of `a` and `b`.
mlir::Value MLIRGenImpl::extremum(bool max, mlir::Value a, mlir::Value b, mlir::Location l) {
  if (max)
    return mlir::attn::MaximumOp::create(builder, l, a, b);
  return mlir::attn::MinimumOp::create(builder, l, a, b);
}

/// `pow(x, exponent)` with a constant exponent.
std::optional<Tensor> MLIRGenImpl::genPow(const CallExpr &call, const BoundArgs &args) {
  std::optional<Tensor> x = genTensor(*args.get("x"), false, "'x'");
  std::optional<Number> c = evalNumber(*args.get("exponent"));
  if (!x || !c || !expectF32(*x, *args.get("x"), "pow", "x"))
    return std::nullopt;
  auto op = mlir::attn::PowOp::create(builder, opLoc(call), x->value.getType(), x->value,
                                      builder.getF32FloatAttr(static_cast<float>(c->value)));
  return Tensor{op.getResult(), x->shape};
}

/// `maximum(a, b)`, `minimum(a, b)`: tensors or numbers, broadcasting.
std::optional<Tensor> MLIRGenImpl::genExtremum(const CallExpr &call, const BoundArgs &args, StringRef name) {
  const Expr &ae = *args.get("a"), &be = *args.get("b");
  if (isNumber(ae) && isNumber(be)) {
    error(call.getLoc()) << name << " of two numbers is a number, not a tensor: declare it with 'const'";
    return std::nullopt;
  }
  std::string what = "'" + name.str() + "'";
  std::optional<Tensor> a = genOperand(ae, what, "first"), b = genOperand(be, what, "second");
  if (!a || !b)
    return std::nullopt;
  std::optional<SymShape> shape = broadcastOrError(*a, *b, call, what);
  if (!shape)
    return std::nullopt;
  return Tensor{extremum(name == "maximum", a->value, b->value, opLoc(call)), *shape};
}

/// `clamp(x, min = lo, max = hi)`: minimum(maximum(x, lo), hi), as torch.clamp; either bound may be left
/// out, not both.
std::optional<Tensor> MLIRGenImpl::genClamp(const CallExpr &call, const BoundArgs &args) {
  const Expr &xe = *args.get("x");
  std::optional<Tensor> x = genTensor(xe, false, "'x'");
  if (!x || !expectF32(*x, xe, "clamp", "x"))
    return std::nullopt;
  if (!args.get("min") && !args.get("max")) {
    error(call.getLoc()) << "clamp needs 'min', 'max' or both; usage: clamp(x, min = a, max = b)";
    return std::nullopt;
  }
  mlir::Location l = opLoc(call);
  for (StringRef bound : {"min", "max"}) {
    const Expr *e = args.get(bound);
    if (!e)
      continue;
    std::optional<Tensor> b = genOperand(*e, "'clamp'", bound);
    if (!b)
      return std::nullopt;
    std::optional<SymShape> shape = broadcastOrError(*x, *b, *e, "'clamp'");
    if (!shape)
      return std::nullopt;
    x = Tensor{extremum(/*max=*/bound == "min", x->value, b->value, l), *shape};
  }
  return x;
}

/// `where(mask, a, b)`: a where the mask is not 0, else b. `a` and `b` (tensors or numbers) broadcast; the
/// mask broadcasts to their shape without enlarging it.
std::optional<Tensor> MLIRGenImpl::genWhere(const CallExpr &call, const BoundArgs &args) {
  const Expr &me = *args.get("mask"), &ae = *args.get("a"), &be = *args.get("b");
  if (isNumber(ae) && isNumber(be) && isNumber(me)) {
    error(call.getLoc()) << "where of numbers is a number, not a tensor: declare it with 'const'";
    return std::nullopt;
  }
  std::optional<Tensor> mask = genOperand(me, "'where'", "mask"), a = genOperand(ae, "'where'", "first"),
                        b = genOperand(be, "'where'", "second");
  if (!mask || !a || !b)
    return std::nullopt;
  std::optional<SymShape> shape = broadcastOrError(*a, *b, call, "'where'");
  if (!shape)
    return std::nullopt;
  SymDim left, right;
  std::optional<SymShape> withMask = broadcastShapes(*shape, mask->shape, left, right);
  if (!withMask || *withMask != *shape) {
    error(me.getLoc()) << "the mask of 'where' has shape " << str(mask->shape)
                       << ", which does not broadcast to the shape of its operands, " << str(*shape);
    return std::nullopt;
  }
  auto op =
      mlir::attn::SelectOp::create(builder, opLoc(call), irType(*shape), mask->value, a->value, b->value);
  return Tensor{op.getResult(), *shape};
}

/// `argmax(x, axis = -1)`: the first index of the largest element along the axis, as i32.
std::optional<Tensor> MLIRGenImpl::genArgmax(const CallExpr &call, const BoundArgs &args) {
  std::optional<Tensor> x = rankedInput(args, "argmax");
  if (!x)
    return std::nullopt;
  std::optional<int64_t> axis = axisArg(call, args, "axis", -1, x->shape.size());
  if (!axis)
    return std::nullopt;
  SymShape shape = x->shape;
  shape.erase(shape.begin() + *axis);
  auto type = mlir::RankedTensorType::get(irType(shape).getShape(), builder.getI32Type());
  auto op =
      mlir::attn::ArgmaxOp::create(builder, opLoc(call), type, x->value, builder.getI64IntegerAttr(*axis));
  return Tensor{op.getResult(), shape, /*isI32=*/true};
}

/// `slice(x, axis, start, end)`: positions start ≤ i < end of a constant dimension; negative positions
/// count from its end, as in Python, and `end` defaults to the end.
std::optional<Tensor> MLIRGenImpl::genSlice(const CallExpr &call, const BoundArgs &args) {
  std::optional<Tensor> x = rankedInput(args, "slice");
  if (!x)
    return std::nullopt;
  std::optional<int64_t> axis = axisArg(call, args, "axis", 0, x->shape.size());
  if (!axis)
    return std::nullopt;
  const SymDim &dim = x->shape[*axis];
  if (!dim.symbol.empty()) {
    error(args.get("axis")->getLoc()) << "slice needs a constant dimension; dimension " << *axis << " of "
                                      << str(x->shape) << " is '" << dim.symbol << "', bound at run time";
    return std::nullopt;
  }
  std::optional<int64_t> start = evalInt(*args.get("start"), "'start'");
  std::optional<int64_t> end = args.get("end") ? evalInt(*args.get("end"), "'end'") : dim.size;
  if (!start || !end)
    return std::nullopt;
  int64_t from = *start < 0 ? *start + dim.size : *start, to = *end < 0 ? *end + dim.size : *end;
  if (from < 0 || to > dim.size || from >= to) {
    error(call.getLoc()) << "slice [" << *start << ", " << *end << ") of a dimension of size " << dim.size
                         << " is empty or out of range";
    return std::nullopt;
  }
  SymShape shape = x->shape;
  shape[*axis].size = to - from;
  auto op = mlir::attn::SliceOp::create(builder, opLoc(call), irType(shape), x->value,
                                        builder.getI64IntegerAttr(*axis), builder.getI64IntegerAttr(from),
                                        builder.getI64IntegerAttr(to - from));
  return Tensor{op.getResult(), shape};
}

} // namespace attn::gen
