// Qwen3-MoE (transformers Qwen3MoeForCausalLM): per-head q/k RMSNorm, softmax top-k routing
// renormalised when norm_topk_prob, dense MLP layers where mlp_only_layers or
// decoder_sparse_step say so.
#include <algorithm>

#include "models/family.h"

namespace sieve {
namespace {

ModelConfig parse(ConfigReader& r) {
  ModelConfig c;
  c.model_type = "qwen3_moe";
  read_common_fields(r, c, /*rope_neox=*/true);
  c.qk_norm = QkNorm::kPerHead;
  c.num_experts = r.positive_int("num_experts");
  c.top_k = r.positive_int("num_experts_per_tok");
  c.moe_intermediate_size = r.positive_int("moe_intermediate_size");
  c.norm_topk_prob = r.bool_or("norm_topk_prob", false);
  const int64_t sparse_step = r.int_or("decoder_sparse_step", 1);
  const std::vector<int64_t> mlp_only = r.int_list_or_empty("mlp_only_layers");
  c.layer_is_moe.assign(c.num_layers, false);
  bool any_dense = false;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const bool listed = std::find(mlp_only.begin(), mlp_only.end(), l) != mlp_only.end();
    c.layer_is_moe[l] = !listed && sparse_step > 0 && (l + 1) % sparse_step == 0;
    any_dense |= !c.layer_is_moe[l];
  }
  if (any_dense) c.intermediate_size = r.positive_int("intermediate_size");
  if (r.bool_or("use_sliding_window", false)) r.unsupported("use_sliding_window: true");
  return c;
}

}  // namespace

const Family& qwen3_moe_family() {
  static const Family f{"qwen3_moe", "Qwen3MoeForCausalLM", &parse, WeightNaming{}};
  return f;
}

}  // namespace sieve
