// Benchmark rows for the dense GEMMs through cuBLASLt at Qwen3-30B-A3B's shapes (q/k/v/o,
// router, lm_head) for 1, 64 and 2048 tokens, bf16 weights: GB/s of weight bytes and of_copy
// (bandwidth-bound at small m), TFLOP/s (compute-bound at large m).
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <vector>

#include "kernels/cuda/bench/bench_common.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/gemm.h"

namespace sieve::cuda::bench {
namespace {

void BM_linear_bf16(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  void *x = nullptr, *w = nullptr, *y = nullptr;
  SIEVE_CUDA_CHECK(cudaMalloc(&x, m * k * 2));
  SIEVE_CUDA_CHECK(cudaMalloc(&w, n * k * 2));
  SIEVE_CUDA_CHECK(cudaMalloc(&y, m * n * 4));
  SIEVE_CUDA_CHECK(cudaMemset(x, 0x3c, m * k * 2));
  SIEVE_CUDA_CHECK(cudaMemset(w, 0x3c, n * k * 2));
  LtGemm gemm;
  const GemmParams p{x, w, static_cast<float*>(y), m, n, k, WeightType::kBF16};
  double total_ms = 0;
  int64_t samples = 0;
  for (auto _ : state) {
    const double ms = time_ms(nullptr, 20, [&] { gemm.run(p, nullptr); });
    state.SetIterationTime(ms * 1e-3);
    total_ms += ms;
    ++samples;
  }
  const double s = total_ms / samples * 1e-3;
  const double bytes = 2.0 * (n * k + m * k) + 4.0 * m * n;
  state.counters["GB/s"] = bytes / s / 1e9;
  state.counters["of_copy"] = bytes / s / 1e9 / copy_gbps();
  state.counters["TFLOP/s"] = 2.0 * m * n * k / s / 1e12;
  cudaFree(x);
  cudaFree(w);
  cudaFree(y);
}

void gemm_shapes(benchmark::internal::Benchmark* b) {
  for (int64_t m : {1, 64, 2048}) {
    b->Args({m, 4096, 2048});    // q_proj (32 heads × 128)
    b->Args({m, 512, 2048});     // k_proj / v_proj (4 kv heads × 128)
    b->Args({m, 2048, 4096});    // o_proj
    b->Args({m, 128, 2048});     // router
    b->Args({m, 151936, 2048});  // lm_head
  }
}
BENCHMARK(BM_linear_bf16)->Apply(gemm_shapes)->UseManualTime()->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sieve::cuda::bench
