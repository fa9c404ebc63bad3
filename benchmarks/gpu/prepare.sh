#!/usr/bin/env bash
# Builds everything `run.py` needs on a GPU machine, which has PyTorch but none of attnc's build: every
# example with a golden and the benchmark workloads compiled by attnc for TARGET (default: cuda), the
# fp32 FMA peak kernel (with nvcc, where the CUDA toolkit is installed), and the G2P training data, into one
# folder to carry there (by default build/gpu-bundle; about 40 MiB).
#   benchmarks/gpu/prepare.sh [TARGET] [BUNDLE]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
target="${1:-cuda}"
bundle="${2:-$root/build/gpu-bundle}"
attnc="$root/build/compiler/attnc"
[ -x "$attnc" ] || { echo "prepare.sh: build attnc first (make build)" >&2; exit 1; }
data="$root/examples/data/g2p/train.tsv"
[ -f "$data" ] || { echo "prepare.sh: make the G2P data first (make data)" >&2; exit 1; }

rm -rf "$bundle"
mkdir -p "$bundle"
echo "$target" > "$bundle/target"
models=(examples/attention_block examples/cnn_self_attention examples/cnn_spatial_attention
        examples/seq2seq_bahdanau examples/seq2seq_luong examples/transformer_encoder
        benchmarks/workloads/sdpa benchmarks/workloads/sdpa_causal benchmarks/workloads/bahdanau_step
        benchmarks/workloads/cnn_spatial_attention_28)
for model in "${models[@]}"; do
  name="$(basename "$model")"
  echo "prepare.sh: attnc --target=$target $model.attn"
  "$attnc" --target="$target" "$root/$model.attn" -o "$bundle/$name"
done
cp "$data" "$bundle/g2p-train.tsv"
if command -v nvcc > /dev/null || [ -x /usr/local/cuda/bin/nvcc ]; then
  nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
  "$nvcc" -O3 -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90 -cudart static \
    "$root/benchmarks/gpu/fma_peak.cu" -o "$bundle/fma_peak"
else
  echo "prepare.sh: no nvcc: the GPU's FMA peak will not be measured"
fi
git -C "$root" rev-parse --short HEAD > "$bundle/commit" 2>/dev/null || echo unknown > "$bundle/commit"
du -sh "$bundle"
