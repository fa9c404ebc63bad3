// Shape inference shared by every op that implements ShapedOpInterface: the result type follows from the
// operand types and the op's list of dimension sources.
#include "attn/Dialect/AttnInterfaces.h"

#include "mlir/IR/Builders.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/AttnInterfaces.cpp.inc"

RankedTensorType ShapedOpInterface::inferResultType() {
  Operation *op = getOperation();
  SmallVector<int64_t> shape;
  for (const DimSource &src : getResultDimSources()) {
    if (src.isConstant()) {
      shape.push_back(src.size);
      continue;
    }
    auto type = cast<RankedTensorType>(op->getOperand(src.operand).getType());
    shape.push_back(type.getDimSize(src.dim));
  }
  // The element type is the op's own (f32 but for argmax's indices).
  return RankedTensorType::get(shape, cast<ShapedType>(op->getResult(0).getType()).getElementType());
}
