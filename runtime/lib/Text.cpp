// Vocabularies and text tokenization.
#include "attn/Runtime/Text.h"

#include "attn/Runtime/VocabFile.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>

namespace attn::rt {

namespace {

/// `<pad>`, `<s>`, `</s>`, `<unk>` and the like: tokens that text never spells out.
bool isSpecial(const std::string &token) {
  return token.size() > 2 && token.front() == '<' && token.back() == '>';
}

/// The number of bytes of the UTF-8 character that starts with `lead`.
size_t utf8Length(unsigned char lead) {
  return lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3 : (lead >> 3) == 0x1E ? 4 : 1;
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

} // namespace

Vocabulary::Vocabulary(std::vector<std::string> tokens, std::string source)
    : tokens_(std::move(tokens)), source_(std::move(source)) {
  bool anyOrdinary = false;
  characters_ = true;
  for (size_t i = 0; i < tokens_.size(); ++i) {
    ids_.emplace(tokens_[i], static_cast<int32_t>(i));
    if (isSpecial(tokens_[i]))
      continue;
    anyOrdinary = true;
    characters_ &= !tokens_[i].empty() && utf8Length(tokens_[i][0]) == tokens_[i].size();
  }
  characters_ &= anyOrdinary;
}

Expected<Vocabulary> Vocabulary::readFile(const std::string &path) {
  Expected<std::vector<std::string>> tokens = readVocabFile(path);
  if (!tokens)
    return tokens.takeError();
  return Vocabulary(std::move(*tokens), "'" + path + "'");
}

std::string Vocabulary::token(int32_t id) const {
  return id >= 0 && static_cast<size_t>(id) < tokens_.size() ? tokens_[id] : "<" + std::to_string(id) + ">";
}

int32_t Vocabulary::id(const std::string &token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : it->second;
}

std::vector<std::string> Vocabulary::split(const std::string &text) const {
  std::vector<std::string> pieces;
  for (size_t i = 0; i < text.size();) {
    if (isSpace(text[i]) && id(std::string(1, text[i])) < 0) {
      ++i;
      continue;
    }
    size_t n = 1;
    if (characters_)
      n = std::min(utf8Length(static_cast<unsigned char>(text[i])), text.size() - i);
    else
      while (i + n < text.size() && !isSpace(text[i + n]))
        ++n;
    pieces.push_back(text.substr(i, n));
    i += n;
  }
  return pieces;
}

Expected<std::vector<int32_t>> Vocabulary::encode(const std::string &text) const {
  std::vector<int32_t> ids;
  int32_t unknown = id("<unk>");
  for (const std::string &piece : split(text)) {
    int32_t i = id(piece);
    if (i < 0 && unknown < 0)
      return makeError("'", piece, "' in \"", text, "\" is not in the vocabulary ", source_);
    ids.push_back(i < 0 ? unknown : i);
  }
  if (ids.empty())
    return makeError("\"", text, "\" holds no tokens");
  return ids;
}

std::string Vocabulary::decode(const std::vector<int32_t> &ids, int32_t stop,
                               const std::vector<int32_t> &skip) const {
  std::string out;
  for (int32_t i : ids) {
    if (i == stop)
      break;
    if (std::find(skip.begin(), skip.end(), i) != skip.end())
      continue;
    if (!out.empty() && !characters_)
      out += ' ';
    out += token(i);
  }
  return out;
}

std::optional<uint64_t> parseInteger(const std::string &text, uint64_t min, uint64_t max) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  errno = 0;
  unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
  if (errno == ERANGE || value < min || value > max)
    return std::nullopt;
  return value;
}

} // namespace attn::rt
