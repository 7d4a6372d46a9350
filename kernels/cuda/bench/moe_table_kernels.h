// Device helpers of sieve-moe-table: the plain reference every variant is checked against, the
// comparison with it, and the two small kernels the cuBLAS baseline needs between and after its
// grouped GEMMs. None of this is timed against our pipeline except silu_mul_bf16 (part of the
// cuBLAS figure, as moe_silu_mul is part of ours).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace sieve::cuda::moe_table {

// out[s, h] = Σ_{j ascending} w[t, j] · Σ_i down_e[h, i] · silu(gate_e[i] · x[t]) · (up_e[i] ·
// x[t]) for t = tokens[s], e = topk_ids[t, j]: one thread per output element (and one per (s, j, i)
// for the activation), fp32 accumulate, no tiling: obviously the formula, nothing clever.
struct MoeReferenceParams {
  const float* x = nullptr;              // [tokens_total, hidden]
  const int32_t* topk_ids = nullptr;     // [tokens_total, top_k]
  const float* topk_weights = nullptr;   // [tokens_total, top_k]
  const void* const* gate_up = nullptr;  // [experts] device pointers, each [2*inter, hidden] bf16
  const void* const* down = nullptr;     // [experts] device pointers, each [hidden, inter] bf16
  const int32_t* tokens = nullptr;       // [samples] which tokens to compute
  float* act = nullptr;                  // [samples, top_k, inter] scratch
  float* out = nullptr;                  // [samples, hidden]
  int64_t samples = 0, top_k = 0, hidden = 0, inter = 0;
};
void moe_reference(const MoeReferenceParams& p, cudaStream_t stream);

struct ErrorStats {
  double rel_err = 0;     // ||out[tokens[s]] - ref[s]|| / ||ref||
  int64_t nonfinite = 0;  // non-finite values anywhere in out
};
struct CompareParams {
  const float* out = nullptr;       // [tokens_total, hidden]
  const float* ref = nullptr;       // [samples, hidden]
  const int32_t* tokens = nullptr;  // [samples]
  int64_t tokens_total = 0, samples = 0, hidden = 0;
  double* scratch = nullptr;  // [3] device
};
// Synchronises the stream and returns the figures.
ErrorStats compare_to_reference(const CompareParams& p, cudaStream_t stream);

// act[r, i] = bf16(silu(gate_up[r, i]) · gate_up[r, inter + i]), all bf16 bits.
void silu_mul_bf16(const uint16_t* gate_up /* [rows, 2*inter] */, uint16_t* act /* [rows, inter] */,
                   int64_t rows, int64_t inter, cudaStream_t stream);

// y[i] = float(x[i]) for bf16 bits x.
void bf16_to_f32(const uint16_t* x /* [n] */, float* y /* [n] */, int64_t n, cudaStream_t stream);

}  // namespace sieve::cuda::moe_table
