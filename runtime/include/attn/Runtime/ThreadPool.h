// The thread pool that runs the kernels' parallel loops in place of Halide's own.
//
// Halide's pool hands a loop's iterations to whichever thread asks next, so image b of a batch is computed
// on one core by one kernel and read on the other by the next, and its data crosses between the cores'
// caches at every kernel. Where the cores are far apart (another core complex, another socket, or virtual
// CPUs the host has placed so) each crossing costs several times a local access. Here every thread owns
// the same share of every loop, thread k the k-th contiguous 1/n of the iterations, so consecutive kernels
// over the same dimension find their data where the last one left it. A thread that runs out takes
// iterations from the end of another's share, so uneven iterations (causal attention's query tiles) still
// spread over every thread. docs/performance.md ("Threads: each owns its share of a parallel loop") has the
// measurements.
#ifndef ATTN_RUNTIME_THREADPOOL_H
#define ATTN_RUNTIME_THREADPOOL_H

#include "HalideRuntime.h"

namespace attn::rt {

/// Runs task(user_context, i, closure) for i in [min, min + size) on the pool's threads, the calling
/// thread among them, and returns the first non-zero result (0 when every call returned 0; no iteration
/// starts after one fails). Called from within one of its own iterations, or while another thread's loop
/// runs, it runs the loop on the calling thread alone. The signature is halide_do_par_for's: a run installs
/// it with halide_set_custom_do_par_for (HalideSession), attnc tune as its JIT's handler. Neither this nor
/// setPoolThreads calls into the Halide runtime.
int poolParallelFor(void *user_context, halide_task_t task, int min, int size, uint8_t *closure);

/// The threads a run takes unless told: HL_NUM_THREADS where set (as Halide's own pool), else one per core.
int defaultPoolThreads();

/// The number of threads poolParallelFor runs loops on (the calling thread included; at least 1), and what
/// it was. Threads are started on first need and kept for the life of the process.
int setPoolThreads(int threads);

} // namespace attn::rt

#endif // ATTN_RUNTIME_THREADPOOL_H
