// Mixtral (transformers MixtralForCausalLM): no q/k norm, experts w1/w3/w2 under
// block_sparse_moe, routing always renormalised, optional sliding window on every layer.
#include <nlohmann/json.hpp>

#include "models/blocks/gqa_attention.h"
#include "models/blocks/moe_block.h"
#include "models/blocks/softmax_topk_router.h"
#include "models/blocks/swiglu_experts.h"
#include "models/family.h"

namespace sieve {
namespace {

ModelConfig parse(ConfigReader& r) {
  ModelConfig c;
  read_common_fields(r, c, /*rope_neox=*/true);
  reject_attention_bias(r);
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

std::vector<DecoderLayer> recipe(const ModelConfig& c) {
  std::vector<DecoderLayer> layers(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    GqaOptions attention = gqa_options(c, l);
    attention.sliding_window = c.sliding_window;
    layers[l].attention = std::make_unique<GqaAttention>(std::move(attention));
    const std::string moe = layer_prefix(l) + "block_sparse_moe.";
    const SoftmaxTopkRouterOptions router{.weight = moe + "gate.weight",
                                          .hidden = c.hidden_size,
                                          .num_experts = c.num_experts,
                                          .top_k = c.top_k,
                                          .renormalize = c.norm_topk_prob};
    const SwigluExpertsOptions experts{.prefix = moe + "experts.",
                                       .gate = "w1",
                                       .up = "w3",
                                       .down = "w2",
                                       .num_experts = c.num_experts,
                                       .hidden = c.hidden_size,
                                       .intermediate = c.moe_intermediate_size};
    layers[l].feed_forward = std::make_unique<MoeBlock>(std::make_unique<SoftmaxTopkRouter>(router),
                                                        std::make_unique<SwigluExperts>(experts));
  }
  return layers;
}

const Preset kPresets[] = {
    {.name = "mixtral-8x7b",
     .layers = 32,
     .hidden = 4096,
     .heads = 32,
     .kv_heads = 8,
     .head_dim = 0,
     .experts = 8,
     .top_k = 2,
     .moe_intermediate = 14336,
     .dense_intermediate = 0,
     .vocab = 32000,
     .tie = false,
     .rope_theta = 1e6,
     .rms_eps = 1e-5,
     .norm_topk_prob = true,
     .max_positions = 32768,
     .bos = 1,
     .eos = 2,
     .pad = -1,
     .router_aux_loss_coef = 0.02},
};

// A few MB with every code path of the family: GQA, top-k > 1.
const Preset kTiny = {.name = "mixtral-tiny",
                      .layers = 4,
                      .hidden = 128,
                      .heads = 4,
                      .kv_heads = 2,
                      .head_dim = 0,
                      .experts = 8,
                      .top_k = 2,
                      .moe_intermediate = 64,
                      .dense_intermediate = 0,
                      .vocab = 1024,
                      .tie = false,
                      .rope_theta = 1e6,
                      .rms_eps = 1e-5,
                      .norm_topk_prob = true,
                      .max_positions = 4096,
                      .bos = 1,
                      .eos = 2,
                      .pad = 0,
                      .router_aux_loss_coef = 0.001};

// MixtralConfig: experts are "local", their width is intermediate_size, head_dim may be null.
nlohmann::json write_config(const Family& f, const Preset& p, DType dtype) {
  nlohmann::json j = common_config_json(f, p, dtype);
  j["head_dim"] = p.head_dim > 0 ? nlohmann::json(p.head_dim) : nlohmann::json(nullptr);
  j["intermediate_size"] = p.moe_intermediate;
  j["num_local_experts"] = p.experts;
  j["router_jitter_noise"] = 0.0;
  j["sliding_window"] = nullptr;
  return j;
}

}  // namespace

const Family& mixtral_family() {
  static const Family f{.model_type = "mixtral",
                        .architecture = "MixtralForCausalLM",
                        .parse = &parse,
                        .recipe = &recipe,
                        .presets = kPresets,
                        .tiny = &kTiny,
                        .head_dim_field = HeadDimField::kNullWhenDerived,
                        .write_config = &write_config};
  return f;
}

}  // namespace sieve
