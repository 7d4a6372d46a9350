// Shared by the CUDA kernel benchmark rows: the reference figures every row is divided by,
// measured once per run on the device in use.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>

namespace sieve::cuda::bench {

// Device-to-device cudaMemcpy bandwidth in GB/s (read + write bytes ÷ time), best of several
// 256 MiB copies: the memory roofline of a bandwidth-bound kernel (bench_common.cpp; measured
// once per process).
double copy_gbps();

// Times `launch` (which enqueues work on `stream`) with CUDA events: mean milliseconds per
// launch over `iters` launches after one warm-up.
template <class F>
double time_ms(cudaStream_t stream, int iters, F&& launch) {
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  launch();
  cudaEventRecord(start, stream);
  for (int i = 0; i < iters; ++i)
    launch();
  cudaEventRecord(stop, stream);
  cudaEventSynchronize(stop);
  float ms = 0;
  cudaEventElapsedTime(&ms, start, stop);
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return ms / iters;
}

}  // namespace sieve::cuda::bench
