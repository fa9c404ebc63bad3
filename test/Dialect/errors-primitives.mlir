// Verifier errors of the primitive ops (select, argmax), of declared parameters' initializers, of random
// shifts, and of positions and key/value caches.
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

// -----

func.func @random_shift_rank(%x: tensor<?x8xf32>) {
  // expected-error @+1 {{'attn.random_shift' op expects images [N, ..., H, W] of rank 3 or more, found [?, 8]}}
  %y = attn.random_shift %x {pixels = 1 : i64, stream = 0 : i64} : (tensor<?x8xf32>) -> tensor<?x8xf32>
  return
}

// -----

func.func @random_shift_pixels(%x: tensor<?x1x8x8xf32>) {
  // expected-error @+1 {{'attn.random_shift' op expects a shift of at least 1 pixel, found 0}}
  %y = attn.random_shift %x {pixels = 0 : i64, stream = 0 : i64} : (tensor<?x1x8x8xf32>) -> tensor<?x1x8x8xf32>
  return
}

// -----

func.func @random_shift_seed(%x: tensor<?x1x8x8xf32>, %s: tensor<5xi32>) {
  // expected-error @+1 {{'attn.random_shift' op expects the seed as i32 [6], as attn.dropout's, found [5]}}
  %y = attn.random_shift %x seed(%s) {pixels = 1 : i64, stream = 0 : i64} : (tensor<?x1x8x8xf32>, tensor<5xi32>) -> tensor<?x1x8x8xf32>
  return
}

// -----

func.func @sinusoid_odd(%p: tensor<?x?xi32>) {
  // expected-error @+1 {{'attn.sinusoid' op expects an even dim (sine and cosine pairs), found 15}}
  %e = attn.sinusoid %p {dim = 15 : i64} : (tensor<?x?xi32>) -> tensor<?x?x15xf32>
  return
}

// -----

func.func @cache_row(%k: tensor<?x8x16xf32>, %r: tensor<?x12xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{'attn.cache_write' op expects the dimension 1 of the row [?, 12] and the cache [?, 8, 16] to agree, found 12 and 16}}
  %c = attn.cache_write %k, %r, %t : (tensor<?x8x16xf32>, tensor<?x12xf32>, tensor<?xi32>) -> tensor<?x8x16xf32>
  return
}

// -----

func.func @offset_without_causal(%q: tensor<?x1x16xf32>, %k: tensor<?x8x16xf32>, %t: tensor<?xi32>) {
  // expected-error @+1 {{'attn.dot_attention' op takes query positions (offset) only with causal}}
  %a = attn.dot_attention %q, %k, %k offset %t {num_heads = 1 : i64}
      : (tensor<?x1x16xf32>, tensor<?x8x16xf32>, tensor<?x8x16xf32>, tensor<?xi32>) -> tensor<?x1x16xf32>
  return
}

// -----

func.func @positions_rank(%x: tensor<?xi32>) {
  // expected-error @+1 {{'attn.positions' op expects a sequence [batch, length, ...], found [?]}}
  %p = attn.positions %x : (tensor<?xi32>) -> tensor<?x?xi32>
  return
}

// -----

func.func @shift_right_fill(%t: tensor<?x?xi32>) {
  // expected-error @+1 {{'attn.shift_right' op expects a non-negative fill token, found -1}}
  %y = attn.shift_right %t {fill = -1 : i64} : (tensor<?x?xi32>) -> tensor<?x?xi32>
  return
}

// -----

func.func @cache_positions(%k: tensor<?x8x16xf32>, %r: tensor<?x16xf32>, %t: tensor<?x2xi32>) {
  // expected-error @+1 {{'attn.cache_write' op expects positions of rank 1 [rows], found rank 2 [?, 2]}}
  %c = attn.cache_write %k, %r, %t : (tensor<?x8x16xf32>, tensor<?x16xf32>, tensor<?x2xi32>) -> tensor<?x8x16xf32>
  return
}

// -----

func.func @positioned_teacher(%h: tensor<?x4xf32>, %tgt: tensor<?x?xi32>) {
  // expected-error @+1 {{'attn.decode' op gives the step its position only in modes "greedy" and "beam"}}
  %l = attn.decode "teacher"(%h) teacher %tgt {positioned} : (tensor<?x4xf32>, tensor<?x?xi32>) -> tensor<?x?x4xf32> {
  ^bb0(%y: tensor<?xi32>, %t: tensor<?xi32>, %s: tensor<?x4xf32>):
    attn.decode_yield(%s : tensor<?x4xf32>) emit %s : tensor<?x4xf32>
  }
  return
}
