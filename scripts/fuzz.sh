#!/usr/bin/env bash
# Runs every fuzz target of a sanitizer build (`make fuzz`, FUZZ_TIME seconds each; FUZZ_TARGETS to pick
# some, FUZZ_JOBS at once, default one per core). Each starts from its seed corpus (test/Fuzz/corpus/T) and
# what earlier runs found (BUILD/fuzz-corpus/T). A crash, leak, timeout or out-of-memory input is saved in
# test/Fuzz/crashers/T, which `make check` replays. Prints a line per target and exits 1 if any failed.
set -uo pipefail
build=${1:?usage: fuzz.sh BUILD [SECONDS]}
seconds=${2:-60}
root="$(cd "$(dirname "$0")/.." && pwd)"
read -ra targets <<< "${FUZZ_TARGETS:-model safetensors checkpoint npy vocab tsv schedule}"
jobs=${FUZZ_JOBS:-$(nproc)}
mkdir -p "$build/fuzz-tmp"

run_one() {
  local t=$1 log="$build/fuzz-$1.log"
  mkdir -p "$build/fuzz-corpus/$t" "$root/test/Fuzz/crashers/$t"
  TMPDIR="$build/fuzz-tmp" "$build/test/Fuzz/fuzz-$t" -max_total_time="$seconds" -timeout=10 \
    -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$root/test/Fuzz/crashers/$t/" \
    "$build/fuzz-corpus/$t" "$root/test/Fuzz/corpus/$t" > "$log" 2>&1
  local rc=$? runs corpus
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  corpus=$(find "$build/fuzz-corpus/$t" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    echo "fuzz $t: ${runs:-?} runs in ${seconds}s, corpus $corpus inputs: no crash, hang or leak"
  else
    echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} runs; input saved in test/Fuzz/crashers/$t, log $log"
    grep -m3 -E "ERROR|SUMMARY|runtime error" "$log" | sed 's/^/    /'
  fi
  return $rc
}

echo "fuzzing ${targets[*]} for ${seconds}s each, $jobs at a time (logs in $build/fuzz-*.log)"
failed=0
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$jobs" ]; then
    wait -n || failed=1
    running=$((running - 1))
  fi
done
while [ "$running" -gt 0 ]; do
  wait -n || failed=1
  running=$((running - 1))
done
exit $failed
