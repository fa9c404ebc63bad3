// RUN: attn-opt %s --split-input-file --attn-autodiff --verify-diagnostics | FileCheck %s

// A two-layer classifier: the gradient function recomputes the forward pass, then runs the rules backwards:
// cross-entropy, the output layer (its input gradient through the transposed weight, its weight and bias
// gradients), tanh, and the first layer's weight and bias (the input gets no gradient).
// CHECK-LABEL: func.func @mlp(
// CHECK-LABEL: func.func @mlp_grad
// CHECK-SAME: (%[[X:.+]]: tensor<?x4xf32> {attn.name = "x"}, %[[T:.+]]: tensor<?xi32> {attn.name = "t"}) -> (tensor<f32>, tensor<8x4xf32>, tensor<8xf32>, tensor<3x8xf32>, tensor<3xf32>)
// CHECK-SAME: attn.grad_of = "mlp"
// CHECK-SAME: attn.outputs = ["loss", "grad.h.weight", "grad.h.bias", "grad.y.weight", "grad.y.bias"]
// CHECK:      %[[W1:.+]] = attn.param "h.weight"
// CHECK:      %[[B1:.+]] = attn.param "h.bias"
// CHECK:      %[[D1:.+]] = attn.dense %[[X]], %[[W1]], %[[B1]]
// CHECK:      %[[H:.+]] = attn.tanh %[[D1]]
// CHECK:      %[[W2:.+]] = attn.param "y.weight"
// CHECK:      %[[B2:.+]] = attn.param "y.bias"
// CHECK:      %[[Y:.+]] = attn.dense %[[H]], %[[W2]], %[[B2]]
// CHECK:      %[[L:.+]] = attn.cross_entropy %[[Y]], %[[T]]
// CHECK:      %[[DY:.+]] = attn.cross_entropy_grad %[[Y]], %[[T]] {label_smoothing = 0.000000e+00 : f32} : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<?x3xf32>
// CHECK-NEXT: %[[W2T:.+]] = attn.transpose %[[W2]] {permutation = array<i64: 1, 0>} : (tensor<3x8xf32>) -> tensor<8x3xf32>
// CHECK-NEXT: %[[DH:.+]] = attn.dense %[[DY]], %[[W2T]] : (tensor<?x3xf32>, tensor<8x3xf32>) -> tensor<?x8xf32>
// CHECK-NEXT: %[[DW2:.+]] = attn.dense_grad_weight %[[DY]], %[[H]] : (tensor<?x3xf32>, tensor<?x8xf32>) -> tensor<3x8xf32>
// CHECK-NEXT: %[[DB2:.+]] = attn.sum_leading %[[DY]] : (tensor<?x3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %[[DD1:.+]] = attn.activation_grad %[[D1]], %[[DH]] {kind = "tanh"}
// CHECK-NEXT: %[[DW1:.+]] = attn.dense_grad_weight %[[DD1]], %[[X]] : (tensor<?x8xf32>, tensor<?x4xf32>) -> tensor<8x4xf32>
// CHECK-NEXT: %[[DB1:.+]] = attn.sum_leading %[[DD1]]
// CHECK-NEXT: return %[[L]], %[[DW1]], %[[DB1]], %[[DW2]], %[[DB2]]
func.func @mlp(%x: tensor<?x4xf32> {attn.name = "x"}, %t: tensor<?xi32> {attn.name = "t"}) -> (tensor<?x3xf32>, tensor<f32>)
    attributes {attn.outputs = ["y", "loss"], attn.loss = "loss"} {
  %w1 = attn.param "h.weight" : tensor<8x4xf32>
  %b1 = attn.param "h.bias" : tensor<8xf32>
  %d1 = attn.dense %x, %w1, %b1 : (tensor<?x4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  %h = attn.tanh %d1 : tensor<?x8xf32>
  %w2 = attn.param "y.weight" : tensor<3x8xf32>
  %b2 = attn.param "y.bias" : tensor<3xf32>
  %y = attn.dense %h, %w2, %b2 : (tensor<?x8xf32>, tensor<3x8xf32>, tensor<3xf32>) -> tensor<?x3xf32>
  %l = attn.cross_entropy %y, %t {label_smoothing = 0.0 : f32} : (tensor<?x3xf32>, tensor<?xi32>) -> tensor<f32>
  return %y, %l : tensor<?x3xf32>, tensor<f32>
}

// -----

// A value read twice gets the sum of its gradients; a weight shared by name gets one gradient.
// CHECK-LABEL: func.func @shared_grad
// CHECK-SAME: attn.outputs = ["loss", "grad.w"]
// CHECK:      %[[D:.+]] = attn.mse_grad
// CHECK-NEXT: %[[M1:.+]] = attn.mul %[[D]], %[[B:[^ ]+]]
// CHECK-NEXT: %[[M2:.+]] = attn.mul %[[D]], %[[B]]
// CHECK-NEXT: %[[S:.+]] = attn.add %[[M1]], %[[M2]]
// CHECK-NEXT: %[[GB:.+]] = attn.dense_grad_weight %[[S]]
// CHECK-NEXT: %[[GA:.+]] = attn.dense_grad_weight %[[D]]
// CHECK-NEXT: %[[G:.+]] = attn.add %[[GA]], %[[GB]] : tensor<2x2xf32>
// CHECK-NEXT: return %{{.+}}, %[[G]]
func.func @shared(%x: tensor<?x2xf32>, %target: tensor<?x2xf32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %w = attn.param "w" : tensor<2x2xf32>
  %a = attn.dense %x, %w : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %w2 = attn.param "w" : tensor<2x2xf32>
  %b = attn.dense %x, %w2 : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
  %sq = attn.mul %b, %b : tensor<?x2xf32>
  %y = attn.add %a, %sq : tensor<?x2xf32>
  %l = attn.mse %y, %target : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

func.func @no_rule(%x: tensor<?x3xf32>, %y: tensor<3xf32>) -> tensor<f32> attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %w = attn.param "w" : tensor<3x3xf32>
  %d = attn.dense %x, %w : (tensor<?x3xf32>, tensor<3x3xf32>) -> tensor<?x3xf32>
  // expected-error @+1 {{'attn.sum_leading' op has no gradient rule yet}}
  %s = attn.sum_leading %d : (tensor<?x3xf32>) -> tensor<3xf32>
  %l = attn.mse %s, %y : (tensor<3xf32>, tensor<3xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// expected-error @+1 {{'func.func' op has loss 'y' of rank 2: the loss must be a scalar}}
func.func @not_a_loss(%x: tensor<?x8xf32>) -> tensor<?x8xf32> attributes {attn.outputs = ["y"], attn.loss = "y"} {
  %w = attn.param "w" : tensor<8x8xf32>
  %y = attn.dense %x, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// -----

// Recurrences: the gradient of a (reversed, length-masked) LSTM is its backpropagation through time, from
// what the forward pass kept of each step (its second result), whose gate gradients give the recurrent
// weight and bias gradients. A teacher-forced decoder also emits the state
// each step read and the values its ops computed (those the gradient reads stay: the tanh); its gradient is a
// reverse loop over the same teacher that reads them and the emitted values' gradients step by step instead
// of recomputing the step, and carries the state's gradient back. Weight and bias gradients, sums over
// rows, are taken after the loop over all steps at once: from the stacks of their operands (the loop emits
// the state gradient each step received for u.w's).
// CHECK-LABEL: func.func @rnn_grad
// CHECK:      %[[H:[^,]+]], %[[STEPS:.+]] = attn.lstm %[[XP:[^,]+]], %[[WHH:[^,]+]], %[[BHH:[^ ]+]] lengths %[[LEN:[^ ]+]] {reverse}
// CHECK:      %[[FWD:.+]]:3 = attn.decode "teacher"(%[[H0:.+]]) teacher %[[T:[^ ]+]]
// CHECK-NEXT: ^bb0(%{{.+}}: tensor<?xi32>, %[[S:.+]]: tensor<?x2xf32>):
// CHECK-NEXT:   %[[N:.+]] = attn.tanh %[[S]]
// CHECK:        attn.decode_yield(%{{.+}} : tensor<?x2xf32>) emit %{{.+}}, %[[S]], %[[N]] : tensor<?x3xf32>, tensor<?x2xf32>, tensor<?x2xf32>
// CHECK:      %[[G:.+]] = attn.cross_entropy_grad
// CHECK:      %[[GH:.+]] = attn.slice %[[G]] {axis = 2 : i64, size = 2 : i64, start = 0 : i64}
// CHECK:      %[[GL:.+]] = attn.slice %[[G]] {axis = 2 : i64, size = 3 : i64, start = 2 : i64}
// CHECK:      %[[REV:.+]]:2 = attn.decode "reverse"(%{{.+}}) teacher %[[T]] sequences(%[[FWD]]#1, %[[GL]], %[[FWD]]#2)
// CHECK-NEXT: ^bb0(%{{.+}}: tensor<?xi32>, %[[STATE:.+]]: tensor<?x2xf32>, %[[DL:.+]]: tensor<?x3xf32>, %{{.+}}: tensor<?x2xf32>, %[[DS:.+]]: tensor<?x2xf32>):
// CHECK-NOT:    attn.tanh
// CHECK-NOT:    attn.dense_grad_weight
// CHECK:        %[[DSTATE:.+]] = attn.activation_grad %[[STATE]], %{{.+}} {kind = "tanh"}
// CHECK-NEXT:   attn.decode_yield(%[[DSTATE]] : tensor<?x2xf32>) emit %[[DS]] : tensor<?x2xf32>
// CHECK-NEXT: }
// CHECK-NEXT: %[[DW:.+]] = attn.dense_grad_weight %[[GL]], %[[FWD]]#2 : (tensor<?x?x3xf32>, tensor<?x?x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[DB:.+]] = attn.sum_leading %[[GL]] : (tensor<?x?x3xf32>) -> tensor<3xf32>
// CHECK-NEXT: %[[DU:.+]] = attn.dense_grad_weight %[[REV]]#1, %[[FWD]]#2 : (tensor<?x?x2xf32>, tensor<?x?x2xf32>) -> tensor<2x2xf32>
// CHECK-NEXT: %[[DG:.+]] = attn.recurrence_grad %[[XP]], %[[WHH]], %[[BHH]], %[[H]], %[[STEPS]], %[[GH]] lengths %[[LEN]] {cell = "lstm", reverse}
// CHECK-NEXT: %[[DWHH:.+]] = attn.recurrence_weight_grad %[[DG]], %[[H]] {reverse}
// CHECK-NEXT: %[[DBHH:.+]] = attn.sum_leading %[[DG]]
// CHECK-NEXT: return %{{.+}}, %[[DWHH]], %[[DBHH]], %[[DW]], %[[DB]], %[[DU]]
func.func @rnn(%xp: tensor<?x?x8xf32>, %len: tensor<?xi32>, %t: tensor<?x?xi32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %whh = attn.param "r.w" : tensor<8x2xf32>
  %bhh = attn.param "r.b" : tensor<8xf32>
  %h, %steps = attn.lstm %xp, %whh, %bhh lengths %len {reverse}
      : (tensor<?x?x8xf32>, tensor<8x2xf32>, tensor<8xf32>, tensor<?xi32>) -> (tensor<?x?x2xf32>, tensor<?x?x10xf32>)
  %w = attn.param "d.w" : tensor<3x2xf32>
  %b = attn.param "d.b" : tensor<3xf32>
  %u = attn.param "u.w" : tensor<2x2xf32>
  %h0 = attn.zeros %t {dim = 0 : i64} : (tensor<?x?xi32>) -> tensor<?x2xf32>
  %logits = attn.decode "teacher"(%h0) teacher %t : (tensor<?x2xf32>, tensor<?x?xi32>) -> tensor<?x?x3xf32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x2xf32>):
    %n = attn.tanh %s : tensor<?x2xf32>
    %o = attn.dense %n, %w, %b : (tensor<?x2xf32>, tensor<3x2xf32>, tensor<3xf32>) -> tensor<?x3xf32>
    %m = attn.dense %n, %u : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
    attn.decode_yield (%m : tensor<?x2xf32>) emit %o : tensor<?x3xf32>
  }
  %all = attn.concat %h, %logits : (tensor<?x?x2xf32>, tensor<?x?x3xf32>) -> tensor<?x?x5xf32>
  %l = attn.cross_entropy %all, %t {label_smoothing = 0.0 : f32} : (tensor<?x?x5xf32>, tensor<?x?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// An LSTM cell in a decoder step: the forward loop stacks the gates' pre-activations the cell yields, and the
// reverse loop's cell gradients read them from that stack; the gate projections are not computed again
// (the step's only products are the output layer's and the recurrent weight's input gradients).
// CHECK-LABEL: func.func @cell_grad
// CHECK:      %[[FWD:.+]]:5 = attn.decode "teacher"
// CHECK:        %{{.+}}, %{{.+}}, %[[GATES:.+]] = attn.lstm_cell
// CHECK:        attn.decode_yield({{.+}}) emit {{.+}}, %[[GATES]] : {{.+}}, tensor<?x8xf32>
// CHECK:      attn.decode "reverse"{{.+}} sequences({{.+}}, %[[FWD]]#4)
// CHECK-NEXT: ^bb0({{.+}}, %[[G:[^:]+]]: tensor<?x8xf32>, {{.+}}):
// CHECK-NOT:    attn.lstm_cell
// CHECK:        attn.dense %{{.+}} : (tensor<?x3xf32>, tensor<2x3xf32>) -> tensor<?x2xf32>
// CHECK:        attn.cell_grad[%[[G]]], {{.+}} {cell = "lstm", wrt = "state"}
// CHECK-NEXT:   %[[DG:.+]] = attn.cell_grad[%[[G]]], {{.+}} {cell = "lstm", wrt = "gates"}
// CHECK-NOT:    attn.dense %
// CHECK:        attn.dense %[[DG]], %{{.+}} : (tensor<?x8xf32>, tensor<2x8xf32>) -> tensor<?x2xf32>
// CHECK-NOT:    attn.dense %
// CHECK:        attn.decode_yield
func.func @cell(%x: tensor<?x3xf32>, %t: tensor<?x?xi32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %wih = attn.param "c.weight_ih" : tensor<8x3xf32>
  %bih = attn.param "c.bias_ih" : tensor<8xf32>
  %whh = attn.param "c.weight_hh" : tensor<8x2xf32>
  %bhh = attn.param "c.bias_hh" : tensor<8xf32>
  %w = attn.param "d.w" : tensor<3x2xf32>
  %h0 = attn.zeros %t {dim = 0 : i64} : (tensor<?x?xi32>) -> tensor<?x2xf32>
  %logits = attn.decode "teacher"(%h0, %h0) teacher %t
      : (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x?xi32>) -> tensor<?x?x3xf32> {
  ^bb0(%y: tensor<?xi32>, %h: tensor<?x2xf32>, %c: tensor<?x2xf32>):
    %h1, %c1, %gates = attn.lstm_cell %x, %h, %c, %wih, %bih, %whh, %bhh
        : (tensor<?x3xf32>, tensor<?x2xf32>, tensor<?x2xf32>, tensor<8x3xf32>, tensor<8xf32>, tensor<8x2xf32>,
           tensor<8xf32>) -> (tensor<?x2xf32>, tensor<?x2xf32>, tensor<?x8xf32>)
    %o = attn.dense %h1, %w : (tensor<?x2xf32>, tensor<3x2xf32>) -> tensor<?x3xf32>
    attn.decode_yield (%h1, %c1 : tensor<?x2xf32>, tensor<?x2xf32>) emit %o : tensor<?x3xf32>
  }
  %l = attn.cross_entropy %logits, %t {label_smoothing = 0.0 : f32} : (tensor<?x?x3xf32>, tensor<?x?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// A decoder step's dense layer reading a join of forward values (a computed one and a reshaped state): after
// the loop, its weight gradient is one product per part, each reading its stack where it lies, joined; the
// reshapes are redone once on the whole stack (their axes one further out, past the steps), not per step.
// CHECK-LABEL: func.func @joined_grad
// CHECK:      %[[FWD:.+]]:3 = attn.decode "teacher"
// CHECK:      %[[G:.+]] = attn.cross_entropy_grad
// CHECK:      attn.decode "reverse"
// CHECK-NOT:    attn.concat
// CHECK:        attn.decode_yield
// CHECK-NEXT: }
// CHECK-NEXT: %[[E:.+]] = attn.expand_dims %[[FWD]]#1 {axis = 2 : i64} : (tensor<?x?x2xf32>) -> tensor<?x?x1x2xf32>
// CHECK-NEXT: %[[Q:.+]] = attn.squeeze %[[E]] {axis = 2 : i64} : (tensor<?x?x1x2xf32>) -> tensor<?x?x2xf32>
// CHECK-NEXT: %[[DN:.+]] = attn.dense_grad_weight %[[G]], %[[FWD]]#2 : (tensor<?x?x3xf32>, tensor<?x?x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[DQ:.+]] = attn.dense_grad_weight %[[G]], %[[Q]] : (tensor<?x?x3xf32>, tensor<?x?x2xf32>) -> tensor<3x2xf32>
// CHECK-NEXT: %[[DW:.+]] = attn.concat %[[DN]], %[[DQ]] : (tensor<3x2xf32>, tensor<3x2xf32>) -> tensor<3x4xf32>
// CHECK:      return %{{.+}}, %[[DW]], %{{.+}}
func.func @joined(%t: tensor<?x?xi32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %w = attn.param "d.w" : tensor<3x4xf32>
  %u = attn.param "u.w" : tensor<2x2xf32>
  %h0 = attn.zeros %t {dim = 0 : i64} : (tensor<?x?xi32>) -> tensor<?x2xf32>
  %logits = attn.decode "teacher"(%h0) teacher %t : (tensor<?x2xf32>, tensor<?x?xi32>) -> tensor<?x?x3xf32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x2xf32>):
    %n = attn.tanh %s : tensor<?x2xf32>
    %e = attn.expand_dims %s {axis = 1 : i64} : (tensor<?x2xf32>) -> tensor<?x1x2xf32>
    %q = attn.squeeze %e {axis = 1 : i64} : (tensor<?x1x2xf32>) -> tensor<?x2xf32>
    %cat = attn.concat %n, %q : (tensor<?x2xf32>, tensor<?x2xf32>) -> tensor<?x4xf32>
    %o = attn.dense %cat, %w : (tensor<?x4xf32>, tensor<3x4xf32>) -> tensor<?x3xf32>
    %m = attn.dense %n, %u : (tensor<?x2xf32>, tensor<2x2xf32>) -> tensor<?x2xf32>
    attn.decode_yield (%m : tensor<?x2xf32>) emit %o : tensor<?x3xf32>
  }
  %l = attn.cross_entropy %logits, %t {label_smoothing = 0.0 : f32} : (tensor<?x?x3xf32>, tensor<?x?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Attention in a decoder step, seen from its keys and values (a weighted sum over the step's one query): like
// weight gradients, these sum over the steps, so they are taken after the loop as one weighted sum each whose
// keys are the steps, from the stacks of the probabilities (or their gradient) and of the query (or the
// context's gradient); the loop carries no accumulator of the encoder's size.
// CHECK-LABEL: func.func @attend_grad
// CHECK:      %[[FWD:.+]]:6 = attn.decode "teacher"
// CHECK:      %[[REV:.+]]:3 = attn.decode "reverse"(%{{[^,]+}}) teacher
// CHECK-NOT:    attn.weighted_sum %{{.+}} -> tensor<?x?x2xf32>
// CHECK:        attn.decode_yield(%{{.+}} : tensor<?x2xf32>) emit
// CHECK-NEXT: }
// CHECK:      %[[P:.+]] = attn.transpose %[[FWD]]#3 {permutation = array<i64: 0, 1, 2, 4, 3>}
// CHECK:      %[[DK:.+]] = attn.weighted_sum %{{.+}}, %{{.+}} : (tensor<?x1x?x?xf32>, tensor<?x?x2xf32>) -> tensor<?x?x2xf32>
// CHECK:      %[[PS:.+]] = attn.squeeze %[[P]] {axis = 4 : i64} : (tensor<?x?x1x?x1xf32>) -> tensor<?x?x1x?xf32>
// CHECK-NEXT: %[[PT:.+]] = attn.transpose %[[PS]] {permutation = array<i64: 0, 2, 3, 1>} : (tensor<?x?x1x?xf32>) -> tensor<?x1x?x?xf32>
// CHECK-NEXT: %[[DC:.+]] = attn.squeeze %[[REV]]#2 {axis = 2 : i64} : (tensor<?x?x1x2xf32>) -> tensor<?x?x2xf32>
// CHECK-NEXT: %[[DV:.+]] = attn.weighted_sum %[[PT]], %[[DC]] : (tensor<?x1x?x?xf32>, tensor<?x?x2xf32>) -> tensor<?x?x2xf32>
// CHECK-NEXT: %[[DENC:.+]] = attn.add %[[DK]], %[[DV]]
// CHECK:      attn.dense_grad_weight %[[DENC]], %arg0
func.func @attend(%x: tensor<?x?x3xf32>, %t: tensor<?x?xi32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %e = attn.param "e.w" : tensor<2x3xf32>
  %w = attn.param "d.w" : tensor<3x2xf32>
  %enc = attn.dense %x, %e : (tensor<?x?x3xf32>, tensor<2x3xf32>) -> tensor<?x?x2xf32>
  %h0 = attn.zeros %t {dim = 0 : i64} : (tensor<?x?xi32>) -> tensor<?x2xf32>
  %logits = attn.decode "teacher"(%h0) teacher %t : (tensor<?x2xf32>, tensor<?x?xi32>) -> tensor<?x?x3xf32> {
  ^bb0(%y: tensor<?xi32>, %s: tensor<?x2xf32>):
    %q = attn.expand_dims %s {axis = 1 : i64} : (tensor<?x2xf32>) -> tensor<?x1x2xf32>
    %sc = attn.score %q, %enc {num_heads = 1 : i64, scale = 1.0 : f32} : (tensor<?x1x2xf32>, tensor<?x?x2xf32>) -> tensor<?x1x1x?xf32>
    %p = attn.softmax %sc : tensor<?x1x1x?xf32>
    %c = attn.weighted_sum %p, %enc : (tensor<?x1x1x?xf32>, tensor<?x?x2xf32>) -> tensor<?x1x2xf32>
    %n = attn.squeeze %c {axis = 1 : i64} : (tensor<?x1x2xf32>) -> tensor<?x2xf32>
    %m = attn.tanh %n : tensor<?x2xf32>
    %o = attn.dense %m, %w : (tensor<?x2xf32>, tensor<3x2xf32>) -> tensor<?x3xf32>
    attn.decode_yield (%m : tensor<?x2xf32>) emit %o : tensor<?x3xf32>
  }
  %l = attn.cross_entropy %logits, %t {label_smoothing = 0.0 : f32} : (tensor<?x?x3xf32>, tensor<?x?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Weights read transposed come from attn-transpose-step-weights, which runs after differentiation.
func.func @transposed(%x: tensor<?x3xf32>, %t: tensor<?xi32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %w = attn.param "d.w" : tensor<3x4xf32>
  // expected-error @+1 {{'attn.dense' op reads its weights transposed, which attn-transpose-step-weights does after attn-autodiff: the gradient rules take them as [out, in]}}
  %y = attn.dense %x, %w {transposed_weight} : (tensor<?x3xf32>, tensor<3x4xf32>) -> tensor<?x4xf32>
  %l = attn.cross_entropy %y, %t {label_smoothing = 0.0 : f32} : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// Dropout trains: the gradient function gets the runtime's seed input, its dropout reads it, and the gradient
// of dropout is dropout of the gradient with the same stream. The model's function drops it (inference).
// CHECK-LABEL: func.func @dropout(
// CHECK-NOT:   attn.dropout
// CHECK-LABEL: func.func @dropout_grad
// CHECK-SAME:  %[[S:[a-z0-9]+]]: tensor<6xi32> {attn.dims = [6], attn.name = "attn.dropout_seed"}
// CHECK:       attn.dropout %{{.+}} seed(%[[S]]) {rate = 2.500000e-01 : f32, stream = 3 : i64}
// CHECK:       %[[D:.+]] = attn.mse_grad
// CHECK:       attn.dropout %[[D]] seed(%[[S]]) {rate = 2.500000e-01 : f32, stream = 3 : i64}
func.func @dropout(%x: tensor<?x4xf32>, %target: tensor<?x4xf32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %w = attn.param "w" : tensor<4x4xf32>
  %a = attn.dense %x, %w : (tensor<?x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  %d = attn.dropout %a {rate = 0.25 : f32, stream = 3 : i64} : (tensor<?x4xf32>) -> tensor<?x4xf32>
  %l = attn.mse %d, %target : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// A random shift trains as dropout does, and its gradient shifts back (`inverse`) with the same stream.
// CHECK-LABEL: func.func @shift(
// CHECK-NOT:   attn.random_shift
// CHECK-LABEL: func.func @shift_grad
// CHECK-SAME:  %[[S:[a-z0-9]+]]: tensor<6xi32> {attn.dims = [6], attn.name = "attn.dropout_seed"}
// CHECK:       attn.random_shift %{{.+}} seed(%[[S]]) {pixels = 2 : i64, stream = 0 : i64}
// CHECK:       %[[D:.+]] = attn.mse_grad
// CHECK:       attn.random_shift %[[D]] seed(%[[S]]) {inverse, pixels = 2 : i64, stream = 0 : i64}
func.func @shift(%x: tensor<?x1x4x4xf32>, %target: tensor<?x1x4x4xf32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %w = attn.param "w" : tensor<4x4xf32>
  %a = attn.dense %x, %w : (tensor<?x1x4x4xf32>, tensor<4x4xf32>) -> tensor<?x1x4x4xf32>
  %d = attn.random_shift %a {pixels = 2 : i64, stream = 0 : i64} : (tensor<?x1x4x4xf32>) -> tensor<?x1x4x4xf32>
  %l = attn.mse %d, %target : (tensor<?x1x4x4xf32>, tensor<?x1x4x4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}

// -----

// A layer of one output (a score's projection): its input's gradient is the broadcast product dy · W, not a
// dense layer summing one term. A sum's gradient takes its shape from the function's input that the summed
// product is computed from elementwise, so the product itself need not be kept for it.
// CHECK-LABEL: func.func @score_grad
// CHECK-SAME: (%[[X:[^:]+]]: tensor<?x5x4xf32>, %[[V:[^:]+]]: tensor<?x5x4xf32>,
// CHECK:      %[[W:.+]] = attn.param "v.weight"
// CHECK:      %[[P:.+]] = attn.mul %{{.+}}, %[[V]] : (tensor<?x5x1xf32>, tensor<?x5x4xf32>) -> tensor<?x5x4xf32>
// CHECK:      attn.reduce_grad %[[V]], %{{.+}} {axis = 1 : i64, kind = "sum"}
// CHECK-NOT:  attn.reduce_grad %[[P]]
// CHECK:      attn.broadcast_grad %{{.+}}, %{{.+}} : (tensor<?x5x1xf32>, tensor<?x5x4xf32>) -> tensor<?x5x1xf32>
// CHECK:      attn.mul %{{.+}}, %[[W]] : (tensor<?x5x1xf32>, tensor<1x4xf32>) -> tensor<?x5x4xf32>
// CHECK-NOT:  attn.transpose %[[W]]
func.func @score(%x: tensor<?x5x4xf32>, %v: tensor<?x5x4xf32>, %t: tensor<?x4xf32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %wk = attn.param "keys.weight" : tensor<4x4xf32>
  %k = attn.dense %x, %wk : (tensor<?x5x4xf32>, tensor<4x4xf32>) -> tensor<?x5x4xf32>
  %h = attn.tanh %k : tensor<?x5x4xf32>
  %w = attn.param "v.weight" : tensor<1x4xf32>
  %s = attn.dense %h, %w : (tensor<?x5x4xf32>, tensor<1x4xf32>) -> tensor<?x5x1xf32>
  %p = attn.mul %s, %v : (tensor<?x5x1xf32>, tensor<?x5x4xf32>) -> tensor<?x5x4xf32>
  %c = attn.reduce %p {axis = 1 : i64, kind = "sum"} : (tensor<?x5x4xf32>) -> tensor<?x1x4xf32>
  %q = attn.squeeze %c {axis = 1 : i64} : (tensor<?x1x4xf32>) -> tensor<?x4xf32>
  %l = attn.mse %q, %t : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<f32>
  return %l : tensor<f32>
}
