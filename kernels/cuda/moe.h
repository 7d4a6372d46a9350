// The MoE expert pipeline on the device: align (group the tokens*top_k assignments by expert),
// permute (gather activation rows), grouped GEMM gate_up, silu·mul, grouped GEMM down,
// unpermute-and-combine. Semantics are those of engine/backends/backend.h MoeArgs:
//   out[t] = Σ_j topk_weights[t, j] · down_e(silu(gate_e x[t]) · up_e x[t]),  e = topk_ids[t, j]
// No host round trip: every launch configuration depends only on the host-known sizes (tokens,
// top_k, num_experts, hidden, inter), never on device contents, so the whole pipeline can be
// captured in a CUDA graph. Results are deterministic (bit-identical run to run).
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/cuda/elem_type.h"

namespace sieve::cuda {

// --- 1. align: group the assignments a = t * top_k + j by expert, stably (increasing a within
// an expert). Requires 0 <= topk_ids[a] < num_experts (the kernel traps otherwise) and
// 1 <= num_experts <= kMoeMaxExperts.
inline constexpr int64_t kMoeMaxExperts = 1024;

struct MoeAlignParams {
  const int32_t* topk_ids = nullptr;  // [tokens, top_k]
  int32_t* counts = nullptr;          // [num_experts]: assignments per expert
  int32_t* offsets = nullptr;         // [num_experts + 1]: exclusive prefix of counts
  int32_t* sorted_rows = nullptr;     // [tokens * top_k]: sorted position → assignment a
  int32_t* inverse = nullptr;         // [tokens * top_k]: assignment a → sorted position
  int64_t tokens = 0, top_k = 0, num_experts = 0;
};
void moe_align(const MoeAlignParams& p, cudaStream_t stream);

// --- 2. permute: x_sorted[i] = x[sorted_rows[i] / top_k].
struct MoePermuteParams {
  const float* x = nullptr;              // [tokens, hidden]
  const int32_t* sorted_rows = nullptr;  // [tokens * top_k]
  float* x_sorted = nullptr;             // [tokens * top_k, hidden]
  // x_sorted holds the rows rounded to bf16 (nearest even), widened back to fp32: the values the
  // tensor-core path's bf16 rows hold, for the CUDA-core products.
  bool round_to_bf16 = false;
  // Instead of x_sorted: the rows rounded to bf16 (nearest even), for the tensor-core path.
  // Needs hidden % 8 == 0 and 16-byte aligned x and x_sorted_bf16.
  void* x_sorted_bf16 = nullptr;
  int64_t tokens = 0, top_k = 0, hidden = 0;
};
void moe_permute(const MoePermuteParams& p, cudaStream_t stream);

// --- 3. grouped GEMM: for every expert e, c[r] = W_e · a[r] for r in [offsets[e],
// offsets[e+1]); fp32 accumulate (one ordered chain over k per output), fp32 out. Experts with
// no rows cost nothing. `rows` must equal offsets[num_experts] (the host-known tokens*top_k).
struct GroupedGemmParams {
  const float* a = nullptr;        // [rows, k], rows grouped by expert
  const void* const* w = nullptr;  // [num_experts] device pointers, each W_e [n, k] row-major
  WeightType w_type = WeightType::kF32;
  const int32_t* offsets = nullptr;  // [num_experts + 1]
  float* c = nullptr;                // [rows, n]
  int64_t rows = 0, num_experts = 0, n = 0, k = 0;
};
void moe_grouped_gemm(const GroupedGemmParams& p, cudaStream_t stream);

// --- 3'. the same product for skinny groups (decode: a few rows per expert, most experts cold):
// every non-empty expert's weights are streamed once per kMoeSkinnyRows of its rows with 16-byte
// loads, each warp owning whole output columns (a dot product over k per row, reduced across the
// lanes). Needs k % 8 == 0 (bf16) or k % 4 == 0 (fp32) and 16-byte aligned weight and `a` rows.
inline constexpr int64_t kMoeSkinnyRows = 8;
bool moe_skinny_gemm_supported(const GroupedGemmParams& p);
void moe_skinny_gemm(const GroupedGemmParams& p, cudaStream_t stream);

// --- 3''. the tensor-core path for fat groups (prefill), bf16 weights only: activations are
// rounded to bf16 (as every bf16 serving engine does), products accumulate in fp32 on the
// tensor cores. The gate_up product fuses silu·mul into its epilogue and writes the bf16
// activation directly; the down product writes fp32 rows. Tiles of kMoeTensorTileRows rows
// (or half that) per expert, so padding waste is under one tile per non-empty expert.
inline constexpr int64_t kMoeTensorTileRows = 128;
struct TensorGemmParams {
  const void* a = nullptr;           // [rows, k] bf16, rows grouped by expert, 16-byte aligned rows
  const void* const* w = nullptr;    // [num_experts] device pointers, each W_e [n_w, k] bf16
  const int32_t* offsets = nullptr;  // [num_experts + 1]
  void* c = nullptr;                 // fused: [rows, inter] bf16 act; plain: [rows, n] fp32
  int64_t rows = 0, num_experts = 0, n = 0, k = 0;
  // fused_silu: W_e is [2 * n, k] (gate rows then up rows) and c = silu(gate) · up, bf16.
  bool fused_silu = false;
  int64_t tile_rows = kMoeTensorTileRows;  // kMoeTensorTileRows or kMoeTensorTileRows / 2
};
bool moe_tensor_gemm_supported(int64_t hidden, int64_t inter, WeightType w_type);
void moe_tensor_gemm(const TensorGemmParams& p, cudaStream_t stream);
// The same product on Hopper's warpgroup MMA (wgmma, sm_90a): 128-row tiles (tile_rows is
// ignored), same operands, same support.
void moe_wgmma_gemm(const TensorGemmParams& p, cudaStream_t stream);

// Which kernels the pipeline uses for the two expert products. The values are stable: they are
// benchmark arguments and the tuner's JSON cache stores them.
enum class MoeGemmVariant {
  kAuto = 0,            // moe_choose_gemm, or the tuner's cached choice (moe_registry.h)
  kGrouped = 1,         // moe_grouped_gemm, fp32 CUDA cores (tiles of 64 rows)
  kSkinny = 2,          // moe_skinny_gemm (decode streaming)
  kTensorCore = 3,      // moe_tensor_gemm, 128-row tiles
  kTensorCoreHalf = 4,  // moe_tensor_gemm, 64-row tiles (mid sizes: less padding)
  kWgmma = 5,           // moe_wgmma_gemm, 128-row tiles
};
// kGrouped first: the tuner checks the others against it.
inline constexpr MoeGemmVariant kMoeGemmVariants[] = {
    MoeGemmVariant::kGrouped, MoeGemmVariant::kSkinny, MoeGemmVariant::kTensorCore,
    MoeGemmVariant::kTensorCoreHalf, MoeGemmVariant::kWgmma};
const char* moe_gemm_variant_name(MoeGemmVariant v);
// Whether `v` can run these shapes (kAuto always can).
bool moe_gemm_variant_supported(MoeGemmVariant v, int64_t hidden, int64_t inter, WeightType w_type);
// The built-in rule: kSkinny while the assignments average at most 4 rows per expert
// (rows <= 4 * num_experts); past that kTensorCore (bf16) or kGrouped (fp32); each only where
// supported.
MoeGemmVariant moe_choose_gemm(int64_t rows, int64_t num_experts, int64_t hidden, int64_t inter,
                               WeightType w_type);

// --- 4. act[r, i] = silu(gate_up[r, i]) · gate_up[r, inter + i].
// gate_up: [rows, 2 * inter] (gate | up); act: [rows, inter].
void moe_silu_mul(const float* gate_up, float* act, int64_t rows, int64_t inter,
                  cudaStream_t stream);
// The same, each act value rounded to bf16 (nearest even) and kept as fp32: what the tensor-core
// path's fused epilogue writes.
void moe_silu_mul_bf16(const float* gate_up, float* act, int64_t rows, int64_t inter,
                       cudaStream_t stream);

// --- 4b. the activation with expert biases and/or gpt-oss's clamped SwiGLU: for every sorted
// row r of expert e (from offsets), gu = gate_up[r] + gate_up_bias[e] (when given), then
// act[r, i] = silu(g) · u (swiglu_limit 0) or, clamped, g' · sigmoid(alpha · g') · (u' + 1) with
// g' = min(g, limit), u' = clamp(u, -limit, limit); rounded to bf16 when round_to_bf16.
struct MoeExpertActParams {
  const float* gate_up = nullptr;              // [rows, 2 * inter] (gate | up)
  float* act = nullptr;                        // [rows, inter]
  const int32_t* offsets = nullptr;            // [num_experts + 1]
  const float* const* gate_up_bias = nullptr;  // null, or [num_experts] → [2 * inter]
  int64_t rows = 0, inter = 0, num_experts = 0;
  float swiglu_limit = 0.f, swiglu_alpha = 1.f;
  bool round_to_bf16 = false;
};
void moe_expert_act(const MoeExpertActParams& p, cudaStream_t stream);

// --- 4c. y[r] += bias[e] for every sorted row r of expert e (the down bias, before the combine).
void moe_add_expert_bias(float* y /* [rows, n] */, const int32_t* offsets,
                         const float* const* bias /* [num_experts] → [n] */, int64_t num_experts,
                         int64_t rows, int64_t n, cudaStream_t stream);

// --- 5. unpermute and combine: out[t] = Σ_{j ascending} topk_weights[t, j] ·
// y_sorted[inverse[t * top_k + j]].
struct MoeUnpermuteParams {
  const float* y_sorted = nullptr;      // [tokens * top_k, hidden]
  const int32_t* inverse = nullptr;     // [tokens * top_k]
  const float* topk_weights = nullptr;  // [tokens, top_k]
  float* out = nullptr;                 // [tokens, hidden]
  int64_t tokens = 0, top_k = 0, hidden = 0;
};
void moe_unpermute(const MoeUnpermuteParams& p, cudaStream_t stream);

// --- The whole pipeline, steps 1–5, in `workspace` (moe_workspace_bytes bytes at least,
// 256-byte aligned, e.g. from cudaMalloc). tokens == 0 launches nothing.
struct MoeParams {
  const float* x = nullptr;              // [tokens, hidden]
  const int32_t* topk_ids = nullptr;     // [tokens, top_k]
  const float* topk_weights = nullptr;   // [tokens, top_k]
  const void* const* gate_up = nullptr;  // [num_experts] device pointers, each [2*inter, hidden]
  const void* const* down = nullptr;     // [num_experts] device pointers, each [hidden, inter]
  WeightType w_type = WeightType::kF32;  // of gate_up and down
  float* out = nullptr;                  // [tokens, hidden]
  int64_t tokens = 0, top_k = 0, num_experts = 0, hidden = 0, inter = 0;
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
  MoeGemmVariant gemm = MoeGemmVariant::kAuto;  // tests and benchmarks pin one
  // With bf16 weights: the CUDA-core products (grouped, skinny) also take their activations
  // rounded to bf16 — x before gate_up, act before down — where the tensor-core path rounds
  // them, so every variant multiplies the same values and they differ only in the order of
  // their fp32 sums (the dense GEMMs and the CPU's bf16 products round at the same points).
  // Off, those two keep fp32 activations. No effect on fp32 weights.
  bool bf16_activations = false;
  // Experts with biases (null: none), [num_experts] device pointers to fp32 [2 * inter] and
  // [hidden], and the clamped SwiGLU (swiglu_limit > 0; moe_expert_act). Either runs the
  // CUDA-core products (grouped or skinny): the tensor-core path fuses plain silu·mul.
  const float* const* gate_up_bias = nullptr;
  const float* const* down_bias = nullptr;
  float swiglu_limit = 0.f, swiglu_alpha = 1.f;
};
size_t moe_workspace_bytes(int64_t tokens, int64_t top_k, int64_t num_experts, int64_t hidden,
                           int64_t inter);
void moe_experts(const MoeParams& p, cudaStream_t stream);

}  // namespace sieve::cuda
