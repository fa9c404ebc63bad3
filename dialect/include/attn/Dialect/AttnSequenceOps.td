//===- AttnSequenceOps.td - positions and key/value caches -------------*- tablegen -*-===//
//
// What Transformer decoders are written with: the positions of a sequence, their sinusoidal encodings,
// tokens shifted right by one (the inputs of teacher forcing run over the whole target at once), and the
// key/value cache that a decoder step fills one row at a time. Included by AttnOps.td; verifiers in
// dialect/lib/AttnSequenceOps.cpp.
//
//===----------------------------------------------------------------------------------===//

#ifndef ATTN_SEQUENCE_OPS_TD
#define ATTN_SEQUENCE_OPS_TD

def Attn_PositionsOp : Attn_ComputeOp<"positions"> {
  let summary = "the position along dimension 1 of each element of [B, S, ...]: i32 [B, S]";
  let description = [{
    result[b, s] = s. Not differentiable.

    ```mlir
    %p = attn.positions %tokens : (tensor<?x?xi32>) -> tensor<?x?xi32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input);
  let results = (outs Attn_I32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_SinusoidOp : Attn_ComputeOp<"sinusoid"> {
  let summary = "sinusoidal position encodings of i32 positions [...]: [..., dim]";
  let description = [{
    As in "Attention Is All You Need": for position p and i < dim / 2, result[..., 2i] = sin(p · ω_i) and
    result[..., 2i + 1] = cos(p · ω_i) with ω_i = 10000^(−2i / dim) (`dim` even). Not differentiable: its
    input is integer.

    ```mlir
    %e = attn.sinusoid %p {dim = 64 : i64} : (tensor<?x?xi32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_I32Tensor:$positions, ConfinedAttr<I64Attr, [IntPositive]>:$dim);
  let assemblyFormat = "$positions attr-dict `:` functional-type(operands, results)";
}

def Attn_ShiftRightOp : Attn_ComputeOp<"shift_right"> {
  let summary = "tokens [B, T] moved one step later, `fill` first: the inputs of teacher forcing";
  let description = [{
    result[b, 0] = fill and result[b, t] = tokens[b, t − 1]: the token each step of a teacher-forced
    decoder reads, when all its steps run at once.

    ```mlir
    %y = attn.shift_right %tgt {fill = 1 : i64} : (tensor<?x?xi32>) -> tensor<?x?xi32>
    ```
  }];
  let arguments = (ins Attn_I32Tensor:$tokens, I64Attr:$fill);
  let results = (outs Attn_I32Tensor:$result);
  let assemblyFormat = "$tokens attr-dict `:` functional-type(operands, results)";
}

def Attn_CacheWriteOp : Attn_ComputeOp<"cache_write"> {
  let summary = "a key/value cache [N, L, ...] with row `position[n]` of each sequence n replaced";
  let description = [{
    result[n, j, ...] = row[n, ...] where j = position[n], else cache[n, j, ...]: one decoder step appends
    its key or value to the cache it carries (position t at step t), and attention then reads rows
    j ≤ t (attn.dot_attention with `offset`). A position outside [0, L) writes nothing.

    ```mlir
    %k1 = attn.cache_write %k0, %row, %t
        : (tensor<?x32x64xf32>, tensor<?x64xf32>, tensor<?xi32>) -> tensor<?x32x64xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$cache, Attn_F32Tensor:$row, Attn_I32Tensor:$position);
  let assemblyFormat = "$cache `,` $row `,` $position attr-dict `:` functional-type(operands, results)";
}

#endif // ATTN_SEQUENCE_OPS_TD
