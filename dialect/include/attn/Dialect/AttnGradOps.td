//===- AttnGradOps.td - gradient primitives of the attn dialect --------*- tablegen -*-===//
//
// The ops that attn-autodiff's gradient rules emit besides forward primitives (a dense layer's input
// gradient is itself a dense layer, through attn.transpose of the weight). Each is a computing op like
// any other, so backward graphs are fused and lowered with the forward machinery. Included by AttnOps.td;
// verifiers in dialect/lib/AttnGradOps.cpp.
//
//===----------------------------------------------------------------------------------===//

#ifndef ATTN_GRAD_OPS_TD
#define ATTN_GRAD_OPS_TD

def Attn_DenseGradWeightOp : Attn_ComputeOp<"dense_grad_weight"> {
  let summary = "the weight gradient of a dense layer: Σ over rows of dyᵀ·x";
  let description = [{
    For dy [..., N] and x [..., K] with the same leading dimensions, the result [N, K] is
    Σ_rows dy[row, n]·x[row, k], summed over every leading index.

    ```mlir
    %dw = attn.dense_grad_weight %dy, %x : (tensor<?x?x8xf32>, tensor<?x?x4xf32>) -> tensor<8x4xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$grad, Attn_F32Tensor:$input);
  let assemblyFormat = "$grad `,` $input attr-dict `:` functional-type(operands, results)";
}

def Attn_SumLeadingOp : Attn_ComputeOp<"sum_leading"> {
  let summary = "sums over every dimension but the last (a bias gradient)";
  let description = [{
    ```mlir
    %db = attn.sum_leading %dy : (tensor<?x?x8xf32>) -> tensor<8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input);
  let assemblyFormat = "$input attr-dict `:` functional-type(operands, results)";
}

def Attn_ActivationGradOp : Attn_ComputeOp<"activation_grad", [Attn_Elementwise]> {
  let summary = "dy · f′(x) for an activation f";
  let description = [{
    `kind` is "relu" (x > 0), "tanh" (1 − tanh²x), "sigmoid" (σ(x)(1 − σ(x))), "gelu" (Φ(x) + x·φ(x)),
    "exp" (eˣ), "log" (1/x), "sqrt" (1/(2√x)), "rsqrt" (−x^(−3/2)/2) or "abs" (sign x, 0 at 0, as
    PyTorch); the derivative is recomputed from the function's input x.

    ```mlir
    %dx = attn.activation_grad %x, %dy {kind = "tanh"} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$grad, StrAttr:$kind);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_ScaleOp : Attn_ComputeOp<"scale", [SameOperandsAndResultType, Attn_Elementwise]> {
  let summary = "multiplies every element by a constant";
  let arguments = (ins Attn_F32Tensor:$input, F32Attr:$factor);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

def Attn_SoftmaxGradOp : Attn_ComputeOp<"softmax_grad"> {
  let summary = "the input gradient of softmax or log-softmax over the last dimension";
  let description = [{
    With y = softmax(x) per row: dx = y·(dy − Σ dy·y) for softmax, dx = dy − y·Σ dy for log-softmax
    (`log` set). y is recomputed from x.

    ```mlir
    %dx = attn.softmax_grad %x, %dy {log} : (tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$grad, UnitAttr:$log);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_CrossEntropyGradOp : Attn_ComputeOp<"cross_entropy_grad"> {
  let summary = "the logits gradient of attn.cross_entropy";
  let description = [{
    d(loss)/d(logits) = (softmax(logits) − (1 − ε)·onehot(t) − ε/V) / count at counted positions, 0 at
    ignored ones; `count` is the number of counted positions.

    ```mlir
    %dl = attn.cross_entropy_grad %logits, %targets {ignore_index = 0 : i64, label_smoothing = 0.0 : f32}
        : (tensor<?x?x42xf32>, tensor<?x?xi32>) -> tensor<?x?x42xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$logits, Attn_I32Tensor:$targets, OptionalAttr<I64Attr>:$ignore_index,
                       F32Attr:$label_smoothing);
  let assemblyFormat = "$logits `,` $targets attr-dict `:` functional-type(operands, results)";
}

def Attn_MseGradOp : Attn_ComputeOp<"mse_grad"> {
  let summary = "the gradient of attn.mse with respect to its first operand: 2(a − b)/N";
  let arguments = (ins Attn_F32Tensor:$lhs, Attn_F32Tensor:$rhs);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` functional-type(operands, results)";
}

def Attn_EmbeddingGradOp : Attn_ComputeOp<"embedding_grad"> {
  let summary = "the table gradient of an embedding: each id's rows of dy summed into its table row";
  let description = [{
    For ids [...] and dy [..., E], the result [V, E] (V from the result type) holds at row v the sum of dy
    over the positions whose id is v.

    ```mlir
    %dt = attn.embedding_grad %ids, %dy : (tensor<?x?xi32>, tensor<?x?x16xf32>) -> tensor<30x16xf32>
    ```
  }];
  let arguments = (ins Attn_I32Tensor:$tokens, Attn_F32Tensor:$grad);
  let assemblyFormat = "$tokens `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_LayerNormGradOp : Attn_ComputeOp<"layer_norm_grad"> {
  let summary = "the input gradient of layer normalization";
  let description = [{
    With x̂ = (x − mean)/σ over the last dimension (σ = sqrt(var + ε)) and g = dy·w (dy alone without a
    weight): dx = (g − mean(g) − x̂·mean(g·x̂)) / σ.

    ```mlir
    %dx = attn.layer_norm_grad %x, %dy, %w {epsilon = 1.0e-5 : f32}
        : (tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$grad, Optional<Attn_F32Tensor>:$weight,
                       F32Attr:$epsilon);
  let assemblyFormat = "$input `,` $grad (`,` $weight^)? attr-dict `:` functional-type(operands, results)";
}

def Attn_ProbsGradOp : Attn_ComputeOp<"probs_grad"> {
  let summary = "the score gradient of a softmax given its probabilities: p·(dp − Σ dp·p) per row";
  let description = [{
    For probabilities p (a masked softmax's: excluded entries are 0 and get 0) and their gradient dp, over
    the last dimension.

    ```mlir
    %ds = attn.probs_grad %p, %dp : (tensor<?x4x?x?xf32>, tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$probs, Attn_F32Tensor:$grad);
  let assemblyFormat = "$probs `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_AdditiveScoreGradOp : Attn_ComputeOp<"additive_score_grad"> {
  let summary = "a gradient of attn.additive_score: with respect to the query, the keys or v";
  let description = [{
    With t[b,i,j,u] = tanh(q[b,i,u] + k[b,j,u]) and ds the scores' gradient [B, 1, Sq, Sk]:
    `wrt = "query"`: Σ_j ds·v[u]·(1 − t²) as [B, Sq, U]; `"keys"`: Σ_i ds·v[u]·(1 − t²) as [B, Sk, U];
    `"v"`: Σ_{b,i,j} ds·t as [1, U].

    ```mlir
    %dq = attn.additive_score_grad %q, %k, %v, %ds {wrt = "query"}
        : (tensor<?x1x8xf32>, tensor<?x?x8xf32>, tensor<1x8xf32>, tensor<?x1x1x?xf32>) -> tensor<?x1x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$query, Attn_F32Tensor:$keys, Attn_F32Tensor:$v, Attn_F32Tensor:$grad,
                       StrAttr:$wrt);
  let assemblyFormat = "$query `,` $keys `,` $v `,` $grad attr-dict `:` functional-type(operands, results)";
}

//===----------------------------------------------------------------------===//
// Recurrences: backpropagation through time
//===----------------------------------------------------------------------===//

def Attn_RecurrenceGradOp : Attn_ComputeOp<"recurrence_grad"> {
  let summary = "backpropagation through time of attn.lstm or attn.gru: the gate gradients of every step";
  let description = [{
    For the operands of a recurrence (`cell` "lstm" or "gru", with its `lengths` and `reverse`), its
    results h [B, T, H] and `steps` (what the forward pass stored of each step: the gates' pre-activations
    and, for an LSTM, the cell state) and h's gradient dy, runs backwards in time and gives the gradient of
    every gate's pre-activation at every time step, [B, T, 4H], zero past each sequence's length. LSTM:
    gates i, f, g, o, which are both the projected inputs' gradient and that of W_hh·h + b_hh. GRU: the
    projected inputs' gradient for r, z, n in [0, 3H), and in [3H, 4H) the gradient of the hidden side of
    n (W_hn·h + b_hn), which the reset gate scales.

    ```mlir
    %dg = attn.recurrence_grad %xp, %whh, %bhh, %h, %steps, %dy lengths %len {cell = "lstm", reverse}
        : (tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<?x?x16xf32>, tensor<?x?x80xf32>,
           tensor<?x?x16xf32>, tensor<?xi32>) -> tensor<?x?x64xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$projected, Attn_F32Tensor:$w_hh, Attn_F32Tensor:$b_hh,
                       Attn_F32Tensor:$hidden, Attn_F32Tensor:$steps, Attn_F32Tensor:$grad,
                       Optional<Attn_I32Tensor>:$lengths, StrAttr:$cell, UnitAttr:$reverse);
  let assemblyFormat = [{
    $projected `,` $w_hh `,` $b_hh `,` $hidden `,` $steps `,` $grad (`lengths` $lengths^)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def Attn_RecurrenceWeightGradOp : Attn_ComputeOp<"recurrence_weight_grad"> {
  let summary = "the recurrent weight gradient of a recurrence: Σ over rows and steps of dgᵀ·h_prev";
  let description = [{
    For hidden-side gate gradients dg [B, T, G] and the recurrence's result h [B, T, H], the result [G, H] is
    Σ_{b,t} dg[b, t, g]·h_prev[b, t, k], where h_prev is the state the step at time t read: h[t − 1] (0 at
    t = 0), or with `reverse` h[t + 1] (0 at the sequence's last valid step, as h is 0 past it).

    ```mlir
    %dw = attn.recurrence_weight_grad %dg, %h {reverse}
        : (tensor<?x?x64xf32>, tensor<?x?x16xf32>) -> tensor<64x16xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$grad, Attn_F32Tensor:$hidden, UnitAttr:$reverse);
  let assemblyFormat = "$grad `,` $hidden attr-dict `:` functional-type(operands, results)";
}

def Attn_CellGradOp : Attn_ComputeOp<"cell_grad", [AttrSizedOperandSegments]> {
  let summary = "a gradient of one attn.lstm_cell or attn.gru_cell step";
  let description = [{
    From the step's gates, its carried `state` [N, H] (LSTM: the cell state c; GRU: the hidden state h)
    and the gradients of its results (dh, and for an LSTM optionally dc of the new cell state). The gates
    are, for an LSTM, the pre-activations the attn.lstm_cell yielded, [N, 4H] (x·W_ihᵀ + b_ih + h·W_hhᵀ +
    b_hh); for a GRU, the two projections xg = x·W_ihᵀ + b_ih and hg = h·W_hhᵀ + b_hh [N, 3H], which it
    needs apart (n's hidden side is scaled by r).
    - LSTM, `wrt = "gates"`: the pre-activation gradients of i, f, g, o [N, 4H] (of x·W_ihᵀ and of h·W_hhᵀ
      alike); `"state"`: the gradient of c, dc_total·σ(f) [N, H].
    - GRU, `wrt = "input_gates"`: of xg [N, 3H]; `"hidden_gates"`: of hg, where n's part is scaled by r;
      `"state"`: the direct part of h's gradient, dh·z [N, H] (the rest flows through hg).

    ```mlir
    %dg = attn.cell_grad [%gates], %c, %dh cell_grad %dc {cell = "lstm", wrt = "gates"}
        : (tensor<?x64xf32>, tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x64xf32>
    %dxg = attn.cell_grad [%xg, %hg], %h, %dh {cell = "gru", wrt = "input_gates"}
        : (tensor<?x48xf32>, tensor<?x48xf32>, tensor<?x16xf32>, tensor<?x16xf32>) -> tensor<?x48xf32>
    ```
  }];
  let arguments = (ins Variadic<Attn_F32Tensor>:$gates, Attn_F32Tensor:$state, Attn_F32Tensor:$grad,
                       Optional<Attn_F32Tensor>:$cell_grad, StrAttr:$cell, StrAttr:$wrt);
  let assemblyFormat = [{
    `[` $gates `]` `,` $state `,` $grad (`cell_grad` $cell_grad^)? attr-dict `:`
    functional-type(operands, results)
  }];
}


//===----------------------------------------------------------------------===//
// Convolutional layers
//===----------------------------------------------------------------------===//

def Attn_Conv2DGradOp : Attn_ComputeOp<"conv2d_grad"> {
  let summary = "a gradient of attn.conv2d: with respect to its input, weight or bias";
  let description = [{
    For the convolution's input x, weight w and output gradient dy, with its stride, padding, dilation and
    groups: `wrt = "input"` gives dx (like x, a transposed convolution of dy), `"weight"` dw (like w: Σ over
    rows and positions of dy times the input window), `"bias"` db [Cout] (Σ of dy per channel).

    ```mlir
    %dx = attn.conv2d_grad %x, %w, %dy {wrt = "input", stride = array<i64: 1, 1>, padding = array<i64: 1, 1>,
                                         dilation = array<i64: 1, 1>, groups = 1 : i64}
        : (tensor<?x1x8x8xf32>, tensor<16x1x3x3xf32>, tensor<?x16x8x8xf32>) -> tensor<?x1x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$weight, Attn_F32Tensor:$grad, StrAttr:$wrt,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding, DenseI64ArrayAttr:$dilation,
                       ConfinedAttr<I64Attr, [IntPositive]>:$groups);
  let assemblyFormat = "$input `,` $weight `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_PoolGradOp : Attn_ComputeOp<"pool_grad"> {
  let summary = "the input gradient of max or average pooling over windows of [B, C, H, W]";
  let description = [{
    For the pooled input x [B, C, H, W] and the gradient dy [B, C, OH, OW] of its windows (`kernel`,
    `stride`, `padding` as attn.pool2d): `kind = "avg"` spreads each window's gradient evenly over its
    kernel·kernel positions (padding counted, as PyTorch's default); "max" gives it to the window's first
    largest element (as PyTorch's max_pool2d); "amax" shares it among the window's largest elements (as
    torch.amax). attn.global_pool's gradient is this with one window covering the whole map.

    ```mlir
    %dx = attn.pool_grad %x, %dy {kind = "max", kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>,
                                   padding = array<i64: 0, 0>}
        : (tensor<?x16x8x8xf32>, tensor<?x16x4x4xf32>) -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$grad, StrAttr:$kind, DenseI64ArrayAttr:$kernel,
                       DenseI64ArrayAttr:$stride, DenseI64ArrayAttr:$padding);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_ReduceGradOp : Attn_ComputeOp<"reduce_grad"> {
  let summary = "the input gradient of attn.reduce";
  let description = [{
    For the reduced input x and the gradient dy of the reduction along `axis` (kept with size 1): "sum"
    repeats dy along the axis, "mean" spreads it evenly, "max" and "min" share it among the largest or
    smallest elements (as torch.amax and torch.amin).

    ```mlir
    %dx = attn.reduce_grad %x, %dy {axis = 1 : i64, kind = "max"}
        : (tensor<?x16x8x8xf32>, tensor<?x1x8x8xf32>) -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$grad, I64Attr:$axis, StrAttr:$kind);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_BroadcastGradOp : Attn_ComputeOp<"broadcast_grad"> {
  let summary = "the input gradient of a broadcast: dy summed over the repeated dimensions";
  let description = [{
    The result has the shape of `input` (what was broadcast, of which only the shape is read): dy summed
    over its leading dimensions that `input` lacks (broadcasting arithmetic aligns shapes at their last
    dimension) and along each size-1 dimension of `input` where dy's is not 1.

    ```mlir
    %dw = attn.broadcast_grad %w, %dy : (tensor<?x16x1x1xf32>, tensor<?x16x8x8xf32>) -> tensor<?x16x1x1xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$grad);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_SliceGradOp : Attn_ComputeOp<"slice_grad"> {
  let summary = "the input gradient of attn.slice: dy in its range of the axis, zero elsewhere";
  let description = [{
    The result has the shape of `input` (the slice's input, of which only the shape is read).

    ```mlir
    %dx = attn.slice_grad %x, %dy {axis = 1 : i64, start = 1 : i64}
        : (tensor<1x2x7x7xf32>, tensor<1x1x7x7xf32>) -> tensor<1x2x7x7xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$grad, I64Attr:$axis, I64Attr:$start);
  let assemblyFormat = "$input `,` $grad attr-dict `:` functional-type(operands, results)";
}

def Attn_BatchNormGradOp : Attn_ComputeOp<"batch_norm_grad"> {
  let summary = "a gradient of attn.batch_norm in training mode (normalized by the batch's statistics)";
  let description = [{
    Training normalizes each channel by the mean and (biased) variance of x over the batch and the positions,
    as torch.nn.BatchNorm2d in training mode. From x, the weight and the output gradient dy: `wrt = "input"`
    gives dx = w/σ · (dy − mean(dy) − x̂·mean(dy·x̂)) (means over the batch and positions, x̂ the normalized
    input), `"weight"` Σ dy·x̂ per channel, `"bias"` Σ dy per channel.

    In data-parallel training the statistics span every process: the optional `stats` are then the
    all-summed `attn.batch_sums` of x (`"x"`, then `"centered"`) and, for `wrt = "input"`, of the gradient
    (`"grad"`), which replace the batch's own.

    ```mlir
    %dx = attn.batch_norm_grad %x, %w, %dy {wrt = "input", epsilon = 1.0e-05 : f32}
        : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<?x16x8x8xf32>) -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$weight, Attn_F32Tensor:$grad,
                       Variadic<Attn_F32Tensor>:$stats, StrAttr:$wrt, F32Attr:$epsilon);
  let assemblyFormat = [{
    $input `,` $weight `,` $grad (`stats` `(` $stats^ `)`)? attr-dict `:` functional-type(operands, results)
  }];
}

def Attn_BatchNormTrainOp : Attn_ComputeOp<"batch_norm_train"> {
  let summary = "batch normalization in training mode, or the running statistics it updates";
  let description = [{
    `statistic = "output"`: (x − μ) / sqrt(σ² + epsilon) · weight + bias with μ, σ² the mean and biased
    variance of each channel over the batch and the positions (torch.nn.BatchNorm2d in training mode).
    `"mean"` and `"variance"`: the running statistic after this batch, (1 − momentum)·running + momentum·μ
    (or the unbiased σ²), the [C] operand `running` being its value before. In data-parallel training the
    optional `stats` (the all-summed `attn.batch_sums` `"x"` and `"centered"` of x) give μ and σ² over
    every process's batch.

    ```mlir
    %y = attn.batch_norm_train %x, %w, %b, %running
        {statistic = "output", epsilon = 1.0e-05 : f32, momentum = 0.1 : f32}
        : (tensor<?x16x8x8xf32>, tensor<16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<?x16x8x8xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Attn_F32Tensor:$weight, Attn_F32Tensor:$bias,
                       Attn_F32Tensor:$running, Variadic<Attn_F32Tensor>:$stats, StrAttr:$statistic,
                       F32Attr:$epsilon, F32Attr:$momentum);
  let assemblyFormat = [{
    $input `,` $weight `,` $bias `,` $running (`stats` `(` $stats^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
}

def Attn_BatchSumsOp : Attn_ComputeOp<"batch_sums"> {
  let summary = "per-channel sums over the batch and positions that batch statistics are made of";
  let description = [{
    For x [B, C, ...], a [2, C] result whose rows are, by `of`:
    - `"x"`: the number of values per channel (B times the positions) and Σ x;
    - `"centered"` (operands x, s where s is the all-summed `"x"` sums): the count and Σ (x − μ)², with
      μ = s[1]/s[0];
    - `"grad"` (operands x, dy, s, t with t the all-summed `"centered"` sums): Σ dy and Σ dy·x̂, with
      x̂ = (x − μ)/sqrt(t[1]/t[0] + epsilon).
    Data-parallel training sums them across processes with attn.all_sum, so that batch normalization
    normalizes by the statistics of the whole batch, as one process would.

    ```mlir
    %s = attn.batch_sums %x {of = "x", epsilon = 1.0e-05 : f32} : (tensor<?x16x8x8xf32>) -> tensor<2x16xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, Variadic<Attn_F32Tensor>:$rest, StrAttr:$of, F32Attr:$epsilon);
  let assemblyFormat = "$input (`,` $rest^)? attr-dict `:` functional-type(operands, results)";
}

def Attn_AllSumOp : Attn_Op<"all_sum", [SameOperandsAndResultType]> {
  let summary = "the sum of a tensor over every process of a data-parallel run";
  let description = [{
    Every process of a data-parallel run (attnc --distributed=mpi) computes its own `input`; each gets the
    elementwise sum of all of them. With one process it is the identity. It is no kernel: the runtime
    performs it between kernels (MPI_Allreduce), so it is not fused and has no memory-free semantics.
    `cotangent` marks a sum of gradients: each process's share is weighted by the part of the global loss
    its batch holds, and its result is expressed in the units of its own loss (see docs/distributed.md).

    ```mlir
    %g = attn.all_sum %s : tensor<2x16xf32>
    ```
  }];
  let arguments = (ins Attn_F32Tensor:$input, UnitAttr:$cotangent);
  let results = (outs Attn_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
}

#endif // ATTN_GRAD_OPS_TD
