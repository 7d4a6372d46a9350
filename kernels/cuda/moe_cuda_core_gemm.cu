// The CUDA-core expert products of the MoE pipeline (see moe.h): the grouped GEMM on fp32 CUDA
// cores (moe_grouped_gemm) and the skinny decode GEMM (moe_skinny_gemm). The tensor-core
// products are in moe_tensor_gemm.cu and moe_wgmma_gemm.cu; moe.cu holds the rest of the
// pipeline.
#include <cuda_bf16.h>

#include <algorithm>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/moe.h"
#include "kernels/cuda/moe_tiles.cuh"

namespace sieve::cuda {
namespace {

using moe_detail::check_expert_product;
using moe_detail::claim_row_tile;
using moe_detail::fits_int;
using moe_detail::kFullMask;
using moe_detail::kMaxGridY;
using moe_detail::row_tile_bound;

// ---------------------------------------------------------------------------------------------
// 3. grouped GEMM. CTA tile kTileM rows × kTileN outputs, k in steps of kTileK through shared
// memory (stored k-major, padded by one float so the transposing stores do not conflict), the
// next k step prefetched into registers while the current one is multiplied. 256 threads, each
// owning a 4×4 block of outputs (rows ty + 16 i, columns tx + 16 j). blockIdx.x: column tile;
// blockIdx.y: row tile in the flattened list of all experts' row tiles (an upper bound is
// launched; tiles past the real ones exit at once).
constexpr int kTileM = 64, kTileN = 64, kTileK = 32;
constexpr int kGemmThreads = 256;
constexpr int kLoadsPerThread = kTileM * kTileK / kGemmThreads;  // 8, same for the W tile
static_assert(kTileM == kTileN, "one load mapping serves both tiles");

__device__ __forceinline__ float to_float(float v) {
  return v;
}
__device__ __forceinline__ float to_float(__nv_bfloat16 v) {
  return __bfloat162float(v);
}

template <class W>
__global__ void __launch_bounds__(kGemmThreads)
    grouped_gemm_kernel(const float* __restrict__ a,          // [rows, k]
                        const void* const* __restrict__ w,    // [num_experts] → [n, k]
                        const int32_t* __restrict__ offsets,  // [num_experts + 1]
                        float* __restrict__ c,                // [rows, n]
                        int num_experts, int n, int k) {
  __shared__ float as[kTileK][kTileM + 1];
  __shared__ float ws[kTileK][kTileN + 1];
  const moe_detail::RowTile tile = claim_row_tile(offsets, num_experts, kTileM);
  if (tile.expert < 0) return;
  const int expert = tile.expert, row0 = tile.row0, row1 = tile.row1;
  const int n0 = blockIdx.x * kTileN;
  const W* __restrict__ we = static_cast<const W*>(w[expert]);

  const int tid = threadIdx.x, tx = tid % 16, ty = tid / 16;
  float ra[kLoadsPerThread], rw[kLoadsPerThread];
  // Load mapping: element idx = tid + i * 256 of a 64 × 32 tile is (r = idx / 32, kk = idx % 32):
  // a warp reads 32 consecutive k of one row (coalesced).
  auto load = [&](int k0) {
#pragma unroll
    for (int i = 0; i < kLoadsPerThread; ++i) {
      const int idx = tid + i * kGemmThreads;
      const int r = idx / kTileK, kg = k0 + idx % kTileK;
      const int row = row0 + r, col = n0 + r;
      ra[i] = (row < row1 && kg < k) ? a[static_cast<int64_t>(row) * k + kg] : 0.f;
      rw[i] = (col < n && kg < k) ? to_float(we[static_cast<int64_t>(col) * k + kg]) : 0.f;
    }
  };
  auto store = [&]() {
#pragma unroll
    for (int i = 0; i < kLoadsPerThread; ++i) {
      const int idx = tid + i * kGemmThreads;
      const int r = idx / kTileK, kk = idx % kTileK;
      as[kk][r] = ra[i];
      ws[kk][r] = rw[i];
    }
  };

  float acc[4][4] = {};
  load(0);
  for (int k0 = 0; k0 < k; k0 += kTileK) {
    store();
    __syncthreads();
    if (k0 + kTileK < k) load(k0 + kTileK);
#pragma unroll
    for (int kk = 0; kk < kTileK; ++kk) {
      float av[4], wv[4];
#pragma unroll
      for (int i = 0; i < 4; ++i) {
        av[i] = as[kk][ty + 16 * i];
        wv[i] = ws[kk][tx + 16 * i];
      }
#pragma unroll
      for (int i = 0; i < 4; ++i) {
#pragma unroll
        for (int j = 0; j < 4; ++j)
          acc[i][j] = fmaf(av[i], wv[j], acc[i][j]);
      }
    }
    __syncthreads();
  }
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const int row = row0 + ty + 16 * i;
    if (row >= row1) continue;
#pragma unroll
    for (int j = 0; j < 4; ++j) {
      const int col = n0 + tx + 16 * j;
      if (col < n) c[static_cast<int64_t>(row) * n + col] = acc[i][j];
    }
  }
}

// ---------------------------------------------------------------------------------------------
// 3'. skinny grouped GEMM. blockIdx.y: the y-th non-empty expert (an upper bound of
// min(rows, num_experts) is launched; slots past the real ones exit at once); blockIdx.x: a
// tile of kSkinnyCols output columns, kSkinnyColsPerWarp per warp. A warp walks its columns'
// weight rows with 16-byte loads (8 bf16 or 4 fp32 per lane, kSkinnyUnroll loads in flight),
// multiplies them with up to kMoeSkinnyRows activation rows (read through the L1: every CTA of
// the expert reads the same few rows) and reduces each (row, column) across the lanes.
constexpr int kSkinnyWarps = 8;
constexpr int kSkinnyColsPerWarp = 4;
constexpr int kSkinnyCols = kSkinnyWarps * kSkinnyColsPerWarp;  // 32 columns per CTA
constexpr int kSkinnyRows = static_cast<int>(kMoeSkinnyRows);
constexpr int kSkinnyUnroll = 2;

// Finds the `slot`-th expert with rows (warp 0 only). Writes expert = -1 past the last one.
__device__ void find_expert_slot(const int32_t* __restrict__ offsets, int num_experts, int slot,
                                 int* s_expert) {
  const int lane = threadIdx.x;
  if (lane == 0) *s_expert = -1;
  __syncwarp();
  int before = 0;
  for (int e0 = 0; e0 < num_experts; e0 += 32) {
    const int e = e0 + lane;
    const bool busy = e < num_experts && offsets[e + 1] > offsets[e];
    const unsigned mask = __ballot_sync(kFullMask, busy);
    const int rank = before + __popc(mask & ((1u << lane) - 1u));
    if (busy && rank == slot) *s_expert = e;
    before += __popc(mask);
    if (before > slot) break;  // uniform across the warp
  }
}

// 16 bytes of weights as floats: 8 bf16 or 4 fp32.
template <class W>
struct Vec16;
template <>
struct Vec16<__nv_bfloat16> {
  static constexpr int kElems = 8;
  __device__ static void load(const __nv_bfloat16* p, float (&out)[8]) {
    const uint4 raw = __ldg(reinterpret_cast<const uint4*>(p));
    const __nv_bfloat162* h = reinterpret_cast<const __nv_bfloat162*>(&raw);
#pragma unroll
    for (int i = 0; i < 4; ++i) {
      const float2 f = __bfloat1622float2(h[i]);
      out[2 * i] = f.x;
      out[2 * i + 1] = f.y;
    }
  }
};
template <>
struct Vec16<float> {
  static constexpr int kElems = 4;
  __device__ static void load(const float* p, float (&out)[4]) {
    const float4 f = __ldg(reinterpret_cast<const float4*>(p));
    out[0] = f.x;
    out[1] = f.y;
    out[2] = f.z;
    out[3] = f.w;
  }
};

template <class W>
__global__ void __launch_bounds__(kSkinnyWarps * 32)
    skinny_gemm_kernel(const float* __restrict__ a,          // [rows, k]
                       const void* const* __restrict__ w,    // [num_experts] → [n, k]
                       const int32_t* __restrict__ offsets,  // [num_experts + 1]
                       float* __restrict__ c,                // [rows, n]
                       int num_experts, int n, int k) {
  constexpr int kV = Vec16<W>::kElems;
  __shared__ int s_expert;
  if (threadIdx.x < 32) find_expert_slot(offsets, num_experts, blockIdx.y, &s_expert);
  __syncthreads();
  const int expert = s_expert;
  if (expert < 0) return;
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int col0 = blockIdx.x * kSkinnyCols + warp * kSkinnyColsPerWarp;
  if (col0 >= n) return;
  const int ncols = min(kSkinnyColsPerWarp, n - col0);
  const W* __restrict__ we = static_cast<const W*>(w[expert]);
  const int beg = offsets[expert], end = offsets[expert + 1];
  constexpr int kStep = 32 * kV;  // k covered by one load per lane

  for (int r0 = beg; r0 < end; r0 += kSkinnyRows) {
    const int nrows = min(kSkinnyRows, end - r0);
    float acc[kSkinnyRows][kSkinnyColsPerWarp] = {};
    for (int k0 = lane * kV; k0 < k; k0 += kStep * kSkinnyUnroll) {
      float wv[kSkinnyUnroll][kSkinnyColsPerWarp][kV];
      // All weight loads first, so kSkinnyUnroll × columns loads are in flight per lane.
#pragma unroll
      for (int u = 0; u < kSkinnyUnroll; ++u) {
        const int kk = k0 + u * kStep;
#pragma unroll
        for (int j = 0; j < kSkinnyColsPerWarp; ++j) {
          if (j < ncols && kk < k) {
            Vec16<W>::load(we + static_cast<int64_t>(col0 + j) * k + kk, wv[u][j]);
          } else {
#pragma unroll
            for (int v = 0; v < kV; ++v)
              wv[u][j][v] = 0.f;
          }
        }
      }
#pragma unroll
      for (int u = 0; u < kSkinnyUnroll; ++u) {
        const int kk = k0 + u * kStep;
        if (kk >= k) break;
#pragma unroll
        for (int r = 0; r < kSkinnyRows; ++r) {
          if (r >= nrows) break;
          const float* ar = a + static_cast<int64_t>(r0 + r) * k + kk;
          float av[kV];
#pragma unroll
          for (int v = 0; v < kV; v += 4) {
            const float4 f = __ldg(reinterpret_cast<const float4*>(ar + v));
            av[v] = f.x;
            av[v + 1] = f.y;
            av[v + 2] = f.z;
            av[v + 3] = f.w;
          }
#pragma unroll
          for (int j = 0; j < kSkinnyColsPerWarp; ++j) {
#pragma unroll
            for (int v = 0; v < kV; ++v)
              acc[r][j] = fmaf(av[v], wv[u][j][v], acc[r][j]);
          }
        }
      }
    }
#pragma unroll
    for (int r = 0; r < kSkinnyRows; ++r) {
#pragma unroll
      for (int j = 0; j < kSkinnyColsPerWarp; ++j) {
        float v = acc[r][j];
#pragma unroll
        for (int d = 16; d > 0; d /= 2)
          v += __shfl_xor_sync(kFullMask, v, d);
        if (lane == 0 && r < nrows && j < ncols) c[static_cast<int64_t>(r0 + r) * n + col0 + j] = v;
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Launch functions.

void launch_grouped_gemm(const GroupedGemmParams& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((p.n + kTileN - 1) / kTileN),
                  static_cast<unsigned>(row_tile_bound(p.rows, p.num_experts, kTileM)));
  const int ne = static_cast<int>(p.num_experts), n = static_cast<int>(p.n),
            k = static_cast<int>(p.k);
  if (p.w_type == WeightType::kF32) {
    grouped_gemm_kernel<float>
        <<<grid, kGemmThreads, 0, stream>>>(p.a, p.w, p.offsets, p.c, ne, n, k);
  } else {
    grouped_gemm_kernel<__nv_bfloat16>
        <<<grid, kGemmThreads, 0, stream>>>(p.a, p.w, p.offsets, p.c, ne, n, k);
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

void launch_skinny_gemm(const GroupedGemmParams& p, cudaStream_t stream) {
  const dim3 grid(static_cast<unsigned>((p.n + kSkinnyCols - 1) / kSkinnyCols),
                  static_cast<unsigned>(std::min(p.rows, p.num_experts)));
  const int ne = static_cast<int>(p.num_experts), n = static_cast<int>(p.n),
            k = static_cast<int>(p.k);
  if (p.w_type == WeightType::kF32) {
    skinny_gemm_kernel<float>
        <<<grid, kSkinnyWarps * 32, 0, stream>>>(p.a, p.w, p.offsets, p.c, ne, n, k);
  } else {
    skinny_gemm_kernel<__nv_bfloat16>
        <<<grid, kSkinnyWarps * 32, 0, stream>>>(p.a, p.w, p.offsets, p.c, ne, n, k);
  }
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void moe_grouped_gemm(const GroupedGemmParams& p, cudaStream_t stream) {
  if (!check_expert_product(p, "moe_grouped_gemm")) return;
  SIEVE_CUDA_REQUIRE(row_tile_bound(p.rows, p.num_experts, kTileM) <= kMaxGridY,
                     "moe_grouped_gemm: too many row tiles for grid.y");
  launch_grouped_gemm(p, stream);
}

bool moe_skinny_gemm_supported(const GroupedGemmParams& p) {
  // 16-byte loads of weights (the expert matrices themselves must be 16-byte aligned, as
  // cudaMalloc makes them) and of `a` rows.
  const int64_t per_load = p.w_type == WeightType::kF32 ? 4 : 8;
  return p.k % per_load == 0 && reinterpret_cast<uintptr_t>(p.a) % 16 == 0;
}

void moe_skinny_gemm(const GroupedGemmParams& p, cudaStream_t stream) {
  if (!check_expert_product(p, "moe_skinny_gemm")) return;
  SIEVE_CUDA_REQUIRE(moe_skinny_gemm_supported(p),
                     "moe_skinny_gemm: k must be a multiple of 8 (bf16) or 4 (fp32) and `a` "
                     "16-byte aligned");
  SIEVE_CUDA_REQUIRE(std::min(p.rows, p.num_experts) <= kMaxGridY,
                     "moe_skinny_gemm: too many experts for grid.y");
  launch_skinny_gemm(p, stream);
}

}  // namespace sieve::cuda
