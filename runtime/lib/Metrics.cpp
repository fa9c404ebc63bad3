// The metrics `eval` reports (see Metrics.h).
#include "attn/Runtime/Metrics.h"

#include <algorithm>
#include <numeric>

namespace attn::rt {

int64_t editDistance(const std::vector<int32_t> &a, const std::vector<int32_t> &b) {
  std::vector<int64_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), 0);
  for (size_t i = 1; i <= a.size(); ++i) {
    int64_t diagonal = row[0];
    row[0] = static_cast<int64_t>(i);
    for (size_t j = 1; j <= b.size(); ++j) {
      int64_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] != b[j - 1])});
      diagonal = up;
    }
  }
  return row[b.size()];
}

int64_t SequenceErrors::add(const std::vector<int32_t> &predicted, const std::vector<int32_t> &reference) {
  int64_t d = editDistance(predicted, reference);
  edits_ += d;
  referenceTokens_ += static_cast<int64_t>(reference.size());
  wrong_ += d > 0;
  ++sequences_;
  return d;
}

int64_t SequenceErrors::addAny(const std::vector<int32_t> &predicted,
                               const std::vector<std::vector<int32_t>> &references) {
  const std::vector<int32_t> *closest = &references.front();
  int64_t best = editDistance(predicted, *closest);
  for (const std::vector<int32_t> &r : references)
    if (int64_t d = editDistance(predicted, r); d < best)
      best = d, closest = &r;
  return add(predicted, *closest);
}

void Accuracy::add(const float *scores, int64_t classes, int32_t target) {
  int64_t best = std::max_element(scores, scores + classes) - scores;
  correct_ += best == target;
  ++total_;
}

} // namespace attn::rt
