// Element-wise, normalisation, position and routing kernels on fp32 activations.
// All take explicit row strides (in floats) so they work on views into larger buffers.
#pragma once

#include <cstdint>

#include "kernels/cpu/thread_pool.h"

namespace sieve::kernels {

// y[r] = x[r] / sqrt(mean(x[r]²) + eps) * w, per row of `dim` elements (as HF's RMSNorm: the
// mean of squares in fp32, then scale, then weight). In place when y == x.
struct RmsNormArgs {
  const float* x = nullptr;  // [rows, dim], row stride ldx (0 → dim)
  const float* w = nullptr;  // [dim]
  float* y = nullptr;        // [rows, dim], row stride ldy (0 → dim)
  int64_t rows = 0, dim = 0, ldx = 0, ldy = 0;
  float eps = 1e-6f;
};
void rms_norm(const RmsNormArgs& a, ThreadPool* pool);

// residual[r] += x[r]; y[r] = rms_norm(residual[r]). The residual stream update fused with the
// next layer's norm.
void add_rms_norm(float* residual, const float* x, const RmsNormArgs& norm_out, ThreadPool* pool);

// out[r, c] = silu(gu[r, c]) * gu[r, inter + c] for c < inter; gu rows are [gate | up].
void silu_mul(const float* gu, int64_t rows, int64_t inter, int64_t ld_gu, float* out,
              int64_t ld_out, ThreadPool* pool);

// gpt-oss's clamped SwiGLU: out[r, c] = g · sigmoid(alpha · g) · (u + 1) with
// g = min(gu[r, c], limit) and u = clamp(gu[r, inter + c], -limit, limit).
void clamped_swiglu(const float* gu, int64_t rows, int64_t inter, int64_t ld_gu, float* out,
                    int64_t ld_out, float limit, float alpha, ThreadPool* pool);

// y[r, c] += bias[c] for r < rows, c < n (row stride ld_y).
void add_bias(float* y, int64_t rows, int64_t n, int64_t ld_y, const float* bias, ThreadPool* pool);

// Rotary position embedding in place on x [tokens, heads, head_dim] (token stride
// `ld_token` floats, heads contiguous). The first `rotary_dim` features rotate.
//  neox: pairs (i, i + rotary_dim/2) — HF's rotate_half; otherwise interleaved pairs (2i, 2i+1).
// The angle is positions[t] * inv_freq[i] computed in fp32, as transformers computes it, and
// cos/sin are multiplied by `attention_scaling` (1 unless YaRN-style scaling says otherwise).
struct RopeArgs {
  float* x = nullptr;
  const int32_t* positions = nullptr;  // [tokens]
  const float* inv_freq = nullptr;     // [rotary_dim / 2]
  int64_t tokens = 0, heads = 0, head_dim = 0, rotary_dim = 0, ld_token = 0;
  bool neox = true;
  float attention_scaling = 1.0f;
};
void rope(const RopeArgs& a, ThreadPool* pool);

// Router: per token, the k largest of softmax(logits[t]) — ids in descending weight order,
// ties to the lower id — and their probabilities, divided by their sum when `renormalize`.
struct TopkArgs {
  const float* logits = nullptr;  // [tokens, experts]
  int64_t tokens = 0, experts = 0, k = 0;
  bool renormalize = true;
  int32_t* ids = nullptr;    // [tokens, k]
  float* weights = nullptr;  // [tokens, k]
};
void softmax_topk(const TopkArgs& a);

// out[i] = exp((x[i] - max) * scale) for i < n; returns Σ out[i] (accumulated in double).
// The sampler's unnormalised probabilities over a whole vocabulary (max: the row's maximum,
// scale: 1 / temperature), so every out[i] is in [0, 1]. One thread: it runs per request.
double exp_shifted(const float* x, int64_t n, float max, float scale, float* out);

}  // namespace sieve::kernels
