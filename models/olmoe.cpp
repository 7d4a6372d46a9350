// OLMoE (transformers OlmoeForCausalLM): q/k RMSNorm over the whole projection, optional
// clip_qkv after the norms, softmax top-k routing renormalised only when norm_topk_prob.
#include "models/family.h"

namespace sieve {
namespace {

ModelConfig parse(ConfigReader& r) {
  ModelConfig c;
  c.model_type = "olmoe";
  read_common_fields(r, c, /*rope_neox=*/true);
  c.qk_norm = QkNorm::kWholeProjection;
  c.num_experts = r.positive_int("num_experts");
  c.top_k = r.positive_int("num_experts_per_tok");
  c.moe_intermediate_size = r.positive_int("intermediate_size");
  c.norm_topk_prob = r.bool_or("norm_topk_prob", false);
  c.layer_is_moe.assign(c.num_layers, true);
  c.clip_qkv = static_cast<float>(r.number_or("clip_qkv", 0.0));
  if (c.clip_qkv < 0) r.fail(StatusCode::kInvalidArgument, "'clip_qkv' must be positive");
  return c;
}

}  // namespace

const Family& olmoe_family() {
  static const Family f{"olmoe", "OlmoeForCausalLM", &parse, WeightNaming{}};
  return f;
}

}  // namespace sieve
