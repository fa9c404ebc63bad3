//===- Passes.td - attn compiler passes --------------------------------*- tablegen -*-===//
//
// The passes that take a model from layer ops to fused kernels. Each runs alone under attn-opt.
//
//===----------------------------------------------------------------------------------===//

#ifndef ATTN_TRANSFORMS_PASSES_TD
#define ATTN_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

def AttnInferShapes : Pass<"attn-infer-shapes", "func::FuncOp"> {
  let summary = "Refine result types from operand types";
  let description = [{
    Hand-written IR, and IR after rewrites, may carry result types less precise than their operands allow
    (`?` where a size is known). This pass walks each function in order, kernel bodies and decoder steps
    included, replaces every result type of an attn op by the type its operands imply where that is more
    precise, and updates the function's result types to match, so that later passes and the Halide
    lowering see every static size.
  }];
}

def AttnDecompose : Pass<"attn-decompose", "func::FuncOp"> {
  let summary = "Decompose attention layers into primitives";
  let description = [{
    `attn.dot_attention` becomes `attn.score` → `attn.masked_softmax` → `attn.weighted_sum`, and
    `attn.additive_attention` becomes two `attn.dense` projections → `attn.additive_score` →
    `attn.masked_softmax` → `attn.weighted_sum`: the primitives shared by every attention variant. The CNN
    layers follow: `attn.channel_attention` becomes global pooling, dense, relu, add and sigmoid and a
    broadcast product; `attn.spatial_attention` channel reductions (`attn.reduce`), one convolution per
    statistic with its slice of the kernel, sigmoid and a broadcast product; `attn.self_attention_2d` a
    reshape and transpose to a sequence of positions, dense projections, the attention primitives and the
    way back plus the residual. Fusion and lowering need to know only the primitives.
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def AttnAutodiff : Pass<"attn-autodiff", "ModuleOp"> {
  let summary = "Build the gradient function of a model that names its loss";
  let description = [{
    For each function with an `attn.loss` attribute (the name of the output that is its loss, a
    `cross_entropy` or `mse`), adds `<name>_grad`, marked `attn.grad_of`: the same arguments, the forward
    computation, and, by reverse-mode gradient rules on the (decomposed) dialect, the gradient of the loss
    with respect to every parameter it depends on. In its forward computation batch normalization runs in
    training mode and a teacher-forced decoder also emits the states its steps read; the gradient of such
    a decoder is a `"reverse"` decode. Its results are the loss, one gradient per parameter name and the
    running statistics after the batch, named `loss`, `grad.<parameter>` and `update.<running statistic>`
    in `attn.outputs`; its kernels' C symbols are `attn_grad_<kernel>`. A loss the model does not output
    (`attn.internal_loss`) then leaves the model function, with the work only it needed. An op without a
    gradient rule is an error. It runs on the module, as it adds functions.

    Dropout and random shifts train: the gradient function's `attn.dropout` and `attn.random_shift` ops
    read a new input, "attn.dropout_seed" (i32 [6], filled by the runtime); the gradient of dropout is
    dropout of the gradient with the same stream, that of a random shift the shift back (`inverse`). In
    every other function both are the identity and are removed. Inside a decoder step the runtime sets the
    loop's step in the seed, so that each step draws its own mask.

    With `distributed`, the gradient function is that of one process of a data-parallel run: batch
    normalization takes its statistics over every process's batch (attn.batch_sums summed by attn.all_sum,
    in the forward computation and for the input gradient), so that the processes together compute what
    one process computes on the whole batch.
  }];
  let options = [Option<"distributed", "distributed", "bool", "false",
                        "batch statistics over every process of a data-parallel run (attn.all_sum)">];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def AttnHoistStepInvariants : Pass<"attn-hoist-step-invariants", "func::FuncOp"> {
  let summary = "Move loop-invariant work out of decoder steps";
  let description = [{
    An op in the step body of an `attn.decode` whose operands are all defined outside the body computes
    the same value at every step: it moves before the decoder, so that it runs once per sequence. The
    key projection of additive attention and the step's parameters are the common cases. The pipeline runs
    it before attn-autodiff, and again after it for the loops of the gradient function.
  }];
}

def AttnTransposeStepWeights : Pass<"attn-transpose-step-weights", "func::FuncOp"> {
  let summary = "Give decoder steps their dense and cell weights transposed, once before the loop";
  let description = [{
    A `dense`, `lstm_cell` or `gru_cell` in the step body of an `attn.decode` whose weights come from
    outside the body reads them as [in, out] (`transposed_weight(s)`), from an `attn.transpose` before the
    decoder; a weight that is itself a transpose is read untransposed. Each step's kernel then streams the
    weights as stored instead of transposing them at every step. Runs after attn-autodiff, whose rules
    take the weights as [out, in].
  }];
}

def AttnFuseAttention : Pass<"attn-fuse-attention", "func::FuncOp"> {
  let summary = "Fuse score, masked softmax and weighted sum into one attention kernel";
  let description = [{
    Finds each chain (additive_)score → masked_softmax → weighted_sum whose scores have no other users and
    moves it into one `attn.kernel`, named `attention_<binding>` after the model-language name on its
    scores. When nothing else reads the probabilities they never leave the kernel: the lowering computes
    them one query row at a time. When something does (a decoder that emits its attention weights), the
    kernel yields them as a second result. A dense projection of a single query row ([B, 1, D], a decoder
    step's query) read only by the scores joins the kernel as well. The gradients of one additive score
    with respect to its query, keys and v form one kernel, `additive_score_grad_<binding>`, which computes
    the tanh of each (query, key) pair once for all of them.
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

def AttnOutlineKernels : Pass<"attn-outline-kernels", "func::FuncOp"> {
  let summary = "Put every remaining computing op into a kernel, fusing elementwise consumers";
  let description = [{
    Every attn computing op outside a kernel, in decoder steps too, becomes part of a kernel, named
    `<op>_<binding>` after its first op (`dense_logits`). Kernels are formed by one rule: from each op not yet
    in a kernel, a chain grows through the reader that continues it: an op with the `Elementwise` trait
    (relu, tanh, sigmoid, gelu, exp, log, the broadcasting arithmetic, batch_norm in inference, ...), a
    reduction along an axis (reduce, softmax, log_softmax) or a product one column wide (a dense layer of one
    unit, a matrix times a vector), each of which reads what the kernel computes once per element; a
    one-operand reindexing op passes the chain on. So a dense layer, its activation and a residual addition
    are one pass over memory, and a reduction ends a stage of its kernel, not the kernel: an attention
    written from primitives (projections, +, tanh, a one-unit projection, softmax along an axis, *, sum) is
    one kernel besides its key projection. A binary op takes its other operand as a kernel input. Where
    something else also reads a link of the chain (a gradient reading the forward values, a model that also
    outputs the attention weights), the chain goes on only if it makes a kernel of several stages (two ops
    neither elementwise nor reindexing), which the generic schedule takes whole, and the link becomes a
    kernel result; otherwise it ends there. A number (`attn.constant`) read in several places is first
    copied for each reader. Then ops with the `Reindexing` trait (embedding, concat,
    expand_dims, squeeze, flatten, reshape, transpose, slice, broadcast), which only move elements, join a
    neighbouring kernel instead of costing a launch and a copy: the only kernel that reads one takes it in
    (the lowering inlines it into the reads; a chain folds in last op first), else a one-operand op joins the
    kernel that produces its operand as an extra result; a reshaping one (expand_dims, squeeze, reshape,
    flatten) that only kernels read, several of them, is copied into each. A reindexing op that none of these rules places gets a kernel of its own.
    Last, a kernel of elementwise ops (the scaling of a feature map by its channel attention) whose readers
    are all kernels of ops that read each element once (elementwise ops at their own shape, reductions along
    an axis, global pools, a broadcast's gradient, pools whose windows do not overlap) is computed inside
    each of them, in front of their own ops, instead of written and read back: a pass over memory and a
    launch fewer. With several readers only a kernel of one such op is, so that each copy costs one
    operation per element.
  }];
  let dependentDialects = ["::mlir::attn::AttnDialect"];
}

#endif // ATTN_TRANSFORMS_PASSES_TD
