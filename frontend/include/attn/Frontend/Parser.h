// The parser of .attn model files: a recursive-descent parser over the Lexer's tokens that builds the AST and
// reports every syntax error it finds as a `file:line:col` diagnostic through llvm::SourceMgr. It recovers at
// statement boundaries, so that one run shows all the independent mistakes in a file, and it is hardened
// against hostile input (nesting and error counts are capped), because a model file is user input.
#ifndef ATTN_FRONTEND_PARSER_H
#define ATTN_FRONTEND_PARSER_H

#include "attn/Frontend/AST.h"

#include "llvm/ADT/StringRef.h"
#include "llvm/Support/SourceMgr.h"

#include <memory>

namespace attn {

/// Parses the main buffer of `sourceMgr` as one model. Reports every error through `sourceMgr`; returns
/// nullptr if any error was reported. `fileName` is stored in ast::Model::file. After `maxErrors` errors it
/// adds the note "too many errors, stopping" and gives up; 0 means no limit.
std::unique_ptr<ast::Model> parseModel(llvm::SourceMgr &sourceMgr, llvm::StringRef fileName,
                                       unsigned maxErrors = 20);

} // namespace attn

#endif // ATTN_FRONTEND_PARSER_H
