// The MoE expert pipeline (see moe.h): align, permute, silu·mul, unpermute, the workspace and
// moe_experts, which runs them around the expert products. Kernels first, in pipeline order,
// then the host entries. The products are elsewhere: moe_cuda_core_gemm.cu (grouped, skinny),
// moe_tensor_gemm.cu and moe_wgmma_gemm.cu (tensor cores).
#include "kernels/cuda/moe.h"

#include <cuda_bf16.h>

#include <algorithm>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/moe_tiles.cuh"

namespace sieve::cuda {
namespace {

using moe_detail::fits_int;
using moe_detail::kFullMask;
using moe_detail::silu_times;

// ---------------------------------------------------------------------------------------------
// 1. align. One CTA of kAlignThreads threads (the assignment count of a step is small next to
// the GEMMs, and one CTA keeps the order decision in one place):
//   a. count per expert (shared-memory atomics on integers: the counts are exact whatever order
//      the adds land in);
//   b. exclusive scan of the counts → offsets, cursor[e] = offsets[e];
//   c. stable placement, kAlignThreads assignments per round: within a warp the rank among
//      equal experts comes from __match_any_sync, across the warps of the round from per-warp
//      counts in shared memory, across rounds from cursor[]. Every position is a function of
//      the ids alone, so the order is deterministic.
constexpr int kAlignThreads = 256;
constexpr int kAlignWarps = kAlignThreads / 32;

// Shared memory: cursor [num_experts] + warp_counts [kAlignWarps, num_experts] int32.
__global__ void __launch_bounds__(kAlignThreads)
    moe_align_kernel(const int32_t* __restrict__ topk_ids,  // [rows]
                     int32_t* __restrict__ counts,          // [num_experts]
                     int32_t* __restrict__ offsets,         // [num_experts + 1]
                     int32_t* __restrict__ sorted_rows,     // [rows]
                     int32_t* __restrict__ inverse,         // [rows]
                     int rows, int num_experts) {
  extern __shared__ int32_t smem[];
  int32_t* cursor = smem;                     // [num_experts]
  int32_t* warp_counts = smem + num_experts;  // [kAlignWarps, num_experts]
  __shared__ int32_t warp_sums[kAlignWarps];
  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;

  for (int i = tid; i < num_experts * (kAlignWarps + 1); i += kAlignThreads)
    smem[i] = 0;
  __syncthreads();

  // a. counts
  for (int a = tid; a < rows; a += kAlignThreads) {
    const int e = topk_ids[a];
    if (e < 0 || e >= num_experts) __trap();
    atomicAdd(&cursor[e], 1);
  }
  __syncthreads();

  // b. scan: thread tid owns experts [tid * per, (tid + 1) * per).
  const int per = (num_experts + kAlignThreads - 1) / kAlignThreads;  // <= 4
  const int e_begin = min(tid * per, num_experts), e_end = min(e_begin + per, num_experts);
  int mine = 0;
  for (int e = e_begin; e < e_end; ++e)
    mine += cursor[e];
  int incl = mine;
  for (int d = 1; d < 32; d *= 2) {
    const int v = __shfl_up_sync(kFullMask, incl, d);
    if (lane >= d) incl += v;
  }
  if (lane == 31) warp_sums[warp] = incl;
  __syncthreads();
  int run = incl - mine;
  for (int w = 0; w < warp; ++w)
    run += warp_sums[w];
  for (int e = e_begin; e < e_end; ++e) {
    const int c = cursor[e];
    counts[e] = c;
    offsets[e] = run;
    cursor[e] = run;
    run += c;
  }
  if (tid == 0) offsets[num_experts] = rows;
  __syncthreads();

  // c. stable placement, one round of kAlignThreads assignments at a time.
  const unsigned lanes_below = (1u << lane) - 1u;
  for (int base = 0; base < rows; base += kAlignThreads) {
    const int a = base + tid;
    const bool valid = a < rows;
    const int e = valid ? topk_ids[a] : -1;
    const unsigned same = __match_any_sync(kFullMask, e);
    const bool leader = (__ffs(same) - 1) == lane;
    if (valid && leader) warp_counts[warp * num_experts + e] = __popc(same);
    __syncthreads();
    if (valid) {
      int pos = cursor[e] + __popc(same & lanes_below);
      for (int w = 0; w < warp; ++w)
        pos += warp_counts[w * num_experts + e];
      sorted_rows[pos] = a;
      inverse[a] = pos;
    }
    __syncthreads();
    if (valid && leader) {
      atomicAdd(&cursor[e], __popc(same));  // integer adds: order-independent
      warp_counts[warp * num_experts + e] = 0;
    }
    __syncthreads();
  }
}

// ---------------------------------------------------------------------------------------------
// 2. permute: one CTA per sorted row.
constexpr int kRowThreads = 256;

// The value a bf16 operand holds for v (round to nearest even), as fp32.
__device__ __forceinline__ float bf16_value(float v) {
  return __bfloat162float(__float2bfloat16_rn(v));
}

template <bool kRoundToBf16>
__global__ void __launch_bounds__(kRowThreads)
    moe_permute_kernel(const float* __restrict__ x,              // [tokens, hidden]
                       const int32_t* __restrict__ sorted_rows,  // [rows]
                       float* __restrict__ x_sorted,             // [rows, hidden]
                       int top_k, int hidden) {
  const int64_t i = blockIdx.x;
  const int64_t t = sorted_rows[i] / top_k;
  const float* src = x + t * hidden;
  float* dst = x_sorted + i * hidden;
  for (int h = threadIdx.x; h < hidden; h += kRowThreads)
    dst[h] = kRoundToBf16 ? bf16_value(src[h]) : src[h];
}

// The same gather rounding to bf16, 8 elements (two float4 loads, one 16-byte store) per thread.
__global__ void __launch_bounds__(kRowThreads)
    moe_permute_bf16_kernel(const float* __restrict__ x,              // [tokens, hidden]
                            const int32_t* __restrict__ sorted_rows,  // [rows]
                            __nv_bfloat16* __restrict__ x_sorted,     // [rows, hidden]
                            int top_k, int hidden) {
  const int64_t i = blockIdx.x;
  const int64_t t = sorted_rows[i] / top_k;
  const float4* src = reinterpret_cast<const float4*>(x + t * hidden);
  uint4* dst = reinterpret_cast<uint4*>(x_sorted + i * hidden);
  for (int h8 = threadIdx.x; h8 < hidden / 8; h8 += kRowThreads) {
    const float4 lo = src[2 * h8], hi = src[2 * h8 + 1];
    const __nv_bfloat162 v[4] = {
        __floats2bfloat162_rn(lo.x, lo.y), __floats2bfloat162_rn(lo.z, lo.w),
        __floats2bfloat162_rn(hi.x, hi.y), __floats2bfloat162_rn(hi.z, hi.w)};
    dst[h8] = *reinterpret_cast<const uint4*>(v);
  }
}

// ---------------------------------------------------------------------------------------------
// (3. the expert products: moe_cuda_core_gemm.cu, moe_tensor_gemm.cu, moe_wgmma_gemm.cu.)
// 4. silu · mul, one thread per output element.
template <bool kRoundToBf16>
__global__ void __launch_bounds__(kRowThreads)
    silu_mul_kernel(const float* __restrict__ gate_up,  // [rows, 2 * inter]
                    float* __restrict__ act,            // [rows, inter]
                    int64_t rows, int inter) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kRowThreads + threadIdx.x;
  if (idx >= rows * inter) return;
  const int64_t r = idx / inter, i = idx % inter;
  const float g = gate_up[r * 2 * inter + i];
  const float u = gate_up[r * 2 * inter + inter + i];
  const float a = silu_times(g, u);
  act[idx] = kRoundToBf16 ? bf16_value(a) : a;
}

// ---------------------------------------------------------------------------------------------
// 5. unpermute and combine: one CTA per token, j in ascending order.
__global__ void __launch_bounds__(kRowThreads)
    moe_unpermute_kernel(const float* __restrict__ y_sorted,      // [rows, hidden]
                         const int32_t* __restrict__ inverse,     // [tokens * top_k]
                         const float* __restrict__ topk_weights,  // [tokens, top_k]
                         float* __restrict__ out,                 // [tokens, hidden]
                         int top_k, int hidden) {
  const int64_t t = blockIdx.x;
  for (int h = threadIdx.x; h < hidden; h += kRowThreads) {
    float acc = 0.f;
    for (int j = 0; j < top_k; ++j) {
      const int64_t r = inverse[t * top_k + j];
      acc = fmaf(topk_weights[t * top_k + j], y_sorted[r * hidden + h], acc);
    }
    out[t * hidden + h] = acc;
  }
}

// ---------------------------------------------------------------------------------------------
// Workspace.

constexpr size_t kWorkspaceAlign = 256;
size_t align_up(size_t bytes) {
  return (bytes + kWorkspaceAlign - 1) / kWorkspaceAlign * kWorkspaceAlign;
}

// Workspace layout, in this order, each region 256-byte aligned.
struct MoeWorkspace {
  int32_t* counts;       // [num_experts]
  int32_t* offsets;      // [num_experts + 1]
  int32_t* sorted_rows;  // [rows]
  int32_t* inverse;      // [rows]
  float* x_sorted;       // [rows, hidden]; reused as y_sorted after the gate_up GEMM
  float* gate_up;        // [rows, 2 * inter]
  float* act;            // [rows, inter]
  // The tensor-core path's bf16 operands, in the regions the fp32 path uses: x_bf16 [rows,
  // hidden] where gate_up is (sized for both), act_bf16 [rows, inter] where act is.
  void* x_bf16;
  void* act_bf16;
  size_t bytes;
};

MoeWorkspace carve(char* base, int64_t tokens, int64_t top_k, int64_t num_experts, int64_t hidden,
                   int64_t inter) {
  const size_t rows = static_cast<size_t>(tokens * top_k);
  size_t at = 0;
  auto take = [&](size_t bytes) {
    char* p = base ? base + at : nullptr;
    at += align_up(bytes);
    return p;
  };
  MoeWorkspace ws{};
  ws.counts = reinterpret_cast<int32_t*>(take(sizeof(int32_t) * num_experts));
  ws.offsets = reinterpret_cast<int32_t*>(take(sizeof(int32_t) * (num_experts + 1)));
  ws.sorted_rows = reinterpret_cast<int32_t*>(take(sizeof(int32_t) * rows));
  ws.inverse = reinterpret_cast<int32_t*>(take(sizeof(int32_t) * rows));
  ws.x_sorted = reinterpret_cast<float*>(take(sizeof(float) * rows * hidden));
  ws.gate_up = reinterpret_cast<float*>(
      take(rows * std::max<size_t>(sizeof(float) * 2 * inter, sizeof(uint16_t) * hidden)));
  ws.act = reinterpret_cast<float*>(take(sizeof(float) * rows * inter));
  ws.x_bf16 = ws.gate_up;
  ws.act_bf16 = ws.act;
  ws.bytes = at;
  return ws;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Argument checks shared by the expert products (moe_tiles.cuh).
namespace moe_detail {
namespace {

// Sizes, int32 range and pointers; false when there are no rows.
bool check_product(const char* kernel, int64_t rows, int64_t num_experts, int64_t n, int64_t k,
                   bool pointers_set) {
  auto require = [kernel](bool ok, const char* what) {
    if (!ok) cuda_fail(what, (std::string(kernel) + ": " + what).c_str(), __FILE__, __LINE__);
  };
  require(rows >= 0 && n >= 1 && k >= 1, "sizes");
  require(num_experts >= 1, "num_experts >= 1");
  require(fits_int(rows) && fits_int(n) && fits_int(k) && fits_int(num_experts), "sizes fit int32");
  if (rows == 0) return false;
  require(pointers_set, "null pointer");
  return true;
}

}  // namespace

bool check_expert_product(const GroupedGemmParams& p, const char* kernel) {
  return check_product(kernel, p.rows, p.num_experts, p.n, p.k, p.a && p.w && p.offsets && p.c);
}

bool check_tensor_gemm(const TensorGemmParams& p, const char* kernel) {
  if (p.k % 8 != 0 || p.n % 8 != 0) {
    cuda_fail("k % 8, n % 8", (std::string(kernel) + ": k and n must be multiples of 8").c_str(),
              __FILE__, __LINE__);
  }
  if (!check_product(kernel, p.rows, p.num_experts, p.fused_silu ? 2 * p.n : p.n, p.k,
                     p.a && p.w && p.offsets && p.c)) {
    return false;
  }
  if (reinterpret_cast<uintptr_t>(p.a) % 16 != 0 || reinterpret_cast<uintptr_t>(p.c) % 16 != 0) {
    cuda_fail("alignment", (std::string(kernel) + ": a and c must be 16-byte aligned").c_str(),
              __FILE__, __LINE__);
  }
  return true;
}

}  // namespace moe_detail

// ---------------------------------------------------------------------------------------------
// Host entries.

void moe_align(const MoeAlignParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tokens >= 0 && p.top_k >= 1, "moe_align: tokens >= 0, top_k >= 1");
  SIEVE_CUDA_REQUIRE(p.num_experts >= 1 && p.num_experts <= kMoeMaxExperts,
                     "moe_align: 1 <= num_experts <= kMoeMaxExperts");
  SIEVE_CUDA_REQUIRE(fits_int(p.tokens * p.top_k), "moe_align: tokens * top_k fits int32");
  SIEVE_CUDA_REQUIRE(p.counts && p.offsets, "moe_align: null output");
  const int rows = static_cast<int>(p.tokens * p.top_k);
  if (rows > 0) SIEVE_CUDA_REQUIRE(p.topk_ids && p.sorted_rows && p.inverse, "moe_align: null");
  const size_t smem = sizeof(int32_t) * p.num_experts * (kAlignWarps + 1);
  moe_align_kernel<<<1, kAlignThreads, smem, stream>>>(p.topk_ids, p.counts, p.offsets,
                                                       p.sorted_rows, p.inverse, rows,
                                                       static_cast<int>(p.num_experts));
  SIEVE_CUDA_CHECK_LAUNCH();
}

void moe_permute(const MoePermuteParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tokens >= 0 && p.top_k >= 1 && p.hidden >= 1, "moe_permute: sizes");
  SIEVE_CUDA_REQUIRE(fits_int(p.tokens * p.top_k) && fits_int(p.hidden), "moe_permute: int32");
  const int64_t rows = p.tokens * p.top_k;
  if (rows == 0) return;
  SIEVE_CUDA_REQUIRE(p.x && p.sorted_rows && (p.x_sorted || p.x_sorted_bf16),
                     "moe_permute: null pointer");
  if (p.x_sorted_bf16 != nullptr) {
    SIEVE_CUDA_REQUIRE(p.hidden % 8 == 0 && reinterpret_cast<uintptr_t>(p.x) % 16 == 0 &&
                           reinterpret_cast<uintptr_t>(p.x_sorted_bf16) % 16 == 0,
                       "moe_permute: bf16 rows need hidden % 8 == 0 and 16-byte aligned buffers");
    moe_permute_bf16_kernel<<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(
        p.x, p.sorted_rows, static_cast<__nv_bfloat16*>(p.x_sorted_bf16), static_cast<int>(p.top_k),
        static_cast<int>(p.hidden));
  } else {
    auto kernel = p.round_to_bf16 ? moe_permute_kernel<true> : moe_permute_kernel<false>;
    kernel<<<static_cast<unsigned>(rows), kRowThreads, 0, stream>>>(
        p.x, p.sorted_rows, p.x_sorted, static_cast<int>(p.top_k), static_cast<int>(p.hidden));
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

const char* moe_gemm_variant_name(MoeGemmVariant v) {
  switch (v) {
    case MoeGemmVariant::kAuto:
      return "auto";
    case MoeGemmVariant::kGrouped:
      return "grouped";
    case MoeGemmVariant::kSkinny:
      return "skinny";
    case MoeGemmVariant::kTensorCore:
      return "tensor";
    case MoeGemmVariant::kTensorCoreHalf:
      return "tensor_half";
    case MoeGemmVariant::kWgmma:
      return "wgmma";
  }
  return "unknown";
}

bool moe_gemm_variant_supported(MoeGemmVariant v, int64_t hidden, int64_t inter,
                                WeightType w_type) {
  const int64_t per_load = w_type == WeightType::kF32 ? 4 : 8;
  switch (v) {
    case MoeGemmVariant::kAuto:
    case MoeGemmVariant::kGrouped:
      return true;
    // The workspace's activation buffers are 256-byte aligned and rows of k floats: 16-byte
    // aligned when k % 4 == 0.
    case MoeGemmVariant::kSkinny:
      return hidden % per_load == 0 && inter % per_load == 0;
    case MoeGemmVariant::kTensorCore:
    case MoeGemmVariant::kTensorCoreHalf:
    case MoeGemmVariant::kWgmma:
      return moe_tensor_gemm_supported(hidden, inter, w_type);
  }
  return false;
}

MoeGemmVariant moe_choose_gemm(int64_t rows, int64_t num_experts, int64_t hidden, int64_t inter,
                               WeightType w_type) {
  auto ok = [&](MoeGemmVariant v) { return moe_gemm_variant_supported(v, hidden, inter, w_type); };
  if (rows <= 4 * num_experts && ok(MoeGemmVariant::kSkinny)) return MoeGemmVariant::kSkinny;
  if (ok(MoeGemmVariant::kTensorCore)) {
    // Under a full tile per expert on average, half-height tiles waste less padding.
    return rows < kMoeTensorTileRows * num_experts ? MoeGemmVariant::kTensorCoreHalf
                                                   : MoeGemmVariant::kTensorCore;
  }
  return MoeGemmVariant::kGrouped;
}

namespace {

template <bool kRoundToBf16>
void launch_silu_mul(const float* gate_up, float* act, int64_t rows, int64_t inter,
                     cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(rows >= 0 && inter >= 1 && fits_int(inter), "moe_silu_mul: sizes");
  const int64_t total = rows * inter;
  if (total == 0) return;
  SIEVE_CUDA_REQUIRE(gate_up && act, "moe_silu_mul: null pointer");
  const int64_t blocks = (total + kRowThreads - 1) / kRowThreads;
  SIEVE_CUDA_REQUIRE(fits_int(blocks), "moe_silu_mul: too many elements");
  silu_mul_kernel<kRoundToBf16><<<static_cast<unsigned>(blocks), kRowThreads, 0, stream>>>(
      gate_up, act, rows, static_cast<int>(inter));
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void moe_silu_mul(const float* gate_up, float* act, int64_t rows, int64_t inter,
                  cudaStream_t stream) {
  launch_silu_mul<false>(gate_up, act, rows, inter, stream);
}

void moe_silu_mul_bf16(const float* gate_up, float* act, int64_t rows, int64_t inter,
                       cudaStream_t stream) {
  launch_silu_mul<true>(gate_up, act, rows, inter, stream);
}

void moe_unpermute(const MoeUnpermuteParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tokens >= 0 && p.top_k >= 1 && p.hidden >= 1, "moe_unpermute: sizes");
  SIEVE_CUDA_REQUIRE(fits_int(p.tokens * p.top_k) && fits_int(p.hidden), "moe_unpermute: int32");
  if (p.tokens == 0) return;
  SIEVE_CUDA_REQUIRE(p.y_sorted && p.inverse && p.topk_weights && p.out,
                     "moe_unpermute: null pointer");
  moe_unpermute_kernel<<<static_cast<unsigned>(p.tokens), kRowThreads, 0, stream>>>(
      p.y_sorted, p.inverse, p.topk_weights, p.out, static_cast<int>(p.top_k),
      static_cast<int>(p.hidden));
  SIEVE_CUDA_CHECK_LAUNCH();
}

size_t moe_workspace_bytes(int64_t tokens, int64_t top_k, int64_t num_experts, int64_t hidden,
                           int64_t inter) {
  return carve(nullptr, tokens, top_k, num_experts, hidden, inter).bytes;
}

void moe_experts(const MoeParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tokens >= 0 && p.top_k >= 1 && p.hidden >= 1 && p.inter >= 1,
                     "moe_experts: sizes");
  SIEVE_CUDA_REQUIRE(p.num_experts >= 1 && p.num_experts <= kMoeMaxExperts,
                     "moe_experts: 1 <= num_experts <= kMoeMaxExperts");
  if (p.tokens == 0) return;
  SIEVE_CUDA_REQUIRE(p.x && p.topk_ids && p.topk_weights && p.gate_up && p.down && p.out,
                     "moe_experts: null pointer");
  SIEVE_CUDA_REQUIRE(p.workspace != nullptr &&
                         p.workspace_bytes >= moe_workspace_bytes(p.tokens, p.top_k, p.num_experts,
                                                                  p.hidden, p.inter),
                     "moe_experts: workspace smaller than moe_workspace_bytes()");
  SIEVE_CUDA_REQUIRE(reinterpret_cast<uintptr_t>(p.workspace) % kWorkspaceAlign == 0,
                     "moe_experts: workspace not 256-byte aligned");
  const MoeWorkspace ws =
      carve(static_cast<char*>(p.workspace), p.tokens, p.top_k, p.num_experts, p.hidden, p.inter);
  const int64_t rows = p.tokens * p.top_k;

  MoeAlignParams al;
  al.topk_ids = p.topk_ids;
  al.counts = ws.counts;
  al.offsets = ws.offsets;
  al.sorted_rows = ws.sorted_rows;
  al.inverse = ws.inverse;
  al.tokens = p.tokens;
  al.top_k = p.top_k;
  al.num_experts = p.num_experts;
  moe_align(al, stream);

  // Biases and the clamped activation sit between the products: the CUDA-core kernels only.
  const bool plain_swiglu = !p.gate_up_bias && !p.down_bias && p.swiglu_limit <= 0.f;
  MoeGemmVariant variant = p.gemm != MoeGemmVariant::kAuto
                               ? p.gemm
                               : moe_choose_gemm(rows, p.num_experts, p.hidden, p.inter, p.w_type);
  if (!plain_swiglu && variant != MoeGemmVariant::kGrouped && variant != MoeGemmVariant::kSkinny) {
    variant = MoeGemmVariant::kGrouped;
  }
  if (!moe_gemm_variant_supported(variant, p.hidden, p.inter, p.w_type)) {
    cuda_fail("moe_gemm_variant_supported",
              (std::string("moe_experts: expert-product variant '") +
               moe_gemm_variant_name(variant) + "' does not support these shapes or weights")
                  .c_str(),
              __FILE__, __LINE__);
  }
  const bool tensor = variant == MoeGemmVariant::kTensorCore ||
                      variant == MoeGemmVariant::kTensorCoreHalf ||
                      variant == MoeGemmVariant::kWgmma;
  auto tensor_gemm = [&](const TensorGemmParams& t) {
    if (variant == MoeGemmVariant::kWgmma) {
      moe_wgmma_gemm(t, stream);
    } else {
      moe_tensor_gemm(t, stream);
    }
  };

  MoePermuteParams pe;
  pe.x = p.x;
  pe.sorted_rows = ws.sorted_rows;
  const bool round_activations = p.bf16_activations && p.w_type == WeightType::kBF16;
  if (tensor) {
    pe.x_sorted_bf16 = ws.x_bf16;
  } else {
    pe.x_sorted = ws.x_sorted;
    pe.round_to_bf16 = round_activations;
  }
  pe.tokens = p.tokens;
  pe.top_k = p.top_k;
  pe.hidden = p.hidden;
  moe_permute(pe, stream);

  MoeUnpermuteParams un;
  un.y_sorted = ws.x_sorted;  // x_sorted is dead after the gate_up product
  un.inverse = ws.inverse;
  un.topk_weights = p.topk_weights;
  un.out = p.out;
  un.tokens = p.tokens;
  un.top_k = p.top_k;
  un.hidden = p.hidden;

  if (tensor) {
    TensorGemmParams t;
    t.a = ws.x_bf16;
    t.w = p.gate_up;
    t.offsets = ws.offsets;
    t.c = ws.act_bf16;
    t.rows = rows;
    t.num_experts = p.num_experts;
    t.n = p.inter;
    t.k = p.hidden;
    t.fused_silu = true;
    t.tile_rows =
        variant == MoeGemmVariant::kTensorCore ? kMoeTensorTileRows : kMoeTensorTileRows / 2;
    tensor_gemm(t);
    t.a = ws.act_bf16;
    t.w = p.down;
    t.c = ws.x_sorted;
    t.n = p.hidden;
    t.k = p.inter;
    t.fused_silu = false;
    tensor_gemm(t);
    moe_unpermute(un, stream);
    return;
  }

  auto gemm = [&](const GroupedGemmParams& g) {
    if (variant == MoeGemmVariant::kSkinny) {
      moe_skinny_gemm(g, stream);
    } else {
      moe_grouped_gemm(g, stream);
    }
  };

  GroupedGemmParams g;
  g.a = ws.x_sorted;
  g.w = p.gate_up;
  g.w_type = p.w_type;
  g.offsets = ws.offsets;
  g.c = ws.gate_up;
  g.rows = rows;
  g.num_experts = p.num_experts;
  g.n = 2 * p.inter;
  g.k = p.hidden;
  gemm(g);

  if (!plain_swiglu) {
    MoeExpertActParams a;
    a.gate_up = ws.gate_up;
    a.act = ws.act;
    a.offsets = ws.offsets;
    a.gate_up_bias = p.gate_up_bias;
    a.rows = rows;
    a.inter = p.inter;
    a.num_experts = p.num_experts;
    a.swiglu_limit = p.swiglu_limit;
    a.swiglu_alpha = p.swiglu_alpha;
    a.round_to_bf16 = round_activations;
    moe_expert_act(a, stream);
  } else if (round_activations) {
    moe_silu_mul_bf16(ws.gate_up, ws.act, rows, p.inter, stream);
  } else {
    moe_silu_mul(ws.gate_up, ws.act, rows, p.inter, stream);
  }

  g.a = ws.act;
  g.w = p.down;
  g.c = ws.x_sorted;  // y_sorted
  g.n = p.hidden;
  g.k = p.inter;
  gemm(g);
  if (p.down_bias) {
    moe_add_expert_bias(ws.x_sorted, ws.offsets, p.down_bias, p.num_experts, rows, p.hidden,
                        stream);
  }

  moe_unpermute(un, stream);
}

// ---------------------------------------------------------------------------------------------
// 4b, 4c. Experts with biases and gpt-oss's clamped SwiGLU: the activation between the two
// products with each row's expert's gate_up bias added first, and the down bias added to each
// row before the combine. A row's expert comes from the offsets the align step wrote (a binary
// search over num_experts + 1 values), so no launch depends on device contents and the pipeline
// stays capturable in a CUDA graph.
namespace {

constexpr int kBiasThreads = 256;

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
__global__ void __launch_bounds__(kBiasThreads)
    expert_act_kernel(const float* __restrict__ gate_up,  // [rows, 2 * inter]
                      float* __restrict__ act,            // [rows, inter]
                      const int32_t* __restrict__ offsets, const float* const* __restrict__ bias,
                      int num_experts, int64_t rows, int inter, float limit, float alpha,
                      bool round_bf16) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kBiasThreads + threadIdx.x;
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

__global__ void __launch_bounds__(kBiasThreads)
    row_bias_kernel(float* __restrict__ y,  // [rows, n]
                    const int32_t* __restrict__ offsets, const float* const* __restrict__ bias,
                    int num_experts, int64_t rows, int n) {
  const int64_t idx = static_cast<int64_t>(blockIdx.x) * kBiasThreads + threadIdx.x;
  if (idx >= rows * n) return;
  const int64_t r = idx / n;
  y[idx] += bias[expert_of_row(offsets, num_experts, r)][idx % n];
}

unsigned blocks_for(int64_t n, const char* what) {
  const int64_t blocks = (n + kBiasThreads - 1) / kBiasThreads;
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
                      kBiasThreads, 0, stream>>>(
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
  row_bias_kernel<<<blocks_for(rows * n, "moe_add_expert_bias: too many elements"), kBiasThreads, 0,
                    stream>>>(y, offsets, bias, static_cast<int>(num_experts), rows,
                              static_cast<int>(n));
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace sieve::cuda
