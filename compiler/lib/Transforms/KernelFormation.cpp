// Moves a group of ops into an attn.kernel region closed over its inputs.
#include "attn/Transforms/KernelFormation.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"
#include "llvm/ADT/SmallVectorExtras.h"

using namespace mlir;
using namespace mlir::attn;

KernelNamer::KernelNamer(func::FuncOp func) {
  func.walk([&](KernelOp kernel) { ++used[kernel.getName()]; });
}

static std::string sanitize(StringRef text) {
  std::string out;
  for (char c : text)
    out += (isalnum(static_cast<unsigned char>(c)) || c == '_') ? c : '_';
  return out;
}

std::string KernelNamer::name(StringRef pattern, Operation *anchor) {
  std::string base = pattern.str();
  if (auto named = dyn_cast<NameLoc>(anchor->getLoc()))
    base += "_" + sanitize(named.getName().getValue());
  std::string candidate = base;
  for (unsigned n = 1; used.count(candidate); ++n)
    candidate = base + "_" + std::to_string(n);
  ++used[candidate];
  return candidate;
}

KernelOp mlir::attn::formKernel(ArrayRef<Operation *> ops, StringRef name) {
  llvm::SmallPtrSet<Operation *, 8> inGroup(ops.begin(), ops.end());
  llvm::SetVector<Value> inputs;
  for (Operation *op : ops)
    for (Value operand : op->getOperands())
      if (!inGroup.contains(operand.getDefiningOp()))
        inputs.insert(operand);

  // The kernel's results: every value of the group that something outside the group reads, in order.
  SmallVector<Value> results;
  for (Operation *op : ops)
    for (Value result : op->getResults())
      if (llvm::any_of(result.getUsers(), [&](Operation *user) { return !inGroup.contains(user); }))
        results.push_back(result);

  Operation *last = ops.back();
  OpBuilder builder(last);
  SmallVector<Type> types;
  for (Value result : results)
    types.push_back(result.getType());
  auto kernel =
      KernelOp::create(builder, last->getLoc(), types, builder.getStringAttr(name), inputs.getArrayRef());
  Block *body = builder.createBlock(&kernel.getBody());
  IRMapping mapping;
  for (Value input : inputs)
    mapping.map(input, body->addArgument(input.getType(), input.getLoc()));
  for (Operation *op : ops)
    builder.clone(*op, mapping);
  SmallVector<Value> yielded;
  for (Value result : results)
    yielded.push_back(mapping.lookup(result));
  YieldOp::create(builder, last->getLoc(), yielded);

  for (auto [result, replacement] : llvm::zip(results, kernel.getResults()))
    result.replaceUsesWithIf(replacement, [&](OpOperand &use) { return !inGroup.contains(use.getOwner()); });
  for (Operation *op : llvm::reverse(ops))
    op->erase();
  return kernel;
}

/// Clones the ops of `kernel`'s body at `builder`'s point, reading `inputs` for its block arguments, onto
/// `ops`; returns the clones of what it yields.
static SmallVector<Value> cloneBody(KernelOp kernel, ValueRange inputs, OpBuilder &builder,
                                    SmallVectorImpl<Operation *> &ops) {
  Block &body = kernel.getBody().front();
  IRMapping mapping;
  mapping.map(body.getArguments(), inputs);
  for (Operation &inner : body.without_terminator())
    ops.push_back(builder.clone(inner, mapping));
  return llvm::map_to_vector(body.getTerminator()->getOperands(),
                             [&](Value yielded) { return mapping.lookup(yielded); });
}

/// Replaces `kernel`, whose body `ops` now compute outside it (its results are `yielded`), by a kernel of
/// `ops` under its name.
static KernelOp reform(KernelOp kernel, ArrayRef<Operation *> ops, ValueRange yielded) {
  for (auto [result, value] : llvm::zip(kernel.getResults(), yielded))
    result.replaceAllUsesWith(value);
  std::string name = kernel.getName().str();
  kernel.erase();
  return formKernel(ops, name);
}

KernelOp mlir::attn::mergeIntoKernel(KernelOp kernel, Operation *op) {
  bool producer = op->isBeforeInBlock(kernel);
  if (!producer)
    op->moveAfter(kernel);
  OpBuilder builder(kernel);
  SmallVector<Operation *> ops;
  if (producer)
    ops.push_back(op);
  SmallVector<Value> yielded = cloneBody(kernel, kernel.getInputs(), builder, ops);
  if (!producer)
    ops.push_back(op);
  return reform(kernel, ops, yielded);
}

KernelOp mlir::attn::inlineProducer(KernelOp producer, KernelOp reader) {
  OpBuilder builder(reader);
  SmallVector<Operation *> ops;
  SmallVector<Value> produced = cloneBody(producer, producer.getInputs(), builder, ops);
  SmallVector<Value> inputs = llvm::map_to_vector(reader.getInputs(), [&](Value input) -> Value {
    auto result = dyn_cast<OpResult>(input);
    return result && result.getOwner() == producer ? produced[result.getResultNumber()] : input;
  });
  SmallVector<Value> yielded = cloneBody(reader, inputs, builder, ops);
  return reform(reader, ops, yielded);
}
