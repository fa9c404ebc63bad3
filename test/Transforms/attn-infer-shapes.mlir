// RUN: attn-opt %s --attn-infer-shapes | FileCheck %s

// Result types written with '?' where the operands fix a size are refined, through kernels, and the
// function's result type follows.
// CHECK-LABEL: func.func @refine
// CHECK-SAME: -> tensor<2x?x4xf32>
func.func @refine(%x: tensor<2x?x8xf32>) -> tensor<?x?x?xf32> {
  %w = attn.param "w" : tensor<4x8xf32>
  // CHECK: attn.dense {{.+}} -> tensor<2x?x4xf32>
  %d = attn.dense %x, %w : (tensor<2x?x8xf32>, tensor<4x8xf32>) -> tensor<?x?x?xf32>
  // CHECK: attn.kernel "k"({{.+}}) : (tensor<2x?x4xf32>) -> tensor<2x?x4xf32>
  // CHECK-NEXT: ^bb0(%{{.+}}: tensor<2x?x4xf32>):
  // CHECK-NEXT: attn.tanh %{{.+}} : tensor<2x?x4xf32>
  %k = attn.kernel "k"(%d) : (tensor<?x?x?xf32>) -> tensor<?x?x?xf32> {
  ^bb0(%a: tensor<?x?x?xf32>):
    %t = attn.tanh %a : tensor<?x?x?xf32>
    attn.yield %t : tensor<?x?x?xf32>
  }
  // CHECK: return %{{.+}} : tensor<2x?x4xf32>
  return %k : tensor<?x?x?xf32>
}
