// The compile-time side of the semantic pass: constant numbers, booleans and dimensions evaluated from the
// model's expressions, and symbolic shapes (a dimension is a size or a symbol such as `B`) printed, turned
// into IR tensor types and read back from an op's own definition of its result shape.
#include "MLIRGenImpl.h"

#include "attn/Dialect/AttnOps.h"

#include <cmath>
#include <cstdio>

namespace attn::gen {

std::string str(const SymShape &shape) {
  std::string out = "[";
  for (size_t i = 0; i < shape.size(); ++i)
    out += (i ? ", " : "") + shape[i].str();
  return out + "]";
}

std::string str(double value) {
  char buffer[32];
  snprintf(buffer, sizeof buffer, "%g", value);
  return buffer;
}

bool MLIRGenImpl::isNumber(const Expr &e) const {
  if (llvm::isa<NumberExpr>(&e))
    return true;
  if (auto *id = llvm::dyn_cast<IdentExpr>(&e))
    return consts.count(id->getName()) > 0;
  if (auto *b = llvm::dyn_cast<BinaryExpr>(&e))
    return !b->isComparison() && isNumber(b->getLHS()) && isNumber(b->getRHS());
  return false;
}

std::optional<Number> MLIRGenImpl::evalNumber(const Expr &e) {
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
  if (auto *b = llvm::dyn_cast<BinaryExpr>(&e); b && b->isComparison()) {
    error(e.getLoc()) << "a comparison makes a mask tensor; expected a constant number";
    return std::nullopt;
  }
  if (auto *b = llvm::dyn_cast<BinaryExpr>(&e)) {
    std::optional<Number> l = evalNumber(b->getLHS()), r = evalNumber(b->getRHS());
    if (!l || !r)
      return std::nullopt;
    bool ints = l->isInteger && r->isInteger;
    switch (b->getOp().front()) {
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

std::optional<int64_t> MLIRGenImpl::evalInt(const Expr &e, StringRef what) {
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
std::optional<SymDim> MLIRGenImpl::evalDim(const Expr &e) {
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
  if (*n > kMaxSize) {
    error(e.getLoc()) << "a dimension may be at most " << kMaxSize << ", found " << *n;
    return std::nullopt;
  }
  return SymDim{*n, ""};
}

std::optional<bool> MLIRGenImpl::evalBool(const Expr &e, StringRef what) {
  if (auto *b = llvm::dyn_cast<BoolExpr>(&e))
    return b->getValue();
  error(e.getLoc()) << "expected 'true' or 'false' for " << what;
  return std::nullopt;
}

mlir::RankedTensorType MLIRGenImpl::irType(const SymShape &shape) {
  std::vector<int64_t> dims;
  for (const SymDim &d : shape)
    dims.push_back(d.symbol.empty() ? d.size : mlir::ShapedType::kDynamic);
  return mlir::RankedTensorType::get(dims, builder.getF32Type());
}

/// Sets the result type of a freshly built op from its dimension sources (the dialect's single
/// definition of its shape) and returns the result with its symbolic shape. `x` is operand 0.
Tensor MLIRGenImpl::finish(mlir::Operation *op, const Tensor &x) {
  SymShape shape;
  for (const mlir::attn::DimSource &src :
       llvm::cast<mlir::attn::ShapedOpInterface>(op).getResultDimSources()) {
    if (src.isConstant())
      shape.push_back({src.size, ""});
    else if (src.operand == 0)
      shape.push_back(x.shape[src.dim]);
    else
      shape.push_back(
          {llvm::cast<mlir::RankedTensorType>(op->getOperand(src.operand).getType()).getDimSize(src.dim),
           ""});
  }
  op->getResult(0).setType(irType(shape));
  return Tensor{op->getResult(0), shape};
}

Tensor MLIRGenImpl::squeeze(const Tensor &t, int64_t axis, mlir::Location at) {
  SymShape shape = t.shape;
  shape.erase(shape.begin() + axis);
  auto op =
      mlir::attn::SqueezeOp::create(builder, at, irType(shape), t.value, builder.getI64IntegerAttr(axis));
  return Tensor{op.getResult(), shape};
}

bool MLIRGenImpl::expectF32(const Tensor &t, const Expr &e, StringRef layer, StringRef param) {
  if (!t.isI32)
    return true;
  error(e.getLoc()) << layer << " expects an f32 tensor for '" << param << "', found i32"
                    << (t.name.empty() ? "" : " tensor '" + t.name + "'");
  return false;
}

} // namespace attn::gen
