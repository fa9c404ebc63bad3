// attnc loads Debian's libMLIR/libLLVM 22 and the Halide wheel's libHalide (which carries its own LLVM) in
// one process. These tests keep that combination honest: MLIR parses and verifies IR, and in the same
// process Halide both JIT-compiles and ahead-of-time compiles a pipeline.
#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/MLIRContext.h"
#include "mlir/Parser/Parser.h"
#include "llvm/Support/FileSystem.h"

#include "Halide.h"

#include <gtest/gtest.h>

namespace {

mlir::OwningOpRef<mlir::ModuleOp> parseSample(mlir::MLIRContext &context) {
  context.loadDialect<mlir::func::FuncDialect>();
  return mlir::parseSourceString<mlir::ModuleOp>(
      "func.func @f(%a: tensor<?xf32>) -> tensor<?xf32> { return %a : tensor<?xf32> }", &context);
}

TEST(HalideWithMLIR, JitAfterMLIR) {
  mlir::MLIRContext context;
  ASSERT_TRUE(parseSample(context));
  Halide::Func f;
  Halide::Var x;
  f(x) = Halide::cast<float>(x) * 2.0f;
  f.vectorize(x, 8);
  Halide::Buffer<float> out = f.realize({16});
  for (int i = 0; i < 16; ++i)
    EXPECT_EQ(out(i), 2.0f * i);
}

TEST(HalideWithMLIR, AheadOfTimeAfterMLIR) {
  mlir::MLIRContext context;
  ASSERT_TRUE(parseSample(context));
  Halide::ImageParam in(Halide::Float(32), 1, "in");
  Halide::Func f("scaled");
  Halide::Var x;
  f(x) = in(x) * 3.0f;
  llvm::SmallString<128> path;
  ASSERT_FALSE(llvm::sys::fs::createTemporaryFile("halide-aot", "o", path));
  f.compile_to_object(path.str().str(), {in}, "scaled", Halide::get_host_target());
  uint64_t size = 0;
  ASSERT_FALSE(llvm::sys::fs::file_size(path, size));
  EXPECT_GT(size, 0u);
  llvm::sys::fs::remove(path);
  // MLIR still works after Halide has run its LLVM.
  mlir::MLIRContext again;
  EXPECT_TRUE(parseSample(again));
}

} // namespace
