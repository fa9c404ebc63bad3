// RUN: attn-opt %s --attn-fuse-attention | FileCheck %s

// CHECK-LABEL: func.func @chain
// CHECK-SAME: (%[[Q:.+]]: tensor<?x?x8xf32>, %[[M:.+]]: tensor<?x?xi32>)
func.func @chain(%q: tensor<?x?x8xf32>, %m: tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  // CHECK: %[[K:.+]] = attn.kernel "attention_ctx"(%[[Q]], %[[M]]) : (tensor<?x?x8xf32>, tensor<?x?xi32>) -> tensor<?x?x8xf32> {
  // CHECK-NEXT: ^bb0(%[[A:.+]]: tensor<?x?x8xf32>, %[[B:.+]]: tensor<?x?xi32>):
  // CHECK-NEXT: %[[S:.+]] = attn.score %[[A]], %[[A]]
  // CHECK-NEXT: %[[P:.+]] = attn.masked_softmax %[[S]] mask %[[B]]
  // CHECK-NEXT: %[[C:.+]] = attn.weighted_sum %[[P]], %[[A]]
  // CHECK-NEXT: attn.yield %[[C]]
  // CHECK-NEXT: }
  // CHECK-NEXT: return %[[K]]
  %s = attn.score %q, %q {num_heads = 2 : i64, scale = 0.5 : f32} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x2x?x?xf32> loc("ctx")
  %p = attn.masked_softmax %s mask %m : (tensor<?x2x?x?xf32>, tensor<?x?xi32>) -> tensor<?x2x?x?xf32>
  %c = attn.weighted_sum %p, %q : (tensor<?x2x?x?xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %c : tensor<?x?x8xf32>
}

// Probabilities used outside the chain are not fused: the kernel would have to store them anyway.
// CHECK-LABEL: func.func @shared_probabilities
// CHECK-NOT: attn.kernel
func.func @shared_probabilities(%q: tensor<?x?x8xf32>) -> (tensor<?x?x8xf32>, tensor<?x1x?x?xf32>) {
  %s = attn.score %q, %q {num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x1x?x?xf32>
  %p = attn.masked_softmax %s : (tensor<?x1x?x?xf32>) -> tensor<?x1x?x?xf32>
  %c = attn.weighted_sum %p, %q : (tensor<?x1x?x?xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %c, %p : tensor<?x?x8xf32>, tensor<?x1x?x?xf32>
}
