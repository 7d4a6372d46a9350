// Qwen3-MoE (transformers Qwen3MoeForCausalLM): per-head q/k RMSNorm, softmax top-k routing
// renormalised when norm_topk_prob, dense MLP layers where mlp_only_layers or
// decoder_sparse_step say so.
#include <algorithm>

#include <nlohmann/json.hpp>

#include "models/blocks/gqa_attention.h"
#include "models/blocks/moe_block.h"
#include "models/blocks/softmax_topk_router.h"
#include "models/blocks/swiglu_experts.h"
#include "models/blocks/swiglu_mlp.h"
#include "models/family.h"

namespace sieve {
namespace {

ModelConfig parse(ConfigReader& r) {
  ModelConfig c;
  read_common_fields(r, c, /*rope_neox=*/true);
  reject_attention_bias(r);
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

std::vector<DecoderLayer> recipe(const ModelConfig& c) {
  std::vector<DecoderLayer> layers(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    GqaOptions attention = gqa_options(c, l);
    attention.qk_norm = QkNorm::kPerHead;
    layers[l].attention = std::make_unique<GqaAttention>(std::move(attention));
    const std::string mlp = layer_prefix(l) + "mlp.";
    if (!c.layer_is_moe[l]) {
      layers[l].feed_forward = std::make_unique<SwigluMlp>(SwigluMlpOptions{
          .prefix = mlp, .hidden = c.hidden_size, .intermediate = c.intermediate_size});
      continue;
    }
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
    {.name = "qwen3-30b-a3b",
     .layers = 48,
     .hidden = 2048,
     .heads = 32,
     .kv_heads = 4,
     .head_dim = 128,
     .experts = 128,
     .top_k = 8,
     .moe_intermediate = 768,
     .dense_intermediate = 6144,
     .vocab = 151936,
     .tie = false,
     .rope_theta = 1e6,
     .rms_eps = 1e-6,
     .norm_topk_prob = true,
     .max_positions = 40960,
     .bos = 151643,
     .eos = 151645,
     .pad = -1,
     .router_aux_loss_coef = 0.001},
};

// A few MB with every code path of the family: GQA, q/k norms, top-k > 1.
const Preset kTiny = {.name = "qwen3_moe-tiny",
                      .layers = 4,
                      .hidden = 128,
                      .heads = 4,
                      .kv_heads = 2,
                      .head_dim = 32,
                      .experts = 8,
                      .top_k = 2,
                      .moe_intermediate = 64,
                      .dense_intermediate = 256,
                      .vocab = 1024,
                      .tie = false,
                      .rope_theta = 1e6,
                      .rms_eps = 1e-6,
                      .norm_topk_prob = true,
                      .max_positions = 4096,
                      .bos = 1,
                      .eos = 2,
                      .pad = 0,
                      .router_aux_loss_coef = 0.001};

// Qwen3MoeConfig.
nlohmann::json write_config(const Family& f, const Preset& p, DType dtype) {
  nlohmann::json j = common_config_json(f, p, dtype);
  j["attention_bias"] = false;
  j["decoder_sparse_step"] = 1;
  j["head_dim"] = p.head_dim;
  j["intermediate_size"] = p.dense_intermediate;
  j["mlp_only_layers"] = nlohmann::json::array();
  j["moe_intermediate_size"] = p.moe_intermediate;
  j["norm_topk_prob"] = p.norm_topk_prob;
  j["num_experts"] = p.experts;
  j["rope_scaling"] = nullptr;
  j["sliding_window"] = nullptr;  // the class sets None unless use_sliding_window
  j["use_sliding_window"] = false;
  return j;
}

}  // namespace

const Family& qwen3_moe_family() {
  static const Family f{.model_type = "qwen3_moe",
                        .architecture = "Qwen3MoeForCausalLM",
                        .parse = &parse,
                        .recipe = &recipe,
                        .presets = kPresets,
                        .tiny = &kTiny,
                        .head_dim_field = HeadDimField::kNumber,
                        .write_config = &write_config};
  return f;
}

}  // namespace sieve
