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

// Best of `reps` passes over three arrays of `bytes_per_array` each, counting 3 arrays of
// traffic per pass as STREAM does.
TriadResult measure_triad(ThreadPool& pool, size_t bytes_per_array = 256u << 20, int reps = 8);

}  // namespace sieve::kernels
