// The lexer of .attn model files. It turns the bytes of one source buffer into tokens that remember their
// exact spelling and position, and it never fails: malformed input becomes a token that carries an error
// message, so the parser decides when (and whether) to report it and can keep going after it. That keeps
// the one place that counts errors and recovers from them in the parser.
#ifndef ATTN_FRONTEND_LEXER_H
#define ATTN_FRONTEND_LEXER_H

#include "attn/Frontend/AST.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SMLoc.h"

#include <string>

namespace attn {

enum class TokenKind {
  Eof,
  Error, // a character that starts no token; Token::error says which
  Identifier,
  Number, // Token::number, Token::isInteger
  String, // Token::string holds the value with escapes decoded
  // Keywords.
  KwModel,
  KwDim,
  KwConst,
  KwInput,
  KwOutput,
  KwBlock,
  KwReturn,
  KwDecoder,
  KwCarries,
  KwEmit,
  KwTrue,
  KwFalse,
  // Punctuation.
  LBrace,
  RBrace,
  LParen,
  RParen,
  LBracket,
  RBracket,
  Comma,
  Colon,
  Equal,
  Plus,
  Minus,
  Star,
  Slash,
  Less,         // <
  LessEqual,    // <=
  Greater,      // >
  GreaterEqual, // >=
  EqualEqual,   // ==
  NotEqual,     // !=
};

struct Token {
  TokenKind kind = TokenKind::Eof;
  /// The exact source text; empty for Eof.
  llvm::StringRef spelling;
  ast::Location loc;
  /// True if no other token precedes this one on its line; error recovery uses it to guess where the next
  /// statement starts, since newlines carry no meaning in the grammar.
  bool startsLine = false;

  double number = 0;
  bool isInteger = false;
  std::string string;

  /// Non-empty if the token is malformed (an unknown character, an unterminated string, a number out of
  /// range, ...): the message to report, at `errorLoc`. Number and String tokens may carry an error and
  /// still be usable in the AST with a placeholder value.
  std::string error;
  ast::Location errorLoc;
  /// A string literal that ran into the end of its line: what follows it on that line was swallowed, so the
  /// parser must abandon the statement rather than carry on.
  bool unterminated = false;

  bool is(TokenKind k) const { return kind == k; }
  template <typename... Kinds> bool isAny(Kinds... kinds) const { return ((kind == kinds) || ...); }
  bool isKeyword() const { return kind >= TokenKind::KwModel && kind <= TokenKind::KwFalse; }
  llvm::SMRange getRange() const {
    return llvm::SMRange(loc.loc, llvm::SMLoc::getFromPointer(spelling.end()));
  }
};

/// Returns `text` fit to quote in a diagnostic: bytes that are not printable ASCII escaped as \xHH, and a
/// long text cut short with "...", so that neither binary input nor a huge literal can flood the terminal.
std::string quoteForDiagnostic(llvm::StringRef text);

class Lexer {
public:
  /// `buffer` must stay alive as long as the tokens; normally it is a SourceMgr buffer, so that the SMLocs of
  /// the tokens resolve in that SourceMgr.
  explicit Lexer(llvm::StringRef buffer);

  /// Returns the next token; at the end of the buffer, Eof forever.
  Token lex();

private:
  ast::Location locationOf(const char *p) const;
  void skipWhitespaceAndComments();
  Token makeToken(TokenKind kind, const char *start);
  Token lexIdentifierOrKeyword(const char *start);
  Token lexNumber(const char *start);
  Token lexString(const char *start);
  Token lexUnknownCharacter(const char *start);

  const char *cur;
  const char *end;
  const char *lineStart;
  unsigned line = 1;
  /// The line of the previous token, to compute Token::startsLine.
  unsigned lastTokenLine = 0;
};

} // namespace attn

#endif // ATTN_FRONTEND_LEXER_H
