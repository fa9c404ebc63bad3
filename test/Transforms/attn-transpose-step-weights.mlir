// RUN: attn-opt %s --split-input-file --attn-transpose-step-weights | FileCheck %s

// A decoder step's dense layer and LSTM cell read their weights as [in, out], transposed once before the
// loop; a weight that is already a transpose (an input gradient's W) is read as stored, and the transpose
// goes. A dense whose weight the step computes keeps it as it is.
// CHECK-LABEL: func.func @step
// CHECK:      %[[Q:.+]] = attn.param "q.weight" : tensor<4x6xf32>
// CHECK:      %[[WIH:.+]] = attn.param "cell.w_ih" : tensor<24x10xf32>
// CHECK:      %[[WHH:.+]] = attn.param "cell.w_hh" : tensor<24x6xf32>
// CHECK:      %[[O:.+]] = attn.param "o.weight" : tensor<4x6xf32>
// CHECK-NOT:  attn.transpose %[[O]]
// CHECK:      %[[QT:.+]] = attn.transpose %[[Q]] {permutation = array<i64: 1, 0>} : (tensor<4x6xf32>) -> tensor<6x4xf32>
// CHECK-NEXT: %[[WIHT:.+]] = attn.transpose %[[WIH]] {permutation = array<i64: 1, 0>} : (tensor<24x10xf32>) -> tensor<10x24xf32>
// CHECK-NEXT: %[[WHHT:.+]] = attn.transpose %[[WHH]] {permutation = array<i64: 1, 0>} : (tensor<24x6xf32>) -> tensor<6x24xf32>
// CHECK-NEXT: attn.decode "teacher"
// CHECK:      attn.dense %{{.+}}, %[[QT]] {transposed_weight} : (tensor<?x6xf32>, tensor<6x4xf32>) -> tensor<?x4xf32>
// CHECK:      attn.lstm_cell %{{.+}}, %{{.+}}, %{{.+}}, %[[WIHT]], %{{.+}}, %[[WHHT]], %{{.+}} {transposed_weights}
// CHECK:      attn.dense %{{.+}}, %[[O]] {transposed_weight} : (tensor<?x4xf32>, tensor<4x6xf32>) -> tensor<?x6xf32>
// CHECK:      %[[INNER:.+]] = attn.scale
// CHECK-NEXT: attn.dense %{{.+}}, %[[INNER]] : (tensor<?x6xf32>, tensor<6x6xf32>) -> tensor<?x6xf32>
func.func @step(%x: tensor<?x4xf32>, %h0: tensor<?x6xf32>, %t: tensor<?x?xi32>) -> tensor<?x?x6xf32> {
  %q = attn.param "q.weight" : tensor<4x6xf32>
  %wih = attn.param "cell.w_ih" : tensor<24x10xf32>
  %bih = attn.param "cell.b_ih" : tensor<24xf32>
  %whh = attn.param "cell.w_hh" : tensor<24x6xf32>
  %bhh = attn.param "cell.b_hh" : tensor<24xf32>
  %o = attn.param "o.weight" : tensor<4x6xf32>
  %ot = attn.transpose %o {permutation = array<i64: 1, 0>} : (tensor<4x6xf32>) -> tensor<6x4xf32>
  %sq = attn.param "s.weight" : tensor<6x6xf32>
  %out = attn.decode "teacher"(%h0, %h0) teacher %t : (tensor<?x6xf32>, tensor<?x6xf32>, tensor<?x?xi32>) -> tensor<?x?x6xf32> {
  ^bb0(%y: tensor<?xi32>, %h: tensor<?x6xf32>, %c: tensor<?x6xf32>):
    %a = attn.dense %h, %q : (tensor<?x6xf32>, tensor<4x6xf32>) -> tensor<?x4xf32>
    %in = attn.concat %a, %h : (tensor<?x4xf32>, tensor<?x6xf32>) -> tensor<?x10xf32>
    %h1, %c1, %gates = attn.lstm_cell %in, %h, %c, %wih, %bih, %whh, %bhh
        : (tensor<?x10xf32>, tensor<?x6xf32>, tensor<?x6xf32>, tensor<24x10xf32>, tensor<24xf32>,
           tensor<24x6xf32>, tensor<24xf32>) -> (tensor<?x6xf32>, tensor<?x6xf32>, tensor<?x24xf32>)
    %b = attn.dense %a, %ot : (tensor<?x4xf32>, tensor<6x4xf32>) -> tensor<?x6xf32>
    %inner = attn.scale %sq {factor = 2.0 : f32} : tensor<6x6xf32>
    %s = attn.dense %h1, %inner : (tensor<?x6xf32>, tensor<6x6xf32>) -> tensor<?x6xf32>
    %sum = attn.add %s, %b : tensor<?x6xf32>
    attn.decode_yield (%h1, %c1 : tensor<?x6xf32>, tensor<?x6xf32>) emit %sum : tensor<?x6xf32>
  }
  return %out : tensor<?x?x6xf32>
}
