// STREAM triad (a[i] = b[i] + s·c[i]) over arrays far larger than the caches: the machine's
// sustainable memory bandwidth, the roofline a bandwidth-bound decode step is measured against.
#pragma once

#include <cstddef>

#include "kernels/cpu/thread_pool.h"

namespace sieve::kernels {

struct TriadResult {
  double gbps_huge_pages = 0;   // arrays advised to transparent huge pages (2 MiB)
  double gbps_small_pages = 0;  // 4 KiB pages
};

// Three arrays allocated and first-touched once, so the bandwidth can be sampled again and again
// right next to the work it is the reference for: on a shared machine it drifts by half within
// seconds, and a figure taken a minute earlier says little about the moment of a measurement.
class TriadMeter {
 public:
  TriadMeter(ThreadPool& pool, size_t bytes_per_array, bool huge_pages);
  ~TriadMeter();
  TriadMeter(const TriadMeter&) = delete;
  TriadMeter& operator=(const TriadMeter&) = delete;

  // GB/s of the best of `reps` passes, counting 3 arrays of traffic per pass as STREAM does.
  double best_gbps(int reps);

 private:
  ThreadPool& pool_;
  size_t n_ = 0;
  double* arrays_[3] = {};
};

// Best of `reps` passes over three arrays of `bytes_per_array` each, with and without huge pages.
TriadResult measure_triad(ThreadPool& pool, size_t bytes_per_array = 256u << 20, int reps = 8);

}  // namespace sieve::kernels
