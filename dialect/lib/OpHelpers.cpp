// The checks shared by the verifiers of attn ops (declared in OpHelpers.h): ranks, agreeing dimensions and
// the result shape that ShapedOpInterface implies, each with the message wording that all op files use.
#include "OpHelpers.h"

#include "llvm/ADT/STLExtras.h"

namespace mlir::attn::detail {

std::string shapeString(Type type) {
  auto shaped = cast<RankedTensorType>(type);
  std::string out = "[";
  llvm::interleave(
      shaped.getShape(),
      [&](int64_t d) { out += ShapedType::isDynamic(d) ? std::string("?") : std::to_string(d); },
      [&] { out += ", "; });
  return out + "]";
}

LogicalResult expectRank(Operation *op, StringRef what, Value v, int64_t rank, StringRef layout) {
  if (rankOf(v) == rank)
    return success();
  return op->emitOpError() << "expects " << what << " of rank " << rank << " " << layout << ", found rank "
                           << rankOf(v) << " " << shapeString(v.getType());
}

LogicalResult expectSameDim(Operation *op, StringRef what, StringRef aName, Value a, unsigned i,
                                    StringRef bName, Value b, unsigned j) {
  if (!conflict(dimOf(a, i), dimOf(b, j)))
    return success();
  return op->emitOpError() << "expects the " << what << " of " << aName << " " << shapeString(a.getType())
                           << " and " << bName << " " << shapeString(b.getType()) << " to agree, found "
                           << dimOf(a, i) << " and " << dimOf(b, j);
}

LogicalResult verifyResultShape(Operation *op) {
  auto shaped = cast<ShapedOpInterface>(op);
  RankedTensorType inferred = shaped.inferResultType();
  Type actual = op->getResult(0).getType();
  auto actualTensor = cast<RankedTensorType>(actual);
  bool ok = actualTensor.getRank() == inferred.getRank();
  for (int64_t i = 0; ok && i < inferred.getRank(); ++i)
    ok = !conflict(actualTensor.getDimSize(i), inferred.getDimSize(i));
  if (ok)
    return success();
  return op->emitOpError() << "result shape " << shapeString(actual) << " does not match the shape "
                           << shapeString(inferred) << " implied by the operands";
}

namespace {

/// Dimension `i` (counted from the last, after leaving out the last `skip`) of `v`, or 1 where it has none.
int64_t alignedDim(Value v, int64_t i, int64_t skip) {
  int64_t rank = rankOf(v) - skip;
  return i < rank ? dimOf(v, unsigned(rank - 1 - i)) : 1;
}

/// Which operand (0 or 1) a broadcast result's dimension `i` (counted as in alignedDim) comes from: the one
/// that does not repeat along it; of two that do not, a static size over a dynamic one, else the first.
int broadcastSource(Value lhs, Value rhs, int64_t i, int64_t skip) {
  if (i >= rankOf(lhs) - skip)
    return 1;
  if (i >= rankOf(rhs) - skip)
    return 0;
  int64_t a = alignedDim(lhs, i, skip), b = alignedDim(rhs, i, skip);
  if (a == 1 || b == 1)
    return a == 1 ? 1 : 0;
  return ShapedType::isDynamic(a) && !ShapedType::isDynamic(b) ? 1 : 0;
}

} // namespace

std::optional<std::pair<int64_t, int64_t>> broadcastConflict(Value lhs, Value rhs, int64_t skip,
                                                             int64_t &dim) {
  int64_t rank = std::max(rankOf(lhs), rankOf(rhs)) - skip;
  for (int64_t i = 0; i < rank; ++i) {
    int64_t a = alignedDim(lhs, i, skip), b = alignedDim(rhs, i, skip);
    if (a != 1 && b != 1 && conflict(a, b)) {
      dim = rank - 1 - i;
      return std::pair{a, b};
    }
  }
  return std::nullopt;
}

LogicalResult verifyBroadcast(Operation *op, unsigned first) {
  Value lhs = op->getOperand(first), rhs = op->getOperand(first + 1);
  int64_t dim = 0;
  if (auto sizes = broadcastConflict(lhs, rhs, 0, dim))
    return op->emitOpError() << "expects operands whose shapes broadcast, found "
                             << shapeString(lhs.getType()) << " and " << shapeString(rhs.getType())
                             << ": sizes " << sizes->first << " and " << sizes->second
                             << " meet at dimension " << dim << " of the result";
  return verifyResultShape(op);
}

SmallVector<DimSource> broadcastDims(Value lhs, Value rhs, int64_t skip) {
  int64_t rank = std::max(rankOf(lhs), rankOf(rhs)) - skip;
  SmallVector<DimSource> dims;
  for (int64_t d = 0; d < rank; ++d) {
    int64_t i = rank - 1 - d;
    int operand = broadcastSource(lhs, rhs, i, skip);
    Value v = operand == 0 ? lhs : rhs;
    int64_t size = alignedDim(v, i, skip);
    dims.push_back(size == 1 ? DimSource::constant(1)
                             : DimSource::of(operand, unsigned(rankOf(v) - skip - 1 - i)));
  }
  return dims;
}

SmallVector<DimSource> identityDims(Value v) {
  SmallVector<DimSource> dims;
  for (unsigned i = 0, e = rankOf(v); i < e; ++i)
    dims.push_back(DimSource::of(0, i));
  return dims;
}

} // namespace mlir::attn::detail
