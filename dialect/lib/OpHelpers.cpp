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

SmallVector<DimSource> identityDims(Value v) {
  SmallVector<DimSource> dims;
  for (unsigned i = 0, e = rankOf(v); i < e; ++i)
    dims.push_back(DimSource::of(0, i));
  return dims;
}

} // namespace mlir::attn::detail
