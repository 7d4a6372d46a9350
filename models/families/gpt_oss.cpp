// gpt-oss (transformers GptOssForCausalLM): attention with biases and per-head sinks, layers
// alternating between a sliding window and full attention (`layer_types`), YaRN RoPE; MoE
// layers whose router has a bias and takes the top-k logits then a softmax over those k, and
// whose experts are stacked tensors with biases and the clamped SwiGLU.
#include <algorithm>
#include <memory>

#include <nlohmann/json.hpp>

#include "models/blocks/gqa_attention.h"
#include "models/blocks/moe_block.h"
#include "models/blocks/softmax_topk_router.h"
#include "models/blocks/stacked_experts.h"
#include "models/family.h"

namespace sieve {
namespace {

// The activation's constants: transformers' GptOssExperts fixes alpha; the released configs
// carry the limit as swiglu_limit (7.0), which the 4.57 config class does not keep.
constexpr float kSwigluAlpha = 1.702f;
constexpr double kDefaultSwigluLimit = 7.0;

struct GptOssFields final : FamilyFields {
  std::vector<bool> sliding;  // [layer]: a sliding-window layer (else full attention)
  bool attention_bias = true;
  float swiglu_limit = 7.0f;
};

const GptOssFields& fields(const ModelConfig& c) {
  return static_cast<const GptOssFields&>(*c.family_fields);
}

ModelConfig parse(ConfigReader& r) {
  ModelConfig c;
  read_common_fields(r, c, /*rope_neox=*/true);
  c.num_experts = r.positive_int("num_local_experts");
  c.top_k = r.positive_int("num_experts_per_tok");
  c.moe_intermediate_size = r.positive_int("intermediate_size");
  c.norm_topk_prob = true;  // softmax over the k chosen logits
  c.layer_is_moe.assign(c.num_layers, true);
  c.sliding_window = r.int_or("sliding_window", 128);
  auto f = std::make_shared<GptOssFields>();
  f->attention_bias = r.bool_or("attention_bias", true);
  f->swiglu_limit = static_cast<float>(r.number_or("swiglu_limit", kDefaultSwigluLimit));
  if (f->swiglu_limit <= 0) r.fail(StatusCode::kInvalidArgument, "swiglu_limit must be > 0");
  // GptOssConfig's default when layer_types is absent: sliding first, then alternating.
  f->sliding.resize(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l)
    f->sliding[l] = l % 2 == 0;
  if (const nlohmann::json& types = r.json().value("layer_types", nlohmann::json());
      !types.is_null()) {
    if (!types.is_array() || static_cast<int64_t>(types.size()) != c.num_layers) {
      r.fail(StatusCode::kInvalidArgument,
             "'layer_types' must list one type per layer (" + std::to_string(c.num_layers) + ")");
    } else {
      for (int64_t l = 0; l < c.num_layers; ++l) {
        const std::string type = types[l].is_string() ? types[l].get<std::string>() : "";
        if (type != "sliding_attention" && type != "full_attention") {
          r.fail(StatusCode::kInvalidArgument,
                 "'layer_types'[" + std::to_string(l) +
                     "] must be \"sliding_attention\" or \"full_attention\", not " +
                     types[l].dump());
          break;
        }
        f->sliding[l] = type == "sliding_attention";
      }
    }
  }
  bool any_sliding = false;
  for (bool s : f->sliding)
    any_sliding |= s;
  if (any_sliding && c.sliding_window <= 0) {
    r.fail(StatusCode::kInvalidArgument, "sliding_window must be > 0 for sliding_attention layers");
  }
  c.family_fields = std::move(f);
  return c;
}

std::vector<DecoderLayer> recipe(const ModelConfig& c) {
  const GptOssFields& f = fields(c);
  std::vector<DecoderLayer> layers(c.num_layers);
  for (int64_t l = 0; l < c.num_layers; ++l) {
    GqaOptions attention = gqa_options(c, l);
    attention.sliding_window = f.sliding[l] ? c.sliding_window : 0;
    attention.bias = f.attention_bias;
    attention.sinks = true;
    layers[l].attention = std::make_unique<GqaAttention>(std::move(attention));
    const std::string mlp = layer_prefix(l) + "mlp.";
    const SoftmaxTopkRouterOptions router{.weight = mlp + "router.weight",
                                          .bias = mlp + "router.bias",
                                          .hidden = c.hidden_size,
                                          .num_experts = c.num_experts,
                                          .top_k = c.top_k,
                                          .renormalize = true};
    StackedExpertsOptions experts{.prefix = mlp + "experts.",
                                  .num_experts = c.num_experts,
                                  .hidden = c.hidden_size,
                                  .intermediate = c.moe_intermediate_size};
    experts.activation.swiglu_limit = f.swiglu_limit;
    experts.activation.swiglu_alpha = kSwigluAlpha;
    layers[l].feed_forward = std::make_unique<MoeBlock>(std::make_unique<SoftmaxTopkRouter>(router),
                                                        std::make_unique<StackedExperts>(experts));
  }
  return layers;
}

// From the released config.json files (gpt-oss-20b and gpt-oss-120b differ in depth and
// experts only).
Preset released(const char* name, int64_t layers, int64_t experts) {
  return {.name = name,
          .layers = layers,
          .hidden = 2880,
          .heads = 64,
          .kv_heads = 8,
          .head_dim = 64,
          .experts = experts,
          .top_k = 4,
          .moe_intermediate = 2880,
          .vocab = 201088,
          .tie = false,
          .rope_theta = 150000,
          .rms_eps = 1e-5,
          .norm_topk_prob = true,
          .max_positions = 131072,
          .bos = -1,
          .eos = 200002,
          .pad = 199999,
          .router_aux_loss_coef = 0.9,
          .sliding_window = 128};
}

const Preset kPresets[] = {released("gpt-oss-20b", 24, 32), released("gpt-oss-120b", 36, 128)};

// A few MB with every code path of the family: sinks, biases, both layer types with a window
// short prompts exceed, the clamped experts, top-k > 1. Sizes are multiples of 32 so that
// --quantization mxfp4 applies to every expert matrix.
const Preset kTiny = {.name = "gpt_oss-tiny",
                      .layers = 4,
                      .hidden = 128,
                      .heads = 4,
                      .kv_heads = 2,
                      .head_dim = 32,
                      .experts = 8,
                      .top_k = 2,
                      .moe_intermediate = 64,
                      .vocab = 1024,
                      .tie = false,
                      .rope_theta = 150000,
                      .rms_eps = 1e-5,
                      .norm_topk_prob = true,
                      .max_positions = 4096,
                      .bos = 1,
                      .eos = 2,
                      .pad = 0,
                      .router_aux_loss_coef = 0.9,
                      .sliding_window = 16};

// GptOssConfig.
nlohmann::json write_config(const Family& f, const Preset& p, DType dtype) {
  nlohmann::json j = common_config_json(f, p, dtype);
  j["attention_bias"] = true;
  j["head_dim"] = p.head_dim;
  j["intermediate_size"] = p.moe_intermediate;
  nlohmann::json types = nlohmann::json::array();
  for (int64_t l = 0; l < p.layers; ++l)
    types.push_back(l % 2 == 0 ? "sliding_attention" : "full_attention");
  j["layer_types"] = types;
  j["num_local_experts"] = p.experts;
  // YaRN as released: 32× over a 4,096-token original context (the tiny model keeps the same
  // ratio to its own context).
  const int64_t original = std::max<int64_t>(p.max_positions / 32, 1);
  j["rope_scaling"] = {{"beta_fast", 32.0},   {"beta_slow", 1.0},
                       {"factor", 32.0},      {"original_max_position_embeddings", original},
                       {"rope_type", "yarn"}, {"truncate", false}};
  j["sliding_window"] = p.sliding_window;
  return j;
}

}  // namespace

const Family& gpt_oss_family() {
  static const Family f{.model_type = "gpt_oss",
                        .architecture = "GptOssForCausalLM",
                        .parse = &parse,
                        .recipe = &recipe,
                        .presets = kPresets,
                        .tiny = &kTiny,
                        .head_dim_field = HeadDimField::kNumber,
                        .write_config = &write_config};
  return f;
}

}  // namespace sieve
