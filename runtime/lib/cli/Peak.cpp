// The machine's fp32 peak as `profile` reports it: fused multiply-adds on the widest vectors the CPU has, on
// every thread of the run.
#include "Command.h"

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

namespace attn::rt {

namespace {

/// 16 floats: one AVX-512 register, or two AVX2 or four SSE/NEON ones.
typedef float Lanes __attribute__((vector_size(64)));
constexpr int kChains = 12; // independent FMA chains per thread: more than the FMA units × their latency

/// Runs `iterations` rounds of kChains multiply-adds of Lanes; returns a sum so that nothing is dropped.
/// On x86-64 a copy is built for AVX-512, one for AVX2 with FMA and one for the baseline, and the loader
/// picks the best this CPU runs.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#endif
float fmaChains(long iterations) {
  Lanes acc[kChains];
  for (int c = 0; c < kChains; ++c)
    for (int l = 0; l < 16; ++l)
      acc[c][l] = 1.0f + 1e-3f * float(c);
  Lanes a = acc[0] * 0.0f + 0.999999f, b = acc[0] * 0.0f + 1e-7f;
  for (long i = 0; i < iterations; ++i)
    for (int c = 0; c < kChains; ++c)
      acc[c] = acc[c] * a + b;
  float sum = 0;
  for (int c = 0; c < kChains; ++c)
    for (int l = 0; l < 16; ++l)
      sum += acc[c][l];
  return sum;
}

} // namespace

/// This machine's fp32 peak on `threads` threads in GFLOP/s: every thread runs independent chains of fused
/// multiply-adds on the widest vectors the CPU has; the best of 3 rounds of about 30 ms.
double fp32Peak(int threads) {
  constexpr long kIterations = 1 << 20;
  std::vector<float> sinks(static_cast<size_t>(threads));
  double best = 0;
  for (int round = 0; round < 3; ++round) {
    auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
      workers.emplace_back([&sinks, t] { sinks[static_cast<size_t>(t)] = fmaChains(kIterations); });
    for (std::thread &w : workers)
      w.join();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    best = std::max(best, 2.0 * 16 * kChains * double(kIterations) * threads / seconds / 1e9);
  }
  return best;
}

} // namespace attn::rt
