// `attention`: runs the model and shows one batch row of its attention weights as a table and, with
// --png, as a picture: a heat map labelled with the source tokens and the tokens the model produced for a
// decoder's weights [batch, steps, source], or the weights overlaid on the image input for a CNN's
// [batch, 1, height, width].
#include "Command.h"

#include "attn/Runtime/Image.h"

#include <fmt/format.h>

#include <algorithm>
#include <iostream>

namespace attn::rt {

static const char *const kHelp =
    R"(usage: $PROGRAM attention --weights FILE (--text TEXT | --in NAME=FILE...) [--png FILE]
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
)";

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
    for (size_t c = 0; c < cols; ++c)
      std::cout << fmt::format("{:{}.2f}", double(matrix[t * cols + c]), cellWidth);
    std::cout << "\n";
  }
}

/// `attention` for weights [batch, 1, height, width] over an image input [batch, channels, H, W]: the
/// weights of one row as a table and, with --png, overlaid on the image.
static int spatialAttention(const Context &context, const ParsedOptions &options, const TensorMap &inputs,
                            const Tensor &weights, const std::string &name, int64_t row) {
  const attn_model_spec &spec = context.spec;
  const Tensor *image = nullptr;
  std::string imageName;
  for (int32_t i : valuesWithRole(spec, ATTN_ROLE_INPUT))
    if (spec.values[i].dtype == ATTN_F32 && spec.values[i].rank == 4 && !image) {
      imageName = spec.values[i].name;
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
    return context.failure("the model has no f32 image input [batch, channels, height, width] to overlay '" +
                           name + "' on");
  int64_t channels = image->shape()[1], height = image->shape()[2], width = image->shape()[3];
  if (channels != 1 && channels != 3)
    return context.failure("input '" + imageName + "' has " + std::to_string(channels) +
                           " channels; an overlay needs 1 (grey) or 3 (RGB)");
  const float *pixels = image->data<float>() + row * channels * height * width;
  Image overlay = renderOverlay(std::vector<float>(pixels, pixels + channels * height * width),
                                static_cast<int>(channels), static_cast<int>(height), static_cast<int>(width),
                                matrix, static_cast<int>(mapHeight), static_cast<int>(mapWidth),
                                std::string(spec.name) + ": " + name + " of " + imageName + " row " +
                                    std::to_string(row));
  if (Status s = writePng(*png, overlay); !s)
    return context.failure(s.message());
  std::cout << "wrote " << *png << ": " << overlay.width() << "x" << overlay.height() << " overlay\n";
  return kSuccess;
}

/// `attention`: one batch row's weights [steps, source] as a table and, with --png, a heat map.
static int runAttention(const Context &context, const ParsedOptions &options) {
  const attn_model_spec &spec = context.spec;
  // The weights output: named, or the only f32 output [batch, steps, source] or [batch, 1, height, width].
  int32_t chosen = -1;
  std::string candidates;
  for (int32_t o = 0; o < spec.num_outputs; ++o) {
    const attn_value &v = spec.values[spec.outputs[o].value];
    bool fits = v.dtype == ATTN_F32 && (v.rank == 3 || (v.rank == 4 && v.dims[1].size == 1));
    if (const std::string *name = options.get("--output")) {
      if (*name == spec.outputs[o].name) {
        if (!fits)
          return context.usageError("output '" + *name +
                                    "' is not f32 [batch, steps, source] or [batch, 1, height, width]");
        chosen = o;
      }
    } else if (fits) {
      candidates += (candidates.empty() ? "'" : ", '") + std::string(spec.outputs[o].name) + "'";
      chosen = chosen == -1 ? o : -2;
    }
  }
  if (chosen == -1)
    return context.usageError(
        options.get("--output") ? "the model has no output '" + *options.get("--output") + "'"
                                : std::string("the model has no f32 output [batch, steps, source] or [batch, "
                                              "1, height, width] of attention weights"));
  if (chosen == -2)
    return context.usageError("several outputs could be attention weights (" + candidates +
                              "); pick one with --output");
  int64_t row = 0;
  if (const std::string *text = options.get("--row")) {
    std::optional<uint64_t> n = parseInteger(*text, 0, 1u << 30);
    if (!n)
      return context.usageError("option '--row' needs a whole number, not '" + *text + "'");
    row = static_cast<int64_t>(*n);
  }
  Prepared p;
  if (Exit code = prepareAndRun(context, options, p))
    return *code;
  const TensorMap &outputs = p.outputs;
  const std::string name = spec.outputs[chosen].name;
  const Tensor &weights = outputs.at(name);
  int64_t batch = weights.shape()[0];
  if (row >= batch)
    return context.failure("--row " + std::to_string(row) + " is past the batch of " + std::to_string(batch) +
                           " rows");
  if (weights.shape().size() == 4)
    return spatialAttention(context, options, p.loaded.inputs, weights, name, row);
  int64_t steps = weights.shape()[1], source = weights.shape()[2];

  // Columns: the text's tokens; rows: the tokens the model produced, up to its stop token.
  std::vector<std::string> colLabels, rowLabels;
  if (!p.pieces.empty())
    colLabels = p.pieces[row];
  for (int64_t c = static_cast<int64_t>(colLabels.size()); c < source && p.pieces.empty(); ++c)
    colLabels.push_back(std::to_string(c));
  int64_t cols = std::min<int64_t>(source, static_cast<int64_t>(colLabels.size()));
  int64_t rows = steps;
  for (int32_t o = 0; o < spec.num_outputs; ++o) {
    const Tensor &tokens = outputs.at(spec.outputs[o].name);
    if (tokens.dtype() != DType::I32 || tokens.shape().size() != 2 || tokens.shape()[1] != steps)
      continue;
    auto vocab = p.vocabs.find(spec.outputs[o].name);
    auto [stop, skip] = tokenConventions(spec, spec.outputs[o].value);
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
    std::string title = std::string(spec.name) + ": " + name;
    if (!p.pieces.empty())
      title += " for \"" + options.all("--text")[row] + "\"";
    Image image =
        renderHeatMap(matrix, static_cast<int>(rows), static_cast<int>(cols), rowLabels, colLabels, title);
    if (Status s = writePng(*png, image); !s)
      return context.failure(s.message());
    std::cout << "wrote " << *png << ": " << image.width() << "x" << image.height() << " heat map\n";
  }
  return kSuccess;
}

const Command attentionCommand = {
    "attention",
    "show the attention weights of one input as a table and a labelled heat map (--png)",
    kHelp,
    {{"--weights", false},
     {"--in", true},
     {"--text", true},
     {"--vocab", true},
     {"--png", false},
     {"--output", false},
     {"--row", false},
     {"--threads", false}},
    runAttention};

} // namespace attn::rt
