// The metrics `eval` reports, on values worked out by hand: edit distances of known pairs, the error rates
// of a few predicted sequences, and arg-max accuracy with a tie.
#include "attn/Runtime/Metrics.h"

#include <gtest/gtest.h>

using namespace attn::rt;

namespace {

/// The letters of `word` as token ids.
std::vector<int32_t> ids(const std::string &word) { return std::vector<int32_t>(word.begin(), word.end()); }

TEST(Metrics, EditDistanceOfKnownPairs) {
  EXPECT_EQ(editDistance(ids("kitten"), ids("sitting")), 3); // two substitutions, one insertion
  EXPECT_EQ(editDistance(ids("sitting"), ids("kitten")), 3);
  EXPECT_EQ(editDistance(ids("flaw"), ids("lawn")), 2); // a deletion and an insertion
  EXPECT_EQ(editDistance(ids("intention"), ids("execution")), 5);
  EXPECT_EQ(editDistance(ids("same"), ids("same")), 0);
  EXPECT_EQ(editDistance({}, ids("abc")), 3);
  EXPECT_EQ(editDistance(ids("abc"), {}), 3);
  EXPECT_EQ(editDistance({}, {}), 0);
}

TEST(Metrics, SequenceErrorRates) {
  SequenceErrors errors;
  EXPECT_EQ(errors.add(ids("kitten"), ids("sitting")), 3); // 3 edits over 7 reference tokens
  EXPECT_EQ(errors.add(ids("abc"), ids("abc")), 0);        // right
  EXPECT_EQ(errors.add({}, ids("ab")), 2);                 // nothing predicted: every token missed
  EXPECT_EQ(errors.add(ids("xyz"), ids("xy")), 1);         // one token too many
  EXPECT_DOUBLE_EQ(errors.tokenErrorRate(), 100.0 * 6 / 14);
  EXPECT_DOUBLE_EQ(errors.sequenceErrorRate(), 75.0);
}

TEST(Metrics, SequenceErrorRatesAgainstAnyReference) {
  SequenceErrors errors;
  EXPECT_EQ(errors.addAny(ids("tomato"), {ids("tomahto"), ids("tomato")}), 0); // the second one: right
  EXPECT_EQ(errors.addAny(ids("abd"), {ids("abcd"), ids("xbd")}), 1); // a tie: the first closest, 1 edit of 4
  EXPECT_DOUBLE_EQ(errors.tokenErrorRate(), 100.0 * 1 / 10);
  EXPECT_DOUBLE_EQ(errors.sequenceErrorRate(), 50.0);
}

TEST(Metrics, TokenErrorRateCanExceedAHundredPercent) {
  SequenceErrors errors;
  errors.add(ids("abcd"), ids("x"));
  EXPECT_DOUBLE_EQ(errors.tokenErrorRate(), 400.0);
  EXPECT_DOUBLE_EQ(errors.sequenceErrorRate(), 100.0);
}

TEST(Metrics, AccuracyOfArgMax) {
  Accuracy accuracy;
  EXPECT_DOUBLE_EQ(accuracy.percent(), 0.0);
  const float scores[4][3] = {{0.1f, 0.7f, 0.2f}, {2, -1, 5}, {-3, -2, -1}, {4, 4, 1}};
  accuracy.add(scores[0], 3, 1); // right
  accuracy.add(scores[1], 3, 0); // wrong: class 2 scores highest
  accuracy.add(scores[2], 3, 2); // right, with negative scores
  accuracy.add(scores[3], 3, 1); // wrong: a tie goes to the first class
  EXPECT_EQ(accuracy.correct(), 2);
  EXPECT_EQ(accuracy.total(), 4);
  EXPECT_DOUBLE_EQ(accuracy.percent(), 50.0);
}

} // namespace
