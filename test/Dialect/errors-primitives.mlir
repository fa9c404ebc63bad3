// Verifier errors of the primitive ops (select, argmax) and of declared parameters' initializers.
// RUN: attn-opt %s -split-input-file -verify-diagnostics

func.func @select_condition(%m: tensor<?x4x8xf32>, %a: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.select' op expects a condition that broadcasts to [?, 8], found [?, 4, 8]}}
  %z = attn.select %m, %a, %a : (tensor<?x4x8xf32>, tensor<?x8xf32>, tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @argmax_axis(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.argmax' op expects an axis in [0, 1], found 2}}
  %i = attn.argmax %x {axis = 2 : i64} : (tensor<?x8xf32>) -> tensor<?xi32>
  return
}

// -----

func.func @param_init() {
  // expected-error @+1 {{'attn.param' op expects an init_scale for init 'normal'}}
  %w = attn.param "w" {init = "normal"} : tensor<4xf32>
  return
}
