// The pass pipeline attnc runs from layer ops to kernels.
#include "attn/Transforms/Passes.h"

#include "mlir/Transforms/Passes.h"

void mlir::attn::buildKernelPipeline(OpPassManager &pm, bool distributed) {
  OpPassManager &primitives = pm.nest<func::FuncOp>();
  primitives.addPass(createAttnInferShapes());
  primitives.addPass(createAttnDecompose());
  primitives.addPass(createCSEPass()); // layers that decompose into shared work (a layer and its weights)
  primitives.addPass(createAttnHoistStepInvariants()); // a decoder step's gradient sees invariants outside
  pm.addPass(
      createAttnAutodiff(AttnAutodiffOptions{distributed})); // a model with a loss gets its gradient function
  OpPassManager &kernels = pm.nest<func::FuncOp>();
  kernels.addPass(createAttnInferShapes());
  kernels.addPass(createCSEPass()); // gradients that rules build twice (two biases summing one tensor)
  kernels.addPass(createAttnHoistStepInvariants()); // and the invariant work of gradient steps
  kernels.addPass(createAttnTransposeStepWeights());
  kernels.addPass(createAttnFuseAttention());
  kernels.addPass(createAttnOutlineKernels());
}
