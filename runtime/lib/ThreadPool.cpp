// The runtime's thread pool for the kernels' parallel loops (ThreadPool.h says why it replaces Halide's).
//
// A loop is published as a job: its task, and per thread the range of iterations it owns, packed into one
// 64-bit word (first, end) that the owner advances from the front and other threads shorten from the back,
// both by compare-and-swap, so an iteration runs exactly once. Each range sits on a cache line of its own:
// the owner's updates stay in its core's cache unless another thread comes to take work. Workers wait for
// the next job spinning for a short while (kernels follow one another within microseconds), then asleep.
#include "attn/Runtime/ThreadPool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace attn::rt {

namespace {

/// How long a waiting thread spins before it sleeps: longer than the gap between two kernels of a run,
/// shorter than anything a user would see as a busy core.
constexpr auto kSpin = std::chrono::microseconds(100);
constexpr int kMaxThreads = 256;

void relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

/// Spins until done() holds or kSpin passes; returns done(). Between rounds of checks it yields the core:
/// with more threads than cores (a container's CPU quota below its core count, or --threads above it) the
/// thread it waits for may be waiting for this core.
template <typename Done> bool spinUntil(Done done) {
  auto until = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (done())
        return true;
      relax();
    }
    std::this_thread::yield();
    if (std::chrono::steady_clock::now() > until)
      return done();
  }
}

/// One thread's iterations of the current job, as offsets from its first: [first, end).
struct alignas(64) Share {
  std::atomic<uint64_t> range{0};

  static uint64_t pack(uint32_t first, uint32_t end) { return uint64_t(end) << 32 | first; }

  void set(uint32_t first, uint32_t end) { range.store(pack(first, end), std::memory_order_relaxed); }

  /// Takes the first iteration (the owner) or the last (another thread) into `i`; false when none is left.
  bool take(bool owner, uint32_t &i) {
    uint64_t r = range.load(std::memory_order_relaxed);
    for (;;) {
      uint32_t first = uint32_t(r), end = uint32_t(r >> 32);
      if (first >= end)
        return false;
      uint64_t rest = owner ? pack(first + 1, end) : pack(first, end - 1);
      if (range.compare_exchange_weak(r, rest, std::memory_order_relaxed)) {
        i = owner ? first : end - 1;
        return true;
      }
    }
  }
};

class Pool {
public:
  int setThreads(int threads) {
    std::lock_guard<std::mutex> lock(startMutex_);
    int previous = threads_.load(std::memory_order_relaxed);
    int wanted = std::clamp(threads, 1, kMaxThreads);
    while (static_cast<int>(workers_.size()) < wanted - 1) {
      // The worker waits for the job after the last one published: it may start after the next.
      int k = static_cast<int>(workers_.size()) + 1;
      uint64_t seen = job_.load(std::memory_order_acquire);
      workers_.emplace_back([this, k, seen] { work(k, seen); });
      workers_.back().detach();
    }
    threads_.store(wanted, std::memory_order_relaxed);
    return previous;
  }

  int parallelFor(void *userContext, halide_task_t task, int min, int size, uint8_t *closure) {
    int threads = threads_.load(std::memory_order_relaxed);
    int n = std::min(threads, size);
    if (n <= 1 || inside_ || busy_.exchange(true, std::memory_order_acquire))
      return serial(userContext, task, min, size, closure);
    userContext_ = userContext;
    task_ = task;
    min_ = min;
    closure_ = closure;
    result_.store(0, std::memory_order_relaxed);
    for (int k = 0; k < n; ++k)
      shares_[k].set(uint32_t(int64_t(size) * k / n), uint32_t(int64_t(size) * (k + 1) / n));
    pending_.store(n - 1, std::memory_order_relaxed);
    job_.store(((job_.load(std::memory_order_relaxed) >> 16) + 1) << 16 | uint64_t(n), // publishes the job
               std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_seq_cst) > 0) {
      std::lock_guard<std::mutex> lock(mutex_);
      jobReady_.notify_all();
    }
    runShares(0, n);
    if (!spinUntil([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      mainWaiting_.store(true, std::memory_order_seq_cst);
      jobDone_.wait(lock, [&] { return pending_.load(std::memory_order_seq_cst) == 0; });
      mainWaiting_.store(false, std::memory_order_relaxed);
    }
    int result = result_.load(std::memory_order_relaxed);
    busy_.store(false, std::memory_order_release);
    return result;
  }

private:
  static int serial(void *userContext, halide_task_t task, int min, int size, uint8_t *closure) {
    for (int i = min; i < min + size; ++i)
      if (int rc = task(userContext, i, closure); rc != 0)
        return rc;
    return 0;
  }

  /// Thread k's share, then iterations taken from the back of the others' shares, until the job is done
  /// or an iteration failed. Loops the iterations start run on this thread alone (inside_).
  void runShares(int k, int n) {
    inside_ = true;
    for (int o = 0; o < n; ++o) {
      Share &share = shares_[(k + o) % n];
      uint32_t i;
      while (result_.load(std::memory_order_relaxed) == 0 && share.take(o == 0, i))
        if (int rc = task_(userContext_, min_ + int(i), closure_); rc != 0)
          result_.store(rc, std::memory_order_relaxed);
    }
    inside_ = false;
  }

  void work(int k, uint64_t seen) {
    for (;;) {
      if (!spinUntil([&] { return job_.load(std::memory_order_acquire) != seen; })) {
        std::unique_lock<std::mutex> lock(mutex_);
        sleepers_.fetch_add(1, std::memory_order_seq_cst);
        jobReady_.wait(lock, [&] { return job_.load(std::memory_order_seq_cst) != seen; });
        sleepers_.fetch_sub(1, std::memory_order_relaxed);
      }
      // A worker outside one job (k >= n) may next see a later one, never an earlier: the loop's thread
      // waits for every worker inside a job before it publishes another.
      seen = job_.load(std::memory_order_acquire);
      int n = int(seen & 0xffff);
      if (k >= n)
        continue;
      runShares(k, n);
      if (pending_.fetch_sub(1, std::memory_order_seq_cst) == 1 &&
          mainWaiting_.load(std::memory_order_seq_cst)) {
        std::lock_guard<std::mutex> lock(mutex_);
        jobDone_.notify_one();
      }
    }
  }

  std::mutex startMutex_;
  std::vector<std::thread> workers_;
  std::atomic<int> threads_{1};

  // The current job, written by the thread that runs the loop before it publishes the job.
  void *userContext_ = nullptr;
  halide_task_t task_ = nullptr;
  int min_ = 0;
  uint8_t *closure_ = nullptr;
  Share shares_[kMaxThreads];

  // The job's number (above bit 16) and how many threads take part in it (the low 16 bits), read together.
  alignas(64) std::atomic<uint64_t> job_{0};
  alignas(64) std::atomic<int> pending_{0};
  std::atomic<int> result_{0};
  alignas(64) std::atomic<bool> busy_{false};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> mainWaiting_{false};
  std::mutex mutex_;
  std::condition_variable jobReady_, jobDone_;

  static thread_local bool inside_;
};

thread_local bool Pool::inside_ = false;

/// Never destroyed: its workers may still be asleep on its condition variables when the process exits.
Pool &pool() {
  static Pool *instance = new Pool;
  return *instance;
}

} // namespace

int poolParallelFor(void *userContext, halide_task_t task, int min, int size, uint8_t *closure) {
  return pool().parallelFor(userContext, task, min, size, closure);
}

int defaultPoolThreads() {
  const char *env = std::getenv("HL_NUM_THREADS");
  if (env && std::atoi(env) > 0)
    return std::atoi(env);
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

int setPoolThreads(int threads) { return pool().setThreads(threads); }

} // namespace attn::rt
