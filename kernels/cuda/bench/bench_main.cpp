// main() of sieve-cuda-kernel-bench: measures the copy-bandwidth reference first, then runs
// the registered rows. Without a CUDA device it says so and exits 77 (nothing was measured); with
// one that cannot be used, 1.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstdio>

#include "kernels/cuda/bench/bench_common.h"
#include "kernels/cuda/device.h"

int main(int argc, char** argv) {
  const sieve::cuda::DeviceInfo& dev = sieve::cuda::device_info();
  if (!dev.available) return sieve::cuda::exit_without_device(dev, "sieve-cuda-kernel-bench");
  std::printf("device: %s; device-to-device copy: %.0f GB/s (the of_copy reference)\n",
              dev.name.c_str(), sieve::cuda::bench::copy_gbps());
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
