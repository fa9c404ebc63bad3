// `profile`: where the time of a run goes. Runs the model (or its gradient program) repeatedly and prints
// a table of the time per run of every kernel and every decoder loop, sorted by time, with its share of the
// run, the kernel's GFLOP/s and share of this machine's fp32 peak where its FLOPs are known, and what the
// runtime spends outside kernels (checks, allocation, copies).
#include "Command.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>
#include <numeric>
#include <set>
#include <string_view>

namespace attn::rt {

static const char *const kHelp =
    R"(usage: $PROGRAM profile --weights FILE$INPUTS [--runs N] [--warmup N] [--threads N] [--grad]
       $PROGRAM profile --weights FILE --text TEXT ... [--vocab NAME=FILE] [--runs N] ...

Runs the model --warmup times (default 1), then --runs times (default 10) on the same inputs, and prints
the time per run of every kernel (a decoder loop's kernels count every step) and of every decoder loop (its
kernels included), longest first, with its share of the run. Kernels whose floating-point operations the
model table knows (products count 2 per multiply-add; elementwise ops and softmax 1 per element) show them
per run, their GFLOP/s and its share of this machine's fp32 peak, measured first on the same threads with
fused multiply-adds on its widest vectors. The last line is the time outside kernels. A program compiled for
a GPU keeps its inputs and weights on the device across runs, waits for each kernel's results before its
time ends (which adds a little to the run) and shows no share of peak. With --grad it profiles
the gradient program (forward, loss and every parameter's gradient); the kernels inside the steps of a
decoder loop whose rows run on several threads (teacher forcing and its gradient) are timed with their loop
only.

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info'); not needed by a model
                    without parameters
  --in NAME=FILE    .npy file for input NAME
  --text TEXT       a row of the token input with a vocabulary (repeatable), as for 'infer'
  --vocab NAME=FILE a vocabulary in place of the model's
  --runs N          profiled runs (1 to 100000)
  --warmup N        unprofiled runs first (0 to 100000)
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
  --grad            profile forward and backward (the gradient program)
)";

static int runProfile(const Context &context, const ParsedOptions &options) {
  RepeatedRuns repeat{nullptr, 10, 1};
  if (Exit code = readRepeatedRuns(context, options, repeat))
    return *code;
  Prepared prepared;
  if (Exit code = prepare(context, options, prepared))
    return *code;
  Profile profile;
  std::vector<double> times;
  if (Exit code = timeRuns(context, repeat, prepared.loaded, times, &profile))
    return *code;
  bool gpu = runsOnGpu(context.spec); // the CPU's peak says nothing of a GPU kernel
  double peak = gpu ? 0 : fp32Peak(std::max(profile.threads, 1));
  double total = std::accumulate(times.begin(), times.end(), 0.0);

  struct Row {
    std::string name;
    ProfileEntry entry;
  };
  // The time in kernels: the kernels outside decoder loops, and the loops whole (their step kernels are
  // timed inside them, or not at all where the loop's rows run on several threads).
  const attn_model_spec &spec = repeat.gradient ? *repeat.gradient : context.spec;
  std::set<std::string> stepKernels;
  for (int32_t d = 0; d < spec.num_decoders; ++d)
    for (int32_t k = 0; k < spec.decoders[d].num_kernels; ++k)
      stepKernels.insert(spec.kernels[spec.decoders[d].first_kernel + k].name);
  std::vector<Row> rows;
  double inKernels = 0;
  for (const auto &[name, entry] : profile.kernels) {
    rows.push_back({name, entry});
    if (!stepKernels.count(name))
      inKernels += entry.seconds;
  }
  for (const auto &[name, entry] : profile.decoders) {
    rows.push_back({"decoder loop '" + name + "' (its kernels included)", {entry.seconds, entry.calls, 0}});
    inKernels += entry.seconds;
  }
  std::sort(rows.begin(), rows.end(),
            [](const Row &a, const Row &b) { return a.entry.seconds > b.entry.seconds; });

  constexpr std::string_view kOutside = "outside kernels (checks, allocation, copies)";
  double n = double(repeat.runs), perRun = total / n;
  size_t width = kOutside.size();
  for (const Row &r : rows)
    width = std::max(width, r.name.size());
  std::cout << fmt::format("profile of {} ({}), {} runs after {} warm-up: {:.3f} ms per run; ",
                           context.spec.name, repeat.gradient ? "gradient program" : "forward", repeat.runs,
                           repeat.warmup, perRun * 1e3)
            << (gpu ? fmt::format("on the GPU ({})\n", context.spec.target)
                    : fmt::format("fp32 peak {:.0f} GFLOP/s on {} threads\n", peak, profile.threads));
  std::cout << fmt::format("  {:<{}}  {:>9}  {:>10}  {:>6}  {:>10}  {:>8}  {:>7}\n", "kernel", width,
                           "calls/run", "ms/run", "share", "MFLOP/run", "GFLOP/s", "of peak");
  auto line = [&](std::string_view name, const std::string &calls, double seconds, double flops) {
    std::string amount = "-", rate = "-", share = "-";
    if (flops > 0) {
      amount = fmt::format("{:.4g}", flops / n / 1e6);
      if (seconds > 0) {
        rate = fmt::format("{:.1f}", flops / seconds / 1e9);
        if (peak > 0)
          share = fmt::format("{:.1f}%", 100 * flops / seconds / 1e9 / peak);
      }
    }
    std::cout << fmt::format("  {:<{}}  {:>9}  {:>10.3f}  {:>5.1f}%  {:>10}  {:>8}  {:>7}\n", name, width,
                             calls, seconds / n * 1e3, perRun > 0 ? 100 * seconds / total : 0.0, amount, rate,
                             share);
  };
  for (const Row &r : rows)
    line(r.name, fmt::format("{:g}", double(r.entry.calls) / n), r.entry.seconds, r.entry.flops);
  line(kOutside, "", std::max(total - inKernels, 0.0), 0);
  return kSuccess;
}

const Command profileCommand = {"profile",
                                "time every kernel and decoder loop of the model: where a run's time goes",
                                kHelp,
                                {{"--weights", false},
                                 {"--in", true},
                                 {"--text", true},
                                 {"--vocab", true},
                                 {"--runs", false},
                                 {"--warmup", false},
                                 {"--threads", false},
                                 {"--grad", false, /*flag=*/true}},
                                runProfile};

} // namespace attn::rt
