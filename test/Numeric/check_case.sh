#!/bin/sh
# Runs a compiled model on one golden case and compares every output with PyTorch's:
#   check_case.sh PROGRAM CASE_DIR OUT_DIR "INPUT..." "OUTPUT..." [RTOL]
# CASE_DIR holds weights.safetensors, INPUT.npy for each input and OUTPUT.npy for each output. Elements
# match when |actual - expected| <= 1e-6 + RTOL·|expected|; RTOL is 1e-5 unless given (1e-4 for whole
# example models). With CHECK_COMMAND=grad in the environment, the program's `grad` runs instead of `infer`
# (outputs loss and grad.<parameter>); with WEIGHTS=FILE, FILE holds the weights instead of the case's
# weights.safetensors (a model whose weights seeded_weights.py makes).
set -e
program=$1 case=$2 out=$3 rtol=${6:-1e-5}
args=""
for name in $4; do args="$args --in $name=$case/$name.npy"; done
rm -rf "$out"
"$program" "${CHECK_COMMAND:-infer}" --weights "${WEIGHTS:-$case/weights.safetensors}" $args --out "$out" > /dev/null
for name in $5; do
  printf '%s: ' "$name"
  attn-npy-compare "$out/$name.npy" "$case/$name.npy" --rtol "$rtol" --atol 1e-6
done
