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
/// Marks ops computed element by element from their first operand (see Attn_Elementwise in AttnOps.td).
template <typename ConcreteType>
class Elementwise : public OpTrait::TraitBase<ConcreteType, Elementwise> {};
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
