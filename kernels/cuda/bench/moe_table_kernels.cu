#include "kernels/cuda/bench/moe_table_kernels.h"

#include <cuda_bf16.h>

#include <cmath>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda::moe_table {
namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>((n + kThreads - 1) / kThreads);
}

__device__ float bf16_at(const void* base, int64_t i) {
  return __bfloat162float(static_cast<const __nv_bfloat16*>(base)[i]);
}

__device__ float silu(float v) {
  return v / (1.0f + expf(-v));
}

// One thread per (s, j, i): act[s, j, i] = silu(gate_e[i] · x[t]) · (up_e[i] · x[t]).
__global__ void reference_act_kernel(MoeReferenceParams p) {
  const int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (idx >= p.samples * p.top_k * p.inter) return;
  const int64_t i = idx % p.inter, j = idx / p.inter % p.top_k, s = idx / (p.inter * p.top_k);
  const int64_t t = p.tokens[s];
  const int32_t e = p.topk_ids[t * p.top_k + j];
  const void* w = p.gate_up[e];
  const float* x = p.x + t * p.hidden;
  float gate = 0, up = 0;
  for (int64_t h = 0; h < p.hidden; ++h) {
    gate += bf16_at(w, i * p.hidden + h) * x[h];
    up += bf16_at(w, (p.inter + i) * p.hidden + h) * x[h];
  }
  p.act[idx] = silu(gate) * up;
}

// One thread per (s, h): out[s, h] = Σ_j w[t, j] · down_e[h] · act[s, j].
__global__ void reference_out_kernel(MoeReferenceParams p) {
  const int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (idx >= p.samples * p.hidden) return;
  const int64_t h = idx % p.hidden, s = idx / p.hidden;
  const int64_t t = p.tokens[s];
  float sum = 0;
  for (int64_t j = 0; j < p.top_k; ++j) {
    const void* w = p.down[p.topk_ids[t * p.top_k + j]];
    const float* act = p.act + (s * p.top_k + j) * p.inter;
    float y = 0;
    for (int64_t i = 0; i < p.inter; ++i)
      y += bf16_at(w, h * p.inter + i) * act[i];
    sum += p.topk_weights[t * p.top_k + j] * y;
  }
  p.out[idx] = sum;
}

// scratch[0] += Σ (out - ref)², scratch[1] += Σ ref² over the samples; scratch[2] counts
// non-finite values over the whole output. Double atomics per thread: this is a check, not a
// benchmark.
__global__ void compare_kernel(CompareParams p) {
  const int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  const int64_t total = p.tokens_total * p.hidden;
  double diff2 = 0, ref2 = 0, bad = 0;
  for (int64_t i = idx; i < total; i += int64_t{gridDim.x} * blockDim.x) {
    if (!isfinite(p.out[i])) bad += 1;
  }
  for (int64_t i = idx; i < p.samples * p.hidden; i += int64_t{gridDim.x} * blockDim.x) {
    const int64_t s = i / p.hidden, h = i % p.hidden;
    const double r = p.ref[i], o = p.out[p.tokens[s] * p.hidden + h];
    diff2 += (o - r) * (o - r);
    ref2 += r * r;
  }
  if (diff2 != 0 || isnan(diff2)) atomicAdd(&p.scratch[0], diff2);
  if (ref2 != 0) atomicAdd(&p.scratch[1], ref2);
  if (bad != 0) atomicAdd(&p.scratch[2], bad);
}

__global__ void silu_mul_bf16_kernel(const __nv_bfloat16* gate_up, __nv_bfloat16* act, int64_t rows,
                                     int64_t inter) {
  const int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (idx >= rows * inter) return;
  const int64_t r = idx / inter, i = idx % inter;
  const float g = __bfloat162float(gate_up[r * 2 * inter + i]);
  const float u = __bfloat162float(gate_up[r * 2 * inter + inter + i]);
  act[idx] = __float2bfloat16_rn(silu(g) * u);
}

__global__ void bf16_to_f32_kernel(const __nv_bfloat16* x, float* y, int64_t n) {
  const int64_t idx = blockIdx.x * int64_t{blockDim.x} + threadIdx.x;
  if (idx < n) y[idx] = __bfloat162float(x[idx]);
}

}  // namespace

void moe_reference(const MoeReferenceParams& p, cudaStream_t stream) {
  if (p.samples == 0) return;
  reference_act_kernel<<<blocks_for(p.samples * p.top_k * p.inter), kThreads, 0, stream>>>(p);
  SIEVE_CUDA_CHECK_LAUNCH();
  reference_out_kernel<<<blocks_for(p.samples * p.hidden), kThreads, 0, stream>>>(p);
  SIEVE_CUDA_CHECK_LAUNCH();
}

ErrorStats compare_to_reference(const CompareParams& p, cudaStream_t stream) {
  SIEVE_CUDA_CHECK(cudaMemsetAsync(p.scratch, 0, 3 * sizeof(double), stream));
  compare_kernel<<<1024, kThreads, 0, stream>>>(p);
  SIEVE_CUDA_CHECK_LAUNCH();
  double host[3];
  SIEVE_CUDA_CHECK(cudaMemcpyAsync(host, p.scratch, sizeof(host), cudaMemcpyDeviceToHost, stream));
  SIEVE_CUDA_CHECK(cudaStreamSynchronize(stream));
  ErrorStats st;
  st.rel_err = host[1] > 0 ? std::sqrt(host[0] / host[1]) : (host[0] > 0 ? INFINITY : 0.0);
  if (std::isnan(host[0])) st.rel_err = NAN;
  st.nonfinite = static_cast<int64_t>(host[2]);
  return st;
}

void silu_mul_bf16(const uint16_t* gate_up, uint16_t* act, int64_t rows, int64_t inter,
                   cudaStream_t stream) {
  if (rows * inter == 0) return;
  silu_mul_bf16_kernel<<<blocks_for(rows * inter), kThreads, 0, stream>>>(
      reinterpret_cast<const __nv_bfloat16*>(gate_up), reinterpret_cast<__nv_bfloat16*>(act), rows,
      inter);
  SIEVE_CUDA_CHECK_LAUNCH();
}

void bf16_to_f32(const uint16_t* x, float* y, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  bf16_to_f32_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
      reinterpret_cast<const __nv_bfloat16*>(x), y, n);
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda::moe_table
