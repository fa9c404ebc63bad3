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

// A number read in two places is copied for each reader and joins its kernel; a Bahdanau-style chain
// (projection, +, tanh, a one-unit projection, softmax along the source, the weighted sum) is one kernel of
// several stages, which also yields the probabilities that are read elsewhere.
// CHECK-LABEL: func.func @stages
func.func @stages(%k: tensor<?x?x8xf32>, %q: tensor<?x1x8xf32>)
    -> (tensor<?x8xf32>, tensor<?x?xf32>, tensor<?x1x8xf32>) {
  %w = attn.param "w" : tensor<8x8xf32>
  %v = attn.param "v" : tensor<1x8xf32>
  // CHECK: %[[K:.+]]:2 = attn.kernel "dense"
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.constant
  // CHECK-NEXT: attn.dense
  // CHECK-NEXT: attn.add
  // CHECK-NEXT: attn.tanh
  // CHECK-NEXT: attn.dense
  // CHECK-NEXT: attn.mul
  // CHECK-NEXT: attn.transpose
  // CHECK-NEXT: attn.softmax
  // CHECK-NEXT: attn.transpose
  // CHECK-NEXT: attn.mul
  // CHECK-NEXT: attn.reduce
  // CHECK-NEXT: attn.squeeze
  // CHECK-NEXT: attn.squeeze
  // CHECK-NEXT: attn.yield
  %two = attn.constant {value = 2.0 : f32} : tensor<f32>
  %p = attn.dense %k, %w : (tensor<?x?x8xf32>, tensor<8x8xf32>) -> tensor<?x?x8xf32>
  %a = attn.add %p, %q : (tensor<?x?x8xf32>, tensor<?x1x8xf32>) -> tensor<?x?x8xf32>
  %t = attn.tanh %a : tensor<?x?x8xf32>
  %s = attn.dense %t, %v : (tensor<?x?x8xf32>, tensor<1x8xf32>) -> tensor<?x?x1xf32>
  %s2 = attn.mul %s, %two : (tensor<?x?x1xf32>, tensor<f32>) -> tensor<?x?x1xf32>
  %st = attn.transpose %s2 {permutation = array<i64: 0, 2, 1>} : (tensor<?x?x1xf32>) -> tensor<?x1x?xf32>
  %e = attn.softmax %st : tensor<?x1x?xf32>
  %pr = attn.transpose %e {permutation = array<i64: 0, 2, 1>} : (tensor<?x1x?xf32>) -> tensor<?x?x1xf32>
  %weights = attn.squeeze %pr {axis = 2 : i64} : (tensor<?x?x1xf32>) -> tensor<?x?xf32>
  %wv = attn.mul %pr, %k : (tensor<?x?x1xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  %c = attn.reduce %wv {axis = 1 : i64, kind = "sum"} : (tensor<?x?x8xf32>) -> tensor<?x1x8xf32>
  %ctx = attn.squeeze %c {axis = 1 : i64} : (tensor<?x1x8xf32>) -> tensor<?x8xf32>
  // CHECK: %[[M:.+]] = attn.kernel "mul"(%{{.+}})
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.constant
  // CHECK-NEXT: attn.mul
  %q2 = attn.mul %q, %two : (tensor<?x1x8xf32>, tensor<f32>) -> tensor<?x1x8xf32>
  // CHECK: return %[[K]]#0, %[[K]]#1, %[[M]]
  return %ctx, %weights, %q2 : tensor<?x8xf32>, tensor<?x?xf32>, tensor<?x1x8xf32>
}

// A kernel of elementwise ops whose readers read each of its elements once (a reduction along an axis, a
// pool whose windows do not overlap) is computed inside each of them instead of written and read back.
// CHECK-LABEL: func.func @inlined
func.func @inlined(%x: tensor<?x4x8x8xf32>, %s: tensor<?x4xf32>)
    -> (tensor<?x1x8x8xf32>, tensor<?x4x4x4xf32>) {
  // CHECK-NOT: attn.kernel "mul
  // CHECK: attn.kernel "reduce"(%{{.+}}, %{{.+}})
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.expand_dims
  // CHECK-NEXT: attn.expand_dims
  // CHECK-NEXT: attn.broadcast
  // CHECK-NEXT: attn.mul
  // CHECK-NEXT: attn.reduce
  // CHECK-NEXT: attn.yield
  // CHECK: attn.kernel "pool2d"(%{{.+}}, %{{.+}})
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.expand_dims
  // CHECK-NEXT: attn.expand_dims
  // CHECK-NEXT: attn.broadcast
  // CHECK-NEXT: attn.mul
  // CHECK-NEXT: attn.pool2d
  // CHECK-NEXT: attn.yield
  %e1 = attn.expand_dims %s {axis = 2 : i64} : (tensor<?x4xf32>) -> tensor<?x4x1xf32>
  %e2 = attn.expand_dims %e1 {axis = 3 : i64} : (tensor<?x4x1xf32>) -> tensor<?x4x1x1xf32>
  %b = attn.broadcast %e2, %x : (tensor<?x4x1x1xf32>, tensor<?x4x8x8xf32>) -> tensor<?x4x8x8xf32>
  %m = attn.mul %x, %b : tensor<?x4x8x8xf32> loc("m")
  %r = attn.reduce %m {axis = 1 : i64, kind = "mean"} : (tensor<?x4x8x8xf32>) -> tensor<?x1x8x8xf32>
  %p = attn.pool2d %m {kind = "max", kernel = array<i64: 2, 2>, stride = array<i64: 2, 2>,
                       padding = array<i64: 0, 0>} : (tensor<?x4x8x8xf32>) -> tensor<?x4x4x4xf32>
  // CHECK-NOT: attn.kernel
  return %r, %p : tensor<?x1x8x8xf32>, tensor<?x4x4x4xf32>
}

// A convolution reads each element of its input several times: the elementwise kernel it reads stays,
// and its other reader reads it from memory too.
// CHECK-LABEL: func.func @stored
func.func @stored(%x: tensor<?x1x8x8xf32>, %y: tensor<?x1x8x8xf32>, %w: tensor<1x1x3x3xf32>)
    -> (tensor<?x1x1x8xf32>, tensor<?x1x8x8xf32>) {
  // CHECK: %[[M:.+]] = attn.kernel "mul_m"
  // CHECK: attn.kernel "reduce"(%[[M]])
  // CHECK: attn.kernel "conv2d"(%[[M]], %{{.+}})
  %m = attn.mul %x, %y : tensor<?x1x8x8xf32> loc("m")
  %r = attn.reduce %m {axis = 2 : i64, kind = "max"} : (tensor<?x1x8x8xf32>) -> tensor<?x1x1x8xf32>
  %c = attn.conv2d %m, %w {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1>,
                           stride = array<i64: 1, 1>}
      : (tensor<?x1x8x8xf32>, tensor<1x1x3x3xf32>) -> tensor<?x1x8x8xf32>
  return %r, %c : tensor<?x1x1x8xf32>, tensor<?x1x8x8xf32>
}
