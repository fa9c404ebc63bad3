// `gradcheck`: checks the compiled gradients against central finite differences of the loss at a few
// elements of each parameter, and exits with 1 when one disagrees by more than the tolerance.
#include "Command.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iostream>

namespace attn::rt {

static const char *const kHelp =
    R"(usage: $PROGRAM gradcheck --weights FILE$INPUTS [--samples N] [--eps E] [--tolerance T] [--dropout SEED]

Checks the compiled gradients against central finite differences of the loss, (L(w + e) - L(w - e)) / 2e,
at --samples elements of each parameter (default 3, spread over the parameter), and prints each
parameter's largest error |numeric - analytic| / max(|numeric| + |analytic|, 1e-2). Exits with 1 if
an error exceeds --tolerance (default 1e-2: the differences are taken in float32, whose rounding
of the loss bounds their precision).

  --weights FILE    safetensors file with every parameter
  --in NAME=FILE    .npy file for input NAME; one for each input
  --samples N       elements per parameter (1 to 1000)
  --eps E           step of the differences (default 1e-2)
  --tolerance T     largest error accepted (default 1e-2)
  --dropout SEED    apply the model's dropout and random shifts as training draws them from SEED at
                    step 0 (the same at every evaluation; default: none)
)";

static int runGradCheck(const Context &context, const ParsedOptions &options) {
  const attn_model_spec *gradient = context.gradientProgram();
  if (!gradient)
    return kUsage;
  uint64_t samples = 3;
  if (Exit code = context.wholeNumber(options, "--samples", 1, 1000, samples))
    return *code;
  double eps = 1e-2, tolerance = 1e-2;
  for (auto [name, slot] : {std::pair<const char *, double *>{"--eps", &eps}, {"--tolerance", &tolerance}})
    if (const std::string *text = options.get(name)) {
      char *end = nullptr;
      double v = std::strtod(text->c_str(), &end);
      if (end == text->c_str() || *end || !(v > 0))
        return context.usageError(std::string("option '") + name + "' needs a positive number, not '" +
                                  *text + "'");
      *slot = v;
    }
  Loaded l;
  if (Exit code = load(context, options, l))
    return *code;
  RunOptions run{l.weightsPath, l.threads};
  if (Exit code = dropoutOption(context, options, run))
    return *code;
  Expected<TensorMap> analytic = runWithParameters(*gradient, l.weights.tensors, l.inputs, run);
  if (!analytic)
    return context.failure(analytic.message());
  auto lossAt = [&]() -> Expected<double> {
    Expected<TensorMap> outputs = runWithParameters(*gradient, l.weights.tensors, l.inputs, run);
    if (!outputs)
      return outputs.takeError();
    return double(outputs->at("loss").data<float>()[0]);
  };
  bool ok = true;
  for (const auto &[name, g] : *analytic) {
    if (name.rfind("grad.", 0) != 0)
      continue;
    Tensor &w = l.weights.tensors.at(name.substr(5));
    float *data = w.data<float>();
    double worst = 0;
    int64_t n = w.numElements();
    for (uint64_t k = 0; k < samples && static_cast<int64_t>(k) < n; ++k) {
      int64_t at = samples == 1 ? 0 : static_cast<int64_t>(k * (n - 1) / (samples - 1));
      float saved = data[at];
      data[at] = saved + float(eps);
      Expected<double> plus = lossAt();
      data[at] = saved - float(eps);
      Expected<double> minus = lossAt();
      data[at] = saved;
      if (!plus || !minus)
        return context.failure(plus ? minus.message() : plus.message());
      double numeric = (*plus - *minus) / (2 * eps), exact = g.data<float>()[at];
      worst =
          std::max(worst, std::fabs(numeric - exact) / std::max(std::fabs(numeric) + std::fabs(exact), 1e-2));
    }
    ok &= worst <= tolerance;
    std::cout << (worst <= tolerance ? "ok    " : "FAIL  ") << name.substr(5) << "  max error " << worst
              << "\n";
  }
  return ok ? kSuccess : kFailure;
}

const Command gradCheckCommand = {"gradcheck",
                                  "compare those gradients with central finite differences of the loss",
                                  kHelp,
                                  {{"--weights", false},
                                   {"--in", true},
                                   {"--samples", false},
                                   {"--eps", false},
                                   {"--tolerance", false},
                                   {"--dropout", false},
                                   {"--threads", false}},
                                  runGradCheck};

} // namespace attn::rt
