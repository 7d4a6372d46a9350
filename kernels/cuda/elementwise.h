// Element-wise, normalisation, position and cache-write kernels on fp32 activations, the CUDA
// counterparts of kernels/cpu/ops.h and kv_write in kernels/cpu/attention.h (same math; see
// kernels/README.md for how close each one is to the CPU result).
//
// Every entry takes device pointers and an explicit stream, checks its shapes on the host, and
// enqueues nothing when there are no rows. Row strides are in floats; 0 means "packed".
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

#include "kernels/cuda/elem_type.h"

namespace sieve::cuda {

// out[t] = table[ids[t]] widened to fp32. An id outside [0, vocab) gives a row of zeros (the
// caller validates ids on the host; the kernel never reads outside the table).
struct EmbeddingParams {
  const void* table = nullptr;  // [vocab, hidden], fp32 or bf16 (table_type)
  WeightType table_type = WeightType::kF32;
  const int32_t* ids = nullptr;  // [tokens]
  float* out = nullptr;          // [tokens, hidden]
  int64_t tokens = 0, vocab = 0, hidden = 0;
};
void embedding(const EmbeddingParams& p, cudaStream_t stream);

// out[i] = src[rows[i]]. A row index outside [0, src_rows) gives a row of zeros.
struct GatherRowsParams {
  const float* src = nullptr;     // [src_rows, width]
  const int32_t* rows = nullptr;  // [n]
  float* out = nullptr;           // [n, width]
  int64_t n = 0, src_rows = 0, width = 0;
};
void gather_rows(const GatherRowsParams& p, cudaStream_t stream);

// y[r] = x[r] * (1 / sqrt(mean(x[r]²) + eps)) * w: the mean of squares in fp32. In place when
// y == x. One block per row.
struct RmsNormParams {
  const float* x = nullptr;  // [rows, dim], row stride ldx (0 → dim)
  const float* w = nullptr;  // [dim]
  float* y = nullptr;        // [rows, dim], row stride ldy (0 → dim)
  int64_t rows = 0, dim = 0, ldx = 0, ldy = 0;
  float eps = 1e-6f;
};
void rms_norm(const RmsNormParams& p, cudaStream_t stream);

// residual[r] += x[r]; y[r] = rms_norm(residual[r]) · w. y may alias residual.
struct AddRmsNormParams {
  float* residual = nullptr;  // [rows, dim], row stride ld_residual (0 → dim)
  const float* x = nullptr;   // [rows, dim], row stride ldx (0 → dim)
  const float* w = nullptr;   // [dim]
  float* y = nullptr;         // [rows, dim], row stride ldy (0 → dim)
  int64_t rows = 0, dim = 0, ld_residual = 0, ldx = 0, ldy = 0;
  float eps = 1e-6f;
};
void add_rms_norm(const AddRmsNormParams& p, cudaStream_t stream);

// Rotary position embedding in place, as kernels::rope: the first rotary_dim features of each
// head rotate; neox pairs (i, i + rotary_dim/2), otherwise interleaved pairs (2i, 2i+1). The
// angle is float(positions[t]) * inv_freq[i] in fp32; cos/sin are taken of that fp32 angle in
// double precision and rounded to fp32 (as the CPU does), then scaled by attention_scaling.
struct RopeParams {
  float* x = nullptr;                  // [tokens, heads, head_dim], token stride ld_token
  const int32_t* positions = nullptr;  // [tokens]
  const float* inv_freq = nullptr;     // [rotary_dim / 2]
  int64_t tokens = 0, heads = 0, head_dim = 0, rotary_dim = 0, ld_token = 0;  // ld 0 → packed
  bool neox = true;
  float attention_scaling = 1.0f;
};
void rope(const RopeParams& p, cudaStream_t stream);

// out[r, c] = silu(gu[r, c]) * gu[r, inter + c] for c < inter; gu rows are [gate | up].
struct SiluMulParams {
  const float* gu = nullptr;  // [rows, 2 * inter], row stride ld_gu (0 → 2 * inter)
  float* out = nullptr;       // [rows, inter], row stride ld_out (0 → inter)
  int64_t rows = 0, inter = 0, ld_gu = 0, ld_out = 0;
};
void silu_mul(const SiluMulParams& p, cudaStream_t stream);

// x[i] = clamp(x[i], -limit, limit) in place, as std::clamp (NaN stays NaN).
void clamp(float* x /* [n] */, int64_t n, float limit, cudaStream_t stream);

// y[r, c] += bias[c] for r < rows, c < n (contiguous rows).
void add_bias(float* y /* [rows, n] */, const float* bias /* [n] */, int64_t rows, int64_t n,
              cudaStream_t stream);

// Writes new keys/values into their cache slots, as kernels::kv_write: slot = block *
// block_size + offset, the cache being [num_blocks, block_size, num_kv_heads, head_dim] fp32.
// A negative slot (padding) is skipped.
struct KvWriteParams {
  const float* k = nullptr;        // [tokens, num_kv_heads, head_dim], token stride ld_k
  const float* v = nullptr;        // [tokens, num_kv_heads, head_dim], token stride ld_v
  const int64_t* slots = nullptr;  // [tokens]
  float* k_cache = nullptr;        // [num_blocks * block_size, num_kv_heads, head_dim]
  float* v_cache = nullptr;        // [num_blocks * block_size, num_kv_heads, head_dim]
  int64_t tokens = 0, num_kv_heads = 0, head_dim = 0, ld_k = 0, ld_v = 0;  // ld 0 → packed
};
void kv_write(const KvWriteParams& p, cudaStream_t stream);

}  // namespace sieve::cuda
