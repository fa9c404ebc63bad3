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
/// outline kernels. `distributed`: the gradient function is one process's part of a data-parallel run.
void buildKernelPipeline(OpPassManager &pm, bool distributed = false);

} // namespace mlir::attn

#endif // ATTN_TRANSFORMS_PASSES_H
