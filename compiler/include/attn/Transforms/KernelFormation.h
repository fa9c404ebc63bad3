// Building an attn.kernel from a group of ops, shared by the fusion passes.
#ifndef ATTN_TRANSFORMS_KERNELFORMATION_H
#define ATTN_TRANSFORMS_KERNELFORMATION_H

#include "attn/Dialect/AttnOps.h"
#include "llvm/ADT/StringMap.h"

namespace mlir::attn {

/// Hands out kernel names unique within one function: `<pattern>_<binding>` where the binding is the
/// model-language name on the group's first op (a NameLoc from the frontend), then `_1`, `_2`, … for
/// repeats.
class KernelNamer {
public:
  explicit KernelNamer(func::FuncOp func);
  std::string name(StringRef pattern, Operation *anchor);

private:
  llvm::StringMap<unsigned> used;
};

/// Moves `ops` (in program order, all in one block) into a new attn.kernel placed where the last op was.
/// Values the group uses from outside become the kernel's inputs; every result of the group read outside
/// it becomes a kernel result, in order.
KernelOp formKernel(ArrayRef<Operation *> ops, StringRef name);

/// Ops that only move or select elements: the lowering inlines them into whatever reads them, so they
/// cost nothing inside a kernel and a whole kernel launch outside one.
inline bool isReindexing(Operation *op) { return op->hasTrait<Reindexing>(); }

/// Rebuilds `kernel` with `op` inside it, under the same name. `op` either precedes the kernel and only
/// the kernel reads it (a producer), or its single operand is a result of the kernel (a consumer; it moves
/// to just after the kernel).
KernelOp mergeIntoKernel(KernelOp kernel, Operation *op);

/// Rebuilds `reader`, a kernel after `producer` that reads its results, under the same name with a copy of
/// `producer`'s ops in front of its own, which read the copies' values instead of `producer`'s results.
/// `producer` stays as it is for its other readers.
KernelOp inlineProducer(KernelOp producer, KernelOp reader);

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_KERNELFORMATION_H
