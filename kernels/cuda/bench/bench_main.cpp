// main() of sieve-cuda-kernel-bench: measures the copy-bandwidth reference first, then runs
// the registered rows. Without a CUDA device it says so and exits 77 (nothing was measured).
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>

#include "kernels/cuda/bench/bench_common.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/device.h"

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

int main(int argc, char** argv) {
  const sieve::cuda::DeviceInfo& dev = sieve::cuda::device_info();
  if (!dev.available) {
    std::fprintf(stderr, "sieve-cuda-kernel-bench: nothing measured: %s\n", dev.why_not.c_str());
    return 77;
  }
  std::printf("device: %s; device-to-device copy: %.0f GB/s (the of_copy reference)\n",
              dev.name.c_str(), sieve::cuda::bench::copy_gbps());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
