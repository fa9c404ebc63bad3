// How good a model's predictions are, as `eval` reports them: the edit distance between token sequences
// and the error rates built on it (a G2P model's phoneme and word error rates), and the accuracy of a
// classifier's arg-max. They are plain functions of numbers, apart from any model, so that they can be
// checked against known values.
#ifndef ATTN_RUNTIME_METRICS_H
#define ATTN_RUNTIME_METRICS_H

#include <algorithm>
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

  /// Edits per reference token, in percent (G2P's phoneme error rate); above 100 for long predictions.
  double tokenErrorRate() const { return 100.0 * double(edits_) / double(referenceTokens_); }
  /// Sequences with any error, in percent (G2P's word error rate).
  double sequenceErrorRate() const { return 100.0 * double(wrong_) / double(sequences_); }

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

private:
  int64_t correct_ = 0, total_ = 0;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_METRICS_H
