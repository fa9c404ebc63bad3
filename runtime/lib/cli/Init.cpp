// `init`: writes random weights for every parameter (see attn/Runtime/Init.h) to a safetensors file, to
// try a model without trained ones.
#include "Command.h"

#include "attn/Runtime/Init.h"

#include <iostream>

namespace attn::rt {

static const char *const kHelp = R"(usage: $PROGRAM init --out FILE [--seed N]

Writes random weights for every parameter to a safetensors file, to try the model without trained
weights. The same seed gives the same weights on every machine.

  --out FILE   safetensors file to write (an existing file is replaced whole, or not at all)
  --seed N     seed, 0 to 2^64-1 (default 0)

Each f32 parameter is drawn uniformly from [-1/sqrt(fan_in), 1/sqrt(fan_in)], where fan_in is the
product of all its dimensions but the first (its size if it has one dimension, 1 for a scalar):
PyTorch's default for nn.Linear weights. A parameter the model declares with 'param ... init = ...'
is drawn as that says: glorot_uniform, zeros, ones, normal(std) or uniform(bound). i32 parameters are zero. The numbers come from splitmix64,
seeded per parameter with the seed xor the FNV-1a hash of the parameter's name.
)";

static int runInit(const Context &context, const ParsedOptions &options) {
  if (!options.get("--out"))
    return context.usageError("missing option '--out'");
  uint64_t seed = 0;
  if (const std::string *text = options.get("--seed")) {
    std::optional<uint64_t> n = parseInteger(*text, 0, UINT64_MAX);
    if (!n)
      return context.usageError("option '--seed' needs a whole number from 0 to 2^64-1, not '" + *text + "'");
    seed = *n;
  }

  Expected<TensorMap> weights = initParameters(context.spec, seed);
  if (!weights)
    return context.failure(weights.message());
  int64_t total = 0;
  for (const auto &[name, tensor] : *weights)
    total += tensor.numElements();
  const std::string &path = *options.get("--out");
  if (Status s = writeSafeTensors(path, *weights,
                                  {{"model", context.spec.name}, {"init_seed", std::to_string(seed)}});
      !s)
    return context.failure(s.message());
  std::cout << "wrote " << path << ": " << weights->size() << " parameters, " << total << " values, seed "
            << seed << "\n";
  return kSuccess;
}

const Command initCommand = {"init",
                             "write random weights, to try the model without trained ones",
                             kHelp,
                             {{"--out", false}, {"--seed", false}},
                             runInit};

} // namespace attn::rt
