#include "kernels/cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif

namespace sieve::kernels {
namespace {

// The engine forks ~150 parallel regions per decoded token, so a wake-up through the kernel
// (tens of microseconds) would dominate small kernels. Both sides therefore spin briefly on an
// atomic before blocking. The spin is bounded (~10-50 µs) so an idle pool sleeps and an
// oversubscribed machine loses at most one short spin per region.
constexpr int kSpinIterations = 4000;
// Pools up to this size let the caller take over indices no worker has started (see claimed).
constexpr int kMaxClaimThreads = 32;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  _mm_pause();
#endif
}

}  // namespace

struct ThreadPool::State {
  // Start side: the caller publishes `job` then bumps `generation`; workers watch it.
  std::atomic<uint64_t> generation{0};
  const std::function<void(int, int)>* job = nullptr;
  std::atomic<int> sleeping_workers{0};
  std::atomic<bool> stop{false};

  // Who runs which index of the current region: generation tag in the high 32 bits, one bit
  // per thread index below. A worker claims its index when it wakes; the caller claims (and
  // runs itself) every index still unclaimed once its own share is done, so a worker that the
  // OS has not scheduled yet never delays the region.
  std::atomic<uint64_t> claimed{0};

  // Join side: whoever claimed an index counts `pending` down once it ran; the caller watches.
  std::atomic<int> pending{0};
  std::atomic<bool> caller_sleeping{false};

  std::mutex mu;
  std::condition_variable start_cv;
  std::condition_variable done_cv;
  std::vector<std::thread> workers;

  void worker_loop(int index, int num_threads);

  // Claims index `i` of the region tagged `tag`; false when it is taken or the region is over.
  bool claim(uint32_t tag, int i) {
    const uint64_t bit = uint64_t{1} << i;
    uint64_t c = claimed.load();
    for (;;) {
      if ((c >> 32) != tag || (c & bit)) return false;
      if (claimed.compare_exchange_weak(c, c | bit)) return true;
    }
  }

  void finish_one() {
    if (pending.fetch_sub(1) == 1 && caller_sleeping.load()) {
      std::lock_guard<std::mutex> lock(mu);
      done_cv.notify_one();
    }
  }
};

void ThreadPool::State::worker_loop(int index, int num_threads) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation.load(std::memory_order_acquire);
    for (int i = 0; gen == seen && i < kSpinIterations; ++i) {
      cpu_relax();
      gen = generation.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      // Dekker-style handshake with run_on_all: we announce ourselves (seq_cst) before the
      // final check, the caller bumps the generation (seq_cst) before reading the count, so
      // one of us sees the other; the mutex closes the check-then-wait window.
      std::unique_lock<std::mutex> lock(mu);
      sleeping_workers.fetch_add(1);
      while ((gen = generation.load()) == seen && !stop.load())
        start_cv.wait(lock);
      sleeping_workers.fetch_sub(1);
    }
    if (stop.load(std::memory_order_acquire)) return;
    seen = gen;
    if (num_threads <= kMaxClaimThreads && !claim(static_cast<uint32_t>(gen), index)) continue;
    (*job)(index, num_threads);
    finish_one();
  }
}

ThreadPool::ThreadPool(int num_threads) : state_(std::make_unique<State>()) {
  if (num_threads <= 0) {
    num_threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  }
  size_ = num_threads;
  for (int i = 1; i < size_; ++i) {
    state_->workers.emplace_back([this, i] { state_->worker_loop(i, size_); });
  }
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->stop.store(true);
    state_->generation.fetch_add(1);
  }
  state_->start_cv.notify_all();
  for (auto& t : state_->workers)
    t.join();
}

void ThreadPool::run_on_all(const std::function<void(int, int)>& fn) {
  if (size_ == 1) {
    fn(0, 1);
    return;
  }
  State& s = *state_;
  const uint64_t gen = s.generation.load(std::memory_order_relaxed) + 1;
  const uint32_t tag = static_cast<uint32_t>(gen);
  s.job = &fn;
  s.pending.store(size_ - 1, std::memory_order_relaxed);
  s.claimed.store(uint64_t{tag} << 32);
  s.generation.store(gen);  // seq_cst: publishes job, pending and claimed
  if (s.sleeping_workers.load() > 0) {
    std::lock_guard<std::mutex> lock(s.mu);
    s.start_cv.notify_all();
  }
  fn(0, size_);
  for (int i = 1; i < size_ && size_ <= kMaxClaimThreads; ++i) {
    if (!s.claim(tag, i)) continue;
    fn(i, size_);
    s.pending.fetch_sub(1);
  }
  for (int i = 0; s.pending.load(std::memory_order_acquire) != 0 && i < kSpinIterations; ++i) {
    cpu_relax();
  }
  if (s.pending.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lock(s.mu);
    s.caller_sleeping.store(true);
    while (s.pending.load() != 0)
      s.done_cv.wait(lock);
    s.caller_sleeping.store(false);
  }
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
