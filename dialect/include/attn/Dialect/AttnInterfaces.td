//===- AttnInterfaces.td - interfaces of attn ops ------------------------*- tablegen -*-===//
//
// Every computing attn op says where each dimension of its result comes from: a dimension of one of its
// operands, or a constant. That single fact drives shape inference at compile time and the computation of
// dynamic shapes at run time, so the two can never disagree. Ops that draw random numbers in training say
// so through a second interface.
//
//===----------------------------------------------------------------------------------===//

#ifndef ATTN_INTERFACES_TD
#define ATTN_INTERFACES_TD

include "mlir/IR/OpBase.td"

def Attn_ShapedOpInterface : OpInterface<"ShapedOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An op whose ranked-tensor results have dimensions that are each either a dimension of an operand or a
    constant. `getResultDimSources` lists one `DimSource` per dimension of the first result, outermost
    first; further results (an LSTM cell's cell state and gates, a recurrence's `steps`) have its rank and
    take their dynamic dimensions from the same sources, their static ones from their types.
  }];
  let methods = [
    InterfaceMethod<"Returns where each dimension of the result comes from, outermost first.",
      "::llvm::SmallVector<::mlir::attn::DimSource>", "getResultDimSources">,
  ];
  let extraClassDeclaration = [{
    /// The result type implied by the operand types: each dimension is the source operand's dimension
    /// (static or dynamic) or the constant.
    ::mlir::RankedTensorType inferResultType();
  }];
}

def Attn_RandomOpInterface : OpInterface<"RandomOpInterface"> {
  let cppNamespace = "::mlir::attn";
  let description = [{
    An op that draws random numbers in training and is the identity everywhere else (dropout, random
    shifts). attn-autodiff gives those of a gradient function its seed input (`attn.dropout_seed`, i32 [6])
    and removes them from every other function.
  }];
  let methods = [InterfaceMethod<"Returns the tensor the op passes through unchanged outside training.",
                                 "::mlir::Value", "getInput">,
                 InterfaceMethod<"Returns the seed operand, empty outside a gradient function.",
                                 "::mlir::MutableOperandRange", "getSeedMutable">,
  ];
}

#endif // ATTN_INTERFACES_TD
