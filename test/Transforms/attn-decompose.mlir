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

// CBAM channel attention: one MLP over each pooled statistic, sigmoid of their sum, a broadcast product.
// CHECK-LABEL: func.func @channel
func.func @channel(%x: tensor<?x8x5x3xf32>, %w1: tensor<2x8xf32>, %b1: tensor<2xf32>, %w2: tensor<8x2xf32>,
                   %b2: tensor<8xf32>) -> tensor<?x8x5x3xf32> {
  // CHECK:      %[[A:.+]] = attn.global_pool %[[X:[^ ]+]] {kind = "avg"} : (tensor<?x8x5x3xf32>) -> tensor<?x8xf32>
  // CHECK-NEXT: %[[DA:.+]] = attn.dense %[[A]], %{{.+}}, %{{.+}} : (tensor<?x8xf32>, tensor<2x8xf32>, tensor<2xf32>) -> tensor<?x2xf32>
  // CHECK-NEXT: %[[RA:.+]] = attn.relu %[[DA]] : tensor<?x2xf32>
  // CHECK-NEXT: %[[LA:.+]] = attn.dense %[[RA]], %{{.+}}, %{{.+}} : (tensor<?x2xf32>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<?x8xf32>
  // CHECK-NEXT: attn.global_pool %[[X]] {kind = "max"}
  // CHECK:      %[[L:.+]] = attn.add %[[LA]], %{{.+}} : tensor<?x8xf32>
  // CHECK-NEXT: %[[S:.+]] = attn.sigmoid %[[L]] : tensor<?x8xf32>
  // CHECK-NEXT: %[[E:.+]] = attn.expand_dims %[[S]] {axis = 2 : i64} : (tensor<?x8xf32>) -> tensor<?x8x1xf32>
  // CHECK-NEXT: %[[E2:.+]] = attn.expand_dims %[[E]] {axis = 3 : i64} : (tensor<?x8x1xf32>) -> tensor<?x8x1x1xf32>
  // CHECK-NEXT: %[[B:.+]] = attn.broadcast %[[E2]], %[[X]] : (tensor<?x8x1x1xf32>, tensor<?x8x5x3xf32>) -> tensor<?x8x5x3xf32>
  // CHECK-NEXT: %[[Y:.+]] = attn.mul %[[X]], %[[B]] : tensor<?x8x5x3xf32>
  // CHECK-NEXT: return %[[Y]]
  %y = attn.channel_attention %x, %w1, %b1, %w2, %b2 : (tensor<?x8x5x3xf32>, tensor<2x8xf32>, tensor<2xf32>, tensor<8x2xf32>, tensor<8xf32>) -> tensor<?x8x5x3xf32>
  return %y : tensor<?x8x5x3xf32>
}

// CBAM spatial attention: channel mean and maximum, each convolved with its slice of the kernel.
// CHECK-LABEL: func.func @spatial
func.func @spatial(%x: tensor<?x8x5x3xf32>, %w: tensor<1x2x3x3xf32>) -> tensor<?x8x5x3xf32> {
  // CHECK:      %[[M:.+]] = attn.reduce %[[X:[^ ]+]] {axis = 1 : i64, kind = "mean"} : (tensor<?x8x5x3xf32>) -> tensor<?x1x5x3xf32>
  // CHECK-NEXT: %[[K0:.+]] = attn.slice %[[W:[^ ]+]] {axis = 1 : i64, size = 1 : i64, start = 0 : i64} : (tensor<1x2x3x3xf32>) -> tensor<1x1x3x3xf32>
  // CHECK-NEXT: %[[C0:.+]] = attn.conv2d %[[M]], %[[K0]] {dilation = array<i64: 1, 1>, groups = 1 : i64, padding = array<i64: 1, 1>, stride = array<i64: 1, 1>} : (tensor<?x1x5x3xf32>, tensor<1x1x3x3xf32>) -> tensor<?x1x5x3xf32>
  // CHECK-NEXT: attn.reduce %[[X]] {axis = 1 : i64, kind = "max"}
  // CHECK-NEXT: attn.slice %[[W]] {axis = 1 : i64, size = 1 : i64, start = 1 : i64}
  // CHECK-NEXT: %[[C1:.+]] = attn.conv2d
  // CHECK-NEXT: %[[L:.+]] = attn.add %[[C0]], %[[C1]] : tensor<?x1x5x3xf32>
  // CHECK-NEXT: %[[S:.+]] = attn.sigmoid %[[L]] : tensor<?x1x5x3xf32>
  // CHECK-NEXT: %[[B:.+]] = attn.broadcast %[[S]], %[[X]] : (tensor<?x1x5x3xf32>, tensor<?x8x5x3xf32>) -> tensor<?x8x5x3xf32>
  // CHECK-NEXT: attn.mul %[[X]], %[[B]] : tensor<?x8x5x3xf32>
  %y = attn.spatial_attention %x, %w : (tensor<?x8x5x3xf32>, tensor<1x2x3x3xf32>) -> tensor<?x8x5x3xf32>
  return %y : tensor<?x8x5x3xf32>
}

// The non-local block: positions as a sequence, the attention primitives (unscaled), and back.
// CHECK-LABEL: func.func @non_local
func.func @non_local(%x: tensor<?x8x5x3xf32>, %w: tensor<4x8xf32>, %b: tensor<4xf32>, %wo: tensor<8x4xf32>,
                     %bo: tensor<8xf32>) -> tensor<?x8x5x3xf32> {
  // CHECK:      %[[F:.+]] = attn.reshape %[[X:[^ ]+]] : (tensor<?x8x5x3xf32>) -> tensor<?x8x15xf32>
  // CHECK-NEXT: %[[T:.+]] = attn.transpose %[[F]] {permutation = array<i64: 0, 2, 1>} : (tensor<?x8x15xf32>) -> tensor<?x15x8xf32>
  // CHECK-NEXT: %[[Q:.+]] = attn.dense %[[T]], {{.+}} -> tensor<?x15x4xf32>
  // CHECK-NEXT: %[[K:.+]] = attn.dense %[[T]]
  // CHECK-NEXT: %[[G:.+]] = attn.dense %[[T]]
  // CHECK-NEXT: %[[S:.+]] = attn.score %[[Q]], %[[K]] {num_heads = 1 : i64, scale = 1.000000e+00 : f32} : (tensor<?x15x4xf32>, tensor<?x15x4xf32>) -> tensor<?x1x15x15xf32>
  // CHECK-NEXT: %[[P:.+]] = attn.masked_softmax %[[S]]
  // CHECK-NEXT: %[[C:.+]] = attn.weighted_sum %[[P]], %[[G]] : (tensor<?x1x15x15xf32>, tensor<?x15x4xf32>) -> tensor<?x15x4xf32>
  // CHECK-NEXT: %[[O:.+]] = attn.dense %[[C]], {{.+}} -> tensor<?x15x8xf32>
  // CHECK-NEXT: %[[OT:.+]] = attn.transpose %[[O]] {permutation = array<i64: 0, 2, 1>} : (tensor<?x15x8xf32>) -> tensor<?x8x15xf32>
  // CHECK-NEXT: %[[R:.+]] = attn.reshape %[[OT]] : (tensor<?x8x15xf32>) -> tensor<?x8x5x3xf32>
  // CHECK-NEXT: attn.add %[[X]], %[[R]] : tensor<?x8x5x3xf32>
  %y = attn.self_attention_2d %x, %w, %b, %w, %b, %w, %b, %wo, %bo : (tensor<?x8x5x3xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<4x8xf32>, tensor<4xf32>, tensor<8x4xf32>, tensor<8xf32>) -> tensor<?x8x5x3xf32>
  return %y : tensor<?x8x5x3xf32>
}
