// What the commands of a generated program (`info`, `infer`, `train`, ...) share: the table row that
// describes a command (its name, help and options, which drive dispatch and --help), the context it runs
// in (the model, the program's name, and the two ways out: a usage error or a failure), and the steps that
// read what several commands read (weights, .npy inputs, --text, vocabularies, --tsv data). Each command
// lives in a file of its own in this directory; adding one is that file and a row in Cli.cpp's table.
#ifndef ATTN_RUNTIME_CLI_COMMAND_H
#define ATTN_RUNTIME_CLI_COMMAND_H

#include "Options.h"

#include "attn/Runtime/Communicator.h"
#include "attn/Runtime/Dataset.h"
#include "attn/Runtime/Executor.h"
#include "attn/Runtime/SafeTensors.h"
#include "attn/Runtime/Trainer.h"

#include <map>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace attn::rt {

// Exit codes: a usage error is found before any file is read, so a typo costs nothing.
constexpr int kSuccess = 0;
constexpr int kFailure = 1; // the work itself failed: a bad file, a shape mismatch, a kernel error
constexpr int kUsage = 2;   // the command line is wrong

/// The exit code that ends a command early, or nothing to go on. Every step that can end a command
/// returns one, and the command returns it at once: `if (Exit code = load(...)) return *code;`.
using Exit = std::optional<int>;

/// What a command runs with: the model and the names messages use. The errors print one `error: ...`
/// line on stderr and return the exit code to end with.
struct Context {
  const attn_model_spec &spec;
  std::string program; // as the user ran it (argv[0])
  std::string command; // the command running, or "" for the program itself
  Communicator &communicator; // the processes of a data-parallel run (one, unless started by mpirun)

  /// Prints the message and the hint to run `PROGRAM [COMMAND] --help`; returns kUsage.
  int usageError(const std::string &message) const;
  /// Prints the message; returns kFailure.
  int failure(const std::string &message) const;
  /// `text` with $PROGRAM, $MODEL, $SOURCE and $INPUTS (an `--in` flag per input) filled in.
  std::string fill(std::string text) const;
  /// Reads option `name`, if given, as a whole number in [min, max] into `value`; a bad value is a usage
  /// error.
  Exit wholeNumber(const ParsedOptions &options, const char *name, uint64_t min, uint64_t max,
                   uint64_t &value) const;
  /// The gradient program, or (after printing the usage error) null for a model without one.
  const attn_model_spec *gradientProgram() const;
};

/// `--dropout SEED` of `grad` and `gradcheck`: the model's dropout on, with the masks that training draws
/// from SEED at step 0.
Exit dropoutOption(const Context &context, const ParsedOptions &options, RunOptions &run);

/// A row of the command table.
struct Command {
  const char *name;
  const char *summary; // its line in the program's help
  const char *help;    // `help NAME`, with $PROGRAM, $MODEL, $SOURCE and $INPUTS to fill in
  std::vector<OptionSpec> options;
  int (*run)(const Context &context, const ParsedOptions &options);
};

// The commands, in the order the program's help lists them.
extern const Command infoCommand;
extern const Command inferCommand;
extern const Command attentionCommand;
extern const Command trainCommand;
extern const Command evalCommand;
extern const Command gradCommand;
extern const Command gradCheckCommand;
extern const Command initCommand;
extern const Command benchCommand;
extern const Command profileCommand;

/// What the commands that run the model read before running: the weights, the inputs and the thread
/// count.
struct Loaded {
  SafeTensorsFile weights; // the parameters (a checkpoint's optimizer state is moved to `optimizer`)
  OptimizerState optimizer;
  TensorMap inputs;
  std::string weightsPath;
  int threads = 0;
};

/// Checks --weights, --threads and --in (every input but those in `filled` or `provided`) before any
/// file is read, then reads the files into `loaded`. Inputs in `filled` (made from --text) need no --in.
Exit load(const Context &context, const ParsedOptions &options, Loaded &loaded, TensorMap filled = {},
          std::set<std::string> provided = {});

/// The files given by `option` (`NAME=FILE.npy`, one for each model input but those in `filled`), checked
/// before any is read.
Exit inputFiles(const Context &context, const ParsedOptions &options, const std::string &option,
                std::map<std::string, std::string> &files, const std::set<std::string> &filled = {});

/// Reads `files` (input name → .npy path) into `inputs`.
Exit readInputs(const Context &context, const std::map<std::string, std::string> &files, TensorMap &inputs);

/// Writes every tensor of `results` to `dirName` as NAME.npy.
Exit writeAll(const Context &context, const std::string &dirName, const TensorMap &results);

/// The vocabularies of token inputs and outputs: --vocab NAME=FILE, else the one the model declares.
Exit vocabularies(const Context &context, const ParsedOptions &options,
                  std::map<std::string, Vocabulary> &vocabs);

/// What `infer`, `attention` and `profile` read and make: the vocabularies, the inputs --text makes, the
/// files, and (`prepareAndRun`) the outputs of one run of the model.
struct Prepared {
  Loaded loaded;
  std::map<std::string, Vocabulary> vocabs;
  std::vector<std::vector<std::string>> pieces; // each --text's tokens
  TensorMap outputs;
};
Exit prepare(const Context &context, const ParsedOptions &options, Prepared &prepared);
Exit prepareAndRun(const Context &context, const ParsedOptions &options, Prepared &prepared);

/// Repeated runs on the same inputs (`bench`, `profile`): --grad picks the gradient program, --runs and
/// --warmup how often it runs.
struct RepeatedRuns {
  const attn_model_spec *gradient = nullptr; // the gradient program, or null for the model
  uint64_t runs = 10, warmup;
};
/// Reads --grad, --runs and --warmup into `repeat` (whose fields hold the defaults).
Exit readRepeatedRuns(const Context &context, const ParsedOptions &options, RepeatedRuns &repeat);
/// Runs `repeat.warmup` times, then `repeat.runs` times, on `l`'s weights and inputs; `seconds` gets the
/// time of each of the latter, and `profile`, if given, their kernels' and decoder loops' times.
Exit timeRuns(const Context &context, const RepeatedRuns &repeat, Loaded &l, std::vector<double> &seconds,
              Profile *profile = nullptr);

/// This machine's fp32 peak on `threads` threads in GFLOP/s (Peak.cpp).
double fp32Peak(int threads);

/// How a token output reads: the decoder that makes it stops at its stop token and starts with (or pads
/// with) ids that are not part of the text.
std::pair<int32_t, std::vector<int32_t>> tokenConventions(const attn_model_spec &spec, int32_t value);

/// The columns of a --tsv file (see TokenColumn) for the gradient program's token inputs.
Exit tokenColumns(const Context &context, const ParsedOptions &options, std::vector<TokenColumn> &columns);

/// The examples of `--tsv`/`--valid-tsv` (option `tsv`, token columns) or of `--in`/`--valid` (`tensors`
/// read from .npy files).
Exit readDataset(const Context &context, const ParsedOptions &options, const char *tsv,
                 const std::vector<TokenColumn> &columns, TensorMap tensors, const std::string &what,
                 Dataset &data);

} // namespace attn::rt

#endif // ATTN_RUNTIME_CLI_COMMAND_H
