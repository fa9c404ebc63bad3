// Moves a group of ops into an attn.kernel region closed over its inputs.
#include "attn/Transforms/KernelFormation.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/IRMapping.h"
#include "llvm/ADT/SetVector.h"

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

  Operation *last = ops.back();
  OpBuilder builder(last);
  auto kernel = KernelOp::create(builder, last->getLoc(), last->getResultTypes(), builder.getStringAttr(name),
                                         inputs.getArrayRef());
  Block *body = builder.createBlock(&kernel.getBody());
  IRMapping mapping;
  for (Value input : inputs)
    mapping.map(input, body->addArgument(input.getType(), input.getLoc()));
  for (Operation *op : ops)
    builder.clone(*op, mapping);
  YieldOp::create(builder, last->getLoc(), mapping.lookup(last->getResult(0)));

  last->getResult(0).replaceAllUsesWith(kernel.getResult(0));
  for (Operation *op : llvm::reverse(ops))
    op->erase();
  return kernel;
}
