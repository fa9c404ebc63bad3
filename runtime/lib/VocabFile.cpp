// The vocabulary file reader shared by attnc and the generated programs. Its messages are worded as attnc
// reports them ("line 2 of vocabulary file 'g2p.vocab' is empty: ..."), since the compiler's diagnostics
// are where users meet them first.
#include "attn/Runtime/VocabFile.h"
#include "attn/Runtime/File.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string_view>
#include <unordered_map>

namespace attn::rt {

namespace {

/// The whole file at `path`, or the system's reason why it cannot be read.
Expected<std::string> readText(const std::string &path) {
  if (isSpecialFile(path)) // a FIFO would block the open, a device such as /dev/zero never end
    return Error{"not a regular file"};
  std::FILE *file = std::fopen(path.c_str(), "rb");
  if (!file)
    return Error{std::strerror(errno)};
  std::string text;
  char chunk[1 << 16];
  size_t n;
  while ((n = std::fread(chunk, 1, sizeof chunk, file)) > 0)
    text.append(chunk, n);
  int error = std::ferror(file) ? errno : 0;
  std::fclose(file);
  if (error)
    return Error{std::strerror(error)};
  return text;
}

bool isSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

} // namespace

Expected<std::vector<std::string>> readVocabFile(const std::string &path) {
  Expected<std::string> text = readText(path);
  if (!text)
    return makeError("cannot read vocabulary file '", path, "': ", text.message());
  if (text->empty())
    return makeError("vocabulary file '", path, "' is empty");
  std::string_view rest = *text;
  if (rest.back() == '\n')
    rest.remove_suffix(1);
  std::vector<std::string> tokens;
  std::unordered_map<std::string_view, size_t> lineOf;
  for (size_t number = 1;; ++number) {
    size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty() || isSpace(line.front()) || isSpace(line.back()))
      return makeError("line ", number, " of vocabulary file '", path, "' ",
                       line.empty() ? "is empty" : "has spaces around its token",
                       ": expected one token per line, line n holding the token of id n - 1");
    if (auto [it, inserted] = lineOf.emplace(line, number); !inserted)
      return makeError("token '", line, "' appears twice in vocabulary file '", path, "', on lines ",
                       it->second, " and ", number);
    tokens.emplace_back(line);
    if (end == std::string_view::npos)
      break;
    rest.remove_prefix(end + 1);
  }
  return tokens;
}

} // namespace attn::rt
