// The GPU half of the default schedules (docs/gpu.md): for a target with a GPU feature (CUDA, OpenCL) each
// kernel pattern maps onto blocks and threads. Products and dense layers give each thread a register tile
// of outputs and each block a tile of threads; streaming attention runs a block per tile of queries with
// each block of keys and values staged in shared memory and the online softmax's state per thread; row
// reductions (softmax, layer norm) run a thread per row; recurrences a thread per batch row, the time
// loop inside it. Everything else is covered by one rule: every stage that stores (a reduction, an output)
// is a launch over its pure dimensions, and maps are inlined into their readers.
#include "Lowering.h"

#include <set>

using namespace mlir::attn::halide;
using Halide::Func;
using Halide::LoopLevel;
using Halide::TailStrategy;
using Halide::Var;

namespace {

constexpr TailStrategy Guard = TailStrategy::GuardWithIf;

/// Threads per block along the innermost pure dimension of a launch (a warp) and along the next.
constexpr int kThreadsX = 32, kThreadsY = 8;

/// The pure dimensions a stage writes along: all of a pure definition's; those of an update that index its
/// left-hand side as themselves (innermost first).
std::vector<Var> stageVars(Func f, int stage) {
  std::vector<Var> args = f.args();
  if (stage == 0)
    return args;
  std::vector<Var> vars;
  for (const Halide::Expr &e : f.update_args(stage - 1))
    if (auto *v = e.as<Halide::Internal::Variable>(); v && !v->reduction_domain.defined())
      for (const Var &a : args)
        if (a.name() == v->name)
          vars.push_back(a);
  return vars;
}

/// One stage as a launch: its innermost pure dimension across `kThreadsX` threads, the next across
/// `kThreadsY`, the rest fused into the third dimension of the grid; a stage with no pure dimension (a
/// whole-tensor sum, a scan) runs on one GPU thread.
void launch(Func f, int stage) {
  Halide::Stage s = stage == 0 ? Halide::Stage(f) : f.update(stage - 1);
  std::vector<Var> vars = stageVars(f, stage);
  std::string tag = f.name() + "_s" + std::to_string(stage);
  if (vars.empty()) {
    s.gpu_single_thread();
    return;
  }
  Var xo(tag + "_xo"), xi(tag + "_xi"), yo(tag + "_yo"), yi(tag + "_yi");
  if (vars.size() == 1) {
    s.gpu_tile(vars[0], xo, xi, kThreadsX * kThreadsY, Guard);
    return;
  }
  s.gpu_tile(vars[0], vars[1], xo, yo, xi, yi, kThreadsX, kThreadsY, Guard);
  if (vars.size() == 2)
    return;
  Var z = vars[2];
  for (size_t i = 3; i < vars.size(); ++i) {
    Var fused(tag + "_z" + std::to_string(i));
    s.fuse(z, vars[i], fused);
    z = fused;
  }
  s.gpu_blocks(z);
}

/// Stores `f` and launches each of its stages.
void launchAll(Func f) {
  f.compute_root();
  for (int stage = 0; stage <= f.num_update_definitions(); ++stage)
    launch(f, stage);
}

bool contains(const std::set<std::string> &names, const Func &f) { return names.count(f.name()) != 0; }

} // namespace

void mlir::attn::halide::applyGpuSchedule(LoweredKernel &k) {
  std::set<std::string> scheduled;
  std::set<std::string> outputs;
  for (const Func &f : k.outputs)
    outputs.insert(f.name());
  // The generic rule: what stores is launched, maps are inlined.
  for (auto &[name, function] : pipelineFunctions(k)) {
    Func f(function);
    if (contains(scheduled, f))
      continue;
    if (contains(outputs, f) || f.num_update_definitions() > 0 ||
        (k.anchor.defined() && k.anchor.name() == name))
      launchAll(f);
  }
}
