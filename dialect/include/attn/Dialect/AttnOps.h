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
} // namespace mlir::attn

#define GET_OP_CLASSES
#include "attn/Dialect/AttnOps.h.inc"

#endif // ATTN_DIALECT_ATTNOPS_H
