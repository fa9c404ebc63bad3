// The abstract syntax tree of a .attn model file. Every node carries the location of its first token so that
// every later diagnostic, in the frontend or in MLIR, can point at the source.
#ifndef ATTN_FRONTEND_AST_H
#define ATTN_FRONTEND_AST_H

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SMLoc.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace attn::ast {

struct Location {
  unsigned line = 0;
  unsigned col = 0;
  llvm::SMLoc loc; // points into the SourceMgr buffer, for caret diagnostics
};

//===----------------------------------------------------------------------===//
// Expressions
//===----------------------------------------------------------------------===//

class Expr {
public:
  enum class Kind { Number, Bool, String, Ident, Call, Binary, List };
  Expr(Kind kind, Location loc) : kind(kind), loc(loc) {}
  virtual ~Expr() = default;
  Kind getKind() const { return kind; }
  const Location &getLoc() const { return loc; }

private:
  Kind kind;
  Location loc;
};
using ExprPtr = std::unique_ptr<Expr>;

/// An integer (`64`) or real (`1e-3`, `0.5`) literal.
class NumberExpr : public Expr {
public:
  NumberExpr(Location loc, double value, bool isInteger)
      : Expr(Kind::Number, loc), value(value), integer(isInteger) {}
  double getValue() const { return value; }
  bool isInteger() const { return integer; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Number; }

private:
  double value;
  bool integer;
};

class BoolExpr : public Expr {
public:
  BoolExpr(Location loc, bool value) : Expr(Kind::Bool, loc), value(value) {}
  bool getValue() const { return value; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Bool; }

private:
  bool value;
};

/// A double-quoted string literal; the value has its quotes removed.
class StringExpr : public Expr {
public:
  StringExpr(Location loc, std::string value) : Expr(Kind::String, loc), value(std::move(value)) {}
  llvm::StringRef getValue() const { return value; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::String; }

private:
  std::string value;
};

/// A reference to a dimension, constant, input or earlier binding.
class IdentExpr : public Expr {
public:
  IdentExpr(Location loc, std::string name) : Expr(Kind::Ident, loc), name(std::move(name)) {}
  llvm::StringRef getName() const { return name; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Ident; }

private:
  std::string name;
};

/// One argument of a call: positional (`name` empty) or keyword (`heads = 4`).
struct Argument {
  std::string name;
  Location loc; // of the keyword if present, else of the value
  ExprPtr value;
};

/// A layer call: `dense(x, 64, bias = false)`.
class CallExpr : public Expr {
public:
  CallExpr(Location loc, std::string callee, std::vector<Argument> args)
      : Expr(Kind::Call, loc), callee(std::move(callee)), args(std::move(args)) {}
  llvm::StringRef getCallee() const { return callee; }
  const std::vector<Argument> &getArgs() const { return args; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Call; }

private:
  std::string callee;
  std::vector<Argument> args;
};

/// A bracketed list of expressions: `[B, S, 4, -1]` (a shape) or `[0, 2, 1]`.
class ListExpr : public Expr {
public:
  ListExpr(Location loc, std::vector<ExprPtr> elements)
      : Expr(Kind::List, loc), elements(std::move(elements)) {}
  const std::vector<ExprPtr> &getElements() const { return elements; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::List; }

private:
  std::vector<ExprPtr> elements;
};

/// A binary operation; `op` is one of + - * / (and `neg` is written as 0 - x by the parser) or a comparison,
/// < <= > >= == !=.
class BinaryExpr : public Expr {
public:
  BinaryExpr(Location loc, std::string op, ExprPtr lhs, ExprPtr rhs)
      : Expr(Kind::Binary, loc), op(std::move(op)), lhs(std::move(lhs)), rhs(std::move(rhs)) {}
  llvm::StringRef getOp() const { return op; }
  bool isComparison() const { return op != "+" && op != "-" && op != "*" && op != "/"; }
  const Expr &getLHS() const { return *lhs; }
  const Expr &getRHS() const { return *rhs; }
  static bool classof(const Expr *e) { return e->getKind() == Kind::Binary; }

private:
  std::string op;
  ExprPtr lhs, rhs;
};

//===----------------------------------------------------------------------===//
// Statements
//===----------------------------------------------------------------------===//

class Stmt {
public:
  enum class Kind { Dim, Const, Input, Param, Assign, Output, Block, Decoder, Train };
  Stmt(Kind kind, Location loc) : kind(kind), loc(loc) {}
  virtual ~Stmt() = default;
  Kind getKind() const { return kind; }
  const Location &getLoc() const { return loc; }

private:
  Kind kind;
  Location loc;
};
using StmtPtr = std::unique_ptr<Stmt>;

struct Name {
  std::string name;
  Location loc;
};

/// `dim B, S`: symbolic dimensions whose sizes are bound at run time from the inputs.
class DimStmt : public Stmt {
public:
  DimStmt(Location loc, std::vector<Name> names) : Stmt(Kind::Dim, loc), names(std::move(names)) {}
  const std::vector<Name> &getNames() const { return names; }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Dim; }

private:
  std::vector<Name> names;
};

/// `train { loss = ce }`: how the model trains; each setting is `NAME = expression`.
class TrainStmt : public Stmt {
public:
  struct Setting {
    Name name;
    ExprPtr value;
  };
  TrainStmt(Location loc, std::vector<Setting> settings)
      : Stmt(Kind::Train, loc), settings(std::move(settings)) {}
  const std::vector<Setting> &getSettings() const { return settings; }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Train; }

private:
  std::vector<Setting> settings;
};

/// `const D = 64, H = D / 16`: compile-time constants.
class ConstStmt : public Stmt {
public:
  struct Def {
    Name name;
    ExprPtr value;
  };
  ConstStmt(Location loc, std::vector<Def> defs) : Stmt(Kind::Const, loc), defs(std::move(defs)) {}
  const std::vector<Def> &getDefs() const { return defs; }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Const; }

private:
  std::vector<Def> defs;
};

/// `vocab "letters.vocab"` after an input or output: the file of its tokens, one per line, line n for id n.
struct VocabRef {
  std::string path;
  Location loc;
};

/// `input x : f32[B, S, D]`, or `input src : i32[B, S] vocab "letters.vocab"`. Each dimension is an
/// expression over dims and consts.
class InputStmt : public Stmt {
public:
  InputStmt(Location loc, Name name, std::string dtype, Location dtypeLoc, std::vector<ExprPtr> shape,
            std::optional<VocabRef> vocab)
      : Stmt(Kind::Input, loc), name(std::move(name)), dtype(std::move(dtype)), dtypeLoc(dtypeLoc),
        shape(std::move(shape)), vocab(std::move(vocab)) {}
  const Name &getName() const { return name; }
  llvm::StringRef getDType() const { return dtype; }
  const Location &getDTypeLoc() const { return dtypeLoc; }
  const std::vector<ExprPtr> &getShape() const { return shape; }
  const std::optional<VocabRef> &getVocab() const { return vocab; }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Input; }

private:
  Name name;
  std::string dtype;
  Location dtypeLoc;
  std::vector<ExprPtr> shape;
  std::optional<VocabRef> vocab;
};

/// `param W1 : f32[U, D] init = glorot_uniform`: a trained parameter declared by name, at the top level or
/// in a block (where each call has its own, `<call>.W1`). `init` is null when the statement has none.
class ParamStmt : public Stmt {
public:
  ParamStmt(Location loc, Name name, std::string dtype, Location dtypeLoc, std::vector<ExprPtr> shape,
            ExprPtr init)
      : Stmt(Kind::Param, loc), name(std::move(name)), dtype(std::move(dtype)), dtypeLoc(dtypeLoc),
        shape(std::move(shape)), init(std::move(init)) {}
  const Name &getName() const { return name; }
  llvm::StringRef getDType() const { return dtype; }
  const Location &getDTypeLoc() const { return dtypeLoc; }
  const std::vector<ExprPtr> &getShape() const { return shape; }
  const Expr *getInit() const { return init.get(); }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Param; }

private:
  Name name;
  std::string dtype;
  Location dtypeLoc;
  std::vector<ExprPtr> shape;
  ExprPtr init;
};

/// `q = dense(x, D)`, or `ctx, w = dot_attention(...)` for a layer with several results.
class AssignStmt : public Stmt {
public:
  AssignStmt(Location loc, std::vector<Name> targets, ExprPtr value)
      : Stmt(Kind::Assign, loc), targets(std::move(targets)), value(std::move(value)) {}
  const Name &getTarget() const { return targets.front(); }
  const std::vector<Name> &getTargets() const { return targets; }
  const Expr &getValue() const { return *value; }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Assign; }

private:
  std::vector<Name> targets;
  ExprPtr value;
};

/// `output y, w`: the bindings the compiled program writes out; a token output may name its vocabulary
/// (`output phonemes vocab "phonemes.vocab", attention`). `vocabs` runs parallel to `names`.
class OutputStmt : public Stmt {
public:
  OutputStmt(Location loc, std::vector<Name> names, std::vector<std::optional<VocabRef>> vocabs)
      : Stmt(Kind::Output, loc), names(std::move(names)), vocabs(std::move(vocabs)) {}
  const std::vector<Name> &getNames() const { return names; }
  const std::vector<std::optional<VocabRef>> &getVocabs() const { return vocabs; }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Output; }

private:
  std::vector<Name> names;
  std::vector<std::optional<VocabRef>> vocabs;
};

/// `block NAME(a, b) { ... return y }` (or `return y, w`): a reusable sub-network, expanded at each call
/// with its own parameters.
class BlockStmt : public Stmt {
public:
  BlockStmt(Location loc, Name name, std::vector<Name> params, std::vector<StmtPtr> body,
            std::vector<Name> results)
      : Stmt(Kind::Block, loc), name(std::move(name)), params(std::move(params)), body(std::move(body)),
        results(std::move(results)) {}
  const Name &getName() const { return name; }
  const std::vector<Name> &getParams() const { return params; }
  const std::vector<StmtPtr> &getBody() const { return body; }
  /// What `return a, b` names: one tensor or several (then called as `x, y = block(...)`).
  const std::vector<Name> &getResults() const { return results; }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Block; }

private:
  Name name;
  std::vector<Name> params;
  std::vector<StmtPtr> body;
  std::vector<Name> results;
};

/// `decoder NAME(y) carries (h = init, ...) { ... emit a, b }`: the step of a decoding loop. `y` is the
/// previous token; each carried name starts from its initial value and is updated by an assignment in the
/// body; the emitted values (scores first) are what the loop collects per step.
class DecoderStmt : public Stmt {
public:
  struct Carried {
    Name name;
    ExprPtr init;
  };
  DecoderStmt(Location loc, Name name, Name token, std::optional<Name> position, std::vector<Carried> carries,
              std::vector<StmtPtr> body, std::vector<Name> emits)
      : Stmt(Kind::Decoder, loc), name(std::move(name)), token(std::move(token)),
        position(std::move(position)), carries(std::move(carries)), body(std::move(body)),
        emits(std::move(emits)) {}
  const Name &getName() const { return name; }
  const Name &getToken() const { return token; }
  /// The name of the step's position (`decoder step(y, t)`), if it has one.
  const std::optional<Name> &getPosition() const { return position; }
  const std::vector<Carried> &getCarries() const { return carries; }
  const std::vector<StmtPtr> &getBody() const { return body; }
  const std::vector<Name> &getEmits() const { return emits; }
  static bool classof(const Stmt *s) { return s->getKind() == Kind::Decoder; }

private:
  Name name, token;
  std::optional<Name> position;
  std::vector<Carried> carries;
  std::vector<StmtPtr> body;
  std::vector<Name> emits;
};

/// `model NAME { ... }`: one per file.
struct Model {
  Name name;
  std::string file;
  std::vector<StmtPtr> body;
};

} // namespace attn::ast

#endif // ATTN_FRONTEND_AST_H
