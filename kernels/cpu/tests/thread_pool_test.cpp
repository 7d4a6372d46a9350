#include "kernels/cpu/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sieve::kernels {
namespace {

TEST(ThreadPool, RunOnAllCallsEveryIndexOnce) {
  for (int n : {1, 2, 3, 5}) {
    ThreadPool pool(n);
    EXPECT_EQ(pool.size(), n);
    std::vector<std::atomic<int>> hits(n);
    pool.run_on_all([&](int i, int total) {
      EXPECT_EQ(total, n);
      hits[i].fetch_add(1);
    });
    for (auto& h : hits)
      EXPECT_EQ(h.load(), 1);
  }
}

TEST(ThreadPool, ParallelForCoversRange) {
  ThreadPool pool(3);
  for (int64_t n : {0, 1, 2, 7, 1000}) {
    for (int64_t grain : {1, 3, 100}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i)
          hits[i].fetch_add(1);
      });
      for (auto& h : hits)
        ASSERT_EQ(h.load(), 1);
    }
  }
}

TEST(ThreadPool, StressManySmallRegions) {
  ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  const int regions = 20000;
  for (int r = 0; r < regions; ++r) {
    pool.run_on_all([&](int i, int) { total.fetch_add(i + 1, std::memory_order_relaxed); });
    // Sometimes let the workers fall asleep, to cover the blocking hand-off too.
    if (r % 2000 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  EXPECT_EQ(total.load(), int64_t{regions} * 6);
}

TEST(ThreadPool, ConstructDestroyRepeatedly) {
  for (int r = 0; r < 200; ++r) {
    ThreadPool pool(3);
    std::atomic<int> c{0};
    if (r % 2) pool.run_on_all([&](int, int) { c.fetch_add(1); });
    EXPECT_EQ(c.load(), r % 2 ? 3 : 0);
  }
}

}  // namespace
}  // namespace sieve::kernels
