//===- AttnRandomOps.td - ops that draw random numbers in training -----*- tablegen -*-===//
//
// Dropout and random shifts: the identity in a model's function (inference), random in its gradient
// function, where attn-autodiff gives them the seed input that the runtime fills for each training step.
// Included by AttnOps.td; verifiers in dialect/lib/AttnOps.cpp.
//
//===----------------------------------------------------------------------------------===//

#ifndef ATTN_RANDOM_OPS_TD
#define ATTN_RANDOM_OPS_TD

def Attn_DropoutOp : Attn_ComputeOp<"dropout", [Attn_Elementwise, Attn_RandomOpInterface]> {
  let summary = "inverted dropout in training, from a counter-based random stream";
  let description = [{
    Without `seed` (a model's function, inference) the identity. With `seed`, an i32 [6] tensor (the run's
    seed, low and high word, the training step, the row offset of this process's or thread's rows of the
    batch, whether dropout is on, and the step of the decoder loop it is in), each element is zeroed with
    probability `rate` and the others are scaled by 1 / (1 − rate). Element i's decision comes from word
    e mod 4 of Philox4x32-10 (Salmon et al., 2011) keyed by the seed, with counter (e / 4, step, `stream`,
    decoder step), where e = i + offset · the size of a row (one evaluation of the generator serves four
    elements): it depends on no thread count, each decoder step draws its own mask, the
    same mask is made again in the backward pass (the gradient of dropout is dropout of the gradient with
    the same stream), a resumed run draws what the uninterrupted one would, and the ranks of a
    data-parallel run draw what one process draws for the whole batch. `stream` numbers the model's dropout
    ops.

    ```mlir
    %y = attn.dropout %x seed(%s) {rate = 1.000000e-01 : f32, stream = 0 : i64}
        : (tensor<?x?x64xf32>, tensor<6xi32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Optional<Attn_I32Tensor>:$seed, F32Attr:$rate, I64Attr:$stream);
  let assemblyFormat = "$input (`seed` `(` $seed^ `)`)? attr-dict `:` functional-type(operands, results)";
}

def Attn_RandomShiftOp : Attn_ComputeOp<"random_shift", [Attn_Reindexing, Attn_RandomOpInterface]> {
  let summary = "data augmentation: each example shifted by a random offset, zeros filling in";
  let description = [{
    For `input` [N, ..., H, W] without `seed`, the identity. With `seed` (as attn.dropout's), example n
    (index n of the first dimension) is shifted by (dy, dx), each drawn uniformly from [−pixels, pixels]:
    result[n, ..., y, x] = input[n, ..., y − dy, x − dx], 0 where that lies outside the image (the same
    as padding by `pixels` and cropping at a random place, torchvision's `RandomCrop(padding = pixels)`).
    The offsets come from Philox4x32-10 keyed by the seed, with counter (n + row offset, step, `stream`,
    decoder step), so they depend on no thread count and a resumed run draws what the uninterrupted one
    would. With `inverse` each example moves by (−dy, −dx): the transpose, which is the gradient.

    ```mlir
    %y = attn.random_shift %x seed(%s) {pixels = 1 : i64, stream = 0 : i64}
        : (tensor<?x1x8x8xf32>, tensor<6xi32>) -> tensor<?x1x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Optional<Attn_I32Tensor>:$seed, I64Attr:$pixels,
      I64Attr:$stream, UnitAttr:$inverse);
  let assemblyFormat = "$input (`seed` `(` $seed^ `)`)? attr-dict `:` functional-type(operands, results)";
}

#endif // ATTN_RANDOM_OPS_TD
