// The machine's fp32 peak as the benchmark reports it: every thread runs independent chains of fused
// multiply-adds on the widest vectors the compiler targets (enough chains to cover the FMA latency), and
// the best of several timed rounds counts. Prints GFLOP/s for the given thread count.
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define SET1 _mm512_set1_ps
#define ADD _mm512_add_ps
#define STORE _mm512_storeu_ps
#elif defined(__AVX2__)
typedef __m256 vec;
#define LANES 8
#define FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define SET1 _mm256_set1_ps
#define ADD _mm256_add_ps
#define STORE _mm256_storeu_ps
#else
#error "fma_peak needs AVX2 or AVX-512"
#endif

enum { CHAINS = 12, ITERATIONS = 20000000 };

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static void *run(void *out) {
  vec acc[CHAINS];
  for (int c = 0; c < CHAINS; ++c)
    acc[c] = SET1(1.0f + c * 1e-3f);
  vec a = SET1(0.999999f), b = SET1(1e-7f);
  for (long i = 0; i < ITERATIONS; ++i) {
#pragma GCC unroll 16
    for (int c = 0; c < CHAINS; ++c)
      acc[c] = FMA(acc[c], a, b);
  }
  vec total = acc[0];
  for (int c = 1; c < CHAINS; ++c)
    total = ADD(total, acc[c]);
  STORE((float *)out, total); // keeps the chains alive
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  if (threads < 1 || threads > 256) {
    fprintf(stderr, "usage: fma_peak THREADS\n");
    return 2;
  }
  pthread_t ids[256];
  float sink[256][LANES];
  double best = 0;
  for (int round = 0; round < 5; ++round) {
    double start = now();
    for (int t = 0; t < threads; ++t)
      pthread_create(&ids[t], NULL, run, sink[t]);
    for (int t = 0; t < threads; ++t)
      pthread_join(ids[t], NULL);
    double flops = 2.0 * LANES * CHAINS * (double)ITERATIONS * threads;
    double rate = flops / (now() - start) / 1e9;
    if (rate > best)
      best = rate;
  }
  printf("%.1f\n", best);
  return 0;
}
