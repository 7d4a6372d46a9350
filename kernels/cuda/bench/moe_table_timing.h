// How sieve-moe-table times one implementation: CUDA events around `per_sample` calls, `samples`
// times, the median per call reported. Calls are made with a rotation index (which routing /
// input set to use), cycling 0..rotations-1 so repeated calls do not re-read one set from L2.
// With `graph`, the per_sample calls are captured once in a CUDA graph and the graph is replayed
// (no launch gaps between small kernels); the caller has made one eager call first (kernels set
// their shared-memory attributes there, outside capture).
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <functional>
#include <vector>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda::moe_table {

struct TimingPlan {
  int per_sample = 1;  // calls between the two events of one sample
  int samples = 5;     // the median of these is reported
  int rotations = 1;
  bool graph = false;
};

// Samples and per-sample calls for a call predicted to take `predicted_ms`: per_sample so a
// sample lasts ~1 ms (launch overhead and event resolution then matter little), samples up to
// `iters` within `budget_ms` of device time but never fewer than 3.
inline TimingPlan plan_timing(double predicted_ms, int iters, double budget_ms, int rotations,
                              bool allow_graph) {
  TimingPlan p;
  p.rotations = rotations;
  p.per_sample = std::clamp(static_cast<int>(1.0 / std::max(predicted_ms, 1e-3)), 1, 50);
  p.per_sample = (p.per_sample + rotations - 1) / rotations * rotations;  // whole cycles
  const double sample_ms = predicted_ms * p.per_sample;
  p.samples = std::clamp(static_cast<int>(budget_ms / std::max(sample_ms, 1e-3)), 3, iters);
  p.graph = allow_graph && p.per_sample > 1;
  return p;
}

// Median milliseconds per call of `call(rotation)` on `stream`.
inline double median_ms(cudaStream_t stream, const TimingPlan& plan,
                        const std::function<void(int)>& call) {
  cudaGraphExec_t exec = nullptr;
  auto one_sample = [&] {
    if (exec != nullptr) {
      SIEVE_CUDA_CHECK(cudaGraphLaunch(exec, stream));
    } else {
      for (int i = 0; i < plan.per_sample; ++i)
        call(i % plan.rotations);
    }
  };
  if (plan.graph) {
    cudaGraph_t graph = nullptr;
    SIEVE_CUDA_CHECK(cudaStreamBeginCapture(stream, cudaStreamCaptureModeThreadLocal));
    for (int i = 0; i < plan.per_sample; ++i)
      call(i % plan.rotations);
    SIEVE_CUDA_CHECK(cudaStreamEndCapture(stream, &graph));
    SIEVE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
    SIEVE_CUDA_CHECK(cudaGraphDestroy(graph));
  }
  one_sample();  // warm-up (graph upload, caches, clocks)
  cudaEvent_t start, stop;
  SIEVE_CUDA_CHECK(cudaEventCreate(&start));
  SIEVE_CUDA_CHECK(cudaEventCreate(&stop));
  std::vector<float> ms(plan.samples);
  for (float& m : ms) {
    SIEVE_CUDA_CHECK(cudaEventRecord(start, stream));
    one_sample();
    SIEVE_CUDA_CHECK(cudaEventRecord(stop, stream));
    SIEVE_CUDA_CHECK(cudaEventSynchronize(stop));
    SIEVE_CUDA_CHECK(cudaEventElapsedTime(&m, start, stop));
  }
  SIEVE_CUDA_CHECK(cudaEventDestroy(start));
  SIEVE_CUDA_CHECK(cudaEventDestroy(stop));
  if (exec != nullptr) SIEVE_CUDA_CHECK(cudaGraphExecDestroy(exec));
  std::nth_element(ms.begin(), ms.begin() + ms.size() / 2, ms.end());
  return ms[ms.size() / 2] / plan.per_sample;
}

}  // namespace sieve::cuda::moe_table
