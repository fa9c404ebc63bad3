// `infer`: runs the model once on .npy inputs (or on texts given with --text) and writes every output as
// a .npy file, printing token outputs that have a vocabulary as text.
#include "Command.h"

#include <iostream>

namespace attn::rt {

static const char *const kHelp =
    R"(usage: $PROGRAM infer --weights FILE$INPUTS --out DIR [--threads N]
       $PROGRAM infer --weights FILE --text TEXT [--text TEXT...] [--vocab NAME=FILE...] [--out DIR]

Runs the model once and writes DIR/<output>.npy for every output.

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info')
  --in NAME=FILE    .npy file for input NAME; one for each input
  --out DIR         directory for the outputs, created if missing
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
  --text TEXT       a text for the model's token input, one batch row per --text: split into the tokens
                    of the input's vocabulary (characters for a vocabulary of characters, else words),
                    padded with id 0; i32 inputs [B] and [B, S] beside it get the lengths and the 0/1
                    masks of the texts. Token outputs with a vocabulary are printed as text.
  --vocab NAME=FILE vocabulary (one token per line, line n for id n - 1) of token input or output NAME,
                    in place of the one the model declares

Inputs saved by NumPy as float64 or int64 (or bool, int8, uint8) are converted to the model's float32
and int32.
)";

/// Row `n` of an i32 [N, L] token output as text.
static std::string decodeRow(const attn_model_spec &spec, const Tensor &tokens, int64_t n, int32_t value,
                             const Vocabulary &vocab) {
  int64_t length = tokens.shape().back();
  const int32_t *row = tokens.data<int32_t>() + n * length;
  auto [stop, skip] = tokenConventions(spec, value);
  return vocab.decode(std::vector<int32_t>(row, row + length), stop, skip);
}

static int runInfer(const Context &context, const ParsedOptions &options) {
  const attn_model_spec &spec = context.spec;
  bool text = options.values.count("--text") > 0;
  if (!options.get("--out") && !text && options.get("--weights"))
    return context.usageError("missing option '--out' (or '--text', to print token outputs as text)");
  Prepared p;
  if (Exit code = prepareAndRun(context, options, p))
    return *code;
  const TensorMap &outputs = p.outputs;

  if (text) {
    const std::vector<std::string> &texts = options.all("--text");
    for (size_t n = 0; n < texts.size(); ++n) {
      std::cout << texts[n] << "\n";
      for (int32_t o = 0; o < spec.num_outputs; ++o) {
        auto vocab = p.vocabs.find(spec.outputs[o].name);
        const Tensor &tokens = outputs.at(spec.outputs[o].name);
        if (vocab != p.vocabs.end() && tokens.dtype() == DType::I32 && tokens.shape().size() == 2)
          std::cout << "  " << spec.outputs[o].name << ": "
                    << decodeRow(spec, tokens, static_cast<int64_t>(n), spec.outputs[o].value, vocab->second)
                    << "\n";
      }
    }
  }
  const std::string *out = options.get("--out");
  if (!out)
    return kSuccess;
  if (Exit code = writeAll(context, *out, outputs))
    return *code;
  return kSuccess;
}

const Command inferCommand = {
    "infer",
    "run the model on .npy inputs (or on --text) with weights from a safetensors file",
    kHelp,
    {{"--weights", false},
     {"--in", true},
     {"--out", false},
     {"--threads", false},
     {"--text", true},
     {"--vocab", true}},
    runInfer};

} // namespace attn::rt
