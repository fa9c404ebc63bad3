// Registration of the attn dialect and its ops.
#include "attn/Dialect/AttnDialect.h"
#include "attn/Dialect/AttnOps.h"

using namespace mlir;
using namespace mlir::attn;

#include "attn/Dialect/AttnDialect.cpp.inc"

void AttnDialect::initialize() {
  addOperations<
#define GET_OP_LIST
#include "attn/Dialect/AttnOps.cpp.inc"
      >();
}
