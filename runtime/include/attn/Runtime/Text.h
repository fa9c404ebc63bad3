// Vocabularies: turning text into token ids for a model's token input and ids back into text, for the
// generated programs' `--text` option and the labels of attention maps; and whole numbers written as text
// (command-line options, a checkpoint's step).
#ifndef ATTN_RUNTIME_TEXT_H
#define ATTN_RUNTIME_TEXT_H

#include "attn/Runtime/Error.h"

#include <cstdint>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace attn::rt {

/// Tokens by id (token n has id n). A vocabulary whose ordinary tokens are all single characters (specials
/// such as `<pad>` aside) is a character vocabulary: text splits into characters, and decoded tokens join
/// without spaces. Any other splits text at whitespace and joins tokens with a space.
class Vocabulary {
public:
  Vocabulary() = default;
  /// `source` names where the tokens came from, for messages.
  Vocabulary(std::vector<std::string> tokens, std::string source);
  /// Reads a vocabulary file (see readVocabFile): one token per line.
  static Expected<Vocabulary> readFile(const std::string &path);

  size_t size() const { return tokens_.size(); }
  bool characters() const { return characters_; }
  const std::string &source() const { return source_; }
  /// The token of `id`, or `<id>` for an id the vocabulary does not cover.
  std::string token(int32_t id) const;
  /// The id of `token`, or -1.
  int32_t id(const std::string &token) const;

  /// The ids of `text`. Unknown tokens map to `<unk>` if the vocabulary has it, else are an error naming
  /// the token.
  Expected<std::vector<int32_t>> encode(const std::string &text) const;
  /// The pieces of `text` as `encode` splits it (the labels of an attention map's columns).
  std::vector<std::string> split(const std::string &text) const;
  /// `ids` as text, up to the first `stop` (exclusive), leaving out `skip` ids (start and padding).
  std::string decode(const std::vector<int32_t> &ids, int32_t stop, const std::vector<int32_t> &skip) const;

private:
  std::vector<std::string> tokens_;
  std::unordered_map<std::string, int32_t> ids_;
  std::string source_;
  bool characters_ = false;
};

/// A decimal integer in [min, max] (digits only: no sign, space or exponent), or nothing.
std::optional<uint64_t> parseInteger(const std::string &text, uint64_t min, uint64_t max);

} // namespace attn::rt

#endif // ATTN_RUNTIME_TEXT_H
