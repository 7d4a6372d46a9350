// MoE expert pipeline (moe_experts) at Qwen3-30B-A3B shapes: hidden 2048, moe_intermediate 768,
// 128 experts, top-8, bf16 weights. GB/s counts the weights of the experts actually touched plus
// the activations read and written; of_copy divides it by the device-to-device copy bandwidth.
// The `gemm` argument pins the expert-product kernel (MoeGemmVariant): 0 auto (moe_choose_gemm),
// 1 grouped (fp32 CUDA cores), 2 skinny (decode streaming), 3 tensor (mma.sync, 128-row tiles),
// 4 tensor_half (64-row tiles), 5 wgmma, so each shows where it competes. The full table over
// shapes, routings and peers is sieve-moe-table (tools/gpu/moe_table.sh).
#include <benchmark/benchmark.h>
#include <cuda_runtime_api.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

#include "kernels/cuda/bench/bench_common.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/moe.h"

namespace sieve::cuda::bench {
namespace {

constexpr int64_t kHidden = 2048, kInter = 768, kExperts = 128, kTopK = 8;

// Expert weights, allocated once per process (~1.2 GB of bf16).
struct QwenMoeWeights {
  void* gate_up = nullptr;              // [kExperts, 2 * kInter, kHidden] bf16
  void* down = nullptr;                 // [kExperts, kHidden, kInter] bf16
  const void** gate_up_ptrs = nullptr;  // device [kExperts]
  const void** down_ptrs = nullptr;     // device [kExperts]

  QwenMoeWeights() {
    const size_t gu_elems = 2 * kInter * kHidden, down_elems = kHidden * kInter;
    SIEVE_CUDA_CHECK(cudaMalloc(&gate_up, kExperts * gu_elems * 2));
    SIEVE_CUDA_CHECK(cudaMalloc(&down, kExperts * down_elems * 2));
    // Random weights (constants or zeros can time faster than real data), U[-b, b] with
    // b = 1/sqrt(k) so activations stay O(1).
    FillParams f;
    f.type = WeightType::kBF16;
    f.out = gate_up;
    f.n = static_cast<int64_t>(kExperts * gu_elems);
    f.fill.key = 1;
    f.fill.bound = 1.f / std::sqrt(static_cast<float>(kHidden));
    fill_weights(f, nullptr);
    f.out = down;
    f.n = static_cast<int64_t>(kExperts * down_elems);
    f.fill.key = 2;
    f.fill.bound = 1.f / std::sqrt(static_cast<float>(kInter));
    fill_weights(f, nullptr);
    std::vector<const void*> gp(kExperts), dp(kExperts);
    for (int64_t e = 0; e < kExperts; ++e) {
      gp[e] = static_cast<const char*>(gate_up) + e * gu_elems * 2;
      dp[e] = static_cast<const char*>(down) + e * down_elems * 2;
    }
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&gate_up_ptrs), kExperts * sizeof(void*)));
    SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&down_ptrs), kExperts * sizeof(void*)));
    SIEVE_CUDA_CHECK(
        cudaMemcpy(gate_up_ptrs, gp.data(), kExperts * sizeof(void*), cudaMemcpyHostToDevice));
    SIEVE_CUDA_CHECK(
        cudaMemcpy(down_ptrs, dp.data(), kExperts * sizeof(void*), cudaMemcpyHostToDevice));
  }
};

const QwenMoeWeights& qwen_weights() {
  static const QwenMoeWeights* w = new QwenMoeWeights();  // lives for the process
  return *w;
}

void BM_moe_experts_qwen3_30b_a3b(benchmark::State& state) {
  const int64_t tokens = state.range(0);
  const auto gemm = static_cast<MoeGemmVariant>(state.range(1));
  const QwenMoeWeights& w = qwen_weights();

  std::mt19937 rng(42);
  std::vector<int32_t> ids(tokens * kTopK);
  std::vector<float> wts(tokens * kTopK, 1.f / kTopK), x(tokens * kHidden);
  std::uniform_real_distribution<float> ux(-1.f, 1.f);
  for (float& v : x)
    v = ux(rng);
  std::set<int32_t> touched;
  std::vector<int32_t> cand(kExperts);
  for (int64_t t = 0; t < tokens; ++t) {
    for (int64_t e = 0; e < kExperts; ++e)
      cand[e] = static_cast<int32_t>(e);
    for (int64_t j = 0; j < kTopK; ++j) {
      std::uniform_int_distribution<int64_t> d(j, kExperts - 1);
      std::swap(cand[j], cand[d(rng)]);
      ids[t * kTopK + j] = cand[j];
      touched.insert(cand[j]);
    }
  }

  int32_t* d_ids = nullptr;
  float *d_wts = nullptr, *d_x = nullptr, *d_out = nullptr;
  void* ws = nullptr;
  const size_t ws_bytes = moe_workspace_bytes(tokens, kTopK, kExperts, kHidden, kInter);
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d_ids), ids.size() * sizeof(int32_t)));
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d_wts), wts.size() * sizeof(float)));
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d_x), x.size() * sizeof(float)));
  SIEVE_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&d_out), x.size() * sizeof(float)));
  SIEVE_CUDA_CHECK(cudaMalloc(&ws, ws_bytes));
  SIEVE_CUDA_CHECK(
      cudaMemcpy(d_ids, ids.data(), ids.size() * sizeof(int32_t), cudaMemcpyHostToDevice));
  SIEVE_CUDA_CHECK(
      cudaMemcpy(d_wts, wts.data(), wts.size() * sizeof(float), cudaMemcpyHostToDevice));
  SIEVE_CUDA_CHECK(cudaMemcpy(d_x, x.data(), x.size() * sizeof(float), cudaMemcpyHostToDevice));

  cudaStream_t stream;
  SIEVE_CUDA_CHECK(cudaStreamCreate(&stream));
  MoeParams p;
  p.x = d_x;
  p.topk_ids = d_ids;
  p.topk_weights = d_wts;
  p.gate_up = w.gate_up_ptrs;
  p.down = w.down_ptrs;
  p.w_type = WeightType::kBF16;
  p.bf16_activations = true;  // as the CUDA backend runs every variant
  p.out = d_out;
  p.tokens = tokens;
  p.top_k = kTopK;
  p.num_experts = kExperts;
  p.hidden = kHidden;
  p.inter = kInter;
  p.workspace = ws;
  p.workspace_bytes = ws_bytes;
  p.gemm = gemm;

  double ms = 0;
  for (auto _ : state) {
    ms = time_ms(stream, 20, [&] { moe_experts(p, stream); });
    state.SetIterationTime(ms * 1e-3);
  }

  const double weight_bytes = static_cast<double>(touched.size()) * 3 * kInter * kHidden * 2;
  const double act_bytes = 2.0 * tokens * kHidden * sizeof(float);  // x read, out written
  const double gbps = (weight_bytes + act_bytes) / (ms * 1e-3) / 1e9;
  const double flops = 2.0 * tokens * kTopK * 3 * kInter * kHidden;
  state.counters["GB/s"] = gbps;
  state.counters["of_copy"] = gbps / copy_gbps();
  state.counters["TFLOP/s"] = flops / (ms * 1e-3) / 1e12;
  state.counters["experts"] = static_cast<double>(touched.size());

  SIEVE_CUDA_CHECK(cudaStreamDestroy(stream));
  SIEVE_CUDA_CHECK(cudaFree(d_ids));
  SIEVE_CUDA_CHECK(cudaFree(d_wts));
  SIEVE_CUDA_CHECK(cudaFree(d_x));
  SIEVE_CUDA_CHECK(cudaFree(d_out));
  SIEVE_CUDA_CHECK(cudaFree(ws));
}

BENCHMARK(BM_moe_experts_qwen3_30b_a3b)
    ->ArgNames({"tokens", "gemm"})
    ->ArgsProduct({{1, 4, 16, 64}, {1, 2}})
    ->ArgsProduct({{256, 2048, 8192}, {0, 3, 4, 5}})
    ->UseManualTime()
    ->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sieve::cuda::bench
