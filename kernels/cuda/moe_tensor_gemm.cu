// The tensor-core expert product (moe.h, 3''): bf16 × bf16 → fp32 on the tensor cores
// (mma.sync m16n8k16), for fat groups. CTA tile kTileRows × 128 columns × 32 k, 8 warps
// (2 along rows × 4 along columns, each warp kTileRows/2 × 32), a 4-stage cp.async pipeline
// through shared memory, fragments read with ldmatrix from rows swizzled so that neither the
// copies nor ldmatrix conflict on banks.
//
// Fused gate_up: the CTA's 128 weight rows are 64 gate rows and the 64 matching up rows,
// interleaved by 8 (gate cols c..c+7, then up cols c..c+7, ...), so each thread holds a gate
// and its up value in registers and writes silu(gate) · up as bf16: the [rows, 2 · inter] fp32
// intermediate of the other kernels never reaches memory.
#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/moe.h"
#include "kernels/cuda/moe_tile_loader.cuh"
#include "kernels/cuda/moe_tiles.cuh"

namespace sieve::cuda {
namespace {

using moe_detail::claim_row_tile;
using moe_detail::cp_async_commit;
using moe_detail::cp_async_wait;
using moe_detail::ExpertTileLoader;
using moe_detail::opt_in_shared_memory;
using moe_detail::silu_times;
using moe_detail::tensor_gemm_grid;

constexpr int kThreads = 256;   // 8 warps
constexpr int kTileCols = 128;  // weight rows per CTA (fused: 64 gate + 64 up)
constexpr int kTileK = 32;      // bf16: one 64-byte row segment, four 16-byte chunks
constexpr int kStages = 4;      // cp.async pipeline depth
constexpr int kRowBytes = kTileK * 2;
constexpr int kChunksPerRow = kRowBytes / 16;  // 4
constexpr int kWarpCols = 32;                  // 4 n8 tiles per warp
constexpr int kFusedCols = kTileCols / 2;      // act columns per CTA when fused

// Byte offset of 16-byte chunk `c` of tile row `r`: chunks XOR-swizzled by (r / 2) % 4, so the
// 8 rows one ldmatrix phase reads (rows r..r+7 at the same logical chunk) fall in 8 distinct
// 16-byte bank groups (a 64-byte row spans half of the 128 bytes of banks).
__device__ __forceinline__ uint32_t swizzle(int r, int c) {
  return static_cast<uint32_t>(r * kRowBytes + ((c ^ ((r >> 1) & 3)) << 4));
}
struct Swizzle64 {
  __device__ static uint32_t offset(int r, int c) { return swizzle(r, c); }
};

__device__ __forceinline__ void ldmatrix_x4(uint32_t addr, uint32_t (&r)[4]) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

__device__ __forceinline__ void mma_bf16(float (&d)[4], const uint32_t (&a)[4], uint32_t b0,
                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, "
      "{%8, %9}, {%0, %1, %2, %3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// kTileRows: 128 or 64. kFused: gate_up with silu·mul (c: bf16 [rows, n], W_e [2n, k]); else c:
// fp32 [rows, n], W_e [n, k].
template <int kTileRows, bool kFused>
__global__ void __launch_bounds__(kThreads, 2)
    tensor_gemm_kernel(const __nv_bfloat16* __restrict__ a,  // [rows, k]
                       const void* const* __restrict__ w,    // [num_experts] → bf16 rows of k
                       const int32_t* __restrict__ offsets,  // [num_experts + 1]
                       void* __restrict__ c, int num_experts, int n, int k) {
  constexpr int kWarpRows = kTileRows / 2;
  constexpr int kMTiles = kWarpRows / 16;             // m16 tiles per warp: 4 or 2
  constexpr int kATileBytes = kTileRows * kRowBytes;  // per stage
  constexpr int kBTileBytes = kTileCols * kRowBytes;  // per stage
  using Loader = ExpertTileLoader<kThreads, kTileRows, kTileCols, kChunksPerRow, kFused, Swizzle64>;
  extern __shared__ __align__(128) unsigned char smem[];
  const moe_detail::RowTile tile = claim_row_tile(offsets, num_experts, kTileRows);
  if (tile.expert < 0) return;
  const int expert = tile.expert, row0 = tile.row0, row1 = tile.row1;
  const __nv_bfloat16* __restrict__ we = static_cast<const __nv_bfloat16*>(w[expert]);
  const int col0 = blockIdx.x * (kFused ? kFusedCols : kTileCols);

  const int tid = threadIdx.x, lane = tid % 32, warp = tid / 32;
  const int warp_m = warp / 4, warp_n = warp % 4;
  const uint32_t smem_base = static_cast<uint32_t>(__cvta_generic_to_shared(smem));
  auto a_stage = [&](int s) { return smem_base + s * (kATileBytes + kBTileBytes); };
  auto b_stage = [&](int s) { return a_stage(s) + kATileBytes; };

  const Loader loader(a, we, k, n, row0, row1, col0, tid);
  auto load_stage = [&](int s, int k0) { loader.load(a_stage(s), b_stage(s), k0); };

  float acc[kMTiles][4][4] = {};
  const int k_tiles = (k + kTileK - 1) / kTileK;
#pragma unroll
  for (int s = 0; s < kStages - 1; ++s) {
    if (s < k_tiles) load_stage(s, s * kTileK);
    cp_async_commit();  // always: the group count stays in step with the k tiles
  }

  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<kStages - 2>();
    __syncthreads();  // stage kt is visible to all; stage kt - 1 is free for refilling
    {
      const int next = kt + kStages - 1;
      if (next < k_tiles) load_stage(next % kStages, next * kTileK);
      cp_async_commit();
    }
    const uint32_t as = a_stage(kt % kStages), bs = b_stage(kt % kStages);
#pragma unroll
    for (int kk = 0; kk < kTileK / 16; ++kk) {
      uint32_t af[kMTiles][4];
#pragma unroll
      for (int mi = 0; mi < kMTiles; ++mi) {
        const int r = warp_m * kWarpRows + mi * 16 + lane % 16;
        ldmatrix_x4(as + swizzle(r, kk * 2 + lane / 16), af[mi]);
      }
      uint32_t bf[4][2];
#pragma unroll
      for (int q = 0; q < 2; ++q) {
        const int r = warp_n * kWarpCols + q * 16 + (lane / 16) * 8 + lane % 8;
        uint32_t t[4];
        ldmatrix_x4(bs + swizzle(r, kk * 2 + (lane / 8) % 2), t);
        bf[2 * q][0] = t[0];
        bf[2 * q][1] = t[1];
        bf[2 * q + 1][0] = t[2];
        bf[2 * q + 1][1] = t[3];
      }
#pragma unroll
      for (int mi = 0; mi < kMTiles; ++mi) {
#pragma unroll
        for (int nj = 0; nj < 4; ++nj)
          mma_bf16(acc[mi][nj], af[mi], bf[nj][0], bf[nj][1]);
      }
    }
  }
  cp_async_wait<0>();  // no copy may be in flight when the CTA exits

  // Epilogue. Accumulator (mi, nj): d0, d1 at (row lane/4, cols 2·(lane%4) + 0/1), d2, d3 at
  // row lane/4 + 8, within the m16 × n8 tile.
#pragma unroll
  for (int mi = 0; mi < kMTiles; ++mi) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      const int row = row0 + warp_m * kWarpRows + mi * 16 + lane / 4 + half * 8;
      if (row >= row1) continue;
      if constexpr (kFused) {
        __nv_bfloat16* out = static_cast<__nv_bfloat16*>(c) + static_cast<int64_t>(row) * n;
#pragma unroll
        for (int p = 0; p < 2; ++p) {  // n8 tiles 2p (gate) and 2p + 1 (up), same columns
          const int col = col0 + (warp_n * 2 + p) * 8 + 2 * (lane % 4);
          if (col >= n) continue;  // n % 8 == 0: col + 1 < n too
          const float v0 = silu_times(acc[mi][2 * p][2 * half], acc[mi][2 * p + 1][2 * half]);
          const float v1 =
              silu_times(acc[mi][2 * p][2 * half + 1], acc[mi][2 * p + 1][2 * half + 1]);
          *reinterpret_cast<__nv_bfloat162*>(out + col) = __floats2bfloat162_rn(v0, v1);
        }
      } else {
        float* out = static_cast<float*>(c) + static_cast<int64_t>(row) * n;
#pragma unroll
        for (int nj = 0; nj < 4; ++nj) {
          const int col = col0 + warp_n * kWarpCols + nj * 8 + 2 * (lane % 4);
          if (col >= n) continue;  // n % 8 == 0: col + 1 < n too
          *reinterpret_cast<float2*>(out + col) =
              make_float2(acc[mi][nj][2 * half], acc[mi][nj][2 * half + 1]);
        }
      }
    }
  }
}

template <int kTileRows, bool kFused>
void launch(const TensorGemmParams& p, cudaStream_t stream) {
  constexpr int smem = kStages * (kTileRows + kTileCols) * kRowBytes;
  opt_in_shared_memory<tensor_gemm_kernel<kTileRows, kFused>, smem>();
  const dim3 grid =
      tensor_gemm_grid(p, kFused ? kFusedCols : kTileCols, kTileRows, "moe_tensor_gemm");
  tensor_gemm_kernel<kTileRows, kFused><<<grid, kThreads, smem, stream>>>(
      static_cast<const __nv_bfloat16*>(p.a), p.w, p.offsets, p.c, static_cast<int>(p.num_experts),
      static_cast<int>(p.n), static_cast<int>(p.k));
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool moe_tensor_gemm_supported(int64_t hidden, int64_t inter, WeightType w_type) {
  // 16-byte copies of whole 8-element chunks along k (hidden for gate_up, inter for down), and
  // 8-column pairs in the epilogues.
  return w_type == WeightType::kBF16 && hidden % 8 == 0 && inter % 8 == 0;
}

void moe_tensor_gemm(const TensorGemmParams& p, cudaStream_t stream) {
  SIEVE_CUDA_REQUIRE(p.tile_rows == kMoeTensorTileRows || p.tile_rows == kMoeTensorTileRows / 2,
                     "moe_tensor_gemm: tile_rows must be kMoeTensorTileRows or half of it");
  if (!moe_detail::check_tensor_gemm(p, "moe_tensor_gemm")) return;
  if (p.tile_rows == kMoeTensorTileRows) {
    p.fused_silu ? launch<kMoeTensorTileRows, true>(p, stream)
                 : launch<kMoeTensorTileRows, false>(p, stream);
  } else {
    p.fused_silu ? launch<kMoeTensorTileRows / 2, true>(p, stream)
                 : launch<kMoeTensorTileRows / 2, false>(p, stream);
  }
}

}  // namespace sieve::cuda
