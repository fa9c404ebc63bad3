// Drives the Halide lowering of a function's kernels: resolves the target, builds and schedules each
// kernel's pipeline, and compiles it ahead of time (or prints its lowered statement).
#include "attn/Conversion/AttnToHalide.h"

#include "Tuning.h"

#include "llvm/ADT/ScopeExit.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/TypeSwitch.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"

#include <atomic>
#include <dlfcn.h>
#include <set>
#include <thread>

using namespace mlir;
using namespace mlir::attn;

FailureOr<std::string> mlir::attn::resolveHalideTarget(StringRef spec, std::string &error) {
  if (spec == "host")
    return Halide::get_host_target().to_string();
  // Short forms for the GPU: this CPU's code for the host side, the kernels for CUDA (the highest
  // capability Halide 21 emits, whose PTX later GPUs also load) or OpenCL.
  if (spec == "cuda")
    return Halide::get_host_target()
        .with_feature(Halide::Target::CUDA)
        .with_feature(Halide::Target::CUDACapability86)
        .to_string();
  if (spec == "opencl")
    return Halide::get_host_target().with_feature(Halide::Target::OpenCL).to_string();
  if (!Halide::Target::validate_target_string(spec.str())) {
    error = "unknown target '" + spec.str() +
            "': expected 'host', 'cuda', 'opencl' or a Halide target string such as "
            "'x86-64-linux-avx2-fma' or 'host-cuda-cuda_capability_80'";
    return failure();
  }
  return Halide::Target(spec.str()).to_string();
}

std::string mlir::attn::targetTriple(StringRef targetString) {
  Halide::Target target(targetString.str());
  if (target.os != Halide::Target::Linux)
    return "";
  switch (target.arch) {
  case Halide::Target::X86:
    return target.bits == 64 ? "x86_64-linux-gnu" : "i686-linux-gnu";
  case Halide::Target::ARM:
    return target.bits == 64 ? "aarch64-linux-gnu" : "armv7a-linux-gnueabihf";
  case Halide::Target::RISCV:
    return target.bits == 64 ? "riscv64-linux-gnu" : "";
  default:
    return "";
  }
}

namespace {

/// CPU kernels: decoders whose rows are independent split them among threads (ModelSpecInfo::splitRows).
bool splitsRows(const Halide::Target &target) { return !target.has_gpu_feature(); }

/// A step kernel of such a decoder: serial, since its decoder's rows are what runs in parallel.
bool inSplitDecoder(KernelOp kernel, const Halide::Target &target) {
  auto decode = kernel->getParentOfType<DecodeOp>();
  return decode && !decode.isSearch() && splitsRows(target);
}

} // namespace

bool mlir::attn::splitsDecoderRows(StringRef target) { return splitsRows(Halide::Target(target.str())); }

namespace {

const char *const kAutoschedulers[] = {"adams2019", "anderson2021", "li2018", "mullapudi2016"};
const char *const kAutoschedulerList = "adams2019, anderson2021 (GPU targets), li2018 or mullapudi2016";

/// Loads Halide's plugin for autoscheduler `name` (once) from the directory of libHalide itself.
void loadAutoscheduler(const std::string &name) {
  static std::set<std::string> loaded;
  if (loaded.count(name))
    return;
  Dl_info info;
  std::string dir = ".";
  if (dladdr(reinterpret_cast<void *>(&Halide::load_plugin), &info) && info.dli_fname)
    dir = llvm::sys::path::parent_path(info.dli_fname).str();
  Halide::load_plugin(dir + "/libautoschedule_" + name + ".so");
  loaded.insert(name);
}

/// The static size of dimension `d` of `v` (negative: from the end); 1 if it is dynamic.
int64_t staticSize(Value v, int64_t d) {
  auto type = cast<RankedTensorType>(v.getType());
  if (d < 0)
    d += type.getRank();
  return type.isDynamicDim(d) ? 1 : type.getDimSize(d);
}

/// Where dimension `dim` of `v`, a result or step-body argument of a teacher-forced decoder loop or of its
/// reverse, comes from: a result [B, T, ...] has the rows and steps of the teacher [B, T] and the rest of
/// its emitted value's (a reverse loop's result, the shape of its carried state); the token is one per
/// row, a sequence's slice drops its steps, the carried state is its `init`'s. None elsewhere (a search's
/// results and body, whose rows are hypotheses and whose steps are data).
std::optional<std::pair<Value, unsigned>> throughDecoder(Value v, unsigned dim) {
  if (auto arg = dyn_cast<BlockArgument>(v)) {
    auto decode = dyn_cast<DecodeOp>(arg.getOwner()->getParentOp());
    if (!decode || decode.isSearch())
      return std::nullopt;
    unsigned n = arg.getArgNumber();
    if (n == 0 && decode.getTeacher())
      return std::pair{decode.getTeacher(), 0};
    if (n < decode.getNumLeadingArguments())
      return std::nullopt;
    n -= decode.getNumLeadingArguments();
    if (n < decode.getSequences().size())
      return std::pair{decode.getSequences()[n], dim == 0 ? 0 : dim + 1};
    return std::pair{decode.getInit()[n - decode.getSequences().size()], dim};
  }
  auto decode = v.getDefiningOp<DecodeOp>();
  if (!decode || decode.isSearch())
    return std::nullopt;
  unsigned n = cast<OpResult>(v).getResultNumber();
  if (decode.isReverse())
    return std::pair{decode.getInit()[n], dim};
  if (dim < 2)
    return std::pair{decode.getTeacher(), dim};
  return std::pair{decode.getYield().getEmits()[n], dim - 1};
}

/// The name of dynamic dimension `dim` of `v` in the model (`B`, `L`), if it traces back to an input's,
/// through decoder loops as throughDecoder follows them.
std::optional<std::string> dimensionName(Value v, unsigned dim) {
  auto anywhere = [](Value) { return false; };
  auto [source, sourceDim] = traceDimension(v, dim, anywhere);
  while (auto next = throughDecoder(source, sourceDim))
    std::tie(source, sourceDim) = traceDimension(next->first, next->second, anywhere);
  auto arg = dyn_cast<BlockArgument>(source);
  auto func = arg ? dyn_cast<func::FuncOp>(arg.getOwner()->getParentOp()) : nullptr;
  if (!func)
    return std::nullopt;
  auto dims = func.getArgAttrOfType<ArrayAttr>(arg.getArgNumber(), AttnDialect::kInputDimsAttr);
  if (dims && sourceDim < dims.size())
    if (auto symbol = dyn_cast<StringAttr>(dims[sourceDim]))
      return symbol.str();
  return std::nullopt;
}

} // namespace

int64_t mlir::attn::halide::estimatedExtent(Value v, int64_t d, const ScheduleOptions &options) {
  auto type = cast<RankedTensorType>(v.getType());
  if (!type.isDynamicDim(d))
    return type.getDimSize(d);
  if (std::optional<std::string> name = dimensionName(v, static_cast<unsigned>(d)))
    if (auto found = options.estimates.find(*name); found != options.estimates.end())
      return found->second;
  return options.latency ? 1 : ScheduleOptions::kDefaultEstimate;
}

Halide::Region mlir::attn::halide::estimatedRegion(Value v, const ScheduleOptions &options) {
  auto type = cast<RankedTensorType>(v.getType());
  Halide::Region region;
  for (int64_t d = type.getRank() - 1; d >= 0; --d)
    region.emplace_back(0, static_cast<int>(estimatedExtent(v, d, options)));
  return region;
}

namespace {

using halide::estimatedExtent;
using halide::estimatedRegion;

int64_t estimatedElements(Value v, const ScheduleOptions &options) {
  int64_t n = 1;
  for (int64_t d = 0; d < cast<RankedTensorType>(v.getType()).getRank(); ++d)
    n *= estimatedExtent(v, d, options);
  return n;
}

/// Multiply-adds (or elements, for ops without a reduction) the kernel computes at the estimated sizes.
int64_t estimatedWork(KernelOp kernel, const ScheduleOptions &options) {
  int64_t work = 0;
  for (Operation &op : kernel.getBody().front().without_terminator())
    for (Value result : op.getResults()) {
      int64_t perElement =
          llvm::TypeSwitch<Operation *, int64_t>(&op)
              .Case([](DenseOp d) { return staticSize(d.getInput(), -1); })
              .Case([](Conv2DOp c) {
                auto w = cast<RankedTensorType>(c.getWeight().getType()).getShape();
                return w[1] * w[2] * w[3];
              })
              .Case([](ScoreOp s) { return staticSize(s.getQuery(), -1) / s.getNumHeads(); })
              .Case([&](WeightedSumOp w) { return estimatedExtent(w.getValues(), 1, options); })
              .Default([](Operation *) { return int64_t(1); });
      work += estimatedElements(result, options) * std::max<int64_t>(perElement, 1);
    }
  return work;
}

/// Makes every parallel loop of the kernel serial.
void serialize(halide::LoweredKernel &k) {
  halide::forEachStageSchedule(k, [](Halide::Internal::StageSchedule &stage) {
    for (Halide::Internal::Dim &dim : stage.dims())
      if (dim.for_type == Halide::Internal::ForType::Parallel)
        dim.for_type = Halide::Internal::ForType::Serial;
  });
}

/// Autoschedulers plan for the estimated sizes. They split loops with tails that shift inwards or round
/// up, which read outside the inputs when a dimension turns out smaller than the factor (a batch of 3
/// under a split by 8): the tails are guarded, but for loops with unrolled loops inside, which need a
/// constant extent. And they may unroll a loop whose extent only the estimate fixed: it runs serially.
/// With `guardAll` (GPU schedules, whose unrolled loops only save registers) every tail is guarded and the
/// unrolled loops inside guarded ones run serially.
void fitAllSizes(halide::LoweredKernel &k, bool guardAll) {
  halide::forEachStageSchedule(k, [guardAll](Halide::Internal::StageSchedule &stage) {
    // Only a split's inner loop has a constant extent; an unrolled loop over a Func's own variable (sized
    // by the estimate) runs serially instead.
    std::set<std::string> inner;
    for (const Halide::Internal::Split &split : stage.splits())
      if (split.split_type == Halide::Internal::Split::SplitVar)
        inner.insert(split.inner);
    for (Halide::Internal::Dim &d : stage.dims())
      if (d.for_type == Halide::Internal::ForType::Unrolled && !inner.count(d.var))
        d.for_type = Halide::Internal::ForType::Serial;
    for (Halide::Internal::Split &split : stage.splits()) {
      if (split.split_type != Halide::Internal::Split::SplitVar)
        continue;
      // A guarded loop has a varying extent, which an unrolled loop inside it cannot have.
      auto unrolledInside = [&](const Halide::Internal::Dim &d) {
        return d.for_type == Halide::Internal::ForType::Unrolled &&
               (d.var == split.inner || llvm::StringRef(d.var).starts_with(split.inner + "."));
      };
      if (!guardAll && llvm::any_of(stage.dims(), unrolledInside))
        continue;
      split.tail = Halide::TailStrategy::GuardWithIf;
      for (Halide::Internal::Dim &d : stage.dims())
        if (unrolledInside(d))
          d.for_type = Halide::Internal::ForType::Serial;
    }
  });
}

} // namespace

FailureOr<halide::LoweredKernel>
mlir::attn::halide::lowerByHand(KernelOp kernel, const Halide::Target &target, const MachineParams &machine,
                                const ScheduleOptions &options, ScheduleKnobs knobs) {
  FailureOr<LoweredKernel> lowered = buildAlgorithm(kernel, machine, std::move(knobs));
  if (failed(lowered))
    return failure();
  // A weight gradient's schedule depends on how many rows it sums: the estimated extents of its operand's
  // leading dimensions.
  if (lowered->pattern == std::vector<std::string>{"dense_grad_weight"})
    kernel.walk([&](DenseGradWeightOp op) {
      std::vector<int64_t> &rows = lowered->matmuls.front().summedRows;
      for (int64_t d = cast<RankedTensorType>(op.getGrad().getType()).getRank() - 2; d >= 0; --d)
        rows.push_back(estimatedExtent(op.getGrad(), d, options));
    });
  applyDefaultSchedule(*lowered);
  if (inSplitDecoder(kernel, target)) {
    serialize(*lowered);
  } else {
    bool small = options.latency && estimatedWork(kernel, options) <
                                        ScheduleOptions::kSerialWorkPerLane * machine.vectorWidth;
    if (!lowered->knobs.get("parallel", !small, {0, 1}))
      serialize(*lowered);
  }
  return lowered;
}

namespace {

/// A kernel's name in schedule files and diagnostics about its schedule: its C symbol without `attn_`, so
/// that a kernel of the gradient program is `grad_<name>`, apart from the forward kernel of that name.
std::string scheduleName(KernelOp kernel) { return StringRef(kernel.getEntryName()).drop_front(5).str(); }

std::vector<Halide::Argument> arguments(const halide::LoweredKernel &k) {
  return {k.inputs.begin(), k.inputs.end()};
}

/// Whether Halide can lower the scheduled kernel for `target`; if not, `error` says why.
bool lowers(const halide::LoweredKernel &k, const Halide::Target &target, std::string &error) {
  try {
    Halide::Pipeline(k.outputs).compile_to_module(arguments(k), k.entry, target);
    return true;
  } catch (const Halide::Error &e) {
    error = llvm::StringRef(e.what()).trim().split('\n').first.str();
    return false;
  }
}

void autoschedule(KernelOp kernel, halide::LoweredKernel &k, const std::string &name,
                  const Halide::Target &target, const ScheduleOptions &options) {
  loadAutoscheduler(name);
  for (auto [param, value] : llvm::zip(k.inputs, kernel.getInputs()))
    param.set_estimates(estimatedRegion(value, options));
  for (auto [func, value] : llvm::zip(k.outputs, kernel.getResults()))
    func.set_estimates(estimatedRegion(value, options));
  // On a GPU, the parallelism is its streaming multiprocessors: the GPU is not known at compile time, so
  // that of a large current one (an A100 has 108, an H100 132).
  constexpr int kGpuMultiprocessors = 128;
  std::string parallelism = std::to_string(
      target.has_gpu_feature() ? kGpuMultiprocessors : std::max(1u, std::thread::hardware_concurrency()));
  std::string registered = name; // "Adams2019", "Anderson2021", "Li2018", "Mullapudi2016"
  registered[0] = static_cast<char>(std::toupper(registered[0]));
  std::map<std::string, std::string> params{{"parallelism", parallelism}};
  if (name == "adams2019" || name == "anderson2021")
    params["beam_size"] = "1"; // greedy: their default beam search takes many minutes and gigabytes here
  Halide::Pipeline(k.outputs).apply_autoscheduler(target, {registered, params});
  fitAllSizes(k, target.has_gpu_feature());
}

/// Chooses and applies each kernel's schedule: a schedule file's section, else the autoscheduler, else the
/// hand-written schedule of its pattern with the knobs the tuning database has for it.
class Scheduler {
public:
  Scheduler(ModuleOp module, const Halide::Target &target, const ScheduleOptions &options)
      : module(module), options(options), machine(halide::MachineParams::of(target)) {}

  /// What is wrong with autoscheduler `name` for this target, or "".
  std::string autoschedulerProblem(const std::string &name) const {
    if (!llvm::is_contained(kAutoschedulers, name))
      return "unknown autoscheduler '" + name + "': expected " + kAutoschedulerList;
    if (name == "anderson2021" && !machine.gpu)
      return "autoscheduler 'anderson2021' plans GPU kernels: compile with --target=cuda or --target=opencl, "
             "or use adams2019, li2018 or mullapudi2016 for this CPU";
    return "";
  }

  /// Reads and checks the schedule file, the autoscheduler name and the tuning database.
  LogicalResult init() {
    if (!options.autoscheduler.empty())
      if (std::string problem = autoschedulerProblem(options.autoscheduler); !problem.empty())
        return module.emitError() << problem;
    if (!options.tuningDb.empty()) {
      FailureOr<halide::TuningDb> db = halide::TuningDb::load(module.getContext(), options.tuningDb);
      if (failed(db))
        return failure();
      tuned = std::move(*db);
    }
    if (options.file.empty())
      return success();
    auto buffer = llvm::MemoryBuffer::getFile(options.file, /*IsText=*/true);
    if (!buffer)
      return module.emitError() << "cannot read schedule file '" << options.file
                                << "': " << buffer.getError().message();
    auto parsed = halide::parseSchedules((*buffer)->getBuffer());
    if (auto *e = std::get_if<halide::ScheduleError>(&parsed))
      return fileError(e->line, e->column, e->message);
    std::vector<std::string> names;
    module.walk([&](KernelOp kernel) { names.push_back(scheduleName(kernel)); });
    for (halide::KernelSchedule &k : std::get<0>(parsed)) {
      if (!llvm::is_contained(names, k.kernel))
        return fileError(k.line, k.column,
                         "no kernel '" + k.kernel + "' in this model; its kernels are " +
                             llvm::join(names, ", "));
      if (!k.autoscheduler.empty())
        if (std::string problem = autoschedulerProblem(k.autoscheduler); !problem.empty())
          return fileError(k.line, k.column, problem);
      std::string name = k.kernel;
      file.emplace(name, std::move(k));
    }
    return success();
  }

  /// Builds and schedules one kernel; Halide reports user errors as exceptions, which become diagnostics.
  FailureOr<halide::LoweredKernel> lower(KernelOp kernel, const Halide::Target &target) {
    auto entry = file.find(scheduleName(kernel));
    std::string scheduler = entry != file.end() ? entry->second.autoscheduler : options.autoscheduler;
    bool byHand = entry == file.end() && scheduler.empty();
    try {
      if (byHand)
        return halide::lowerByHand(kernel, target, machine, options,
                                   halide::ScheduleKnobs(tunedKnobs(kernel, target)));
      FailureOr<halide::LoweredKernel> lowered = halide::buildAlgorithm(kernel, machine);
      if (failed(lowered))
        return failure();
      if (scheduler.empty()) {
        if (std::optional<halide::ScheduleError> e = halide::applySchedule(*lowered, entry->second))
          return fileError(e->line, e->column, e->message);
      } else if (scheduler != "anderson2021") {
        autoschedule(kernel, *lowered, scheduler, target, options);
      } else if (std::string error = gpuAutoschedule(kernel, *lowered, target); !error.empty()) {
        // Halide's GPU autoscheduler fails on some kernels (an LSTM cell's step) and nests the loops of
        // others in a way its own lowering rejects (a loop between GPU block loops, seen on
        // five-dimensional attention stages): such a kernel keeps its default schedule, and says so.
        mlir::emitWarning(kernel.getLoc()) << "anderson2021 cannot schedule kernel '" << scheduleName(kernel)
                                           << "' (" << error << "); it keeps its default schedule";
        return halide::lowerByHand(kernel, target, machine, options,
                                   halide::ScheduleKnobs(tunedKnobs(kernel, target)));
      }
      return lowered;
    } catch (const Halide::Error &e) {
      return kernel.emitError() << "cannot schedule kernel '" << scheduleName(kernel) << "': " << e.what();
    }
  }

  /// Schedules `k` with anderson2021; returns why it could not, or "".
  std::string gpuAutoschedule(KernelOp kernel, halide::LoweredKernel &k, const Halide::Target &target) {
    try {
      autoschedule(kernel, k, "anderson2021", target, options);
    } catch (const Halide::Error &e) {
      llvm::StringRef what = llvm::StringRef(e.what()).trim();
      return "it fails" + (what.empty() || what == "Error:" ? "" : ": " + what.str());
    }
    std::string error;
    return lowers(k, target, error) ? "" : "its schedule does not compile: " + error;
  }

  /// How `kernel` (lowered as `k`) was scheduled, for the schedule file's comments.
  std::string source(KernelOp kernel, const halide::LoweredKernel &k) const {
    auto entry = file.find(scheduleName(kernel));
    if (entry != file.end())
      return entry->second.autoscheduler.empty() ? "from " + options.file : entry->second.autoscheduler;
    if (!options.autoscheduler.empty())
      return options.autoscheduler;
    if (!k.knobs.overridden())
      return "hand-written";
    return "hand-written, tuned (" + options.tuningDb + "): " + halide::describeKnobs(k.knobs.values());
  }

  std::string autoscheduler(KernelOp kernel) const {
    auto entry = file.find(scheduleName(kernel));
    return entry != file.end() ? entry->second.autoscheduler : options.autoscheduler;
  }

private:
  LogicalResult fileError(unsigned line, unsigned column, const std::string &message) {
    return emitError(FileLineColLoc::get(module.getContext(), options.file, line, column)) << message;
  }

  /// The knobs the tuning database has for `kernel` (none: the defaults).
  std::map<std::string, int> tunedKnobs(KernelOp kernel, const Halide::Target &target) const {
    if (tuned.empty())
      return {};
    const halide::TuningRecord *record = tuned.find(halide::tuningKey(kernel, target, options));
    return record ? record->knobs : std::map<std::string, int>();
  }

  ModuleOp module;
  const ScheduleOptions &options;
  halide::MachineParams machine;
  std::map<std::string, halide::KernelSchedule> file;
  halide::TuningDb tuned;
};

Halide::Pipeline pipelineOf(const halide::LoweredKernel &k) { return Halide::Pipeline(k.outputs); }

/// Lowers and schedules every kernel of the module, in order. Halide names Funcs uniquely per process (`f`,
/// then `f$1`, ...) and its compiler takes names too, so building every algorithm before compiling any keeps
/// the Func names a schedule file uses the same in every run.
LogicalResult lowerAll(ModuleOp module, const Halide::Target &target, Scheduler &scheduler,
                       std::vector<std::pair<KernelOp, halide::LoweredKernel>> &lowered) {
  if (failed(scheduler.init()))
    return failure();
  WalkResult result = module.walk([&](KernelOp kernel) {
    FailureOr<halide::LoweredKernel> k = scheduler.lower(kernel, target);
    if (failed(k))
      return WalkResult::interrupt();
    lowered.emplace_back(kernel, std::move(*k));
    return WalkResult::advance();
  });
  return failure(result.wasInterrupted());
}

LogicalResult compileFailure(KernelOp kernel, StringRef what) {
  return kernel.emitError() << "Halide failed to compile kernel '" << kernel.getName() << "': " << what;
}

/// Lowers and schedules every kernel (lowerAll), then calls `fn` on each.
template <typename Fn>
LogicalResult forEachKernel(ModuleOp module, StringRef targetString, const ScheduleOptions &options, Fn fn) {
  Halide::Target target(targetString.str());
  Scheduler scheduler(module, target, options);
  std::vector<std::pair<KernelOp, halide::LoweredKernel>> lowered;
  if (failed(lowerAll(module, target, scheduler, lowered)))
    return failure();
  for (auto &[kernel, k] : lowered) {
    try {
      if (failed(fn(kernel, k, target, scheduler)))
        return failure();
    } catch (const Halide::Error &e) {
      return compileFailure(kernel, e.what());
    }
  }
  return success();
}

/// Halide's reports while compiling kernels: errors stay exceptions (with the default reporter's text);
/// warnings go to stderr, but for one that says nothing to a user: OpenCL kernels cannot check assertions,
/// and the only ones the GPU schedules put inside kernels bound register tiles whose size the schedule
/// already guarantees.
class KernelReporter : public Halide::CompileTimeErrorReporter {
public:
  void warning(const char *message) override {
    if (!llvm::StringRef(message).contains("Ignoring assertion inside OpenCL kernel"))
      llvm::errs() << message;
  }
  [[noreturn]] void error(const char *message) override { throw Halide::CompileError(message); }
};

} // namespace

LogicalResult mlir::attn::compileKernels(ModuleOp module, StringRef targetString,
                                         const ScheduleOptions &schedule, StringRef dir,
                                         std::vector<CompiledKernel> &kernels, std::string &runtimeObject) {
  static KernelReporter reporter;
  Halide::set_custom_compile_time_error_reporter(&reporter);
  Halide::Target target(targetString.str());
  Scheduler scheduler(module, target, schedule);
  std::vector<std::pair<KernelOp, halide::LoweredKernel>> lowered;
  if (failed(lowerAll(module, target, scheduler, lowered)))
    return failure();
  // Halide compiles independent pipelines concurrently: the kernels are shared out among the cores, and
  // the first error (in kernel order) is reported once all are done.
  std::vector<std::string> paths(lowered.size()), errors(lowered.size());
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i; (i = next++) < lowered.size();) {
      halide::LoweredKernel &k = lowered[i].second;
      llvm::SmallString<256> path(dir);
      llvm::sys::path::append(path, k.entry + ".o");
      paths[i] = path.str().str();
      try {
        pipelineOf(k).compile_to_object(paths[i], arguments(k), k.entry,
                                        target.with_feature(Halide::Target::NoRuntime));
      } catch (const Halide::Error &e) {
        errors[i] = e.what();
      }
    }
  };
  size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), lowered.size());
  std::vector<std::thread> workers;
  for (size_t t = 1; t < threads; ++t)
    workers.emplace_back(work);
  work();
  for (std::thread &w : workers)
    w.join();
  for (auto [i, entry] : llvm::enumerate(lowered)) {
    KernelOp kernel = entry.first;
    if (!errors[i].empty())
      return compileFailure(kernel, errors[i]);
    kernels.push_back({kernel.getName().str(), entry.second.entry, paths[i]});
  }
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

LogicalResult mlir::attn::printSchedules(ModuleOp module, StringRef targetString,
                                         const ScheduleOptions &schedule, llvm::raw_ostream &os) {
  os << "# attnc schedule, target " << targetString << "\n"
     << "# One section per kernel: 'kernel NAME', then Halide scheduling calls on the kernel's Funcs, one\n"
     << "# statement per Func or update definition (FUNC.update(N)), applied in order to the unscheduled\n"
     << "# algorithm. 'kernel NAME autoschedule adams2019|anderson2021|li2018|mullapudi2016' hands a kernel "
        "to an\n"
     << "# autoscheduler. Kernels left out get their default schedule. "
        "Read back with attnc --schedule FILE.\n";
  return forEachKernel(
      module, targetString, schedule,
      [&](KernelOp kernel, halide::LoweredKernel &k, const Halide::Target &,
          const Scheduler &s) -> LogicalResult {
        std::string header = "\nkernel " + scheduleName(kernel);
        std::string comment =
            "  # " + llvm::join(k.pattern, " + ") + "; schedule " + s.source(kernel, k) + "\n";
        try {
          std::string statements = halide::printSchedule(k);
          os << header << comment << statements;
        } catch (const std::runtime_error &e) {
          std::string scheduler = s.autoscheduler(kernel);
          if (!k.factored.empty() && scheduler.empty()) { // left out, it keeps its default schedule
            os << "\n# kernel " << scheduleName(kernel) << " keeps its default schedule: it uses " << e.what()
               << ", which a schedule file cannot spell out\n";
            return success();
          }
          if (scheduler.empty())
            return kernel.emitError() << "the schedule of kernel '" << scheduleName(kernel)
                                      << "' cannot be written as a schedule file: it uses " << e.what();
          os << header << " autoschedule " << scheduler << comment << "  # (its schedule uses " << e.what()
             << ", which a schedule file cannot spell out)\n";
        }
        return success();
      });
}

LogicalResult mlir::attn::compileOptimizerKernels(ModuleOp module, StringRef targetString, StringRef dir,
                                                  std::vector<CompiledKernel> &kernels) {
  Halide::Target target = Halide::Target(targetString.str()).with_feature(Halide::Target::NoRuntime);
  try {
    for (const halide::OptimizerKernel &k : halide::buildOptimizerKernels(target)) {
      llvm::SmallString<256> path(dir);
      llvm::sys::path::append(path, k.entry + ".o");
      Halide::Pipeline(k.outputs).compile_to_object(path.str().str(), k.arguments, k.entry, target);
      kernels.push_back({k.entry, k.entry, path.str().str()});
    }
  } catch (const Halide::Error &e) {
    return module.emitError() << "Halide failed to compile the optimizer kernels: " << e.what();
  }
  return success();
}

LogicalResult mlir::attn::printKernelsAsHalide(ModuleOp module, StringRef targetString,
                                               const ScheduleOptions &schedule, llvm::raw_ostream &os) {
  llvm::SmallString<128> tmp;
  if (llvm::sys::fs::createTemporaryFile("attnc-kernel", "stmt", tmp))
    return module.emitError("cannot create a temporary file for the Halide statement");
  llvm::scope_exit removeTmp([&] { llvm::sys::fs::remove(tmp); });
  return forEachKernel(
      module, targetString, schedule,
      [&](KernelOp kernel, halide::LoweredKernel &k, const Halide::Target &target,
          const Scheduler &) -> LogicalResult {
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
