// attn-outline-kernels: every computing op left outside a kernel gets one, with its elementwise consumers.
#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/KernelFormation.h"
#include "attn/Transforms/Passes.h"

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNOUTLINEKERNELS
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

bool isElementwise(Operation *op) { return isa<ReluOp, TanhOp, SigmoidOp, GeluOp, AddOp, SubOp, MulOp>(op); }

/// Groups the computing ops of `block` (and of decoder steps inside it) with their elementwise consumers.
void collectGroups(Block &block, SmallVector<SmallVector<Operation *>> &groups) {
  llvm::SmallPtrSet<Operation *, 16> grouped;
  for (Operation &op : block) {
    if (auto decode = dyn_cast<DecodeOp>(op)) {
      collectGroups(decode.getStep().front(), groups);
      continue;
    }
    if (!isa<ShapedOpInterface>(op) || grouped.contains(&op))
      continue;
    SmallVector<Operation *> group{&op};
    Operation *tail = &op;
    while (tail->hasOneUse()) {
      Operation *user = *tail->getUsers().begin();
      if (!isElementwise(user) || user->getBlock() != tail->getBlock() || grouped.contains(user))
        break;
      group.push_back(user);
      tail = user;
    }
    grouped.insert(group.begin(), group.end());
    groups.push_back(std::move(group));
  }
}

struct AttnOutlineKernelsPass : mlir::attn::impl::AttnOutlineKernelsBase<AttnOutlineKernelsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    SmallVector<SmallVector<Operation *>> groups;
    collectGroups(func.getBody().front(), groups);
    KernelNamer namer(func);
    for (auto &group : groups)
      formKernel(group, namer.name(group.front()->getName().stripDialect(), group.front()));
  }
};

} // namespace
