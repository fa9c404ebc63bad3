// attn-outline-kernels: every computing op left outside a kernel gets one, with its elementwise consumers;
// reindexing ops join the kernels that read or produce them.
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

/// Groups the computing ops of `block` (and of decoder steps inside it) with their elementwise consumers.
/// Reindexing ops are left out: they join the kernels around them afterwards.
void collectGroups(Block &block, SmallVector<SmallVector<Operation *>> &groups) {
  llvm::SmallPtrSet<Operation *, 16> grouped;
  for (Operation &op : block) {
    if (auto decode = dyn_cast<DecodeOp>(op)) {
      collectGroups(decode.getStep().front(), groups);
      continue;
    }
    if (!isa<ShapedOpInterface>(op) || isReindexing(&op) || grouped.contains(&op))
      continue;
    SmallVector<Operation *> group{&op};
    Operation *tail = &op;
    while (tail->hasOneUse()) {
      Operation *user = *tail->getUsers().begin();
      if (!user->hasTrait<attn::Elementwise>() || user->getBlock() != tail->getBlock() ||
          grouped.contains(user))
        break;
      group.push_back(user);
      tail = user;
    }
    grouped.insert(group.begin(), group.end());
    groups.push_back(std::move(group));
  }
}

/// The kernel in `op`'s block that is the only reader of `op`'s results, if there is one.
KernelOp soleReader(Operation *op) {
  KernelOp reader;
  for (Operation *user : op->getUsers()) {
    auto kernel = dyn_cast<KernelOp>(user);
    if (!kernel || kernel->getBlock() != op->getBlock() || (reader && kernel != reader))
      return nullptr;
    reader = kernel;
  }
  return reader;
}

/// Moves one reindexing op of `block` into a neighbouring kernel: into its only reader (last ops first,
/// so that a chain such as embedding → concat folds into the kernel at its end), else, for an op of one
/// operand, into the kernel that produces that operand. Returns whether it moved one.
bool mergeOneReindexing(Block &block) {
  for (Operation &op : llvm::reverse(block))
    if (isReindexing(&op))
      if (KernelOp reader = soleReader(&op)) {
        mergeIntoKernel(reader, &op);
        return true;
      }
  for (Operation &op : block)
    if (isReindexing(&op) && op.getNumOperands() == 1)
      if (auto producer = op.getOperand(0).getDefiningOp<KernelOp>();
          producer && producer->getBlock() == &block) {
        mergeIntoKernel(producer, &op);
        return true;
      }
  return false;
}

/// Every reindexing op that no kernel took becomes a kernel of its own.
void mergeReindexing(Block &block, KernelNamer &namer) {
  while (mergeOneReindexing(block)) {
  }
  for (Operation &op : llvm::make_early_inc_range(block)) {
    if (auto decode = dyn_cast<DecodeOp>(op))
      mergeReindexing(decode.getStep().front(), namer);
    else if (isReindexing(&op))
      formKernel({&op}, namer.name(op.getName().stripDialect(), &op));
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
    mergeReindexing(func.getBody().front(), namer);
  }
};

} // namespace
