// MoE router: softmax + top-k, one warp per token (see router.h).
#include "kernels/cuda/router.h"

#include <cuda_runtime.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda {
namespace {

constexpr int kWarpsPerBlock = 4;

// Lane `lane` holds experts lane, lane + 32, ... (kPerLane of them; coalesced loads).
// Dynamic shared memory: [kWarpsPerBlock, experts] floats, each warp's probabilities laid out
// in expert order so that one lane can sum them left to right as the CPU does.
template <int kPerLane>
__global__ void router_topk_kernel(const float* __restrict__ logits,  // [tokens, experts], ld
                                   int32_t* __restrict__ ids,         // [tokens, k]
                                   float* __restrict__ weights,       // [tokens, k]
                                   int64_t tokens, int experts, int k, int64_t ld,
                                   bool renormalize) {
  extern __shared__ float probs[];
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t t = blockIdx.x * static_cast<int64_t>(kWarpsPerBlock) + warp;
  if (t >= tokens) return;  // whole warps leave together; no block-wide sync follows
  const float* l = logits + t * ld;
  float* pw = probs + warp * experts;

  float p[kPerLane];
  float mx = -INFINITY;
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int e = j * 32 + lane;
    p[j] = e < experts ? l[e] : -INFINITY;
    mx = fmaxf(mx, p[j]);
  }
  for (int o = 16; o > 0; o /= 2)
    mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));

#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int e = j * 32 + lane;
    if (e < experts) {
      // exp of the fp32 difference, correctly rounded to fp32 (glibc's expf is within 0.502 ulp).
      p[j] = static_cast<float>(exp(static_cast<double>(p[j] - mx)));
      pw[e] = p[j];
    }
  }
  __syncwarp();
  float sum = 0.f;
  if (lane == 0) {
    for (int e = 0; e < experts; ++e)  // left to right in fp32, as the CPU sums
      sum += pw[e];
  }
  sum = __shfl_sync(0xffffffffu, sum, 0);
#pragma unroll
  for (int j = 0; j < kPerLane; ++j) {
    const int e = j * 32 + lane;
    p[j] = e < experts ? p[j] / sum : -1.0f;  // -1: never chosen (probabilities are ≥ 0)
  }

  int32_t my_id = 0;
  float my_val = 0.f, top_sum = 0.f;
  for (int sel = 0; sel < k; ++sel) {
    // This lane's best: experts ascend with j, so `>` keeps the lower id on ties.
    float bv = -2.0f;
    int bi = 0x7fffffff;
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      if (p[j] > bv) {
        bv = p[j];
        bi = j * 32 + lane;
      }
    }
    // Butterfly over (value desc, id asc): a strict total order, so every lane ends agreeing.
    for (int o = 16; o > 0; o /= 2) {
      const float ov = __shfl_xor_sync(0xffffffffu, bv, o);
      const int oi = __shfl_xor_sync(0xffffffffu, bi, o);
      if (ov > bv || (ov == bv && oi < bi)) {
        bv = ov;
        bi = oi;
      }
    }
#pragma unroll
    for (int j = 0; j < kPerLane; ++j) {
      if (j * 32 + lane == bi) p[j] = -1.0f;
    }
    top_sum += bv;  // in selection order, as the CPU sums
    if (lane == sel) {
      my_id = bi;
      my_val = bv;
    }
  }
  if (lane < k) {
    ids[t * k + lane] = my_id;
    weights[t * k + lane] = renormalize ? my_val / top_sum : my_val;
  }
}

template <int kPerLane>
void launch_router(const RouterTopkParams& p, int64_t ld, cudaStream_t stream) {
  const unsigned blocks = static_cast<unsigned>((p.tokens + kWarpsPerBlock - 1) / kWarpsPerBlock);
  const size_t smem = static_cast<size_t>(kWarpsPerBlock * p.experts) * sizeof(float);
  router_topk_kernel<kPerLane><<<blocks, kWarpsPerBlock * 32, smem, stream>>>(
      p.logits, p.ids, p.weights, p.tokens, static_cast<int>(p.experts), static_cast<int>(p.k), ld,
      p.renormalize);
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void router_topk(const RouterTopkParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tokens >= 0, "router_topk: negative token count");
  SIEVE_CUDA_REQUIRE(p.experts >= 1 && p.experts <= kRouterMaxExperts,
                     "router_topk: experts must be in [1, 512]");
  SIEVE_CUDA_REQUIRE(p.k >= 1 && p.k <= kRouterMaxK && p.k <= p.experts,
                     "router_topk: k must be in [1, min(32, experts)]");
  if (p.tokens == 0) return;
  const int64_t ld = p.ld_logits ? p.ld_logits : p.experts;
  SIEVE_CUDA_REQUIRE(ld >= p.experts, "router_topk: row stride below experts");
  SIEVE_CUDA_REQUIRE(p.logits != nullptr && p.ids != nullptr && p.weights != nullptr,
                     "router_topk: null pointer");
  SIEVE_CUDA_REQUIRE(p.tokens < (int64_t{1} << 32), "router_topk: too many tokens");
  const int64_t per_lane = (p.experts + 31) / 32;
  if (per_lane <= 1) {
    launch_router<1>(p, ld, stream);
  } else if (per_lane <= 2) {
    launch_router<2>(p, ld, stream);
  } else if (per_lane <= 4) {
    launch_router<4>(p, ld, stream);
  } else if (per_lane <= 8) {
    launch_router<8>(p, ld, stream);
  } else {
    launch_router<16>(p, ld, stream);
  }
}

}  // namespace sieve::cuda
