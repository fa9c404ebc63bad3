// The attn compiler passes and the pipeline attnc runs.
#ifndef ATTN_TRANSFORMS_PASSES_H
#define ATTN_TRANSFORMS_PASSES_H

#include "attn/Dialect/AttnDialect.h"
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/Pass/Pass.h"
#include "mlir/Pass/PassManager.h"

namespace mlir::attn {

#define GEN_PASS_DECL
#include "attn/Transforms/Passes.h.inc"

#define GEN_PASS_REGISTRATION
#include "attn/Transforms/Passes.h.inc"

/// The pipeline from layer ops to kernels: infer shapes, decompose (and share common work), build the
/// gradient function of a model with a loss, then per function hoist step invariants, fuse attention and
/// outline kernels.
void buildKernelPipeline(OpPassManager &pm);

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_PASSES_H
