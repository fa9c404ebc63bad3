// `info`: the model's inputs and outputs with their dtypes and symbolic shapes, and its parameters, as
// tables a user reads to know which files to give and what a weight file must hold.
#include "Command.h"

#include <algorithm>
#include <iostream>

namespace attn::rt {

static const char *const kHelp = R"(usage: $PROGRAM info

Shows the model's inputs and outputs with their dtypes and shapes (letters are sizes bound at run time
by the inputs), and its parameters: the keys, shapes and sizes a weight file must have.
)";

static int runInfo(const Context &context, const ParsedOptions &) {
  const attn_model_spec &spec = context.spec;
  std::cout << "model " << spec.name << "\n"
            << "  source  " << spec.source_file << "\n"
            << "  target  " << spec.target << "\n";
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
    return dtypeName(static_cast<DType>(spec.values[v].dtype)) + symbolicShape(spec, v);
  };
  std::vector<std::vector<std::string>> rows;
  // A value's row: name, type and, for token ids, their range and vocabulary.
  auto row = [&](const std::string &name, int32_t v) {
    std::vector<std::string> cells{name, typed(v)};
    int64_t ids = spec.values[v].vocab_size;
    int32_t tokens = spec.values[v].num_vocab_tokens;
    std::string notes = ids > 0 ? "token ids 0.." + std::to_string(ids - 1) : "";
    if (tokens > 0)
      notes +=
          (notes.empty() ? "" : ", ") + std::string("vocabulary of ") + std::to_string(tokens) + " tokens";
    if (!notes.empty())
      cells.push_back(notes);
    return cells;
  };
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT))
    rows.push_back(row(spec.values[i].name, i));
  table("inputs", rows);
  rows.clear();
  for (int32_t o = 0; o < spec.num_outputs; ++o)
    rows.push_back(row(spec.outputs[o].name, spec.outputs[o].value));
  table("outputs", rows);
  rows.clear();
  int64_t total = 0;
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_PARAM)) {
    int64_t count = 1;
    for (int32_t d = 0; d < spec.values[i].rank; ++d)
      count *= spec.values[i].dims[d].size;
    total += count;
    rows.push_back({spec.values[i].name, typed(i), std::to_string(count)});
  }
  table("parameters", rows);
  std::cout << "\ntotal: " << total << " parameters in " << rows.size()
            << (rows.size() == 1 ? " tensor" : " tensors") << "\n";
  return kSuccess;
}

const Command infoCommand = {"info", "show the model's inputs, outputs and parameters", kHelp, {}, runInfo};

} // namespace attn::rt
