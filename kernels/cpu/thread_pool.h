// A fixed pool of worker threads for data-parallel kernels. The calling thread takes part,
// so a pool of size 1 runs everything inline.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

namespace sieve::kernels {

class ThreadPool {
 public:
  // `num_threads` counts the caller; <= 0 means one per online core.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return size_; }

  // Calls fn(index, num_threads) once for every index in [0, num_threads) and returns when all
  // calls have returned. Index 0 runs on the caller; index i normally on worker i, but an index
  // whose worker has not woken up by the time the caller is done with its own share runs on the
  // caller instead (so a descheduled worker never stalls a region). fn must not rely on which
  // OS thread runs an index.
  void run_on_all(const std::function<void(int, int)>& fn);

  // Splits [0, n) into contiguous chunks of at least `grain` items, one call fn(begin, end) per
  // chunk, spread over the pool. Returns when all chunks are done.
  void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

 private:
  struct State;
  int size_;
  std::unique_ptr<State> state_;
};

}  // namespace sieve::kernels
