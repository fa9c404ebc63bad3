// How good a model's predictions are, as `eval` reports them: the edit distance between token sequences
// and the error rates built on it (a G2P model's phoneme and word error rates), and the accuracy of a
// classifier's arg-max. They are plain functions of numbers, apart from any model, so that they can be
// checked against known values.
#ifndef ATTN_RUNTIME_METRICS_H
#define ATTN_RUNTIME_METRICS_H

#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

namespace attn::rt {

/// Levenshtein distance between two token sequences.
int64_t editDistance(const std::vector<int32_t> &a, const std::vector<int32_t> &b);

/// The token and sequence errors of predicted token sequences, scored one at a time.
class SequenceErrors {
public:
  /// Scores `predicted` against `reference`; returns their edit distance.
  int64_t add(const std::vector<int32_t> &predicted, const std::vector<int32_t> &reference);
  /// Scores `predicted` against the closest of `references` (a word's pronunciations: right if it is any of
  /// them), at least one; returns that edit distance.
  int64_t addAny(const std::vector<int32_t> &predicted, const std::vector<std::vector<int32_t>> &references);

  /// Edits per reference token, in percent (G2P's phoneme error rate); above 100 for long predictions.
  double tokenErrorRate() const { return 100.0 * double(edits_) / double(referenceTokens_); }
  /// Sequences with any error, in percent (G2P's word error rate).
  double sequenceErrorRate() const { return 100.0 * double(wrong_) / double(sequences_); }

  /// Its counts (edits, reference tokens, wrong sequences, sequences), to sum the errors of the parts of a
  /// data set that several processes scored; `fromCounts` makes the errors of summed counts.
  std::array<double, 4> counts() const {
    return {double(edits_), double(referenceTokens_), double(wrong_), double(sequences_)};
  }
  static SequenceErrors fromCounts(const std::array<double, 4> &c) {
    SequenceErrors e;
    e.edits_ = int64_t(c[0]), e.referenceTokens_ = int64_t(c[1]), e.wrong_ = int64_t(c[2]),
    e.sequences_ = int64_t(c[3]);
    return e;
  }

private:
  int64_t edits_ = 0, referenceTokens_ = 0, wrong_ = 0, sequences_ = 0;
};

/// The fraction of examples whose highest score is the target class.
class Accuracy {
public:
  /// Scores one example: its `classes` scores (the first highest wins a tie) and its target class.
  void add(const float *scores, int64_t classes, int32_t target);

  int64_t correct() const { return correct_; }
  int64_t total() const { return total_; }
  /// In percent; 0 before the first example.
  double percent() const { return 100.0 * double(correct_) / double(std::max<int64_t>(total_, 1)); }

  /// Its counts (correct, total), to sum over processes as SequenceErrors' are.
  std::array<double, 2> counts() const { return {double(correct_), double(total_)}; }
  static Accuracy fromCounts(const std::array<double, 2> &c) {
    Accuracy a;
    a.correct_ = int64_t(c[0]), a.total_ = int64_t(c[1]);
    return a;
  }

private:
  int64_t correct_ = 0, total_ = 0;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_METRICS_H
