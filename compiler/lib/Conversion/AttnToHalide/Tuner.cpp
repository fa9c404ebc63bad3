// attnc tune: a measuring autotuner. For each hand-scheduled kernel of a model it searches the knobs of the
// hand schedule (ScheduleKnobs: tile shapes, block sizes, whether to run in parallel) by coordinate descent
// from the defaults: each candidate is JIT-compiled, run on random inputs at the estimated sizes on this
// machine, checked against the default schedule's results and timed. The winners go to the tuning
// database, where compilation (AttnToHalide.cpp) finds them.
#include "Tuning.h"

#include "attn/Runtime/ThreadPool.h"

#include "llvm/ADT/StringExtras.h"
#include "llvm/Support/FormatVariadic.h"

#include <chrono>
#include <cmath>
#include <random>

using namespace mlir;
using namespace mlir::attn;
using namespace mlir::attn::halide;

namespace {

using Clock = std::chrono::steady_clock;

double secondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

/// What a kernel runs on while it is tuned: inputs at the estimated sizes, and the outputs' sizes.
/// Floats are uniform in [-1, 1]; integers are large, which the kernels clamp as they clamp every index
/// they read: ids pick the last row of their table, lengths cover every step.
struct Workload {
  std::vector<Halide::Buffer<>> inputs;
  std::vector<Halide::Region> outputs;
};

/// The extents of a region (all constant here: estimates).
std::vector<int> extents(const Halide::Region &region) {
  std::vector<int> sizes;
  for (const Halide::Range &r : region)
    sizes.push_back(*Halide::Internal::as_const_int(r.extent));
  return sizes;
}

Workload makeWorkload(KernelOp kernel, const LoweredKernel &k, const ScheduleOptions &options) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
  Workload w;
  for (auto [param, value] : llvm::zip(k.inputs, kernel.getInputs())) {
    Halide::Buffer<> buffer(param.type(), extents(estimatedRegion(value, options)));
    if (param.type() == Halide::Float(32))
      buffer.as<float>().for_each_value([&](float &x) { x = uniform(rng); });
    else if (param.type() == Halide::Int(32))
      buffer.as<int32_t>().fill(1 << 20);
    else
      std::memset(buffer.data(), 1, buffer.size_in_bytes());
    w.inputs.push_back(buffer);
  }
  for (Value result : kernel.getResults())
    w.outputs.push_back(estimatedRegion(result, options));
  return w;
}

/// A JIT-compiled loop body, run as a task of the runtime's thread pool.
struct JitTask {
  int (*body)(Halide::JITUserContext *, int, uint8_t *);
  Halide::JITUserContext *context;
};

int runJitTask(void *task, int index, uint8_t *closure) {
  auto *t = static_cast<JitTask *>(task);
  return t->body(t->context, index, closure);
}

/// Candidates run their parallel loops on the thread pool compiled programs use (ThreadPool.h), so that
/// what is timed here is what a program will do (Tuner::run gives it a program's default threads).
int jitParallelFor(Halide::JITUserContext *context, int (*body)(Halide::JITUserContext *, int, uint8_t *),
                   int min, int size, uint8_t *closure) {
  JitTask task{body, context};
  return ::attn::rt::poolParallelFor(&task, runJitTask, min, size, closure);
}

/// One input's rows (its outermost dimension), each rewritten in place by the thread that runs it.
struct InputRows {
  uint8_t *data;
  size_t rowBytes;
};

int rewriteRow(void *input, int row, uint8_t *) {
  auto *rows = static_cast<InputRows *>(input);
  volatile uint8_t *bytes = rows->data + size_t(row) * rows->rowBytes;
  for (size_t offset = 0; offset < rows->rowBytes; offset += 64)
    bytes[offset] = bytes[offset];
  return 0;
}

/// Leaves the inputs where the kernels that produce them in a program leave them: each thread's share of
/// the outermost dimension written last by that thread, in its own core's cache (the pool gives a thread
/// the same share of every loop). On inputs the main thread wrote once, timed runs found them in whichever
/// cache the last run read them into, and a weight gradient that reads all of one operand looked faster
/// by columns than by rows, which in the program it was not (docs/performance.md).
void placeInputs(const std::vector<Halide::Buffer<>> &inputs) {
  for (const Halide::Buffer<> &buffer : inputs) {
    int outer = buffer.dimensions() - 1;
    if (outer < 0 || buffer.dim(outer).extent() < 2)
      continue;
    InputRows rows{static_cast<uint8_t *>(buffer.data()),
                   buffer.size_in_bytes() / size_t(buffer.dim(outer).extent())};
    ::attn::rt::poolParallelFor(&rows, rewriteRow, 0, buffer.dim(outer).extent(), nullptr);
  }
}

/// A schedule compiled and run on the workload: its results, and its time (`seconds`, the fastest of
/// several runs after a warm-up, each on inputs placed as a program leaves them: placeInputs), which
/// `time` measures again.
class Measurement {
public:
  Measurement() = default;
  Measurement(LoweredKernel &k, const Workload &w, const Halide::Target &target)
      : pipeline(k.outputs), target(target), inputs(w.inputs) {
    for (auto [param, buffer] : llvm::zip(k.inputs, w.inputs))
      param.set(buffer);
    for (auto [func, region] : llvm::zip(k.outputs, w.outputs))
      outputs.emplace_back(func.type(), extents(region));
    pipeline.jit_handlers().custom_do_par_for = jitParallelFor;
    pipeline.compile_jit(target);
    Halide::Realization realization(outputs);
    pipeline.realize(realization, target); // warm-up: caches, thread pool
    seconds = time();
  }

  /// The fastest of at least 3 runs and 0.2 s.
  double time() {
    Halide::Realization realization(outputs);
    Clock::time_point start = Clock::now();
    double fastest = INFINITY;
    for (int run = 0; run < 100 && (run < 3 || secondsSince(start) < 0.2); ++run) {
      placeInputs(inputs);
      Clock::time_point t = Clock::now();
      pipeline.realize(realization, target);
      fastest = std::min(fastest, secondsSince(t));
    }
    return fastest;
  }

  std::vector<Halide::Buffer<>> outputs;
  double seconds = 0;

private:
  Halide::Pipeline pipeline;
  Halide::Target target;
  std::vector<Halide::Buffer<>> inputs; // shared with the workload
};

/// Whether `candidate` computed what `reference` did: within 1e-4 of the largest magnitude of each float
/// output (at least 1), exactly for other types.
bool agrees(const Measurement &reference, const Measurement &candidate) {
  for (auto [want, got] : llvm::zip(reference.outputs, candidate.outputs)) {
    if (want.type() != Halide::Float(32)) {
      if (std::memcmp(want.data(), got.data(), want.size_in_bytes()) != 0)
        return false;
      continue;
    }
    const float *a = want.as<float>().data(), *b = got.as<float>().data();
    size_t n = want.number_of_elements();
    float scale = 1.0f;
    for (size_t i = 0; i < n; ++i)
      if (std::isfinite(a[i]))
        scale = std::max(scale, std::fabs(a[i]));
    for (size_t i = 0; i < n; ++i) {
      bool same = std::isnan(a[i])   ? std::isnan(b[i])
                  : std::isinf(a[i]) ? a[i] == b[i]
                                     : std::fabs(a[i] - b[i]) <= 1e-4f * scale;
      if (!same)
        return false;
    }
  }
  return true;
}

std::string milliseconds(double seconds) { return llvm::formatv("{0:f3} ms", seconds * 1e3).str(); }

/// The kernels of one tuning key (the same structure and sizes: tuned once), and what tuning found.
struct Group {
  std::vector<KernelOp> kernels;
  TuningKey key;
  Workload workload;
  Measurement hand;
  std::string pattern;
  std::map<std::string, int> defaults;
  std::vector<ScheduleKnobs::Knob> knobs;
};

} // namespace

bool mlir::attn::runsOnHost(StringRef targetString) {
  Halide::Target target(targetString.str()), host = Halide::get_host_target();
  if (target.arch != host.arch || target.bits != host.bits || target.os != host.os ||
      target.has_gpu_feature())
    return false;
  for (Halide::Target::Feature f :
       {Halide::Target::SSE41, Halide::Target::AVX, Halide::Target::AVX2, Halide::Target::FMA,
        Halide::Target::F16C, Halide::Target::AVX512, Halide::Target::AVX512_Skylake,
        Halide::Target::AVX512_Cannonlake, Halide::Target::AVX512_SapphireRapids, Halide::Target::AVX512_Zen4,
        Halide::Target::AVX512_Zen5, Halide::Target::AVXVNNI, Halide::Target::AVX10_1})
    if (target.has_feature(f) && !host.has_feature(f))
      return false;
  return true;
}

namespace {

class Tuner {
public:
  Tuner(ModuleOp module, const Halide::Target &target, const ScheduleOptions &options,
        const TuneOptions &tune, llvm::raw_ostream &log)
      : module(module), target(target), machine(MachineParams::of(target)), options(options), tune(tune),
        log(log) {}

  LogicalResult run() {
    FailureOr<TuningDb> loaded = TuningDb::load(module.getContext(), options.tuningDb);
    if (failed(loaded))
      return failure();
    db = std::move(*loaded);
    ::attn::rt::setPoolThreads(::attn::rt::defaultPoolThreads());
    start = Clock::now();
    collect();
    log << "attnc tune: " << groups.size() << " distinct kernels on " << hostCpu() << ", budget "
        << llvm::formatv("{0:f0}", tune.budgetSeconds) << " s\n";
    for (auto [index, group] : llvm::enumerate(groups))
      if (failed(measureHand(group, index)))
        return failure();
    // The budget left goes to the kernels in proportion to the time they take (hand schedule × uses).
    std::vector<Group *> order;
    for (Group &g : groups)
      if (!g.hand.outputs.empty())
        order.push_back(&g);
    auto weight = [](const Group *g) { return g->hand.seconds * g->kernels.size(); };
    llvm::stable_sort(order, [&](Group *a, Group *b) { return weight(a) > weight(b); });
    double weightLeft = 0;
    for (Group *g : order)
      weightLeft += weight(g);
    for (auto [index, group] : llvm::enumerate(order)) {
      double share = std::max(0.0, tune.budgetSeconds - secondsSince(start)) * weight(group) / weightLeft;
      weightLeft -= weight(group);
      if (failed(search(*group, share, index + 1, order.size())))
        return failure();
    }
    if (std::string error; failed(db.save(error)))
      return emitError(FileLineColLoc::get(module.getContext(), options.tuningDb, 0, 0)) << error;
    log << "attnc tune: done in " << llvm::formatv("{0:f0}", secondsSince(start)) << " s; results in "
        << options.tuningDb << "\n";
    return success();
  }

private:
  /// Groups the hand-scheduled kernels by tuning key (only the model's own, not its gradient program's,
  /// with `forwardOnly`).
  void collect() {
    Operation *model = &module.getBody()->front();
    module.walk([&](KernelOp kernel) {
      if (tune.forwardOnly && kernel->getParentOfType<func::FuncOp>() != model)
        return;
      TuningKey key = tuningKey(kernel, target, options);
      auto same = llvm::find_if(groups, [&](const Group &g) {
        return g.key.fingerprint == key.fingerprint && g.key.shape == key.shape;
      });
      if (same != groups.end())
        same->kernels.push_back(kernel);
      else
        groups.push_back({{kernel}, key, {}, {}, "", {}, {}});
    });
  }

  std::string title(Group &g) {
    std::string name = g.kernels.front().getName().str();
    if (g.kernels.size() > 1)
      name += " (and " + std::to_string(g.kernels.size() - 1) + " like it)";
    return name;
  }

  /// The default schedule's results and time, which every candidate is checked and measured against.
  LogicalResult measureHand(Group &g, size_t index) {
    KernelOp kernel = g.kernels.front();
    log << llvm::formatv("[{0}/{1}] {2}: ", index + 1, groups.size(), title(g));
    try {
      FailureOr<LoweredKernel> k = lowerByHand(kernel, target, machine, options, ScheduleKnobs());
      if (failed(k))
        return failure();
      g.workload = makeWorkload(kernel, *k, options);
      g.hand = Measurement(*k, g.workload, target);
      g.defaults = k->knobs.values();
      g.knobs = k->knobs.used();
      g.pattern = llvm::join(k->pattern, " + ");
      log << "hand schedule " << milliseconds(g.hand.seconds) << " [" << g.pattern << "]\n";
    } catch (const Halide::Error &e) {
      g.hand.outputs.clear();
      log << "not tuned, it does not run at the estimated sizes: " << e.what() << "\n";
    }
    return success();
  }

  /// Coordinate descent over the knobs, from the defaults, until no knob improves or `share` seconds pass;
  /// then the winner and the hand schedule are timed again in turn, and the winner kept only if it is
  /// still more than 2% faster.
  LogicalResult search(Group &g, double share, size_t index, size_t count) {
    Clock::time_point deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(share));
    std::map<std::string, int> best = g.defaults;
    std::optional<Measurement> winner;
    double bestSeconds = g.hand.seconds;
    int tried = 0, rejected = 0;
    bool improved = true;
    for (int pass = 0; improved && Clock::now() < deadline; ++pass) {
      improved = false;
      for (const ScheduleKnobs::Knob &knob : g.knobs)
        for (int value : knob.candidates) {
          if (Clock::now() >= deadline || best[knob.name] == value)
            continue;
          std::map<std::string, int> candidate = best;
          candidate[knob.name] = value;
          std::optional<Measurement> m = measure(g, candidate, rejected);
          ++tried;
          if (m && m->seconds < bestSeconds * 0.98) {
            best = candidate, bestSeconds = m->seconds, improved = true;
            winner = std::move(m);
          }
        }
    }
    double handSeconds = g.hand.seconds;
    if (best != g.defaults) {
      handSeconds = bestSeconds = INFINITY;
      for (int round = 0; round < 3; ++round) {
        handSeconds = std::min(handSeconds, g.hand.time());
        bestSeconds = std::min(bestSeconds, winner->time());
      }
    }
    if (best == g.defaults || bestSeconds >= handSeconds * 0.98) // also a knob changed and changed back
      best = g.defaults, bestSeconds = handSeconds;
    db.put({g.key, g.kernels.front().getName().str(), g.pattern, tune.model, best, handSeconds, bestSeconds});
    log << llvm::formatv(
        "[{0}/{1}] {2}: {3} -> {4} ({5:f2}x, {6} candidates, {7} rejected){8}\n", index, count, title(g),
        milliseconds(handSeconds), milliseconds(bestSeconds), handSeconds / bestSeconds, tried, rejected,
        best == g.defaults ? std::string(", hand schedule kept") : "  " + describeKnobs(best));
    return success();
  }

  /// The kernel with `knobs`, measured; none if it does not compile, a knob does not apply, or its results
  /// differ from the hand schedule's (`rejected` counts those).
  std::optional<Measurement> measure(Group &g, const std::map<std::string, int> &knobs, int &rejected) {
    try {
      FailureOr<LoweredKernel> k =
          lowerByHand(g.kernels.front(), target, machine, options, ScheduleKnobs(knobs));
      if (failed(k) || k->knobs.values() != knobs)
        return std::nullopt;
      Measurement m(*k, g.workload, target);
      if (!agrees(g.hand, m)) {
        ++rejected;
        return std::nullopt;
      }
      return m;
    } catch (const Halide::Error &) {
      return std::nullopt;
    }
  }

  ModuleOp module;
  Halide::Target target;
  MachineParams machine;
  const ScheduleOptions &options;
  const TuneOptions &tune;
  llvm::raw_ostream &log;
  TuningDb db;
  std::vector<Group> groups;
  Clock::time_point start;
};

} // namespace

LogicalResult mlir::attn::tuneKernels(ModuleOp module, StringRef targetString,
                                      const ScheduleOptions &schedule, const TuneOptions &tune,
                                      llvm::raw_ostream &log) {
  try {
    return Tuner(module, Halide::Target(targetString.str()), schedule, tune, log).run();
  } catch (const Halide::Error &e) {
    return emitError(UnknownLoc::get(module.getContext())) << "Halide failed while tuning: " << e.what();
  }
}

LogicalResult mlir::attn::reportTuning(ModuleOp module, StringRef targetString,
                                       const ScheduleOptions &schedule, llvm::raw_ostream &os) {
  FailureOr<TuningDb> db = TuningDb::load(module.getContext(), schedule.tuningDb);
  if (failed(db))
    return failure();
  Halide::Target target(targetString.str());
  os << "# tuning database " << schedule.tuningDb << ", CPU " << hostCpu() << ", target " << targetString
     << "\n";
  os << llvm::formatv("{0,-28} {1,12} {2,12} {3,8}  {4}\n", "kernel", "hand", "tuned", "speedup", "knobs");
  double hand = 0, tuned = 0;
  Operation *program = nullptr;
  module.walk([&](KernelOp kernel) {
    if (auto func = kernel->getParentOfType<func::FuncOp>(); func && func != program) {
      program = func;
      os << "# " << (program == &module.getBody()->front() ? "model " : "gradient program ") << func.getName()
         << "\n";
    }
    const TuningRecord *r = db->find(tuningKey(kernel, target, schedule));
    if (!r) {
      os << llvm::formatv("{0,-28} {1,12} {2,12} {3,8}  {4}\n", kernel.getName(), "-", "-", "-", "not tuned");
      return;
    }
    hand += r->handSeconds, tuned += r->tunedSeconds;
    bool sameSizes = r->key.shape == tuningKey(kernel, target, schedule).shape;
    os << llvm::formatv("{0,-28} {1,12} {2,12} {3,7:f2}x  {4}{5}\n", kernel.getName(),
                        milliseconds(r->handSeconds), milliseconds(r->tunedSeconds),
                        r->handSeconds / r->tunedSeconds, describeKnobs(r->knobs),
                        sameSizes ? "" : " (tuned at other sizes)");
  });
  if (tuned > 0)
    os << llvm::formatv("{0,-28} {1,12} {2,12} {3,7:f2}x\n", "total", milliseconds(hand), milliseconds(tuned),
                        hand / tuned);
  return success();
}
