// attn-opt: runs attn passes on .mlir text, like mlir-opt; what the lit suites drive.
#include "attn/Dialect/AttnDialect.h"
#include "attn/Transforms/Passes.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"
#include "mlir/Transforms/Passes.h"

int main(int argc, char **argv) {
  mlir::DialectRegistry registry;
  registry.insert<mlir::attn::AttnDialect, mlir::func::FuncDialect>();
  mlir::attn::registerAttnPasses();
  mlir::registerCanonicalizerPass();
  mlir::registerCSEPass();
  mlir::PassPipelineRegistration<>("attn-kernel-pipeline",
                                   "The pipeline attnc runs: infer shapes, decompose, fuse, outline",
                                   [](mlir::OpPassManager &pm) { mlir::attn::buildKernelPipeline(pm); });
  return mlir::asMainReturnCode(mlir::MlirOptMain(argc, argv, "attn optimizer driver\n", registry));
}
