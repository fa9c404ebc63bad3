// What the unit tests can observe of the stand-in Halide runtime (HalideRuntimeStub.cpp).
#ifndef ATTN_TEST_UNIT_HALIDERUNTIMESTUB_H
#define ATTN_TEST_UNIT_HALIDERUNTIMESTUB_H

namespace attn::test {

struct HalideStubState {
  int numThreads = 8; // what halide_set_num_threads last set
  int copyToHostCalls = 0;
  int deviceFreeCalls = 0;
  int deviceSyncCalls = 0;
  int gpuDevice = -1; // what halide_set_gpu_device last set
};

/// The stub's state; tests reset it with `halideStub() = {}`.
HalideStubState &halideStub();

} // namespace attn::test

#endif // ATTN_TEST_UNIT_HALIDERUNTIMESTUB_H
