#!/usr/bin/env bash
# `make demo`: compiles the example attention block to a standalone program, shows its fused IR and its
# interface, runs it on inputs and PyTorch-made weights, and compares the result with PyTorch's.
set -euo pipefail
build="${1:-build}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/demo"
golden="test/Numeric/goldens/attention_block/b7_s13"
mkdir -p "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. The model (examples/attention_block.attn)"
sed -n '/^model/,$p' examples/attention_block.attn

step "2. Its fused attn IR: four dense kernels and one attention kernel (attnc --emit=mlir)"
"$build/compiler/attnc" examples/attention_block.attn --emit=mlir | grep -E 'attn\.kernel' | sed -E 's/^ *(%[0-9]+ = attn\.kernel "[a-z_]+").*/  \1 { ... }/'

step "3. Compile to a standalone program"
time "$build/compiler/attnc" examples/attention_block.attn -o "$out/attention_block"
echo "shared libraries it needs:"
ldd "$out/attention_block" | sed 's/^/  /'

step "4. What the program expects (./attention_block info)"
"$out/attention_block" info

step "5. Run it on a batch of 7 sequences of 13 tokens with PyTorch-made weights"
"$out/attention_block" infer --weights "$golden/weights.safetensors" \
  --in x="$golden/x.npy" --in valid="$golden/valid.npy" --out "$out/result"

step "6. Compare with PyTorch (torch.nn.functional.scaled_dot_product_attention)"
"$build/test/tools/attn-npy-compare" "$out/result/y.npy" "$golden/y.npy" --rtol 1e-5 --atol 1e-6

step "7. Fresh random weights work too (./attention_block init)"
"$out/attention_block" init --seed 7 --out "$out/random.safetensors"
"$out/attention_block" infer --weights "$out/random.safetensors" \
  --in x="$golden/x.npy" --in valid="$golden/valid.npy" --out "$out/random-result"

printf '\nDone. The program is %s; try %s --help.\n' "demo/attention_block" "demo/attention_block"
