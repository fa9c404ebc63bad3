// Verifiers and dimension sources of the sequence ops: positions, their sinusoidal encodings, tokens
// shifted for teacher forcing and the key/value cache a decoder step writes.
#include "attn/Dialect/AttnOps.h"

#include "OpHelpers.h"

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::detail;

LogicalResult PositionsOp::verify() {
  if (rankOf(getInput()) < 2)
    return emitOpError() << "expects a sequence [batch, length, ...], found "
                         << shapeString(getInput().getType());
  return verifyResultShape(*this);
}

SmallVector<DimSource> PositionsOp::getResultDimSources() {
  return {DimSource::of(0, 0), DimSource::of(0, 1)};
}

LogicalResult SinusoidOp::verify() {
  if (getDim() % 2 != 0)
    return emitOpError() << "expects an even dim (sine and cosine pairs), found " << getDim();
  return verifyResultShape(*this);
}

SmallVector<DimSource> SinusoidOp::getResultDimSources() {
  SmallVector<DimSource> dims = identityDims(getPositions());
  dims.push_back(DimSource::constant(getDim()));
  return dims;
}

LogicalResult ShiftRightOp::verify() {
  if (failed(expectRank(*this, "tokens", getTokens(), 2, "[batch, steps]")))
    return failure();
  if (static_cast<int64_t>(getFill()) < 0)
    return emitOpError() << "expects a non-negative fill token, found " << static_cast<int64_t>(getFill());
  return verifyResultShape(*this);
}

SmallVector<DimSource> ShiftRightOp::getResultDimSources() { return identityDims(getTokens()); }

LogicalResult CacheWriteOp::verify() {
  Value cache = getCache(), row = getRow(), position = getPosition();
  if (rankOf(cache) < 2 || rankOf(row) != rankOf(cache) - 1)
    return emitOpError()
           << "expects a cache [rows, length, ...] and a row [rows, ...] of one rank less, found "
           << shapeString(cache.getType()) << " and " << shapeString(row.getType());
  if (failed(expectSameDim(*this, "row count", "the row", row, 0, "the cache", cache, 0)))
    return failure();
  for (int64_t d = 1; d < rankOf(row); ++d)
    if (failed(expectSameDim(*this, "dimension " + std::to_string(d), "the row", row, d, "the cache", cache,
                             d + 1)))
      return failure();
  if (failed(expectRank(*this, "positions", position, 1, "[rows]")) ||
      failed(expectSameDim(*this, "row count", "the positions", position, 0, "the cache", cache, 0)))
    return failure();
  return verifyResultShape(*this);
}

SmallVector<DimSource> CacheWriteOp::getResultDimSources() { return identityDims(getCache()); }
