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

// Probabilities read outside the chain become a second result of the kernel.
// CHECK-LABEL: func.func @shared_probabilities
// CHECK: %[[K:.+]]:2 = attn.kernel "attention"(%{{.+}}) : (tensor<?x?x8xf32>) -> (tensor<?x1x?x?xf32>, tensor<?x?x8xf32>)
// CHECK: attn.masked_softmax
// CHECK: attn.weighted_sum
// CHECK: attn.yield %{{.+}}, %{{.+}} : tensor<?x1x?x?xf32>, tensor<?x?x8xf32>
// CHECK: return %[[K]]#1, %[[K]]#0
func.func @shared_probabilities(%q: tensor<?x?x8xf32>) -> (tensor<?x?x8xf32>, tensor<?x1x?x?xf32>) {
  %s = attn.score %q, %q {num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x1x?x?xf32>
  %p = attn.masked_softmax %s : (tensor<?x1x?x?xf32>) -> tensor<?x1x?x?xf32>
  %c = attn.weighted_sum %p, %q : (tensor<?x1x?x?xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %c, %p : tensor<?x?x8xf32>, tensor<?x1x?x?xf32>
}

// A reader of the probabilities placed before the weighted sum keeps the chain apart: the kernel could not
// take the weighted sum's place.
// CHECK-LABEL: func.func @early_reader
// CHECK-NOT: attn.kernel
func.func @early_reader(%q: tensor<?x?x8xf32>) -> (tensor<?x?x8xf32>, tensor<?x1x?x?xf32>) {
  %s = attn.score %q, %q {num_heads = 1 : i64, scale = 0.5 : f32} : (tensor<?x?x8xf32>, tensor<?x?x8xf32>) -> tensor<?x1x?x?xf32>
  %p = attn.masked_softmax %s : (tensor<?x1x?x?xf32>) -> tensor<?x1x?x?xf32>
  %r = attn.relu %p : tensor<?x1x?x?xf32>
  %c = attn.weighted_sum %p, %q : (tensor<?x1x?x?xf32>, tensor<?x?x8xf32>) -> tensor<?x?x8xf32>
  return %c, %r : tensor<?x?x8xf32>, tensor<?x1x?x?xf32>
}

// The projection of a single query row joins the kernel (a decoder step's additive attention); the key
// projection, read by the scores of every step, does not.
// CHECK-LABEL: func.func @query_projection
// CHECK: %[[KEYS:.+]] = attn.dense %{{.+}}, %{{.+}} : (tensor<?x?x8xf32>, tensor<4x8xf32>) -> tensor<?x?x4xf32>
// CHECK: attn.kernel "attention_ctx"
// CHECK-NEXT: ^bb0
// CHECK-NEXT: attn.dense
// CHECK-NEXT: attn.additive_score
// CHECK-NEXT: attn.masked_softmax
// CHECK-NEXT: attn.weighted_sum
func.func @query_projection(%h: tensor<?x1x8xf32>, %enc: tensor<?x?x8xf32>, %len: tensor<?xi32>) -> tensor<?x1x8xf32> {
  %wq = attn.param "wq" : tensor<4x8xf32>
  %wk = attn.param "wk" : tensor<4x8xf32>
  %v = attn.param "v" : tensor<1x4xf32>
  %q = attn.dense %h, %wq : (tensor<?x1x8xf32>, tensor<4x8xf32>) -> tensor<?x1x4xf32>
  %k = attn.dense %enc, %wk : (tensor<?x?x8xf32>, tensor<4x8xf32>) -> tensor<?x?x4xf32>
  %s = attn.additive_score %q, %k, %v : (tensor<?x1x4xf32>, tensor<?x?x4xf32>, tensor<1x4xf32>) -> tensor<?x1x1x?xf32> loc("ctx")
  %p = attn.masked_softmax %s mask %len : (tensor<?x1x1x?xf32>, tensor<?xi32>) -> tensor<?x1x1x?xf32>
  %c = attn.weighted_sum %p, %enc : (tensor<?x1x1x?xf32>, tensor<?x?x8xf32>) -> tensor<?x1x8xf32>
  return %c : tensor<?x1x8xf32>
}
