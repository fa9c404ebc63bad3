//===- AttnDialect.td - the attn dialect -------------------------------*- tablegen -*-===//
//
// The attn dialect holds attention networks at three levels: layer ops that mirror the model language,
// primitive ops that layers decompose into, and kernel regions that fusion forms and Halide compiles.
//
//===----------------------------------------------------------------------------------===//

#ifndef ATTN_DIALECT_TD
#define ATTN_DIALECT_TD

include "mlir/IR/OpBase.td"

def Attn_Dialect : Dialect {
  let name = "attn";
  let cppNamespace = "::mlir::attn";
  let summary = "Attention networks: layers, primitives and fused kernels";
  let description = [{
    Ops work on builtin ranked tensors whose dimensions may be dynamic (batch and sequence lengths stay
    dynamic until run time). Parameters are named `attn.param` values whose names are the keys of the
    weight file. See docs/dialect.md.
  }];
  let dependentDialects = ["::mlir::func::FuncDialect"];
}

class Attn_Op<string mnemonic, list<Trait> traits = []> : Op<Attn_Dialect, mnemonic, traits>;

#endif // ATTN_DIALECT_TD
