// Training and evaluation data: tensors from .npy files, or token sequences from a TSV file.
#include "attn/Runtime/Dataset.h"
#include "attn/Runtime/File.h"

#include <algorithm>
#include <cstring>
#include <fstream>

namespace attn::rt {

std::vector<std::string> TokenColumn::inputs() const {
  std::vector<std::string> names{input};
  for (const std::string &name : {lengths, mask})
    if (!name.empty())
      names.push_back(name);
  return names;
}

Expected<Dataset> Dataset::fromTensors(TensorMap tensors, const std::string &what) {
  Dataset d;
  d.examples_ = -1;
  for (const auto &[name, tensor] : tensors) {
    if (tensor.shape().empty())
      return makeError(what, " '", name, "' is a scalar; it needs examples along the first dimension");
    if (d.examples_ >= 0 && tensor.shape()[0] != d.examples_)
      return makeError(what, " '", name, "' has ", tensor.shape()[0], " examples, but the others have ",
                       d.examples_);
    d.examples_ = tensor.shape()[0];
  }
  if (d.examples_ <= 0)
    return makeError("no examples in the ", what, "s");
  d.tensors_ = std::move(tensors);
  return d;
}

Expected<Dataset> Dataset::fromTsv(const std::string &path, std::vector<TokenColumn> columns) {
  if (isSpecialFile(path))
    return makeError("data file '", path, "' is not a regular file");
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return makeError("cannot open data file '", path, "'");
  Dataset d;
  d.tokens_.resize(columns.size());
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.empty())
      continue;
    std::vector<std::string> fields;
    for (size_t start = 0;;) {
      size_t tab = line.find('\t', start);
      fields.push_back(line.substr(start, tab == std::string::npos ? std::string::npos : tab - start));
      if (tab == std::string::npos)
        break;
      start = tab + 1;
    }
    if (fields.size() != columns.size()) {
      std::string names;
      for (const TokenColumn &c : columns)
        names += (names.empty() ? "" : ", ") + c.input;
      return makeError(path, ":", number, ": expected ", columns.size(), " tab-separated fields (", names,
                       "), found ", fields.size());
    }
    for (size_t c = 0; c < columns.size(); ++c) {
      Expected<std::vector<int32_t>> ids = columns[c].vocab.encode(fields[c]);
      if (!ids)
        return makeError(path, ":", number, ": field ", c + 1, " (input '", columns[c].input,
                         "'): ", ids.message());
      if (columns[c].stop >= 0)
        ids->push_back(columns[c].stop);
      d.tokens_[c].push_back(std::move(*ids));
    }
    ++d.examples_;
  }
  if (d.examples_ == 0)
    return makeError("data file '", path, "' holds no examples");
  d.columns_ = std::move(columns);
  return d;
}

std::vector<std::vector<int64_t>> Dataset::inOrder(int64_t size) const {
  std::vector<std::vector<int64_t>> batches;
  for (int64_t first = 0; first < examples_; first += size) {
    batches.emplace_back();
    for (int64_t r = first; r < std::min(first + size, examples_); ++r)
      batches.back().push_back(r);
  }
  return batches;
}

int64_t Dataset::length(int64_t row) const {
  return columns_.empty() ? 0 : static_cast<int64_t>(tokens_[0][row].size());
}

int64_t Dataset::units(const std::vector<int64_t> &rows) const {
  if (columns_.empty())
    return static_cast<int64_t>(rows.size());
  int64_t n = 0;
  for (int64_t r : rows)
    n += static_cast<int64_t>(tokens_.back()[r].size());
  return n;
}

Expected<TensorMap> Dataset::batch(const std::vector<int64_t> &rows,
                                   const std::vector<int64_t> *paddedLike) const {
  TensorMap batch;
  int64_t count = static_cast<int64_t>(rows.size());
  for (const auto &[name, t] : tensors_) {
    Shape shape = t.shape();
    int64_t rowBytes = static_cast<int64_t>(t.byteSize()) / shape[0];
    shape[0] = count;
    Expected<Tensor> b = Tensor::create(t.dtype(), shape);
    if (!b)
      return b.takeError();
    const uint8_t *from = reinterpret_cast<const uint8_t *>(t.buffer()->host);
    uint8_t *to = reinterpret_cast<uint8_t *>(b->buffer()->host);
    for (int64_t r = 0; r < count; ++r)
      std::memcpy(to + r * rowBytes, from + rows[r] * rowBytes, rowBytes);
    batch.emplace(name, std::move(*b));
  }
  for (size_t c = 0; c < columns_.size(); ++c) {
    const TokenColumn &column = columns_[c];
    int64_t longest = 1;
    for (int64_t r : paddedLike ? *paddedLike : rows)
      longest = std::max<int64_t>(longest, tokens_[c][r].size());
    Expected<Tensor> ids = Tensor::create(DType::I32, {count, longest});
    Expected<Tensor> mask = Tensor::create(DType::I32, {count, longest});
    Expected<Tensor> lengths = Tensor::create(DType::I32, {count});
    if (!ids || !mask || !lengths)
      return makeError("cannot allocate a batch of input '", column.input, "'");
    for (int64_t r = 0; r < count; ++r) {
      const std::vector<int32_t> &seq = tokens_[c][rows[r]];
      int64_t n = static_cast<int64_t>(seq.size());
      for (int64_t j = 0; j < longest; ++j) {
        ids->data<int32_t>()[r * longest + j] = j < n ? seq[j] : column.pad;
        mask->data<int32_t>()[r * longest + j] = j < n ? 1 : 0;
      }
      lengths->data<int32_t>()[r] = static_cast<int32_t>(n);
    }
    batch.emplace(column.input, std::move(*ids));
    if (!column.mask.empty())
      batch.emplace(column.mask, std::move(*mask));
    if (!column.lengths.empty())
      batch.emplace(column.lengths, std::move(*lengths));
  }
  return batch;
}

} // namespace attn::rt
