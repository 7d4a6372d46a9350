// OLMoE (transformers OlmoeForCausalLM): q/k RMSNorm over the whole projection, optional
// clip_qkv after the norms, softmax top-k routing renormalised only when norm_topk_prob.
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
  c.num_experts = r.positive_int("num_experts");
  c.top_k = r.positive_int("num_experts_per_tok");
  c.moe_intermediate_size = r.positive_int("intermediate_size");
  c.norm_topk_prob = r.bool_or("norm_topk_prob", false);
  c.layer_is_moe.assign(c.num_layers, true);
  c.clip_qkv = static_cast<float>(r.number_or("clip_qkv", 0.0));
  if (c.clip_qkv < 0) r.fail(StatusCode::kInvalidArgument, "'clip_qkv' must be positive");
  return c;
}

std::vector<DecoderLayer> recipe(const ModelConfig& c) {
  std::vector<DecoderLayer> layers(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    GqaOptions attention = gqa_options(c, l);
    attention.qk_norm = QkNorm::kWholeProjection;
    attention.clip_qkv = c.clip_qkv;
    layers[l].attention = std::make_unique<GqaAttention>(std::move(attention));
    const std::string mlp = layer_prefix(l) + "mlp.";
    const SoftmaxTopkRouterOptions router{.weight = mlp + "gate.weight",
                                          .hidden = c.hidden_size,
                                          .num_experts = c.num_experts,
                                          .top_k = c.top_k,
                                          .renormalize = c.norm_topk_prob};
    const SwigluExpertsOptions experts{.prefix = mlp + "experts.",
                                       .num_experts = c.num_experts,
                                       .hidden = c.hidden_size,
                                       .intermediate = c.moe_intermediate_size};
    layers[l].feed_forward = std::make_unique<MoeBlock>(std::make_unique<SoftmaxTopkRouter>(router),
                                                        std::make_unique<SwigluExperts>(experts));
  }
  return layers;
}

const Preset kPresets[] = {
    {.name = "olmoe-1b-7b",
     .layers = 16,
     .hidden = 2048,
     .heads = 16,
     .kv_heads = 16,
     .head_dim = 0,
     .experts = 64,
     .top_k = 8,
     .moe_intermediate = 1024,
     .dense_intermediate = 0,
     .vocab = 50304,
     .tie = false,
     .rope_theta = 1e4,
     .rms_eps = 1e-5,
     .norm_topk_prob = false,
     .max_positions = 4096,
     .bos = -1,
     .eos = 50279,
     .pad = 1,
     .router_aux_loss_coef = 0.01},
};

// A few MB with every code path of the family: GQA, q/k norms, top-k > 1.
const Preset kTiny = {.name = "olmoe-tiny",
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
                      .rope_theta = 1e4,
                      .rms_eps = 1e-5,
                      .norm_topk_prob = false,
                      .max_positions = 4096,
                      .bos = 1,
                      .eos = 2,
                      .pad = 0,
                      .router_aux_loss_coef = 0.01};

// OlmoeConfig: no head_dim field (always hidden / heads), expert width is intermediate_size.
nlohmann::json write_config(const Family& f, const Preset& p, DType dtype) {
  nlohmann::json j = common_config_json(f, p, dtype);
  j["attention_bias"] = false;
  j["clip_qkv"] = nullptr;
  j["intermediate_size"] = p.moe_intermediate;
  j["norm_topk_prob"] = p.norm_topk_prob;
  j["num_experts"] = p.experts;
  j["rope_scaling"] = nullptr;
  return j;
}

}  // namespace

const Family& olmoe_family() {
  static const Family f{.model_type = "olmoe",
                        .architecture = "OlmoeForCausalLM",
                        .parse = &parse,
                        .recipe = &recipe,
                        .presets = kPresets,
                        .tiny = &kTiny,
                        .head_dim_field = HeadDimField::kAbsent,
                        .write_config = &write_config};
  return f;
}

}  // namespace sieve
