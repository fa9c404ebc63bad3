// The runtime's thread pool (ThreadPool.h): every iteration runs once; a share whose owner is stuck is
// taken over; nested and failing loops.
#include "attn/Runtime/ThreadPool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <thread>
#include <vector>

using namespace attn::rt;

namespace {

struct Record {
  std::vector<std::atomic<int>> runs;
  std::vector<std::thread::id> by;
  std::mutex mutex;
  explicit Record(int size) : runs(size), by(size) {}
};

int record(void *, int i, uint8_t *closure) {
  auto *r = reinterpret_cast<Record *>(closure);
  r->runs[i].fetch_add(1);
  std::lock_guard<std::mutex> lock(r->mutex);
  r->by[i] = std::this_thread::get_id();
  return 0;
}

class ThreadPool : public testing::Test {
protected:
  void SetUp() override { previous_ = setPoolThreads(2); }
  void TearDown() override { setPoolThreads(previous_); }
  int previous_ = 1;
};

TEST_F(ThreadPool, RunsEveryIterationOnce) {
  for (int threads : {1, 2, 3, 8})
    for (int size : {0, 1, 2, 3, 7, 64, 1000}) {
      setPoolThreads(threads);
      Record r(size);
      ASSERT_EQ(poolParallelFor(nullptr, record, 0, size, reinterpret_cast<uint8_t *>(&r)), 0);
      for (int i = 0; i < size; ++i)
        ASSERT_EQ(r.runs[i].load(), 1) << "iteration " << i << " of " << size << " on " << threads;
    }
}

TEST_F(ThreadPool, PassesTheLoopsFirstIndex) {
  Record r(10);
  auto shifted = [](void *, int i, uint8_t *closure) { return record(nullptr, i - 5, closure); };
  ASSERT_EQ(poolParallelFor(nullptr, shifted, 5, 10, reinterpret_cast<uint8_t *>(&r)), 0);
  for (int i = 0; i < 10; ++i)
    EXPECT_EQ(r.runs[i].load(), 1);
}

// Iteration 0 waits until every other iteration has run. The calling thread owns the first half and
// (most often) stops there, so the rest of its half has to be taken over by the other thread; without
// that the loop would wait for ever (here: fail after 10 s).
TEST_F(ThreadPool, AnotherThreadTakesOverAStuckShare) {
  Record r(64);
  auto waitsForTheRest = [](void *, int i, uint8_t *closure) {
    auto *rec = reinterpret_cast<Record *>(closure);
    if (i == 0) {
      auto until = std::chrono::steady_clock::now() + std::chrono::seconds(10);
      for (int done = 0; done < 63; std::this_thread::yield()) {
        if (std::chrono::steady_clock::now() > until)
          return -1;
        done = 0;
        for (int j = 1; j < 64; ++j)
          done += rec->runs[j].load();
      }
    }
    return record(nullptr, i, closure);
  };
  ASSERT_EQ(poolParallelFor(nullptr, waitsForTheRest, 0, 64, reinterpret_cast<uint8_t *>(&r)), 0);
  for (int i = 0; i < 64; ++i)
    EXPECT_EQ(r.runs[i].load(), 1);
}

TEST_F(ThreadPool, NestedLoopsRunOnTheCallingThread) {
  struct Outer {
    std::atomic<int> nestedOnOtherThread{0}, inner{0};
  } outer;
  auto task = [](void *, int, uint8_t *closure) {
    auto *o = reinterpret_cast<Outer *>(closure);
    std::thread::id self = std::this_thread::get_id();
    struct Inner {
      Outer *o;
      std::thread::id self;
    } inner{o, self};
    auto innerTask = [](void *, int, uint8_t *c) {
      auto *in = reinterpret_cast<Inner *>(c);
      in->o->inner.fetch_add(1);
      if (std::this_thread::get_id() != in->self)
        in->o->nestedOnOtherThread.fetch_add(1);
      return 0;
    };
    return poolParallelFor(nullptr, innerTask, 0, 8, reinterpret_cast<uint8_t *>(&inner));
  };
  ASSERT_EQ(poolParallelFor(nullptr, task, 0, 4, reinterpret_cast<uint8_t *>(&outer)), 0);
  EXPECT_EQ(outer.inner.load(), 32);
  EXPECT_EQ(outer.nestedOnOtherThread.load(), 0);
}

TEST_F(ThreadPool, ReturnsAFailureAndStartsNoMoreIterations) {
  std::atomic<int> started{0};
  auto failing = [](void *, int i, uint8_t *closure) {
    reinterpret_cast<std::atomic<int> *>(closure)->fetch_add(1);
    return i == 3 ? -7 : 0;
  };
  EXPECT_EQ(poolParallelFor(nullptr, failing, 0, 4, reinterpret_cast<uint8_t *>(&started)), -7);
  started = 0;
  setPoolThreads(1);
  EXPECT_EQ(poolParallelFor(nullptr, failing, 0, 1000, reinterpret_cast<uint8_t *>(&started)), -7);
  EXPECT_EQ(started.load(), 4);
}

// Loops of 1 to 5 iterations: with 3 threads, jobs alternate between 2 and 3 threads taking part.
TEST_F(ThreadPool, ManyLoopsInARow) {
  auto add = [](void *, int i, uint8_t *closure) {
    reinterpret_cast<std::atomic<int64_t> *>(closure)->fetch_add(i);
    return 0;
  };
  for (int threads : {2, 3}) {
    setPoolThreads(threads);
    std::atomic<int64_t> sum{0};
    int64_t expected = 0;
    for (int loop = 0; loop < 20000; ++loop) {
      ASSERT_EQ(poolParallelFor(nullptr, add, 0, 1 + loop % 5, reinterpret_cast<uint8_t *>(&sum)), 0);
      expected += int64_t(loop % 5) * (loop % 5 + 1) / 2;
    }
    EXPECT_EQ(sum.load(), expected) << threads << " threads";
  }
}

TEST_F(ThreadPool, SetThreadsReturnsThePrevious) {
  setPoolThreads(3);
  EXPECT_EQ(setPoolThreads(2), 3);
  EXPECT_EQ(setPoolThreads(0), 2); // at least one
  EXPECT_EQ(setPoolThreads(2), 1);
}

} // namespace
