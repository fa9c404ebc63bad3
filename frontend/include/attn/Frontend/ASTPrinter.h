// Prints the AST as an indented tree, one node per line with its `@line:col`, for `attnc --emit=ast`. The
// format is what the frontend's lit tests check, so it changes only deliberately.
#ifndef ATTN_FRONTEND_ASTPRINTER_H
#define ATTN_FRONTEND_ASTPRINTER_H

#include "attn/Frontend/AST.h"

#include "llvm/Support/raw_ostream.h"

namespace attn {

void printAST(const ast::Model &model, llvm::raw_ostream &os);

} // namespace attn

#endif // ATTN_FRONTEND_ASTPRINTER_H
