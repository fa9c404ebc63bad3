// `grad`: runs the model's gradient program once and writes the loss and the gradient of the loss with
// respect to every parameter it depends on, as .npy files.
#include "Command.h"

#include <iostream>

namespace attn::rt {

static const char *const kHelp =
    R"(usage: $PROGRAM grad --weights FILE$INPUTS --out DIR [--dropout SEED] [--threads N]

Runs the model's gradient program (compiled from its 'train { loss = ... }'): writes DIR/loss.npy and
DIR/grad.<parameter>.npy, the gradient of the loss with respect to each parameter it depends on.

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info')
  --in NAME=FILE    .npy file for input NAME; one for each input
  --out DIR         directory for the results, created if missing
  --dropout SEED    apply the model's dropout and random shifts as training draws them from SEED at
                    step 0 (default: none, as validation)
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
)";

static int runGrad(const Context &context, const ParsedOptions &options) {
  const attn_model_spec *gradient = context.gradientProgram();
  if (!gradient)
    return kUsage;
  if (!options.get("--out") && options.get("--weights"))
    return context.usageError("missing option '--out'");
  Loaded l;
  if (Exit code = load(context, options, l))
    return *code;
  RunOptions run{l.weightsPath, l.threads};
  if (Exit code = dropoutOption(context, options, run))
    return *code;
  Expected<TensorMap> results = runWithParameters(*gradient, l.weights.tensors, l.inputs, run);
  if (!results)
    return context.failure(results.message());
  std::cout << "loss " << results->at("loss").data<float>()[0] << "\n";
  if (Exit code = writeAll(context, *options.get("--out"), *results))
    return *code;
  return kSuccess;
}

const Command gradCommand = {
    "grad",
    "the loss and its gradient with respect to every parameter (models with 'train')",
    kHelp,
    {{"--weights", false}, {"--in", true}, {"--out", false}, {"--dropout", false}, {"--threads", false}},
    runGrad};

} // namespace attn::rt
