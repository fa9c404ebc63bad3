// The pass pipeline attnc runs from layer ops to kernels.
#include "attn/Transforms/Passes.h"

#include "mlir/Transforms/Passes.h"

void mlir::attn::buildKernelPipeline(OpPassManager &pm) {
  OpPassManager &func = pm.nest<func::FuncOp>();
  func.addPass(createAttnInferShapes());
  func.addPass(createAttnDecompose());
  func.addPass(createCSEPass()); // layers that decompose into shared work (a layer and its weights)
  func.addPass(createAttnHoistStepInvariants());
  func.addPass(createAttnFuseAttention());
  func.addPass(createAttnOutlineKernels());
}
