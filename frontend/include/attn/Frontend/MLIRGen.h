// MLIRGen: checks a parsed model (names, argument lists, symbolic shapes) and emits it as attn dialect IR.
#ifndef ATTN_FRONTEND_MLIRGEN_H
#define ATTN_FRONTEND_MLIRGEN_H

#include "attn/Frontend/AST.h"

#include "mlir/IR/BuiltinOps.h"
#include "mlir/IR/OwningOpRef.h"

namespace attn {

/// Emits `model` as a module with one func.func named after it. Every error is reported as an MLIR
/// diagnostic located at the offending source; returns null if there was any.
mlir::OwningOpRef<mlir::ModuleOp> mlirGen(mlir::MLIRContext &context, const ast::Model &model);

} // namespace attn

#endif // ATTN_FRONTEND_MLIRGEN_H
