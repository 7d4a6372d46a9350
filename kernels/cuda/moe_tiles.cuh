// Helpers shared by the MoE expert-product kernels (moe.cu, moe_tensor_gemm.cu,
// moe_wgmma_gemm.cu): how a CTA finds its work in the expert-grouped row list from the offsets
// alone, so every launch configuration depends only on host-known sizes (CUDA-graph
// capturable); the activation; the host-side argument checks.
#pragma once

#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/moe.h"

namespace sieve::cuda::moe_detail {

constexpr unsigned kFullMask = 0xffffffffu;

constexpr int64_t kMaxGridY = 65535;

inline bool fits_int(int64_t v) {
  return v >= 0 && v <= INT32_MAX;
}

__device__ __forceinline__ float silu_times(float g, float u) {
  return g / (1.f + expf(-g)) * u;
}

// An upper bound of the row tiles of `tile_m` rows over all experts:
// Σ_e ceil(count_e / tile_m) <= floor(rows / tile_m) + (number of non-empty experts).
inline int64_t row_tile_bound(int64_t rows, int64_t num_experts, int64_t tile_m) {
  return rows / tile_m + std::min(num_experts, rows);
}

// Finds row tile `tile` among all experts' tiles of `tile_m` rows (warp 0 only; lanes walk 32
// experts at a time). Writes expert = -1 when `tile` is past the last real tile.
__device__ inline void find_row_tile(const int32_t* __restrict__ offsets, int num_experts, int tile,
                                     int tile_m, int* s_expert, int* s_row0, int* s_row1) {
  const int lane = threadIdx.x;
  if (lane == 0) *s_expert = -1;
  __syncwarp();
  int tiles_before = 0;
  for (int e0 = 0; e0 < num_experts; e0 += 32) {
    const int e = e0 + lane;
    int beg = 0, cnt = 0;
    if (e < num_experts) {
      beg = offsets[e];
      cnt = offsets[e + 1] - beg;
    }
    const int t = (cnt + tile_m - 1) / tile_m;
    int incl = t;
    for (int d = 1; d < 32; d *= 2) {
      const int v = __shfl_up_sync(kFullMask, incl, d);
      if (lane >= d) incl += v;
    }
    const int first = tiles_before + incl - t;
    const bool hit = e < num_experts && tile >= first && tile < first + t;
    if (hit) {
      *s_expert = e;
      *s_row0 = beg + (tile - first) * tile_m;
      *s_row1 = min(beg + cnt, beg + (tile - first + 1) * tile_m);
    }
    if (__ballot_sync(kFullMask, hit) != 0) break;  // uniform across the warp
    tiles_before += __shfl_sync(kFullMask, incl, 31);
  }
}

// The row tile of this CTA (blockIdx.y) of `tile_m` rows: its expert (-1: past the last real
// tile, the CTA has nothing to do) and its rows [row0, row1). Every thread of the CTA calls it
// (it holds a barrier); warp 0 searches.
struct RowTile {
  int expert, row0, row1;
};
__device__ inline RowTile claim_row_tile(const int32_t* __restrict__ offsets, int num_experts,
                                         int tile_m) {
  __shared__ int s_expert, s_row0, s_row1;
  if (threadIdx.x < 32) {
    find_row_tile(offsets, num_experts, blockIdx.y, tile_m, &s_expert, &s_row0, &s_row1);
  }
  __syncthreads();
  return {s_expert, s_row0, s_row1};
}

// The grid of a tensor-core product (moe_tensor_gemm, moe_wgmma_gemm): column tiles of
// `cols_per_cta` × the bound of row tiles of `tile_rows` (checked against grid.y's limit).
inline dim3 tensor_gemm_grid(const TensorGemmParams& p, int64_t cols_per_cta, int64_t tile_rows,
                             const char* kernel) {
  const int64_t row_tiles = row_tile_bound(p.rows, p.num_experts, tile_rows);
  if (row_tiles > kMaxGridY) {
    cuda_fail("grid.y", (std::string(kernel) + ": too many row tiles for grid.y").c_str(), __FILE__,
              __LINE__);
  }
  return dim3(static_cast<unsigned>((p.n + cols_per_cta - 1) / cols_per_cta),
              static_cast<unsigned>(row_tiles));
}

// A kernel that needs more than 48 KB of dynamic shared memory must opt in: once per kernel
// (not a stream operation, so it is fine inside graph capture too).
template <auto kKernel, int kBytes>
void opt_in_shared_memory() {
  static const bool done = [] {
    SIEVE_CUDA_CHECK(
        cudaFuncSetAttribute(kKernel, cudaFuncAttributeMaxDynamicSharedMemorySize, kBytes));
    return true;
  }();
  (void)done;
}

// The argument checks of the expert products (failures name `kernel`); false when there are no
// rows, so nothing to launch. check_tensor_gemm adds the tensor-core kernels' own.
bool check_expert_product(const GroupedGemmParams& p, const char* kernel);
bool check_tensor_gemm(const TensorGemmParams& p, const char* kernel);

}  // namespace sieve::cuda::moe_detail
