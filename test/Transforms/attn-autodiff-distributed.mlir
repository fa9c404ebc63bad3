// RUN: attn-opt %s --attn-autodiff=distributed=true | FileCheck %s
// RUN: attn-opt %s --attn-autodiff | FileCheck --check-prefix=ALONE %s

// Data-parallel training: batch norm normalizes by statistics summed over every process (count and Σx, then
// Σ(x − μ)²), its input gradient by the summed Σdy and Σdy·x̂ (a cotangent sum), and its weight gradient by
// x̂ from the global statistics. The convolution's bias, which batch norm cancels, gets a zero gradient.
// CHECK-LABEL: func.func @cnn_grad
// CHECK:      %[[C:.+]] = attn.conv2d
// CHECK:      %[[X:.+]] = attn.batch_sums %[[C]] {epsilon = {{.+}}, of = "x"} : (tensor<?x4x6x6xf32>) -> tensor<2x4xf32>
// CHECK-NEXT: %[[GX:.+]] = attn.all_sum %[[X]] : tensor<2x4xf32>
// CHECK-NEXT: %[[V:.+]] = attn.batch_sums %[[C]], %[[GX]] {epsilon = {{.+}}, of = "centered"}
// CHECK-NEXT: %[[GV:.+]] = attn.all_sum %[[V]] : tensor<2x4xf32>
// CHECK-NEXT: %[[Y:.+]] = attn.batch_norm_train %[[C]], %{{.+}}, %{{.+}}, %{{.+}} stats(%[[GX]], %[[GV]]) {{{.*}}statistic = "output"}
// CHECK:      attn.batch_norm_train %[[C]], {{.+}} stats(%[[GX]], %[[GV]]) {{{.*}}statistic = "mean"}
// CHECK:      %[[D:.+]] = attn.batch_sums %[[C]], %{{.+}}, %[[GX]], %[[GV]] {epsilon = {{.+}}, of = "grad"}
// CHECK-NEXT: %[[GD:.+]] = attn.all_sum %[[D]] {cotangent} : tensor<2x4xf32>
// CHECK:      attn.batch_norm_grad %[[C]], %{{.+}}, %{{.+}} stats(%[[GX]], %[[GV]], %[[GD]]) {epsilon = {{.+}}, wrt = "input"}
// CHECK:      attn.batch_norm_grad %[[C]], %{{.+}}, %{{.+}} stats(%[[GX]], %[[GV]]) {epsilon = {{.+}}, wrt = "weight"}
// CHECK:      attn.batch_norm_grad %[[C]], %{{.+}}, %{{.+}} {epsilon = {{.+}}, wrt = "bias"}
// CHECK:      %[[ZB:.+]] = attn.scale %{{.+}} {factor = 0.000000e+00 : f32} : tensor<4xf32>
// CHECK:      return {{.*}}%[[ZB]]

// One process: batch norm's own statistics, and no sums.
// ALONE-LABEL: func.func @cnn_grad
// ALONE-NOT:   attn.all_sum
// ALONE-NOT:   attn.batch_sums
// ALONE:       attn.scale %{{.+}} {factor = 0.000000e+00 : f32} : tensor<4xf32>
func.func @cnn(%x: tensor<?x1x6x6xf32>, %t: tensor<?xi32>) -> tensor<f32>
    attributes {attn.outputs = ["loss"], attn.loss = "loss"} {
  %w = attn.param "c.weight" : tensor<4x1x3x3xf32>
  %b = attn.param "c.bias" : tensor<4xf32>
  %c = attn.conv2d %x, %w, %b {stride = array<i64: 1, 1>, padding = array<i64: 1, 1>, dilation = array<i64: 1, 1>, groups = 1 : i64} : (tensor<?x1x6x6xf32>, tensor<4x1x3x3xf32>, tensor<4xf32>) -> tensor<?x4x6x6xf32>
  %g = attn.param "n.weight" : tensor<4xf32>
  %h = attn.param "n.bias" : tensor<4xf32>
  %m = attn.param "n.running_mean" : tensor<4xf32>
  %v = attn.param "n.running_var" : tensor<4xf32>
  %n = attn.batch_norm %c, %g, %h, %m, %v {epsilon = 1.0e-5 : f32} : (tensor<?x4x6x6xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<4xf32>) -> tensor<?x4x6x6xf32>
  %p = attn.global_pool %n {kind = "avg"} : (tensor<?x4x6x6xf32>) -> tensor<?x4xf32>
  %l = attn.cross_entropy %p, %t {label_smoothing = 0.0 : f32} : (tensor<?x4xf32>, tensor<?xi32>) -> tensor<f32>
  return %l : tensor<f32>
}
