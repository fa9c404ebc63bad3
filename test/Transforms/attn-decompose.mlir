// RUN: attn-opt %s --attn-decompose | FileCheck %s

// CHECK-LABEL: func.func @multi_head_masked
// CHECK-SAME: (%[[Q:.+]]: tensor<?x?x32xf32>, %[[K:.+]]: tensor<?x?x32xf32>, %[[V:.+]]: tensor<?x?x16xf32>, %[[M:.+]]: tensor<?x?xi32>)
func.func @multi_head_masked(%q: tensor<?x?x32xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x16xf32>,
                             %m: tensor<?x?xi32>) -> tensor<?x?x16xf32> {
  // The default scale is 1/sqrt(32 / 4).
  // CHECK: %[[S:.+]] = attn.score %[[Q]], %[[K]] {num_heads = 4 : i64, scale = 0.353553385 : f32} : (tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x4x?x?xf32>
  // CHECK-NEXT: %[[P:.+]] = attn.masked_softmax %[[S]] mask %[[M]] {causal} : (tensor<?x4x?x?xf32>, tensor<?x?xi32>) -> tensor<?x4x?x?xf32>
  // CHECK-NEXT: %[[C:.+]] = attn.weighted_sum %[[P]], %[[V]] : (tensor<?x4x?x?xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  // CHECK-NEXT: return %[[C]]
  %a = attn.dot_attention %q, %k, %v mask %m {num_heads = 4 : i64, causal}
      : (tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x16xf32>, tensor<?x?xi32>) -> tensor<?x?x16xf32>
  return %a : tensor<?x?x16xf32>
}

// CHECK-LABEL: func.func @explicit_scale
func.func @explicit_scale(%q: tensor<3x5x8xf32>, %k: tensor<3x7x8xf32>) -> tensor<3x5x8xf32> {
  // CHECK: attn.score {{.+}} {num_heads = 1 : i64, scale = 5.000000e-01 : f32} : (tensor<3x5x8xf32>, tensor<3x7x8xf32>) -> tensor<3x1x5x7xf32>
  // CHECK-NEXT: attn.masked_softmax %{{.+}} : (tensor<3x1x5x7xf32>) -> tensor<3x1x5x7xf32>
  // CHECK-NEXT: attn.weighted_sum
  %a = attn.dot_attention %q, %k, %k {num_heads = 1 : i64, scale = 0.5 : f32}
      : (tensor<3x5x8xf32>, tensor<3x7x8xf32>, tensor<3x7x8xf32>) -> tensor<3x5x8xf32>
  return %a : tensor<3x5x8xf32>
}

// CHECK-LABEL: func.func @additive
func.func @additive(%q: tensor<?x?x12xf32>, %k: tensor<?x?x20xf32>, %wq: tensor<6x12xf32>, %wk: tensor<6x20xf32>,
                    %v: tensor<1x6xf32>) -> tensor<?x?x20xf32> {
  // The key projection is its own dense op, computed once per sequence.
  // CHECK: %[[QP:.+]] = attn.dense %{{.+}}, %{{.+}} : (tensor<?x?x12xf32>, tensor<6x12xf32>) -> tensor<?x?x6xf32>
  // CHECK-NEXT: %[[KP:.+]] = attn.dense %{{.+}}, %{{.+}} : (tensor<?x?x20xf32>, tensor<6x20xf32>) -> tensor<?x?x6xf32>
  // CHECK-NEXT: %[[S:.+]] = attn.additive_score %[[QP]], %[[KP]], %{{.+}} : {{.+}} -> tensor<?x1x?x?xf32>
  // CHECK-NEXT: %[[P:.+]] = attn.masked_softmax %[[S]] :
  // CHECK-NEXT: attn.weighted_sum %[[P]], %{{.+}} : (tensor<?x1x?x?xf32>, tensor<?x?x20xf32>) -> tensor<?x?x20xf32>
  %c = attn.additive_attention %q, %k, %k, %wq, %wk, %v : (tensor<?x?x12xf32>, tensor<?x?x20xf32>, tensor<?x?x20xf32>, tensor<6x12xf32>, tensor<6x20xf32>, tensor<1x6xf32>) -> tensor<?x?x20xf32>
  return %c : tensor<?x?x20xf32>
}
