//===- AttnOps.td - attn dialect operations ----------------------------*- tablegen -*-===//
//
// The ops of the attn dialect, in three groups: layer ops (what the model language writes), primitive ops
// (what layers decompose into) and the kernel region that fusion forms; gradient primitives and the ops
// that draw random numbers in training are in files of their own. Verifiers live in dialect/lib:
// AttnOps.cpp, AttnConvOps.cpp (the convolutional layers) and AttnRegionOps.cpp (kernels and decoders).
//
//===----------------------------------------------------------------------------------===//

#ifndef ATTN_OPS_TD
#define ATTN_OPS_TD

include "attn/Dialect/AttnDialect.td"
include "attn/Dialect/AttnInterfaces.td"
include "mlir/IR/OpAsmInterface.td"
include "mlir/Interfaces/InferTypeOpInterface.td"
include "mlir/IR/RegionKindInterface.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Attn_F32Tensor : RankedTensorOf<[F32]>;
def Attn_I32Tensor : RankedTensorOf<[I32]>;
def Attn_ValueTensor : RankedTensorOf<[F32, I32]>; // what a kernel yields: f32 values, or argmax's indices

// An op that only moves or selects elements: lookups, concatenation, unit dimensions added or removed,
// reshapes, transposes, slices. Fusion inlines such ops into the kernels that read (or produce) them.
def Attn_Reindexing : NativeOpTrait<"Reindexing"> {
  let cppNamespace = "::mlir::attn";
}

// An op computed element by element: each result element reads its operands' elements at its position
// (a broadcasting binary op reads an operand at index 0 along the dimensions it repeats) or its channel's
// entry (batch_norm in inference: a per-channel affine map). A chain of such ops costs no pass over memory
// of its own: attn-outline-kernels fuses it into the kernel of the op that feeds it, and the Halide lowering
// schedules it with that op where the result keeps the first operand's shape. MLIR's own Elementwise trait
// does not fit: it verifies that all operands have one shape, which broadcasting and batch_norm's [C]
// parameters do not.
def Attn_Elementwise : NativeOpTrait<"Elementwise"> {
  let cppNamespace = "::mlir::attn";
}

// A computing op: pure, one f32 result, shape given by ShapedOpInterface, verifier in C++.
class Attn_ComputeOp<string mnemonic, list<Trait> traits = []>
    : Attn_Op<mnemonic, !listconcat(traits, [Pure, DeclareOpInterfaceMethods<Attn_ShapedOpInterface>])> {
  let results = (outs Attn_F32Tensor:$result);
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Parameters
//===----------------------------------------------------------------------===//

def Attn_ParamOp : Attn_Op<"param", [Pure]> {
  let summary = "a named, trained parameter";
  let description = [{
    A parameter of the model, loaded from the weight file under key `name`. Its shape is static.
    `init` says how `init` and training from scratch draw it when it is not `uniform_fan_in` (uniform in
    ±1/√fan_in, fan_in the product of all dimensions but the first): `glorot_uniform` (uniform in
    ±√(6 / (fan_in + fan_out)), fan_out the first dimension times the receptive field), `zeros`, `ones`,
    `normal` (mean 0, standard deviation `init_scale`) or `uniform` (in ±`init_scale`).

    ```mlir
    %w = attn.param "q.weight" : tensor<32x32xf32>
    %v = attn.param "attend.v" {init = "normal", init_scale = 0.02 : f64} : tensor<64xf32>
    ```
  }];
  let arguments = (ins StrAttr:$name, OptionalAttr<StrAttr>:$init, OptionalAttr<F64Attr>:$init_scale);
  let results = (outs Attn_F32Tensor:$result);
  let assemblyFormat = "$name attr-dict `:` type($result)";
  let builders = [OpBuilder<(ins "Type":$type, "StringAttr":$name),
                            [{ build($_builder, $_state, type, name, StringAttr(), FloatAttr()); }]>];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Layer ops
//===----------------------------------------------------------------------===//

def Attn_DenseOp : Attn_ComputeOp<"dense"> {
  let summary = "affine map over the last dimension: y = x·Wᵀ + b";
  let description = [{
    `weight` has shape [N, K] (as torch.nn.Linear) and `bias`, if present, [N]. The input's last dimension
    is K; the result has the input's leading dimensions and N as its last. With `transposed_weight` the
    weight is given as [K, N] (attn-transpose-step-weights: a decoder step's weight transposed once
    before the loop instead of inside every step's kernel).

    ```mlir
    %y = attn.dense %x, %w, %b : (tensor<?x?x32xf32>, tensor<64x32xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$weight, Optional<Attn_F32Tensor>:$bias,
                       UnitAttr:$transposed_weight);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Attn_EmbeddingOp : Attn_ComputeOp<"embedding", [Attn_Reindexing]> {
  let summary = "looks up token ids in an embedding table";
  let description = [{
    For token ids [d1, ..., dn] (i32) and a table [V, E], the result is [d1, ..., dn, E]: row `id` of the
    table for each id, as torch.nn.Embedding. Ids outside [0, V) are rejected by the runtime before any
    kernel runs (the model function's `attn.vocab_size` argument attribute).

    ```mlir
    %e = attn.embedding %tokens, %table : (tensor<?x?xi32>, tensor<32x64xf32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_I32Tensor:$tokens, Attn_F32Tensor:$table);
  let assemblyFormat = "$tokens `,` $table attr-dict `:` functional-type(operands, results)";
}

def Attn_ConcatOp : Attn_ComputeOp<"concat", [Attn_Reindexing]> {
  let summary = "joins two tensors along their last dimension";
  let description = [{
    [..., A] and [..., B] with the same leading dimensions give [..., A + B]; A and B are static.

    ```mlir
    %y = attn.concat %a, %b : (tensor<?x?x64xf32>, tensor<?x?x32xf32>) -> tensor<?x?x96xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$lhs, Attn_F32Tensor:$rhs);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

// The verifier and dimension sources of an elementwise op of the unary and binary classes, the same for
// all: the result has the shape of the first operand (read by `accessor`). The helpers are those of
// dialect/lib/OpHelpers.h, which AttnOps.cpp includes before the op definitions.
class Attn_ElementwiseDefinitions<string accessor> {
  code definitions = [{
    ::llvm::LogicalResult $cppClass::verify() { return ::mlir::attn::detail::verifyResultShape(*this); }
    ::llvm::SmallVector<::mlir::attn::DimSource> $cppClass::getResultDimSources() {
      return ::mlir::attn::detail::identityDims(}] # accessor # [{());
    }
  }];
}

class Attn_UnaryOp<string mnemonic, string formula>
    : Attn_ComputeOp<mnemonic, [SameOperandsAndResultType, Attn_Elementwise]> {
  let summary = "elementwise " # formula;
  let description = "Applies " # formula # " to every element.\n\n```mlir\n%y = attn." # mnemonic #
                    " %x : tensor<?x64xf32>\n```";
  let arguments = (ins Attn_F32Tensor:$input);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let extraClassDefinition = Attn_ElementwiseDefinitions<"getInput">.definitions;
}

def Attn_ReluOp : Attn_UnaryOp<"relu", "max(x, 0)">;
def Attn_TanhOp : Attn_UnaryOp<"tanh", "tanh(x)">;
def Attn_SigmoidOp : Attn_UnaryOp<"sigmoid", "1 / (1 + exp(-x))">;
def Attn_GeluOp : Attn_UnaryOp<"gelu", "x·Φ(x) = x/2 · (1 + erf(x/√2)) (the exact GELU)">;

def Attn_ExpOp : Attn_UnaryOp<"exp", "eˣ">;
def Attn_LogOp : Attn_UnaryOp<"log", "ln x">;
def Attn_SqrtOp : Attn_UnaryOp<"sqrt", "√x">;
def Attn_RsqrtOp : Attn_UnaryOp<"rsqrt", "1 / √x">;
def Attn_AbsOp : Attn_UnaryOp<"abs", "|x|">;
def Attn_NegOp : Attn_UnaryOp<"neg", "−x">;

class Attn_BinaryOp<string mnemonic, string formula> : Attn_ComputeOp<mnemonic, [Attn_Elementwise]> {
  let summary = "elementwise "#formula#", broadcasting";
  let description = "Computes "#formula#" element by element under NumPy's broadcasting: the shapes are "
                    "aligned at their last dimensions; a dimension an operand lacks (a leading one) or has "
                    "as a static 1 repeats along the other operand's. A dynamic dimension meets a dynamic "
                    "one of the same size, a 1, or a static size it must have at run time.\n\n"
                    "```mlir\n%y = attn."#mnemonic#" %a, %b : tensor<?x?x32xf32>\n"
                    "%z = attn."#mnemonic#" %a, %w : (tensor<?x1x32xf32>, tensor<?x32xf32>) -> "
                    "tensor<?x?x32xf32>\n```";
  let arguments = (ins Attn_F32Tensor:$lhs, Attn_F32Tensor:$rhs);
  let assemblyFormat =
      "$lhs `,` $rhs attr-dict `:` custom<BroadcastTypes>(type($lhs), type($rhs), type($result))";
  let builders = [OpBuilder<(ins "::mlir::Value":$lhs, "::mlir::Value":$rhs), [{
    build($_builder, $_state, ::mlir::attn::broadcastType(lhs.getType(), rhs.getType()), lhs, rhs);
  }]>];
  let extraClassDefinition = [{
    ::llvm::LogicalResult $cppClass::verify() { return ::mlir::attn::detail::verifyBroadcast(*this); }
    ::llvm::SmallVector<::mlir::attn::DimSource> $cppClass::getResultDimSources() {
      return ::mlir::attn::detail::broadcastDims(getLhs(), getRhs());
    }
  }];
}

def Attn_AddOp : Attn_BinaryOp<"add", "a + b">;
def Attn_SubOp : Attn_BinaryOp<"sub", "a − b">;
def Attn_MulOp : Attn_BinaryOp<"mul", "a · b">;
def Attn_DivOp : Attn_BinaryOp<"div", "a / b">;

def Attn_MaximumOp : Attn_BinaryOp<"maximum", "max(a, b)">;
def Attn_MinimumOp : Attn_BinaryOp<"minimum", "min(a, b)">;

// Comparisons make masks: 1 where the relation holds, else 0 (f32, so that masks multiply and select).
def Attn_LessOp : Attn_BinaryOp<"less", "a < b (1 or 0)">;
def Attn_LessEqualOp : Attn_BinaryOp<"less_equal", "a ≤ b (1 or 0)">;
def Attn_GreaterOp : Attn_BinaryOp<"greater", "a > b (1 or 0)">;
def Attn_GreaterEqualOp : Attn_BinaryOp<"greater_equal", "a ≥ b (1 or 0)">;
def Attn_EqualOp : Attn_BinaryOp<"equal", "a = b (1 or 0)">;
def Attn_NotEqualOp : Attn_BinaryOp<"not_equal", "a ≠ b (1 or 0)">;

def Attn_PowOp : Attn_ComputeOp<"pow", [SameOperandsAndResultType, Attn_Elementwise]> {
  let summary = "elementwise xᶜ for a constant exponent c";
  let description = [{
    ```mlir
    %y = attn.pow %x {exponent = 2.0 : f32} : tensor<?x64xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, F32Attr:$exponent);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let extraClassDefinition = Attn_ElementwiseDefinitions<"getInput">.definitions;
}

def Attn_SelectOp : Attn_ComputeOp<"select", [Attn_Elementwise]> {
  let summary = "elementwise choice: a where the condition is not 0, else b, broadcasting";
  let description = [{
    `a` and `b` broadcast as in attn.add and the result has their broadcast shape; `condition` (a mask from
    a comparison, or any f32 tensor) broadcasts to that shape without enlarging it. The language's
    `where(mask, a, b)`.

    ```mlir
    %y = attn.select %m, %x, %z : (tensor<?x?x1xf32>, tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$condition, Attn_F32Tensor:$lhs, Attn_F32Tensor:$rhs);
  let assemblyFormat = "$condition `,` $lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
  let extraClassDefinition = [{
    ::llvm::SmallVector<::mlir::attn::DimSource> $cppClass::getResultDimSources() {
      auto dims = ::mlir::attn::detail::broadcastDims(getLhs(), getRhs());
      for (::mlir::attn::DimSource &d : dims)
        if (!d.isConstant())
          ++d.operand; // lhs and rhs are operands 1 and 2
      return dims;
    }
  }];
}

def Attn_ArgmaxOp : Attn_ComputeOp<"argmax"> {
  let summary = "the index of the largest element along one dimension (i32), the dimension removed";
  let description = [{
    The first index where the maximum is reached, as numpy.argmax and torch.argmax. Not differentiable.

    ```mlir
    %i = attn.argmax %x {axis = 2 : i64} : (tensor<?x?x40xf32>) -> tensor<?x?xi32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, I64Attr:$axis);
  let results = (outs Attn_I32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
  let hasVerifier = 1;
}

def Attn_ConstantOp : Attn_ComputeOp<"constant", [Attn_Reindexing]> {
  let summary = "a scalar: a rank-0 tensor holding `value`";
  let description = [{
    Operands of arithmetic that are numbers in the model file: broadcast against the other operand, it joins
    the kernel of the op that reads it.

    ```mlir
    %half = attn.constant {value = 5.0e-1 : f32} : tensor<f32>
    ```
  }];
  let arguments = (ins F32Attr:$value);
  let assemblyFormat = "attr-dict `:` type($result)";
}

def Attn_SoftmaxOp : Attn_ComputeOp<"softmax", [SameOperandsAndResultType]> {
  let summary = "softmax over the last dimension";
  let description = [{
    ```mlir
    %p = attn.softmax %x : tensor<?x?x10xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Attn_MatmulOp : Attn_ComputeOp<"matmul"> {
  let summary = "batched matrix product, broadcasting over the leading dimensions";
  let description = [{
    `lhs` [..., M, K] times `rhs` [..., K, N] (or [..., N, K] with `transpose_b`) gives [..., M, N]. The
    dimensions before the last two broadcast as in attn.add; K may be dynamic but must agree.

    ```mlir
    %s = attn.matmul %q, %k {transpose_b} : (tensor<?x?x64xf32>, tensor<?x?x64xf32>) -> tensor<?x?x?xf32>
    %y = attn.matmul %x, %w : (tensor<?x?x64xf32>, tensor<64x32xf32>) -> tensor<?x?x32xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$lhs, Attn_F32Tensor:$rhs, UnitAttr:$transpose_b);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Attn_ExpandDimsOp : Attn_ComputeOp<"expand_dims", [Attn_Reindexing]> {
  let summary = "inserts a dimension of size 1";
  let description = [{
    ```mlir
    %y = attn.expand_dims %x {axis = 1 : i64} : (tensor<?x32xf32>) -> tensor<?x1x32xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, I64Attr:$axis);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_SqueezeOp : Attn_ComputeOp<"squeeze", [Attn_Reindexing]> {
  let summary = "removes a dimension of size 1";
  let description = [{
    ```mlir
    %y = attn.squeeze %x {axis = 1 : i64} : (tensor<?x1x32xf32>) -> tensor<?x32xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, I64Attr:$axis);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_ReshapeOp : Attn_ComputeOp<"reshape", [Attn_Reindexing]> {
  let summary = "reinterprets the elements in row-major order under a new shape";
  let description = [{
    The result holds the input's elements in the same row-major order. Both shapes have the same number of
    dynamic dimensions, which correspond in order (the i-th `?` of the result is the i-th `?` of the
    input), and the products of their static dimensions are equal.

    ```mlir
    %y = attn.reshape %x : (tensor<?x?x64xf32>) -> tensor<?x?x4x16xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_TransposeOp : Attn_ComputeOp<"transpose", [Attn_Reindexing]> {
  let summary = "permutes dimensions";
  let description = [{
    Result dimension i is input dimension `permutation[i]`:
    `y[i0, …, in] = x[j…]` with `j[permutation[k]] = ik`.

    ```mlir
    %y = attn.transpose %x {permutation = array<i64: 0, 2, 1, 3>}
        : (tensor<?x?x4x16xf32>) -> tensor<?x4x?x16xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, DenseI64ArrayAttr:$permutation);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_SliceOp : Attn_ComputeOp<"slice", [Attn_Reindexing]> {
  let summary = "a contiguous range of one static dimension";
  let description = [{
    `y = x[..., start : start + size, ...]` along `axis`, whose extent is static. The language's `split`
    becomes one slice per part.

    ```mlir
    %k = attn.slice %qkv {axis = 2 : i64, start = 64 : i64, size = 64 : i64}
        : (tensor<?x?x192xf32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, I64Attr:$axis, I64Attr:$start, I64Attr:$size);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_ReduceOp : Attn_ComputeOp<"reduce"> {
  let summary = "sum, mean, maximum or minimum along one dimension, kept with size 1";
  let description = [{
    `kind` is "sum", "mean", "max" or "min"; the dimension may be dynamic. CBAM's spatial attention reduces
    over channels:

    ```mlir
    %m = attn.reduce %x {axis = 1 : i64, kind = "max"} : (tensor<?x16x8x8xf32>) -> tensor<?x1x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, I64Attr:$axis, StrAttr:$kind);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_BroadcastOp : Attn_ComputeOp<"broadcast", [Attn_Reindexing]> {
  let summary = "repeats the size-1 dimensions of a tensor to the shape of another";
  let description = [{
    `input` and `like` have the same rank; each dimension of `input` is 1 or equal to `like`'s. The result
    has `like`'s shape (only its shape is read), so that elementwise ops can scale a feature map by
    per-channel or per-position weights.

    ```mlir
    %s = attn.broadcast %w, %x : (tensor<?x16x1x1xf32>, tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$like);
  let assemblyFormat = "$input `,` $like attr-dict `:` functional-type(operands, results)";
}

def Attn_CrossEntropyOp : Attn_ComputeOp<"cross_entropy"> {
  let summary = "mean cross-entropy of logits against target ids, with padding and label smoothing";
  let description = [{
    For logits [..., V] and targets [...] (i32, the same leading dimensions), each position i with
    t_i ≠ ignore_index contributes −(1 − ε)·log p_i[t_i] − (ε / V)·Σ_v log p_i[v], p_i = softmax(logits_i);
    the result (a scalar) is their mean over the positions counted, as torch.nn.functional.cross_entropy
    with `ignore_index` and `label_smoothing` = ε. With no position counted it is 0.

    ```mlir
    %l = attn.cross_entropy %logits, %targets {ignore_index = 0 : i64, label_smoothing = 1.0e-1 : f32}
        : (tensor<?x?x42xf32>, tensor<?x?xi32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$logits, Attn_I32Tensor:$targets, OptionalAttr<I64Attr>:$ignore_index,
                       F32Attr:$label_smoothing);
  let assemblyFormat = "$logits `,` $targets attr-dict `:` functional-type(operands, results)";
}

def Attn_MseOp : Attn_ComputeOp<"mse"> {
  let summary = "mean squared error of two tensors of one shape";
  let description = [{
    mean((a − b)²) over all elements, a scalar, as torch.nn.functional.mse_loss.

    ```mlir
    %l = attn.mse %a, %b : (tensor<?x10xf32>, tensor<?x10xf32>) -> tensor<f32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$lhs, Attn_F32Tensor:$rhs);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Attn_LogSoftmaxOp : Attn_ComputeOp<"log_softmax", [SameOperandsAndResultType]> {
  let summary = "log-softmax over the last dimension";
  let description = [{
    x - max(x) - log(Σ exp(x - max(x))) over the last dimension.

    ```mlir
    %p = attn.log_softmax %x : tensor<?x?x10xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Attn_LayerNormOp : Attn_ComputeOp<"layer_norm", [AttrSizedOperandSegments]> {
  let summary = "layer normalization over the last dimension";
  let description = [{
    (x - mean) / sqrt(var + epsilon) · weight + bias over the last dimension (size D, static), with the
    biased variance, as torch.nn.LayerNorm. `weight` and `bias` are [D] and optional.

    ```mlir
    %y = attn.layer_norm %x, %w bias %b {epsilon = 1.0e-05 : f32}
        : (tensor<?x?x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Optional<Attn_F32Tensor>:$weight,
                       Optional<Attn_F32Tensor>:$bias, F32Attr:$epsilon);
  let assemblyFormat = [{
    $input (`,` $weight^)? (`bias` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Attn_DotAttentionOp : Attn_ComputeOp<"dot_attention", [AttrSizedOperandSegments]> {
  let summary = "scaled dot-product attention, single- or multi-head";
  let description = [{
    For query [B, Sq, D], keys [B, Sk, D] and values [B, Sk, Dv], splits D and Dv into `num_heads` equal
    contiguous heads and computes per head softmax(scale · q·kᵀ) · v, giving [B, Sq, Dv]. `causal` lets query
    i attend only to keys j ≤ i; with `offset` (i32 [B], only with `causal`) the queries of row b sit at
    positions offset[b] + i, and query i attends to keys j ≤ offset[b] + i: one decoder step's query
    against a key/value cache whose rows up to its position are filled. `mask` [B, Sk] (i32) lets query
    positions attend only to keys whose mask is non-zero, and a mask [B] keeps keys j < mask[b]. A query
    with no key left gets zero weights. `scale` defaults to 1/sqrt(D / num_heads).

    ```mlir
    %c = attn.dot_attention %q, %k, %v mask %m {num_heads = 4 : i64, causal}
        : (tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?xi32>) -> tensor<?x?x32xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$query, Attn_F32Tensor:$keys, Attn_F32Tensor:$values,
      Optional<Attn_I32Tensor>:$mask, Optional<Attn_I32Tensor>:$offset,
      ConfinedAttr<I64Attr, [IntPositive]>:$num_heads, UnitAttr:$causal, OptionalAttr<F32Attr>:$scale);
  let assemblyFormat = [{
    $query `,` $keys `,` $values (`mask` $mask^)? (`offset` $offset^)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def Attn_AdditiveAttentionOp : Attn_ComputeOp<"additive_attention", [AttrSizedOperandSegments]> {
  let summary = "additive (Bahdanau) attention";
  let description = [{
    For queries [B, Sq, Dq], keys [B, Sk, Dk] and values [B, Sk, Dv]: per query i,
    α = softmax_j(vᵀ tanh(Wq·q_i + bq + Wk·k_j + bk)) over the keys kept by `mask` [B, Sk] (i32), and the
    result is Σ_j α_j · values_j, [B, Sq, Dv]. Wq is [U, Dq], Wk [U, Dk], v [1, U]; the biases are [U]
    and optional.

    ```mlir
    %c = attn.additive_attention %q, %k, %k mask %m, %wq, %bq, %wk, %bk, %v
        : (tensor<?x1x32xf32>, tensor<?x?x64xf32>, tensor<?x?x64xf32>, tensor<?x?xi32>, tensor<16x32xf32>,
           tensor<16xf32>, tensor<16x64xf32>, tensor<16xf32>, tensor<1x16xf32>) -> tensor<?x1x64xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$query, Attn_F32Tensor:$keys, Attn_F32Tensor:$values,
                       Optional<Attn_I32Tensor>:$mask, Attn_F32Tensor:$query_weight,
                       Optional<Attn_F32Tensor>:$query_bias, Attn_F32Tensor:$key_weight,
                       Optional<Attn_F32Tensor>:$key_bias, Attn_F32Tensor:$v);
  let assemblyFormat = [{
    $query `,` $keys `,` $values (`mask` $mask^)? `,` $query_weight (`bias` $query_bias^)? `,` $key_weight
    (`bias` $key_bias^)? `,` $v attr-dict `:` functional-type(operands, results)
  }];
}

// A recurrence over a whole sequence from projected inputs: `projected` [B, T, G·H] holds W_ih·x_t + b_ih
// for every step (one large matmul, outside the recurrence), `w_hh` is [G·H, H] and `b_hh` [G·H].
class Attn_RecurrentOp<string mnemonic, string cell> : Attn_ComputeOp<mnemonic> {
  let arguments = (ins Attn_F32Tensor:$projected, Attn_F32Tensor:$w_hh, Attn_F32Tensor:$b_hh,
                       Optional<Attn_I32Tensor>:$lengths, UnitAttr:$reverse);
  let results = (outs Attn_F32Tensor:$result, Attn_F32Tensor:$steps);
  let assemblyFormat = [{
    $projected `,` $w_hh `,` $b_hh (`lengths` $lengths^)? attr-dict `:` functional-type(operands, results)
  }];
  let extraClassDeclaration = [{
    /// How many gate blocks of the hidden size the weights hold.
    static constexpr int64_t kGates = }] # !if(!eq(cell, "lstm"), "4", "3") # [{;
  }];
}

def Attn_LSTMOp : Attn_RecurrentOp<"lstm", "lstm"> {
  let summary = "an LSTM over a whole sequence, from projected inputs";
  let description = [{
    `projected` [B, T, 4H] holds W_ih·x_t + b_ih for every step, `w_hh` is [4H, H] and `b_hh` [4H].
    With PyTorch's gate order i, f, g, o and zero initial states: c_t = σ(f)·c_{t−1} + σ(i)·tanh(g) and
    h_t = σ(o)·tanh(c_t); the result is h for every step, [B, T, H]. With `lengths` [B] (i32), sequence b
    has lengths[b] steps and its later outputs are 0; with `reverse` it is read from its last valid step to
    its first (the backward half of a bidirectional LSTM). The second result, `steps` [B, T, 5H], is what
    attn.recurrence_grad reads of each step, in the order the steps ran: the gate pre-activations [0, 4H)
    and the cell state [4H, 5H) (past a sequence's length, whatever the loop computed there); where
    nothing reads it, it is not stored.

    ```mlir
    %h, %steps = attn.lstm %xp, %whh, %bhh lengths %len {reverse}
        : (tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<?xi32>)
        -> (tensor<?x?x16xf32>, tensor<?x?x80xf32>)
    ```
  }];
}

def Attn_GRUOp : Attn_RecurrentOp<"gru", "gru"> {
  let summary = "a GRU over a whole sequence, from projected inputs";
  let description = [{
    `projected` [B, T, 3H] holds W_ih·x_t + b_ih for every step, `w_hh` is [3H, H] and `b_hh` [3H].
    With PyTorch's gate order r, z, n and a zero initial state: r = σ(x_r + W_hr·h + b_hr),
    z = σ(x_z + W_hz·h + b_hz), n = tanh(x_n + r·(W_hn·h + b_hn)), h_t = (1 − z)·n + z·h_{t−1}. Lengths
    and `reverse` as for attn.lstm. `steps` [B, T, 3H] holds the hidden side of each step's gates,
    W_hh·h + b_hh, in the order the steps ran.

    ```mlir
    %h, %steps = attn.gru %xp, %whh, %bhh
        : (tensor<?x?x48xf32>, tensor<48x16xf32>, tensor<48xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x48xf32>)
    ```
  }];
}

// One step of a recurrent cell on a batch of rows, with torch.nn.LSTMCell / GRUCell's weights: `w_ih`
// [G·H, In], `b_ih` [G·H], `w_hh` [G·H, H], `b_hh` [G·H].
def Attn_LSTMCellOp : Attn_Op<"lstm_cell", [Pure, DeclareOpInterfaceMethods<Attn_ShapedOpInterface>]> {
  let summary = "one LSTM step: the next hidden and cell state, and the gates' pre-activations";
  let description = [{
    For inputs x [N, In] and states h, c [N, H], with PyTorch's gate order i, f, g, o:
    gates = x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh, c' = σ(f)·c + σ(i)·tanh(g), h' = σ(o)·tanh(c'). The results
    are h' and c', of the shape of `hidden`, and the pre-activations `gates` [N, 4H], which the step's
    gradient (attn.cell_grad) reads instead of computing both products again; where nothing reads them they
    are not stored. The weights are torch.nn.LSTMCell's: W_ih [4H, In], b_ih [4H], W_hh [4H, H], b_hh [4H];
    with `transposed_weights`, W_ih and W_hh are given as [In, 4H] and [H, 4H].

    ```mlir
    %h1, %c1, %gates = attn.lstm_cell %x, %h, %c, %wih, %bih, %whh, %bhh
        : (tensor<?x48xf32>, tensor<?x16xf32>, tensor<?x16xf32>, tensor<64x48xf32>, tensor<64xf32>,
           tensor<64x16xf32>, tensor<64xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x64xf32>)
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$hidden, Attn_F32Tensor:$cell,
                       Attn_F32Tensor:$w_ih, Attn_F32Tensor:$b_ih, Attn_F32Tensor:$w_hh, Attn_F32Tensor:$b_hh,
                       UnitAttr:$transposed_weights);
  let results = (outs Attn_F32Tensor:$new_hidden, Attn_F32Tensor:$new_cell, Attn_F32Tensor:$gates);
  let assemblyFormat = [{
    $input `,` $hidden `,` $cell `,` $w_ih `,` $b_ih `,` $w_hh `,` $b_hh attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{ static constexpr int64_t kGates = 4; }];
}

def Attn_GRUCellOp : Attn_ComputeOp<"gru_cell"> {
  let summary = "one GRU step: the next hidden state";
  let description = [{
    For inputs x [N, In] and a state h [N, H], with PyTorch's gate order r, z, n:
    r = σ(W_ir·x + b_ir + W_hr·h + b_hr), z = σ(W_iz·x + b_iz + W_hz·h + b_hz),
    n = tanh(W_in·x + b_in + r·(W_hn·h + b_hn)), h' = (1 − z)·n + z·h. The weights are
    torch.nn.GRUCell's: W_ih [3H, In], b_ih [3H], W_hh [3H, H], b_hh [3H]; with `transposed_weights`, W_ih
    and W_hh are given as [In, 3H] and [H, 3H].

    ```mlir
    %h1 = attn.gru_cell %x, %h, %wih, %bih, %whh, %bhh
        : (tensor<?x48xf32>, tensor<?x16xf32>, tensor<48x48xf32>, tensor<48xf32>, tensor<48x16xf32>,
           tensor<48xf32>) -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$hidden, Attn_F32Tensor:$w_ih,
                       Attn_F32Tensor:$b_ih, Attn_F32Tensor:$w_hh, Attn_F32Tensor:$b_hh,
                       UnitAttr:$transposed_weights);
  let assemblyFormat = [{
    $input `,` $hidden `,` $w_ih `,` $b_ih `,` $w_hh `,` $b_hh attr-dict `:`
    functional-type(operands, results)
  }];
  let extraClassDeclaration = [{ static constexpr int64_t kGates = 3; }];
}

def Attn_ZerosOp : Attn_ComputeOp<"zeros"> {
  let summary = "a zero tensor sized by a dimension of another";
  let description = [{
    The result [like.dim(dim), d1, ..., dn] is all zeros; d1 ... dn are static. It starts a decoder's
    carried state with the batch size of its inputs.

    ```mlir
    %h0 = attn.zeros %src {dim = 0 : i64} : (tensor<?x?xi32>) -> tensor<?x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$like, ConfinedAttr<I64Attr, [IntNonNegative]>:$dim);
  let assemblyFormat = "$like attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Convolutional layer ops (NCHW, as PyTorch; spatial sizes are static)
//===----------------------------------------------------------------------===//

def Attn_Conv2DOp : Attn_ComputeOp<"conv2d"> {
  let summary = "2-D convolution over [B, C, H, W] feature maps";
  let description = [{
    `weight` is [Cout, Cin / groups, KH, KW] and `bias` [Cout], as torch.nn.Conv2d. Zero padding.
    Output size per spatial dimension: (in + 2·padding − dilation·(k − 1) − 1) / stride + 1.

    ```mlir
    %y = attn.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>,
                                  dilation = array<i64: 1, 1>, groups = 1 : i64}
        : (tensor<?x1x8x8xf32>, tensor<16x1x3x3xf32>, tensor<16xf32>) -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$weight, Optional<Attn_F32Tensor>:$bias,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding, DenseI64ArrayAttr:$dilation,
                       ConfinedAttr<I64Attr, [IntPositive]>:$groups);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Attn_Pool2DOp : Attn_ComputeOp<"pool2d"> {
  let summary = "max or average pooling over windows of [B, C, H, W] feature maps";
  let description = [{
    `kind` is "max" (padding counts as −∞) or "avg" (padding counts as 0 and is included in the average,
    as torch.nn.AvgPool2d's default).

    ```mlir
    %y = attn.pool2d %x {kind = "max", kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>,
                         padding = array<i64: 0, 0>} : (tensor<?x16x8x8xf32>) -> tensor<?x16x4x4xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, StrAttr:$kind, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_GlobalPoolOp : Attn_ComputeOp<"global_pool"> {
  let summary = "max or average over all positions of [B, C, H, W] feature maps";
  let description = [{
    ```mlir
    %y = attn.global_pool %x {kind = "avg"} : (tensor<?x16x4x4xf32>) -> tensor<?x16xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, StrAttr:$kind);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_BatchNormOp : Attn_ComputeOp<"batch_norm", [Attn_Elementwise]> {
  let summary = "batch normalization, inference form, over the channels of [B, C, ...]";
  let description = [{
    (x − mean[c]) / sqrt(var[c] + epsilon) · weight[c] + bias[c], with the running statistics, as
    torch.nn.BatchNorm2d in eval mode. All four parameters are [C].

    ```mlir
    %y = attn.batch_norm %x, %w, %b, %mean, %var {epsilon = 1.0e-05 : f32}
        : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>)
        -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$weight, Attn_F32Tensor:$bias,
                       Attn_F32Tensor:$mean, Attn_F32Tensor:$variance, F32Attr:$epsilon);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `,` $mean `,` $variance attr-dict `:` functional-type(operands, results)
  }];
}

def Attn_FlattenOp : Attn_ComputeOp<"flatten", [Attn_Reindexing]> {
  let summary = "collapses all dimensions after the first into one";
  let description = [{
    [B, d1, ..., dn] → [B, d1·...·dn] in row-major order; d1 ... dn are static.

    ```mlir
    %y = attn.flatten %x : (tensor<?x16x4x4xf32>) -> tensor<?x256xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_ChannelAttentionOp : Attn_ComputeOp<"channel_attention"> {
  let summary = "CBAM channel attention: reweights the channels of [B, C, H, W]";
  let description = [{
    a = σ(MLP(avgpool(x)) + MLP(maxpool(x))) with MLP(z) = W2·relu(W1·z + b1) + b2, W1 [C/r, C],
    W2 [C, C/r]; the result is x · a[b, c] (Woo et al., CBAM, 2018).

    ```mlir
    %y = attn.channel_attention %x, %w1, %b1, %w2, %b2
        : (tensor<?x16x8x8xf32>, tensor<4x16xf32>, tensor<4xf32>, tensor<16x4xf32>, tensor<16xf32>)
        -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$w1, Attn_F32Tensor:$b1, Attn_F32Tensor:$w2,
                       Attn_F32Tensor:$b2);
  let assemblyFormat = [{
    $input `,` $w1 `,` $b1 `,` $w2 `,` $b2 attr-dict `:` functional-type(operands, results)
  }];
}

def Attn_SpatialAttentionOp : Attn_ComputeOp<"spatial_attention"> {
  let summary = "CBAM spatial attention: reweights the positions of [B, C, H, W]";
  let description = [{
    s = σ(conv([mean_c(x); max_c(x)])) with a [1, 2, K, K] kernel (K odd, zero padding K/2, no bias);
    the result is x · s[b, h, w].

    ```mlir
    %y = attn.spatial_attention %x, %w : (tensor<?x16x8x8xf32>, tensor<1x2x7x7xf32>) -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$weight);
  let assemblyFormat = "$input `,` $weight attr-dict `:` functional-type(operands, results)";
}

def Attn_SpatialAttentionWeightsOp : Attn_ComputeOp<"spatial_attention_weights"> {
  let summary = "the per-position weights of CBAM spatial attention";
  let description = [{
    s = σ(conv([mean_c(x); max_c(x)])) as [B, 1, H, W]: what `attn.spatial_attention` multiplies x by.
    The language's `y, s = spatial_attention(x)` makes both ops; after decomposition they share one
    computation.

    ```mlir
    %s = attn.spatial_attention_weights %x, %w
        : (tensor<?x16x8x8xf32>, tensor<1x2x7x7xf32>) -> tensor<?x1x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$weight);
  let assemblyFormat = "$input `,` $weight attr-dict `:` functional-type(operands, results)";
}

def Attn_SelfAttention2DOp : Attn_ComputeOp<"self_attention_2d"> {
  let summary = "non-local block: self-attention over the positions of [B, C, H, W]";
  let description = [{
    With 1×1 convolutions θ, φ, g: C → Ci and o: Ci → C (weights as [out, in] matrices, with biases), and
    positions n = h·W + w: p = softmax_m(θ(x)_n · φ(x)_m), y_n = Σ_m p[n, m] · g(x)_m, and the result is
    x + o(y) (Wang et al., Non-local Neural Networks, 2018, embedded Gaussian).

    ```mlir
    %y = attn.self_attention_2d %x, %wq, %bq, %wk, %bk, %wv, %bv, %wo, %bo
        : (tensor<?x16x8x8xf32>, tensor<8x16xf32>, tensor<8xf32>, tensor<8x16xf32>, tensor<8xf32>,
           tensor<8x16xf32>, tensor<8xf32>, tensor<16x8xf32>, tensor<16xf32>) -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$wq, Attn_F32Tensor:$bq, Attn_F32Tensor:$wk,
                       Attn_F32Tensor:$bk, Attn_F32Tensor:$wv, Attn_F32Tensor:$bv, Attn_F32Tensor:$wo,
                       Attn_F32Tensor:$bo);
  let assemblyFormat = [{
    $input `,` $wq `,` $bq `,` $wk `,` $bk `,` $wv `,` $bv `,` $wo `,` $bo attr-dict `:`
    functional-type(operands, results)
  }];
}

//===----------------------------------------------------------------------===//
// Primitive ops
//===----------------------------------------------------------------------===//

def Attn_ScoreOp : Attn_ComputeOp<"score"> {
  let summary = "per-head scaled dot-product scores";
  let description = [{
    For query [B, Sq, D] and keys [B, Sk, D] with `num_heads` heads of size Dh = D / num_heads:
    score[b, h, i, j] = scale · Σ_d q[b, i, h·Dh + d] · k[b, j, h·Dh + d]; the result is [B, H, Sq, Sk].

    ```mlir
    %s = attn.score %q, %k {num_heads = 4 : i64, scale = 0.35 : f32}
        : (tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x4x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$query, Attn_F32Tensor:$keys,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads, F32Attr:$scale);
  let assemblyFormat = "$query `,` $keys attr-dict `:` functional-type(operands, results)";
}

def Attn_AdditiveScoreOp : Attn_ComputeOp<"additive_score"> {
  let summary = "Bahdanau scores from projected queries and keys";
  let description = [{
    For projected queries [B, Sq, U], projected keys [B, Sk, U] and v [1, U]:
    score[b, 0, i, j] = Σ_u v[u] · tanh(q[b, i, u] + k[b, j, u]); the result is [B, 1, Sq, Sk], one head,
    so that masked_softmax and weighted_sum apply as for dot-product scores.

    ```mlir
    %s = attn.additive_score %qp, %kp, %v : (tensor<?x?x16xf32>, tensor<?x?x16xf32>, tensor<1x16xf32>)
        -> tensor<?x1x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$query, Attn_F32Tensor:$keys, Attn_F32Tensor:$v);
  let assemblyFormat = "$query `,` $keys `,` $v attr-dict `:` functional-type(operands, results)";
}

def Attn_MaskedSoftmaxOp : Attn_ComputeOp<"masked_softmax", [AttrSizedOperandSegments]> {
  let summary = "softmax over keys with padding and causal masks";
  let description = [{
    Softmax over the last dimension of scores [B, H, Sq, Sk], where key j takes part for query i only if
    `mask[b, j]` is non-zero (when given; a mask [B] keeps j < mask[b]) and j ≤ i (when `causal`; j ≤
    offset[b] + i with `offset` [B]). Rows with no key left are all zero.

    ```mlir
    %p = attn.masked_softmax %s mask %m {causal}
        : (tensor<?x4x?x?xf32>, tensor<?x?xi32>) -> tensor<?x4x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$scores, Optional<Attn_I32Tensor>:$mask,
      Optional<Attn_I32Tensor>:$offset, UnitAttr:$causal);
  let assemblyFormat = [{
    $scores (`mask` $mask^)? (`offset` $offset^)? attr-dict `:` functional-type(operands, results)
  }];
}

def Attn_WeightedSumOp : Attn_ComputeOp<"weighted_sum"> {
  let summary = "per-head sum of values weighted by attention probabilities";
  let description = [{
    For weights [B, H, Sq, Sk] and values [B, Sk, Dv] with heads of size Dvh = Dv / H:
    out[b, i, h·Dvh + d] = Σ_j weights[b, h, i, j] · values[b, j, h·Dvh + d]; the result is [B, Sq, Dv].

    ```mlir
    %c = attn.weighted_sum %p, %v : (tensor<?x4x?x?xf32>, tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$weights, Attn_F32Tensor:$values);
  let assemblyFormat = "$weights `,` $values attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

def Attn_KernelOp : Attn_Op<"kernel", [IsolatedFromAbove, SingleBlock]> {
  let summary = "a fused kernel: one Halide pipeline";
  let description = [{
    A region of attn computing ops (those with ShapedOpInterface), closed over its operands (the body's
    block arguments), that becomes one Halide pipeline. `name` names the pipeline in generated code: its C
    symbol is `attn_<name>`, or `attn_grad_<name>` in a gradient function that attn-autodiff made.

    ```mlir
    %c = attn.kernel "attention_a" (%q, %k, %v) : (tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x32xf32>)
        -> tensor<?x?x32xf32> {
    ^bb0(%a: tensor<?x?x32xf32>, %b: tensor<?x?x32xf32>, %c: tensor<?x?x32xf32>):
      ...
      attn.yield %r : tensor<?x?x32xf32>
    }
    ```
  }];
  let arguments = (ins StrAttr:$name, Variadic<AnyRankedTensor>:$inputs);
  let results = (outs Variadic<Attn_ValueTensor>:$results);
  let regions = (region SizedRegion<1>:$body);
  let assemblyFormat = [{
    $name `(` $inputs `)` attr-dict `:` functional-type($inputs, $results) $body
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The C symbol of the kernel's compiled pipeline; generated code calls its `_argv` form.
    /// Kernels of a gradient function (attn-autodiff's `<model>_grad`) are `attn_grad_<name>`.
    std::string getEntryName() {
      for (::mlir::Operation *p = (*this)->getParentOp(); p; p = p->getParentOp())
        if (p->hasAttr("attn.grad_of"))
          return "attn_grad_" + getName().str();
      return "attn_" + getName().str();
    }
  }];
}

def Attn_YieldOp : Attn_Op<"yield", [Pure, Terminator, HasParent<"KernelOp">]> {
  let summary = "the results of a kernel";
  let arguments = (ins Variadic<Attn_ValueTensor>:$values);
  let assemblyFormat = "attr-dict ($values^ `:` type($values))?";
}

//===----------------------------------------------------------------------===//
// Decoding
//===----------------------------------------------------------------------===//

def Attn_DecodeOp : Attn_Op<"decode", [AttrSizedOperandSegments, SingleBlock, RecursiveMemoryEffects]> {
  let summary = "a decoder loop: a step body run once per output token, with carried state";
  let description = [{
    The body computes one step for N rows at once. Its block arguments are the previous token (i32 [N]),
    with `positioned` the step's position (i32 [N], every row t at step t, from 0), and the carried state
    (one value per `init` operand, [N, ...]); it ends with `attn.decode_yield`,
    which gives the next state and the step's emitted values. The runtime runs the loop; its trip count
    is known only at run time. Values defined outside the body that it reads are loop-invariant: those
    whose first dimension is the batch are read row by row.

    `mode` picks the loop:
    - `"teacher"`: step t reads token `start` at t = 0 and `teacher[:, t-1]` after; it runs T steps for a
      teacher [B, T] and each result stacks one emitted value over the steps: [B, T, ...].
    - `"greedy"`: the next token is the arg-max of the first emitted value (scores [N, V]); rows stop at
      `stop`, the loop when all rows stopped or after `max_len` steps.
    - `"beam"`: beam search of `width` hypotheses per batch row over log-softmax of the scores, with
      scores normalised by length^`length_penalty` (see docs/dialect.md).
    - `"reverse"`: the backward pass of a teacher-forced loop (attn-autodiff makes it). It runs the T
      steps of the teacher [B, T] from the last to the first, with the tokens of `"teacher"` mode; each
      `sequences` operand [B, T, ...] gives the step at t its slice [B, ...] (block arguments after the
      token, before the carried state). The carried state may have any shape (gradient accumulators), the
      step emits nothing, and the results are the carried state after step 0.
    In greedy and beam mode result 0 is the tokens [B, L] (the stop token included, `pad` after it), and
    result i ≥ 1 stacks emitted value i along the chosen path: [B, L, ...].

    ```mlir
    %tokens, %w = attn.decode "greedy" (%h0) {start = 1 : i64, stop = 2 : i64, max_len = 20 : i64}
        : (tensor<?x16xf32>) -> (tensor<?x?xi32>, tensor<?x?x?xf32>) {
    ^bb0(%y: tensor<?xi32>, %h: tensor<?x16xf32>):
      ...
      attn.decode_yield (%h1 : tensor<?x16xf32>) emit %logits, %weights : tensor<?x40xf32>, tensor<?x?xf32>
    }
    ```
  }];
  let arguments = (ins Variadic<Attn_F32Tensor>:$init, Optional<Attn_I32Tensor>:$teacher,
      Variadic<Attn_F32Tensor>:$sequences, StrAttr:$mode, DefaultValuedAttr<I64Attr, "1">:$start,
      DefaultValuedAttr<I64Attr, "2">:$stop, DefaultValuedAttr<I64Attr, "0">:$pad,
      DefaultValuedAttr<I64Attr, "50">:$max_len, DefaultValuedAttr<I64Attr, "1">:$width,
      DefaultValuedAttr<F32Attr, "1.0f">:$length_penalty, UnitAttr:$positioned);
  let results = (outs Variadic<AnyRankedTensor>:$results);
  let regions = (region SizedRegion<1>:$step);
  let assemblyFormat = [{
    $mode `(` $init `)` (`teacher` $teacher^)? (`sequences` `(` $sequences^ `)`)? attr-dict `:`
    functional-type(operands, results) $step
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    bool isSearch() { return getMode() == "greedy" || getMode() == "beam"; }
    bool isReverse() { return getMode() == "reverse"; }
    ::mlir::BlockArgument getTokenArgument() { return getStep().front().getArgument(0); }
    /// The step's position (i32 [rows]) with `positioned`, else null.
    ::mlir::BlockArgument getPositionArgument() {
      return getPositioned() ? getStep().front().getArgument(1) : ::mlir::BlockArgument();
    }
    /// The block arguments before the sequence slices and the carried state: the token and the position.
    unsigned getNumLeadingArguments() { return getPositioned() ? 2 : 1; }
    ::mlir::Block::BlockArgListType getSequenceArguments() {
      return getStep().front().getArguments().slice(getNumLeadingArguments(), getSequences().size());
    }
    ::mlir::Block::BlockArgListType getStateArguments() {
      return getStep().front().getArguments().drop_front(getNumLeadingArguments() + getSequences().size());
    }
    DecodeYieldOp getYield();
    ::mlir::LogicalResult verifyReverse();
  }];
}

def Attn_DecodeYieldOp : Attn_Op<"decode_yield", [Pure, Terminator, HasParent<"DecodeOp">,
                                                  AttrSizedOperandSegments]> {
  let summary = "the next carried state and the emitted values of a decoder step";
  let arguments = (ins Variadic<Attn_F32Tensor>:$states, Variadic<AnyRankedTensor>:$emits);
  let assemblyFormat = [{
    (`(` $states^ `:` type($states) `)`)? (`emit` $emits^ `:` type($emits))? attr-dict
  }];
}

include "attn/Dialect/AttnGradOps.td"
include "attn/Dialect/AttnRandomOps.td"
include "attn/Dialect/AttnSequenceOps.td"

#endif // ATTN_OPS_TD
