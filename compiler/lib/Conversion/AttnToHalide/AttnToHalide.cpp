// Drives the Halide lowering of a function's kernels: resolves the target, builds and schedules each
// kernel's pipeline, and compiles it ahead of time (or prints its lowered statement).
#include "attn/Conversion/AttnToHalide.h"

#include "Lowering.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

using namespace mlir;
using namespace mlir::attn;

FailureOr<std::string> mlir::attn::resolveHalideTarget(StringRef spec, std::string &error) {
  if (spec == "host")
    return Halide::get_host_target().to_string();
  if (!Halide::Target::validate_target_string(spec.str())) {
    error = "unknown target '" + spec.str() +
            "': expected 'host' or a Halide target string such as 'x86-64-linux-avx2-fma'";
    return failure();
  }
  return Halide::Target(spec.str()).to_string();
}

namespace {

/// Builds and schedules one kernel; Halide reports user errors as exceptions, which become diagnostics.
FailureOr<halide::LoweredKernel> lowerKernel(KernelOp kernel, const Halide::Target &target) {
  FailureOr<halide::LoweredKernel> lowered = halide::buildAlgorithm(kernel);
  if (failed(lowered))
    return failure();
  try {
    halide::applyDefaultSchedule(*lowered, target);
  } catch (const Halide::Error &e) {
    return kernel.emitError() << "cannot schedule kernel '" << kernel.getName() << "': " << e.what();
  }
  return lowered;
}

std::vector<Halide::Argument> arguments(const halide::LoweredKernel &k) {
  return {k.inputs.begin(), k.inputs.end()};
}

Halide::Pipeline pipelineOf(const halide::LoweredKernel &k) { return Halide::Pipeline(k.outputs); }

template <typename Fn>
LogicalResult forEachKernel(ModuleOp module, StringRef targetString, Fn fn) {
  Halide::Target target(targetString.str());
  WalkResult result = module.walk([&](KernelOp kernel) {
    FailureOr<halide::LoweredKernel> lowered = lowerKernel(kernel, target);
    if (failed(lowered))
      return WalkResult::interrupt();
    try {
      if (failed(fn(kernel, *lowered, target)))
        return WalkResult::interrupt();
    } catch (const Halide::Error &e) {
      kernel.emitError() << "Halide failed to compile kernel '" << kernel.getName() << "': " << e.what();
      return WalkResult::interrupt();
    }
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

} // namespace

LogicalResult mlir::attn::compileKernels(ModuleOp module, StringRef targetString, StringRef dir,
                                         std::vector<CompiledKernel> &kernels, std::string &runtimeObject) {
  LogicalResult result = forEachKernel(
      module, targetString,
      [&](KernelOp kernel, halide::LoweredKernel &k, const Halide::Target &target) -> LogicalResult {
        llvm::SmallString<256> path(dir);
        llvm::sys::path::append(path, k.entry + ".o");
        pipelineOf(k).compile_to_object(path.str().str(), arguments(k), k.entry,
                                        target.with_feature(Halide::Target::NoRuntime));
        kernels.push_back({kernel.getName().str(), k.entry, path.str().str()});
        return success();
      });
  if (failed(result))
    return failure();
  llvm::SmallString<256> path(dir);
  llvm::sys::path::append(path, "halide_runtime.o");
  try {
    Halide::compile_standalone_runtime(path.str().str(), Halide::Target(targetString.str()));
  } catch (const Halide::Error &e) {
    return module.emitError() << "Halide failed to compile its runtime: " << e.what();
  }
  runtimeObject = path.str().str();
  return success();
}

LogicalResult mlir::attn::printKernelsAsHalide(ModuleOp module, StringRef targetString,
                                               llvm::raw_ostream &os) {
  llvm::SmallString<128> tmp;
  if (llvm::sys::fs::createTemporaryFile("attnc-kernel", "stmt", tmp))
    return module.emitError("cannot create a temporary file for the Halide statement");
  llvm::scope_exit removeTmp([&] { llvm::sys::fs::remove(tmp); });
  return forEachKernel(
      module, targetString,
      [&](KernelOp kernel, halide::LoweredKernel &k, const Halide::Target &target) -> LogicalResult {
        pipelineOf(k).compile_to_lowered_stmt(tmp.str().str(), arguments(k), Halide::StmtOutputFormat::Text,
                                              target.with_feature(Halide::Target::NoRuntime));
        auto buffer = llvm::MemoryBuffer::getFile(tmp);
        if (!buffer)
          return kernel.emitError("cannot read back the Halide statement");
        os << "// kernel " << kernel.getName() << " (" << llvm::join(k.pattern, " + ") << ") -> "
           << k.entry << "\n"
           << (*buffer)->getBuffer() << "\n";
        return success();
      });
}
