// Benchmark rows for the elementwise kernels and the router at real shapes (hidden 2048, rope on
// 32 heads × 128, router 128 experts top-8, kv_write on 4 kv heads × 128), for 1, 64 and 4096
// tokens. Each row reports GB/s (bytes the kernel must move ÷ time) and of_copy (GB/s ÷ the
// device-to-device copy bandwidth).
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cstdint>
#include <random>
#include <type_traits>
#include <vector>

#include "kernels/cuda/bench/bench_common.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/router.h"

namespace sieve::cuda::bench {
namespace {

constexpr int64_t kHidden = 2048;
constexpr int kItersPerSample = 50;

// A device allocation for the life of one benchmark row.
template <class T>
struct Dev {
  explicit Dev(size_t n, float lo = -1.f, float hi = 1.f) : n(n) {
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)));
    if constexpr (std::is_floating_point_v<T>) {
      std::vector<T> h(n);
      std::mt19937 rng(1);
      std::uniform_real_distribution<float> d(lo, hi);
      for (auto& x : h)
        x = static_cast<T>(d(rng));
      SIEVE_CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
    } else {
      SIEVE_CUDA_CHECK(cudaMemset(p, 0, n * sizeof(T)));
    }
  }
  Dev(size_t n, const std::vector<T>& h) : n(n) {
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&p), n * sizeof(T)));
    SIEVE_CUDA_CHECK(cudaMemcpy(p, h.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  ~Dev() { cudaFree(p); }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  T* p = nullptr;
  size_t n;
};

// Runs the timing loop and sets the counters; `bytes`: what one launch reads plus writes.
template <class F>
void run_row(benchmark::State& state, double bytes, F&& launch) {
  cudaStream_t stream = nullptr;
  double total_ms = 0;
  int64_t samples = 0;
  for (auto _ : state) {
    const double ms = time_ms(stream, kItersPerSample, [&] { launch(stream); });
    state.SetIterationTime(ms * 1e-3);
    total_ms += ms;
    ++samples;
  }
  SIEVE_CUDA_CHECK(cudaGetLastError());
  const double gbps = bytes / (total_ms / static_cast<double>(samples) * 1e-3) / 1e9;
  state.counters["GB/s"] = gbps;
  state.counters["of_copy"] = gbps / copy_gbps();
}

std::vector<int32_t> spread_ids(int64_t n, int64_t range) {
  std::vector<int32_t> ids(n);
  for (int64_t i = 0; i < n; ++i)
    ids[i] = static_cast<int32_t>((i * 7919) % range);
  return ids;
}

// Args: tokens, table type (0 fp32, 1 bf16). Vocab 151936 (Qwen3).
void BM_Embedding(benchmark::State& state) {
  const int64_t tokens = state.range(0), vocab = 151936;
  const bool bf16 = state.range(1) == 1;
  Dev<float> tf(bf16 ? 1 : vocab * kHidden);
  Dev<uint16_t> tb(bf16 ? vocab * kHidden : 1);
  Dev<int32_t> ids(tokens, spread_ids(tokens, vocab));
  Dev<float> out(tokens * kHidden);
  EmbeddingParams p;
  p.table = bf16 ? static_cast<const void*>(tb.p) : static_cast<const void*>(tf.p);
  p.table_type = bf16 ? WeightType::kBF16 : WeightType::kF32;
  p.ids = ids.p;
  p.out = out.p;
  p.tokens = tokens;
  p.vocab = vocab;
  p.hidden = kHidden;
  run_row(state, static_cast<double>(tokens * kHidden) * ((bf16 ? 2 : 4) + 4),
          [&](cudaStream_t s) { embedding(p, s); });
}
BENCHMARK(BM_Embedding)
    ->Args({1, 1})
    ->Args({64, 1})
    ->Args({4096, 1})
    ->Args({4096, 0})
    ->UseManualTime();

// Args: rows gathered (tokens × top-k), from 4096 source rows of hidden 2048.
void BM_GatherRows(benchmark::State& state) {
  const int64_t n = state.range(0), src_rows = 4096;
  Dev<float> src(src_rows * kHidden);
  Dev<int32_t> rows(n, spread_ids(n, src_rows));
  Dev<float> out(n * kHidden);
  GatherRowsParams p{src.p, rows.p, out.p, n, src_rows, kHidden};
  run_row(state, static_cast<double>(n * kHidden) * 8, [&](cudaStream_t s) { gather_rows(p, s); });
}
BENCHMARK(BM_GatherRows)->Arg(8)->Arg(512)->Arg(32768)->UseManualTime();

// Args: tokens.
void BM_RmsNorm(benchmark::State& state) {
  const int64_t rows = state.range(0);
  Dev<float> x(rows * kHidden), w(kHidden), y(rows * kHidden);
  RmsNormParams p;
  p.x = x.p;
  p.w = w.p;
  p.y = y.p;
  p.rows = rows;
  p.dim = kHidden;
  run_row(state, static_cast<double>(rows * kHidden) * 8 + kHidden * 4,
          [&](cudaStream_t s) { rms_norm(p, s); });
}
BENCHMARK(BM_RmsNorm)->Arg(1)->Arg(64)->Arg(4096)->UseManualTime();

// Args: tokens. Reads residual and x, writes residual and y.
void BM_AddRmsNorm(benchmark::State& state) {
  const int64_t rows = state.range(0);
  Dev<float> res(rows * kHidden, -1e-3f, 1e-3f), x(rows * kHidden, -1e-3f, 1e-3f), w(kHidden),
      y(rows * kHidden);
  AddRmsNormParams p;
  p.residual = res.p;
  p.x = x.p;
  p.w = w.p;
  p.y = y.p;
  p.rows = rows;
  p.dim = kHidden;
  run_row(state, static_cast<double>(rows * kHidden) * 16 + kHidden * 4,
          [&](cudaStream_t s) { add_rms_norm(p, s); });
}
BENCHMARK(BM_AddRmsNorm)->Arg(1)->Arg(64)->Arg(4096)->UseManualTime();

// Args: tokens, neox (1) or interleaved (0). Queries: 32 heads × 128, full rotary.
void BM_Rope(benchmark::State& state) {
  const int64_t tokens = state.range(0), heads = 32, head_dim = 128;
  Dev<float> x(tokens * heads * head_dim);
  std::vector<int32_t> pos(tokens);
  for (int64_t t = 0; t < tokens; ++t)
    pos[t] = static_cast<int32_t>(t);
  Dev<int32_t> dpos(tokens, pos);
  Dev<float> inv_freq(head_dim / 2, 0.f, 1.f);
  RopeParams p;
  p.x = x.p;
  p.positions = dpos.p;
  p.inv_freq = inv_freq.p;
  p.tokens = tokens;
  p.heads = heads;
  p.head_dim = head_dim;
  p.rotary_dim = head_dim;
  p.neox = state.range(1) == 1;
  run_row(state, static_cast<double>(tokens * heads * head_dim) * 8,
          [&](cudaStream_t s) { rope(p, s); });
}
BENCHMARK(BM_Rope)->Args({1, 1})->Args({64, 1})->Args({4096, 1})->Args({4096, 0})->UseManualTime();

// Args: rows (tokens × top-8 routed rows), intermediate 768 (Qwen3-30B-A3B experts).
void BM_SiluMul(benchmark::State& state) {
  const int64_t rows = state.range(0), inter = 768;
  Dev<float> gu(rows * 2 * inter), out(rows * inter);
  SiluMulParams p;
  p.gu = gu.p;
  p.out = out.p;
  p.rows = rows;
  p.inter = inter;
  run_row(state, static_cast<double>(rows * inter) * 12, [&](cudaStream_t s) { silu_mul(p, s); });
}
BENCHMARK(BM_SiluMul)->Arg(8)->Arg(512)->Arg(32768)->UseManualTime();

// Args: tokens (hidden 2048).
void BM_Clamp(benchmark::State& state) {
  const int64_t n = state.range(0) * kHidden;
  Dev<float> x(n, -10.f, 10.f);
  run_row(state, static_cast<double>(n) * 8, [&](cudaStream_t s) { clamp(x.p, n, 7.f, s); });
}
BENCHMARK(BM_Clamp)->Arg(1)->Arg(64)->Arg(4096)->UseManualTime();

// Args: tokens. 128 experts, top-8, renormalised.
void BM_RouterTopk(benchmark::State& state) {
  const int64_t tokens = state.range(0), experts = 128, k = 8;
  Dev<float> logits(tokens * experts, -4.f, 4.f), weights(tokens * k);
  Dev<int32_t> ids(tokens * k);
  RouterTopkParams p;
  p.logits = logits.p;
  p.tokens = tokens;
  p.experts = experts;
  p.k = k;
  p.ids = ids.p;
  p.weights = weights.p;
  run_row(state, static_cast<double>(tokens) * (experts * 4 + k * 8),
          [&](cudaStream_t s) { router_topk(p, s); });
}
BENCHMARK(BM_RouterTopk)->Arg(1)->Arg(64)->Arg(4096)->UseManualTime();

// Args: tokens. 4 kv heads × 128 (Qwen3-30B-A3B), slots scattered over a 64K-slot cache.
void BM_KvWrite(benchmark::State& state) {
  const int64_t tokens = state.range(0), kv_heads = 4, head_dim = 128, row = kv_heads * head_dim;
  const int64_t num_slots = 65536;
  std::vector<int64_t> slots(tokens);
  for (int64_t t = 0; t < tokens; ++t)
    slots[t] = (t * 16 + t / 4096) % num_slots;
  Dev<float> k(tokens * row), v(tokens * row), kc(num_slots * row), vc(num_slots * row);
  Dev<int64_t> dslots(tokens, slots);
  KvWriteParams p;
  p.k = k.p;
  p.v = v.p;
  p.slots = dslots.p;
  p.k_cache = kc.p;
  p.v_cache = vc.p;
  p.tokens = tokens;
  p.num_kv_heads = kv_heads;
  p.head_dim = head_dim;
  run_row(state, static_cast<double>(tokens * row) * 16, [&](cudaStream_t s) { kv_write(p, s); });
}
BENCHMARK(BM_KvWrite)->Arg(1)->Arg(64)->Arg(4096)->UseManualTime();

}  // namespace
}  // namespace sieve::cuda::bench
