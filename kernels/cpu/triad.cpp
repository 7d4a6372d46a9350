#include "kernels/cpu/triad.h"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cstring>

namespace sieve::kernels {
namespace {

double run(ThreadPool& pool, size_t bytes, int reps, bool huge) {
  const size_t n = bytes / sizeof(double);
  constexpr size_t kAlign = 2u << 20;
  const size_t alloc = (bytes + kAlign - 1) / kAlign * kAlign;
  double* arr[3];
  for (auto& p : arr) {
    p = static_cast<double*>(std::aligned_alloc(kAlign, alloc));
    madvise(p, alloc, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
  }
  double *a = arr[0], *b = arr[1], *c = arr[2];
  // First touch from the threads that will stream the data.
  pool.parallel_for(static_cast<int64_t>(n), 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      a[i] = 0;
      b[i] = 1;
      c[i] = 2;
    }
  });
  double best = 0;
  const double s = 3.0;
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    pool.run_on_all([&](int t, int nt) {
      const size_t i0 = n * t / nt, i1 = n * (t + 1) / nt;
      for (size_t i = i0; i < i1; ++i)
        a[i] = b[i] + s * c[i];
    });
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 3.0 * static_cast<double>(n * sizeof(double)) / secs / 1e9);
  }
  for (auto& p : arr)
    std::free(p);
  return best;
}

}  // namespace

TriadResult measure_triad(ThreadPool& pool, size_t bytes_per_array, int reps) {
  TriadResult r;
  r.gbps_huge_pages = run(pool, bytes_per_array, reps, true);
  r.gbps_small_pages = run(pool, bytes_per_array, reps, false);
  return r;
}

}  // namespace sieve::kernels
