// Vocabulary files: one token per line, with CRLF and a final newline accepted, and an error naming the
// file and the line for every way a file can be malformed (an empty line, spaces around a token, a token on
// two lines, no bytes at all, no file).
#include "attn/Runtime/VocabFile.h"

#include "TestUtil.h"

using namespace attn::rt;
using attn::test::TempDir;
using attn::test::writeBytes;

namespace {

class VocabFile : public testing::Test {
protected:
  /// Writes `bytes` to v.vocab and reads it back.
  Expected<std::vector<std::string>> read(const std::string &bytes) {
    writeBytes(path, bytes);
    return readVocabFile(path);
  }

  /// Writes `bytes` to v.vocab and reads it back, expecting an error; returns its message.
  std::string readError(const std::string &bytes) {
    Expected<std::vector<std::string>> tokens = read(bytes);
    EXPECT_FALSE(tokens) << "read " << tokens->size() << " tokens";
    return tokens ? "" : tokens.message();
  }

  TempDir dir;
  std::string path = dir.file("v.vocab");
};

using Tokens = std::vector<std::string>;

TEST_F(VocabFile, ReadsOneTokenPerLine) {
  Expected<Tokens> tokens = read("<pad>\nhello\nwörld\n");
  ASSERT_TRUE(tokens) << tokens.message();
  EXPECT_EQ(*tokens, (Tokens{"<pad>", "hello", "wörld"}));
  // The last line need not end in a newline.
  tokens = read("a\nb");
  ASSERT_TRUE(tokens) << tokens.message();
  EXPECT_EQ(*tokens, (Tokens{"a", "b"}));
}

TEST_F(VocabFile, CrlfLineBreaksReadAsLf) {
  Expected<Tokens> tokens = read("<pad>\r\na\r\nb\r\n");
  ASSERT_TRUE(tokens) << tokens.message();
  EXPECT_EQ(*tokens, (Tokens{"<pad>", "a", "b"}));
  tokens = read("a\r\nb\r"); // a '\r' ending the last line belongs to the line break too
  ASSERT_TRUE(tokens) << tokens.message();
  EXPECT_EQ(*tokens, (Tokens{"a", "b"}));
  // Only one '\r' is the line break's: a second one is white space around the token.
  EXPECT_EQ(readError("a\r\r\nb\n"), "line 1 of vocabulary file '" + path +
                                         "' has spaces around its token: expected one token per line, line n "
                                         "holding the token of id n - 1");
}

TEST_F(VocabFile, EmptyLinesAreErrors) {
  const std::string expected = ": expected one token per line, line n holding the token of id n - 1";
  EXPECT_EQ(readError("a\n\nb\n"), "line 2 of vocabulary file '" + path + "' is empty" + expected);
  // One final newline ends the last line; a second one leaves an empty line.
  EXPECT_EQ(readError("a\nb\n\n"), "line 3 of vocabulary file '" + path + "' is empty" + expected);
  EXPECT_EQ(readError("a\r\n\r\n"), "line 2 of vocabulary file '" + path + "' is empty" + expected);
  EXPECT_EQ(readError("\n"), "line 1 of vocabulary file '" + path + "' is empty" + expected);
}

TEST_F(VocabFile, SpacesAroundATokenAreErrors) {
  const std::string expected = "' has spaces around its token: expected one token per line, line n holding "
                               "the token of id n - 1";
  EXPECT_EQ(readError("a\n b\n"), "line 2 of vocabulary file '" + path + expected);
  EXPECT_EQ(readError("a\nb\t\n"), "line 2 of vocabulary file '" + path + expected);
  EXPECT_EQ(readError("a \n"), "line 1 of vocabulary file '" + path + expected);
  // Spaces inside a token are part of it.
  Expected<Tokens> tokens = read("new york\n");
  ASSERT_TRUE(tokens) << tokens.message();
  EXPECT_EQ(*tokens, (Tokens{"new york"}));
}

TEST_F(VocabFile, DuplicateTokensNameBothLines) {
  EXPECT_EQ(readError("a\nb\na\n"),
            "token 'a' appears twice in vocabulary file '" + path + "', on lines 1 and 3");
  EXPECT_EQ(readError("a\nb\r\nc\nb\n"),
            "token 'b' appears twice in vocabulary file '" + path + "', on lines 2 and 4");
}

TEST_F(VocabFile, EmptyFileIsAnError) { EXPECT_EQ(readError(""), "vocabulary file '" + path + "' is empty"); }

TEST_F(VocabFile, UnreadableFileIsAnError) {
  Expected<Tokens> missing = readVocabFile(dir.file("missing.vocab"));
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.message(),
            "cannot read vocabulary file '" + dir.file("missing.vocab") + "': No such file or directory");
  Expected<Tokens> directory = readVocabFile(dir.path());
  ASSERT_FALSE(directory);
  EXPECT_EQ(directory.message(), "cannot read vocabulary file '" + dir.path() + "': not a regular file");
  // A device would never end: it is refused before it is read.
  Expected<Tokens> device = readVocabFile("/dev/zero");
  ASSERT_FALSE(device);
  EXPECT_EQ(device.message(), "cannot read vocabulary file '/dev/zero': not a regular file");
}

} // namespace
