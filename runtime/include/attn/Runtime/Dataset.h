// The examples a model trains and is evaluated on: tensors with the examples along the first dimension
// (.npy files), or token sequences read from a TSV file and padded batch by batch.
#ifndef ATTN_RUNTIME_DATASET_H
#define ATTN_RUNTIME_DATASET_H

#include "attn/Runtime/Tensor.h"
#include "attn/Runtime/Text.h"

#include <string>
#include <vector>

namespace attn::rt {

/// How one TSV column becomes model inputs.
struct TokenColumn {
  std::string input;   // the token input, i32 [B, L], padded with `pad`
  Vocabulary vocab;
  int32_t stop = -1;   // appended to every sequence when >= 0 (a teacher-forced target ends with it)
  int32_t pad = 0;
  std::string lengths; // an i32 [B] input given each sequence's length, or ""
  std::string mask;    // an i32 [B, L] input given 1 on the tokens and 0 on the padding, or ""

  /// The inputs the column fills: the token input, and its lengths and mask inputs if it has them.
  std::vector<std::string> inputs() const;
};

class Dataset {
public:
  /// Every tensor holds the same number of examples along its first dimension.
  static Expected<Dataset> fromTensors(TensorMap tensors, const std::string &what);
  /// One example per line of `path`: tab-separated texts, column i tokenized for `columns[i]`.
  static Expected<Dataset> fromTsv(const std::string &path, std::vector<TokenColumn> columns);

  int64_t size() const { return examples_; }
  /// Whether examples have lengths (token data), so that batches can group similar lengths.
  bool hasLengths() const { return !columns_.empty(); }
  /// The tokens of example `row` in the first column (the source), for bucketing.
  int64_t length(int64_t row) const;
  /// Every example in order, in batches of `size` (the last one may hold fewer).
  std::vector<std::vector<int64_t>> inOrder(int64_t size) const;
  /// The inputs of examples `rows`: rows of the tensors, or the token columns padded to the batch's longest
  /// (or to the longest of `paddedLike`, the whole batch of which `rows` is one process's part).
  Expected<TensorMap> batch(const std::vector<int64_t> &rows,
                            const std::vector<int64_t> *paddedLike = nullptr) const;
  /// What a batch of `rows` counts for speed reports: the last column's tokens (the targets), else rows.
  int64_t units(const std::vector<int64_t> &rows) const;
  const char *unitName() const { return columns_.empty() ? "examples" : "tokens"; }

  const std::vector<TokenColumn> &columns() const { return columns_; }
  /// The tokens of example `row` in column `column` (with the appended stop token, if any).
  const std::vector<int32_t> &tokens(size_t column, int64_t row) const { return tokens_[column][row]; }

private:
  int64_t examples_ = 0;
  TensorMap tensors_;
  std::vector<TokenColumn> columns_;
  std::vector<std::vector<std::vector<int32_t>>> tokens_; // [column][example]
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_DATASET_H
