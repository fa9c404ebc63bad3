// Emission of the model table (runtime/include/attn/Runtime/ModelSpec.h) that a compiled program executes.
#ifndef ATTN_TARGET_MODELSPEC_H
#define ATTN_TARGET_MODELSPEC_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "llvm/Support/raw_ostream.h"

namespace mlir::attn {

struct ModelSpecInfo {
  std::string modelName;
  std::string sourceFile;
  std::string target;
  /// The kernels run on the CPU, those of teacher and reverse decoder steps serially: such a decoder's
  /// rows may be split among threads (attn_decoder::split_rows).
  bool splitRows = false;
  /// The program runs as one rank of a data-parallel run: its main is attn_main_mpi.
  bool distributed = false;
};

/// Writes C source defining the model's `attn_model_spec` (the module's first function, with the spec of
/// its gradient function `<name>_grad` when attn-autodiff made one) and a `main` that hands it to the
/// runtime. Functions must hold only parameters, kernels and their return (after attn-outline-kernels).
LogicalResult emitModelSpec(ModuleOp module, const ModelSpecInfo &info, llvm::raw_ostream &os);

} // namespace mlir::attn

#endif // ATTN_TARGET_MODELSPEC_H
