// What a decoder-only MoE model is, as read from its config.json by its family's file in
// models/families/. The family turns these fields into its blocks (models/blocks/); which blocks
// a family uses, and what they weigh (parameters, KV bytes per token), is models/' business, not
// a field here.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "engine/base/dtype.h"
#include "engine/base/status.h"

namespace sieve {

// Fields that only one family's blocks read (an attention variant's ranks, a router's group
// sizes, per-layer attention types): the family's file derives a struct from this, fills it when
// it parses config.json and reads it back when it builds its blocks. Nothing in engine/ looks
// inside, so a family with fields of its own adds nothing here.
struct FamilyFields {
  virtual ~FamilyFields() = default;
};

struct RopeConfig {
  std::string type = "default";  // rope_scaling.rope_type: default | linear | yarn
  double theta = 10000.0;
  int64_t rotary_dim = 0;  // features per head that rotate (head_dim × partial_rotary_factor)
  bool neox = true;        // rotate_half pairs (i, i + d/2); false: interleaved (2i, 2i+1)
  // Derived once from the fields above, as transformers' rope init functions derive them.
  std::vector<float> inv_freq;     // [rotary_dim / 2]
  float attention_scaling = 1.0f;  // multiplies cos and sin (YaRN's mscale)
};

struct ModelConfig {
  std::string model_type;    // config.json "model_type", the registry key
  std::string architecture;  // config.json "architectures"[0]
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  int64_t intermediate_size = 0;  // dense MLP layers
  int64_t moe_intermediate_size = 0;
  int64_t num_experts = 0;
  int64_t top_k = 0;
  bool norm_topk_prob = true;      // renormalise the chosen experts' weights to sum to 1
  std::vector<bool> layer_is_moe;  // [num_layers]; false: a dense SwiGLU MLP
  float rms_norm_eps = 1e-6f;
  float clip_qkv = 0.0f;  // > 0: q, k, v clamped to [-clip, clip] after projection
  RopeConfig rope;
  int64_t sliding_window = 0;  // > 0: every layer attends to the last `sliding_window` tokens
  bool tie_word_embeddings = false;
  int64_t max_position_embeddings = 0;
  DType checkpoint_dtype = DType::kF32;  // config "dtype" / "torch_dtype"
  int64_t bos_token_id = -1;
  std::vector<int64_t> eos_token_ids;
  std::shared_ptr<const FamilyFields> family_fields;  // null unless the family has its own

  int64_t q_size() const { return num_heads * head_dim; }
  int64_t kv_size() const { return num_kv_heads * head_dim; }
  int64_t num_moe_layers() const;
  // Whether the experts split over `size` ranks (--expert-parallel-size): 1 ≤ size ≤ experts,
  // and a model without MoE layers only on 1 rank. The message names the flag. (Parameter
  // counts, what each rank holds and KV bytes per token come from the family's blocks:
  // models/model_size.h.)
  Status check_expert_parallel_size(int64_t size) const;
};

}  // namespace sieve
