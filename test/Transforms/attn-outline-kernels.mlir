// RUN: attn-opt %s --attn-outline-kernels | FileCheck %s

// A dense layer, the activations that only it feeds and the softmax after them (a reduction ends a stage,
// not a kernel) become one kernel, named after the binding of its first op; two readers that would both
// continue it end the chain. A binary op joins the kernel of the operand that reaches it first; its other
// operand becomes a kernel input.
// CHECK-LABEL: func.func @chains
func.func @chains(%x: tensor<?x8xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  // CHECK: %[[W:.+]] = attn.param "w"
  %w = attn.param "w" : tensor<4x8xf32>
  // CHECK: %[[K1:.+]] = attn.kernel "dense_h"(%{{.+}}, %[[W]])
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.dense
  // CHECK-NEXT: attn.relu
  // CHECK-NEXT: attn.tanh
  // CHECK-NEXT: attn.softmax
  // CHECK-NEXT: attn.yield
  %d = attn.dense %x, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32> loc("h")
  %r = attn.relu %d : tensor<?x4xf32>
  %h = attn.tanh %r : tensor<?x4xf32>
  // CHECK: %[[K2:.+]] = attn.kernel "sigmoid"(%[[K1]])
  // CHECK: %[[K3:.+]] = attn.kernel "relu"(%[[K1]])
  %p = attn.softmax %h : tensor<?x4xf32>
  %s = attn.sigmoid %p : tensor<?x4xf32>
  %t = attn.relu %p : tensor<?x4xf32>
  // CHECK: return %[[K2]], %[[K3]]
  return %s, %t : tensor<?x4xf32>, tensor<?x4xf32>
}

// CHECK-LABEL: func.func @residual
func.func @residual(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  %w = attn.param "w" : tensor<8x8xf32>
  // CHECK: %[[D:.+]] = attn.kernel "dense_y"(%[[X:.+]], %{{.+}}) :
  // CHECK-NEXT: ^bb0(%[[A:.+]]: tensor<?x8xf32>, %[[B:.+]]: tensor<8x8xf32>):
  // CHECK-NEXT: %[[P:.+]] = attn.dense %[[A]], %[[B]]
  // CHECK-NEXT: %[[S:.+]] = attn.add %[[P]], %[[A]] : tensor<?x8xf32>
  // CHECK-NEXT: attn.yield %[[S]]
  %d = attn.dense %x, %w : (tensor<?x8xf32>, tensor<8x8xf32>) -> tensor<?x8xf32> loc("y")
  %y = attn.add %d, %x : tensor<?x8xf32>
  return %y : tensor<?x8xf32>
}

// Reindexing ops join their neighbours: an embedding and a concat read only by one cell move into its
// kernel (last first, so the chain folds in), a squeeze read by two kernels joins the kernel that produces
// its operand (which then yields the squeezed tensor), and an expand_dims whose reader is not a kernel gets a kernel of its own.
// CHECK-LABEL: func.func @reindexing
func.func @reindexing(%ids: tensor<?xi32>, %h: tensor<?x4xf32>, %x: tensor<?x1x4xf32>)
    -> (tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x1x4xf32>) {
  %t = attn.param "table" : tensor<10x4xf32>
  %w = attn.param "w" : tensor<4x4xf32>
  %wc = attn.param "wc" : tensor<12x8xf32>
  %b = attn.param "b" : tensor<12xf32>
  %u = attn.param "u" : tensor<12x4xf32>
  // CHECK: %[[D:.+]] = attn.kernel "dense"(%{{.+}}, %{{.+}}) : (tensor<?x1x4xf32>, tensor<4x4xf32>) -> tensor<?x4xf32>
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.dense
  // CHECK-NEXT: attn.squeeze
  // CHECK-NEXT: attn.yield
  %d = attn.dense %x, %w : (tensor<?x1x4xf32>, tensor<4x4xf32>) -> tensor<?x1x4xf32>
  %s = attn.squeeze %d {axis = 1 : i64} : (tensor<?x1x4xf32>) -> tensor<?x4xf32>
  // CHECK: attn.kernel "gru_cell"(%{{.+}}, %{{.+}}, %[[D]], %{{.+}}
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.embedding
  // CHECK-NEXT: attn.concat
  // CHECK-NEXT: attn.gru_cell
  // CHECK-NEXT: attn.yield
  %e = attn.embedding %ids, %t : (tensor<?xi32>, tensor<10x4xf32>) -> tensor<?x4xf32>
  %c = attn.concat %e, %s : (tensor<?x4xf32>, tensor<?x4xf32>) -> tensor<?x8xf32>
  %g = attn.gru_cell %c, %h, %wc, %b, %u, %b : (tensor<?x8xf32>, tensor<?x4xf32>, tensor<12x8xf32>, tensor<12xf32>, tensor<12x4xf32>, tensor<12xf32>) -> tensor<?x4xf32>
  // CHECK: attn.kernel "relu"(%[[D]])
  %r = attn.relu %s : tensor<?x4xf32>
  // CHECK: %[[X:.+]] = attn.kernel "expand_dims"
  %x2 = attn.expand_dims %h {axis = 1 : i64} : (tensor<?x4xf32>) -> tensor<?x1x4xf32>
  // CHECK: return %{{.+}}, %{{.+}}, %[[X]]
  return %g, %r, %x2 : tensor<?x4xf32>, tensor<?x4xf32>, tensor<?x1x4xf32>
}
