// The command line of every program attnc produces (`info`, `infer`, `init`). It is the only part of the
// runtime that prints or chooses exit codes: 0 on success, 1 when the work itself fails (a bad file, a
// shape mismatch, a kernel error), 2 when the command line is wrong, each with one `error: ...` line on
// stderr. Usage errors are found before any file is read, so a typo costs nothing.
#include "attn/Runtime/Executor.h"
#include "attn/Runtime/ModelSpec.h"
#include "attn/Runtime/Npy.h"
#include "attn/Runtime/SafeTensors.h"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
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
    if (eq != std::string::npos) {
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
  info    show the model's inputs, outputs and parameters
  infer   run the model on .npy inputs with weights from a safetensors file
  init    write random weights, to try the model without trained ones
  bench   time the model on .npy inputs (median of repeated runs)
  help    show this help, or a command's: help COMMAND

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

Runs the model once and writes DIR/<output>.npy for every output.

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info')
  --in NAME=FILE    .npy file for input NAME; one for each input
  --out DIR         directory for the outputs, created if missing
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)

Inputs saved by NumPy as float64 or int64 (or bool, int8, uint8) are converted to the model's float32
and int32.
)");
    if (command == "bench")
      return fill(R"(usage: $PROGRAM bench --weights FILE$INPUTS [--runs N] [--warmup N] [--threads N]

Runs the model --warmup times (default 2), then --runs times (default 10) on the same inputs, and prints
the median, minimum and maximum time of one run. Files are read once, before the timing.

  --weights FILE    safetensors file with every parameter (see '$PROGRAM info')
  --in NAME=FILE    .npy file for input NAME; one for each input
  --runs N          timed runs (1 to 100000)
  --warmup N        untimed runs first (0 to 100000)
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)
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
    if (args[0] != "info" && args[0] != "infer" && args[0] != "init" && args[0] != "bench")
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
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT)) {
      int64_t vocab = spec_.values[i].vocab_size;
      rows.push_back({spec_.values[i].name, typed(i)});
      if (vocab > 0)
        rows.back().push_back("token ids 0.." + std::to_string(vocab - 1));
    }
    table("inputs", rows);
    rows.clear();
    for (int32_t o = 0; o < spec_.num_outputs; ++o)
      rows.push_back({spec_.outputs[o].name, typed(spec_.outputs[o].value)});
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

  /// What `infer` and `bench` read before running: the weights, the inputs and the thread count.
  struct Loaded {
    SafeTensorsFile weights;
    TensorMap inputs;
    std::string weightsPath;
    int threads = 0;
  };

  /// Checks `infer`/`bench` options and reads the files; on an error returns the exit code.
  std::variant<Loaded, int> load(const std::string &command, const ParsedOptions &options) {
    if (!options.get("--weights"))
      return usageError("missing option '--weights'", command);
    Loaded loaded;
    if (const std::string *text = options.get("--threads")) {
      std::optional<uint64_t> n = parseInteger(*text, 1, 1024);
      if (!n)
        return usageError("option '--threads' needs a whole number from 1 to 1024, not '" + *text + "'",
                          command);
      loaded.threads = static_cast<int>(*n);
    }

    std::set<std::string> modelInputs;
    std::string expected;
    for (int32_t i : valuesWithRole(spec_, ATTN_ROLE_INPUT)) {
      modelInputs.insert(spec_.values[i].name);
      expected += (expected.empty() ? "" : ", ") + std::string(spec_.values[i].name);
    }
    std::string theInputs =
        modelInputs.empty() ? "the model has no inputs" : "the model's inputs are " + expected;
    std::map<std::string, std::string> inputFiles;
    auto in = options.values.find("--in");
    for (const std::string &arg : in == options.values.end() ? std::vector<std::string>{} : in->second) {
      size_t eq = arg.find('=');
      if (eq == std::string::npos || eq == 0 || eq + 1 == arg.size())
        return usageError("malformed '--in " + arg + "': expected NAME=FILE.npy", command);
      std::string name = arg.substr(0, eq);
      if (!modelInputs.count(name))
        return usageError("unknown input '" + name + "'; " + theInputs, command);
      if (!inputFiles.emplace(name, arg.substr(eq + 1)).second)
        return usageError("input '" + name + "' is given twice", command);
    }
    for (const std::string &name : modelInputs)
      if (!inputFiles.count(name))
        return usageError("missing '--in " + name + "=FILE.npy'; " + theInputs, command);

    loaded.weightsPath = *options.get("--weights");
    Expected<SafeTensorsFile> weights = readSafeTensors(loaded.weightsPath);
    if (!weights)
      return failure(weights.message());
    loaded.weights = std::move(*weights);
    for (const auto &[name, path] : inputFiles) {
      Expected<Tensor> tensor = readNpy(path);
      if (!tensor)
        return failure(tensor.message());
      loaded.inputs.emplace(name, std::move(*tensor));
    }
    return loaded;
  }

  int infer(const std::vector<std::string> &args) {
    ParsedOptions options;
    if (std::optional<int> done =
            parse("infer", args,
                  {{"--weights", false}, {"--in", true}, {"--out", false}, {"--threads", false}}, options))
      return *done;
    if (!options.get("--out") && options.get("--weights"))
      return usageError("missing option '--out'", "infer");
    std::variant<Loaded, int> loaded = load("infer", options);
    if (int *code = std::get_if<int>(&loaded))
      return *code;
    Loaded &l = std::get<Loaded>(loaded);
    Expected<TensorMap> outputs = runModel(spec_, l.weights.tensors, l.inputs, {l.weightsPath, l.threads});
    if (!outputs)
      return failure(outputs.message());

    std::filesystem::path dir = *options.get("--out");
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    if (ec || !std::filesystem::is_directory(dir))
      return failure("cannot create output directory '" + dir.string() + "'" +
                     (ec ? ": " + ec.message() : ""));
    for (const auto &[name, tensor] : *outputs) {
      std::string path = (dir / (name + ".npy")).string();
      if (Status s = writeNpy(path, tensor); !s)
        return failure(s.message());
      std::cout << "wrote " << path << ": " << tensor.describe() << "\n";
    }
    return kSuccess;
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
                                         {"--threads", false}},
                                        options))
      return *done;
    uint64_t counts[2] = {10, 2};
    const char *names[2] = {"--runs", "--warmup"};
    for (int k = 0; k < 2; ++k)
      if (const std::string *text = options.get(names[k])) {
        std::optional<uint64_t> n = parseInteger(*text, k == 0 ? 1 : 0, 100000);
        if (!n)
          return usageError(std::string("option '") + names[k] + "' needs a whole number from " +
                                (k == 0 ? "1" : "0") + " to 100000, not '" + *text + "'",
                            "bench");
        counts[k] = *n;
      }
    std::variant<Loaded, int> loaded = load("bench", options);
    if (int *code = std::get_if<int>(&loaded))
      return *code;
    Loaded &l = std::get<Loaded>(loaded);
    std::vector<double> ms;
    for (uint64_t run = 0; run < counts[1] + counts[0]; ++run) {
      auto begin = std::chrono::steady_clock::now();
      Expected<TensorMap> outputs = runModel(spec_, l.weights.tensors, l.inputs, {l.weightsPath, l.threads});
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
