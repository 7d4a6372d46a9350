#include "kernels/cpu/triad.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>

namespace sieve::kernels {

TriadMeter::TriadMeter(ThreadPool& pool, size_t bytes_per_array, bool huge_pages) : pool_(pool) {
  n_ = bytes_per_array / sizeof(double);
  constexpr size_t kAlign = 2u << 20;
  const size_t alloc = (n_ * sizeof(double) + kAlign - 1) / kAlign * kAlign;
  for (auto& p : arrays_) {
    p = static_cast<double*>(std::aligned_alloc(kAlign, alloc));
    madvise(p, alloc, huge_pages ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  }
  double *a = arrays_[0], *b = arrays_[1], *c = arrays_[2];
  // First touch from the threads that will stream the data.
  pool_.parallel_for(static_cast<int64_t>(n_), 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      a[i] = 0;
      b[i] = 1;
      c[i] = 2;
    }
  });
}

TriadMeter::~TriadMeter() {
  for (auto& p : arrays_)
    std::free(p);
}

double TriadMeter::best_gbps(int reps) {
  double *a = arrays_[0], *b = arrays_[1], *c = arrays_[2];
  const size_t n = n_;
  const double s = 3.0;
  double best = 0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool_.run_on_all([&](int t, int nt) {
      const size_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
      for (size_t i = i0; i < i1; ++i)
        a[i] = b[i] + s * c[i];
    });
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 3.0 * static_cast<double>(n * sizeof(double)) / secs / 1e9);
  }
  return best;
}

TriadResult measure_triad(ThreadPool& pool, size_t bytes_per_array, int reps) {
  TriadResult r;
  r.gbps_huge_pages = TriadMeter(pool, bytes_per_array, true).best_gbps(reps);
  r.gbps_small_pages = TriadMeter(pool, bytes_per_array, false).best_gbps(reps);
  return r;
}

}  // namespace sieve::kernels
