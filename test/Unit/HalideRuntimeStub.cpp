// A stand-in for the Halide runtime, which a compiled model gets from the runtime object attnc links into
// it and the runtime library deliberately does not define. It implements the few functions the executor
// calls, with the real runtime's contracts (halide_error goes to the installed handler, whose default
// aborts; the setters return the previous value), and records what was called so tests can check the
// executor's use of them. Device buffers are simulated: a kernel marks a result as living on a "device" by
// setting its `device` field and device_dirty flag.
#include "HalideRuntimeStub.h"

#include "HalideRuntime.h"

#include <cstdio>
#include <cstdlib>

namespace attn::test {

HalideStubState &halideStub() {
  static HalideStubState state;
  return state;
}

} // namespace attn::test

namespace {

void defaultErrorHandler(void *, const char *message) {
  std::fprintf(stderr, "Error: %s\n", message);
  std::abort();
}

halide_error_handler_t errorHandler = defaultErrorHandler;

} // namespace

extern "C" {

halide_error_handler_t halide_set_error_handler(halide_error_handler_t handler) {
  halide_error_handler_t previous = errorHandler;
  errorHandler = handler ? handler : defaultErrorHandler;
  return previous;
}

void halide_error(void *user_context, const char *message) { errorHandler(user_context, message); }

int halide_set_num_threads(int n) {
  int previous = attn::test::halideStub().numThreads;
  attn::test::halideStub().numThreads = n;
  return previous;
}

namespace {
int serialParFor(void *user_context, halide_task_t task, int min, int size, uint8_t *closure) {
  for (int i = min; i < min + size; ++i)
    if (int rc = task(user_context, i, closure); rc != 0)
      return rc;
  return 0;
}
halide_do_par_for_t customParFor = serialParFor;
} // namespace

halide_do_par_for_t halide_set_custom_do_par_for(halide_do_par_for_t do_par_for) {
  halide_do_par_for_t previous = customParFor;
  customParFor = do_par_for ? do_par_for : serialParFor;
  return previous;
}

int halide_do_par_for(void *user_context, halide_task_t task, int min, int size, uint8_t *closure) {
  return customParFor(user_context, task, min, size, closure);
}

int halide_copy_to_host(void *, halide_buffer_t *buffer) {
  ++attn::test::halideStub().copyToHostCalls;
  buffer->set_device_dirty(false);
  return 0;
}

int halide_reuse_device_allocations(void *, bool) { return 0; }

int halide_device_sync(void *, halide_buffer_t *) {
  ++attn::test::halideStub().deviceSyncCalls;
  return 0;
}

void halide_set_gpu_device(int n) { attn::test::halideStub().gpuDevice = n; }

int halide_device_free(void *, halide_buffer_t *buffer) {
  ++attn::test::halideStub().deviceFreeCalls;
  buffer->device = 0;
  buffer->set_device_dirty(false);
  return 0;
}

} // extern "C"
