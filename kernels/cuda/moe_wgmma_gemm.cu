// The Hopper expert product (moe.h, variant kTensorCoreWgmma): the same grouped bf16 GEMM as
// moe_tensor_gemm.cu, with its fused silu·mul epilogue, on warpgroup MMA (wgmma, sm_90a): each
// of the CTA's two warpgroups multiplies its 64 rows by the 128-column weight tile straight from
// shared memory (m64n128k16, fp32 accumulators in registers), so no ldmatrix traffic and twice
// the tensor-core rate of mma.sync. Operand tiles are 64 k wide (128 bytes per row) in the
// 128-byte swizzle the wgmma descriptors name, written by cp.async in a 4-stage pipeline.
#include <cuda_bf16.h>

#include <cstdint>

#include "kernels/cuda/cuda_check.h"
#include "kernels/cuda/moe.h"
#include "kernels/cuda/moe_tile_loader.cuh"
#include "kernels/cuda/moe_tiles.cuh"

namespace sieve::cuda {
namespace {

using moe_detail::check_tensor_gemm;
using moe_detail::claim_row_tile;
using moe_detail::cp_async_commit;
using moe_detail::cp_async_wait;
using moe_detail::ExpertTileLoader;
using moe_detail::opt_in_shared_memory;
using moe_detail::silu_times;
using moe_detail::tensor_gemm_grid;

constexpr int kThreads = 256;   // two warpgroups
constexpr int kTileRows = 128;  // 64 per warpgroup
constexpr int kTileCols = 128;  // weight rows (fused: 64 gate + 64 up, interleaved by 8)
constexpr int kFusedCols = kTileCols / 2;
constexpr int kTileK = 64;  // one 128-byte swizzle row
constexpr int kStages = 4;
constexpr int kRowBytes = kTileK * 2;               // 128
constexpr int kChunksPerRow = kRowBytes / 16;       // 8
constexpr int kATileBytes = kTileRows * kRowBytes;  // 16 KB per stage
constexpr int kBTileBytes = kTileCols * kRowBytes;  // 16 KB per stage
constexpr int kStageBytes = kATileBytes + kBTileBytes;
constexpr int kSmemBytes = kStages * kStageBytes + 1024;  // + alignment slack to 1024 bytes

// 128-byte swizzle (what wgmma's SWIZZLE_128B descriptors read): in each 1024-byte group of 8
// rows, 16-byte chunk c of row r sits at chunk c ^ (r % 8). Tiles start 1024-byte aligned.
__device__ __forceinline__ uint32_t swizzle128(int r, int c) {
  return static_cast<uint32_t>(r * kRowBytes + ((c ^ (r & 7)) << 4));
}
struct Swizzle128 {
  __device__ static uint32_t offset(int r, int c) { return swizzle128(r, c); }
};

// Shared-memory matrix descriptor of a K-major operand in the 128-byte swizzle: start address,
// leading offset (unused for this layout: 1), stride 1024 bytes between 8-row groups, layout 1
// (SWIZZLE_128B) in bits 62-63. Advancing k by 16 elements adds 32 bytes to the start.
__device__ __forceinline__ uint64_t sw128_desc(uint32_t smem_addr) {
  uint64_t d = 0;
  d |= static_cast<uint64_t>((smem_addr & 0x3ffff) >> 4);
  d |= static_cast<uint64_t>(1) << 16;
  d |= static_cast<uint64_t>(1024 >> 4) << 32;
  d |= static_cast<uint64_t>(1) << 62;
  return d;
}

// d (64 fp32 per thread) += A (64 × 16, descriptor) · B (16 × 128, descriptor).
__device__ __forceinline__ void wgmma_m64n128k16(float (&d)[64], uint64_t a_desc, uint64_t b_desc) {
  asm volatile(
      "{\n"
      ".reg .pred p;\n"
      "setp.ne.b32 p, %66, 0;\n"
      "wgmma.mma_async.sync.aligned.m64n128k16.f32.bf16.bf16 {"
      "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, "
      "%15, %16, %17, %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, "
      "%28, %29, %30, %31, %32, %33, %34, %35, %36, %37, %38, %39, %40, "
      "%41, %42, %43, %44, %45, %46, %47, %48, %49, %50, %51, %52, %53, "
      "%54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
      "}, %64, %65, p, 1, 1, 0, 0;\n"
      "}\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3]), "+f"(d[4]), "+f"(d[5]), "+f"(d[6]),
        "+f"(d[7]), "+f"(d[8]), "+f"(d[9]), "+f"(d[10]), "+f"(d[11]), "+f"(d[12]), "+f"(d[13]),
        "+f"(d[14]), "+f"(d[15]), "+f"(d[16]), "+f"(d[17]), "+f"(d[18]), "+f"(d[19]), "+f"(d[20]),
        "+f"(d[21]), "+f"(d[22]), "+f"(d[23]), "+f"(d[24]), "+f"(d[25]), "+f"(d[26]), "+f"(d[27]),
        "+f"(d[28]), "+f"(d[29]), "+f"(d[30]), "+f"(d[31]), "+f"(d[32]), "+f"(d[33]), "+f"(d[34]),
        "+f"(d[35]), "+f"(d[36]), "+f"(d[37]), "+f"(d[38]), "+f"(d[39]), "+f"(d[40]), "+f"(d[41]),
        "+f"(d[42]), "+f"(d[43]), "+f"(d[44]), "+f"(d[45]), "+f"(d[46]), "+f"(d[47]), "+f"(d[48]),
        "+f"(d[49]), "+f"(d[50]), "+f"(d[51]), "+f"(d[52]), "+f"(d[53]), "+f"(d[54]), "+f"(d[55]),
        "+f"(d[56]), "+f"(d[57]), "+f"(d[58]), "+f"(d[59]), "+f"(d[60]), "+f"(d[61]), "+f"(d[62]),
        "+f"(d[63])
      : "l"(a_desc), "l"(b_desc), "r"(1));
}

// Keeps the compiler from moving accumulator reads or writes across the asynchronous wgmma
// boundaries (the registers are written by the tensor cores until the wait).
__device__ __forceinline__ void fence_operands(float (&d)[64]) {
#pragma unroll
  for (int i = 0; i < 64; ++i)
    asm volatile("" : "+f"(d[i])::"memory");
}

template <bool kFused>
__global__ void __launch_bounds__(kThreads, 1)
    wgmma_gemm_kernel(const __nv_bfloat16* __restrict__ a,  // [rows, k]
                      const void* const* __restrict__ w,    // [num_experts] → bf16 rows of k
                      const int32_t* __restrict__ offsets,  // [num_experts + 1]
                      void* __restrict__ c, int num_experts, int n, int k) {
  using Loader =
      ExpertTileLoader<kThreads, kTileRows, kTileCols, kChunksPerRow, kFused, Swizzle128>;
  extern __shared__ unsigned char smem_raw[];
  const moe_detail::RowTile tile = claim_row_tile(offsets, num_experts, kTileRows);
  if (tile.expert < 0) return;
  const int expert = tile.expert, row0 = tile.row0, row1 = tile.row1;
  const __nv_bfloat16* __restrict__ we = static_cast<const __nv_bfloat16*>(w[expert]);
  const int col0 = blockIdx.x * (kFused ? kFusedCols : kTileCols);
  const int tid = threadIdx.x, warpgroup = tid / 128, wg_tid = tid % 128;
  const uint32_t smem_base =
      (static_cast<uint32_t>(__cvta_generic_to_shared(smem_raw)) + 1023u) & ~1023u;
  auto a_stage = [&](int s) { return smem_base + s * kStageBytes; };
  auto b_stage = [&](int s) { return a_stage(s) + kATileBytes; };

  const Loader loader(a, we, k, n, row0, row1, col0, tid);
  auto load_stage = [&](int s, int k0) { loader.load(a_stage(s), b_stage(s), k0); };

  float acc[64];
#pragma unroll
  for (int i = 0; i < 64; ++i)
    acc[i] = 0.f;
  // Copies run kLookahead k tiles ahead of the MMAs, and one batch of wgmma stays in flight
  // while the next tile's barrier and copies are issued: the stage refilled at step kt last
  // fed step kt - 2, whose wgmmas every thread has waited for (wait_group 1 at step kt - 1,
  // then the barrier of step kt).
  constexpr int kLookahead = kStages - 2;
  const int k_tiles = (k + kTileK - 1) / kTileK;
#pragma unroll
  for (int s = 0; s < kLookahead; ++s) {
    if (s < k_tiles) load_stage(s, s * kTileK);
    cp_async_commit();
  }
  for (int kt = 0; kt < k_tiles; ++kt) {
    cp_async_wait<kLookahead - 1>();  // tile kt has landed (this thread's copies)
    // The tile arrived through the generic proxy; wgmma reads through the async proxy.
    asm volatile("fence.proxy.async.shared::cta;\n" ::: "memory");
    __syncthreads();  // everyone's copies of tile kt are visible; step kt - 2's wgmmas are done
    {
      const int next = kt + kLookahead;
      if (next < k_tiles) load_stage(next % kStages, next * kTileK);
      cp_async_commit();
    }
    const uint32_t as = a_stage(kt % kStages) + warpgroup * 64 * kRowBytes;
    const uint32_t bs = b_stage(kt % kStages);
    fence_operands(acc);
    asm volatile("wgmma.fence.sync.aligned;\n" ::: "memory");
#pragma unroll
    for (int kk = 0; kk < kTileK / 16; ++kk)
      wgmma_m64n128k16(acc, sw128_desc(as + kk * 32), sw128_desc(bs + kk * 32));
    asm volatile("wgmma.commit_group.sync.aligned;\n" ::: "memory");
    asm volatile("wgmma.wait_group.sync.aligned 1;\n" ::: "memory");  // step kt - 1 done
    fence_operands(acc);
  }
  asm volatile("wgmma.wait_group.sync.aligned 0;\n" ::: "memory");
  fence_operands(acc);
  cp_async_wait<0>();

  // Accumulator j of m64n128: d[4j + 0, 1] at (row 16·warp + lane/4, cols 8j + 2·(lane%4) +
  // 0, 1), d[4j + 2, 3] at row + 8, rows within this warpgroup's 64.
  const int warp = wg_tid / 32, lane = wg_tid % 32;
#pragma unroll
  for (int half = 0; half < 2; ++half) {
    const int row = row0 + warpgroup * 64 + warp * 16 + lane / 4 + half * 8;
    if (row >= row1) continue;
    if constexpr (kFused) {
      __nv_bfloat16* out = static_cast<__nv_bfloat16*>(c) + static_cast<int64_t>(row) * n;
#pragma unroll
      for (int p = 0; p < kTileCols / 16; ++p) {  // n8 blocks 2p (gate) and 2p + 1 (up)
        const int col = col0 + p * 8 + 2 * (lane % 4);
        if (col >= n) continue;  // n % 8 == 0: col + 1 < n too
        const float v0 = silu_times(acc[4 * (2 * p) + 2 * half], acc[4 * (2 * p + 1) + 2 * half]);
        const float v1 =
            silu_times(acc[4 * (2 * p) + 2 * half + 1], acc[4 * (2 * p + 1) + 2 * half + 1]);
        *reinterpret_cast<__nv_bfloat162*>(out + col) = __floats2bfloat162_rn(v0, v1);
      }
    } else {
      float* out = static_cast<float*>(c) + static_cast<int64_t>(row) * n;
#pragma unroll
      for (int j = 0; j < kTileCols / 8; ++j) {
        const int col = col0 + j * 8 + 2 * (lane % 4);
        if (col >= n) continue;
        *reinterpret_cast<float2*>(out + col) =
            make_float2(acc[4 * j + 2 * half], acc[4 * j + 2 * half + 1]);
      }
    }
  }
}

template <bool kFused>
void launch(const TensorGemmParams& p, cudaStream_t stream) {
  opt_in_shared_memory<wgmma_gemm_kernel<kFused>, kSmemBytes>();
  const dim3 grid =
      tensor_gemm_grid(p, kFused ? kFusedCols : kTileCols, kTileRows, "moe_wgmma_gemm");
  wgmma_gemm_kernel<kFused><<<grid, kThreads, kSmemBytes, stream>>>(
      static_cast<const __nv_bfloat16*>(p.a), p.w, p.offsets, p.c, static_cast<int>(p.num_experts),
      static_cast<int>(p.n), static_cast<int>(p.k));
  SIEVE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void moe_wgmma_gemm(const TensorGemmParams& p, cudaStream_t stream) {
  if (!check_tensor_gemm(p, "moe_wgmma_gemm")) return;
  p.fused_silu ? launch<true>(p, stream) : launch<false>(p, stream);
}

}  // namespace sieve::cuda
