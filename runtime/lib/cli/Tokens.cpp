// Token inputs and outputs on the command line: the vocabularies (declared by the model or given with
// --vocab), the inputs --text makes (token ids, lengths and masks) and the run of `infer` and `attention`
// on them, how a decoder's token output reads, and the columns of --tsv examples.
#include "Command.h"

#include <algorithm>
#include <string_view>

namespace attn::rt {

Exit vocabularies(const Context &context, const ParsedOptions &options,
                  std::map<std::string, Vocabulary> &vocabs) {
  const attn_model_spec &spec = context.spec;
  std::map<std::string, int32_t> tokenValues; // i32 inputs and outputs by name
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT))
    tokenValues[spec.values[i].name] = i;
  for (int32_t o = 0; o < spec.num_outputs; ++o)
    tokenValues[spec.outputs[o].name] = spec.outputs[o].value;
  for (const auto &[name, v] : tokenValues) {
    const attn_value &value = spec.values[v];
    if (value.num_vocab_tokens > 0)
      vocabs[name] = Vocabulary({value.vocab_tokens, value.vocab_tokens + value.num_vocab_tokens},
                                "of '" + name + "' (declared in " + spec.source_file + ")");
  }
  for (const std::string &arg : options.all("--vocab")) {
    NameValue named = splitNameValue(arg);
    if (!named.complete())
      return context.usageError("malformed '--vocab " + arg + "': expected NAME=FILE");
    auto it = tokenValues.find(named.name);
    if (it == tokenValues.end() || spec.values[it->second].dtype != ATTN_I32)
      return context.usageError("'--vocab " + arg + "': the model has no i32 input or output '" + named.name +
                                "'");
    Expected<Vocabulary> vocab = Vocabulary::readFile(*named.value);
    if (!vocab)
      return context.failure(vocab.message());
    // Every id an output can hold needs a token, and a token input's every token an id its embedding has.
    const attn_value &value = spec.values[it->second];
    int64_t ids = value.vocab_size, tokens = static_cast<int64_t>(vocab->size());
    bool isOutput = value.role != ATTN_ROLE_INPUT;
    if (ids > 0 && (isOutput ? tokens < ids : tokens > ids))
      return context.failure("'--vocab " + arg + "': the vocabulary has " + std::to_string(tokens) +
                             " tokens, but " + (isOutput ? "output '" : "input '") + named.name + "' " +
                             (isOutput ? "holds" : "takes") + " ids 0.." + std::to_string(ids - 1) +
                             (isOutput ? ": every id needs a token" : ": every token needs an id"));
    vocabs[named.name] = std::move(*vocab);
  }
  return std::nullopt;
}

/// What --text makes: the token input (ids [N, S], padded), and the lengths [N] and 0/1 masks [N, S] of
/// the i32 inputs beside it that no --in gives. `pieces` gets each text's tokens.
static Exit textInputs(const Context &context, const ParsedOptions &options,
                       const std::map<std::string, Vocabulary> &vocabs,
                       std::vector<std::vector<std::string>> &pieces, TensorMap &filled) {
  const attn_model_spec &spec = context.spec;
  const std::vector<std::string> &texts = options.all("--text");
  std::vector<int32_t> candidates;
  std::vector<bool> read = valuesRead(spec);
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT))
    if (spec.values[i].dtype == ATTN_I32 && spec.values[i].rank == 2 && vocabs.count(spec.values[i].name) &&
        read[i])
      candidates.push_back(i);
  if (candidates.size() != 1) {
    std::string names;
    for (int32_t i : candidates)
      names += (names.empty() ? "'" : ", '") + std::string(spec.values[i].name) + "'";
    return context.usageError(
        candidates.empty()
            ? "--text needs a token input i32[B, S] with a vocabulary: declare one in the model "
              "('input src : i32[B, S] vocab \"FILE\"') or give it with --vocab NAME=FILE"
            : "--text fills one token input, but " + names + " all have a vocabulary");
  }
  const attn_value &tokenInput = spec.values[candidates.front()];
  const Vocabulary &vocab = vocabs.at(tokenInput.name);
  std::vector<std::vector<int32_t>> ids;
  int64_t length = 1;
  for (const std::string &text : texts) {
    Expected<std::vector<int32_t>> encoded = vocab.encode(text);
    if (!encoded)
      return context.failure("input '" + std::string(tokenInput.name) + "': " + encoded.message());
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
  auto sized = [&](int64_t n) { return static_cast<int64_t>(ids[n].size()); };
  if (std::optional<Tensor> t =
          make({rows, length}, [&](int64_t n, int64_t j) { return j < sized(n) ? ids[n][j] : pad; }))
    filled.emplace(tokenInput.name, std::move(*t));
  auto sameSymbol = [](const attn_dim &a, const attn_dim &b) {
    return a.symbol && b.symbol && std::string_view(a.symbol) == b.symbol;
  };
  std::set<std::string> given;
  for (const std::string &arg : options.all("--in"))
    given.insert(splitNameValue(arg).name);
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT)) {
    const attn_value &v = spec.values[i];
    if (&v == &tokenInput || v.dtype != ATTN_I32 || given.count(v.name) ||
        !sameSymbol(v.dims[0], tokenInput.dims[0]))
      continue;
    std::optional<Tensor> t;
    if (v.rank == 1)
      t = make({rows}, [&](int64_t n, int64_t) { return static_cast<int32_t>(sized(n)); });
    else if (v.rank == 2 && sameSymbol(v.dims[1], tokenInput.dims[1]))
      t = make({rows, length}, [&](int64_t n, int64_t j) { return j < sized(n) ? 1 : 0; });
    if (t)
      filled.emplace(v.name, std::move(*t));
  }
  return std::nullopt;
}

Exit prepare(const Context &context, const ParsedOptions &options, Prepared &prepared) {
  if (Exit code = vocabularies(context, options, prepared.vocabs))
    return code;
  TensorMap filled;
  if (options.values.count("--text"))
    if (Exit code = textInputs(context, options, prepared.vocabs, prepared.pieces, filled))
      return code;
  return load(context, options, prepared.loaded, std::move(filled));
}

Exit prepareAndRun(const Context &context, const ParsedOptions &options, Prepared &prepared) {
  if (Exit code = prepare(context, options, prepared))
    return code;
  Loaded &l = prepared.loaded;
  Expected<TensorMap> outputs =
      runModel(context.spec, l.weights.tensors, l.inputs, {l.weightsPath, l.threads});
  if (!outputs)
    return context.failure(outputs.message());
  prepared.outputs = std::move(*outputs);
  return std::nullopt;
}

std::pair<int32_t, std::vector<int32_t>> tokenConventions(const attn_model_spec &spec, int32_t value) {
  for (int32_t d = 0; d < spec.num_decoders; ++d) {
    const attn_decoder &dec = spec.decoders[d];
    if (dec.mode != ATTN_DECODE_TEACHER && dec.num_results > 0 && dec.results[0] == value)
      return {dec.stop, {dec.start, dec.pad}};
  }
  return {-1, {}};
}

/// The columns of a --tsv file: the token inputs with a vocabulary that the gradient program reads, in
/// the model's order; the targets a decoder is teacher-forced with get its stop token appended. An i32 [B]
/// input named after a token input (src_len for src) takes its lengths, an i32 input [B, L] of the same L its
/// 0/1 mask.
Exit tokenColumns(const Context &context, const ParsedOptions &options, std::vector<TokenColumn> &columns) {
  std::map<std::string, Vocabulary> vocabs;
  if (Exit code = vocabularies(context, options, vocabs))
    return code;
  const attn_model_spec &g = *context.spec.gradient;
  std::vector<bool> read = valuesRead(g);
  std::vector<int32_t> tokenValues;
  for (int32_t i : valuesWithRole(g, ATTN_ROLE_INPUT)) {
    const attn_value &v = g.values[i];
    auto vocab = vocabs.find(v.name);
    if (v.dtype != ATTN_I32 || v.rank != 2 || !read[i] || vocab == vocabs.end())
      continue;
    TokenColumn column{v.name, vocab->second};
    column.pad = std::max(vocab->second.id("<pad>"), 0);
    column.stop = v.teacher_stop;
    columns.push_back(std::move(column));
    tokenValues.push_back(i);
  }
  if (columns.empty())
    return context.usageError("--tsv needs token inputs i32[B, L] with a vocabulary ('input src : i32[B, S] "
                              "vocab \"FILE\"'), one per column");
  for (int32_t i : valuesWithRole(g, ATTN_ROLE_INPUT)) {
    const attn_value &v = g.values[i];
    if (v.dtype != ATTN_I32 || !read[i] ||
        std::find(tokenValues.begin(), tokenValues.end(), i) != tokenValues.end())
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
  return std::nullopt;
}

} // namespace attn::rt
