// `eval`: the mean loss of trained parameters over held-out examples and, where the model allows, the
// metrics of attn/Runtime/Metrics.h: token and sequence error rates for a search over a vocabulary,
// accuracy for a classifier.
#include "Command.h"

#include "attn/Runtime/Metrics.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <chrono>
#include <cstdio>
#include <string_view>

namespace attn::rt {

static const char *const kHelp =
    R"(usage: $PROGRAM eval --weights FILE (--tsv FILE |$INPUTS) [--batch N] [--show N]
                 [--references FILE] [--vocab NAME=FILE...] [--threads N]

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
  --references FILE with --tsv: every accepted target of each example, as TSV lines of the same columns
                    (several lines for one source: G2P's alternative pronunciations, which
                    examples/prepare_data.py writes as *.all.tsv); adds the error rates against the
                    closest of them (a prediction is right if it is any of them)
  --vocab NAME=FILE vocabulary of a token input or output, in place of the model's
  --threads N       worker threads (default: HL_NUM_THREADS, else one per core)

A program built with attnc --distributed=mpi and started by mpirun -np N splits the work among the ranks:
each loss chunk of --batch examples as in training, and the decoded or classified chunks in turn; rank 0
prints the summed metrics, and each rank the --show examples it decoded.
)";

/// The fraction of examples (or positions) whose arg-max score is the target, as "97.50% (351/360)";
/// nothing when the model has no targets input and scores output (or an error, reported as such).
static std::optional<std::string> classificationAccuracy(const attn_model_spec &spec, const Dataset &data,
                                                         TensorMap &weights, const RunOptions &run,
                                                         uint64_t batch, Communicator &ranks) {
  std::vector<bool> inferRead = valuesRead(spec), trainRead = valuesRead(*spec.gradient);
  const attn_value *targets = nullptr;
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT))
    if (spec.values[i].dtype == ATTN_I32 && !inferRead[i])
      for (int32_t j : valuesWithRole(*spec.gradient, ATTN_ROLE_INPUT))
        if (trainRead[j] && std::string_view(spec.gradient->values[j].name) == spec.values[i].name)
          targets = &spec.values[i];
  if (!targets)
    return std::nullopt;
  std::string scores;
  for (int32_t o = 0; o < spec.num_outputs && scores.empty(); ++o) {
    const attn_value &v = spec.values[spec.outputs[o].value];
    if (v.dtype == ATTN_F32 && v.rank == targets->rank + 1)
      scores = spec.outputs[o].name;
  }
  if (scores.empty())
    return std::nullopt;
  Accuracy accuracy;
  std::vector<std::vector<int64_t>> chunks = data.inOrder(int64_t(batch));
  for (size_t chunk = ranks.rank(); chunk < chunks.size(); chunk += ranks.size()) {
    const std::vector<int64_t> &ids = chunks[chunk];
    Expected<TensorMap> inputs = data.batch(ids);
    if (!inputs)
      return "error: " + inputs.message();
    auto found = inputs->find(targets->name);
    if (found == inputs->end())
      return std::nullopt;
    Tensor labels = std::move(found->second);
    inputs->erase(found);
    Expected<TensorMap> outputs = runWithParameters(spec, weights, *inputs, run);
    if (!outputs)
      return "error: " + outputs.message();
    const Tensor &s = outputs->at(scores);
    int64_t classes = s.shape().back();
    for (int64_t n = 0; n < labels.numElements(); ++n)
      accuracy.add(s.data<float>() + n * classes, classes, labels.data<int32_t>()[n]);
  }
  std::array<double, 2> counts = accuracy.counts();
  if (Status summed = ranks.sum(counts.data(), counts.size()); !summed)
    return "error: " + summed.message();
  accuracy = Accuracy::fromCounts(counts);
  return fmt::format("{:.2f}% ({}/{})", accuracy.percent(), accuracy.correct(), accuracy.total());
}

/// `eval`: the mean loss over examples and, for a model whose token output is a search over the
/// vocabulary of a --tsv target column, the token error rate (edit distance over reference tokens; the
/// phoneme error rate of G2P) and the sequence error rate (sequences with any error; G2P's word error
/// rate).
static int runEval(const Context &context, const ParsedOptions &options) {
  const attn_model_spec &spec = context.spec;
  const attn_model_spec *gradient = context.gradientProgram();
  if (!gradient)
    return kUsage;
  uint64_t batch = 64, show = 0;
  if (Exit code = context.wholeNumber(options, "--batch", 1, 1u << 30, batch))
    return *code;
  if (Exit code = context.wholeNumber(options, "--show", 0, 1000000, show))
    return *code;
  if (options.get("--tsv") && options.values.count("--in"))
    return context.usageError("give the examples with --tsv or with --in, not both");
  std::vector<TokenColumn> columns;
  std::set<std::string> provided;
  if (options.get("--tsv")) {
    if (Exit code = tokenColumns(context, options, columns))
      return *code;
    for (const TokenColumn &c : columns)
      for (const std::string &name : c.inputs())
        provided.insert(name);
  }
  Loaded l;
  if (Exit code = load(context, options, l, {}, provided))
    return *code;
  RunOptions run{l.weightsPath, l.threads};
  Communicator &ranks = context.communicator;
  run.communicator = &ranks;
  // Every batch reads the same weights: a GPU program uploads them once (freed when the command ends).
  run.weightsStayOnDevice = true;
  DeviceCopiesReleaser releaser{&l.weights.tensors};
  Dataset data;
  if (Exit code = readDataset(context, options, "--tsv", columns, std::move(l.inputs), "input", data))
    return *code;
  auto start = std::chrono::steady_clock::now();
  Expected<double> loss = evaluate(spec, l.weights.tensors, data, static_cast<int64_t>(batch), run);
  if (!loss)
    return context.failure(loss.message());
  std::vector<std::pair<std::string, std::string>> rows{{"examples", std::to_string(data.size())},
                                                        {"loss", fmt::format("{:.4f}", *loss)}};

  // Sequence metrics: the target column (a teacher's) against the search output with its vocabulary.
  int target = -1;
  for (size_t c = 0; c < columns.size(); ++c)
    if (columns[c].stop >= 0)
      target = static_cast<int>(c);
  int32_t tokensOut = -1;
  std::string outputName;
  for (int32_t o = 0; o < spec.num_outputs && target >= 0; ++o) {
    const attn_value &v = spec.values[spec.outputs[o].value];
    if (v.dtype == ATTN_I32 && v.rank == 2 && tokenConventions(spec, spec.outputs[o].value).first >= 0) {
      tokensOut = spec.outputs[o].value;
      outputName = spec.outputs[o].name;
      break;
    }
  }
  // --references: every accepted target sequence of each source sequence.
  std::map<std::vector<int32_t>, std::vector<std::vector<int32_t>>> accepted;
  if (const std::string *path = options.get("--references")) {
    if (tokensOut < 0)
      return context.usageError("--references needs --tsv data whose targets the model's search output predicts");
    Expected<Dataset> all = Dataset::fromTsv(*path, columns);
    if (!all)
      return context.failure(all.message());
    for (int64_t r = 0; r < all->size(); ++r) {
      std::vector<int32_t> reference = all->tokens(target, r);
      reference.pop_back(); // the stop token
      accepted[all->tokens(0, r)].push_back(std::move(reference));
    }
    for (int64_t r = 0; r < data.size(); ++r)
      if (!accepted.count(data.tokens(0, r)))
        return context.failure(*path + " has no line for example " + std::to_string(r + 1) + " ('" +
                               columns[0].vocab.decode(data.tokens(0, r), -1, {}) + "') of the data");
  }
  if (tokensOut >= 0) {
    const TokenColumn &ref = columns[target];
    auto [stop, skip] = tokenConventions(spec, tokensOut);
    SequenceErrors errors, anyErrors;
    std::vector<std::vector<int64_t>> chunks = data.inOrder(int64_t(batch));
    for (size_t chunk = ranks.rank(); chunk < chunks.size(); chunk += ranks.size()) {
      const std::vector<int64_t> &ids = chunks[chunk];
      Expected<TensorMap> inputs = data.batch(ids);
      if (!inputs)
        return context.failure(inputs.message());
      for (const std::string &name : ref.inputs())
        inputs->erase(name);
      Expected<TensorMap> outputs = runWithParameters(spec, l.weights.tensors, *inputs, run);
      if (!outputs)
        return context.failure(outputs.message());
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
        int64_t d = errors.add(predicted, reference);
        if (!accepted.empty())
          anyErrors.addAny(predicted, accepted.at(data.tokens(0, ids[n])));
        if (ids[n] < int64_t(show))
          std::printf("%-6lld %s  %s%s\n", static_cast<long long>(ids[n]),
                      ref.vocab.decode(predicted, -1, {}).c_str(), d ? "≠ " : "= ",
                      ref.vocab.decode(reference, -1, {}).c_str());
      }
    }
    for (SequenceErrors *e : {&errors, &anyErrors}) {
      std::array<double, 4> counts = e->counts();
      if (Status summed = ranks.sum(counts.data(), counts.size()); !summed)
        return context.failure(summed.message());
      *e = SequenceErrors::fromCounts(counts);
    }
    rows.push_back({"token error rate", fmt::format("{:.2f}%", errors.tokenErrorRate())});
    rows.push_back({"sequence error rate", fmt::format("{:.2f}%", errors.sequenceErrorRate())});
    if (!accepted.empty()) {
      rows.push_back({"token error rate, any reference", fmt::format("{:.2f}%", anyErrors.tokenErrorRate())});
      rows.push_back(
          {"sequence error rate, any reference", fmt::format("{:.2f}%", anyErrors.sequenceErrorRate())});
    }
  }
  // Classification: the i32 input only training reads (the targets) against the arg-max of the first f32
  // output with the targets' shape and a class dimension.
  if (tokensOut < 0)
    if (std::optional<std::string> accuracy =
            classificationAccuracy(spec, data, l.weights.tensors, run, batch, ranks);
        accuracy)
      rows.push_back({"accuracy", *accuracy});
  if (ranks.rank() > 0)
    return kSuccess;
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  int width = 20;
  for (const auto &row : rows)
    width = std::max(width, static_cast<int>(row.first.size()) + 1);
  std::printf("%-*s %s\n", width - 1, "metric", "value");
  for (const auto &[name, value] : rows)
    std::printf("%-*s %s\n", width - 1, name.c_str(), value.c_str());
  std::printf("(%.1fs)\n", seconds);
  return kSuccess;
}

const Command evalCommand = {
    "eval",
    "the loss and metrics (error rates, accuracy) of trained parameters on held-out data",
    kHelp,
    {{"--weights", false},
     {"--in", true},
     {"--tsv", false},
     {"--batch", false},
     {"--vocab", true},
     {"--show", false},
     {"--references", false},
     {"--threads", false}},
    runEval};

} // namespace attn::rt
