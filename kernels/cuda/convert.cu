#include <cuda_bf16.h>

#include "kernels/cuda/convert.h"
#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 65535 * 8 ? b : 65535 * 8);  // grid-stride beyond
}

__global__ void f32_to_bf16_kernel(const float* __restrict__ x, uint16_t* __restrict__ y,
                                   int64_t n) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    y[i] = __bfloat16_as_ushort(__float2bfloat16_rn(x[i]));
  }
}

// Mirrors kernels::f32_to_bf16 (NaN kept quiet, otherwise round to nearest even), so filled
// bf16 weights equal the bytes a random checkpoint holds.
__device__ uint16_t host_equal_bf16(float f) {
  uint32_t bits = __float_as_uint(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((bits >> 16) | 0x40);
  bits += 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>(bits >> 16);
}

__global__ void fill_kernel(void* out, bool bf16, int64_t n, kernels::FillSpec fill) {
  for (int64_t i = blockIdx.x * int64_t{blockDim.x} + threadIdx.x; i < n;
       i += int64_t{gridDim.x} * blockDim.x) {
    const float v = fill.at(static_cast<uint64_t>(i));
    if (bf16) {
      static_cast<uint16_t*>(out)[i] = host_equal_bf16(v);
    } else {
      static_cast<float*>(out)[i] = v;
    }
  }
}

}  // namespace

void f32_to_bf16(const float* x, uint16_t* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  f32_to_bf16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, y, n);
  SIEVE_CUDA_CHECK_LAUNCH();
}

void fill_weights(const FillParams& p, cudaStream_t stream) {
  if (p.n == 0) return;
  SIEVE_CUDA_REQUIRE(p.out != nullptr, "fill_weights: no output");
  fill_kernel<<<blocks_for(p.n), kThreads, 0, stream>>>(p.out, p.type == WeightType::kBF16, p.n,
                                                        p.fill);
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
