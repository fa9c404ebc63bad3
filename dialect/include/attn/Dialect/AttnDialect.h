// The attn dialect class.
#ifndef ATTN_DIALECT_ATTNDIALECT_H
#define ATTN_DIALECT_ATTNDIALECT_H

#include "mlir/Dialect/Func/IR/FuncOps.h"
#include "mlir/IR/Dialect.h"

#include "attn/Dialect/AttnDialect.h.inc"

#endif // ATTN_DIALECT_ATTNDIALECT_H
