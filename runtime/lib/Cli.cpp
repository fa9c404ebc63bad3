// The command line of every program attnc produces (`info`, `infer`, `attention`, `train`, `grad`,
// `gradcheck`, `init`, `bench`). It is the only part of the runtime that prints or chooses exit codes: 0 on
// success, 1 when the work itself fails (a bad file, a shape mismatch, a kernel error), 2 when the command
// line is wrong, each with one `error: ...` line on stderr. Usage errors are found before any file is read, so a typo costs nothing.
#include "attn/Runtime/Executor.h"
#include "attn/Runtime/Image.h"
#include "attn/Runtime/ModelSpec.h"
#include "attn/Runtime/Npy.h"
#include "attn/Runtime/SafeTensors.h"
#include "attn/Runtime/Text.h"
#include "attn/Runtime/Trainer.h"

#include <malloc.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <numeric>
#include <optional>
#include <set>
#include <string_view>
#include <variant>

#ifndef ATTN_VERSION
#error "ATTN_VERSION must be defined (the build passes the project version)"
#endif

namespace attn::rt {

namespace {

constexpr int kSuccess = 0;
constexpr int kFailure = 1;
constexpr int kUsage = 2;

/// The options of one command: each takes a value; `repeatable` ones may be given several times.
struct OptionSpec {
  const char *name;
  bool repeatable;
  bool flag = false; // takes no value
};

struct ParsedOptions {
  bool help = false;
  std::map<std::string, std::vector<std::string>> values;

  const std::string *get(const std::string &name) const {
    auto it = values.find(name);
    return it == values.end() ? nullptr : &it->second.front();
  }
};

/// Parses `--name value` and `--name=value` pairs, and -h/--help.
Expected<ParsedOptions> parseOptions(const std::vector<std::string> &args,
                                     const std::vector<OptionSpec> &specs, const std::string &command) {
  ParsedOptions parsed;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string &arg = args[i];
    if (arg == "-h" || arg == "--help") {
      parsed.help = true;
      continue;
    }
    if (arg.rfind("--", 0) != 0)
      return makeError("unexpected argument '", arg, "' for '", command, "'");
    size_t eq = arg.find('=');
    std::string name = arg.substr(0, eq);
    const OptionSpec *spec = nullptr;
    for (const OptionSpec &s : specs)
      if (name == s.name)
        spec = &s;
    if (!spec)
      return makeError("unknown option '", name, "' for '", command, "'");
    std::string value;
    if (spec->flag) {
      if (eq != std::string::npos)
        return makeError("option '", name, "' takes no value");
      value = "1";
    } else if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size() && args[i + 1].rfind("--", 0) != 0) {
      value = args[++i];
    } else {
      return makeError("option '", name, "' needs a value");
    }
    if (value.empty())
      return makeError("option '", name, "' needs a value");
    std::vector<std::string> &slot = parsed.values[name];
    if (!slot.empty() && !spec->repeatable)
      return makeError("option '", name, "' is given twice");
    slot.push_back(value);
  }
  return parsed;
}

/// printf-style formatting into a string.
template <typename... Args> std::string format(const char *pattern, Args... args) {
  char text[256];
  std::snprintf(text, sizeof text, pattern, args...);
  return text;
}

bool fileExists(const std::string &path) { return std::ifstream(path).good(); }

/// "[#####.....]" for a fraction done.
std::string progressBar(double done) {
  constexpr int kWidth = 20;
  int filled = static_cast<int>(std::clamp(done, 0.0, 1.0) * kWidth + 0.5);
  return "[" + std::string(filled, '#') + std::string(kWidth - filled, '.') + "]";
}

/// "1h02m", "4m05s" or "12s".
std::string formatDuration(double seconds) {
  long long s = static_cast<long long>(seconds + 0.5);
  if (s >= 3600)
    return format("%lldh%02lldm", s / 3600, s / 60 % 60);
  if (s >= 60)
    return format("%lldm%02llds", s / 60, s % 60);
  return format("%llds", s);
}

/// Levenshtein distance between two token sequences.
int64_t editDistance(const std::vector<int32_t> &a, const std::vector<int32_t> &b) {
  std::vector<int64_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    int64_t diagonal = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int64_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

/// A decimal integer in [min, max], or nothing.
std::optional<uint64_t> parseInteger(const std::string &text, uint64_t min, uint64_t max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  errno = 0;
  unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE || value < min || value > max)
    return std::nullopt;
  return value;
}

/// The pseudo-random generator of `init`: splitmix64, chosen because it is tiny, fast and, unlike the
/// standard library's distributions, gives the same numbers with every compiler.
uint64_t splitmix64(uint64_t &state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/// FNV-1a, to give each parameter a stream of its own, so adding a parameter does not change the others.
uint64_t hashName(const std::string &name) {
  uint64_t h = 0xCBF29CE484222325ull;
  for (unsigned char c : name)
    h = (h ^ c) * 0x100000001B3ull;
  return h;
}

class Cli {
public:
  Cli(const attn_model_spec &spec, std::string program) : spec_(spec), program_(std::move(program)) {}

  int run(const std::vector<std::string> &args) {
    if (args.empty()) {
      std::cerr << mainHelp();
      return kUsage;
    }
    const std::string &command = args[0];
    std::vector<std::string> rest(args.begin() + 1, args.end());
    if (command == "-h" || command == "--help" || command == "help")
      return help(rest);
    if (command == "--version") {
      if (!rest.empty())
        return usageError("unexpected argument '" + rest[0] + "' after --version", "");
      std::cout << spec_.name << ", compiled by attnc " << ATTN_VERSION << " from " << spec_.source_file
                << " for " << spec_.target << "\n";
      return kSuccess;
    }
    if (command == "info")
      return info(rest);
    if (command == "infer")
      return infer(rest);
    if (command == "init")
      return init(rest);
    if (command == "bench")
      return bench(rest);
    if (command == "attention")
      return attention(rest);
    if (command == "grad")
      return grad(rest);
    if (command == "train")
      return trainCommand(rest);
    if (command == "gradcheck")
      return gradcheck(rest);
    if (command == "eval")
      return eval(rest);
    if (command.rfind("-", 0) == 0)
      return usageError("unknown option '" + command + "'", "");
    return usageError("unknown command '" + command + "'", "");
  }

private:
  int usageError(const std::string &message, const std::string &command) {
    std::cerr << "error: " << message << "\n"
              << "run '" << program_ << (command.empty() ? "" : " " + command) << " --help' for usage\n";
    return kUsage;
  }

  int failure(const std::string &message) {
    std::cerr << "error: " << message << "\n";
    return kFailure;
  }

  /// `text` with $PROGRAM, $MODEL, $SOURCE and $INPUTS (an `--in` flag per input) filled in.
  std::string fill(std::string text) const {
    std::string inputs;
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT))
      inputs += std::string(" --in ") + spec_.values[i].name + "=" + spec_.values[i].name + ".npy";
    for (auto [key, value] : {std::pair<const char *, std::string>{"$PROGRAM", program_},
                              {"$MODEL", spec_.name},
                              {"$SOURCE", spec_.source_file},
                              {"$INPUTS", inputs}})
      for (size_t at = text.find(key); at != std::string::npos; at = text.find(key, at + value.size()))
        text.replace(at, std::string_view(key).size(), value);
    return text;
  }

  std::string mainHelp() const {
    return fill(R"(usage: $PROGRAM <command> [options]

$MODEL: a model compiled by attnc from $SOURCE.

commands:
  info       show the model's inputs, outputs and parameters
  infer      run the model on .npy inputs (or on --text) with weights from a safetensors file
  attention  show the attention weights of one input as a table and a labelled heat map (--png)
  train      train the parameters (models with 'train') on .npy or TSV data, writing checkpoints
  eval       the loss and metrics (error rates, accuracy) of trained parameters on held-out data
  grad       the loss and its gradient with respect to every parameter (models with 'train')
  gradcheck  compare those gradients with central finite differences of the loss
  init       write random weights, to try the model without trained ones
  bench      time the model on .npy inputs (median of repeated runs)
  help       show this help, or a command's: help COMMAND

options:
  -h, --help   show this help
  --version    show the model's and attnc's versions

example:
  $PROGRAM init --out w.safetensors
  $PROGRAM infer --weights w.safetensors$INPUTS --out results
)");
  }

  std::string commandHelp(const std::string &command) const {
    if (command == "info")
      return fill(R"(usage: $PROGRAM info

Shows the model's inputs and outputs with their dtypes and shapes (letters are sizes bound at run time
by the inputs), and its parameters: the keys, shapes and sizes a weight file must have.
)");
    if (command == "infer")
      return fill(R"(usage: $PROGRAM infer --weights FILE$INPUTS --out DIR [--threads N]
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
)");
    if (command == "attention")
      return fill(R"(usage: $PROGRAM attention --weights FILE (--text TEXT | --in NAME=FILE...) [--png FILE]
                 [--output NAME] [--row N] [--vocab NAME=FILE...] [--threads N]

Runs the model and shows the attention weights of one batch row as a table on standard output. For
weights [batch, steps, source] (a decoder's), output steps run down and source positions across, and
--png draws a heat map labelled with the source tokens and the tokens the model produced (positions when
there is no vocabulary). For spatial weights [batch, 1, H, W] (a CNN's), --png draws the image input,
the weights and the two overlaid.

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info')
  --text TEXT       the source text (see '$PROGRAM help infer'); or give every input with --in
  --in NAME=FILE    .npy file for input NAME
  --png FILE        write the picture to FILE (replaced whole, or not at all)
  --output NAME     the weights to show: f32 [batch, steps, source] (a heat map) or [batch, 1, H, W]
                    (overlaid on the image input); default: the only such output
  --row N           batch row to show (default 0)
  --vocab NAME=FILE vocabulary of a token input or output, in place of the model's
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
)");
    if (command == "train")
      return fill(R"(usage: $PROGRAM train --weights FILE (--tsv FILE |$INPUTS) --out CKPT
                 [--steps N | --epochs N] [--batch N] [--seed N] [--log-every N] [--checkpoint-every N]
                 [--resume] [(--valid-tsv FILE | --valid NAME=FILE...) [--valid-every N] [--patience N]
                 [--best FILE]] [--threads N]

Trains the model with the optimizer of its 'train { ... }': each step takes a batch of examples, runs the
compiled gradient program, clips the gradients' global norm if the model sets clip_norm, and applies the
compiled optimizer kernels. Each epoch shuffles the examples from --seed and cuts them into batches (the
examples after the last full batch wait for a later epoch); token data is bucketed: runs of 64 batches are
sorted by length before they are cut, so that a batch pads little, and the batches are then shuffled.
Results depend only on the data, the seed and the thread count. Prints progress (step, loss, gradient norm,
learning rate, tokens or examples per second, time left) every --log-every steps, and writes the
parameters with the optimizer state to CKPT every --checkpoint-every steps and at the end (replaced whole,
or not at all). A checkpoint given as --weights continues its optimizer state and step count.

  --weights FILE    safetensors file with every parameter ('$PROGRAM init' makes one), or a checkpoint
  --tsv FILE        examples as text, one per line: tab-separated fields for the token inputs with a
                    vocabulary, in the model's order (a teacher-forced decoder's targets get its stop
                    token); an i32 [B] input named after a token input (src_len) gets its lengths, an i32
                    input [B, L] of the same length its 0/1 mask
  --in NAME=FILE    .npy file with the examples of input NAME (along the first dimension); one per input
  --out CKPT        checkpoint to write
  --resume          continue from CKPT if it exists (a run killed at any point loses at most the steps
                    since its last checkpoint); --steps and --epochs then count from step 0
  --steps N         steps to take (default 100)
  --epochs N        passes over the examples to make, instead of --steps
  --batch N         examples per step (default 32; all of them if there are fewer)
  --seed N          shuffling seed (default 0)
  --log-every N     steps between progress lines (default 10)
  --checkpoint-every N  steps between checkpoints (default 100)
  --valid-tsv FILE  validation examples as with --tsv
  --valid NAME=FILE .npy file with the validation examples of input NAME; one for each input
  --valid-every N   steps between validations (default 100): the mean loss over the validation set
  --patience N      stop after N validations without a new best (default 0: never)
  --best FILE       write the parameters with the best validation loss to FILE
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
)");
    if (command == "eval")
      return fill(R"(usage: $PROGRAM eval --weights FILE (--tsv FILE |$INPUTS) [--batch N] [--show N]
                 [--vocab NAME=FILE...] [--threads N]

Evaluates the model on examples and prints a table of metrics: the mean loss (of the gradient program,
whose batch norm uses the batch's statistics); for a model whose token output is a search and whose
--tsv data holds its targets, the token error rate (edit distance over reference tokens: G2P's phoneme
error rate) and the sequence error rate (sequences with any error: G2P's word error rate); for a
classifier, the accuracy of the arg-max of its first score output against the targets (the i32 input
only training reads).

  --weights FILE    safetensors file with every parameter, or a checkpoint
  --tsv FILE        examples as text (see '$PROGRAM help train')
  --in NAME=FILE    .npy file with the examples of input NAME; one for each input
  --batch N         examples per run (default 64)
  --show N          print the first N examples' predictions beside their references
  --vocab NAME=FILE vocabulary of a token input or output, in place of the model's
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
)");
    if (command == "grad")
      return fill(R"(usage: $PROGRAM grad --weights FILE$INPUTS --out DIR [--threads N]

Runs the model's gradient program (compiled from its 'train { loss = ... }'): writes DIR/loss.npy and
DIR/grad.<parameter>.npy, the gradient of the loss with respect to each parameter it depends on.

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info')
  --in NAME=FILE    .npy file for input NAME; one for each input
  --out DIR         directory for the results, created if missing
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
)");
    if (command == "gradcheck")
      return fill(R"(usage: $PROGRAM gradcheck --weights FILE$INPUTS [--samples N] [--eps E] [--tolerance T]

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
)");
    if (command == "bench")
      return fill(R"(usage: $PROGRAM bench --weights FILE$INPUTS [--runs N] [--warmup N] [--threads N] [--grad]

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
)");
    return fill(R"(usage: $PROGRAM init --out FILE [--seed N]

Writes random weights for every parameter to a safetensors file, to try the model without trained
weights. The same seed gives the same weights on every machine.

  --out FILE   safetensors file to write (an existing file is replaced whole, or not at all)
  --seed N     seed, 0 to 2^64-1 (default 0)

Each f32 parameter is drawn uniformly from [-1/sqrt(fan_in), 1/sqrt(fan_in)], where fan_in is the
product of all its dimensions but the first (its size if it has one dimension, 1 for a scalar):
PyTorch's default for nn.Linear weights. i32 parameters are zero. The numbers come from splitmix64,
seeded per parameter with the seed xor the FNV-1a hash of the parameter's name.
)");
  }

  int help(const std::vector<std::string> &args) {
    if (args.empty()) {
      std::cout << mainHelp();
      return kSuccess;
    }
    if (args.size() > 1)
      return usageError("help takes at most one command", "");
    if (args[0] != "info" && args[0] != "infer" && args[0] != "init" && args[0] != "bench" &&
        args[0] != "attention" && args[0] != "grad" && args[0] != "gradcheck" && args[0] != "train" &&
        args[0] != "eval")
      return usageError("unknown command '" + args[0] + "'", "");
    std::cout << commandHelp(args[0]);
    return kSuccess;
  }

  /// Parses a command's options; on -h/--help prints its help and returns kSuccess, on an error kUsage.
  std::optional<int> parse(const std::string &command, const std::vector<std::string> &args,
                           const std::vector<OptionSpec> &specs, ParsedOptions &out) {
    Expected<ParsedOptions> parsed = parseOptions(args, specs, command);
    if (!parsed)
      return usageError(parsed.message(), command);
    if (parsed->help) {
      std::cout << commandHelp(command);
      return kSuccess;
    }
    out = std::move(*parsed);
    return std::nullopt;
  }

  int info(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done = parse("info", args, {}, options))
      return *done;
    std::cout << "model " << spec_.name << "\n"
              << "  source  " << spec_.source_file << "\n"
              << "  target  " << spec_.target << "\n";
    // Columns are aligned within each table, so shapes line up under each other.
    auto table = [&](const char *title, const std::vector<std::vector<std::string>> &rows) {
      std::vector<size_t> widths;
      for (const auto &row : rows)
        for (size_t c = 0; c < row.size(); ++c) {
          widths.resize(std::max(widths.size(), row.size()));
          widths[c] = std::max(widths[c], row[c].size());
        }
      std::cout << "\n" << title << ":\n";
      if (rows.empty())
        std::cout << "  (none)\n";
      for (const auto &row : rows) {
        std::string line = " ";
        for (size_t c = 0; c < row.size(); ++c)
          line += " " + row[c] + std::string(widths[c] - row[c].size() + 1, ' ');
        while (line.back() == ' ')
          line.pop_back();
        std::cout << line << "\n";
      }
    };
    auto typed = [&](int32_t v) {
      return dtypeName(static_cast<DType>(spec_.values[v].dtype)) + symbolicShape(spec_, v);
    };
    std::vector<std::vector<std::string>> rows;
    auto vocabulary = [&](int32_t v) {
      int32_t n = spec_.values[v].num_vocab_tokens;
      return n > 0 ? "vocabulary of " + std::to_string(n) + " tokens" : std::string();
    };
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT)) {
      int64_t vocab = spec_.values[i].vocab_size;
      std::string notes = vocab > 0 ? "token ids 0.." + std::to_string(vocab - 1) : "";
      if (std::string v = vocabulary(i); !v.empty())
        notes += (notes.empty() ? "" : ", ") + v;
      rows.push_back({spec_.values[i].name, typed(i)});
      if (!notes.empty())
        rows.back().push_back(notes);
    }
    table("inputs", rows);
    rows.clear();
    for (int32_t o = 0; o < spec_.num_outputs; ++o) {
      rows.push_back({spec_.outputs[o].name, typed(spec_.outputs[o].value)});
      if (std::string v = vocabulary(spec_.outputs[o].value); !v.empty())
        rows.back().push_back(v);
    }
    table("outputs", rows);
    rows.clear();
    int64_t total = 0;
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_PARAM)) {
      int64_t count = 1;
      for (int32_t d = 0; d < spec_.values[i].rank; ++d)
        count *= spec_.values[i].dims[d].size;
      total += count;
      rows.push_back({spec_.values[i].name, typed(i), std::to_string(count)});
    }
    table("parameters", rows);
    std::cout << "\ntotal: " << total << " parameters in " << rows.size()
              << (rows.size() == 1 ? " tensor" : " tensors") << "\n";
    return kSuccess;
  }

  /// Reads option `name`, if given, as a whole number in [min, max] into `value`; a bad value is a usage
  /// error of `command`, whose exit code is returned.
  std::optional<int> wholeNumber(const ParsedOptions &options, const char *name, uint64_t min, uint64_t max,
                                 uint64_t &value, const std::string &command) {
    const std::string *text = options.get(name);
    if (!text)
      return std::nullopt;
    std::optional<uint64_t> n = parseInteger(*text, min, max);
    if (!n)
      return usageError(std::string("option '") + name + "' needs a whole number from " + std::to_string(min) +
                            " to " + std::to_string(max) + ", not '" + *text + "'",
                        command);
    value = *n;
    return std::nullopt;
  }

  /// The files given by `option` (`NAME=FILE.npy`, one for each model input but those in `filled`), checked
  /// before any is read; on a usage error returns its exit code.
  std::variant<std::map<std::string, std::string>, int> inputFiles(const std::string &command,
                                                                   const ParsedOptions &options,
                                                                   const std::string &option,
                                                                   const std::set<std::string> &filled = {}) {
    // Training commands run the gradient program, which reads the loss's targets too.
    bool training = command == "train" || command == "grad" || command == "gradcheck" || command == "eval";
    const attn_model_spec &program = training && spec_.gradient ? *spec_.gradient : spec_;
    std::vector<bool> read = valuesRead(program);
    std::set<std::string> needed;
    for (int32_t i : valuesWithRole(program, ATTN_ROLE_INPUT))
      if (read[i])
        needed.insert(program.values[i].name);
    std::set<std::string> modelInputs;
    std::string expected;
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT)) {
      modelInputs.insert(spec_.values[i].name);
      expected += (expected.empty() ? "" : ", ") + std::string(spec_.values[i].name);
    }
    std::string theInputs =
        modelInputs.empty() ? "the model has no inputs" : "the model's inputs are " + expected;
    std::map<std::string, std::string> files;
    auto given = options.values.find(option);
    for (const std::string &arg : given == options.values.end() ? std::vector<std::string>{} : given->second) {
      size_t eq = arg.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
        return usageError("malformed '" + option + " " + arg + "': expected NAME=FILE.npy", command);
      std::string name = arg.substr(0, eq);
      if (!modelInputs.count(name))
        return usageError("unknown input '" + name + "'; " + theInputs, command);
      if (!files.emplace(name, arg.substr(eq + 1)).second)
        return usageError("input '" + name + "' is given twice", command);
    }
    for (const std::string &name : needed)
      if (!files.count(name) && !filled.count(name))
        return usageError("missing '" + option + " " + name + "=FILE.npy'; " + theInputs, command);
    return files;
  }

  /// Reads `files` (input name → .npy path) into `inputs`; on an error returns the exit code.
  std::optional<int> readInputs(const std::map<std::string, std::string> &files, TensorMap &inputs) {
    for (const auto &[name, path] : files) {
      Expected<Tensor> tensor = readNpy(path);
      if (!tensor)
        return failure(tensor.message());
      inputs.emplace(name, std::move(*tensor));
    }
    return std::nullopt;
  }

  /// What `infer` and `bench` read before running: the weights, the inputs and the thread count.
  struct Loaded {
    SafeTensorsFile weights;   // the parameters (a checkpoint's optimizer state is moved to `optimizer`)
    OptimizerState optimizer;
    TensorMap inputs;
    std::string weightsPath;
    int threads = 0;
  };

  /// Checks `infer`/`bench`/`attention` options and reads the files; on an error returns the exit code.
  /// Inputs in `filled` (made from --text) need no --in.
  std::variant<Loaded, int> load(const std::string &command, const ParsedOptions &options,
                                 TensorMap filled = {}, std::set<std::string> provided = {}) {
    if (!options.get("--weights"))
      return usageError("missing option '--weights'", command);
    Loaded loaded;
    uint64_t threads = 0;
    if (std::optional<int> code = wholeNumber(options, "--threads", 1, 1024, threads, command))
      return *code;
    loaded.threads = static_cast<int>(threads);
    for (const auto &[name, tensor] : filled)
      provided.insert(name);
    auto files = inputFiles(command, options, "--in", provided);
    if (int *code = std::get_if<int>(&files))
      return *code;

    loaded.weightsPath = *options.get("--weights");
    Expected<SafeTensorsFile> weights = readSafeTensors(loaded.weightsPath);
    if (!weights)
      return failure(weights.message());
    loaded.weights = std::move(*weights);
    for (auto it = loaded.weights.tensors.begin(); it != loaded.weights.tensors.end();)
      if (it->first.rfind("optimizer.", 0) == 0) {
        loaded.optimizer.moments.emplace(it->first, std::move(it->second));
        it = loaded.weights.tensors.erase(it);
      } else {
        ++it;
      }
    if (auto step = loaded.weights.metadata.find("step"); step != loaded.weights.metadata.end())
      loaded.optimizer.step = static_cast<int64_t>(parseInteger(step->second, 0, INT64_MAX).value_or(0));
    if (std::optional<int> code = readInputs(std::get<0>(files), loaded.inputs))
      return *code;
    for (auto &[name, tensor] : filled)
      loaded.inputs.emplace(name, std::move(tensor)); // an --in file takes precedence
    return loaded;
  }

  /// The vocabularies of token inputs and outputs: --vocab NAME=FILE, else the one the model declares.
  std::variant<std::map<std::string, Vocabulary>, int> vocabularies(const std::string &command,
                                                                    const ParsedOptions &options) {
    std::map<std::string, int32_t> tokenValues; // i32 inputs and outputs by name
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT))
      tokenValues[spec_.values[i].name] = i;
    for (int32_t o = 0; o < spec_.num_outputs; ++o)
      tokenValues[spec_.outputs[o].name] = spec_.outputs[o].value;
    std::map<std::string, Vocabulary> vocabs;
    for (const auto &[name, v] : tokenValues) {
      const attn_value &value = spec_.values[v];
      if (value.num_vocab_tokens > 0)
        vocabs[name] = Vocabulary({value.vocab_tokens, value.vocab_tokens + value.num_vocab_tokens},
                                  "of '" + name + "' (declared in " + spec_.source_file + ")");
    }
    auto given = options.values.find("--vocab");
    for (const std::string &arg : given == options.values.end() ? std::vector<std::string>{} : given->second) {
      size_t eq = arg.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
        return usageError("malformed '--vocab " + arg + "': expected NAME=FILE", command);
      std::string name = arg.substr(0, eq);
      auto it = tokenValues.find(name);
      if (it == tokenValues.end() || spec_.values[it->second].dtype != ATTN_I32)
        return usageError("'--vocab " + arg + "': the model has no i32 input or output '" + name + "'", command);
      Expected<Vocabulary> vocab = Vocabulary::readFile(arg.substr(eq + 1));
      if (!vocab)
        return failure(vocab.message());
      vocabs[name] = std::move(*vocab);
    }
    return vocabs;
  }

  /// What --text makes: the token input (ids [N, S], padded), and the lengths [N] and 0/1 masks [N, S] of
  /// the i32 inputs beside it that no --in gives. `pieces` gets each text's tokens.
  std::variant<TensorMap, int> textInputs(const std::string &command, const ParsedOptions &options,
                                          const std::map<std::string, Vocabulary> &vocabs,
                                          std::vector<std::vector<std::string>> &pieces) {
    const std::vector<std::string> &texts = options.values.at("--text");
    std::vector<int32_t> candidates;
    std::vector<bool> read = valuesRead(spec_);
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT))
      if (spec_.values[i].dtype == ATTN_I32 && spec_.values[i].rank == 2 && vocabs.count(spec_.values[i].name) &&
          read[i])
        candidates.push_back(i);
    if (candidates.size() != 1) {
      std::string names;
      for (int32_t i : candidates)
        names += (names.empty() ? "'" : ", '") + std::string(spec_.values[i].name) + "'";
      return usageError(candidates.empty()
                            ? "--text needs a token input i32[B, S] with a vocabulary: declare one in the model "
                              "('input src : i32[B, S] vocab \"FILE\"') or give it with --vocab NAME=FILE"
                            : "--text fills one token input, but " + names + " all have a vocabulary",
                        command);
    }
    const attn_value &tokenInput = spec_.values[candidates.front()];
    const Vocabulary &vocab = vocabs.at(tokenInput.name);
    std::vector<std::vector<int32_t>> ids;
    int64_t length = 1;
    for (const std::string &text : texts) {
      Expected<std::vector<int32_t>> encoded = vocab.encode(text);
      if (!encoded)
        return failure("input '" + std::string(tokenInput.name) + "': " + encoded.message());
      length = std::max<int64_t>(length, encoded->size());
      ids.push_back(std::move(*encoded));
      pieces.push_back(vocab.split(text));
    }
    int64_t rows = static_cast<int64_t>(texts.size());
    int32_t pad = std::max(vocab.id("<pad>"), 0);
    auto make = [&](Shape shape, auto value) -> std::optional<Tensor> {
      Expected<Tensor> t = Tensor::create(DType::I32, std::move(shape));
      if (!t)
        return std::nullopt;
      int32_t *data = t->data<int32_t>();
      for (int64_t n = 0; n < rows; ++n)
        for (int64_t j = 0; j < t->numElements() / rows; ++j)
          data[n * (t->numElements() / rows) + j] = value(n, j);
      return std::move(*t);
    };
    TensorMap filled;
    auto sized = [&](int64_t n) { return static_cast<int64_t>(ids[n].size()); };
    if (std::optional<Tensor> t = make({rows, length}, [&](int64_t n, int64_t j) { return j < sized(n) ? ids[n][j] : pad; }))
      filled.emplace(tokenInput.name, std::move(*t));
    auto sameSymbol = [](const attn_dim &a, const attn_dim &b) {
      return a.symbol && b.symbol && std::string_view(a.symbol) == b.symbol;
    };
    std::set<std::string> given;
    if (auto in = options.values.find("--in"); in != options.values.end())
      for (const std::string &arg : in->second)
        given.insert(arg.substr(0, arg.find('=')));
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT)) {
      const attn_value &v = spec_.values[i];
      if (&v == &tokenInput || v.dtype != ATTN_I32 || given.count(v.name) || !sameSymbol(v.dims[0], tokenInput.dims[0]))
        continue;
      std::optional<Tensor> t;
      if (v.rank == 1)
        t = make({rows}, [&](int64_t n, int64_t) { return static_cast<int32_t>(sized(n)); });
      else if (v.rank == 2 && sameSymbol(v.dims[1], tokenInput.dims[1]))
        t = make({rows, length}, [&](int64_t n, int64_t j) { return j < sized(n) ? 1 : 0; });
      if (t)
        filled.emplace(v.name, std::move(*t));
    }
    return filled;
  }

  /// How a token output reads: the decoder that makes it stops at its stop token and starts with (or pads
  /// with) ids that are not part of the text.
  std::pair<int32_t, std::vector<int32_t>> tokenConventions(int32_t value) const {
    for (int32_t d = 0; d < spec_.num_decoders; ++d) {
      const attn_decoder &dec = spec_.decoders[d];
      if (dec.mode != ATTN_DECODE_TEACHER && dec.num_results > 0 && dec.results[0] == value)
        return {dec.stop, {dec.start, dec.pad}};
    }
    return {-1, {}};
  }

  /// Row `n` of an i32 [N, L] token output as text.
  std::string decodeRow(const Tensor &tokens, int64_t n, int32_t value, const Vocabulary &vocab) const {
    int64_t length = tokens.shape().back();
    const int32_t *row = tokens.data<int32_t>() + n * length;
    auto [stop, skip] = tokenConventions(value);
    return vocab.decode(std::vector<int32_t>(row, row + length), stop, skip);
  }

  /// Reads the vocabularies and, with --text, makes the inputs it fills; then the files. On an error
  /// returns the exit code.
  struct Prepared {
    Loaded loaded;
    std::map<std::string, Vocabulary> vocabs;
    std::vector<std::vector<std::string>> pieces; // each --text's tokens
  };
  std::variant<Prepared, int> prepare(const std::string &command, const ParsedOptions &options) {
    Prepared p;
    auto vocabs = vocabularies(command, options);
    if (int *code = std::get_if<int>(&vocabs))
      return *code;
    p.vocabs = std::move(std::get<0>(vocabs));
    TensorMap filled;
    if (options.values.count("--text")) {
      auto made = textInputs(command, options, p.vocabs, p.pieces);
      if (int *code = std::get_if<int>(&made))
        return *code;
      filled = std::move(std::get<0>(made));
    }
    std::variant<Loaded, int> loaded = load(command, options, std::move(filled));
    if (int *code = std::get_if<int>(&loaded))
      return *code;
    p.loaded = std::move(std::get<Loaded>(loaded));
    return p;
  }

  int infer(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done = parse("infer", args,
                                        {{"--weights", false},
                                         {"--in", true},
                                         {"--out", false},
                                         {"--threads", false},
                                         {"--text", true},
                                         {"--vocab", true}},
                                        options))
      return *done;
    bool text = options.values.count("--text") > 0;
    if (!options.get("--out") && !text && options.get("--weights"))
      return usageError("missing option '--out' (or '--text', to print token outputs as text)", "infer");
    std::variant<Prepared, int> prepared = prepare("infer", options);
    if (int *code = std::get_if<int>(&prepared))
      return *code;
    Prepared &p = std::get<Prepared>(prepared);
    Loaded &l = p.loaded;
    Expected<TensorMap> outputs = runModel(spec_, l.weights.tensors, l.inputs, {l.weightsPath, l.threads});
    if (!outputs)
      return failure(outputs.message());

    if (text) {
      const std::vector<std::string> &texts = options.values.at("--text");
      for (size_t n = 0; n < texts.size(); ++n) {
        std::cout << texts[n] << "\n";
        for (int32_t o = 0; o < spec_.num_outputs; ++o) {
          auto vocab = p.vocabs.find(spec_.outputs[o].name);
          const Tensor &tokens = outputs->at(spec_.outputs[o].name);
          if (vocab != p.vocabs.end() && tokens.dtype() == DType::I32 && tokens.shape().size() == 2)
            std::cout << "  " << spec_.outputs[o].name << ": "
                      << decodeRow(tokens, static_cast<int64_t>(n), spec_.outputs[o].value, vocab->second) << "\n";
        }
      }
    }
    const std::string *out = options.get("--out");
    if (!out)
      return kSuccess;
    if (std::optional<int> code = writeAll(*out, *outputs))
      return *code;
    return kSuccess;
  }

  /// A matrix (rows × cols, row-major) with its labels, two decimals per weight.
  static void printTable(const std::vector<float> &matrix, const std::vector<std::string> &rowLabels,
                         const std::vector<std::string> &colLabels) {
    size_t labelWidth = 0, cellWidth = 5, cols = colLabels.size();
    for (const std::string &label : rowLabels)
      labelWidth = std::max(labelWidth, label.size());
    for (const std::string &label : colLabels)
      cellWidth = std::max(cellWidth, label.size() + 1);
    std::cout << std::string(labelWidth, ' ');
    for (const std::string &label : colLabels)
      std::cout << std::string(cellWidth - label.size(), ' ') << label;
    std::cout << "\n";
    for (size_t t = 0; t < rowLabels.size(); ++t) {
      std::cout << rowLabels[t] << std::string(labelWidth - rowLabels[t].size(), ' ');
      for (size_t c = 0; c < cols; ++c) {
        char cell[32];
        std::snprintf(cell, sizeof cell, "%*.2f", static_cast<int>(cellWidth), matrix[t * cols + c]);
        std::cout << cell;
      }
      std::cout << "\n";
    }
  }

  /// `attention` for weights [batch, 1, height, width] over an image input [batch, channels, H, W]: the
  /// weights of one row as a table and, with --png, overlaid on the image.
  int spatialAttention(const ParsedOptions &options, const TensorMap &inputs, const Tensor &weights,
                       const std::string &name, int64_t row) {
    const Tensor *image = nullptr;
    std::string imageName;
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT))
      if (spec_.values[i].dtype == ATTN_F32 && spec_.values[i].rank == 4 && !image) {
        imageName = spec_.values[i].name;
        image = &inputs.at(imageName);
      }
    int64_t mapHeight = weights.shape()[2], mapWidth = weights.shape()[3];
    const float *map = weights.data<float>() + row * mapHeight * mapWidth;
    std::vector<float> matrix(map, map + mapHeight * mapWidth);
    std::vector<std::string> rowLabels, colLabels;
    for (int64_t y = 0; y < mapHeight; ++y)
      rowLabels.push_back(std::to_string(y));
    for (int64_t x = 0; x < mapWidth; ++x)
      colLabels.push_back(std::to_string(x));
    printTable(matrix, rowLabels, colLabels);
    const std::string *png = options.get("--png");
    if (!png)
      return kSuccess;
    if (!image)
      return failure("the model has no f32 image input [batch, channels, height, width] to overlay '" + name +
                     "' on");
    int64_t channels = image->shape()[1], height = image->shape()[2], width = image->shape()[3];
    if (channels != 1 && channels != 3)
      return failure("input '" + imageName + "' has " + std::to_string(channels) +
                     " channels; an overlay needs 1 (grey) or 3 (RGB)");
    const float *pixels = image->data<float>() + row * channels * height * width;
    Image overlay = renderOverlay(std::vector<float>(pixels, pixels + channels * height * width),
                                  static_cast<int>(channels), static_cast<int>(height), static_cast<int>(width), matrix,
                                  static_cast<int>(mapHeight), static_cast<int>(mapWidth),
                                  std::string(spec_.name) + ": " + name + " of " + imageName + " row " +
                                      std::to_string(row));
    if (Status s = writePng(*png, overlay); !s)
      return failure(s.message());
    std::cout << "wrote " << *png << ": " << overlay.width() << "x" << overlay.height() << " overlay\n";
    return kSuccess;
  }

  /// `attention`: one batch row's weights [steps, source] as a table and, with --png, a heat map.
  int attention(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done = parse("attention", args,
                                        {{"--weights", false},
                                         {"--in", true},
                                         {"--text", true},
                                         {"--vocab", true},
                                         {"--png", false},
                                         {"--output", false},
                                         {"--row", false},
                                         {"--threads", false}},
                                        options))
      return *done;
    // The weights output: named, or the only f32 output [batch, steps, source] or [batch, 1, height, width].
    int32_t chosen = -1;
    std::string candidates;
    for (int32_t o = 0; o < spec_.num_outputs; ++o) {
      const attn_value &v = spec_.values[spec_.outputs[o].value];
      bool fits = v.dtype == ATTN_F32 && (v.rank == 3 || (v.rank == 4 && v.dims[1].size == 1));
      if (const std::string *name = options.get("--output")) {
        if (*name == spec_.outputs[o].name) {
          if (!fits)
            return usageError("output '" + *name + "' is not f32 [batch, steps, source] or [batch, 1, height, width]",
                              "attention");
          chosen = o;
        }
      } else if (fits) {
        candidates += (candidates.empty() ? "'" : ", '") + std::string(spec_.outputs[o].name) + "'";
        chosen = chosen == -1 ? o : -2;
      }
    }
    if (chosen == -1)
      return usageError(options.get("--output")
                            ? "the model has no output '" + *options.get("--output") + "'"
                            : std::string("the model has no f32 output [batch, steps, source] or [batch, 1, height, "
                                          "width] of attention weights"),
                        "attention");
    if (chosen == -2)
      return usageError("several outputs could be attention weights (" + candidates + "); pick one with --output",
                        "attention");
    int64_t row = 0;
    if (const std::string *text = options.get("--row")) {
      std::optional<uint64_t> n = parseInteger(*text, 0, 1u << 30);
      if (!n)
        return usageError("option '--row' needs a whole number, not '" + *text + "'", "attention");
      row = static_cast<int64_t>(*n);
    }
    std::variant<Prepared, int> prepared = prepare("attention", options);
    if (int *code = std::get_if<int>(&prepared))
      return *code;
    Prepared &p = std::get<Prepared>(prepared);
    Loaded &l = p.loaded;
    Expected<TensorMap> outputs = runModel(spec_, l.weights.tensors, l.inputs, {l.weightsPath, l.threads});
    if (!outputs)
      return failure(outputs.message());
    const std::string name = spec_.outputs[chosen].name;
    const Tensor &weights = outputs->at(name);
    int64_t batch = weights.shape()[0];
    if (row >= batch)
      return failure("--row " + std::to_string(row) + " is past the batch of " + std::to_string(batch) + " rows");
    if (weights.shape().size() == 4)
      return spatialAttention(options, l.inputs, weights, name, row);
    int64_t steps = weights.shape()[1], source = weights.shape()[2];

    // Columns: the text's tokens; rows: the tokens the model produced, up to its stop token.
    std::vector<std::string> colLabels, rowLabels;
    if (!p.pieces.empty())
      colLabels = p.pieces[row];
    for (int64_t c = static_cast<int64_t>(colLabels.size()); c < source && p.pieces.empty(); ++c)
      colLabels.push_back(std::to_string(c));
    int64_t cols = std::min<int64_t>(source, static_cast<int64_t>(colLabels.size()));
    int64_t rows = steps;
    for (int32_t o = 0; o < spec_.num_outputs; ++o) {
      const Tensor &tokens = outputs->at(spec_.outputs[o].name);
      if (tokens.dtype() != DType::I32 || tokens.shape().size() != 2 || tokens.shape()[1] != steps)
        continue;
      auto vocab = p.vocabs.find(spec_.outputs[o].name);
      auto [stop, skip] = tokenConventions(spec_.outputs[o].value);
      rowLabels.clear();
      for (int64_t t = 0; t < steps; ++t) {
        int32_t id = tokens.data<int32_t>()[row * steps + t];
        rowLabels.push_back(vocab != p.vocabs.end() ? vocab->second.token(id) : std::to_string(id));
        if (id == stop) {
          rows = t + 1;
          break;
        }
      }
      break;
    }
    for (int64_t t = static_cast<int64_t>(rowLabels.size()); t < rows; ++t)
      rowLabels.push_back(std::to_string(t));

    std::vector<float> matrix;
    const float *data = weights.data<float>() + row * steps * source;
    for (int64_t t = 0; t < rows; ++t)
      for (int64_t c = 0; c < cols; ++c)
        matrix.push_back(data[t * source + c]);
    printTable(matrix, rowLabels, colLabels);
    if (const std::string *png = options.get("--png")) {
      std::string title = std::string(spec_.name) + ": " + name;
      if (!p.pieces.empty())
        title += " for \"" + options.values.at("--text")[row] + "\"";
      Image image = renderHeatMap(matrix, static_cast<int>(rows), static_cast<int>(cols), rowLabels, colLabels, title);
      if (Status s = writePng(*png, image); !s)
        return failure(s.message());
      std::cout << "wrote " << *png << ": " << image.width() << "x" << image.height() << " heat map\n";
    }
    return kSuccess;
  }

  /// Writes every tensor of `results` to `dir`; returns an exit code on failure.
  std::optional<int> writeAll(const std::string &dirName, const TensorMap &results) {
    std::filesystem::path dir = dirName;
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir))
      return failure("cannot create output directory '" + dir.string() + "'" + (ec ? ": " + ec.message() : ""));
    for (const auto &[name, tensor] : results) {
      std::string path = (dir / (name + ".npy")).string();
      if (Status s = writeNpy(path, tensor); !s)
        return failure(s.message());
      std::cout << "wrote " << path << ": " << tensor.describe() << "\n";
    }
    return std::nullopt;
  }

  /// The gradient program, or a usage error for a model without one.
  const attn_model_spec *gradientProgram(const std::string &command) {
    if (!spec_.gradient)
      usageError("the model has no loss to differentiate: add 'train { loss = NAME }' to " +
                     std::string(spec_.source_file),
                 command);
    return spec_.gradient;
  }

  int grad(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done =
            parse("grad", args, {{"--weights", false}, {"--in", true}, {"--out", false}, {"--threads", false}}, options))
      return *done;
    const attn_model_spec *gradient = gradientProgram("grad");
    if (!gradient)
      return kUsage;
    if (!options.get("--out") && options.get("--weights"))
      return usageError("missing option '--out'", "grad");
    std::variant<Loaded, int> loaded = load("grad", options);
    if (int *code = std::get_if<int>(&loaded))
      return *code;
    Loaded &l = std::get<Loaded>(loaded);
    Expected<TensorMap> results =
        runWithParameters(*gradient, l.weights.tensors, l.inputs, {l.weightsPath, l.threads});
    if (!results)
      return failure(results.message());
    std::cout << "loss " << results->at("loss").data<float>()[0] << "\n";
    if (std::optional<int> code = writeAll(*options.get("--out"), *results))
      return *code;
    return kSuccess;
  }

  /// The columns of a --tsv file: the token inputs with a vocabulary that the gradient program reads, in
  /// the model's order; a teacher-forced decoder's targets get its stop token appended. An i32 [B] input
  /// named after a token input (src_len for src) takes its lengths, an i32 input [B, L] of the same L its
  /// 0/1 mask.
  std::variant<std::vector<TokenColumn>, int> tokenColumns(const std::string &command, const ParsedOptions &options) {
    auto vocabs = vocabularies(command, options);
    if (int *code = std::get_if<int>(&vocabs))
      return *code;
    const attn_model_spec &g = *spec_.gradient;
    std::vector<bool> read = valuesRead(g);
    std::vector<TokenColumn> columns;
    std::vector<int32_t> tokenValues;
    for (int32_t i : valuesWithRole(g, ATTN_ROLE_INPUT)) {
      const attn_value &v = g.values[i];
      auto vocab = std::get<0>(vocabs).find(v.name);
      if (v.dtype != ATTN_I32 || v.rank != 2 || !read[i] || vocab == std::get<0>(vocabs).end())
        continue;
      TokenColumn column{v.name, vocab->second};
      column.pad = std::max(vocab->second.id("<pad>"), 0);
      for (int32_t d = 0; d < g.num_decoders; ++d)
        if (g.decoders[d].mode == ATTN_DECODE_TEACHER && g.decoders[d].teacher == i)
          column.stop = g.decoders[d].stop;
      columns.push_back(std::move(column));
      tokenValues.push_back(i);
    }
    if (columns.empty())
      return usageError("--tsv needs token inputs i32[B, L] with a vocabulary ('input src : i32[B, S] vocab "
                        "\"FILE\"'), one per column",
                        command);
    for (int32_t i : valuesWithRole(g, ATTN_ROLE_INPUT)) {
      const attn_value &v = g.values[i];
      if (v.dtype != ATTN_I32 || !read[i] || std::find(tokenValues.begin(), tokenValues.end(), i) != tokenValues.end())
        continue;
      for (size_t c = 0; c < columns.size(); ++c) {
        const attn_value &tokens = g.values[tokenValues[c]];
        std::string_view name(v.name);
        if (v.rank == 1 && name.size() > columns[c].input.size() && name.rfind(columns[c].input, 0) == 0 &&
            columns[c].lengths.empty())
          columns[c].lengths = v.name;
        else if (v.rank == 2 && v.dims[1].symbol && tokens.dims[1].symbol &&
                 std::string_view(v.dims[1].symbol) == tokens.dims[1].symbol && columns[c].mask.empty())
          columns[c].mask = v.name;
      }
    }
    return columns;
  }

  /// The examples of `--tsv`/`--valid-tsv` (token columns) or of `--in`/`--valid` (.npy files).
  std::variant<Dataset, int> readDataset(const ParsedOptions &options, const char *tsv,
                                         const std::vector<TokenColumn> &columns, TensorMap tensors,
                                         const std::string &what) {
    Expected<Dataset> data = options.get(tsv) ? Dataset::fromTsv(*options.get(tsv), columns)
                                              : Dataset::fromTensors(std::move(tensors), what);
    if (!data)
      return failure(data.message());
    return std::move(*data);
  }

  /// Writes the parameters and the optimizer state (atomically: the file is replaced whole or not at all).
  Status writeCheckpoint(const std::string &path, TensorMap &weights, OptimizerState &optimizer) {
    TensorMap all; // the tensors move in and back out, uncopied
    for (TensorMap *group : {&weights, &optimizer.moments})
      for (auto &[name, t] : *group)
        all.emplace(name, std::move(t));
    Status written = writeSafeTensors(path, all, {{"model", spec_.name}, {"step", std::to_string(optimizer.step)}});
    for (TensorMap *group : {&weights, &optimizer.moments})
      for (auto &[name, t] : *group)
        t = std::move(all.at(name));
    return written;
  }

  int trainCommand(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done = parse("train", args,
                                        {{"--weights", false},
                                         {"--in", true},
                                         {"--tsv", false},
                                         {"--out", false},
                                         {"--resume", false, /*flag=*/true},
                                         {"--steps", false},
                                         {"--epochs", false},
                                         {"--batch", false},
                                         {"--seed", false},
                                         {"--log-every", false},
                                         {"--checkpoint-every", false},
                                         {"--valid", true},
                                         {"--valid-tsv", false},
                                         {"--valid-every", false},
                                         {"--patience", false},
                                         {"--best", false},
                                         {"--threads", false}},
                                        options))
      return *done;
    if (!spec_.gradient || !spec_.training)
      return usageError("the model does not train: add 'train { loss = NAME }' to " + std::string(spec_.source_file),
                        "train");
    if (!options.get("--out") && options.get("--weights"))
      return usageError("missing option '--out'", "train");
    TrainOptions train;
    uint64_t steps = 100, epochs = 0, batch = 32, logEvery = 10, checkpointEvery = 100, validEvery = 100,
             patience = 0;
    for (auto [name, value, min, max] :
         {std::tuple<const char *, uint64_t *, uint64_t, uint64_t>{"--steps", &steps, 1, 100000000},
          {"--epochs", &epochs, 1, 100000},
          {"--batch", &batch, 1, 1u << 30},
          {"--seed", &train.seed, 0, UINT64_MAX},
          {"--log-every", &logEvery, 1, 100000000},
          {"--checkpoint-every", &checkpointEvery, 1, 100000000},
          {"--valid-every", &validEvery, 1, 100000000},
          {"--patience", &patience, 0, 100000000}})
      if (std::optional<int> code = wholeNumber(options, name, min, max, *value, "train"))
        return *code;
    if (options.get("--steps") && options.get("--epochs"))
      return usageError("give --steps or --epochs, not both", "train");
    if (options.get("--tsv") && options.values.count("--in"))
      return usageError("give the examples with --tsv or with --in, not both", "train");
    if (options.get("--valid-tsv") && options.values.count("--valid"))
      return usageError("give the validation examples with --valid-tsv or with --valid, not both", "train");
    train.batch = static_cast<int64_t>(batch);
    train.validEvery = static_cast<int64_t>(validEvery);
    train.patience = static_cast<int64_t>(patience);
    bool validating = options.values.count("--valid") || options.get("--valid-tsv");
    if (!validating && (options.get("--patience") || options.get("--best")))
      return usageError("--patience and --best need validation data (--valid NAME=FILE or --valid-tsv FILE)",
                        "train");

    std::vector<TokenColumn> columns;
    std::set<std::string> provided; // the inputs --tsv fills
    if (options.get("--tsv") || options.get("--valid-tsv")) {
      auto made = tokenColumns("train", options);
      if (int *code = std::get_if<int>(&made))
        return *code;
      columns = std::move(std::get<0>(made));
      if (options.get("--tsv"))
        for (const TokenColumn &c : columns)
          for (const std::string &name : c.inputs())
            provided.insert(name);
    }
    // --resume: continue from the checkpoint at --out when there is one, up to --steps in all.
    ParsedOptions loadOptions = options;
    bool resuming = options.get("--resume") && options.get("--out") && fileExists(*options.get("--out"));
    if (resuming)
      loadOptions.values["--weights"] = {*options.get("--out")};
    std::variant<Loaded, int> loaded = load("train", loadOptions, {}, provided);
    if (int *code = std::get_if<int>(&loaded))
      return *code;
    Loaded &l = std::get<Loaded>(loaded);
    train.run = {l.weightsPath, l.threads};
    auto data = readDataset(options, "--tsv", columns, std::move(l.inputs), "input");
    if (int *code = std::get_if<int>(&data))
      return *code;
    Dataset &examples = std::get<Dataset>(data);
    int64_t perEpoch = batchesPerEpoch(examples, std::min<int64_t>(train.batch, examples.size()));
    train.steps = epochs ? static_cast<int64_t>(epochs) * perEpoch : static_cast<int64_t>(steps);
    if (options.get("--resume")) {
      train.steps -= l.optimizer.step;
      if (train.steps <= 0) {
        std::cout << *options.get("--out") << " is at step " << l.optimizer.step << ": nothing left to train\n";
        return kSuccess;
      }
      if (resuming)
        std::cout << "resuming from " << *options.get("--out") << " at step " << l.optimizer.step << "\n";
    }
    std::optional<Dataset> valid;
    if (validating) {
      TensorMap validTensors;
      if (options.values.count("--valid")) {
        auto files = inputFiles("train", options, "--valid");
        if (int *code = std::get_if<int>(&files))
          return *code;
        if (std::optional<int> code = readInputs(std::get<0>(files), validTensors))
          return *code;
      }
      auto made = readDataset(options, "--valid-tsv", columns, std::move(validTensors), "validation input");
      if (int *code = std::get_if<int>(&made))
        return *code;
      valid = std::move(std::get<Dataset>(made));
      train.valid = &*valid;
    }

    std::optional<Status> bestWritten, checkpointed;
    const std::string &out = *options.get("--out");
    int64_t first = l.optimizer.step, last = first + train.steps;
    std::printf("training %s: %lld examples, %lld batches of %lld per epoch, steps %lld to %lld\n", spec_.name,
                static_cast<long long>(examples.size()), static_cast<long long>(perEpoch),
                static_cast<long long>(std::min<int64_t>(train.batch, examples.size())),
                static_cast<long long>(first + 1), static_cast<long long>(last));
    auto start = std::chrono::steady_clock::now();
    double units = 0;
    Status s = attn::rt::train(spec_, l.weights.tensors, examples, l.optimizer, train, [&](const StepReport &r) {
      units += double(r.units);
      int64_t done = r.step - first;
      if (done % int64_t(logEvery) == 0 || r.step == last || r.stopping) {
        double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("step %lld/%lld %s  epoch %.2f  loss %.4f  grad norm %.3g  lr %.3g  %.0f %s/s  ETA %s\n",
                    static_cast<long long>(r.step), static_cast<long long>(last),
                    progressBar(double(done) / double(train.steps)).c_str(), double(r.step) / double(perEpoch),
                    r.loss, r.gradNorm, r.learningRate, units / std::max(seconds, 1e-9), examples.unitName(),
                    formatDuration(seconds / double(done) * double(last - r.step)).c_str());
      }
      if (r.validLoss) {
        std::printf("step %lld  validation loss %.6f%s%s\n", static_cast<long long>(r.step), *r.validLoss,
                    r.best ? "  (best)" : "", r.stopping ? "  -- no better for --patience validations: stopping" : "");
        if (r.best && options.get("--best"))
          bestWritten = writeSafeTensors(*options.get("--best"), l.weights.tensors,
                                         {{"model", spec_.name}, {"step", std::to_string(r.step)}});
      }
      if (done % int64_t(checkpointEvery) == 0 && r.step != last && !r.stopping)
        if (Status w = writeCheckpoint(out, l.weights.tensors, l.optimizer); !w)
          checkpointed = std::move(w);
      std::fflush(stdout);
    });
    if (!s)
      return failure(s.message());
    for (std::optional<Status> *written : {&bestWritten, &checkpointed})
      if (*written && !**written)
        return failure((*written)->message());
    if (Status w = writeCheckpoint(out, l.weights.tensors, l.optimizer); !w)
      return failure(w.message());
    std::cout << "wrote " << out << ": step " << l.optimizer.step << "\n";
    return kSuccess;
  }

  /// The fraction of examples (or positions) whose arg-max score is the target, as "97.50% (351/360)"; nothing
  /// when the model has no targets input and scores output (or an error, reported as such).
  std::optional<std::string> classificationAccuracy(const Dataset &data, TensorMap &weights, const RunOptions &run,
                                                    uint64_t batch) {
    std::vector<bool> inferRead = valuesRead(spec_), trainRead = valuesRead(*spec_.gradient);
    const attn_value *targets = nullptr;
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT))
      if (spec_.values[i].dtype == ATTN_I32 && !inferRead[i])
        for (int32_t j : valuesWithRole(*spec_.gradient, ATTN_ROLE_INPUT))
          if (trainRead[j] && std::string_view(spec_.gradient->values[j].name) == spec_.values[i].name)
            targets = &spec_.values[i];
    if (!targets)
      return std::nullopt;
    std::string scores;
    for (int32_t o = 0; o < spec_.num_outputs && scores.empty(); ++o) {
      const attn_value &v = spec_.values[spec_.outputs[o].value];
      if (v.dtype == ATTN_F32 && v.rank == targets->rank + 1)
        scores = spec_.outputs[o].name;
    }
    if (scores.empty())
      return std::nullopt;
    int64_t correct = 0, total = 0;
    for (const std::vector<int64_t> &ids : data.inOrder(int64_t(batch))) {
      Expected<TensorMap> inputs = data.batch(ids);
      if (!inputs)
        return "error: " + inputs.message();
      auto found = inputs->find(targets->name);
      if (found == inputs->end())
        return std::nullopt;
      Tensor labels = std::move(found->second);
      inputs->erase(found);
      Expected<TensorMap> outputs = runWithParameters(spec_, weights, *inputs, run);
      if (!outputs)
        return "error: " + outputs.message();
      const Tensor &s = outputs->at(scores);
      int64_t classes = s.shape().back();
      for (int64_t n = 0; n < labels.numElements(); ++n) {
        const float *row = s.data<float>() + n * classes;
        int64_t best = std::max_element(row, row + classes) - row;
        correct += best == labels.data<int32_t>()[n];
        ++total;
      }
    }
    return format("%.2f%% (%lld/%lld)", 100.0 * double(correct) / double(std::max<int64_t>(total, 1)),
                  static_cast<long long>(correct), static_cast<long long>(total));
  }

  /// `eval`: the mean loss over examples and, for a model whose token output is a search over the vocabulary
  /// of a --tsv target column, the token error rate (edit distance over reference tokens; the phoneme error
  /// rate of G2P) and the sequence error rate (sequences with any error; G2P's word error rate).
  int eval(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done = parse("eval", args,
                                        {{"--weights", false},
                                         {"--in", true},
                                         {"--tsv", false},
                                         {"--batch", false},
                                         {"--vocab", true},
                                         {"--show", false},
                                         {"--threads", false}},
                                        options))
      return *done;
    const attn_model_spec *gradient = gradientProgram("eval");
    if (!gradient)
      return kUsage;
    uint64_t batch = 64, show = 0;
    if (std::optional<int> code = wholeNumber(options, "--batch", 1, 1u << 30, batch, "eval"))
      return *code;
    if (std::optional<int> code = wholeNumber(options, "--show", 0, 1000000, show, "eval"))
      return *code;
    if (options.get("--tsv") && options.values.count("--in"))
      return usageError("give the examples with --tsv or with --in, not both", "eval");
    std::vector<TokenColumn> columns;
    std::set<std::string> provided;
    if (options.get("--tsv")) {
      auto made = tokenColumns("eval", options);
      if (int *code = std::get_if<int>(&made))
        return *code;
      columns = std::move(std::get<0>(made));
      for (const TokenColumn &c : columns)
        for (const std::string &name : c.inputs())
          provided.insert(name);
    }
    std::variant<Loaded, int> loaded = load("eval", options, {}, provided);
    if (int *code = std::get_if<int>(&loaded))
      return *code;
    Loaded &l = std::get<Loaded>(loaded);
    RunOptions run{l.weightsPath, l.threads};
    auto made = readDataset(options, "--tsv", columns, std::move(l.inputs), "input");
    if (int *code = std::get_if<int>(&made))
      return *code;
    Dataset &data = std::get<Dataset>(made);
    auto start = std::chrono::steady_clock::now();
    Expected<double> loss = evaluate(spec_, l.weights.tensors, data, static_cast<int64_t>(batch), run);
    if (!loss)
      return failure(loss.message());
    std::vector<std::pair<std::string, std::string>> rows{{"examples", std::to_string(data.size())},
                                                          {"loss", format("%.4f", *loss)}};

    // Sequence metrics: the target column (a teacher's) against the search output with its vocabulary.
    int target = -1;
    for (size_t c = 0; c < columns.size(); ++c)
      if (columns[c].stop >= 0)
        target = static_cast<int>(c);
    int32_t tokensOut = -1;
    std::string outputName;
    for (int32_t o = 0; o < spec_.num_outputs && target >= 0; ++o) {
      const attn_value &v = spec_.values[spec_.outputs[o].value];
      if (v.dtype == ATTN_I32 && v.rank == 2 && tokenConventions(spec_.outputs[o].value).first >= 0) {
        tokensOut = spec_.outputs[o].value;
        outputName = spec_.outputs[o].name;
        break;
      }
    }
    if (tokensOut >= 0) {
      const TokenColumn &ref = columns[target];
      auto [stop, skip] = tokenConventions(tokensOut);
      int64_t edits = 0, refTokens = 0, wrong = 0;
      for (const std::vector<int64_t> &ids : data.inOrder(int64_t(batch))) {
        Expected<TensorMap> inputs = data.batch(ids);
        if (!inputs)
          return failure(inputs.message());
        for (const std::string &name : ref.inputs())
          inputs->erase(name);
        Expected<TensorMap> outputs = runWithParameters(spec_, l.weights.tensors, *inputs, run);
        if (!outputs)
          return failure(outputs.message());
        const Tensor &tokens = outputs->at(outputName);
        int64_t width = tokens.shape()[1];
        for (size_t n = 0; n < ids.size(); ++n) {
          std::vector<int32_t> predicted;
          for (int64_t j = 0; j < width; ++j) {
            int32_t t = tokens.data<int32_t>()[int64_t(n) * width + j];
            if (t == stop)
              break;
            if (std::find(skip.begin(), skip.end(), t) == skip.end())
              predicted.push_back(t);
          }
          std::vector<int32_t> reference = data.tokens(target, ids[n]);
          reference.pop_back(); // the stop token
          int64_t d = editDistance(predicted, reference);
          edits += d;
          refTokens += static_cast<int64_t>(reference.size());
          wrong += d > 0;
          if (ids[n] < int64_t(show))
            std::printf("%-6lld %s  %s%s\n", static_cast<long long>(ids[n]),
                        ref.vocab.decode(predicted, -1, {}).c_str(), d ? "≠ " : "= ",
                        ref.vocab.decode(reference, -1, {}).c_str());
        }
      }
      rows.push_back({"token error rate", format("%.2f%%", 100.0 * double(edits) / double(refTokens))});
      rows.push_back({"sequence error rate", format("%.2f%%", 100.0 * double(wrong) / double(data.size()))});
    }
    // Classification: the i32 input only training reads (the targets) against the arg-max of the first f32
    // output with the targets' shape and a class dimension.
    if (tokensOut < 0)
      if (std::optional<std::string> accuracy = classificationAccuracy(data, l.weights.tensors, run, batch); accuracy)
        rows.push_back({"accuracy", *accuracy});
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("%-20s %s\n", "metric", "value");
    for (const auto &[name, value] : rows)
      std::printf("%-20s %s\n", name.c_str(), value.c_str());
    std::printf("(%.1fs)\n", seconds);
    return kSuccess;
  }

  int gradcheck(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done = parse("gradcheck", args,
                                        {{"--weights", false},
                                         {"--in", true},
                                         {"--samples", false},
                                         {"--eps", false},
                                         {"--tolerance", false},
                                         {"--threads", false}},
                                        options))
      return *done;
    const attn_model_spec *gradient = gradientProgram("gradcheck");
    if (!gradient)
      return kUsage;
    uint64_t samples = 3;
    if (std::optional<int> code = wholeNumber(options, "--samples", 1, 1000, samples, "gradcheck"))
      return *code;
    double eps = 1e-2, tolerance = 1e-2;
    for (auto [name, slot] : {std::pair<const char *, double *>{"--eps", &eps}, {"--tolerance", &tolerance}})
      if (const std::string *text = options.get(name)) {
        char *end = nullptr;
        double v = std::strtod(text->c_str(), &end);
        if (end == text->c_str() || *end || !(v > 0))
          return usageError(std::string("option '") + name + "' needs a positive number, not '" + *text + "'",
                            "gradcheck");
        *slot = v;
      }
    std::variant<Loaded, int> loaded = load("gradcheck", options);
    if (int *code = std::get_if<int>(&loaded))
      return *code;
    Loaded &l = std::get<Loaded>(loaded);
    RunOptions run{l.weightsPath, l.threads};
    Expected<TensorMap> analytic = runWithParameters(*gradient, l.weights.tensors, l.inputs, run);
    if (!analytic)
      return failure(analytic.message());
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
          return failure(plus ? minus.message() : plus.message());
        double numeric = (*plus - *minus) / (2 * eps), exact = g.data<float>()[at];
        worst = std::max(worst, std::fabs(numeric - exact) / std::max(std::fabs(numeric) + std::fabs(exact), 1e-2));
      }
      ok &= worst <= tolerance;
      std::cout << (worst <= tolerance ? "ok    " : "FAIL  ") << name.substr(5) << "  max error " << worst << "\n";
    }
    return ok ? kSuccess : kFailure;
  }

  /// Runs the model repeatedly on the same inputs and reports the time of one run (what the benchmark
  /// harness reads): the files are read once, outside the timing.
  int bench(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done = parse("bench", args,
                                        {{"--weights", false},
                                         {"--in", true},
                                         {"--runs", false},
                                         {"--warmup", false},
                                         {"--threads", false},
                                         {"--grad", false, /*flag=*/true}},
                                        options))
      return *done;
    const attn_model_spec *gradient = options.get("--grad") ? gradientProgram("bench") : nullptr;
    if (options.get("--grad") && !gradient)
      return kUsage;
    uint64_t counts[2] = {10, 2}; // runs, warm-up runs
    if (std::optional<int> code = wholeNumber(options, "--runs", 1, 100000, counts[0], "bench"))
      return *code;
    if (std::optional<int> code = wholeNumber(options, "--warmup", 0, 100000, counts[1], "bench"))
      return *code;
    std::variant<Loaded, int> loaded = load("bench", options);
    if (int *code = std::get_if<int>(&loaded))
      return *code;
    Loaded &l = std::get<Loaded>(loaded);
    std::vector<double> ms;
    for (uint64_t run = 0; run < counts[1] + counts[0]; ++run) {
      auto begin = std::chrono::steady_clock::now();
      Expected<TensorMap> outputs =
          gradient ? runWithParameters(*gradient, l.weights.tensors, l.inputs, {l.weightsPath, l.threads})
                   : runModel(spec_, l.weights.tensors, l.inputs, {l.weightsPath, l.threads});
      auto end = std::chrono::steady_clock::now();
      if (!outputs)
        return failure(outputs.message());
      if (run >= counts[1])
        ms.push_back(std::chrono::duration<double, std::milli>(end - begin).count());
    }
    std::sort(ms.begin(), ms.end());
    double median = ms.size() % 2 ? ms[ms.size() / 2] : (ms[ms.size() / 2 - 1] + ms[ms.size() / 2]) / 2;
    std::cout << "median " << median << " ms, min " << ms.front() << " ms, max " << ms.back() << " ms over "
              << ms.size() << " runs (" << counts[1] << " warm-up)\n";
    return kSuccess;
  }

  int init(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done = parse("init", args, {{"--out", false}, {"--seed", false}}, options))
      return *done;
    if (!options.get("--out"))
      return usageError("missing option '--out'", "init");
    uint64_t seed = 0;
    if (const std::string *text = options.get("--seed")) {
      std::optional<uint64_t> n = parseInteger(*text, 0, UINT64_MAX);
      if (!n)
        return usageError("option '--seed' needs a whole number from 0 to 2^64-1, not '" + *text + "'",
                          "init");
      seed = *n;
    }

    TensorMap weights;
    int64_t total = 0;
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_PARAM)) {
      const attn_value &v = spec_.values[i];
      Shape shape;
      for (int32_t d = 0; d < v.rank; ++d)
        shape.push_back(v.dims[d].size);
      Expected<Tensor> tensor = Tensor::create(static_cast<DType>(v.dtype), shape);
      if (!tensor)
        return failure(std::string("parameter '") + v.name + "': " + tensor.message());
      if (tensor->dtype() == DType::F32) {
        int64_t fanIn = 1;
        for (size_t d = shape.size() > 1 ? 1 : 0; d < shape.size(); ++d)
          fanIn *= shape[d];
        float bound = 1.0f / std::sqrt(static_cast<float>(std::max<int64_t>(fanIn, 1)));
        uint64_t state = seed ^ hashName(v.name);
        float *data = tensor->data<float>();
        for (int64_t e = 0; e < tensor->numElements(); ++e) {
          float unit = static_cast<float>(splitmix64(state) >> 40) * 0x1p-24f; // [0, 1), 24 bits
          data[e] = (2 * unit - 1) * bound;
        }
      }
      total += tensor->numElements();
      weights.emplace(v.name, std::move(*tensor));
    }
    const std::string &path = *options.get("--out");
    if (Status s =
            writeSafeTensors(path, weights, {{"model", spec_.name}, {"init_seed", std::to_string(seed)}});
        !s)
      return failure(s.message());
    std::cout << "wrote " << path << ": " << weights.size() << " parameters, " << total << " values, seed "
              << seed << "\n";
    return kSuccess;
  }

  const attn_model_spec &spec_;
  std::string program_;
};

} // namespace

} // namespace attn::rt

extern "C" int attn_main(const attn_model_spec *model, int argc, char **argv) {
  using namespace attn::rt;
  // Every run allocates and frees its tensors: keep freed memory in the heap (glibc's largest mmap
  // threshold, no trimming) so that the next run reuses it instead of faulting in fresh pages.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  int rc;
  try {
    if (!model) {
      std::cerr << "error: internal error: no model table\n";
      return kFailure;
    }
    if (Status s = checkModelSpec(*model); !s) {
      std::cerr << "error: " << s.message() << "\n";
      return kFailure;
    }
    std::string program = argc > 0 && argv[0] && *argv[0] ? argv[0] : model->name;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i)
      args.emplace_back(argv[i] ? argv[i] : "");
    rc = Cli(*model, program).run(args);
  } catch (const std::exception &e) {
    std::cerr << "error: internal error: " << e.what() << "\n";
    rc = kFailure;
  }
  std::cout.flush();
  return rc;
}
