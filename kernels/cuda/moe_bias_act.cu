// Experts with biases and gpt-oss's clamped SwiGLU (moe.h, steps 4b and 4c): the activation
// between the two expert products with each row's expert's gate_up bias added first, and the
// down bias added to each row before the combine. A row's expert comes from the offsets the
// align step wrote (a binary search over num_experts + 1 values), so no launch depends on device
// contents and the pipeline stays capturable in a CUDA graph.
#include <cuda_bf16.h>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/moe.h"

namespace sieve::cuda {
namespace {

constexpr int kThreads = 256;

// The expert whose rows [offsets[e], offsets[e + 1]) hold sorted row r.
__device__ __forceinline__ int expert_of_row(const int32_t* __restrict__ offsets, int num_experts,
                                             int64_t r) {
  int lo = 0, hi = num_experts - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) / 2;
    if (offsets[mid] <= r) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

// One thread per output element of act [rows, inter].
__global__ void __launch_bounds__(kThreads)
    expert_act_kernel(const float* __restrict__ gate_up,  // [rows, 2 * inter]
                      float* __restrict__ act,            // [rows, inter]
                      const int32_t* __restrict__ offsets, const float* const* __restrict__ bias,
                      int num_experts, int64_t rows, int inter, float limit, float alpha,
                      bool round_bf16) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (idx >= rows * inter) return;
  const int64_t r = idx / inter;
  const int i = static_cast<int>(idx % inter);
  float g = gate_up[r * 2 * inter + i];
  float u = gate_up[r * 2 * inter + inter + i];
  if (bias) {
    const float* b = bias[expert_of_row(offsets, num_experts, r)];
    g += b[i];
    u += b[inter + i];
  }
  float a;
  if (limit > 0.f) {
    g = fminf(g, limit);
    u = u < -limit ? -limit : (limit < u ? limit : u);
    a = g / (1.0f + expf(-alpha * g)) * (u + 1.0f);
  } else {
    a = g / (1.0f + expf(-g)) * u;
  }
  act[idx] = round_bf16 ? __bfloat162float(__float2bfloat16_rn(a)) : a;
}

__global__ void __launch_bounds__(kThreads)
    row_bias_kernel(float* __restrict__ y,  // [rows, n]
                    const int32_t* __restrict__ offsets, const float* const* __restrict__ bias,
                    int num_experts, int64_t rows, int n) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kThreads + threadIdx.x;
  if (idx >= rows * n) return;
  const int64_t r = idx / n;
  y[idx] += bias[expert_of_row(offsets, num_experts, r)][idx % n];
}

unsigned blocks_for(int64_t n, const char* what) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  SIEVE_CUDA_REQUIRE(blocks < (int64_t{1} << 31), what);
  return static_cast<unsigned>(blocks);
}

}  // namespace

void moe_expert_act(const MoeExpertActParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.rows >= 0 && p.inter >= 1 && p.inter < (int64_t{1} << 30) &&
                         p.num_experts >= 1 && p.num_experts <= kMoeMaxExperts,
                     "moe_expert_act: sizes");
  if (p.rows == 0) return;
  SIEVE_CUDA_REQUIRE(p.gate_up && p.act && (p.offsets || !p.gate_up_bias),
                     "moe_expert_act: null pointer");
  expert_act_kernel<<<blocks_for(p.rows * p.inter, "moe_expert_act: too many elements"),
                      kThreads, 0, stream>>>(
      p.gate_up, p.act, p.offsets, p.gate_up_bias, static_cast<int>(p.num_experts), p.rows,
      static_cast<int>(p.inter), p.swiglu_limit, p.swiglu_alpha, p.round_to_bf16);
  SIEVE_CUDA_CHECK_LAUNCH();
}

void moe_add_expert_bias(float* y, const int32_t* offsets, const float* const* bias,
                         int64_t num_experts, int64_t rows, int64_t n, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(rows >= 0 && n >= 1 && n < (int64_t{1} << 30) && num_experts >= 1 &&
                         num_experts <= kMoeMaxExperts,
                     "moe_add_expert_bias: sizes");
  if (rows == 0) return;
  SIEVE_CUDA_REQUIRE(y && offsets && bias, "moe_add_expert_bias: null pointer");
  row_bias_kernel<<<blocks_for(rows * n, "moe_add_expert_bias: too many elements"), kThreads, 0,
                    stream>>>(y, offsets, bias, static_cast<int>(num_experts), rows,
                              static_cast<int>(n));
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
