// The recursive-descent parser of .attn model files. Errors come in two kinds: those that leave the token
// stream in a known state (a wrong dtype name, a keyword argument out of order, a malformed literal) are
// reported and parsing simply continues; the others abandon the current statement, and the parser skips to
// the next token that can start one. Every loop either consumes a token or ends, expression nesting is
// capped, and reaching the error limit turns the rest of the input into end-of-file, so no input can make the
// parser crash, loop forever or exhaust the stack. Names and literals quoted in messages go through
// quoteForDiagnostic, since they are arbitrary user bytes of arbitrary length.
#include "attn/Frontend/Parser.h"

#include "attn/Frontend/Lexer.h"

#include "llvm/ADT/ArrayRef.h"
#include "llvm/ADT/SmallVector.h"
#include "llvm/ADT/StringMap.h"
#include "llvm/ADT/Twine.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/raw_ostream.h"

#include <algorithm>

using namespace attn;
using llvm::SMLoc;
using llvm::SMRange;
using llvm::StringRef;
using llvm::Twine;

namespace {

/// Deeper expressions than this are rejected: later stages walk the tree recursively, and no real model comes
/// near it.
constexpr unsigned kMaxExprDepth = 256;

constexpr const char *kStatementForms =
    "'dim', 'const', 'input', 'param', 'output', 'block', 'decoder', 'train' or 'NAME = expression'";

struct Note {
  SMLoc loc;
  std::string message;
};

class Parser {
public:
  Parser(llvm::SourceMgr &sourceMgr, unsigned bufferID, unsigned maxErrors)
      : sourceMgr(sourceMgr), buffer(sourceMgr.getMemoryBuffer(bufferID)->getBuffer()),
        bufferName(sourceMgr.getMemoryBuffer(bufferID)->getBufferIdentifier()), lexer(buffer),
        maxErrors(maxErrors) {
    tok = lexer.lex();
    next = lexer.lex();
  }

  std::unique_ptr<ast::Model> parseFile(StringRef fileName);

private:
  //===--------------------------------------------------------------------===//
  // Tokens
  //===--------------------------------------------------------------------===//

  void consume() {
    if (stopped)
      return;
    tok = std::move(next);
    next = lexer.lex();
  }

  bool consumeIf(TokenKind kind) {
    if (!tok.is(kind))
      return false;
    consume();
    return true;
  }

  static ast::Name nameOf(const Token &t) { return ast::Name{t.spelling.str(), t.loc}; }

  //===--------------------------------------------------------------------===//
  // Diagnostics
  //===--------------------------------------------------------------------===//

  /// Reports an error with its notes and counts it; once the limit is reached, silences everything after.
  void report(SMLoc loc, SMRange range, const Twine &message, llvm::ArrayRef<Note> notes = {});
  void reportTokenError(const Token &t) { report(t.errorLoc.loc, t.getRange(), t.error); }
  /// Reports "<expected>, found <found><hint>", or the lexer's own message if `found` is not a token at all.
  void reportExpected(const Token &found, const Twine &expected, StringRef hint = "",
                      llvm::ArrayRef<Note> notes = {});
  void reportExpected(const Twine &expected) { reportExpected(tok, expected); }
  /// Like reportExpected, for a missing closing delimiter; points back at the opening one if it is on another
  /// line, since then the reader may not see it in the quoted source line.
  void reportUnclosed(const Twine &expected, const ast::Location &open);
  static std::string describe(const Token &t);
  void stop();

  //===--------------------------------------------------------------------===//
  // Grammar
  //===--------------------------------------------------------------------===//

  std::unique_ptr<ast::Model> parseModel(StringRef fileName);
  ast::StmtPtr parseStatement();
  ast::StmtPtr parseTrain();
  ast::StmtPtr parseDim();
  ast::StmtPtr parseConst();
  bool parseTensorType(StringRef what, const ast::Name &name, StringRef form, std::string &dtype,
                       ast::Location &dtypeLoc, std::vector<ast::ExprPtr> &shape);
  ast::StmtPtr parseInput();
  ast::StmtPtr parseParam();
  ast::StmtPtr parseOutput();
  ast::StmtPtr parseBlock();
  ast::StmtPtr parseDecoder();
  bool parseBody(TokenKind end, StringRef expected, const std::string &what, ast::Location open,
                 std::vector<ast::StmtPtr> &body);
  ast::StmtPtr abandonBlock();
  ast::StmtPtr parseAssign();
  bool parseNameList(StringRef what, StringRef keyword, std::vector<ast::Name> &names,
                     std::vector<std::optional<ast::VocabRef>> *vocabs = nullptr);
  std::optional<ast::VocabRef> parseVocabClause();
  void skipToStatementStart();

  // Each returns nullptr after reporting an error that needs recovery, and sets `depth` to the height of the
  // returned tree.
  ast::ExprPtr parseExpr(unsigned &depth);
  enum class Precedence { Comparison, Additive, Multiplicative };
  ast::ExprPtr parseBinary(Precedence level, unsigned &depth);
  ast::ExprPtr parseUnary(unsigned &depth);
  ast::ExprPtr parsePrimary(unsigned &depth);
  ast::ExprPtr parseCall(unsigned &depth);
  ast::ExprPtr parseList(unsigned &depth);
  bool checkDepth(unsigned depth, const Token &at);

  llvm::SourceMgr &sourceMgr;
  StringRef buffer;
  StringRef bufferName;
  Lexer lexer;
  Token tok;  // the current token
  Token next; // one token of lookahead, to tell `NAME =` from an expression
  unsigned maxErrors;
  unsigned numErrors = 0;
  bool stopped = false;
  /// How many parseUnary calls are active: bounds the recursion before any tree exists to measure.
  unsigned exprNesting = 0;
  /// '(' and '[' opened and not yet closed in the current statement; recovery uses it to tell a keyword
  /// argument `NAME =` inside a call from the start of a statement.
  unsigned openDelimiters = 0;
};

} // namespace

//===----------------------------------------------------------------------===//
// Diagnostics
//===----------------------------------------------------------------------===//

void Parser::report(SMLoc loc, SMRange range, const Twine &message, llvm::ArrayRef<Note> notes) {
  if (stopped)
    return;
  llvm::SmallVector<SMRange, 1> ranges;
  // A one-character range adds nothing to the caret.
  if (range.isValid() && range.End.getPointer() - range.Start.getPointer() > 1)
    ranges.push_back(range);
  sourceMgr.PrintMessage(loc, llvm::SourceMgr::DK_Error, message, ranges);
  for (const Note &note : notes)
    sourceMgr.PrintMessage(note.loc, llvm::SourceMgr::DK_Note, note.message);
  ++numErrors;
  if (maxErrors != 0 && numErrors >= maxErrors) {
    llvm::SMDiagnostic diag(bufferName, llvm::SourceMgr::DK_Note, "too many errors, stopping");
    sourceMgr.PrintMessage(llvm::errs(), diag);
    stop();
  }
}

void Parser::reportExpected(const Token &found, const Twine &expected, StringRef hint,
                            llvm::ArrayRef<Note> notes) {
  if (found.is(TokenKind::Error)) {
    reportTokenError(found);
    return;
  }
  report(found.loc.loc, found.getRange(), expected + ", found " + describe(found) + hint, notes);
}

void Parser::reportUnclosed(const Twine &expected, const ast::Location &open) {
  llvm::SmallVector<Note, 1> notes;
  if (open.line != tok.loc.line)
    notes.push_back(
        Note{open.loc, ("to match this '" + StringRef(open.loc.getPointer(), 1) + "'").str()});
  reportExpected(tok, expected, "", notes);
}

std::string Parser::describe(const Token &t) {
  if (t.is(TokenKind::Eof))
    return "end of file";
  return (t.isKeyword() ? "keyword '" : "'") + quoteForDiagnostic(t.spelling) + "'";
}

void Parser::stop() {
  stopped = true;
  // From here on the parser sees only end of file, so every open construct unwinds without further reports.
  Token eof;
  eof.kind = TokenKind::Eof;
  eof.spelling = StringRef(buffer.end(), 0);
  eof.loc.loc = SMLoc::getFromPointer(buffer.end());
  eof.errorLoc = eof.loc;
  tok = eof;
  next = eof;
}

//===----------------------------------------------------------------------===//
// Model and statements
//===----------------------------------------------------------------------===//

std::unique_ptr<ast::Model> Parser::parseFile(StringRef fileName) {
  std::unique_ptr<ast::Model> model = parseModel(fileName);
  if (numErrors != 0)
    return nullptr;
  return model;
}

std::unique_ptr<ast::Model> Parser::parseModel(StringRef fileName) {
  if (!tok.is(TokenKind::KwModel)) {
    reportExpected("expected a model ('model NAME { ... }')");
    return nullptr;
  }
  consume();
  if (!tok.is(TokenKind::Identifier)) {
    reportExpected("expected a model name after 'model'");
    return nullptr;
  }
  auto model = std::make_unique<ast::Model>();
  model->name = nameOf(tok);
  model->file = fileName.str();
  consume();
  if (!tok.is(TokenKind::LBrace)) {
    reportExpected("expected '{' after 'model " + quoteForDiagnostic(model->name.name) + "'");
    return nullptr;
  }
  ast::Location open = tok.loc;
  consume();

  while (true) {
    if (tok.is(TokenKind::Eof)) {
      report(tok.loc.loc, SMRange(), "unterminated model block: expected '}' before end of file",
             Note{open.loc, "model '" + quoteForDiagnostic(model->name.name) + "' opened here"});
      return model;
    }
    if (consumeIf(TokenKind::RBrace))
      break;
    if (ast::StmtPtr stmt = parseStatement())
      model->body.push_back(std::move(stmt));
    else
      skipToStatementStart();
  }

  if (!tok.is(TokenKind::Eof)) {
    if (tok.is(TokenKind::KwModel))
      reportExpected(tok,
                     "expected end of file after model '" + quoteForDiagnostic(model->name.name) + "'",
                     " (a file holds one model)");
    else
      reportExpected("expected end of file after the '}' that closes model '" +
                     quoteForDiagnostic(model->name.name) + "'");
  }
  return model;
}

void Parser::skipToStatementStart() {
  // The current token is the one the error was about. If it can start a statement, the statement that failed
  // was cut short, and the parse resumes right there; otherwise it is skipped like the rest of the statement.
  // A statement that failed on its very first token thus always loses that token, so recovery cannot stall.
  unsigned depth = openDelimiters;
  bool first = true;
  while (true) {
    // Newlines mean nothing to the grammar, but outside parentheses a new line most likely starts a new
    // statement; resuming there reports an error in it rather than skipping it silently.
    if (!first && tok.startsLine && depth == 0)
      return;
    switch (tok.kind) {
    case TokenKind::Eof:
    case TokenKind::RBrace:
    case TokenKind::KwDim:
    case TokenKind::KwConst:
    case TokenKind::KwInput:
    case TokenKind::KwOutput:
    case TokenKind::KwBlock:
    case TokenKind::KwReturn:
    case TokenKind::KwDecoder:
    case TokenKind::KwEmit:
      return;
    case TokenKind::LParen:
    case TokenKind::LBracket:
      ++depth;
      break;
    case TokenKind::RParen:
    case TokenKind::RBracket:
      if (depth > 0)
        --depth;
      break;
    case TokenKind::Identifier:
      // `NAME =` inside unclosed parentheses is most likely a keyword argument, unless it opens a line.
      if (next.is(TokenKind::Equal) && (depth == 0 || tok.startsLine))
        return;
      break;
    default:
      break;
    }
    consume();
    first = false;
  }
}

ast::StmtPtr Parser::parseStatement() {
  openDelimiters = 0;
  switch (tok.kind) {
  case TokenKind::KwDim:
    return parseDim();
  case TokenKind::KwConst:
    return parseConst();
  case TokenKind::KwInput:
    return parseInput();
  case TokenKind::KwOutput:
    return parseOutput();
  case TokenKind::KwBlock:
    return parseBlock();
  case TokenKind::KwDecoder:
    return parseDecoder();
  case TokenKind::KwEmit:
    reportExpected("'emit' ends a decoder; expected a statement (" + Twine(kStatementForms) + ")");
    consume();
    return nullptr;
  case TokenKind::KwReturn:
    reportExpected("'return' ends a block; expected a statement (" + Twine(kStatementForms) + ")");
    consume();
    return nullptr;
  case TokenKind::Identifier:
    if (next.is(TokenKind::Equal) || next.is(TokenKind::Comma))
      return parseAssign();
    if (tok.spelling == "train" && next.is(TokenKind::LBrace)) // `train` is reserved only here
      return parseTrain();
    if (tok.spelling == "param" && next.is(TokenKind::Identifier)) // and `param` here
      return parseParam();
    {
      std::string name = tok.spelling.str();
      consume();
      reportExpected(tok, "expected '=' after '" + quoteForDiagnostic(name) + "'",
                     (" (a statement is " + Twine(kStatementForms) + ")").str());
    }
    return nullptr;
  default:
    reportExpected("expected a statement (" + Twine(kStatementForms) + ")");
    return nullptr;
  }
}

/// An optional `vocab "FILE"` clause. `vocab` is not a keyword (it stays usable as a name and as the
/// `vocab =` argument of embed): it starts a clause only when a string follows it.
std::optional<ast::VocabRef> Parser::parseVocabClause() {
  if (!tok.is(TokenKind::Identifier) || tok.spelling != "vocab" || !next.is(TokenKind::String))
    return std::nullopt;
  consume(); // vocab
  if (!tok.error.empty())
    reportTokenError(tok);
  ast::VocabRef ref{tok.string, tok.loc};
  consume();
  return ref;
}

bool Parser::parseNameList(StringRef what, StringRef keyword, std::vector<ast::Name> &names,
                           std::vector<std::optional<ast::VocabRef>> *vocabs) {
  do {
    std::string expected = ("expected " + what + " after '" + (names.empty() ? keyword : ",") + "'").str();
    if (!tok.is(TokenKind::Identifier)) {
      reportExpected(expected);
      return false;
    }
    // `output` with its names forgotten, then `y = ...` on the next line: `y` is not one of the names.
    if (next.is(TokenKind::Equal) && tok.startsLine) {
      report(tok.loc.loc, tok.getRange(),
             expected + ", found the assignment '" + quoteForDiagnostic(tok.spelling) + " = ...'");
      return false;
    }
    names.push_back(nameOf(tok));
    consume();
    if (vocabs)
      vocabs->push_back(parseVocabClause());
  } while (consumeIf(TokenKind::Comma));
  return true;
}

ast::StmtPtr Parser::parseDim() {
  ast::Location loc = tok.loc;
  consume();
  std::vector<ast::Name> names;
  if (!parseNameList("a dimension name", "dim", names))
    return nullptr;
  return std::make_unique<ast::DimStmt>(loc, std::move(names));
}

/// After an error in a block's header, skips the block's body (from its '{' to the matching '}') so that
/// its statements are not taken for the model's.
ast::StmtPtr Parser::abandonBlock() {
  while (!tok.is(TokenKind::Eof) && !tok.is(TokenKind::LBrace) && !tok.is(TokenKind::RBrace))
    consume();
  if (!tok.is(TokenKind::LBrace))
    return nullptr;
  for (unsigned depth = 0; !tok.is(TokenKind::Eof);) {
    if (tok.is(TokenKind::LBrace))
      ++depth;
    else if (tok.is(TokenKind::RBrace) && --depth == 0) {
      consume();
      break;
    }
    consume();
  }
  return nullptr;
}

/// The statements of a block or decoder body (opened at `open`) up to its closing keyword `end`; at a '}' or
/// the end of the file instead, reports that `expected` is missing from `what` and fails.
bool Parser::parseBody(TokenKind end, StringRef expected, const std::string &what, ast::Location open,
                       std::vector<ast::StmtPtr> &body) {
  while (!tok.is(end)) {
    if (tok.is(TokenKind::Eof) || tok.is(TokenKind::RBrace)) {
      report(tok.loc.loc, SMRange(), ("expected " + expected + " at the end of " + what).str(),
             Note{open.loc, what + " opened here"});
      consumeIf(TokenKind::RBrace);
      return false;
    }
    if (ast::StmtPtr stmt = parseStatement())
      body.push_back(std::move(stmt));
    else
      skipToStatementStart();
  }
  return true;
}

ast::StmtPtr Parser::parseBlock() {
  ast::Location loc = tok.loc;
  consume(); // 'block'
  if (!tok.is(TokenKind::Identifier)) {
    reportExpected("expected a block name after 'block'");
    return abandonBlock();
  }
  ast::Name name = nameOf(tok);
  consume();
  std::vector<ast::Name> params;
  if (!consumeIf(TokenKind::LParen)) {
    reportExpected("expected '(' and the parameters of block '" + quoteForDiagnostic(name.name) + "'");
    return abandonBlock();
  }
  if (!consumeIf(TokenKind::RParen)) {
    do {
      if (!tok.is(TokenKind::Identifier)) {
        reportExpected("expected a parameter name of block '" + quoteForDiagnostic(name.name) + "'");
        return abandonBlock();
      }
      params.push_back(nameOf(tok));
      consume();
    } while (consumeIf(TokenKind::Comma));
    if (!consumeIf(TokenKind::RParen)) {
      reportExpected("expected ',' or ')' after a parameter of block '" +
                     quoteForDiagnostic(name.name) + "'");
      return abandonBlock();
    }
  }
  if (!tok.is(TokenKind::LBrace)) {
    reportExpected("expected '{' to open the body of block '" + quoteForDiagnostic(name.name) + "'");
    return abandonBlock();
  }
  ast::Location open = tok.loc;
  consume();
  std::vector<ast::StmtPtr> body;
  if (!parseBody(TokenKind::KwReturn, "'return NAME'", "block '" + quoteForDiagnostic(name.name) + "'",
                 open, body))
    return nullptr;
  consume(); // 'return'
  std::vector<ast::Name> results;
  do {
    if (!tok.is(TokenKind::Identifier)) {
      reportExpected("expected the name of a tensor block '" + quoteForDiagnostic(name.name) + "' returns");
      return nullptr;
    }
    results.push_back(nameOf(tok));
    consume();
  } while (consumeIf(TokenKind::Comma));
  if (!consumeIf(TokenKind::RBrace)) {
    reportExpected("expected '}' to close block '" + quoteForDiagnostic(name.name) + "' after its return");
    return nullptr;
  }
  return std::make_unique<ast::BlockStmt>(loc, std::move(name), std::move(params), std::move(body),
                                          std::move(results));
}

ast::StmtPtr Parser::parseDecoder() {
  ast::Location loc = tok.loc;
  consume(); // 'decoder'
  if (!tok.is(TokenKind::Identifier)) {
    reportExpected("expected a decoder name after 'decoder'");
    return abandonBlock();
  }
  ast::Name name = nameOf(tok);
  std::string quoted = "decoder '" + quoteForDiagnostic(name.name) + "'";
  consume();
  if (!consumeIf(TokenKind::LParen) || !tok.is(TokenKind::Identifier)) {
    reportExpected("expected '(' and the name of the previous token, as in 'decoder " +
                   quoteForDiagnostic(name.name) + "(y) carries (h = ...)'");
    return abandonBlock();
  }
  ast::Name token = nameOf(tok);
  consume();
  std::optional<ast::Name> position;
  if (consumeIf(TokenKind::Comma)) {
    if (!tok.is(TokenKind::Identifier)) {
      reportExpected("expected the name of the step's position after the token of " + quoted +
                     ", as in 'decoder " + quoteForDiagnostic(name.name) + "(y, t)'");
      return abandonBlock();
    }
    position = nameOf(tok);
    consume();
  }
  if (!consumeIf(TokenKind::RParen)) {
    reportExpected("expected ')' after the token name of " + quoted +
                   " (a decoder reads one token per step, and may name its position: (y, t))");
    return abandonBlock();
  }
  if (!consumeIf(TokenKind::KwCarries) || !consumeIf(TokenKind::LParen)) {
    reportExpected("expected 'carries (NAME = initial value, ...)' after the token of " + quoted);
    return abandonBlock();
  }
  std::vector<ast::DecoderStmt::Carried> carries;
  do {
    if (!tok.is(TokenKind::Identifier) || !next.is(TokenKind::Equal)) {
      reportExpected("expected 'NAME = initial value' for a carried state of " + quoted);
      return abandonBlock();
    }
    ast::Name state = nameOf(tok);
    consume();
    consume(); // '='
    unsigned depth;
    ast::ExprPtr init = parseExpr(depth);
    if (!init)
      return abandonBlock();
    carries.push_back({std::move(state), std::move(init)});
  } while (consumeIf(TokenKind::Comma));
  if (!consumeIf(TokenKind::RParen)) {
    reportExpected("expected ',' or ')' after a carried state of " + quoted);
    return abandonBlock();
  }
  if (!tok.is(TokenKind::LBrace)) {
    reportExpected("expected '{' to open the step of " + quoted);
    return abandonBlock();
  }
  ast::Location open = tok.loc;
  consume();
  std::vector<ast::StmtPtr> body;
  if (!parseBody(TokenKind::KwEmit, "'emit NAME, ...'", quoted, open, body))
    return nullptr;
  consume(); // 'emit'
  std::vector<ast::Name> emits;
  do {
    if (!tok.is(TokenKind::Identifier)) {
      reportExpected("expected the name of a tensor " + quoted + " emits");
      return nullptr;
    }
    emits.push_back(nameOf(tok));
    consume();
  } while (consumeIf(TokenKind::Comma));
  if (!consumeIf(TokenKind::RBrace)) {
    reportExpected("expected '}' to close " + quoted + " after its emit");
    return nullptr;
  }
  return std::make_unique<ast::DecoderStmt>(loc, std::move(name), std::move(token), std::move(position),
                                            std::move(carries), std::move(body), std::move(emits));
}

ast::StmtPtr Parser::parseOutput() {
  ast::Location loc = tok.loc;
  consume();
  std::vector<ast::Name> names;
  std::vector<std::optional<ast::VocabRef>> vocabs;
  if (!parseNameList("an output name", "output", names, &vocabs))
    return nullptr;
  return std::make_unique<ast::OutputStmt>(loc, std::move(names), std::move(vocabs));
}

/// `train { NAME = expr, ... }`.
ast::StmtPtr Parser::parseTrain() {
  ast::Location loc = tok.loc;
  consume(); // train
  ast::Location open = tok.loc;
  consume(); // '{'
  std::vector<ast::TrainStmt::Setting> settings;
  while (!tok.is(TokenKind::RBrace)) {
    if (!tok.is(TokenKind::Identifier) || !next.is(TokenKind::Equal)) {
      reportExpected("expected a training setting 'NAME = value' or '}' in 'train'");
      return nullptr;
    }
    ast::TrainStmt::Setting setting;
    setting.name = nameOf(tok);
    consume();
    consume(); // '='
    unsigned depth;
    setting.value = parseExpr(depth);
    if (!setting.value)
      return nullptr;
    settings.push_back(std::move(setting));
    if (consumeIf(TokenKind::Comma))
      continue;
    if (!tok.is(TokenKind::RBrace)) {
      reportUnclosed("expected ',' or '}' after a training setting", open);
      return nullptr;
    }
  }
  consume(); // '}'
  return std::make_unique<ast::TrainStmt>(loc, std::move(settings));
}

ast::StmtPtr Parser::parseConst() {
  ast::Location loc = tok.loc;
  consume();
  std::vector<ast::ConstStmt::Def> defs;
  do {
    if (!tok.is(TokenKind::Identifier)) {
      reportExpected(Twine("expected a constant name after '") + (defs.empty() ? "const" : ",") + "'");
      return nullptr;
    }
    ast::ConstStmt::Def def;
    def.name = nameOf(tok);
    consume();
    if (!tok.is(TokenKind::Equal)) {
      reportExpected("expected '=' after constant '" + quoteForDiagnostic(def.name.name) + "'");
      return nullptr;
    }
    consume();
    unsigned depth;
    def.value = parseExpr(depth);
    if (!def.value)
      return nullptr;
    defs.push_back(std::move(def));
  } while (consumeIf(TokenKind::Comma));
  return std::make_unique<ast::ConstStmt>(loc, std::move(defs));
}

/// `: DTYPE[DIMS]` after the name of an input or a parameter (`what`); false after reporting an error.
bool Parser::parseTensorType(StringRef what, const ast::Name &name, StringRef form, std::string &dtype,
                             ast::Location &dtypeLoc, std::vector<ast::ExprPtr> &shape) {
  std::string quoted = quoteForDiagnostic(name.name);
  if (!tok.is(TokenKind::Colon)) {
    reportExpected(tok, "expected ':' after " + what + " '" + quoted + "'", (" (" + Twine(form) + ")").str());
    return false;
  }
  consume();
  if (!tok.is(TokenKind::Identifier)) {
    reportExpected("expected a dtype ('f32' or 'i32') for " + what + " '" + quoted + "'");
    return false;
  }
  dtype = tok.spelling.str();
  dtypeLoc = tok.loc;
  // The syntax is intact, so this needs no recovery.
  if (dtype != "f32" && dtype != "i32")
    reportExpected("expected a dtype ('f32' or 'i32')");
  consume();
  if (!tok.is(TokenKind::LBracket)) {
    reportExpected("expected '[' after the dtype of " + what + " '" + quoted + "'");
    return false;
  }
  ast::Location open = tok.loc;
  consume();
  ++openDelimiters;
  while (true) {
    unsigned depth;
    ast::ExprPtr dim = parseExpr(depth);
    if (!dim)
      return false;
    shape.push_back(std::move(dim));
    if (consumeIf(TokenKind::Comma))
      continue;
    if (tok.is(TokenKind::RBracket))
      break;
    reportUnclosed("expected ']' to close the shape of " + what + " '" + quoted + "'", open);
    return false;
  }
  consume();
  --openDelimiters;
  return true;
}

ast::StmtPtr Parser::parseInput() {
  ast::Location loc = tok.loc;
  consume();
  if (!tok.is(TokenKind::Identifier)) {
    reportExpected("expected an input name after 'input'");
    return nullptr;
  }
  ast::Name name = nameOf(tok);
  consume();
  std::string dtype;
  ast::Location dtypeLoc;
  std::vector<ast::ExprPtr> shape;
  if (!parseTensorType("input", name, "an input is declared as 'input NAME : DTYPE[DIMS]'", dtype, dtypeLoc,
                       shape))
    return nullptr;
  std::optional<ast::VocabRef> vocab = parseVocabClause();
  return std::make_unique<ast::InputStmt>(loc, std::move(name), std::move(dtype), dtypeLoc,
                                          std::move(shape), std::move(vocab));
}

/// `param NAME : f32[DIMS]`, optionally followed by `init = INITIALIZER`. `param` is not a keyword: it
/// starts this statement only when a name follows it.
ast::StmtPtr Parser::parseParam() {
  ast::Location loc = tok.loc;
  consume(); // 'param'
  ast::Name name = nameOf(tok);
  consume();
  std::string dtype;
  ast::Location dtypeLoc;
  std::vector<ast::ExprPtr> shape;
  if (!parseTensorType("parameter", name, "a parameter is declared as 'param NAME : f32[DIMS] init = INIT'",
                       dtype, dtypeLoc, shape))
    return nullptr;
  ast::ExprPtr init;
  if (tok.is(TokenKind::Identifier) && tok.spelling == "init" && !tok.startsLine) {
    consume();
    if (!consumeIf(TokenKind::Equal)) {
      reportExpected("expected '=' and an initializer after 'init'");
      return nullptr;
    }
    unsigned depth;
    if (!(init = parseExpr(depth)))
      return nullptr;
  }
  return std::make_unique<ast::ParamStmt>(loc, std::move(name), std::move(dtype), dtypeLoc, std::move(shape),
                                          std::move(init));
}

ast::StmtPtr Parser::parseAssign() {
  std::vector<ast::Name> targets{nameOf(tok)};
  consume(); // the first name
  while (tok.is(TokenKind::Comma)) {
    consume();
    if (!tok.is(TokenKind::Identifier)) {
      reportExpected("expected a name after ',' in the targets of an assignment");
      return nullptr;
    }
    targets.push_back(nameOf(tok));
    consume();
  }
  if (!tok.is(TokenKind::Equal)) {
    reportExpected("expected '=' after the targets of an assignment");
    return nullptr;
  }
  consume(); // '='
  unsigned depth;
  ast::ExprPtr value = parseExpr(depth);
  if (!value)
    return nullptr;
  ast::Location loc = targets.front().loc;
  return std::make_unique<ast::AssignStmt>(loc, std::move(targets), std::move(value));
}

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

bool Parser::checkDepth(unsigned depth, const Token &at) {
  if (depth <= kMaxExprDepth)
    return true;
  report(at.loc.loc, at.getRange(),
         "expression is nested too deeply (the limit is " + Twine(kMaxExprDepth) + " levels)");
  return false;
}

ast::ExprPtr Parser::parseExpr(unsigned &depth) { return parseBinary(Precedence::Comparison, depth); }

/// One precedence level of left-associative binary operators: comparisons (`< <= > >= == !=`) over sums,
/// `+ -` over terms, or `* /` over unary expressions.
ast::ExprPtr Parser::parseBinary(Precedence level, unsigned &depth) {
  auto operand = [&](unsigned &d) {
    return level == Precedence::Comparison ? parseBinary(Precedence::Additive, d)
           : level == Precedence::Additive ? parseBinary(Precedence::Multiplicative, d)
                                           : parseUnary(d);
  };
  auto isOperator = [&] {
    switch (level) {
    case Precedence::Comparison:
      return tok.isAny(TokenKind::Less, TokenKind::LessEqual, TokenKind::Greater, TokenKind::GreaterEqual,
                       TokenKind::EqualEqual, TokenKind::NotEqual);
    case Precedence::Additive:
      return tok.isAny(TokenKind::Plus, TokenKind::Minus);
    default:
      return tok.isAny(TokenKind::Star, TokenKind::Slash);
    }
  };
  ast::ExprPtr lhs = operand(depth);
  while (lhs && isOperator()) {
    std::string op = tok.spelling.str();
    Token opTok = tok;
    consume();
    unsigned rhsDepth;
    ast::ExprPtr rhs = operand(rhsDepth);
    if (!rhs)
      return nullptr;
    // A long chain `a + b + c + ...` builds a deep left spine without any recursion in the parser.
    depth = std::max(depth, rhsDepth) + 1;
    if (!checkDepth(depth, opTok))
      return nullptr;
    ast::Location loc = lhs->getLoc();
    lhs = std::make_unique<ast::BinaryExpr>(loc, op, std::move(lhs), std::move(rhs));
  }
  return lhs;
}

ast::ExprPtr Parser::parseUnary(unsigned &depth) {
  struct NestingScope {
    unsigned &n;
    explicit NestingScope(unsigned &n) : n(n) { ++n; }
    ~NestingScope() { --n; }
  } scope(exprNesting);
  if (!checkDepth(exprNesting, tok))
    return nullptr;

  if (!tok.is(TokenKind::Minus))
    return parsePrimary(depth);
  Token minus = tok;
  consume();
  unsigned operandDepth;
  ast::ExprPtr operand = parseUnary(operandDepth);
  if (!operand)
    return nullptr;
  depth = operandDepth + 1;
  if (!checkDepth(depth, minus))
    return nullptr;
  // The AST has no unary node: `-x` is `0 - x`, both at the minus sign.
  auto zero = std::make_unique<ast::NumberExpr>(minus.loc, 0.0, /*isInteger=*/true);
  return std::make_unique<ast::BinaryExpr>(minus.loc, "-", std::move(zero), std::move(operand));
}

ast::ExprPtr Parser::parsePrimary(unsigned &depth) {
  depth = 1;
  switch (tok.kind) {
  case TokenKind::Number: {
    // A malformed number is still a number where one belongs: report it and go on with a placeholder.
    if (!tok.error.empty())
      reportTokenError(tok);
    auto expr = std::make_unique<ast::NumberExpr>(tok.loc, tok.number, tok.isInteger);
    consume();
    return expr;
  }
  case TokenKind::String: {
    if (!tok.error.empty()) {
      reportTokenError(tok);
      if (tok.unterminated)
        return nullptr;
    }
    auto expr = std::make_unique<ast::StringExpr>(tok.loc, tok.string);
    consume();
    return expr;
  }
  case TokenKind::KwTrue:
  case TokenKind::KwFalse: {
    auto expr = std::make_unique<ast::BoolExpr>(tok.loc, tok.is(TokenKind::KwTrue));
    consume();
    return expr;
  }
  case TokenKind::Identifier: {
    if (next.is(TokenKind::LParen))
      return parseCall(depth);
    auto expr = std::make_unique<ast::IdentExpr>(tok.loc, tok.spelling.str());
    consume();
    return expr;
  }
  case TokenKind::LBracket:
    return parseList(depth);
  case TokenKind::LParen: {
    ast::Location open = tok.loc;
    consume();
    ++openDelimiters;
    ast::ExprPtr expr = parseExpr(depth);
    if (!expr)
      return nullptr;
    if (!tok.is(TokenKind::RParen)) {
      reportUnclosed("expected ')' to close the parenthesized expression", open);
      return nullptr;
    }
    consume();
    --openDelimiters;
    return expr;
  }
  default:
    reportExpected("expected an expression");
    return nullptr;
  }
}

ast::ExprPtr Parser::parseCall(unsigned &depth) {
  ast::Location loc = tok.loc;
  std::string callee = tok.spelling.str();
  consume(); // the callee
  ast::Location open = tok.loc;
  consume(); // '('
  ++openDelimiters;

  std::vector<ast::Argument> args;
  std::string firstKeyword; // the first keyword argument's name, once there is one
  llvm::StringMap<SMLoc> keywordLocs;
  bool reportedOrder = false;
  depth = 1;
  if (!tok.is(TokenKind::RParen)) {
    while (true) {
      ast::Argument arg;
      arg.loc = tok.loc;
      if (tok.is(TokenKind::Identifier) && next.is(TokenKind::Equal)) {
        arg.name = tok.spelling.str();
        auto [it, inserted] = keywordLocs.try_emplace(arg.name, tok.loc.loc);
        if (!inserted)
          report(tok.loc.loc, tok.getRange(),
                 "duplicate keyword argument '" + quoteForDiagnostic(arg.name) + "' in call to '" +
                     quoteForDiagnostic(callee) + "'",
                 Note{it->second, "'" + quoteForDiagnostic(arg.name) + "' was first given here"});
        consume(); // the keyword
        consume(); // '='
      } else if (!firstKeyword.empty() && !reportedOrder) {
        report(tok.loc.loc, SMRange(),
               "keyword argument '" + quoteForDiagnostic(firstKeyword) +
                   "' cannot be followed by positional arguments");
        reportedOrder = true;
      }
      unsigned argDepth;
      arg.value = parseExpr(argDepth);
      if (!arg.value)
        return nullptr;
      depth = std::max(depth, argDepth + 1);
      if (firstKeyword.empty())
        firstKeyword = arg.name;
      args.push_back(std::move(arg));
      if (consumeIf(TokenKind::Comma))
        continue;
      if (tok.is(TokenKind::RParen))
        break;
      reportUnclosed("expected ',' or ')' after an argument of '" + quoteForDiagnostic(callee) + "'", open);
      return nullptr;
    }
  }
  consume(); // ')'
  --openDelimiters;
  return std::make_unique<ast::CallExpr>(loc, std::move(callee), std::move(args));
}

/// `[e, e, ...]`, possibly empty.
ast::ExprPtr Parser::parseList(unsigned &depth) {
  ast::Location open = tok.loc;
  consume(); // '['
  ++openDelimiters;
  std::vector<ast::ExprPtr> elements;
  depth = 1;
  while (!tok.is(TokenKind::RBracket)) {
    unsigned elementDepth;
    ast::ExprPtr element = parseExpr(elementDepth);
    if (!element)
      return nullptr;
    depth = std::max(depth, elementDepth + 1);
    elements.push_back(std::move(element));
    if (consumeIf(TokenKind::Comma))
      continue;
    if (!tok.is(TokenKind::RBracket)) {
      reportUnclosed("expected ',' or ']' after a list element", open);
      return nullptr;
    }
  }
  consume(); // ']'
  --openDelimiters;
  return std::make_unique<ast::ListExpr>(open, std::move(elements));
}

//===----------------------------------------------------------------------===//
// Entry point
//===----------------------------------------------------------------------===//

std::unique_ptr<ast::Model> attn::parseModel(llvm::SourceMgr &sourceMgr, StringRef fileName,
                                             unsigned maxErrors) {
  if (sourceMgr.getNumBuffers() == 0) {
    sourceMgr.PrintMessage(SMLoc(), llvm::SourceMgr::DK_Error, "no source to parse");
    return nullptr;
  }
  Parser parser(sourceMgr, sourceMgr.getMainFileID(), maxErrors);
  return parser.parseFile(fileName);
}
