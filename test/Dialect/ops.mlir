// RUN: attn-opt %s | attn-opt | FileCheck %s

// CHECK-LABEL: func.func @layers
func.func @layers(%x: tensor<?x?x32xf32>) -> tensor<?x?x64xf32> {
  // CHECK: %[[W:.+]] = attn.param "p.weight" : tensor<64x32xf32>
  // CHECK: %[[B:.+]] = attn.param "p.bias" : tensor<64xf32>
  // CHECK: %[[D:.+]] = attn.dense %{{.+}}, %[[W]], %[[B]] : (tensor<?x?x32xf32>, tensor<64x32xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  // CHECK: %[[N:.+]] = attn.dense %{{.+}}, %[[W]] : (tensor<?x?x32xf32>, tensor<64x32xf32>) -> tensor<?x?x64xf32>
  // CHECK: attn.relu %[[D]] : tensor<?x?x64xf32>
  // CHECK: attn.tanh
  // CHECK: attn.sigmoid
  // CHECK: attn.softmax
  %w = attn.param "p.weight" : tensor<64x32xf32>
  %b = attn.param "p.bias" : tensor<64xf32>
  %d = attn.dense %x, %w, %b : (tensor<?x?x32xf32>, tensor<64x32xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %n = attn.dense %x, %w : (tensor<?x?x32xf32>, tensor<64x32xf32>) -> tensor<?x?x64xf32>
  %r = attn.relu %d : tensor<?x?x64xf32>
  %t = attn.tanh %r : tensor<?x?x64xf32>
  %s = attn.sigmoid %t : tensor<?x?x64xf32>
  %p = attn.softmax %s : tensor<?x?x64xf32>
  return %p : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @more_layers
func.func @more_layers(%x: tensor<?x?x32xf32>, %y: tensor<?x?x32xf32>) -> tensor<?x?x32xf32> {
  // CHECK: attn.gelu %{{.+}} : tensor<?x?x32xf32>
  // CHECK: attn.add %{{.+}}, %{{.+}} : tensor<?x?x32xf32>
  // CHECK: attn.sub
  // CHECK: attn.mul
  // CHECK: attn.log_softmax %{{.+}} : tensor<?x?x32xf32>
  // CHECK: attn.layer_norm %{{.+}}, %{{.+}} bias %{{.+}} {epsilon = 9.99999974E-6 : f32} : (tensor<?x?x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  // CHECK: attn.layer_norm %{{.+}} {epsilon = 1.000000e-01 : f32} : (tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  %g = attn.gelu %x : tensor<?x?x32xf32>
  %a = attn.add %g, %y : tensor<?x?x32xf32>
  %s = attn.sub %a, %y : tensor<?x?x32xf32>
  %m = attn.mul %s, %y : tensor<?x?x32xf32>
  %l = attn.log_softmax %m : tensor<?x?x32xf32>
  %w = attn.param "n.weight" : tensor<32xf32>
  %b = attn.param "n.bias" : tensor<32xf32>
  %n = attn.layer_norm %l, %w bias %b {epsilon = 1.0e-5 : f32} : (tensor<?x?x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  %p = attn.layer_norm %n {epsilon = 0.1 : f32} : (tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  return %p : tensor<?x?x32xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<?x?x32xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x16xf32>,
                     %m: tensor<?x?xi32>) -> tensor<?x?x16xf32> {
  // CHECK: attn.dot_attention %{{.+}}, %{{.+}}, %{{.+}} mask %{{.+}} {causal, num_heads = 4 : i64, scale = 5.000000e-01 : f32}
  %a = attn.dot_attention %q, %k, %v mask %m {num_heads = 4 : i64, causal, scale = 0.5 : f32}
      : (tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x16xf32>, tensor<?x?xi32>) -> tensor<?x?x16xf32>
  // CHECK: %[[S:.+]] = attn.score %{{.+}}, %{{.+}} {num_heads = 4 : i64, scale = 2.500000e-01 : f32} : (tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x4x?x?xf32>
  // CHECK: %[[P:.+]] = attn.masked_softmax %[[S]] mask %{{.+}} {causal}
  // CHECK: attn.masked_softmax %[[S]] :
  // CHECK: attn.weighted_sum %[[P]], %{{.+}} : (tensor<?x4x?x?xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %s = attn.score %q, %k {num_heads = 4 : i64, scale = 0.25 : f32}
      : (tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x4x?x?xf32>
  %p = attn.masked_softmax %s mask %m {causal} : (tensor<?x4x?x?xf32>, tensor<?x?xi32>) -> tensor<?x4x?x?xf32>
  %u = attn.masked_softmax %s : (tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
  %c = attn.weighted_sum %p, %v : (tensor<?x4x?x?xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return %c : tensor<?x?x16xf32>
}

// CHECK-LABEL: func.func @kernel
func.func @kernel(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK: %[[K:.+]] = attn.kernel "relu_y"(%{{.+}}) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK-NEXT: ^bb0(%[[A:.+]]: tensor<?x8xf32>):
  // CHECK-NEXT: %[[R:.+]] = attn.relu %[[A]] : tensor<?x8xf32>
  // CHECK-NEXT: attn.yield %[[R]] : tensor<?x8xf32>
  %k = attn.kernel "relu_y"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>):
    %r = attn.relu %a : tensor<?x8xf32>
    attn.yield %r : tensor<?x8xf32>
  }
  return %k : tensor<?x8xf32>
}

// CHECK-LABEL: func.func @cnn
func.func @cnn(%x: tensor<?x3x9x7xf32>) -> tensor<?x96xf32> {
  %w = attn.param "c.weight" : tensor<8x3x3x3xf32>
  %b = attn.param "c.bias" : tensor<8xf32>
  // CHECK: attn.conv2d %{{.+}}, %{{.+}}, %{{.+}} {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x3x9x7xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<?x8x9x7xf32>
  %c = attn.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x3x9x7xf32>, tensor<8x3x3x3xf32>, tensor<8xf32>) -> tensor<?x8x9x7xf32>
  // CHECK: attn.batch_norm %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} {epsilon = 9.99999974E-6 : f32}
  %n = attn.batch_norm %c, %b, %b, %b, %b {epsilon = 1.0e-5 : f32} : (tensor<?x8x9x7xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<?x8x9x7xf32>
  %w1 = attn.param "a.fc1.weight" : tensor<2x8xf32>
  %b1 = attn.param "a.fc1.bias" : tensor<2xf32>
  %w2 = attn.param "a.fc2.weight" : tensor<8x2xf32>
  // CHECK: attn.channel_attention
  %a = attn.channel_attention %n, %w1, %b1, %w2, %b : (tensor<?x8x9x7xf32>, tensor<2x8xf32>, tensor<2xf32>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<?x8x9x7xf32>
  %ws = attn.param "s.conv.weight" : tensor<1x2x7x7xf32>
  // CHECK: attn.spatial_attention %{{.+}}, %{{.+}} : (tensor<?x8x9x7xf32>, tensor<1x2x7x7xf32>) -> tensor<?x8x9x7xf32>
  %s = attn.spatial_attention %a, %ws : (tensor<?x8x9x7xf32>, tensor<1x2x7x7xf32>) -> tensor<?x8x9x7xf32>
  %wq = attn.param "n.theta.weight" : tensor<4x8xf32>
  %bq = attn.param "n.theta.bias" : tensor<4xf32>
  %wo = attn.param "n.out.weight" : tensor<8x4xf32>
  // CHECK: attn.self_attention_2d
  %l = attn.self_attention_2d %s, %wq, %bq, %wq, %bq, %wq, %bq, %wo, %b : (tensor<?x8x9x7xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<?x8x9x7xf32>
  // CHECK: attn.pool2d %{{.+}} {kernel = array<i64: 2, 2>, kind = "max", padding = array<i64: 0, 0>, stride = array<i64: 2, 2>} : (tensor<?x8x9x7xf32>) -> tensor<?x8x4x3xf32>
  %p = attn.pool2d %l {kind = "max", kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>, padding = array<i64: 0, 0>} : (tensor<?x8x9x7xf32>) -> tensor<?x8x4x3xf32>
  // CHECK: attn.global_pool %{{.+}} {kind = "avg"} : (tensor<?x8x4x3xf32>) -> tensor<?x8xf32>
  %g = attn.global_pool %p {kind = "avg"} : (tensor<?x8x4x3xf32>) -> tensor<?x8xf32>
  // CHECK: attn.flatten %{{.+}} : (tensor<?x8x4x3xf32>) -> tensor<?x96xf32>
  %f = attn.flatten %p : (tensor<?x8x4x3xf32>) -> tensor<?x96xf32>
  return %f : tensor<?x96xf32>
}

// CHECK-LABEL: func.func @additive
func.func @additive(%q: tensor<?x12xf32>, %k: tensor<?x?x20xf32>, %m: tensor<?x?xi32>) -> tensor<?x20xf32> {
  %wq = attn.param "a.query.weight" : tensor<6x12xf32>
  %bq = attn.param "a.query.bias" : tensor<6xf32>
  %wk = attn.param "a.keys.weight" : tensor<6x20xf32>
  %v = attn.param "a.v.weight" : tensor<1x6xf32>
  // CHECK: %[[E:.+]] = attn.expand_dims %{{.+}} {axis = 1 : i64} : (tensor<?x12xf32>) -> tensor<?x1x12xf32>
  %e = attn.expand_dims %q {axis = 1 : i64} : (tensor<?x12xf32>) -> tensor<?x1x12xf32>
  // CHECK: attn.additive_attention %[[E]], %{{.+}}, %{{.+}} mask %{{.+}}, %{{.+}} bias %{{.+}}, %{{.+}}, %{{.+}} :
  %c = attn.additive_attention %e, %k, %k mask %m, %wq bias %bq, %wk, %v : (tensor<?x1x12xf32>, tensor<?x?x20xf32>, tensor<?x?x20xf32>, tensor<?x?xi32>, tensor<6x12xf32>, tensor<6xf32>, tensor<6x20xf32>, tensor<1x6xf32>) -> tensor<?x1x20xf32>
  %qp = attn.dense %e, %wq, %bq : (tensor<?x1x12xf32>, tensor<6x12xf32>, tensor<6xf32>) -> tensor<?x1x6xf32>
  %kp = attn.dense %k, %wk : (tensor<?x?x20xf32>, tensor<6x20xf32>) -> tensor<?x?x6xf32>
  // CHECK: attn.additive_score %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x1x6xf32>, tensor<?x?x6xf32>, tensor<1x6xf32>) -> tensor<?x1x1x?xf32>
  %s = attn.additive_score %qp, %kp, %v : (tensor<?x1x6xf32>, tensor<?x?x6xf32>, tensor<1x6xf32>) -> tensor<?x1x1x?xf32>
  // CHECK: attn.squeeze %{{.+}} {axis = 1 : i64} : (tensor<?x1x20xf32>) -> tensor<?x20xf32>
  %r = attn.squeeze %c {axis = 1 : i64} : (tensor<?x1x20xf32>) -> tensor<?x20xf32>
  return %r : tensor<?x20xf32>
}

// CHECK-LABEL: func.func @recurrent
func.func @recurrent(%xp: tensor<?x?x64xf32>, %len: tensor<?xi32>) -> tensor<?x?x16xf32> {
  %w = attn.param "l.weight_hh_l0" : tensor<64x16xf32>
  %b = attn.param "l.bias_hh_l0" : tensor<64xf32>
  // CHECK: attn.lstm %{{.+}}, %{{.+}}, %{{.+}} lengths %{{.+}} {reverse} : (tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<?xi32>) -> (tensor<?x?x16xf32>, tensor<?x?x80xf32>)
  %h, %hs = attn.lstm %xp, %w, %b lengths %len {reverse} : (tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64xf32>, tensor<?xi32>) -> (tensor<?x?x16xf32>, tensor<?x?x80xf32>)
  // CHECK: attn.lstm %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x80xf32>)
  %g, %gs = attn.lstm %xp, %w, %b : (tensor<?x?x64xf32>, tensor<64x16xf32>, tensor<64xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x80xf32>)
  %gw = attn.param "r.weight_hh_l0" : tensor<48x16xf32>
  %gb = attn.param "r.bias_hh_l0" : tensor<48xf32>
  %gxp = attn.dense %g, %gw : (tensor<?x?x16xf32>, tensor<48x16xf32>) -> tensor<?x?x48xf32>
  // CHECK: attn.gru %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x?x48xf32>, tensor<48x16xf32>, tensor<48xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x48xf32>)
  %r, %rs = attn.gru %gxp, %gw, %gb : (tensor<?x?x48xf32>, tensor<48x16xf32>, tensor<48xf32>) -> (tensor<?x?x16xf32>, tensor<?x?x48xf32>)
  return %r : tensor<?x?x16xf32>
}

// CHECK-LABEL: func.func @decoding
func.func @decoding(%src: tensor<?x?xi32>, %x: tensor<?x12xf32>, %tgt: tensor<?x?xi32>)
    -> (tensor<?x?xi32>, tensor<?x?x8xf32>, tensor<?x?x16xf32>) {
  // CHECK: %[[H0:.+]] = attn.zeros %{{.+}} {dim = 0 : i64} : (tensor<?x?xi32>) -> tensor<?x16xf32>
  %h0 = attn.zeros %src {dim = 0 : i64} : (tensor<?x?xi32>) -> tensor<?x16xf32>
  %wih = attn.param "c.weight_ih" : tensor<64x12xf32>
  %bih = attn.param "c.bias_ih" : tensor<64xf32>
  %whh = attn.param "c.weight_hh" : tensor<64x16xf32>
  %bhh = attn.param "c.bias_hh" : tensor<64xf32>
  %gw = attn.param "g.weight_ih" : tensor<48x12xf32>
  %gb = attn.param "g.bias_ih" : tensor<48xf32>
  %gu = attn.param "g.weight_hh" : tensor<48x16xf32>
  %gv = attn.param "g.bias_hh" : tensor<48xf32>
  %out = attn.param "o.weight" : tensor<8x16xf32>
  // CHECK: %{{.+}}:2 = attn.decode "beam"(%[[H0]], %[[H0]]) {max_len = 9 : i64, stop = 3 : i64, width = 2 : i64}
  // CHECK-SAME: : (tensor<?x16xf32>, tensor<?x16xf32>) -> (tensor<?x?xi32>, tensor<?x?x16xf32>)
  // CHECK-NEXT: ^bb0(%{{.+}}: tensor<?xi32>, %[[H:.+]]: tensor<?x16xf32>, %[[C:.+]]: tensor<?x16xf32>):
  %tokens, %hs = attn.decode "beam"(%h0, %h0) {width = 2 : i64, stop = 3 : i64, max_len = 9 : i64}
      : (tensor<?x16xf32>, tensor<?x16xf32>) -> (tensor<?x?xi32>, tensor<?x?x16xf32>) {
  ^bb0(%y: tensor<?xi32>, %h: tensor<?x16xf32>, %c: tensor<?x16xf32>):
    // CHECK: attn.lstm_cell %{{.+}}, %[[H]], %[[C]], %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x12xf32>, tensor<?x16xf32>, tensor<?x16xf32>, tensor<64x12xf32>, tensor<64xf32>, tensor<64x16xf32>, tensor<64xf32>) -> (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x64xf32>)
    %h1, %c1, %gates = attn.lstm_cell %x, %h, %c, %wih, %bih, %whh, %bhh
        : (tensor<?x12xf32>, tensor<?x16xf32>, tensor<?x16xf32>, tensor<64x12xf32>, tensor<64xf32>, tensor<64x16xf32>, tensor<64xf32>)
        -> (tensor<?x16xf32>, tensor<?x16xf32>, tensor<?x64xf32>)
    %s = attn.dense %h1, %out : (tensor<?x16xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
    // CHECK: attn.decode_yield(%{{.+}}, %{{.+}} : tensor<?x16xf32>, tensor<?x16xf32>) emit %{{.+}}, %{{.+}} : tensor<?x8xf32>, tensor<?x16xf32>
    attn.decode_yield (%h1, %c1 : tensor<?x16xf32>, tensor<?x16xf32>) emit %s, %h1 : tensor<?x8xf32>, tensor<?x16xf32>
  }
  // CHECK: attn.decode "teacher"(%[[H0]]) teacher %{{.+}} : (tensor<?x16xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32>
  %logits = attn.decode "teacher"(%h0) teacher %tgt : (tensor<?x16xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  ^bb0(%y: tensor<?xi32>, %h: tensor<?x16xf32>):
    // CHECK: attn.gru_cell
    %h1 = attn.gru_cell %x, %h, %gw, %gb, %gu, %gv
        : (tensor<?x12xf32>, tensor<?x16xf32>, tensor<48x12xf32>, tensor<48xf32>, tensor<48x16xf32>, tensor<48xf32>) -> tensor<?x16xf32>
    %s = attn.dense %h1, %out : (tensor<?x16xf32>, tensor<8x16xf32>) -> tensor<?x8xf32>
    attn.decode_yield (%h1 : tensor<?x16xf32>) emit %s : tensor<?x8xf32>
  }
  return %tokens, %logits, %hs : tensor<?x?xi32>, tensor<?x?x8xf32>, tensor<?x?x16xf32>
}

// CHECK-LABEL: func.func @reindexing
func.func @reindexing(%x: tensor<?x?x24xf32>) -> (tensor<?x4x?x6xf32>, tensor<?x?x8xf32>) {
  // CHECK: attn.reshape %{{.+}} : (tensor<?x?x24xf32>) -> tensor<?x?x4x6xf32>
  %r = attn.reshape %x : (tensor<?x?x24xf32>) -> tensor<?x?x4x6xf32>
  // CHECK: attn.transpose %{{.+}} {permutation = array<i64: 0, 2, 1, 3>} : (tensor<?x?x4x6xf32>) -> tensor<?x4x?x6xf32>
  %t = attn.transpose %r {permutation = array<i64: 0, 2, 1, 3>} : (tensor<?x?x4x6xf32>) -> tensor<?x4x?x6xf32>
  // CHECK: attn.slice %{{.+}} {axis = 2 : i64, size = 8 : i64, start = 16 : i64} : (tensor<?x?x24xf32>) -> tensor<?x?x8xf32>
  %s = attn.slice %x {axis = 2 : i64, start = 16 : i64, size = 8 : i64} : (tensor<?x?x24xf32>) -> tensor<?x?x8xf32>
  return %t, %s : tensor<?x4x?x6xf32>, tensor<?x?x8xf32>
}

// CHECK-LABEL: func.func @reduce_broadcast
func.func @reduce_broadcast(%x: tensor<?x8x5x3xf32>) -> tensor<?x8x5x3xf32> {
  // CHECK: attn.reduce %{{.+}} {axis = 1 : i64, kind = "max"} : (tensor<?x8x5x3xf32>) -> tensor<?x1x5x3xf32>
  %m = attn.reduce %x {axis = 1 : i64, kind = "max"} : (tensor<?x8x5x3xf32>) -> tensor<?x1x5x3xf32>
  // CHECK: attn.broadcast %{{.+}}, %{{.+}} : (tensor<?x1x5x3xf32>, tensor<?x8x5x3xf32>) -> tensor<?x8x5x3xf32>
  %b = attn.broadcast %m, %x : (tensor<?x1x5x3xf32>, tensor<?x8x5x3xf32>) -> tensor<?x8x5x3xf32>
  return %b : tensor<?x8x5x3xf32>
}

// CHECK-LABEL: func.func @losses
func.func @losses(%l: tensor<?x?x5xf32>, %t: tensor<?x?xi32>) -> (tensor<f32>, tensor<f32>) {
  // CHECK: attn.cross_entropy %{{.+}}, %{{.+}} {ignore_index = 0 : i64, label_smoothing = 1.000000e-01 : f32} : (tensor<?x?x5xf32>, tensor<?x?xi32>) -> tensor<f32>
  %c = attn.cross_entropy %l, %t {ignore_index = 0 : i64, label_smoothing = 0.1 : f32} : (tensor<?x?x5xf32>, tensor<?x?xi32>) -> tensor<f32>
  // CHECK: attn.mse %{{.+}}, %{{.+}} : (tensor<?x?x5xf32>, tensor<?x?x5xf32>) -> tensor<f32>
  %m = attn.mse %l, %l : (tensor<?x?x5xf32>, tensor<?x?x5xf32>) -> tensor<f32>
  return %c, %m : tensor<f32>, tensor<f32>
}

// Batch statistics summed over the processes of a data-parallel run, and batch norm that reads them.
// CHECK-LABEL: func.func @across_processes
func.func @across_processes(%x: tensor<?x4x8x8xf32>, %w: tensor<4xf32>, %dy: tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32> {
  // CHECK: %[[S:.+]] = attn.batch_sums %{{.+}} {epsilon = 9.99999974E-6 : f32, of = "x"} : (tensor<?x4x8x8xf32>) -> tensor<2x4xf32>
  %s = attn.batch_sums %x {of = "x", epsilon = 1.0e-5 : f32} : (tensor<?x4x8x8xf32>) -> tensor<2x4xf32>
  // CHECK: %[[G:.+]] = attn.all_sum %[[S]] : tensor<2x4xf32>
  %g = attn.all_sum %s : tensor<2x4xf32>
  // CHECK: attn.batch_sums %{{.+}}, %[[G]] {epsilon = 9.99999974E-6 : f32, of = "centered"}
  %c = attn.batch_sums %x, %g {of = "centered", epsilon = 1.0e-5 : f32} : (tensor<?x4x8x8xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  %v = attn.all_sum %c : tensor<2x4xf32>
  // CHECK: attn.batch_norm_train %{{.+}}, %{{.+}}, %{{.+}}, %{{.+}} stats(%[[G]], %{{.+}}) {epsilon
  %y = attn.batch_norm_train %x, %w, %w, %w stats(%g, %v) {statistic = "output", epsilon = 1.0e-5 : f32, momentum = 0.1 : f32}
      : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<?x4x8x8xf32>
  %d = attn.batch_sums %x, %dy, %g, %v {of = "grad", epsilon = 1.0e-5 : f32} : (tensor<?x4x8x8xf32>, tensor<?x4x8x8xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<2x4xf32>
  // CHECK: attn.all_sum %{{.+}} {cotangent} : tensor<2x4xf32>
  %e = attn.all_sum %d {cotangent} : tensor<2x4xf32>
  // CHECK: attn.batch_norm_grad %{{.+}}, %{{.+}}, %{{.+}} stats(%[[G]], %{{.+}}, %{{.+}}) {epsilon = 9.99999974E-6 : f32, wrt = "input"}
  %dx = attn.batch_norm_grad %x, %w, %dy stats(%g, %v, %e) {wrt = "input", epsilon = 1.0e-5 : f32}
      : (tensor<?x4x8x8xf32>, tensor<4xf32>, tensor<?x4x8x8xf32>, tensor<2x4xf32>, tensor<2x4xf32>, tensor<2x4xf32>) -> tensor<?x4x8x8xf32>
  return %dx : tensor<?x4x8x8xf32>
}

// Dropout: the identity without a seed (inference), a mask from the seed in training.
// CHECK-LABEL: func.func @dropout
func.func @dropout(%x: tensor<?x8xf32>, %s: tensor<6xi32>) -> (tensor<?x8xf32>, tensor<?x8xf32>) {
  // CHECK: attn.dropout %{{.+}} {rate = 1.000000e-01 : f32, stream = 0 : i64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  %a = attn.dropout %x {rate = 0.1 : f32, stream = 0 : i64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  // CHECK: attn.dropout %{{.+}} seed(%{{.+}}) {rate = 5.000000e-01 : f32, stream = 1 : i64} : (tensor<?x8xf32>, tensor<6xi32>) -> tensor<?x8xf32>
  %b = attn.dropout %x seed(%s) {rate = 0.5 : f32, stream = 1 : i64} : (tensor<?x8xf32>, tensor<6xi32>) -> tensor<?x8xf32>
  return %a, %b : tensor<?x8xf32>, tensor<?x8xf32>
}

// Random shifts: the identity without a seed, shifted examples with one; `inverse` shifts back.
// CHECK-LABEL: func.func @random_shift
func.func @random_shift(%x: tensor<?x1x8x8xf32>, %s: tensor<6xi32>) -> (tensor<?x1x8x8xf32>, tensor<?x1x8x8xf32>) {
  // CHECK: attn.random_shift %{{.+}} {pixels = 1 : i64, stream = 0 : i64} : (tensor<?x1x8x8xf32>) -> tensor<?x1x8x8xf32>
  %a = attn.random_shift %x {pixels = 1 : i64, stream = 0 : i64} : (tensor<?x1x8x8xf32>) -> tensor<?x1x8x8xf32>
  // CHECK: attn.random_shift %{{.+}} seed(%{{.+}}) {inverse, pixels = 2 : i64, stream = 1 : i64} : (tensor<?x1x8x8xf32>, tensor<6xi32>) -> tensor<?x1x8x8xf32>
  %b = attn.random_shift %x seed(%s) {inverse, pixels = 2 : i64, stream = 1 : i64} : (tensor<?x1x8x8xf32>, tensor<6xi32>) -> tensor<?x1x8x8xf32>
  return %a, %b : tensor<?x1x8x8xf32>, tensor<?x1x8x8xf32>
}

// Positions, their sinusoidal encodings, teacher tokens shifted right, and a decoder step's key/value cache
// with attention over its rows up to each row's position.
// CHECK-LABEL: func.func @sequences
func.func @sequences(%x: tensor<?x?xi32>, %k: tensor<?x8x16xf32>, %r: tensor<?x16xf32>, %t: tensor<?xi32>,
                     %q: tensor<?x1x16xf32>) -> (tensor<?x?x16xf32>, tensor<?x?xi32>, tensor<?x1x16xf32>) {
  // CHECK: %[[P:.+]] = attn.positions %{{.+}} : (tensor<?x?xi32>) -> tensor<?x?xi32>
  // CHECK: attn.sinusoid %[[P]] {dim = 16 : i64} : (tensor<?x?xi32>) -> tensor<?x?x16xf32>
  // CHECK: attn.shift_right %{{.+}} {fill = 1 : i64} : (tensor<?x?xi32>) -> tensor<?x?xi32>
  // CHECK: %[[C:.+]] = attn.cache_write %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x8x16xf32>, tensor<?x16xf32>, tensor<?xi32>) -> tensor<?x8x16xf32>
  // CHECK: attn.dot_attention %{{.+}}, %[[C]], %[[C]] offset %{{.+}} {causal, num_heads = 2 : i64}
  // CHECK: attn.masked_softmax %{{.+}} offset %{{.+}} {causal}
  %p = attn.positions %x : (tensor<?x?xi32>) -> tensor<?x?xi32>
  %e = attn.sinusoid %p {dim = 16 : i64} : (tensor<?x?xi32>) -> tensor<?x?x16xf32>
  %y = attn.shift_right %x {fill = 1 : i64} : (tensor<?x?xi32>) -> tensor<?x?xi32>
  %c = attn.cache_write %k, %r, %t : (tensor<?x8x16xf32>, tensor<?x16xf32>, tensor<?xi32>) -> tensor<?x8x16xf32>
  %a = attn.dot_attention %q, %c, %c offset %t {causal, num_heads = 2 : i64}
      : (tensor<?x1x16xf32>, tensor<?x8x16xf32>, tensor<?x8x16xf32>, tensor<?xi32>) -> tensor<?x1x16xf32>
  %s = attn.score %q, %c {num_heads = 2 : i64, scale = 2.500000e-01 : f32} : (tensor<?x1x16xf32>, tensor<?x8x16xf32>) -> tensor<?x2x1x8xf32>
  %m = attn.masked_softmax %s offset %t {causal} : (tensor<?x2x1x8xf32>, tensor<?xi32>) -> tensor<?x2x1x8xf32>
  return %e, %y, %a : tensor<?x?x16xf32>, tensor<?x?xi32>, tensor<?x1x16xf32>
}

// Broadcasting arithmetic: operands of one type print it once; others print (lhs, rhs) -> result. A
// scalar constant broadcasts against anything. Elementwise functions, the gradient that sums a broadcast
// operand's gradient back to its shape (leading and size-1 dimensions), batched matrix products and a sum
// along a dynamic dimension.
// CHECK-LABEL: func.func @broadcasting
func.func @broadcasting(%a: tensor<?x1x8xf32>, %b: tensor<?x?x8xf32>, %w: tensor<8xf32>, %a2: tensor<?x8xf32>) -> tensor<8xf32> {
  // CHECK: %[[C:.+]] = attn.constant {value = 5.000000e-01 : f32} : tensor<f32>
  // CHECK: %[[S:.+]] = attn.add %{{.+}}, %{{.+}} : (tensor<?x1x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  // CHECK: attn.mul %[[S]], %[[S]] : tensor<?x?x8xf32>
  // CHECK: attn.sub %{{.+}}, %{{.+}} : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  // CHECK: attn.div %{{.+}}, %[[C]] : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  // CHECK: attn.exp
  // CHECK: attn.log
  // CHECK: attn.sqrt
  // CHECK: attn.rsqrt
  // CHECK: attn.abs
  // CHECK: attn.neg %{{.+}} : tensor<?x?x8xf32>
  // CHECK: attn.broadcast_grad %{{.+}}, %{{.+}} : (tensor<8xf32>, tensor<?x?x8xf32>) -> tensor<8xf32>
  // CHECK: attn.matmul %{{.+}}, %{{.+}} {transpose_b} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x?xf32>
  // CHECK: attn.matmul %{{.+}}, %{{.+}} : (tensor<?x?x?xf32>, tensor<?x8xf32>) -> tensor<?x?x8xf32>
  // CHECK: attn.reduce %{{.+}} {axis = 1 : i64, kind = "sum"} : (tensor<?x?x8xf32>) -> tensor<?x1x8xf32>
  %c = attn.constant {value = 0.5 : f32} : tensor<f32>
  %s = attn.add %a, %b : (tensor<?x1x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %m = attn.mul %s, %s : tensor<?x?x8xf32>
  %d = attn.sub %m, %w : (tensor<?x?x8xf32>, tensor<8xf32>) -> tensor<?x?x8xf32>
  %q = attn.div %d, %c : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %e = attn.exp %q : tensor<?x?x8xf32>
  %l = attn.log %e : tensor<?x?x8xf32>
  %r = attn.sqrt %l : tensor<?x?x8xf32>
  %i = attn.rsqrt %r : tensor<?x?x8xf32>
  %v = attn.abs %i : tensor<?x?x8xf32>
  %n = attn.neg %v : tensor<?x?x8xf32>
  %g = attn.broadcast_grad %w, %n : (tensor<8xf32>, tensor<?x?x8xf32>) -> tensor<8xf32>
  %sc = attn.matmul %n, %n {transpose_b} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x?x?xf32>
  %mv = attn.matmul %sc, %a2 : (tensor<?x?x?xf32>, tensor<?x8xf32>) -> tensor<?x?x8xf32>
  %rs = attn.reduce %mv {axis = 1 : i64, kind = "sum"} : (tensor<?x?x8xf32>) -> tensor<?x1x8xf32>
  return %g : tensor<8xf32>
}

// Choices and selections: maximum, minimum, the comparisons, pow, select with broadcasting, argmax (i32).
// CHECK-LABEL: func.func @selections
func.func @selections(%a: tensor<?x?x8xf32>, %b: tensor<?x?x1xf32>) -> tensor<?x?xi32> {
  // CHECK: attn.maximum %{{.+}}, %{{.+}} : (tensor<?x?x8xf32>, tensor<?x?x1xf32>) -> tensor<?x?x8xf32>
  // CHECK: attn.greater_equal
  // CHECK: attn.pow %{{.+}} {exponent = 2.000000e+00 : f32} : tensor<?x?x8xf32>
  // CHECK: attn.select %{{.+}}, %{{.+}}, %{{.+}} : (tensor<?x?x1xf32>, tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  // CHECK: attn.argmax %{{.+}} {axis = 2 : i64} : (tensor<?x?x8xf32>) -> tensor<?x?xi32>
  %c = attn.constant {value = 0.0 : f32} : tensor<f32>
  %mx = attn.maximum %a, %b : (tensor<?x?x8xf32>, tensor<?x?x1xf32>) -> tensor<?x?x8xf32>
  %mn = attn.minimum %mx, %c : (tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %m = attn.greater_equal %b, %c : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %l = attn.less %mn, %a : tensor<?x?x8xf32>
  %p = attn.pow %l {exponent = 2.0 : f32} : tensor<?x?x8xf32>
  %s = attn.select %m, %p, %c : (tensor<?x?x1xf32>, tensor<?x?x8xf32>, tensor<f32>) -> tensor<?x?x8xf32>
  %i = attn.argmax %s {axis = 2 : i64} : (tensor<?x?x8xf32>) -> tensor<?x?xi32>
  return %i : tensor<?x?xi32>
}
