// The operand loads both tensor-core expert products share (moe_tensor_gemm.cu,
// moe_wgmma_gemm.cu): cp.async copies of one k step of an expert's bf16 activation rows and
// weight rows into a shared-memory stage, 16 bytes per copy, zero-filled past the expert's rows,
// the output columns and k, each kernel choosing its swizzle.
#pragma once

#include <cuda_bf16.h>

#include <cstdint>

namespace sieve::cuda::moe_detail {

__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
  const int bytes = valid ? 16 : 0;  // 0: zero-fill the destination, read nothing
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(bytes));
}
__device__ __forceinline__ void cp_async_commit() {
  asm volatile("cp.async.commit_group;\n" ::);
}
template <int kPending>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(kPending));
}

// One thread's share of a stage: kRows activation rows and kCols weight rows of kChunksPerRow
// 16-byte chunks (8 bf16 each). Swizzle::offset(row, chunk) is the chunk's byte offset in its
// tile. Fused (gate_up with silu·mul): the weight tile's rows are 8 gate rows then the same 8
// columns' up rows (W_e rows n + col), repeated, for kCols / 2 output columns from col0.
template <int kThreads, int kRows, int kCols, int kChunksPerRow, bool kFused, class Swizzle>
class ExpertTileLoader {
 public:
  static constexpr int kALoads = kRows * kChunksPerRow / kThreads;
  static constexpr int kBLoads = kCols * kChunksPerRow / kThreads;
  static_assert(kALoads * kThreads == kRows * kChunksPerRow, "whole A chunks per thread");
  static_assert(kBLoads * kThreads == kCols * kChunksPerRow, "whole B chunks per thread");

  // a: [rows, k] activations; we: the expert's [n or 2n, k] weights; rows [row0, row1) of the
  // expert in this tile; output columns from col0; n output columns in all.
  __device__ ExpertTileLoader(const __nv_bfloat16* a, const __nv_bfloat16* we, int k, int n,
                              int row0, int row1, int col0, int tid)
      : k_(k) {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {
      const int id = tid + i * kThreads, r = id / kChunksPerRow, ch = id % kChunksPerRow;
      const int row = row0 + r;
      a_ok_[i] = row < row1;
      a_src_[i] = a + static_cast<int64_t>(a_ok_[i] ? row : row0) * k + ch * 8;
      a_dst_[i] = Swizzle::offset(r, ch);
      a_k_[i] = ch * 8;
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) {
      const int id = tid + i * kThreads, r = id / kChunksPerRow, ch = id % kChunksPerRow;
      int wrow, col;
      if (kFused) {
        const int blk = r / 8;  // even: gate rows, odd: the matching up rows
        col = col0 + (blk / 2) * 8 + r % 8;
        wrow = (blk % 2 == 0 ? 0 : n) + col;
      } else {
        col = col0 + r;
        wrow = col;
      }
      b_ok_[i] = col < n;
      b_src_[i] = we + static_cast<int64_t>(b_ok_[i] ? wrow : 0) * k + ch * 8;
      b_dst_[i] = Swizzle::offset(r, ch);
      b_k_[i] = ch * 8;
    }
  }

  // Starts the copies of k step [k0, k0 + 8 · kChunksPerRow) into the stage's A and B tiles.
  __device__ void load(uint32_t a_tile, uint32_t b_tile, int k0) const {
#pragma unroll
    for (int i = 0; i < kALoads; ++i) {
      const bool ok = a_ok_[i] && k0 + a_k_[i] < k_;
      cp_async_16(a_tile + a_dst_[i], ok ? a_src_[i] + k0 : a_src_[i], ok);
    }
#pragma unroll
    for (int i = 0; i < kBLoads; ++i) {
      const bool ok = b_ok_[i] && k0 + b_k_[i] < k_;
      cp_async_16(b_tile + b_dst_[i], ok ? b_src_[i] + k0 : b_src_[i], ok);
    }
  }

 private:
  int k_;
  const __nv_bfloat16* a_src_[kALoads];
  const __nv_bfloat16* b_src_[kBLoads];
  uint32_t a_dst_[kALoads], b_dst_[kBLoads];
  int a_k_[kALoads], b_k_[kBLoads];  // each chunk's first k within a k step
  bool a_ok_[kALoads], b_ok_[kBLoads];
};

}  // namespace sieve::cuda::moe_detail
