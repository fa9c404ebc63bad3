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
computes them before the optimizer), which also reads the loss's inputs.

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info')
  --in NAME=FILE    .npy file for input NAME; one for each input
  --runs N          timed runs (1 to 100000)
  --warmup N        untimed runs first (0 to 100000)
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
  --grad            time forward and backward (the gradient program)
)";

/// Runs the model repeatedly on the same inputs and reports the time of one run (what the benchmark
/// harness reads): the files are read once, outside the timing.
static int runBench(const Context &context, const ParsedOptions &options) {
  const attn_model_spec *gradient = options.get("--grad") ? context.gradientProgram() : nullptr;
  if (options.get("--grad") && !gradient)
    return kUsage;
  uint64_t counts[2] = {10, 2}; // runs, warm-up runs
  if (Exit code = context.wholeNumber(options, "--runs", 1, 100000, counts[0]))
    return *code;
  if (Exit code = context.wholeNumber(options, "--warmup", 0, 100000, counts[1]))
    return *code;
  Loaded l;
  if (Exit code = load(context, options, l))
    return *code;
  std::vector<double> ms;
  for (uint64_t run = 0; run < counts[1] + counts[0]; ++run) {
    auto begin = std::chrono::steady_clock::now();
    Expected<TensorMap> outputs =
        gradient ? runWithParameters(*gradient, l.weights.tensors, l.inputs, {l.weightsPath, l.threads})
                 : runModel(context.spec, l.weights.tensors, l.inputs, {l.weightsPath, l.threads});
    auto end = std::chrono::steady_clock::now();
    if (!outputs)
      return context.failure(outputs.message());
    if (run >= counts[1])
      ms.push_back(std::chrono::duration<double, std::milli>(end - begin).count());
  }
  std::sort(ms.begin(), ms.end());
  double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
  std::cout << "median " << median << " ms, min " << ms.front() << " ms, max " << ms.back() << " ms over "
            << ms.size() << " runs (" << counts[1] << " warm-up)\n";
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
