// RUN: attn-opt %s --attn-outline-kernels | FileCheck %s

// A dense layer and the activations that only it feeds become one kernel; a second user of an
// intermediate ends the chain.
// CHECK-LABEL: func.func @chains
func.func @chains(%x: tensor<?x8xf32>) -> (tensor<?x4xf32>, tensor<?x4xf32>) {
  // CHECK: %[[W:.+]] = attn.param "w"
  %w = attn.param "w" : tensor<4x8xf32>
  // CHECK: %[[K0:.+]] = attn.kernel "dense_h"(%{{.+}}, %[[W]])
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.dense
  // CHECK-NEXT: attn.relu
  // CHECK-NEXT: attn.tanh
  // CHECK-NEXT: attn.yield
  %d = attn.dense %x, %w : (tensor<?x8xf32>, tensor<4x8xf32>) -> tensor<?x4xf32>
  %r = attn.relu %d : tensor<?x4xf32>
  %h = attn.tanh %r : tensor<?x4xf32> loc("h")
  // CHECK: %[[K1:.+]] = attn.kernel "softmax"(%[[K0]])
  // CHECK: %[[K2:.+]] = attn.kernel "sigmoid"(%[[K1]])
  // CHECK: %[[K3:.+]] = attn.kernel "relu"(%[[K1]])
  %p = attn.softmax %h : tensor<?x4xf32>
  %s = attn.sigmoid %p : tensor<?x4xf32>
  %t = attn.relu %p : tensor<?x4xf32>
  // CHECK: return %[[K2]], %[[K3]]
  return %s, %t : tensor<?x4xf32>, tensor<?x4xf32>
}
