// Mixtral (transformers MixtralForCausalLM): no q/k norm, experts w1/w3/w2 under
// block_sparse_moe, routing always renormalised, optional sliding window on every layer.
#include "models/family.h"

namespace sieve {
namespace {

ModelConfig parse(ConfigReader& r) {
  ModelConfig c;
  c.model_type = "mixtral";
  read_common_fields(r, c, /*rope_neox=*/true);
  c.num_experts = r.positive_int("num_local_experts");
  c.top_k = r.positive_int("num_experts_per_tok");
  c.moe_intermediate_size = r.positive_int("intermediate_size");
  c.norm_topk_prob = true;
  c.layer_is_moe.assign(c.num_layers, true);
  c.sliding_window = r.int_or("sliding_window", 0);
  // router_jitter_noise only perturbs routing in training; inference ignores it, as
  // transformers does.
  return c;
}

}  // namespace

const Family& mixtral_family() {
  static const Family f{"mixtral", "MixtralForCausalLM", &parse,
                        WeightNaming{"block_sparse_moe", "w1", "w3", "w2"}};
  return f;
}

}  // namespace sieve
