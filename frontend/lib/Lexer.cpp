// The lexer of .attn model files. Locations count lines from 1 at each '\n' and columns in bytes from 1, the
// way llvm::SourceMgr does, so that the positions stored in the AST and the ones SourceMgr prints in a
// diagnostic always agree. The lexer reads only between the buffer's start and end pointers (never relies
// on a terminating NUL), so any bytes at all, embedded NULs included, are safe input.
#include "attn/Frontend/Lexer.h"

#include "llvm/ADT/APFloat.h"
#include "llvm/ADT/StringExtras.h"
#include "llvm/ADT/StringSwitch.h"
#include "llvm/Support/ConvertUTF.h"
#include "llvm/Support/Error.h"

#include <cstdint>
#include <limits>

using namespace attn;

/// Spells one character of a message: printable ASCII as itself, anything else as an escape, so that a
/// diagnostic about binary input stays readable and cannot disturb the terminal.
static std::string describeByte(unsigned char c) {
  if (llvm::isPrint(c))
    return std::string(1, static_cast<char>(c));
  std::string s = "\\x";
  s += llvm::hexdigit(c >> 4, /*LowerCase=*/false);
  s += llvm::hexdigit(c & 0xF, /*LowerCase=*/false);
  return s;
}

std::string attn::quoteForDiagnostic(llvm::StringRef text) {
  constexpr size_t kMaxShown = 40;
  bool truncated = text.size() > kMaxShown;
  if (truncated)
    text = text.take_front(kMaxShown - 3);
  std::string shown;
  for (char c : text)
    shown += describeByte(static_cast<unsigned char>(c));
  if (truncated)
    shown += "...";
  return shown;
}

Lexer::Lexer(llvm::StringRef buffer)
    : cur(buffer.begin()), end(buffer.end()), lineStart(buffer.begin()) {
  // Editors on some systems start UTF-8 files with a byte order mark; it is not part of the program.
  if (buffer.starts_with("\xEF\xBB\xBF"))
    cur += 3;
}

ast::Location Lexer::locationOf(const char *p) const {
  ast::Location loc;
  loc.line = line;
  loc.col = static_cast<unsigned>(p - lineStart) + 1;
  loc.loc = llvm::SMLoc::getFromPointer(p);
  return loc;
}

void Lexer::skipWhitespaceAndComments() {
  while (cur < end) {
    char c = *cur;
    if (c == '\n') {
      ++cur;
      ++line;
      lineStart = cur;
    } else if (c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f') {
      ++cur;
    } else if (c == '#') {
      while (cur < end && *cur != '\n')
        ++cur;
    } else {
      return;
    }
  }
}

Token Lexer::makeToken(TokenKind kind, const char *start) {
  Token tok;
  tok.kind = kind;
  tok.spelling = llvm::StringRef(start, cur - start);
  tok.loc = locationOf(start);
  tok.errorLoc = tok.loc;
  tok.startsLine = tok.loc.line != lastTokenLine;
  lastTokenLine = tok.loc.line;
  return tok;
}

Token Lexer::lex() {
  skipWhitespaceAndComments();
  const char *start = cur;
  if (cur >= end) {
    cur = end;
    return makeToken(TokenKind::Eof, end);
  }

  char c = *cur;
  if (llvm::isAlpha(c) || c == '_')
    return lexIdentifierOrKeyword(start);
  if (llvm::isDigit(c))
    return lexNumber(start);
  if (c == '"')
    return lexString(start);

  // Comparisons: `<`, `>`, and with a following `=`, `<=`, `>=`, `==`, `!=`.
  bool equalFollows = cur + 1 < end && cur[1] == '=';
  if (c == '<' || c == '>' || (equalFollows && (c == '=' || c == '!'))) {
    TokenKind kind = c == '<'   ? (equalFollows ? TokenKind::LessEqual : TokenKind::Less)
                     : c == '>' ? (equalFollows ? TokenKind::GreaterEqual : TokenKind::Greater)
                     : c == '=' ? TokenKind::EqualEqual
                                : TokenKind::NotEqual;
    cur += equalFollows ? 2 : 1;
    return makeToken(kind, start);
  }
  TokenKind kind;
  switch (c) {
  case '{': kind = TokenKind::LBrace; break;
  case '}': kind = TokenKind::RBrace; break;
  case '(': kind = TokenKind::LParen; break;
  case ')': kind = TokenKind::RParen; break;
  case '[': kind = TokenKind::LBracket; break;
  case ']': kind = TokenKind::RBracket; break;
  case ',': kind = TokenKind::Comma; break;
  case ':': kind = TokenKind::Colon; break;
  case '=': kind = TokenKind::Equal; break;
  case '+': kind = TokenKind::Plus; break;
  case '-': kind = TokenKind::Minus; break;
  case '*': kind = TokenKind::Star; break;
  case '/': kind = TokenKind::Slash; break;
  default: return lexUnknownCharacter(start);
  }
  ++cur;
  return makeToken(kind, start);
}

Token Lexer::lexIdentifierOrKeyword(const char *start) {
  while (cur < end && (llvm::isAlnum(*cur) || *cur == '_'))
    ++cur;
  llvm::StringRef text(start, cur - start);
  TokenKind kind = llvm::StringSwitch<TokenKind>(text)
                       .Case("model", TokenKind::KwModel)
                       .Case("dim", TokenKind::KwDim)
                       .Case("const", TokenKind::KwConst)
                       .Case("input", TokenKind::KwInput)
                       .Case("output", TokenKind::KwOutput)
                       .Case("block", TokenKind::KwBlock)
                       .Case("return", TokenKind::KwReturn)
                       .Case("decoder", TokenKind::KwDecoder)
                       .Case("carries", TokenKind::KwCarries)
                       .Case("emit", TokenKind::KwEmit)
                       .Case("true", TokenKind::KwTrue)
                       .Case("false", TokenKind::KwFalse)
                       .Default(TokenKind::Identifier);
  return makeToken(kind, start);
}

/// Checks `text` against digits ['.' digits] [('e'|'E') ['+'|'-'] digits]; returns why it does not match, or
/// an empty string. Sets `isInteger` when there is neither a fraction nor an exponent.
static std::string validateNumber(llvm::StringRef text, bool &isInteger) {
  std::string quoted = quoteForDiagnostic(text);
  size_t i = 0, n = text.size();
  auto digits = [&] {
    size_t first = i;
    while (i < n && llvm::isDigit(text[i]))
      ++i;
    return i > first;
  };
  digits();
  isInteger = true;
  if (i < n && text[i] == '.') {
    isInteger = false;
    ++i;
    if (!digits())
      return "expected a digit after '.' in number '" + quoted + "'";
  }
  if (i < n && (text[i] == 'e' || text[i] == 'E')) {
    isInteger = false;
    ++i;
    if (i < n && (text[i] == '+' || text[i] == '-'))
      ++i;
    if (!digits())
      return "expected digits in the exponent of number '" + quoted + "'";
  }
  if (i != n)
    return "invalid number '" + quoted + "': unexpected '" + describeByte(text[i]) + "'";
  return "";
}

Token Lexer::lexNumber(const char *start) {
  // Take the whole run of characters that could belong to the number, so that `12abc` or `1.5.2` is one bad
  // token with one message rather than a number followed by puzzling errors about what comes after it.
  // A sign belongs to the number only right after the 'e' of an exponent, i.e. after digits and dots only.
  bool mantissaOnly = true;
  while (cur < end) {
    char c = *cur;
    if ((c == '+' || c == '-') && mantissaOnly && (cur[-1] == 'e' || cur[-1] == 'E')) {
      mantissaOnly = false;
      ++cur;
      continue;
    }
    if (!llvm::isAlnum(c) && c != '_' && c != '.')
      break;
    if (cur > start && !llvm::isDigit(cur[-1]) && cur[-1] != '.')
      mantissaOnly = false;
    ++cur;
  }
  Token tok = makeToken(TokenKind::Number, start);
  llvm::StringRef text = tok.spelling;
  tok.error = validateNumber(text, tok.isInteger);
  if (!tok.error.empty())
    return tok;
  // No sensible literal is this long, and APFloat needs stack space in proportion to the digits.
  constexpr size_t kMaxNumberLength = 320;
  if (text.size() > kMaxNumberLength) {
    tok.error = ("number '" + quoteForDiagnostic(text) + "' is too long (" + llvm::Twine(text.size()) +
                 " characters, the limit is " + llvm::Twine(kMaxNumberLength) + ")")
                    .str();
    return tok;
  }

  if (tok.isInteger) {
    uint64_t value;
    if (text.getAsInteger(10, value) ||
        value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      tok.error = ("integer literal '" + quoteForDiagnostic(text) + "' is too large (the largest is " +
                   llvm::Twine(std::numeric_limits<int64_t>::max()) + ")")
                      .str();
      return tok;
    }
    tok.number = static_cast<double>(value);
    return tok;
  }

  // APFloat, unlike strtod, ignores the C locale's decimal separator.
  llvm::APFloat value(llvm::APFloat::IEEEdouble());
  llvm::Expected<llvm::APFloat::opStatus> status =
      value.convertFromString(text, llvm::APFloat::rmNearestTiesToEven);
  if (!status) {
    llvm::consumeError(status.takeError());
    tok.error = "invalid number '" + quoteForDiagnostic(text) + "'";
    return tok;
  }
  if (*status & llvm::APFloat::opOverflow) {
    tok.error = "real literal '" + quoteForDiagnostic(text) + "' is out of range for a 64-bit float";
    return tok;
  }
  tok.number = value.convertToDouble();
  return tok;
}

Token Lexer::lexString(const char *start) {
  ++cur; // the opening quote
  std::string value;
  std::string error;
  const char *errorAt = nullptr;
  bool terminated = false;
  while (cur < end) {
    char c = *cur;
    if (c == '"') {
      ++cur;
      terminated = true;
      break;
    }
    // A string ends at its line, so that a missing quote costs one error rather than swallowing the rest
    // of the file.
    if (c == '\n')
      break;
    if (c != '\\') {
      value += c;
      ++cur;
      continue;
    }
    if (cur + 1 >= end || cur[1] == '\n') {
      ++cur;
      break;
    }
    char escaped = cur[1];
    if (escaped == '"' || escaped == '\\') {
      value += escaped;
    } else if (escaped == 'n') {
      value += '\n';
    } else {
      if (error.empty()) {
        error = "unknown escape sequence '\\" + describeByte(escaped) +
                "' in string (the escapes are \\\", \\\\ and \\n)";
        errorAt = cur;
      }
      value += escaped;
    }
    cur += 2;
  }

  // Stop before a '\r' of a CRLF line end so that the token's range ends where the line does.
  if (!terminated && cur > start + 1 && cur[-1] == '\r')
    --cur;
  Token tok = makeToken(TokenKind::String, start);
  tok.string = std::move(value);
  if (!terminated) {
    tok.unterminated = true;
    tok.error = cur >= end ? "unterminated string: expected '\"' before end of file"
                           : "unterminated string: expected '\"' before end of line";
  } else if (!error.empty()) {
    tok.error = std::move(error);
    tok.errorLoc = locationOf(errorAt);
  }
  return tok;
}

Token Lexer::lexUnknownCharacter(const char *start) {
  auto byte = static_cast<unsigned char>(*start);
  std::string message = "unexpected character '" + describeByte(byte) + "'";
  ++cur;
  // A whole UTF-8 sequence is one character to the reader; name it by its code point as well, since it
  // may be invisible or look like an ASCII character.
  if (byte >= 0x80) {
    unsigned length = llvm::getNumBytesForUTF8(byte);
    const auto *first = reinterpret_cast<const llvm::UTF8 *>(start);
    if (length > 1 && static_cast<size_t>(end - start) >= length &&
        llvm::isLegalUTF8Sequence(first, first + length)) {
      llvm::UTF32 codePoint = 0;
      const llvm::UTF8 *p = first;
      if (llvm::convertUTF8Sequence(&p, first + length, &codePoint, llvm::strictConversion) ==
          llvm::conversionOK) {
        message = "unexpected character '" + std::string(start, length) + "' (U+" +
                  llvm::utohexstr(codePoint, /*LowerCase=*/false, /*Width=*/4) + ")";
        cur = start + length;
      }
    }
  }
  Token tok = makeToken(TokenKind::Error, start);
  tok.error = std::move(message);
  return tok;
}
