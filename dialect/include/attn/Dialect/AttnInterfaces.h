// Interfaces of attn ops: where each result dimension comes from; ops that draw random numbers in training.
#ifndef ATTN_DIALECT_ATTNINTERFACES_H
#define ATTN_DIALECT_ATTNINTERFACES_H

#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"

namespace mlir::attn {

/// One result dimension: dimension `dim` of operand `operand`, or the constant `size` when `operand` < 0.
struct DimSource {
  int operand = -1;
  unsigned dim = 0;
  int64_t size = 0;

  static DimSource of(int operand, unsigned dim) { return {operand, dim, 0}; }
  static DimSource constant(int64_t size) { return {-1, 0, size}; }
  bool isConstant() const { return operand < 0; }
};

} // namespace mlir::attn

#include "attn/Dialect/AttnInterfaces.h.inc"

#endif // ATTN_DIALECT_ATTNINTERFACES_H
