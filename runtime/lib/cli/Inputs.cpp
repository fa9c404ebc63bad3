// Reading what a run needs and writing what it makes: the weight file (a checkpoint's optimizer state
// kept apart), the .npy inputs given as --in NAME=FILE, the examples of training and evaluation, and the
// output directory. Every option is checked before the first file is read.
#include "Command.h"

#include "attn/Runtime/Npy.h"

#include <filesystem>
#include <iostream>

namespace attn::rt {

Exit inputFiles(const Context &context, const ParsedOptions &options, const std::string &option,
                std::map<std::string, std::string> &files, const std::set<std::string> &filled) {
  const attn_model_spec &spec = context.spec;
  const std::string &command = context.command;
  // Training commands run the gradient program, which reads the loss's targets too.
  bool training = command == "train" || command == "grad" || command == "gradcheck" || command == "eval";
  const attn_model_spec &program = training && spec.gradient ? *spec.gradient : spec;
  std::vector<bool> read = valuesRead(program);
  std::set<std::string> needed;
  for (int32_t i : valuesWithRole(program, ATTN_ROLE_INPUT))
    if (read[i] && std::string(program.values[i].name) != kDropoutSeedInput) // the runtime makes it
      needed.insert(program.values[i].name);
  std::set<std::string> modelInputs;
  std::string expected;
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT)) {
    modelInputs.insert(spec.values[i].name);
    expected += (expected.empty() ? "" : ", ") + std::string(spec.values[i].name);
  }
  std::string theInputs =
      modelInputs.empty() ? "the model has no inputs" : "the model's inputs are " + expected;
  for (const std::string &arg : options.all(option)) {
    NameValue named = splitNameValue(arg);
    if (!named.complete())
      return context.usageError("malformed '" + option + " " + arg + "': expected NAME=FILE.npy");
    if (!modelInputs.count(named.name))
      return context.usageError("unknown input '" + named.name + "'; " + theInputs);
    if (!files.emplace(named.name, *named.value).second)
      return context.usageError("input '" + named.name + "' is given twice");
  }
  for (const std::string &name : needed)
    if (!files.count(name) && !filled.count(name))
      return context.usageError("missing '" + option + " " + name + "=FILE.npy'; " + theInputs);
  return std::nullopt;
}

Exit readInputs(const Context &context, const std::map<std::string, std::string> &files, TensorMap &inputs) {
  for (const auto &[name, path] : files) {
    Expected<Tensor> tensor = readNpy(path);
    if (!tensor)
      return context.failure(tensor.message());
    inputs.emplace(name, std::move(*tensor));
  }
  return std::nullopt;
}

Exit load(const Context &context, const ParsedOptions &options, Loaded &loaded, TensorMap filled,
          std::set<std::string> provided) {
  // A model without parameters needs no weight file.
  bool hasParameters = !valuesWithRole(context.spec, ATTN_ROLE_PARAM).empty();
  if (!options.get("--weights") && hasParameters)
    return context.usageError("missing option '--weights'");
  uint64_t threads = 0;
  if (Exit code = context.wholeNumber(options, "--threads", 1, 1024, threads))
    return code;
  loaded.threads = static_cast<int>(threads);
  for (const auto &[name, tensor] : filled)
    provided.insert(name);
  std::map<std::string, std::string> files;
  if (Exit code = inputFiles(context, options, "--in", files, provided))
    return code;

  loaded.weightsPath = options.get("--weights") ? *options.get("--weights") : "(no weight file)";
  if (options.get("--weights")) {
    Expected<SafeTensorsFile> weights = readSafeTensors(loaded.weightsPath, [&](const TensorInfoMap &header) {
      return checkCheckpoint(context.spec, header, loaded.weightsPath);
    });
    if (!weights)
      return context.failure(weights.message());
    loaded.weights = std::move(*weights);
    if (Status s = takeOptimizerState(loaded.weights, loaded.weightsPath, loaded.optimizer); !s)
      return context.failure(s.message());
    if (context.command != "train") // training continues the parameters; the rest use their averages
      swapAverages(loaded.weights.tensors, loaded.optimizer);
  }
  if (Exit code = readInputs(context, files, loaded.inputs))
    return code;
  for (auto &[name, tensor] : filled)
    loaded.inputs.emplace(name, std::move(tensor)); // an --in file takes precedence
  return std::nullopt;
}

Exit writeAll(const Context &context, const std::string &dirName, const TensorMap &results) {
  std::filesystem::path dir = dirName;
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec || !std::filesystem::is_directory(dir))
    return context.failure("cannot create output directory '" + dir.string() + "'" +
                           (ec ? ": " + ec.message() : ""));
  for (const auto &[name, tensor] : results) {
    std::string path = (dir / (name + ".npy")).string();
    if (Status s = writeNpy(path, tensor); !s)
      return context.failure(s.message());
    std::cout << "wrote " << path << ": " << tensor.describe() << "\n";
  }
  return std::nullopt;
}

Exit readDataset(const Context &context, const ParsedOptions &options, const char *tsv,
                 const std::vector<TokenColumn> &columns, TensorMap tensors, const std::string &what,
                 Dataset &data) {
  Expected<Dataset> read = options.get(tsv) ? Dataset::fromTsv(*options.get(tsv), columns)
                                            : Dataset::fromTensors(std::move(tensors), what);
  if (!read)
    return context.failure(read.message());
  data = std::move(*read);
  return std::nullopt;
}

} // namespace attn::rt
