#!/usr/bin/env bash
# `make demo`: compiles the grapheme-to-phoneme example (a BiLSTM encoder and an LSTM decoder with additive
# attention) to a standalone program, trains it briefly on CMUdict, shows the pronunciations it predicts
# and one attention heat map, and measures it on held-out words.
set -euo pipefail
build="${1:-build}"
steps="${DEMO_STEPS:-3000}"
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
out="$root/demo"
data="examples/data/g2p"
mkdir -p "$out"

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "1. The model (examples/seq2seq_bahdanau.attn)"
sed -n '/^model/,$p' examples/seq2seq_bahdanau.attn

step "2. Compile it, with its gradient program and optimizer, to a standalone program"
time "$build/compiler/attnc" examples/seq2seq_bahdanau.attn -o "$out/g2p"
"$out/g2p" info | sed -n '1,/^parameters/p'

step "3. Train it briefly: $steps steps of 64 words from $data/train.tsv (the full run is in examples/RESULTS.md)"
"$out/g2p" init --seed 1 --out "$out/init.safetensors"
rm -f "$out/g2p.safetensors"
"$out/g2p" train --weights "$out/init.safetensors" --tsv "$data/train.tsv" --out "$out/g2p.safetensors" \
  --steps "$steps" --batch 64 --seed 1 --log-every 250

step "4. Pronounce a few words (beam search, width 4)"
"$out/g2p" infer --weights "$out/g2p.safetensors" --text speech --text compiler --text attention --text halide \
  --text tensor --text phoneme

step "5. Where the decoder looked while pronouncing 'attention'"
"$out/g2p" attention --weights "$out/g2p.safetensors" --text attention --png "$out/attention.png" | head -20
echo "heat map: demo/attention.png"

step "6. Error rates on 500 held-out words (after this brief training)"
head -500 "$data/test.tsv" > "$out/test500.tsv"
"$out/g2p" eval --weights "$out/g2p.safetensors" --tsv "$out/test500.tsv" --show 5

printf '\nDone. The program is demo/g2p; try demo/g2p --help.\n'
