#include "kernels/cuda/bench/bench_common.h"

#include <algorithm>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda::bench {

double copy_gbps() {
  static const double gbps = [] {
    const size_t bytes = size_t{256} << 20;
    void *a = nullptr, *b = nullptr;
    SIEVE_CUDA_CHECK(cudaMalloc(&a, bytes));
    SIEVE_CUDA_CHECK(cudaMalloc(&b, bytes));
    SIEVE_CUDA_CHECK(cudaMemset(a, 1, bytes));
    double best_ms = 1e30;
    for (int i = 0; i < 5; ++i) {
      best_ms = std::min(best_ms, time_ms(nullptr, 5, [&] {
                           SIEVE_CUDA_CHECK(cudaMemcpyAsync(b, a, bytes, cudaMemcpyDeviceToDevice));
                         }));
    }
    SIEVE_CUDA_CHECK(cudaFree(a));
    SIEVE_CUDA_CHECK(cudaFree(b));
    return 2.0 * static_cast<double>(bytes) / (best_ms * 1e-3) / 1e9;
  }();
  return gbps;
}

}  // namespace sieve::cuda::bench
