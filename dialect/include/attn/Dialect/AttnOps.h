// The ops of the attn dialect.
#ifndef ATTN_DIALECT_ATTNOPS_H
#define ATTN_DIALECT_ATTNOPS_H

#include "attn/Dialect/AttnDialect.h"
#include "attn/Dialect/AttnInterfaces.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/IR/OpImplementation.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"

namespace mlir::attn {
/// Marks ops that only move or select elements (see Attn_Reindexing in AttnOps.td).
template <typename ConcreteType>
class Reindexing : public OpTrait::TraitBase<ConcreteType, Reindexing> {};
/// Marks ops computed element by element (see Attn_Elementwise in AttnOps.td).
template <typename ConcreteType>
class Elementwise : public OpTrait::TraitBase<ConcreteType, Elementwise> {};

/// The f32 tensor type of a broadcasting binary op's result for operands of types `a` and `b` (NumPy's
/// rules, see attn.add); where two static sizes conflict, the first operand's (the verifier reports it).
RankedTensorType broadcastType(Type a, Type b);
} // namespace mlir::attn

#define GET_OP_CLASSES
#include "attn/Dialect/AttnOps.h.inc"

namespace mlir::attn {
/// Where dimension `dim` of `v` comes from: followed back through the ops that give their result that
/// dimension of an operand (ShapedOpInterface) and through kernel boundaries, until `stop` holds for a
/// value or nothing says more. Returns that value and its dimension.
std::pair<Value, unsigned> traceDimension(Value v, unsigned dim, function_ref<bool(Value)> stop);
} // namespace mlir::attn

#endif // ATTN_DIALECT_ATTNOPS_H
