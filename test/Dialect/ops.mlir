// RUN: attn-opt %s | attn-opt | FileCheck %s

// CHECK-LABEL: func.func @layers
func.func @layers(%x: tensor<?x?x32xf32>) -> tensor<?x?x64xf32> {
  // CHECK: %[[W:.+]] = attn.param "p.weight" : tensor<64x32xf32>
  // CHECK: %[[B:.+]] = attn.param "p.bias" : tensor<64xf32>
  // CHECK: %[[D:.+]] = attn.dense %{{.+}}, %[[W]], %[[B]] : (tensor<?x?x32xf32>, tensor<64x32xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  // CHECK: %[[N:.+]] = attn.dense %{{.+}}, %[[W]] : (tensor<?x?x32xf32>, tensor<64x32xf32>) -> tensor<?x?x64xf32>
  // CHECK: attn.relu %[[D]] : tensor<?x?x64xf32>
  // CHECK: attn.tanh
  // CHECK: attn.sigmoid
  // CHECK: attn.softmax
  %w = attn.param "p.weight" : tensor<64x32xf32>
  %b = attn.param "p.bias" : tensor<64xf32>
  %d = attn.dense %x, %w, %b : (tensor<?x?x32xf32>, tensor<64x32xf32>, tensor<64xf32>) -> tensor<?x?x64xf32>
  %n = attn.dense %x, %w : (tensor<?x?x32xf32>, tensor<64x32xf32>) -> tensor<?x?x64xf32>
  %r = attn.relu %d : tensor<?x?x64xf32>
  %t = attn.tanh %r : tensor<?x?x64xf32>
  %s = attn.sigmoid %t : tensor<?x?x64xf32>
  %p = attn.softmax %s : tensor<?x?x64xf32>
  return %p : tensor<?x?x64xf32>
}

// CHECK-LABEL: func.func @more_layers
func.func @more_layers(%x: tensor<?x?x32xf32>, %y: tensor<?x?x32xf32>) -> tensor<?x?x32xf32> {
  // CHECK: attn.gelu %{{.+}} : tensor<?x?x32xf32>
  // CHECK: attn.add %{{.+}}, %{{.+}} : tensor<?x?x32xf32>
  // CHECK: attn.sub
  // CHECK: attn.mul
  // CHECK: attn.log_softmax %{{.+}} : tensor<?x?x32xf32>
  // CHECK: attn.layer_norm %{{.+}}, %{{.+}} bias %{{.+}} {epsilon = 9.99999974E-6 : f32} : (tensor<?x?x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  // CHECK: attn.layer_norm %{{.+}} {epsilon = 1.000000e-01 : f32} : (tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  %g = attn.gelu %x : tensor<?x?x32xf32>
  %a = attn.add %g, %y : tensor<?x?x32xf32>
  %s = attn.sub %a, %y : tensor<?x?x32xf32>
  %m = attn.mul %s, %y : tensor<?x?x32xf32>
  %l = attn.log_softmax %m : tensor<?x?x32xf32>
  %w = attn.param "n.weight" : tensor<32xf32>
  %b = attn.param "n.bias" : tensor<32xf32>
  %n = attn.layer_norm %l, %w bias %b {epsilon = 1.0e-5 : f32} : (tensor<?x?x32xf32>, tensor<32xf32>, tensor<32xf32>) -> tensor<?x?x32xf32>
  %p = attn.layer_norm %n {epsilon = 0.1 : f32} : (tensor<?x?x32xf32>) -> tensor<?x?x32xf32>
  return %p : tensor<?x?x32xf32>
}

// CHECK-LABEL: func.func @attention
func.func @attention(%q: tensor<?x?x32xf32>, %k: tensor<?x?x32xf32>, %v: tensor<?x?x16xf32>,
                     %m: tensor<?x?xi32>) -> tensor<?x?x16xf32> {
  // CHECK: attn.dot_attention %{{.+}}, %{{.+}}, %{{.+}} mask %{{.+}} {causal, num_heads = 4 : i64, scale = 5.000000e-01 : f32}
  %a = attn.dot_attention %q, %k, %v mask %m {num_heads = 4 : i64, causal, scale = 0.5 : f32}
      : (tensor<?x?x32xf32>, tensor<?x?x32xf32>, tensor<?x?x16xf32>, tensor<?x?xi32>) -> tensor<?x?x16xf32>
  // CHECK: %[[S:.+]] = attn.score %{{.+}}, %{{.+}} {num_heads = 4 : i64, scale = 2.500000e-01 : f32} : (tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x4x?x?xf32>
  // CHECK: %[[P:.+]] = attn.masked_softmax %[[S]] mask %{{.+}} {causal}
  // CHECK: attn.masked_softmax %[[S]] :
  // CHECK: attn.weighted_sum %[[P]], %{{.+}} : (tensor<?x4x?x?xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  %s = attn.score %q, %k {num_heads = 4 : i64, scale = 0.25 : f32}
      : (tensor<?x?x32xf32>, tensor<?x?x32xf32>) -> tensor<?x4x?x?xf32>
  %p = attn.masked_softmax %s mask %m {causal} : (tensor<?x4x?x?xf32>, tensor<?x?xi32>) -> tensor<?x4x?x?xf32>
  %u = attn.masked_softmax %s : (tensor<?x4x?x?xf32>) -> tensor<?x4x?x?xf32>
  %c = attn.weighted_sum %p, %v : (tensor<?x4x?x?xf32>, tensor<?x?x16xf32>) -> tensor<?x?x16xf32>
  return %c : tensor<?x?x16xf32>
}

// CHECK-LABEL: func.func @kernel
func.func @kernel(%x: tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK: %[[K:.+]] = attn.kernel "relu_y"(%{{.+}}) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  // CHECK-NEXT: ^bb0(%[[A:.+]]: tensor<?x8xf32>):
  // CHECK-NEXT: %[[R:.+]] = attn.relu %[[A]] : tensor<?x8xf32>
  // CHECK-NEXT: attn.yield %[[R]] : tensor<?x8xf32>
  %k = attn.kernel "relu_y"(%x) : (tensor<?x8xf32>) -> tensor<?x8xf32> {
  ^bb0(%a: tensor<?x8xf32>):
    %r = attn.relu %a : tensor<?x8xf32>
    attn.yield %r : tensor<?x8xf32>
  }
  return %k : tensor<?x8xf32>
}
