// attn-outline-kernels: every computing op left outside a kernel gets one, with its elementwise consumers;
// reindexing ops join the kernels that read or produce them.
#include "attn/Dialect/AttnOps.h"
#include "attn/Transforms/KernelFormation.h"
#include "attn/Transforms/Passes.h"

#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallVectorExtras.h"

#include <optional>

namespace mlir::attn {
#define GEN_PASS_DEF_ATTNOUTLINEKERNELS
#include "attn/Transforms/Passes.h.inc"
} // namespace mlir::attn

using namespace mlir;
using namespace mlir::attn;

namespace {

/// Ops that continue a kernel past the op that produces their input `from`, besides elementwise ones:
/// reductions along an axis (reduce, softmax, log_softmax, a broadcast's gradient summing `from`) and
/// products one column wide (a row of dot products, such as an attention score's projection to one unit),
/// which read each element of what the kernel computes once, as elementwise ops do, and one-operand
/// reindexing ops, which the lowering inlines. A reduction ends a stage of the kernel, not the kernel.
bool continuesKernel(Operation *op, Value from) {
  if (op->hasTrait<attn::Elementwise>() || isa<ReduceOp, SoftmaxOp, LogSoftmaxOp>(op))
    return true;
  if (auto sum = dyn_cast<BroadcastGradOp>(op))
    return sum.getGrad() == from; // its other operand gives only the shape
  if (isReindexing(op))
    return op->getNumOperands() == 1;
  if (isa<DenseOp, MatmulOp>(op)) {
    auto type = cast<RankedTensorType>(op->getResult(0).getType());
    return type.getDimSize(type.getRank() - 1) == 1;
  }
  return false;
}

/// Whether every op outside `group` that reads a value of `group` or of `next` (or holds such a reader) comes
/// after `next`, so that a kernel of the group and `next`, placed where `next` is, precedes them all. A
/// one-operand reindexing op that does not is moved after `next` when everything reading it follows `next`.
bool readersFollow(ArrayRef<Operation *> group, Operation *next) {
  Block *block = next->getBlock();
  llvm::SmallPtrSet<Operation *, 16> members(group.begin(), group.end());
  members.insert(next);
  auto follows = [&](Operation *user) {
    Operation *owner = block->findAncestorOpInBlock(*user);
    return owner && (members.contains(owner) || next->isBeforeInBlock(owner));
  };
  SmallVector<Operation *> moves;
  for (Operation *op : members)
    for (Operation *user : op->getUsers()) {
      if (follows(user))
        continue;
      if (user->getBlock() != block || !isReindexing(user) || user->getNumOperands() != 1 ||
          !llvm::all_of(user->getUsers(), follows))
        return false;
      moves.push_back(user);
    }
  for (Operation *user : moves)
    user->moveAfter(next);
  return true;
}

/// The chain of ops that continue a kernel from `op` (continuesKernel): each the one reader of its
/// predecessor that continues the kernel (else its one reindexing reader). With `shared`, other readers of
/// a link take it as a kernel result; without, a link read elsewhere ends the chain. A chain does not end in
/// reindexing ops: they join the kernels that read them.
SmallVector<Operation *> chainFrom(Operation *op, const llvm::SmallPtrSetImpl<Operation *> &grouped,
                                   bool shared) {
  SmallVector<Operation *> group{op};
  Operation *tail = op;
  while (tail->getNumResults() == 1 && (shared || tail->hasOneUse())) {
    SmallVector<Operation *> next, reindexing;
    for (Operation *user : tail->getUsers())
      if (user->getBlock() == tail->getBlock() && !grouped.contains(user) &&
          continuesKernel(user, tail->getResult(0)) && !llvm::is_contained(next, user) &&
          !llvm::is_contained(reindexing, user))
        (isReindexing(user) ? reindexing : next).push_back(user);
    if (next.empty() && reindexing.size() == 1)
      next = reindexing;
    if (next.size() != 1 || !readersFollow(group, next.front()))
      break;
    group.push_back(next.front());
    tail = next.front();
  }
  while (group.size() > 1 && isReindexing(group.back()))
    group.pop_back();
  return group;
}

/// Groups the computing ops of `block` (and of decoder steps inside it) into kernels: each op not yet in
/// one starts a chain (chainFrom). Links read elsewhere are shared, and reindexing ops passed, only by a
/// chain of several stages (two ops neither elementwise nor reindexing), which the generic schedule takes
/// with all its outputs; a pattern schedule (a dense layer and its activations) schedules only its anchor,
/// in the layout of its first op. Reindexing ops that start nothing are left out: they join the kernels
/// around them afterwards.
void collectGroups(Block &block, SmallVector<SmallVector<Operation *>> &groups) {
  llvm::SmallPtrSet<Operation *, 16> grouped;
  auto stage = [](Operation *op) { return !op->hasTrait<attn::Elementwise>() && !isReindexing(op); };
  // In program order as it was: chains move reindexing readers later (readersFollow).
  SmallVector<Operation *> ops = llvm::map_to_vector(block, [](Operation &op) { return &op; });
  for (Operation *op : ops) {
    if (auto decode = dyn_cast<DecodeOp>(op)) {
      collectGroups(decode.getStep().front(), groups);
      continue;
    }
    if (!isa<ShapedOpInterface>(op) || isReindexing(op) || grouped.contains(op))
      continue;
    SmallVector<Operation *> group = chainFrom(op, grouped, /*shared=*/true);
    if (llvm::count_if(group, stage) < 2) {
      // A pattern schedule tiles the last op's result as the first op's: no reindexing in between.
      group = chainFrom(op, grouped, /*shared=*/false);
      group.erase(llvm::find_if(group, isReindexing), group.end());
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

/// Gives every use of `op`'s results but the first a copy of `op` of its own, made just before the user.
void copyPerUse(Operation &op) {
  for (OpOperand &use : llvm::make_early_inc_range(llvm::drop_begin(op.getUses()))) {
    OpBuilder b(use.getOwner());
    use.set(b.clone(op)->getResult(cast<OpResult>(use.get()).getResultNumber()));
  }
}

/// When a reshaping op of `block` (one that keeps the elements in order) is read by several kernels and
/// nothing else, gives each reader its own copy, which mergeOneReindexing then moves into it: such a view
/// costs nothing inside the kernel reading it, and a launch and a copy as a kernel of its own. Returns
/// whether it copied one.
bool copyOneReshapingPerReader(Block &block) {
  for (Operation &op : block) {
    if (!isa<ExpandDimsOp, SqueezeOp, ReshapeOp, FlattenOp>(op) || op.hasOneUse() || op.use_empty() ||
        !llvm::all_of(op.getUsers(),
                      [&](Operation *user) { return isa<KernelOp>(user) && user->getBlock() == &block; }))
      continue;
    copyPerUse(op);
    return true;
  }
  return false;
}

/// Every reindexing op that no kernel took becomes a kernel of its own.
void mergeReindexing(Block &block, KernelNamer &namer) {
  do {
    while (mergeOneReindexing(block)) {
    }
  } while (copyOneReshapingPerReader(block));
  for (Operation &op : llvm::make_early_inc_range(block)) {
    if (auto decode = dyn_cast<DecodeOp>(op))
      mergeReindexing(decode.getStep().front(), namer);
    else if (isReindexing(&op))
      formKernel({&op}, namer.name(op.getName().stripDialect(), &op));
  }
}

/// Whether `op` reads each element of its operands at most once, so that an elementwise producer inlined
/// into it costs its arithmetic once more instead of a pass over memory: elementwise ops, reductions along
/// axes (reduce, global_pool, a broadcast's gradient) and pools whose windows do not overlap.
bool readsEachElementOnce(Operation *op) {
  if (op->hasTrait<attn::Elementwise>() || isa<ReduceOp, GlobalPoolOp, BroadcastGradOp>(op))
    return true;
  if (auto pool = dyn_cast<Pool2DOp>(op))
    return llvm::all_of(llvm::zip(pool.getStride(), pool.getKernel()),
                        [](auto window) { return std::get<0>(window) >= std::get<1>(window); });
  return false;
}

/// Whether `value`, inside a kernel, is read once per element: by the kernel's yield, by ops that read each
/// element once (readsEachElementOnce), an elementwise one at its own shape and with a result read once
/// per element in turn, or as the shape a broadcast takes.
bool readOncePerElement(Value value) {
  return llvm::all_of(value.getUses(), [&](OpOperand &use) {
    Operation *user = use.getOwner();
    if (isa<YieldOp>(user))
      return true;
    if (auto broadcast = dyn_cast<BroadcastOp>(user); broadcast && broadcast.getInput() != value)
      return true; // `value` gives only the shape
    if (!user->hasTrait<attn::Elementwise>())
      return readsEachElementOnce(user);
    return user->getNumResults() == 1 && value.getType() == user->getResult(0).getType() &&
           readOncePerElement(user->getResult(0));
  });
}

/// Whether `kernel` computes only elementwise ops (and reindexing), none drawing random numbers (a copy
/// would draw them again), and how many.
std::optional<unsigned> elementwiseOps(KernelOp kernel) {
  unsigned count = 0;
  for (Operation &op : kernel.getBody().front().without_terminator()) {
    if (isa<RandomOpInterface>(op))
      return std::nullopt;
    if (isReindexing(&op))
      continue;
    if (!op.hasTrait<attn::Elementwise>())
      return std::nullopt;
    ++count;
  }
  return count;
}

/// Inlines one kernel of elementwise ops of `block` into the kernels that read it, and removes it, where
/// all its readers are kernels of ops that read each element once (no pattern schedule: the ops go in
/// front of theirs) and read its results so: its elements are then computed where they are read instead of
/// written and read back. With several readers, only a kernel of one op, whose copies cost one operation per
/// element each. Returns whether it inlined one.
bool inlineOneElementwiseKernel(Block &block) {
  for (auto producer : block.getOps<KernelOp>()) {
    std::optional<unsigned> ops = elementwiseOps(producer);
    if (!ops || producer->use_empty())
      continue;
    llvm::SetVector<KernelOp> readers;
    bool fits = llvm::all_of(producer->getUsers(), [&](Operation *user) {
      auto reader = dyn_cast<KernelOp>(user);
      if (!reader || reader->getBlock() != &block)
        return false;
      readers.insert(reader);
      Block &body = reader.getBody().front();
      return llvm::all_of(body.without_terminator(),
                          [](Operation &op) { return isReindexing(&op) || readsEachElementOnce(&op); }) &&
             llvm::all_of(llvm::zip(reader.getInputs(), body.getArguments()), [&](auto inputAndArgument) {
               auto [input, argument] = inputAndArgument;
               return input.getDefiningOp() != producer || readOncePerElement(argument);
             });
    });
    if (!fits || (readers.size() > 1 && *ops > 1))
      continue;
    for (KernelOp reader : readers)
      inlineProducer(producer, reader);
    producer->erase();
    return true;
  }
  return false;
}

/// inlineOneElementwiseKernel until none is left, in `block` and its decoder steps.
void inlineElementwiseKernels(Block &block) {
  while (inlineOneElementwiseKernel(block)) {
  }
  for (auto decode : block.getOps<DecodeOp>())
    inlineElementwiseKernels(decode.getStep().front());
}

/// Gives every reader of a number (attn.constant) its own copy, so that each joins its reader's kernel
/// instead of one copy costing a kernel of its own.
void copyConstantsPerReader(func::FuncOp func) {
  func.walk([](ConstantOp constant) { copyPerUse(*constant); });
}

struct AttnOutlineKernelsPass : mlir::attn::impl::AttnOutlineKernelsBase<AttnOutlineKernelsPass> {
  void runOnOperation() override {
    func::FuncOp func = getOperation();
    if (func.isExternal())
      return;
    copyConstantsPerReader(func);
    SmallVector<SmallVector<Operation *>> groups;
    collectGroups(func.getBody().front(), groups);
    KernelNamer namer(func);
    for (auto &group : groups)
      formKernel(group, namer.name(group.front()->getName().stripDialect(), group.front()));
    mergeReindexing(func.getBody().front(), namer);
    inlineElementwiseKernels(func.getBody().front());
  }
};

} // namespace
