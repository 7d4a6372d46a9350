#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace sieve::kernels {

struct ThreadPool::State {
  std::mutex mu;
  std::condition_variable start_cv;
  std::condition_variable done_cv;
  const std::function<void(int, int)>* job = nullptr;
  uint64_t generation = 0;
  int pending = 0;
  bool stop = false;
  std::vector<std::thread> workers;
};

ThreadPool::ThreadPool(int num_threads) : state_(std::make_unique<State>()) {
  if (num_threads <= 0) num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  size_ = num_threads;
  for (int i = 1; i < size_; ++i) {
    state_->workers.emplace_back([this, i] {
      uint64_t seen = 0;
      for (;;) {
        const std::function<void(int, int)>* job;
        {
          std::unique_lock<std::mutex> lock(state_->mu);
          state_->start_cv.wait(lock, [&] { return state_->stop || state_->generation != seen; });
          if (state_->stop) return;
          seen = state_->generation;
          job = state_->job;
        }
        (*job)(i, size_);
        std::lock_guard<std::mutex> lock(state_->mu);
        if (--state_->pending == 0) state_->done_cv.notify_one();
      }
    });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop = true;
  }
  state_->start_cv.notify_all();
  for (auto& t : state_->workers) t.join();
}

void ThreadPool::run_on_all(const std::function<void(int, int)>& fn) {
  if (size_ == 1) {
    fn(0, 1);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->job = &fn;
    state_->pending = size_ - 1;
    ++state_->generation;
  }
  state_->start_cv.notify_all();
  fn(0, size_);
  std::unique_lock<std::mutex> lock(state_->mu);
  state_->done_cv.wait(lock, [&] { return state_->pending == 0; });
}

void ThreadPool::parallel_for(int64_t n, int64_t grain,
                              const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  int64_t max_chunks = (n + grain - 1) / grain;
  int parts = static_cast<int>(std::min<int64_t>(size_, max_chunks));
  if (parts <= 1) {
    fn(0, n);
    return;
  }
  run_on_all([&](int t, int) {
    if (t >= parts) return;
    int64_t begin = n * t / parts;
    int64_t end = n * (t + 1) / parts;
    if (begin < end) fn(begin, end);
  });
}

}  // namespace sieve::kernels
