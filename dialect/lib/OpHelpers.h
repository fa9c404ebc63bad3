// The checks that the verifiers of attn ops share, and their shape vocabulary. Every verifier message names
// the operand at fault, what was expected and what was found, with shapes printed as [B?, 7, 32] where '?'
// marks a dynamic dimension; these helpers keep that wording one and the same across the op files.
#ifndef ATTN_DIALECT_LIB_OPHELPERS_H
#define ATTN_DIALECT_LIB_OPHELPERS_H

#include "attn/Dialect/AttnInterfaces.h"
#include "mlir/IR/Operation.h"

#include <optional>
#include <string>
#include <utility>

namespace mlir::attn::detail {

/// `type`, a ranked tensor, as "[?, 7, 32]".
std::string shapeString(Type type);

inline int64_t dimOf(Value v, unsigned i) { return cast<RankedTensorType>(v.getType()).getDimSize(i); }
inline int64_t rankOf(Value v) { return cast<RankedTensorType>(v.getType()).getRank(); }

/// Two dimensions conflict only when both are known and differ.
inline bool conflict(int64_t a, int64_t b) {
  return !ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) && a != b;
}

LogicalResult expectRank(Operation *op, StringRef what, Value v, int64_t rank, StringRef layout);

/// Checks that dimension `i` of `a` and dimension `j` of `b` agree where both are known.
LogicalResult expectSameDim(Operation *op, StringRef what, StringRef aName, Value a, unsigned i,
                            StringRef bName, Value b, unsigned j);

/// The result type must be compatible with the one implied by the operands.
LogicalResult verifyResultShape(Operation *op);

/// A broadcasting binary op (attn.add and its kin; attn.select's operands from `first`): its operands'
/// shapes broadcast and its result has their broadcast shape.
LogicalResult verifyBroadcast(Operation *op, unsigned first = 0);

/// Where the shapes of `lhs` and `rhs`, without their last `skip` dimensions, do not broadcast: the two
/// sizes that meet, with `dim` set to the result dimension where they do; none if they broadcast.
std::optional<std::pair<int64_t, int64_t>> broadcastConflict(Value lhs, Value rhs, int64_t skip,
                                                             int64_t &dim);

/// The broadcast dimensions of `lhs` (operand 0) and `rhs` (operand 1) without their last `skip` (a binary
/// op's whole result; a matmul's batch): each from the operand that does not repeat along it.
SmallVector<DimSource> broadcastDims(Value lhs, Value rhs, int64_t skip = 0);

/// Every dimension of `v`, operand 0, in order.
SmallVector<DimSource> identityDims(Value v);

/// Checks a recurrence with `gates` blocks of the hidden size in its weights: attn.lstm, attn.gru and the
/// operands they hand on to attn.recurrence_grad.
LogicalResult verifyRecurrence(Operation *op, Value xp, Value w, Value b, Value lengths, Value steps,
                               int64_t gates);

} // namespace mlir::attn::detail

#endif // ATTN_DIALECT_LIB_OPHELPERS_H
