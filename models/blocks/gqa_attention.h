// Grouped-query attention: q/k/v projections, an optional q/k RMSNorm, an optional clamp, RoPE,
// the paged KV write and read (optionally over a sliding window), and the output projection.
// K and V of [kv_heads, head_dim] per token go to the layer's cache.
#pragma once

#include <cstdint>
#include <string>

#include "engine/checkpoint/model_config.h"
#include "models/blocks/block.h"

namespace sieve {

enum class QkNorm : uint8_t {
  kNone,
  kPerHead,         // RMSNorm over each head's head_dim features (Qwen3): weights [head_dim]
  kWholeProjection  // RMSNorm over the whole q (or k) projection (OLMoE): weights [q or kv size]
};

struct GqaOptions {
  std::string prefix;  // "model.layers.{l}.self_attn.": q_proj, k_proj, v_proj, o_proj, q_norm,
                       // k_norm, sinks
  int64_t hidden = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0;
  QkNorm qk_norm = QkNorm::kNone;
  float clip_qkv = 0.0f;       // > 0: q, k and v clamped to [-clip, clip] after the q/k norms
  int64_t sliding_window = 0;  // > 0: each query sees the last `sliding_window` tokens
  bool bias = false;           // q/k/v/o projections with biases (`<proj>.bias`)
  bool sinks = false;          // per-head attention sinks (`sinks` [num_heads], gpt-oss)
  float rms_norm_eps = 1e-6f;  // of the q/k norms
  RopeConfig rope;
};

// The options every GQA layer of `config` shares (sizes, RoPE, norm epsilon), for layer
// `layer`; a family adds its own (q/k norm, clamp, window).
GqaOptions gqa_options(const ModelConfig& config, int64_t layer);

class GqaAttention final : public AttentionBlock {
 public:
  explicit GqaAttention(GqaOptions options) : o_(std::move(options)) {}

  void declare(TensorList& out) const override;
  Status load(const LoadContext& ctx) override;
  KvLayerLayout kv_layout() const override;
  void forward(const LayerCall& call, const Tensor& x, Tensor& out) override;

 private:
  int64_t q_size() const { return o_.num_heads * o_.head_dim; }
  int64_t kv_size() const { return o_.num_kv_heads * o_.head_dim; }

  GqaOptions o_;
  std::shared_ptr<Matrix> q_, k_, v_,
      o_proj_;              // [q_size | kv_size | kv_size, hidden], [hidden, q_size]
  Tensor q_norm_, k_norm_;  // undefined without a q/k norm
  Tensor q_bias_, k_bias_, v_bias_, o_bias_;  // undefined without biases
  Tensor sinks_;                              // undefined without sinks
};

}  // namespace sieve
