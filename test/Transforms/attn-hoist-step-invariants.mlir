// RUN: attn-opt %s --attn-hoist-step-invariants | FileCheck %s

// The key projection reads only values from outside the step: it moves before the decoder, as do the
// parameters; the query projection reads the carried state and stays.
// CHECK-LABEL: func.func @hoist
func.func @hoist(%keys: tensor<?x?x6xf32>, %h0: tensor<?x6xf32>) -> tensor<?x?xi32> {
  // CHECK: %[[W:.+]] = attn.param "k.weight"
  // CHECK-NEXT: %[[K:.+]] = attn.dense %{{.+}}, %[[W]]
  // CHECK-NEXT: %[[Q:.+]] = attn.param "q.weight"
  // CHECK-NEXT: attn.decode "greedy"
  // CHECK-NEXT: ^bb0
  // CHECK-NEXT: attn.dense %{{.+}}, %[[Q]]
  // CHECK-NEXT: attn.decode_yield
  %t = attn.decode "greedy"(%h0) : (tensor<?x6xf32>) -> tensor<?x?xi32> {
  ^bb0(%y: tensor<?xi32>, %h: tensor<?x6xf32>):
    %wk = attn.param "k.weight" : tensor<6x6xf32>
    %k = attn.dense %keys, %wk : (tensor<?x?x6xf32>, tensor<6x6xf32>) -> tensor<?x?x6xf32>
    %wq = attn.param "q.weight" : tensor<6x6xf32>
    %q = attn.dense %h, %wq : (tensor<?x6xf32>, tensor<6x6xf32>) -> tensor<?x6xf32>
    attn.decode_yield (%q : tensor<?x6xf32>) emit %q : tensor<?x6xf32>
  }
  return %t : tensor<?x?xi32>
}
