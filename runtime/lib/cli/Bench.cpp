// `bench`: times the model (or, with --grad, its gradient program) on the same inputs, repeatedly, and
// prints the median, minimum and maximum time of one run: what the benchmark harness reads.
#include "Command.h"

#include <algorithm>
#include <chrono>
#include <iostream>

namespace attn::rt {

static const char *const kHelp =
    R"(usage: $PROGRAM bench --weights FILE$INPUTS [--runs N] [--warmup N] [--threads N] [--grad]

Runs the model --warmup times (default 2), then --runs times (default 10) on the same inputs, and prints
the median, minimum and maximum time of one run. Files are read once, before the timing. With --grad it
times the gradient program instead (forward, loss and every parameter's gradient, as one training step
computes them before the optimizer), which also reads the loss's inputs. A program compiled for a GPU
uploads the inputs and weights once, in the first run, and keeps them there; a run ends when its outputs
are complete on the device, which they are not copied back from (as frameworks time GPU work).

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info')
  --in NAME=FILE    .npy file for input NAME; one for each input
  --runs N          timed runs (1 to 100000)
  --warmup N        untimed runs first (0 to 100000)
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
  --grad            time forward and backward (the gradient program)
)";

Exit readRepeatedRuns(const Context &context, const ParsedOptions &options, RepeatedRuns &repeat) {
  if (options.get("--grad") && !(repeat.gradient = context.gradientProgram()))
    return kUsage;
  if (Exit code = context.wholeNumber(options, "--runs", 1, 100000, repeat.runs))
    return code;
  return context.wholeNumber(options, "--warmup", 0, 100000, repeat.warmup);
}

Exit timeRuns(const Context &context, const RepeatedRuns &repeat, Loaded &l, std::vector<double> &seconds,
              Profile *profile) {
  DeviceCopiesReleaser release{&l.weights.tensors, &l.inputs};
  for (uint64_t run = 0; run < repeat.warmup + repeat.runs; ++run) {
    bool timed = run >= repeat.warmup;
    RunOptions options{l.weightsPath, l.threads, timed ? profile : nullptr};
    options.weightsStayOnDevice = options.inputsStayOnDevice = options.outputsStayOnDevice = true;
    auto begin = std::chrono::steady_clock::now();
    Expected<TensorMap> outputs =
        repeat.gradient ? runWithParameters(*repeat.gradient, l.weights.tensors, l.inputs, options)
                        : runModel(context.spec, l.weights.tensors, l.inputs, options);
    auto end = std::chrono::steady_clock::now();
    if (!outputs)
      return context.failure(outputs.message());
    if (timed)
      seconds.push_back(std::chrono::duration<double>(end - begin).count());
  }
  return std::nullopt;
}

/// Runs the model repeatedly on the same inputs and reports the time of one run (what the benchmark
/// harness reads): the files are read once, outside the timing.
static int runBench(const Context &context, const ParsedOptions &options) {
  RepeatedRuns repeat{nullptr, 10, 2};
  if (Exit code = readRepeatedRuns(context, options, repeat))
    return *code;
  Loaded l;
  if (Exit code = load(context, options, l))
    return *code;
  std::vector<double> ms;
  if (Exit code = timeRuns(context, repeat, l, ms))
    return *code;
  for (double &t : ms)
    t *= 1e3;
  std::sort(ms.begin(), ms.end());
  double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  std::cout << "median " << median << " ms, min " << ms.front() << " ms, max " << ms.back() << " ms over "
            << ms.size() << " runs (" << repeat.warmup << " warm-up)\n";
  return kSuccess;
}

const Command benchCommand = {"bench",
                              "time the model on .npy inputs (median of repeated runs)",
                              kHelp,
                              {{"--weights", false},
                               {"--in", true},
                               {"--runs", false},
                               {"--warmup", false},
                               {"--threads", false},
                               {"--grad", false, /*flag=*/true}},
                              runBench};

} // namespace attn::rt
