// Fuzz target: a model file through the frontend, lexer → parser → MLIRGen, and the verifier of the IR it
// builds. Every input must end in a module that verifies or in diagnostics, never in a crash or a hang.
#include "attn/Dialect/AttnDialect.h"
#include "attn/Frontend/MLIRGen.h"
#include "attn/Frontend/Parser.h"

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/IR/Verifier.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/SourceMgr.h"

#include <cstdlib>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static mlir::MLIRContext *context = [] {
    auto *c = new mlir::MLIRContext();
    c->getOrLoadDialect<mlir::attn::AttnDialect>();
    c->getOrLoadDialect<mlir::func::FuncDialect>();
    c->getDiagEngine().registerHandler([](mlir::Diagnostic &) { return mlir::success(); });
    return c;
  }();
  llvm::SourceMgr sourceMgr;
  sourceMgr.setDiagHandler([](const llvm::SMDiagnostic &, void *) {});
  sourceMgr.AddNewSourceBuffer(
      llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(reinterpret_cast<const char *>(data), size),
                                           "fuzz.attn"),
      llvm::SMLoc());
  std::unique_ptr<attn::ast::Model> model = attn::parseModel(sourceMgr, "fuzz.attn");
  if (!model)
    return 0;
  mlir::OwningOpRef<mlir::ModuleOp> module = attn::mlirGen(*context, *model);
  // MLIRGen reports its own errors; what it returns must be valid IR.
  if (module && mlir::failed(mlir::verify(*module)))
    std::abort();
  return 0;
}
