// Paged attention rows, shaped like Qwen3-30B-A3B (32 query heads, 4 kv heads, head_dim 128,
// 16-token blocks, fp32 cache): decode steps (split-KV path) over batch × context, and a 2k
// prefill. GB/s = K and V bytes read ÷ time (each cached byte once); of_copy = GB/s ÷ the
// device-to-device copy bandwidth.
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

#include "kernels/cuda/attention.h"
#include "kernels/cuda/bench/bench_common.h"
#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda::bench {
namespace {

constexpr int64_t kHeads = 32, kKvHeads = 4, kHeadDim = 128, kBlock = 16;

template <class T>
T* device_copy(const std::vector<T>& host) {
  T* d = nullptr;
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d), host.size() * sizeof(T)));
  SIEVE_CUDA_CHECK(cudaMemcpy(d, host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

// `batch` sequences of `ctx` cached tokens, each bringing `qlen` new queries (1: decode).
void run_attention(benchmark::State& state, int64_t batch, int64_t ctx, int64_t qlen) {
  const int64_t blocks_per_seq = (ctx + kBlock - 1) / kBlock;
  const int64_t num_blocks = batch * blocks_per_seq;
  const size_t cache_floats = static_cast<size_t>(num_blocks * kBlock * kKvHeads * kHeadDim);
  const int64_t tokens = batch * qlen, row = kHeads * kHeadDim;

  std::vector<int32_t> tables(static_cast<size_t>(num_blocks));
  std::iota(tables.begin(), tables.end(), 0);
  std::shuffle(tables.begin(), tables.end(), std::mt19937(1));  // pages scattered, as in use
  std::vector<int32_t> query_start(static_cast<size_t>(batch + 1)), context_lens;
  for (int64_t s = 0; s <= batch; ++s)
    query_start[static_cast<size_t>(s)] = static_cast<int32_t>(s * qlen);
  context_lens.assign(static_cast<size_t>(batch), static_cast<int32_t>(ctx));
  std::vector<float> q(static_cast<size_t>(tokens * row));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (float& x : q)
    x = u(rng);

  PagedAttentionParams p;
  float *k_cache = nullptr, *v_cache = nullptr, *out = nullptr;
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&k_cache), cache_floats * sizeof(float)));
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&v_cache), cache_floats * sizeof(float)));
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&out), q.size() * sizeof(float)));
  SIEVE_CUDA_CHECK(cudaMemset(k_cache, 0x3c, cache_floats * sizeof(float)));  // ≈ 0.0115
  SIEVE_CUDA_CHECK(cudaMemset(v_cache, 0x3c, cache_floats * sizeof(float)));
  p.q = device_copy(q);
  p.out = out;
  p.k_cache = k_cache;
  p.v_cache = v_cache;
  p.block_tables = device_copy(tables);
  p.query_start = device_copy(query_start);
  p.context_lens = device_copy(context_lens);
  p.num_seqs = batch;
  p.max_blocks_per_seq = blocks_per_seq;
  p.num_heads = kHeads;
  p.num_kv_heads = kKvHeads;
  p.head_dim = kHeadDim;
  p.block_size = kBlock;
  p.ld_q = row;
  p.ld_out = row;
  p.scale = 1.0f / std::sqrt(static_cast<float>(kHeadDim));
  p.max_query_len = qlen;
  p.max_context_len = ctx;
  p.workspace_bytes = paged_attention_workspace_bytes(p);
  if (p.workspace_bytes != 0) SIEVE_CUDA_CHECK(cudaMalloc(&p.workspace, p.workspace_bytes));
  cudaStream_t stream;
  SIEVE_CUDA_CHECK(cudaStreamCreate(&stream));

  double total_ms = 0;
  for (auto _ : state) {
    const double ms = time_ms(stream, 10, [&] { paged_attention(p, stream); });
    total_ms += ms;
    state.SetIterationTime(ms * 1e-3);
  }
  const double sec = total_ms * 1e-3 / static_cast<double>(state.iterations());
  const double kv_bytes = 2.0 * static_cast<double>(batch * ctx * kKvHeads * kHeadDim) * 4.0;
  const double gbps = kv_bytes / sec / 1e9;
  state.counters["GB/s"] = gbps;
  state.counters["of_copy"] = gbps / copy_gbps();
  // q·k and p·v: 4 flops per (query row, visible key, head, dim).
  const double pairs = static_cast<double>(batch) *
                       (static_cast<double>(qlen) * static_cast<double>(ctx - qlen) +
                        static_cast<double>(qlen) * static_cast<double>(qlen + 1) / 2.0);
  state.counters["GFLOP/s"] = 4.0 * pairs * kHeads * kHeadDim / sec / 1e9;

  SIEVE_CUDA_CHECK(cudaStreamDestroy(stream));
  SIEVE_CUDA_CHECK(cudaFree(p.workspace));
  SIEVE_CUDA_CHECK(cudaFree(const_cast<float*>(p.q)));
  SIEVE_CUDA_CHECK(cudaFree(const_cast<int32_t*>(p.block_tables)));
  SIEVE_CUDA_CHECK(cudaFree(const_cast<int32_t*>(p.query_start)));
  SIEVE_CUDA_CHECK(cudaFree(const_cast<int32_t*>(p.context_lens)));
  SIEVE_CUDA_CHECK(cudaFree(out));
  SIEVE_CUDA_CHECK(cudaFree(k_cache));
  SIEVE_CUDA_CHECK(cudaFree(v_cache));
}

// args: batch, context
void BM_AttentionDecode(benchmark::State& state) {
  run_attention(state, state.range(0), state.range(1), 1);
}
BENCHMARK(BM_AttentionDecode)
    ->ArgNames({"batch", "ctx"})
    ->ArgsProduct({{1, 8, 64, 256}, {1024, 4096, 32768}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

// args: tokens (one sequence prefilled from empty)
void BM_AttentionPrefill(benchmark::State& state) {
  run_attention(state, 1, state.range(0), state.range(0));
}
BENCHMARK(BM_AttentionPrefill)
    ->ArgNames({"tokens"})
    ->Arg(2048)
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sieve::cuda::bench
