// MoE router on the GPU: softmax over each token's expert logits, then the k largest.
// The CUDA counterpart of kernels::softmax_topk, built to give the same ids bit for bit.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace sieve::cuda {

// Per token, the k largest of softmax(logits[t]) in descending order, ties to the lower expert
// id, and their probabilities (divided by their sum when `renormalize`). The arithmetic follows
// the CPU's order: max, p[e] = exp(l[e] - max) (computed in double, rounded to fp32), sum of p
// left to right in fp32, p[e] / sum, top-k on those quotients, and the top sum left to right in
// selection order; so ids and weights equal the CPU's wherever its expf is correctly rounded.
// One warp per token; experts ≤ 512, 1 ≤ k ≤ min(32, experts).
struct RouterTopkParams {
  const float* logits = nullptr;  // [tokens, experts], row stride ld_logits (0 → experts)
  int64_t tokens = 0, experts = 0, k = 0, ld_logits = 0;
  bool renormalize = true;
  int32_t* ids = nullptr;    // [tokens, k]
  float* weights = nullptr;  // [tokens, k]
};
void router_topk(const RouterTopkParams& p, cudaStream_t stream);

inline constexpr int64_t kRouterMaxExperts = 512;
inline constexpr int64_t kRouterMaxK = 32;

}  // namespace sieve::cuda
