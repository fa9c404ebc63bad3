// The GPU's fp32 peak without tensor cores: every thread runs independent chains of fused multiply-adds on
// registers, enough blocks to fill every multiprocessor; GFLOP/s = 2 per FMA. Built by prepare.sh with nvcc
// (the CUDA runtime linked statically, so the GPU machine needs only its driver).
#include <cstdio>
#include <cuda_runtime.h>

constexpr int kChains = 8, kIterations = 4096;

__global__ void fmas(float *out, float a, float b) {
  float x[kChains];
  for (int c = 0; c < kChains; ++c)
    x[c] = threadIdx.x + c;
  for (int i = 0; i < kIterations; ++i)
#pragma unroll
    for (int c = 0; c < kChains; ++c)
      x[c] = fmaf(x[c], a, b);
  float sum = 0;
  for (int c = 0; c < kChains; ++c)
    sum += x[c];
  out[blockIdx.x * blockDim.x + threadIdx.x] = sum;
}

int main() {
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, 0) != cudaSuccess) {
    std::fprintf(stderr, "error: no CUDA device\n");
    return 1;
  }
  const int threads = 256, blocks = prop.multiProcessorCount * 32;
  float *out;
  cudaMalloc(&out, sizeof(float) * threads * blocks);
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  fmas<<<blocks, threads>>>(out, 0.999f, 0.001f); // warm-up
  float best = 1e30f;
  for (int run = 0; run < 5; ++run) {
    cudaEventRecord(start);
    fmas<<<blocks, threads>>>(out, 0.999f, 0.001f);
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float ms;
    cudaEventElapsedTime(&ms, start, stop);
    best = ms < best ? ms : best;
  }
  double flops = 2.0 * kChains * kIterations * double(threads) * blocks;
  std::printf("%s: fp32 FMA peak %.1f GFLOP/s\n", prop.name, flops / (best * 1e-3) / 1e9);
  cudaFree(out);
  return 0;
}
