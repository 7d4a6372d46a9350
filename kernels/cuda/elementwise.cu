// Element-wise, normalisation, position and cache-write kernels (see elementwise.h).
// Each kernel has a vectorised instance (float4 loads and stores) used when every pointer is
// 16-byte aligned and every row width and stride is a multiple of 4, and a scalar one otherwise.
#include "kernels/cuda/elementwise.h"

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cuda/cuda_check.h"

namespace sieve::cuda {
namespace {

constexpr int kMaxThreads = 256;

bool aligned16(const void* p) {
  return (reinterpret_cast<uintptr_t>(p) & 15u) == 0;
}

// Threads for a block that walks `units` items of a row: a multiple of 32, at most kMaxThreads.
int block_threads(int64_t units) {
  const int64_t warps = std::clamp<int64_t>((units + 31) / 32, 1, kMaxThreads / 32);
  return static_cast<int>(warps * 32);
}

// Grid for a flat grid-stride loop over n items.
unsigned flat_blocks(int64_t n, int threads) {
  return static_cast<unsigned>(std::clamp<int64_t>((n + threads - 1) / threads, 1, 1 << 16));
}

__device__ __forceinline__ float bf16_bits_to_f32(uint32_t bits16) {
  return __uint_as_float(bits16 << 16);
}

// Sum over the block; every thread gets the total. blockDim.x is a multiple of 32 (≤ 1024).
__device__ float block_sum(float v) {
  __shared__ float warp_sums[32];
  for (int o = 16; o > 0; o /= 2)
    v += __shfl_xor_sync(0xffffffffu, v, o);
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  if (lane == 0) warp_sums[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  float total = 0.f;
  for (int w = 0; w < warps; ++w)  // the same fixed order in every thread
    total += warp_sums[w];
  return total;
}

// ---- embedding / gather_rows: one block per output row -------------------------------------

// T: float or uint16_t (bf16 bits). kVec: 4 elements per step.
template <class T, bool kVec>
__global__ void gather_kernel(const T* __restrict__ table,      // [vocab, hidden]
                              const int32_t* __restrict__ ids,  // [tokens]
                              float* __restrict__ out,          // [tokens, hidden]
                              int64_t vocab, int64_t hidden) {
  const int64_t t = blockIdx.x;
  const int32_t id = ids[t];
  float* o = out + t * hidden;
  const bool valid = id >= 0 && id < vocab;
  const T* src = table + static_cast<int64_t>(valid ? id : 0) * hidden;
  if constexpr (kVec) {
    const int64_t n4 = hidden / 4;
    for (int64_t i = threadIdx.x; i < n4; i += blockDim.x) {
      float4 v = make_float4(0.f, 0.f, 0.f, 0.f);
      if (valid) {
        if constexpr (sizeof(T) == 4) {
          v = reinterpret_cast<const float4*>(src)[i];
        } else {
          const uint2 b = reinterpret_cast<const uint2*>(src)[i];
          v = make_float4(bf16_bits_to_f32(b.x & 0xffffu), bf16_bits_to_f32(b.x >> 16),
                          bf16_bits_to_f32(b.y & 0xffffu), bf16_bits_to_f32(b.y >> 16));
        }
      }
      reinterpret_cast<float4*>(o)[i] = v;
    }
  } else {
    for (int64_t i = threadIdx.x; i < hidden; i += blockDim.x) {
      float v = 0.f;
      if (valid) {
        if constexpr (sizeof(T) == 4) {
          v = src[i];
        } else {
          v = bf16_bits_to_f32(src[i]);
        }
      }
      o[i] = v;
    }
  }
}

template <class T>
void launch_gather(const T* table, const int32_t* ids, float* out, int64_t rows, int64_t vocab,
                   int64_t hidden, cudaStream_t stream) {
  // bf16 vector step: 4 elements = 8 bytes (uint2).
  const size_t vec_bytes = 4 * sizeof(T);
  const bool vec =
      hidden % 4 == 0 && aligned16(out) && (reinterpret_cast<uintptr_t>(table) % vec_bytes) == 0;
  const int threads = block_threads(vec ? hidden / 4 : hidden);
  const dim3 grid(static_cast<unsigned>(rows));
  if (vec) {
    gather_kernel<T, true><<<grid, threads, 0, stream>>>(table, ids, out, vocab, hidden);
  } else {
    gather_kernel<T, false><<<grid, threads, 0, stream>>>(table, ids, out, vocab, hidden);
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

// ---- rms_norm / add_rms_norm: one block per row ---------------------------------------------

// Loads/stores of 4 or 1 floats, so one kernel body serves both instances.
template <bool kVec>
struct Vec;
template <>
struct Vec<true> {
  using T = float4;
  static constexpr int kWidth = 4;
  __device__ static float sq(T v) { return v.x * v.x + v.y * v.y + v.z * v.z + v.w * v.w; }
  __device__ static T add(T a, T b) {
    return make_float4(a.x + b.x, a.y + b.y, a.z + b.z, a.w + b.w);
  }
  // w * (x * r), each product rounded, as the CPU computes it.
  __device__ static T scale(T x, T w, float r) {
    return make_float4(w.x * (x.x * r), w.y * (x.y * r), w.z * (x.z * r), w.w * (x.w * r));
  }
};
template <>
struct Vec<false> {
  using T = float;
  static constexpr int kWidth = 1;
  __device__ static float sq(T v) { return v * v; }
  __device__ static T add(T a, T b) { return a + b; }
  __device__ static T scale(T x, T w, float r) { return w * (x * r); }
};

// kAdd: residual += x first (res is then the row normalised). Otherwise res is x (read only).
// Each thread handles the same elements in both passes, so in-place use needs no extra sync.
template <bool kVec, bool kAdd>
__global__ void rms_norm_kernel(float* res,                   // [rows, dim], stride ld_res
                                const float* x,               // [rows, dim], stride ldx (kAdd)
                                const float* __restrict__ w,  // [dim]
                                float* y,                     // [rows, dim], stride ldy
                                int64_t dim, int64_t ld_res, int64_t ldx, int64_t ldy, float eps) {
  using V = Vec<kVec>;
  using T = typename V::T;
  const int64_t r = blockIdx.x;
  T* rr = reinterpret_cast<T*>(res + r * ld_res);
  const T* xr = reinterpret_cast<const T*>(x + r * ldx);
  T* yr = reinterpret_cast<T*>(y + r * ldy);
  const T* wr = reinterpret_cast<const T*>(w);
  const int64_t n = dim / V::kWidth;
  float ss = 0.f;
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    T v = rr[i];
    if constexpr (kAdd) {
      v = V::add(v, xr[i]);
      rr[i] = v;
    }
    ss += V::sq(v);
  }
  const float var = block_sum(ss) / static_cast<float>(dim);
  const float inv = 1.0f / sqrtf(var + eps);  // IEEE sqrt and division (no fast-math)
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x)
    yr[i] = V::scale(rr[i], wr[i], inv);
}

template <bool kAdd>
void launch_rms_norm(float* res, const float* x, const float* w, float* y, int64_t rows,
                     int64_t dim, int64_t ld_res, int64_t ldx, int64_t ldy, float eps,
                     cudaStream_t stream) {
  const bool vec = dim % 4 == 0 && ld_res % 4 == 0 && ldy % 4 == 0 && aligned16(res) &&
                   aligned16(w) && aligned16(y) && (!kAdd || (ldx % 4 == 0 && aligned16(x)));
  const int threads = block_threads(vec ? dim / 4 : dim);
  const dim3 grid(static_cast<unsigned>(rows));
  if (vec) {
    rms_norm_kernel<true, kAdd>
        <<<grid, threads, 0, stream>>>(res, x, w, y, dim, ld_res, ldx, ldy, eps);
  } else {
    rms_norm_kernel<false, kAdd>
        <<<grid, threads, 0, stream>>>(res, x, w, y, dim, ld_res, ldx, ldy, eps);
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

// ---- rope: one block per token --------------------------------------------------------------

// Dynamic shared memory: cos [half] then sin [half].
template <bool kNeox>
__global__ void rope_kernel(float* x,                               // [tokens, heads, head_dim]
                            const int32_t* __restrict__ positions,  // [tokens]
                            const float* __restrict__ inv_freq,     // [half]
                            int64_t heads, int64_t head_dim, int64_t half, int64_t ld_token,
                            float attention_scaling) {
  extern __shared__ float cs[];
  const int64_t t = blockIdx.x;
  const float pos = static_cast<float>(positions[t]);
  for (int64_t i = threadIdx.x; i < half; i += blockDim.x) {
    const float angle = __fmul_rn(pos, inv_freq[i]);  // fp32, as transformers computes it
    double s, c;
    sincos(static_cast<double>(angle), &s, &c);  // rounded to fp32 below: as the CPU does
    cs[i] = __fmul_rn(static_cast<float>(c), attention_scaling);
    cs[half + i] = __fmul_rn(static_cast<float>(s), attention_scaling);
  }
  __syncthreads();
  float* xt = x + t * ld_token;
  const int64_t pairs = heads * half;
  for (int64_t j = threadIdx.x; j < pairs; j += blockDim.x) {
    const int64_t h = j / half, i = j % half;
    float* xh = xt + h * head_dim;
    const int64_t i0 = kNeox ? i : 2 * i, i1 = kNeox ? i + half : 2 * i + 1;
    const float c = cs[i], s = cs[half + i];
    const float x0 = xh[i0], x1 = xh[i1];
    // q * cos + rotate_half(q) * sin, each product rounded (no fused multiply-add), as the CPU.
    xh[i0] = __fadd_rn(__fmul_rn(x0, c), __fmul_rn(-x1, s));
    xh[i1] = __fadd_rn(__fmul_rn(x1, c), __fmul_rn(x0, s));
  }
}

// ---- silu_mul: flat grid-stride loop over rows × columns ------------------------------------

__device__ __forceinline__ float silu_times(float g, float u) {
  return g / (1.0f + expf(-g)) * u;
}

template <bool kVec>
__global__ void silu_mul_kernel(const float* __restrict__ gu,  // [rows, 2 * inter], ld_gu
                                float* __restrict__ out,       // [rows, inter], ld_out
                                int64_t rows, int64_t inter, int64_t ld_gu, int64_t ld_out) {
  const int64_t units = kVec ? inter / 4 : inter;
  const int64_t n = rows * units;
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t r = j / units, c = j % units;
    const float* g = gu + r * ld_gu;
    float* o = out + r * ld_out;
    if constexpr (kVec) {
      const float4 gv = reinterpret_cast<const float4*>(g)[c];
      const float4 uv = reinterpret_cast<const float4*>(g + inter)[c];
      reinterpret_cast<float4*>(o)[c] = make_float4(silu_times(gv.x, uv.x), silu_times(gv.y, uv.y),
                                                    silu_times(gv.z, uv.z), silu_times(gv.w, uv.w));
    } else {
      o[c] = silu_times(g[c], g[inter + c]);
    }
  }
}

// ---- clamp ----------------------------------------------------------------------------------

// std::clamp(v, lo, hi): v < lo ? lo : hi < v ? hi : v (NaN passes through).
__device__ __forceinline__ float clamp1(float v, float lim) {
  return v < -lim ? -lim : (lim < v ? lim : v);
}

__global__ void clamp_kernel(float* x, int64_t n, float limit) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  const int64_t first = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  // The unaligned head (up to 3 floats) scalar, then float4 steps, then the tail.
  const int64_t head =
      std::min<int64_t>(n, ((16 - (reinterpret_cast<uintptr_t>(x) & 15)) & 15) / 4);
  if (first < head) x[first] = clamp1(x[first], limit);
  float4* x4 = reinterpret_cast<float4*>(x + head);
  const int64_t n4 = (n - head) / 4;
  for (int64_t i = first; i < n4; i += stride) {
    float4 v = x4[i];
    v = make_float4(clamp1(v.x, limit), clamp1(v.y, limit), clamp1(v.z, limit), clamp1(v.w, limit));
    x4[i] = v;
  }
  const int64_t tail0 = head + 4 * n4;
  if (tail0 + first < n) x[tail0 + first] = clamp1(x[tail0 + first], limit);
}

// ---- add_bias -------------------------------------------------------------------------------

__global__ void add_bias_kernel(float* __restrict__ y, const float* __restrict__ bias,
                                int64_t total, int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += stride)
    y[i] += bias[i % n];
}

// ---- kv_write: one block per token ----------------------------------------------------------

template <bool kVec>
__global__ void kv_write_kernel(const float* __restrict__ k,        // [tokens, row], ld_k
                                const float* __restrict__ v,        // [tokens, row], ld_v
                                const int64_t* __restrict__ slots,  // [tokens]
                                float* __restrict__ k_cache,        // [slots, row]
                                float* __restrict__ v_cache,        // [slots, row]
                                int64_t row, int64_t ld_k, int64_t ld_v) {
  const int64_t t = blockIdx.x;
  const int64_t slot = slots[t];
  if (slot < 0) return;  // padding token: no cache slot
  using T = typename Vec<kVec>::T;
  const int64_t n = row / Vec<kVec>::kWidth;
  const T* ks = reinterpret_cast<const T*>(k + t * ld_k);
  const T* vs = reinterpret_cast<const T*>(v + t * ld_v);
  T* kd = reinterpret_cast<T*>(k_cache + slot * row);
  T* vd = reinterpret_cast<T*>(v_cache + slot * row);
  for (int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    kd[i] = ks[i];
    vd[i] = vs[i];
  }
}

}  // namespace

void embedding(const EmbeddingParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tokens >= 0 && p.vocab >= 0 && p.hidden >= 0, "embedding: negative shape");
  if (p.tokens == 0 || p.hidden == 0) return;
  SIEVE_CUDA_REQUIRE(p.table != nullptr && p.ids != nullptr && p.out != nullptr,
                     "embedding: null pointer");
  SIEVE_CUDA_REQUIRE(p.tokens < (int64_t{1} << 31), "embedding: too many tokens");
  if (p.table_type == WeightType::kF32) {
    launch_gather(static_cast<const float*>(p.table), p.ids, p.out, p.tokens, p.vocab, p.hidden,
                  stream);
  } else {
    launch_gather(static_cast<const uint16_t*>(p.table), p.ids, p.out, p.tokens, p.vocab, p.hidden,
                  stream);
  }
}

void gather_rows(const GatherRowsParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.n >= 0 && p.src_rows >= 0 && p.width >= 0, "gather_rows: negative shape");
  if (p.n == 0 || p.width == 0) return;
  SIEVE_CUDA_REQUIRE(p.src != nullptr && p.rows != nullptr && p.out != nullptr,
                     "gather_rows: null pointer");
  SIEVE_CUDA_REQUIRE(p.n < (int64_t{1} << 31), "gather_rows: too many rows");
  launch_gather(p.src, p.rows, p.out, p.n, p.src_rows, p.width, stream);
}

void rms_norm(const RmsNormParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.rows >= 0 && p.dim > 0, "rms_norm: bad shape");
  if (p.rows == 0) return;
  const int64_t ldx = p.ldx ? p.ldx : p.dim, ldy = p.ldy ? p.ldy : p.dim;
  SIEVE_CUDA_REQUIRE(ldx >= p.dim && ldy >= p.dim, "rms_norm: row stride below dim");
  SIEVE_CUDA_REQUIRE(p.x != nullptr && p.w != nullptr && p.y != nullptr, "rms_norm: null pointer");
  SIEVE_CUDA_REQUIRE(p.rows < (int64_t{1} << 31), "rms_norm: too many rows");
  // x is only read: the kernel's residual slot serves as the input row.
  launch_rms_norm<false>(const_cast<float*>(p.x), nullptr, p.w, p.y, p.rows, p.dim, ldx, 0, ldy,
                         p.eps, stream);
}

void add_rms_norm(const AddRmsNormParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.rows >= 0 && p.dim > 0, "add_rms_norm: bad shape");
  if (p.rows == 0) return;
  const int64_t ldr = p.ld_residual ? p.ld_residual : p.dim, ldx = p.ldx ? p.ldx : p.dim,
                ldy = p.ldy ? p.ldy : p.dim;
  SIEVE_CUDA_REQUIRE(ldr >= p.dim && ldx >= p.dim && ldy >= p.dim,
                     "add_rms_norm: row stride below dim");
  SIEVE_CUDA_REQUIRE(p.residual != nullptr && p.x != nullptr && p.w != nullptr && p.y != nullptr,
                     "add_rms_norm: null pointer");
  SIEVE_CUDA_REQUIRE(p.rows < (int64_t{1} << 31), "add_rms_norm: too many rows");
  launch_rms_norm<true>(p.residual, p.x, p.w, p.y, p.rows, p.dim, ldr, ldx, ldy, p.eps, stream);
}

void rope(const RopeParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tokens >= 0 && p.heads >= 0 && p.head_dim > 0, "rope: bad shape");
  SIEVE_CUDA_REQUIRE(p.rotary_dim >= 0 && p.rotary_dim <= p.head_dim && p.rotary_dim % 2 == 0,
                     "rope: rotary_dim must be even and at most head_dim");
  const int64_t half = p.rotary_dim / 2;
  if (p.tokens == 0 || p.heads == 0 || half == 0) return;
  const int64_t ld = p.ld_token ? p.ld_token : p.heads * p.head_dim;
  SIEVE_CUDA_REQUIRE(ld >= p.heads * p.head_dim, "rope: token stride below heads * head_dim");
  SIEVE_CUDA_REQUIRE(p.x != nullptr && p.positions != nullptr && p.inv_freq != nullptr,
                     "rope: null pointer");
  SIEVE_CUDA_REQUIRE(p.tokens < (int64_t{1} << 31), "rope: too many tokens");
  SIEVE_CUDA_REQUIRE(half <= 4096, "rope: rotary_dim above 8192");
  const int threads = block_threads(p.heads * half);
  const size_t smem = static_cast<size_t>(2 * half) * sizeof(float);
  const dim3 grid(static_cast<unsigned>(p.tokens));
  if (p.neox) {
    rope_kernel<true><<<grid, threads, smem, stream>>>(p.x, p.positions, p.inv_freq, p.heads,
                                                       p.head_dim, half, ld, p.attention_scaling);
  } else {
    rope_kernel<false><<<grid, threads, smem, stream>>>(p.x, p.positions, p.inv_freq, p.heads,
                                                        p.head_dim, half, ld, p.attention_scaling);
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

void silu_mul(const SiluMulParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.rows >= 0 && p.inter >= 0, "silu_mul: negative shape");
  if (p.rows == 0 || p.inter == 0) return;
  const int64_t ld_gu = p.ld_gu ? p.ld_gu : 2 * p.inter, ld_out = p.ld_out ? p.ld_out : p.inter;
  SIEVE_CUDA_REQUIRE(ld_gu >= 2 * p.inter && ld_out >= p.inter, "silu_mul: row stride too small");
  SIEVE_CUDA_REQUIRE(p.gu != nullptr && p.out != nullptr, "silu_mul: null pointer");
  const bool vec =
      p.inter % 4 == 0 && ld_gu % 4 == 0 && ld_out % 4 == 0 && aligned16(p.gu) && aligned16(p.out);
  const int threads = kMaxThreads;
  const unsigned blocks = flat_blocks(p.rows * (vec ? p.inter / 4 : p.inter), threads);
  if (vec) {
    silu_mul_kernel<true>
        <<<blocks, threads, 0, stream>>>(p.gu, p.out, p.rows, p.inter, ld_gu, ld_out);
  } else {
    silu_mul_kernel<false>
        <<<blocks, threads, 0, stream>>>(p.gu, p.out, p.rows, p.inter, ld_gu, ld_out);
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

void clamp(float* x, int64_t n, float limit, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(n >= 0, "clamp: negative size");
  if (n == 0) return;
  SIEVE_CUDA_REQUIRE(x != nullptr, "clamp: null pointer");
  SIEVE_CUDA_REQUIRE(reinterpret_cast<uintptr_t>(x) % alignof(float) == 0,
                     "clamp: misaligned pointer");
  const int threads = kMaxThreads;
  // At least 4 threads' worth of head/tail handling fits in the first block.
  clamp_kernel<<<flat_blocks((n + 3) / 4, threads), threads, 0, stream>>>(x, n, limit);
  SIEVE_CUDA_CHECK_LAUNCH();
}

void add_bias(float* y, const float* bias, int64_t rows, int64_t n, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(rows >= 0 && n >= 1, "add_bias: sizes");
  if (rows == 0) return;
  SIEVE_CUDA_REQUIRE(y && bias, "add_bias: null pointer");
  add_bias_kernel<<<flat_blocks(rows * n, kMaxThreads), kMaxThreads, 0, stream>>>(y, bias, rows * n,
                                                                                  n);
  SIEVE_CUDA_CHECK_LAUNCH();
}

void kv_write(const KvWriteParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tokens >= 0 && p.num_kv_heads >= 0 && p.head_dim >= 0,
                     "kv_write: negative shape");
  const int64_t row = p.num_kv_heads * p.head_dim;
  if (p.tokens == 0 || row == 0) return;
  const int64_t ld_k = p.ld_k ? p.ld_k : row, ld_v = p.ld_v ? p.ld_v : row;
  SIEVE_CUDA_REQUIRE(ld_k >= row && ld_v >= row, "kv_write: token stride below row width");
  SIEVE_CUDA_REQUIRE(p.k != nullptr && p.v != nullptr && p.slots != nullptr &&
                         p.k_cache != nullptr && p.v_cache != nullptr,
                     "kv_write: null pointer");
  SIEVE_CUDA_REQUIRE(p.tokens < (int64_t{1} << 31), "kv_write: too many tokens");
  const bool vec = row % 4 == 0 && ld_k % 4 == 0 && ld_v % 4 == 0 && aligned16(p.k) &&
                   aligned16(p.v) && aligned16(p.k_cache) && aligned16(p.v_cache);
  const int threads = block_threads(vec ? row / 4 : row);
  const dim3 grid(static_cast<unsigned>(p.tokens));
  if (vec) {
    kv_write_kernel<true>
        <<<grid, threads, 0, stream>>>(p.k, p.v, p.slots, p.k_cache, p.v_cache, row, ld_k, ld_v);
  } else {
    kv_write_kernel<false>
        <<<grid, threads, 0, stream>>>(p.k, p.v, p.slots, p.k_cache, p.v_cache, row, ld_k, ld_v);
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
