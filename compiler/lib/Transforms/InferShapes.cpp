// attn-infer-shapes: refines result types from operand types, in program order, through kernel bodies.
#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNINFERSHAPES
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// The more precise of two compatible types: a dimension known in either is known in the result.
Type refine(Type current, Type inferred) {
  auto cur = dyn_cast<RankedTensorType>(current);
  auto inf = dyn_cast<RankedTensorType>(inferred);
  if (!cur || !inf || cur.getRank() != inf.getRank())
    return current;
  SmallVector<int64_t> shape(cur.getShape());
  for (auto [i, d] : llvm::enumerate(shape))
    if (ShapedType::isDynamic(d))
      d = inf.getDimSize(i);
  return RankedTensorType::get(shape, cur.getElementType());
}

void inferBlock(Block &block) {
  for (Operation &op : block) {
    if (auto kernel = dyn_cast<KernelOp>(op)) {
      Block &body = kernel.getBody().front();
      for (auto [arg, input] : llvm::zip(body.getArguments(), kernel.getInputs()))
        arg.setType(input.getType());
      inferBlock(body);
      for (auto [result, yielded] : llvm::zip(kernel.getResults(), body.getTerminator()->getOperands()))
        result.setType(yielded.getType());
    } else if (auto decode = dyn_cast<DecodeOp>(op)) {
      inferBlock(decode.getStep().front());
    } else if (auto shaped = dyn_cast<ShapedOpInterface>(op)) {
      RankedTensorType inferred = shaped.inferResultType();
      for (Value result : op.getResults())
        result.setType(refine(result.getType(), inferred));
    }
  }
}

struct AttnInferShapesPass : mlir::attn::impl::AttnInferShapesBase<AttnInferShapesPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    inferBlock(func.getBody().front());
    auto ret = cast<func::ReturnOp>(func.getBody().front().getTerminator());
    func.setType(FunctionType::get(&getContext(), func.getArgumentTypes(), ret.getOperandTypes()));
  }
};

} // namespace
