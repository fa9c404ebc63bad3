// RUN: attn-opt %s -split-input-file -verify-diagnostics

func.func @param_name() {
  // expected-error @+1 {{'attn.param' op expects a non-empty parameter name}}
  %w = attn.param "" : tensor<4xf32>
  return
}

// -----

func.func @param_dynamic() {
  // expected-error @+1 {{'attn.param' op expects a static shape for parameter 'w', found [?, 4]}}
  %w = attn.param "w" : tensor<?x4xf32>
  return
}

// -----

func.func @dense_weight_rank(%x: tensor<?x8xf32>, %w: tensor<8xf32>) {
  // expected-error @+1 {{'attn.dense' op expects a weight of rank 2 [out, in], found rank 1 [8]}}
  %y = attn.dense %x, %w : (tensor<?x8xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @dense_input_dim(%x: tensor<?x16xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{'attn.dense' op expects the input's last dimension (16) to equal the weight's input dimension (8 in [4, 8])}}
  %y = attn.dense %x, %w : (tensor<?x16xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  return
}

// -----

// A transposed weight is [in, out]: torch's [out, in] layout does not fit.
func.func @dense_transposed_weight(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{'attn.dense' op expects the input's last dimension (8) to equal the weight's input dimension (4 in [4, 8])}}
  %y = attn.dense %x, %w {transposed_weight} : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @lstm_cell_transposed_weights(%x: tensor<?x3xf32>, %h: tensor<?x2xf32>, %wih: tensor<8x3xf32>,
                                        %b: tensor<8xf32>, %whh: tensor<2x8xf32>) {
  // expected-error @+1 {{'attn.lstm_cell' op expects an input weight [3, 8] for hidden size 2 and input width 3, found [8, 3]}}
  %h1, %c1, %g = attn.lstm_cell %x, %h, %h, %wih, %b, %whh, %b {transposed_weights}
      : (tensor<?x3xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<8x3xf32>, tensor<8xf32>, tensor<2x8xf32>,
         tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x8xf32>)
  return
}

// -----

func.func @dense_bias(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<5xf32>) {
  // expected-error @+1 {{'attn.dense' op expects the output dimension of bias [5] and weight [4, 8] to agree, found 5 and 4}}
  %y = attn.dense %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<5xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @dense_bias_rank(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>, %b: tensor<1x4xf32>) {
  // expected-error @+1 {{'attn.dense' op expects a bias of rank 1 [out], found rank 2 [1, 4]}}
  %y = attn.dense %x, %w, %b : (tensor<?x8xf32>, tensor<4x8xf32>, tensor<1x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @dense_result(%x: tensor<?x8xf32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{'attn.dense' op result shape [?, 8] does not match the shape [?, 4] implied by the operands}}
  %y = attn.dense %x, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @dense_scalar(%x: tensor<f32>, %w: tensor<4x8xf32>) {
  // expected-error @+1 {{'attn.dense' op expects an input of rank >= 1, found a scalar tensor}}
  %y = attn.dense %x, %w : (tensor<f32>, tensor<4x8xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @softmax_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{'attn.softmax' op expects an input of rank >= 1, found a scalar tensor}}
  %y = attn.softmax %x : tensor<f32>
  return
}

// -----

func.func @unary_type(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.relu' op requires the same type for all operands and results}}
  %y = "attn.relu"(%x) : (tensor<?x8xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @attention_rank(%q: tensor<?x8xf32>, %k: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects a query of rank 3 [batch, queries, features], found rank 2 [?, 8]}}
  %a = attn.dot_attention %q, %k, %k {num_heads = 1 : i64} : (tensor<?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @attention_batch(%q: tensor<2x?x8xf32>, %k: tensor<3x?x8xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects the batch size of query [2, ?, 8] and keys [3, ?, 8] to agree, found 2 and 3}}
  %a = attn.dot_attention %q, %k, %k {num_heads = 1 : i64} : (tensor<2x?x8xf32>, tensor<3x?x8xf32>, tensor<3x?x8xf32>) -> tensor<2x?x8xf32>
  return
}

// -----

func.func @attention_features(%q: tensor<?x?x8xf32>, %k: tensor<?x?x16xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects the feature size of query [?, ?, 8] and keys [?, ?, 16] to agree, found 8 and 16}}
  %a = attn.dot_attention %q, %k, %k {num_heads = 1 : i64} : (tensor<?x?x8xf32>, tensor<?x?x16xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

func.func @attention_key_length(%q: tensor<?x?x8xf32>, %k: tensor<?x5x8xf32>, %v: tensor<?x6x8xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects the key length of keys [?, 5, 8] and values [?, 6, 8] to agree, found 5 and 6}}
  %a = attn.dot_attention %q, %k, %v {num_heads = 1 : i64} : (tensor<?x?x8xf32>, tensor<?x5x8xf32>, tensor<?x6x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @attention_heads(%q: tensor<?x?x10xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects the feature dimension of the query (10) to be divisible by num_heads (4)}}
  %a = attn.dot_attention %q, %q, %q {num_heads = 4 : i64} : (tensor<?x?x10xf32>, tensor<?x?x10xf32>, tensor<?x?x10xf32>) -> tensor<?x?x10xf32>
  return
}

// -----

func.func @attention_dynamic_features(%q: tensor<?x?x?xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects a static feature dimension for the query, found [?, ?, ?]}}
  %a = attn.dot_attention %q, %q, %q {num_heads = 1 : i64} : (tensor<?x?x?xf32>, tensor<?x?x?xf32>, tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return
}

// -----

func.func @attention_zero_heads(%q: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op attribute 'num_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %a = attn.dot_attention %q, %q, %q {num_heads = 0 : i64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @attention_mask_rank(%q: tensor<?x?x8xf32>, %m: tensor<?x?x?xi32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects a mask of rank 2 [batch, keys] or lengths [batch], found rank 3 [?, ?, ?]}}
  %a = attn.dot_attention %q, %q, %q mask %m {num_heads = 1 : i64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x?xi32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @attention_mask_length(%q: tensor<?x5x8xf32>, %k: tensor<?x7x8xf32>, %m: tensor<?x5xi32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects the key length of mask [?, 5] and the keys [?, 7, 8] to agree, found 5 and 7}}
  %a = attn.dot_attention %q, %k, %k mask %m {num_heads = 1 : i64} : (tensor<?x5x8xf32>, tensor<?x7x8xf32>, tensor<?x7x8xf32>, tensor<?x5xi32>) -> tensor<?x5x8xf32>
  return
}

// -----

func.func @attention_mask_batch(%q: tensor<2x?x8xf32>, %m: tensor<3x?xi32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects the batch size of mask [3, ?] and the scores [2, ?, 8] to agree, found 3 and 2}}
  %a = attn.dot_attention %q, %q, %q mask %m {num_heads = 1 : i64} : (tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<2x?x8xf32>, tensor<3x?xi32>) -> tensor<2x?x8xf32>
  return
}

// -----

func.func @attention_mask_type(%q: tensor<?x?x8xf32>, %m: tensor<?x?xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op operand #3 must be ranked tensor of 32-bit signless integer values, but got 'tensor<?x?xf32>'}}
  %a = attn.dot_attention %q, %q, %q mask %m {num_heads = 1 : i64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @attention_scale(%q: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op expects a positive finite scale, found -1}}
  %a = attn.dot_attention %q, %q, %q {num_heads = 1 : i64, scale = -1.0 : f32} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @attention_result(%q: tensor<?x?x8xf32>, %v: tensor<?x?x4xf32>) {
  // expected-error @+1 {{'attn.dot_attention' op result shape [?, ?, 8] does not match the shape [?, ?, 4] implied by the operands}}
  %a = attn.dot_attention %q, %q, %v {num_heads = 1 : i64} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>, tensor<?x?x4xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @score_heads(%q: tensor<?x?x6xf32>) {
  // expected-error @+1 {{'attn.score' op expects the feature dimension of the query (6) to be divisible by num_heads (4)}}
  %s = attn.score %q, %q {num_heads = 4 : i64, scale = 1.0 : f32} : (tensor<?x?x6xf32>, tensor<?x?x6xf32>) -> tensor<?x4x?x?xf32>
  return
}

// -----

func.func @score_result(%q: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'attn.score' op result shape [?, 2, ?, ?] does not match the shape [?, 4, ?, ?] implied by the operands}}
  %s = attn.score %q, %q {num_heads = 4 : i64, scale = 1.0 : f32} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x2x?x?xf32>
  return
}

// -----

func.func @masked_softmax_rank(%s: tensor<?x?x?xf32>) {
  // expected-error @+1 {{'attn.masked_softmax' op expects scores of rank 4 [batch, heads, queries, keys], found rank 3 [?, ?, ?]}}
  %p = attn.masked_softmax %s : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32>
  return
}

// -----

func.func @masked_softmax_mask(%s: tensor<?x4x?x7xf32>, %m: tensor<?x6xi32>) {
  // expected-error @+1 {{'attn.masked_softmax' op expects the key length of mask [?, 6] and the keys [?, 4, ?, 7] to agree, found 6 and 7}}
  %p = attn.masked_softmax %s mask %m : (tensor<?x4x?x7xf32>, tensor<?x6xi32>) -> tensor<?x4x?x7xf32>
  return
}

// -----

func.func @weighted_sum_heads(%p: tensor<?x?x?x?xf32>, %v: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'attn.weighted_sum' op expects a static number of heads (dimension 1 of the weights), found [?, ?, ?, ?]}}
  %c = attn.weighted_sum %p, %v : (tensor<?x?x?x?xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @weighted_sum_keys(%p: tensor<?x2x?x5xf32>, %v: tensor<?x6x8xf32>) {
  // expected-error @+1 {{'attn.weighted_sum' op expects the key length of weights [?, 2, ?, 5] and values [?, 6, 8] to agree, found 5 and 6}}
  %c = attn.weighted_sum %p, %v : (tensor<?x2x?x5xf32>, tensor<?x6x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @weighted_sum_divisible(%p: tensor<?x3x?x?xf32>, %v: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'attn.weighted_sum' op expects the feature dimension of the values (8) to be divisible by num_heads (3)}}
  %c = attn.weighted_sum %p, %v : (tensor<?x3x?x?xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @weighted_sum_rank(%p: tensor<?x?x?xf32>, %v: tensor<?x?x8xf32>) {
  // expected-error @+1 {{'attn.weighted_sum' op expects weights of rank 4 [batch, heads, queries, keys], found rank 3 [?, ?, ?]}}
  %c = attn.weighted_sum %p, %v : (tensor<?x?x?xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return
}

// -----

func.func @kernel_args(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.kernel' op expects one body argument per input (1), found 0}}
  %k = attn.kernel "k"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
    %w = attn.param "w" : tensor<?x8xf32>
    attn.yield %w : tensor<?x8xf32>
  }
  return
}

// -----

func.func @kernel_arg_type(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.kernel' op expects body argument 0 to have the type of input 0 ('tensor<?x8xf32>'), found 'tensor<?x4xf32>'}}
  %k = attn.kernel "k"(%x) : (tensor<?x8xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x4xf32>):
    attn.yield %a : tensor<?x4xf32>
  }
  return
}

// -----

func.func @kernel_yield(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.kernel' op expects attn.yield to return the kernel's result types 'tensor<?x4xf32>', found 'tensor<?x8xf32>'}}
  %k = attn.kernel "k"(%x) : (tensor<?x8xf32>) -> tensor<?x4xf32> {
  ^bb0(%a: tensor<?x8xf32>):
    attn.yield %a : tensor<?x8xf32>
  }
  return
}

// -----

func.func @kernel_body(%x: tensor<?x8xf32>) {
  %k = attn.kernel "k"(%x) : (tensor<?x8xf32>) -> tensor<4xf32> {
  ^bb0(%a: tensor<?x8xf32>):
    // expected-error @+1 {{'attn.param' op cannot be part of an attn.kernel: only attn computing ops can be fused}}
    %w = attn.param "w" : tensor<4xf32>
    attn.yield %w : tensor<4xf32>
  }
  return
}

// -----

func.func @layer_norm_dynamic(%x: tensor<?x?xf32>) {
  // expected-error @+1 {{'attn.layer_norm' op expects a static last dimension to normalize over, found [?, ?]}}
  %y = attn.layer_norm %x {epsilon = 1.0e-5 : f32} : (tensor<?x?xf32>) -> tensor<?x?xf32>
  return
}

// -----

func.func @layer_norm_weight(%x: tensor<?x8xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{'attn.layer_norm' op expects the feature size of weight [4] and the input [?, 8] to agree, found 4 and 8}}
  %y = attn.layer_norm %x, %w {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<4xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @layer_norm_bias_rank(%x: tensor<?x8xf32>, %b: tensor<1x8xf32>) {
  // expected-error @+1 {{'attn.layer_norm' op expects a bias of rank 1 [features], found rank 2 [1, 8]}}
  %y = attn.layer_norm %x bias %b {epsilon = 1.0e-5 : f32} : (tensor<?x8xf32>, tensor<1x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @layer_norm_epsilon(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.layer_norm' op expects a positive epsilon, found 0}}
  %y = attn.layer_norm %x {epsilon = 0.0 : f32} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @layer_norm_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{'attn.layer_norm' op expects an input of rank >= 1, found a scalar tensor}}
  %y = attn.layer_norm %x {epsilon = 1.0e-5 : f32} : (tensor<f32>) -> tensor<f32>
  return
}

// -----

func.func @log_softmax_scalar(%x: tensor<f32>) {
  // expected-error @+1 {{'attn.log_softmax' op expects an input of rank >= 1, found a scalar tensor}}
  %y = attn.log_softmax %x : tensor<f32>
  return
}

// -----

func.func @binary_types(%x: tensor<?x8xf32>, %y: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.add' op expects operands whose shapes broadcast, found [?, 8] and [?, 4]: sizes 8 and 4 meet at dimension 1 of the result}}
  %z = attn.add %x, %y : (tensor<?x8xf32>, tensor<?x4xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @broadcast_result(%x: tensor<?x1x8xf32>, %y: tensor<?x5x8xf32>) {
  // expected-error @+1 {{'attn.mul' op result shape [?, 1, 8] does not match the shape [?, 5, 8] implied by the operands}}
  %z = attn.mul %x, %y : (tensor<?x1x8xf32>, tensor<?x5x8xf32>) -> tensor<?x1x8xf32>
  return
}

// -----

func.func @constant_rank() {
  // expected-error @+1 {{'attn.constant' op expects a rank-0 result, found [1]}}
  %c = attn.constant {value = 1.0 : f32} : tensor<1xf32>
  return
}

// -----

func.func @conv_rank(%x: tensor<?x8x8xf32>, %w: tensor<4x1x3x3xf32>) {
  // expected-error @+1 {{'attn.conv2d' op expects an input of rank 4 [batch, channels, height, width], found rank 3 [?, 8, 8]}}
  %y = attn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_dynamic(%x: tensor<?x1x?x8xf32>, %w: tensor<4x1x3x3xf32>) {
  // expected-error @+1 {{'attn.conv2d' op expects static channels, height and width, found [?, 1, ?, 8]}}
  %y = attn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x1x?x8xf32>, tensor<4x1x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_groups(%x: tensor<?x3x8x8xf32>, %w: tensor<4x1x3x3xf32>) {
  // expected-error @+1 {{'attn.conv2d' op expects input channels (3) and output channels (4) divisible by groups (2)}}
  %y = attn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 2 : i64} : (tensor<?x3x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_weight(%x: tensor<?x3x8x8xf32>, %w: tensor<4x2x3x3xf32>) {
  // expected-error @+1 {{'attn.conv2d' op expects a weight with 3 input channels per group (input channels / groups), found [4, 2, 3, 3]}}
  %y = attn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x8x8xf32>, tensor<4x2x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_stride(%x: tensor<?x1x8x8xf32>, %w: tensor<4x1x3x3xf32>) {
  // expected-error @+1 {{'attn.conv2d' op expects stride values >= 1, found 0}}
  %y = attn.conv2d %x, %w {stride = array<i64: 0, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<?x4x6x6xf32>
  return
}

// -----

func.func @conv_fit(%x: tensor<?x1x2x2xf32>, %w: tensor<4x1x3x3xf32>) {
  // expected-error @+1 {{'attn.conv2d' op expects the kernel to fit the padded input, found input [?, 1, 2, 2] and weight [4, 1, 3, 3]}}
  %y = attn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x1x2x2xf32>, tensor<4x1x3x3xf32>) -> tensor<?x4x1x1xf32>
  return
}

// -----

func.func @conv_result(%x: tensor<?x1x8x8xf32>, %w: tensor<4x1x3x3xf32>) {
  // expected-error @+1 {{'attn.conv2d' op result shape [?, 4, 8, 8] does not match the shape [?, 4, 6, 6] implied by the operands}}
  %y = attn.conv2d %x, %w {stride = array<i64: 1, 1>, padding = array<i64: 0, 0>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @pool_kind(%x: tensor<?x1x8x8xf32>) {
  // expected-error @+1 {{'attn.pool2d' op expects kind "max" or "avg", found "min"}}
  %y = attn.pool2d %x {kind = "min", kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : (tensor<?x1x8x8xf32>) -> tensor<?x1x4x4xf32>
  return
}

// -----

func.func @pool_padding(%x: tensor<?x1x8x8xf32>) {
  // expected-error @+1 {{'attn.pool2d' op expects padding at most half the kernel, found padding 2 for kernel 2}}
  %y = attn.pool2d %x {kind = "max", kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 2, 2>} : (tensor<?x1x8x8xf32>) -> tensor<?x1x6x6xf32>
  return
}

// -----

func.func @global_pool_rank(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.global_pool' op expects an input of rank 4 [batch, channels, height, width], found rank 2 [?, 8]}}
  %y = attn.global_pool %x {kind = "avg"} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @batch_norm_channels(%x: tensor<?x8x4x4xf32>, %v: tensor<8xf32>, %m: tensor<4xf32>) {
  // expected-error @+1 {{'attn.batch_norm' op expects the channel count of mean [4] and the input [?, 8, 4, 4] to agree, found 4 and 8}}
  %y = attn.batch_norm %x, %v, %v, %m, %v {epsilon = 1.0e-5 : f32} : (tensor<?x8x4x4xf32>, tensor<8xf32>, tensor<8xf32>, tensor<4xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  return
}

// -----

func.func @flatten_dynamic(%x: tensor<?x?x4xf32>) {
  // expected-error @+1 {{'attn.flatten' op expects static dimensions after the first, found [?, ?, 4]}}
  %y = attn.flatten %x : (tensor<?x?x4xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @channel_attention_weights(%x: tensor<?x8x4x4xf32>, %w1: tensor<2x8xf32>, %b1: tensor<2xf32>, %w2: tensor<8x3xf32>, %b2: tensor<8xf32>) {
  // expected-error @+1 {{'attn.channel_attention' op expects the second weight to be [8, 2], found [8, 3]}}
  %y = attn.channel_attention %x, %w1, %b1, %w2, %b2 : (tensor<?x8x4x4xf32>, tensor<2x8xf32>, tensor<2xf32>, tensor<8x3xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  return
}

// -----

func.func @spatial_attention_kernel(%x: tensor<?x8x4x4xf32>, %w: tensor<1x2x4x4xf32>) {
  // expected-error @+1 {{'attn.spatial_attention' op expects a weight [1, 2, k, k] with an odd k, found [1, 2, 4, 4]}}
  %y = attn.spatial_attention %x, %w : (tensor<?x8x4x4xf32>, tensor<1x2x4x4xf32>) -> tensor<?x8x4x4xf32>
  return
}

// -----

func.func @self_attention_bias(%x: tensor<?x8x4x4xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %c: tensor<5xf32>, %wo: tensor<8x4xf32>, %bo: tensor<8xf32>) {
  // expected-error @+1 {{'attn.self_attention_2d' op expects the key bias to be [4], found [5]}}
  %y = attn.self_attention_2d %x, %w, %b, %w, %c, %w, %b, %wo, %bo : (tensor<?x8x4x4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x8xf32>, tensor<5xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<?x8x4x4xf32>
  return
}

// -----

func.func @expand_dims_axis(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.expand_dims' op expects an axis in [0, 2], found 3}}
  %y = attn.expand_dims %x {axis = 3 : i64} : (tensor<?x8xf32>) -> tensor<?x8x1xf32>
  return
}

// -----

func.func @squeeze_size(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.squeeze' op expects dimension 1 to have size 1, found [?, 8]}}
  %y = attn.squeeze %x {axis = 1 : i64} : (tensor<?x8xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @squeeze_axis(%x: tensor<?x1xf32>) {
  // expected-error @+1 {{'attn.squeeze' op expects an axis in [0, 1], found 2}}
  %y = attn.squeeze %x {axis = 2 : i64} : (tensor<?x1xf32>) -> tensor<?xf32>
  return
}

// -----

func.func @additive_score_v(%q: tensor<?x?x6xf32>, %v: tensor<1x5xf32>) {
  // expected-error @+1 {{'attn.additive_score' op expects v to be [1, 6], found [1, 5]}}
  %s = attn.additive_score %q, %q, %v : (tensor<?x?x6xf32>, tensor<?x?x6xf32>, tensor<1x5xf32>) -> tensor<?x1x?x?xf32>
  return
}

// -----

func.func @additive_units(%q: tensor<?x?x12xf32>, %k: tensor<?x?x20xf32>, %wq: tensor<6x12xf32>, %wk: tensor<5x20xf32>, %v: tensor<1x6xf32>) {
  // expected-error @+1 {{'attn.additive_attention' op expects the unit count of the query weight [6, 12] and the key weight [5, 20] to agree, found 6 and 5}}
  %c = attn.additive_attention %q, %k, %k, %wq, %wk, %v : (tensor<?x?x12xf32>, tensor<?x?x20xf32>, tensor<?x?x20xf32>, tensor<6x12xf32>, tensor<5x20xf32>, tensor<1x6xf32>) -> tensor<?x?x20xf32>
  return
}

// -----

func.func @additive_features(%q: tensor<?x?x12xf32>, %k: tensor<?x?x20xf32>, %wq: tensor<6x10xf32>, %wk: tensor<6x20xf32>, %v: tensor<1x6xf32>) {
  // expected-error @+1 {{'attn.additive_attention' op expects the feature size of query [?, ?, 12] and its weight [6, 10] to agree, found 12 and 10}}
  %c = attn.additive_attention %q, %k, %k, %wq, %wk, %v : (tensor<?x?x12xf32>, tensor<?x?x20xf32>, tensor<?x?x20xf32>, tensor<6x10xf32>, tensor<6x20xf32>, tensor<1x6xf32>) -> tensor<?x?x20xf32>
  return
}

// -----

func.func @lstm_weight(%xp: tensor<?x?x64xf32>, %w: tensor<60x16xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{'attn.lstm' op expects a recurrent weight [4 × hidden, hidden], found [60, 16]}}
  %h, %s = attn.lstm %xp, %w, %b : (tensor<?x?x64xf32>, tensor<60x16xf32>, tensor<64xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x80xf32>)
  return
}

// -----

func.func @lstm_projection(%xp: tensor<?x?x32xf32>, %w: tensor<64x16xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{'attn.lstm' op expects projected inputs [batch, steps, 64] and a bias [64], found [?, ?, 32] and [64]}}
  %h, %s = attn.lstm %xp, %w, %b : (tensor<?x?x32xf32>, tensor<64x16xf32>, tensor<64xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x80xf32>)
  return
}

// -----

func.func @lstm_lengths(%xp: tensor<2x?x64xf32>, %w: tensor<64x16xf32>, %b: tensor<64xf32>, %l: tensor<3xi32>) {
  // expected-error @+1 {{'attn.lstm' op expects the batch size of lengths [3] and the inputs [2, ?, 64] to agree, found 3 and 2}}
  %h, %s = attn.lstm %xp, %w, %b lengths %l : (tensor<2x?x64xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<3xi32>) -> (tensor<2x?x16xf32>, tensor<2x?x80xf32>)
  return
}

// -----

func.func @lstm_steps(%xp: tensor<?x?x64xf32>, %w: tensor<64x16xf32>, %b: tensor<64xf32>) {
  // expected-error @+1 {{'attn.lstm' op expects the steps [batch, steps, 80], found [?, ?, 64]}}
  %h, %s = attn.lstm %xp, %w, %b : (tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x64xf32>)
  return
}

// -----

func.func @gru_weight(%xp: tensor<?x?x48xf32>, %w: tensor<64x16xf32>, %b: tensor<48xf32>) {
  // expected-error @+1 {{'attn.gru' op expects a recurrent weight [3 × hidden, hidden], found [64, 16]}}
  %h, %s = attn.gru %xp, %w, %b : (tensor<?x?x48xf32>, tensor<64x16xf32>, tensor<48xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x48xf32>)
  return
}

// -----

func.func @decode_mode(%h: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.decode' op expects mode "teacher", "greedy", "beam" or "reverse", found "sample"}}
  %t = attn.decode "sample"(%h) : (tensor<?x4xf32>) -> tensor<?x?xi32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>) emit %s : tensor<?x4xf32>
  }
  return
}

// -----

func.func @decode_teacher_missing(%h: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.decode' op in mode "teacher" expects teacher tokens [batch, steps]}}
  %t = attn.decode "teacher"(%h) : (tensor<?x4xf32>) -> tensor<?x?x4xf32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>) emit %s : tensor<?x4xf32>
  }
  return
}

// -----

func.func @decode_width(%h: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.decode' op takes a beam width only in mode "beam", found width = 3}}
  %t = attn.decode "greedy"(%h) {width = 3 : i64} : (tensor<?x4xf32>) -> tensor<?x?xi32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>) emit %s : tensor<?x4xf32>
  }
  return
}

// -----

func.func @decode_token(%h: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.decode' op expects the step's first argument to be the previous token, i32 [rows], found 'tensor<?xf32>'}}
  %t = attn.decode "greedy"(%h) : (tensor<?x4xf32>) -> tensor<?x?xi32> {
  ^bb0(%y: tensor<?xf32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>) emit %s : tensor<?x4xf32>
  }
  return
}

// -----

func.func @decode_next_state(%h: tensor<?x4xf32>, %w: tensor<3x4xf32>) {
  // expected-error @+1 {{'attn.decode' op expects next state 0 to have the type of step argument 1 [?, 4], found [?, 3]}}
  %t = attn.decode "greedy"(%h) : (tensor<?x4xf32>) -> tensor<?x?xi32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x4xf32>):
    %n = attn.dense %s, %w : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
    attn.decode_yield (%n : tensor<?x3xf32>) emit %s : tensor<?x4xf32>
  }
  return
}

// -----

func.func @decode_scores(%h: tensor<?x4xf32>, %w: tensor<3x4xf32>) {
  // expected-error @+1 {{'attn.decode' op in mode "beam" expects the first emitted value to be f32 scores [rows, vocabulary] with a static vocabulary, found 'tensor<?x?xf32>'}}
  %t = attn.decode "beam"(%h) {width = 2 : i64} : (tensor<?x4xf32>) -> tensor<?x?xi32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x4xf32>):
    %e = attn.expand_dims %s {axis = 2 : i64} : (tensor<?x4xf32>) -> tensor<?x4x1xf32>
    %f = attn.squeeze %e {axis = 2 : i64} : (tensor<?x4x1xf32>) -> tensor<?x?xf32>
    attn.decode_yield (%s : tensor<?x4xf32>) emit %f : tensor<?x?xf32>
  }
  return
}

// -----

func.func @decode_results(%h: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.decode' op in mode "greedy" expects 2 results (the tokens, then each emitted value after the first, stacked over the steps), found 1}}
  %t = attn.decode "greedy"(%h) : (tensor<?x4xf32>) -> tensor<?x?xi32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>) emit %s, %s : tensor<?x4xf32>, tensor<?x4xf32>
  }
  return
}

// -----

func.func @lstm_cell_weights(%x: tensor<?x3xf32>, %h: tensor<?x4xf32>, %w: tensor<12x3xf32>, %b: tensor<16xf32>,
                             %u: tensor<16x4xf32>) {
  // expected-error @+1 {{'attn.lstm_cell' op expects an input weight [16, 3] for hidden size 4 and input width 3, found [12, 3]}}
  %a, %c, %g = attn.lstm_cell %x, %h, %h, %w, %b, %u, %b
      : (tensor<?x3xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<12x3xf32>, tensor<16xf32>, tensor<16x4xf32>, tensor<16xf32>)
      -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x16xf32>)
  return
}

// -----

func.func @lstm_cell_gates(%x: tensor<?x3xf32>, %h: tensor<?x4xf32>, %w: tensor<16x3xf32>, %b: tensor<16xf32>,
                           %u: tensor<16x4xf32>) {
  // expected-error @+1 {{'attn.lstm_cell' op expects gates [rows, 16] for a hidden state [?, 4], found [?, 12]}}
  %a, %c, %g = attn.lstm_cell %x, %h, %h, %w, %b, %u, %b
      : (tensor<?x3xf32>, tensor<?x4xf32>, tensor<?x4xf32>, tensor<16x3xf32>, tensor<16xf32>, tensor<16x4xf32>, tensor<16xf32>)
      -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x12xf32>)
  return
}

// -----

func.func @zeros_dim(%x: tensor<?x3xf32>) {
  // expected-error @+1 {{'attn.zeros' op expects a result of rank >= 1 and a dimension of 'like' [?, 3], found dim = 2}}
  %z = attn.zeros %x {dim = 2 : i64} : (tensor<?x3xf32>) -> tensor<?x4xf32>
  return
}

// -----

func.func @reshape_elements(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'attn.reshape' op expects a result with the input's dynamic dimensions and as many elements, found [?, 4, 6] (1 dynamic, static product 24) reshaped to [?, 5, 5] (1 dynamic, static product 25)}}
  %y = attn.reshape %x : (tensor<?x4x6xf32>) -> tensor<?x5x5xf32>
  return
}

// -----

func.func @reshape_dynamic(%x: tensor<?x?x6xf32>) {
  // expected-error @+1 {{'attn.reshape' op expects a result with the input's dynamic dimensions and as many elements, found [?, ?, 6] (2 dynamic, static product 6) reshaped to [?, 6] (1 dynamic, static product 6)}}
  %y = attn.reshape %x : (tensor<?x?x6xf32>) -> tensor<?x6xf32>
  return
}

// -----

func.func @transpose_permutation(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'attn.transpose' op expects a permutation of 0..2, found [0, 2, 2]}}
  %y = attn.transpose %x {permutation = array<i64: 0, 2, 2>} : (tensor<?x4x6xf32>) -> tensor<?x6x6xf32>
  return
}

// -----

func.func @transpose_result(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'attn.transpose' op result shape [?, 4, 6] does not match the shape [?, 6, 4] implied by the operands}}
  %y = attn.transpose %x {permutation = array<i64: 0, 2, 1>} : (tensor<?x4x6xf32>) -> tensor<?x4x6xf32>
  return
}

// -----

func.func @slice_range(%x: tensor<?x4x6xf32>) {
  // expected-error @+1 {{'attn.slice' op expects 0 <= start, 1 <= size and start + size <= 6, found start 4 and size 3}}
  %y = attn.slice %x {axis = 2 : i64, start = 4 : i64, size = 3 : i64} : (tensor<?x4x6xf32>) -> tensor<?x4x3xf32>
  return
}

// -----

func.func @slice_dynamic(%x: tensor<?x?x6xf32>) {
  // expected-error @+1 {{'attn.slice' op expects a static dimension 1, found [?, ?, 6]}}
  %y = attn.slice %x {axis = 1 : i64, start = 0 : i64, size = 1 : i64} : (tensor<?x?x6xf32>) -> tensor<?x1x6xf32>
  return
}

// -----

func.func @reduce_kind(%x: tensor<?x8x5xf32>) {
  // expected-error @+1 {{'attn.reduce' op expects kind "sum", "mean", "max" or "min", found "prod"}}
  %y = attn.reduce %x {axis = 1 : i64, kind = "prod"} : (tensor<?x8x5xf32>) -> tensor<?x1x5xf32>
  return
}

// -----

func.func @reduce_result(%x: tensor<?x?x5xf32>) {
  // expected-error @+1 {{'attn.reduce' op result shape [?, 3, 5] does not match the shape [?, 1, 5] implied by the operands}}
  %y = attn.reduce %x {axis = 1 : i64, kind = "max"} : (tensor<?x?x5xf32>) -> tensor<?x3x5xf32>
  return
}

// -----

func.func @matmul_contraction(%a: tensor<?x4x8xf32>, %b: tensor<?x6x5xf32>) {
  // expected-error @+1 {{'attn.matmul' op expects the contracted dimensions of [?, 4, 8] and [?, 6, 5] to agree, found 8 and 6}}
  %y = attn.matmul %a, %b : (tensor<?x4x8xf32>, tensor<?x6x5xf32>) -> tensor<?x4x5xf32>
  return
}

// -----

func.func @matmul_batch(%a: tensor<3x4x8xf32>, %b: tensor<2x8x5xf32>) {
  // expected-error @+1 {{'attn.matmul' op expects batch dimensions that broadcast, found [3, 4, 8] and [2, 8, 5]}}
  %y = attn.matmul %a, %b : (tensor<3x4x8xf32>, tensor<2x8x5xf32>) -> tensor<3x4x5xf32>
  return
}

// -----

func.func @broadcast_shape(%x: tensor<?x2x1xf32>, %like: tensor<?x8x5xf32>) {
  // expected-error @+1 {{'attn.broadcast' op expects an input whose dimensions are 1 or those of [?, 8, 5], found [?, 2, 1]}}
  %y = attn.broadcast %x, %like : (tensor<?x2x1xf32>, tensor<?x8x5xf32>) -> tensor<?x8x5xf32>
  return
}

// -----

func.func @cross_entropy_targets(%l: tensor<?x?x5xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{'attn.cross_entropy' op expects logits [..., V] and targets with their leading dimensions, found [?, ?, 5] and [?]}}
  %y = attn.cross_entropy %l, %t {label_smoothing = 0.0 : f32} : (tensor<?x?x5xf32>, tensor<?xi32>) -> tensor<f32>
  return
}

// -----

func.func @cross_entropy_smoothing(%l: tensor<?x5xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{'attn.cross_entropy' op expects a label smoothing in [0, 1], found -1}}
  %y = attn.cross_entropy %l, %t {label_smoothing = -1.0 : f32} : (tensor<?x5xf32>, tensor<?xi32>) -> tensor<f32>
  return
}

// -----

func.func @mse_shapes(%a: tensor<?x5xf32>, %b: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.mse' op expects two tensors of one shape, found [?, 5] and [?, 4]}}
  %y = attn.mse %a, %b : (tensor<?x5xf32>, tensor<?x4xf32>) -> tensor<f32>
  return
}

// -----

// A reverse loop gives its state, then each emitted value stacked over the steps.
func.func @reverse_emits(%h: tensor<?x4xf32>, %t: tensor<?x?xi32>) {
  // expected-error @+1 {{'attn.decode' op in mode "reverse" expects the step to yield one value per carried state (1) and the loop to give those, then each emitted value stacked}}
  %r = attn.decode "reverse"(%h) teacher %t : (tensor<?x4xf32>, tensor<?x?xi32>) -> tensor<?x4xf32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>) emit %s : tensor<?x4xf32>
  }
  return
}

// -----

func.func @reverse_emit_stack(%h: tensor<?x4xf32>, %t: tensor<?x?xi32>) {
  // expected-error @+1 {{'attn.decode' op expects result 1 to be 'tensor<?x?x4xf32>', found 'tensor<?x4xf32>'}}
  %r:2 = attn.decode "reverse"(%h) teacher %t : (tensor<?x4xf32>, tensor<?x?xi32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>) emit %s : tensor<?x4xf32>
  }
  return
}

// -----

func.func @reverse_sequence_slice(%h: tensor<?x4xf32>, %t: tensor<?x?xi32>, %seq: tensor<?x?x3xf32>) {
  // expected-error @+1 {{'attn.decode' op expects step argument 1 to be one step of sequence 0, found [?, 4]}}
  %r = attn.decode "reverse"(%h) teacher %t sequences(%seq)
      : (tensor<?x4xf32>, tensor<?x?xi32>, tensor<?x?x3xf32>) -> tensor<?x4xf32> {
  ^bb0(%y: tensor<?xi32>, %x: tensor<?x4xf32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>)
  }
  return
}

// -----

func.func @sequences_outside_reverse(%h: tensor<?x4xf32>, %t: tensor<?x?xi32>, %seq: tensor<?x?x4xf32>) {
  // expected-error @+1 {{'attn.decode' op takes sequences only in mode "reverse"}}
  %r = attn.decode "teacher"(%h) teacher %t sequences(%seq)
      : (tensor<?x4xf32>, tensor<?x?xi32>, tensor<?x?x4xf32>) -> tensor<?x?x4xf32> {
  ^bb0(%y: tensor<?xi32>, %x: tensor<?x4xf32>, %s: tensor<?x4xf32>):
    attn.decode_yield (%s : tensor<?x4xf32>) emit %s : tensor<?x4xf32>
  }
  return
}

// -----

func.func @cell_grad_wrt(%g: tensor<?x16xf32>, %s: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.cell_grad' op expects wrt "gates" or "state" for cell "lstm", found "input_gates"}}
  %d = attn.cell_grad [%g], %s, %s {cell = "lstm", wrt = "input_gates"}
      : (tensor<?x16xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @cell_grad_gates(%g: tensor<?x12xf32>, %s: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.cell_grad' op expects gates [rows, 16] for a state [?, 4], found [?, 12]}}
  %d = attn.cell_grad [%g], %s, %s {cell = "lstm", wrt = "gates"}
      : (tensor<?x12xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x12xf32>
  return
}

// -----

func.func @cell_grad_gate_count(%g: tensor<?x16xf32>, %s: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.cell_grad' op expects one gates tensor (the pre-activations) for cell "lstm", found 2}}
  %d = attn.cell_grad [%g, %g], %s, %s {cell = "lstm", wrt = "gates"}
      : (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x16xf32>
  return
}

// -----

func.func @recurrence_grad_dy(%xp: tensor<?x?x16xf32>, %w: tensor<16x4xf32>, %b: tensor<16xf32>, %h: tensor<?x?x4xf32>, %s: tensor<?x?x20xf32>, %dy: tensor<?x?x5xf32>) {
  // expected-error @+1 {{'attn.recurrence_grad' op expects the result's gradient [batch, steps, 4], found [?, ?, 5]}}
  %d = attn.recurrence_grad %xp, %w, %b, %h, %s, %dy {cell = "lstm"}
      : (tensor<?x?x16xf32>, tensor<16x4xf32>, tensor<16xf32>, tensor<?x?x4xf32>, tensor<?x?x20xf32>, tensor<?x?x5xf32>) -> tensor<?x?x16xf32>
  return
}

// -----

func.func @conv2d_grad_wrt(%x: tensor<?x1x8x8xf32>, %w: tensor<4x1x3x3xf32>, %dy: tensor<?x4x8x8xf32>) {
  // expected-error @+1 {{'attn.conv2d_grad' op expects wrt "input", "weight", "bias", found "stride"}}
  %d = attn.conv2d_grad %x, %w, %dy {wrt = "stride", stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64}
      : (tensor<?x1x8x8xf32>, tensor<4x1x3x3xf32>, tensor<?x4x8x8xf32>) -> tensor<?x1x8x8xf32>
  return
}

// -----

func.func @pool_grad_kind(%x: tensor<?x4x8x8xf32>, %dy: tensor<?x4x4x4xf32>) {
  // expected-error @+1 {{'attn.pool_grad' op expects kind "max", "amax", "avg", found "min"}}
  %d = attn.pool_grad %x, %dy {kind = "min", kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>}
      : (tensor<?x4x8x8xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @reduce_grad_axis(%x: tensor<?x4x8x8xf32>, %dy: tensor<?x1x8x8xf32>) {
  // expected-error @+1 {{'attn.reduce_grad' op expects an axis of the input and a gradient of its rank, found axis 4 for [?, 4, 8, 8] and [?, 1, 8, 8]}}
  %d = attn.reduce_grad %x, %dy {axis = 4 : i64, kind = "max"} : (tensor<?x4x8x8xf32>, tensor<?x1x8x8xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @broadcast_grad_rank(%x: tensor<?x4x1x1xf32>, %dy: tensor<?x4x8xf32>) {
  // expected-error @+1 {{'attn.broadcast_grad' op expects a gradient of a shape the input broadcasts to, found [?, 4, 8] for [?, 4, 1, 1]}}
  %d = attn.broadcast_grad %x, %dy : (tensor<?x4x1x1xf32>, tensor<?x4x8xf32>) -> tensor<?x4x1x1xf32>
  return
}

// -----

func.func @slice_grad_axis(%x: tensor<1x2x7x7xf32>, %dy: tensor<1x1x7x7xf32>) {
  // expected-error @+1 {{'attn.slice_grad' op expects an axis of the input and a gradient of its rank, found axis -1 for [1, 2, 7, 7] and [1, 1, 7, 7]}}
  %d = attn.slice_grad %x, %dy {axis = -1 : i64, start = 0 : i64} : (tensor<1x2x7x7xf32>, tensor<1x1x7x7xf32>) -> tensor<1x2x7x7xf32>
  return
}

// -----

func.func @batch_norm_grad_shapes(%x: tensor<?x4x8x8xf32>, %w: tensor<4xf32>, %dy: tensor<?x4x4x4xf32>) {
  // expected-error @+1 {{'attn.batch_norm_grad' op expects an input and a gradient of one shape, found [?, 4, 8, 8] and [?, 4, 4, 4]}}
  %d = attn.batch_norm_grad %x, %w, %dy {wrt = "input", epsilon = 1.0e-05 : f32}
      : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<?x4x4x4xf32>) -> tensor<?x4x8x8xf32>
  return
}

// -----

func.func @batch_norm_train_statistic(%x: tensor<?x4x8x8xf32>, %w: tensor<4xf32>) {
  // expected-error @+1 {{'attn.batch_norm_train' op expects statistic "output", "mean", "variance", found "median"}}
  %y = attn.batch_norm_train %x, %w, %w, %w {statistic = "median", epsilon = 1.0e-05 : f32, momentum = 0.1 : f32}
      : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @recurrence_weight_grad_shapes(%dg: tensor<?x?x16xf32>, %h: tensor<?x4xf32>) {
  // expected-error @+1 {{'attn.recurrence_weight_grad' op expects gate gradients [batch, steps, G] and hidden states [batch, steps, H] with static G and H, found [?, ?, 16] and [?, 4]}}
  %d = attn.recurrence_weight_grad %dg, %h : (tensor<?x?x16xf32>, tensor<?x4xf32>) -> tensor<16x4xf32>
  return
}

// -----

func.func @batch_sums_of(%x: tensor<?x4x8x8xf32>) {
  // expected-error @+1 {{'attn.batch_sums' op expects of "x", "centered", "grad", found "median"}}
  %s = attn.batch_sums %x {of = "median", epsilon = 1.0e-05 : f32} : (tensor<?x4x8x8xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @batch_sums_count(%x: tensor<?x4x8x8xf32>) {
  // expected-error @+1 {{'attn.batch_sums' op expects 1 statistics operands here, found 0}}
  %s = attn.batch_sums %x {of = "centered", epsilon = 1.0e-05 : f32} : (tensor<?x4x8x8xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @batch_sums_shape(%x: tensor<?x4x8x8xf32>, %s: tensor<2x3xf32>) {
  // expected-error @+1 {{'attn.batch_sums' op expects statistics [2, C] for the input [?, 4, 8, 8], found [2, 3]}}
  %c = attn.batch_sums %x, %s {of = "centered", epsilon = 1.0e-05 : f32} : (tensor<?x4x8x8xf32>, tensor<2x3xf32>) -> tensor<2x4xf32>
  return
}

// -----

func.func @batch_norm_grad_stats(%x: tensor<?x4x8x8xf32>, %w: tensor<4xf32>, %s: tensor<2x4xf32>) {
  // expected-error @+1 {{'attn.batch_norm_grad' op expects 2 statistics operands here, found 1}}
  %d = attn.batch_norm_grad %x, %w, %x stats(%s) {wrt = "weight", epsilon = 1.0e-05 : f32}
      : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<?x4x8x8xf32>, tensor<2x4xf32>) -> tensor<4xf32>
  return
}

// -----

func.func @all_sum_type(%x: tensor<2x4xf32>) {
  // expected-error @+1 {{'attn.all_sum' op requires the same type for all operands and results}}
  %s = "attn.all_sum"(%x) : (tensor<2x4xf32>) -> tensor<2x3xf32>
  return
}

// -----

func.func @dropout_rate(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.dropout' op expects a rate in [0, 1), found 1}}
  %y = attn.dropout %x {rate = 1.0 : f32, stream = 0 : i64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @dropout_seed(%x: tensor<?x8xf32>, %s: tensor<4xi32>) {
  // expected-error @+1 {{'attn.dropout' op expects the seed as i32 [6] (seed low and high, step, row offset, on, decoder step), found [4]}}
  %y = attn.dropout %x seed(%s) {rate = 0.5 : f32, stream = 0 : i64} : (tensor<?x8xf32>, tensor<4xi32>) -> tensor<?x8xf32>
  return
}
