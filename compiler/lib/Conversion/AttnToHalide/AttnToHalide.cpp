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

namespace {

/// An elementwise output over a flat parameter: chunks of vectors across threads.
void scheduleFlatUpdate(Halide::Func f, const Halide::Target &target) {
  Halide::Var i = f.args()[0], outer("outer"), inner("inner");
  int vw = target.natural_vector_size<float>();
  f.split(i, outer, inner, vw * 256, Halide::TailStrategy::GuardWithIf)
      .parallel(outer)
      .vectorize(inner, vw, Halide::TailStrategy::GuardWithIf);
}

} // namespace

LogicalResult mlir::attn::compileOptimizerKernels(ModuleOp module, StringRef targetString, StringRef dir,
                                                  std::vector<CompiledKernel> &kernels) {
  Halide::Target target = Halide::Target(targetString.str()).with_feature(Halide::Target::NoRuntime);
  auto compile = [&](std::vector<Halide::Func> outputs, std::vector<Halide::Argument> args, const std::string &entry) {
    llvm::SmallString<256> path(dir);
    llvm::sys::path::append(path, entry + ".o");
    Halide::Pipeline(outputs).compile_to_object(path.str().str(), args, entry, target);
    kernels.push_back({entry, entry, path.str().str()});
  };
  try {
    Halide::Var i("i");
    Halide::ImageParam p(Halide::Float(32), 1, "param"), g(Halide::Float(32), 1, "grad");
    Halide::ImageParam m(Halide::Float(32), 1, "m"), v(Halide::Float(32), 1, "v");
    Halide::Param<float> lr("lr"), beta1("beta1"), beta2("beta2"), eps("eps"), decay("weight_decay");
    Halide::Param<float> bias1("bias1"), bias2("bias2"), scale("scale"), momentum("momentum");
    Halide::Param<int> decoupled("decoupled");

    // Adam (Kingma & Ba) with bias correction; weight decay is L2 in the gradient, or decoupled (AdamW).
    Halide::Expr grad = g(i) * scale;
    grad = Halide::select(decoupled != 0, grad, grad + decay * p(i));
    Halide::Func mNew("m_new"), vNew("v_new"), pNew("param_new");
    mNew(i) = beta1 * m(i) + (1.0f - beta1) * grad;
    vNew(i) = beta2 * v(i) + (1.0f - beta2) * grad * grad;
    Halide::Expr step = lr * (mNew(i) / bias1) / (Halide::sqrt(vNew(i) / bias2) + eps);
    pNew(i) = p(i) - step - Halide::select(decoupled != 0, lr * decay * p(i), 0.0f);
    for (Halide::Func f : {pNew, mNew, vNew})
      scheduleFlatUpdate(f, target);
    compile({pNew, mNew, vNew}, {p, g, m, v, lr, beta1, beta2, eps, decay, bias1, bias2, scale, decoupled},
            "attn_update_adam");

    // SGD with momentum (PyTorch's form: buf = momentum·buf + g, p −= lr·buf) and L2 weight decay.
    Halide::Func bufNew("buf_new"), sgdNew("param_new");
    Halide::Expr sgdGrad = g(i) * scale + decay * p(i);
    bufNew(i) = momentum * m(i) + sgdGrad;
    sgdNew(i) = p(i) - lr * bufNew(i);
    for (Halide::Func f : {sgdNew, bufNew})
      scheduleFlatUpdate(f, target);
    compile({sgdNew, bufNew}, {p, g, m, lr, momentum, decay, scale}, "attn_update_sgd");

    // Σ g², for the global norm of all gradients.
    Halide::RDom r(0, g.dim(0).extent(), "r");
    Halide::Func squares("sum_squares");
    squares() = 0.0f;
    squares() += g(r) * g(r);
    compile({squares}, {g}, "attn_sum_squares");
  } catch (const Halide::Error &e) {
    return module.emitError() << "Halide failed to compile the optimizer kernels: " << e.what();
  }
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
