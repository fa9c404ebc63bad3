// Vocabularies: character and word tokenization, unknown tokens, decoding up to a stop token, and
// vocabulary files that are malformed.
#include "attn/Runtime/Text.h"

#include "TestUtil.h"

using namespace attn::rt;
using attn::test::TempDir;
using attn::test::writeBytes;

namespace {

Vocabulary letters() { return Vocabulary({"<pad>", "<s>", "</s>", "a", "b", "c", "'"}, "of 'src'"); }
Vocabulary words() { return Vocabulary({"<pad>", "<unk>", "the", "cat", "sat"}, "of 'src'"); }

TEST(Vocabulary, CharactersWhenEveryOrdinaryTokenIsOneCharacter) {
  EXPECT_TRUE(letters().characters());
  EXPECT_FALSE(words().characters());
  EXPECT_TRUE(Vocabulary({"<pad>", "é", "ß"}, "x").characters()); // UTF-8 characters of two bytes
  EXPECT_FALSE(Vocabulary({"<pad>", "<s>"}, "x").characters());   // specials only
}

TEST(Vocabulary, EncodesCharactersAndDropsSpaces) {
  Expected<std::vector<int32_t>> ids = letters().encode("ab c'");
  ASSERT_TRUE(ids) << ids.message();
  EXPECT_EQ(*ids, (std::vector<int32_t>{3, 4, 5, 6}));
  EXPECT_EQ(letters().split("ab c"), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(Vocabulary, EncodesWordsWithUnknownTokens) {
  Expected<std::vector<int32_t>> ids = words().encode("  the dog\tsat ");
  ASSERT_TRUE(ids) << ids.message();
  EXPECT_EQ(*ids, (std::vector<int32_t>{2, 1, 4}));
}

TEST(Vocabulary, UnknownTokenWithoutUnkIsAnError) {
  Expected<std::vector<int32_t>> ids = letters().encode("abx");
  ASSERT_FALSE(ids);
  EXPECT_EQ(ids.message(), "'x' in \"abx\" is not in the vocabulary of 'src'");
  Expected<std::vector<int32_t>> empty = letters().encode("   ");
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.message(), "\"   \" holds no tokens");
}

TEST(Vocabulary, DecodesUpToStopSkippingSpecials) {
  EXPECT_EQ(letters().decode({1, 3, 0, 4, 2, 5}, 2, {1, 0}), "ab");
  EXPECT_EQ(words().decode({2, 3, 4}, -1, {}), "the cat sat");
  EXPECT_EQ(words().decode({3, 17}, -1, {}), "cat <17>");
}

TEST(Vocabulary, ReadsFilesWithOneTokenPerLine) {
  TempDir dir;
  writeBytes(dir.file("v.vocab"), "<pad>\r\nhello\nworld\n");
  Expected<Vocabulary> v = Vocabulary::readFile(dir.file("v.vocab"));
  ASSERT_TRUE(v) << v.message();
  EXPECT_EQ(v->size(), 3u);
  EXPECT_EQ(v->id("world"), 2);
  EXPECT_EQ(v->id("nope"), -1);

  writeBytes(dir.file("blank.vocab"), "a\n\nb\n");
  Expected<Vocabulary> blank = Vocabulary::readFile(dir.file("blank.vocab"));
  ASSERT_FALSE(blank);
  EXPECT_NE(blank.message().find("line 2 of vocabulary file"), std::string::npos) << blank.message();
  writeBytes(dir.file("empty.vocab"), "");
  EXPECT_FALSE(Vocabulary::readFile(dir.file("empty.vocab")));
  EXPECT_FALSE(Vocabulary::readFile(dir.file("missing.vocab")));
}

} // namespace
