// The layer the runtime's two literal readers share: the JSON of safetensors headers (Json.cpp) and the
// Python dict literal of .npy headers (Npy.cpp). Both walk a string by position, skip white space between
// tokens, read the keywords true, false and null (True, False and None in Python) and comma-separated
// sequences up to a closing bracket. This class does those once; what differs between the two syntaxes
// (which characters are white space, how keywords are spelled, whether a ',' may precede the closing
// bracket, how an error cites its position) is a column of data, not a second copy of the code.
#ifndef ATTN_RUNTIME_LITERALSCANNER_H
#define ATTN_RUNTIME_LITERALSCANNER_H

#include "attn/Runtime/Error.h"

#include <optional>
#include <string>
#include <string_view>

namespace attn::rt {

enum class LiteralSyntax { Json, Python };

/// The keywords both syntaxes have.
enum class Keyword { True, False, Null };

class LiteralScanner {
protected:
  LiteralScanner(std::string_view text, LiteralSyntax syntax) : text_(text), syntax_(syntax) {}

  /// An error at the current position: "at byte 17: WHAT" in JSON, "WHAT at character 17" in Python.
  Error fail(const std::string &what) const {
    if (syntax_ == LiteralSyntax::Json)
      return makeError("at byte ", pos_, ": ", what);
    return makeError(what, " at character ", pos_);
  }

  bool atEnd() const { return pos_ >= text_.size(); }
  char peek() const { return text_[pos_]; }

  /// Consumes `c` if it comes next.
  bool consume(char c) {
    if (atEnd() || peek() != c)
      return false;
    ++pos_;
    return true;
  }

  void skipWhitespace() {
    // JSON's white space includes '\r'; the headers NumPy writes hold only spaces and a final '\n'.
    std::string_view whitespace = syntax_ == LiteralSyntax::Json ? " \t\n\r" : " \n\t";
    while (!atEnd() && whitespace.find(peek()) != std::string_view::npos)
      ++pos_;
  }

  /// Skips white space to the end of the text, or fails with `trailingMessage` if more text follows.
  Status expectEnd(const char *trailingMessage) {
    skipWhitespace();
    if (!atEnd())
      return fail(trailingMessage);
    return {};
  }

  /// Skips white space to the start of a value and puts its first character in `first`, or fails with
  /// `atEndMessage` at the end of the text.
  Status startValue(char &first, const char *atEndMessage) {
    skipWhitespace();
    if (atEnd())
      return fail(atEndMessage);
    first = peek();
    return {};
  }

  /// Skips white space and consumes `c`, or fails with "expected 'c' CONTEXT".
  Status expect(char c, const std::string &context = "") {
    skipWhitespace();
    if (!consume(c))
      return fail(std::string("expected '") + c + "'" + (context.empty() ? "" : " " + context));
    return {};
  }

  /// Consumes the keyword that starts at the current position, if one does.
  std::optional<Keyword> keyword() {
    struct Spelling {
      Keyword keyword;
      std::string_view json, python;
    };
    static constexpr Spelling kSpellings[] = {
        {Keyword::True, "true", "True"}, {Keyword::False, "false", "False"}, {Keyword::Null, "null", "None"}};
    for (const Spelling &spelling : kSpellings) {
      std::string_view word = syntax_ == LiteralSyntax::Json ? spelling.json : spelling.python;
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return spelling.keyword;
      }
    }
    return std::nullopt;
  }

  /// Reads the elements of a sequence whose opening bracket has been consumed, through `close`. `element`
  /// reads one element (white space before it is skipped) and ',' separates them; Python also allows a ','
  /// before `close`, JSON does not. `missingClose` is the error when an element is followed by neither ','
  /// nor `close`.
  template <typename Element> Status sequence(char close, const std::string &missingClose, Element element) {
    skipWhitespace();
    if (consume(close))
      return {};
    for (;;) {
      if (Status s = element(); !s)
        return s;
      skipWhitespace();
      if (consume(',')) {
        skipWhitespace();
        if (syntax_ == LiteralSyntax::Python && consume(close))
          return {};
        continue;
      }
      if (consume(close))
        return {};
      return fail(missingClose);
    }
  }

  std::string_view text_;
  size_t pos_ = 0;

private:
  LiteralSyntax syntax_;
};

} // namespace attn::rt

#endif // ATTN_RUNTIME_LITERALSCANNER_H
