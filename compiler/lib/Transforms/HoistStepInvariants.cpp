// attn-hoist-step-invariants: ops of a decoder step that read only values from outside the step move
// before the decoder, in order, so each runs once per sequence instead of once per step.
#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNHOISTSTEPINVARIANTS
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Moves the ops of `decode`'s step that read only values from outside the step before the decoder, in
/// order, so that an op whose operands were hoisted just before it follows them out.
void hoistStepInvariants(DecodeOp decode) {
  Region &step = decode.getStep();
  for (Operation &op : llvm::make_early_inc_range(step.front().without_terminator())) {
    if (op.getNumRegions() || !isMemoryEffectFree(&op))
      continue;
    bool invariant =
        llvm::all_of(op.getOperands(), [&](Value v) { return !step.isAncestor(v.getParentRegion()); });
    if (invariant)
      op.moveBefore(decode);
  }
}

struct AttnHoistStepInvariantsPass
    : mlir::attn::impl::AttnHoistStepInvariantsBase<AttnHoistStepInvariantsPass> {
  void runOnOperation() override { getOperation().walk(&hoistStepInvariants); }
};

} // namespace
