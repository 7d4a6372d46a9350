// The config.json half of random checkpoints: named presets with the real models' shapes, the
// user's overrides on top, and per family exactly the keys transformers 4.57's config class
// writes (save_pretrained drops base-class defaults, keeps every class field; keys sorted).
#include <nlohmann/json.hpp>

#include "models/random_checkpoint.h"
#include "models/registry.h"

namespace sieve {
namespace {

using nlohmann::json;

// Everything a preset fixes. -1 token ids are left out of config.json, as transformers leaves
// out a None that equals the base-class default.
struct Preset {
  std::string name;
  std::string family;
  int64_t layers, hidden, heads, kv_heads;
  int64_t head_dim;  // 0: hidden / heads (Mixtral writes null, OLMoE has no such field)
  int64_t experts, top_k, moe_intermediate;
  int64_t dense_intermediate;  // Qwen3-MoE's intermediate_size (dense layers; none by default)
  int64_t vocab;
  bool tie;
  double rope_theta, rms_eps;
  bool norm_topk_prob;
  int64_t max_positions;
  int64_t bos, eos, pad;
  double router_aux_loss_coef;
};

// Real shapes from the models' Hub config.json files.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> kPresets = {
      {"qwen3-30b-a3b", "qwen3_moe", 48,  2048, 32,   4,     128,    128,    8,  768,  6144,
       151936,          false,       1e6, 1e-6, true, 40960, 151643, 151645, -1, 0.001},
      {"mixtral-8x7b", "mixtral", 32,  4096, 32,   8,     0, 8, 2,  14336, 0,
       32000,          false,     1e6, 1e-5, true, 32768, 1, 2, -1, 0.02},
      {"olmoe-1b-7b", "olmoe", 16,  2048, 16,    16,   0,  64,    8, 1024, 0,
       50304,         false,   1e4, 1e-5, false, 4096, -1, 50279, 1, 0.01},
      // Tiny demos: a few MB, every code path of the family (GQA, q/k norms, top-k > 1).
      {"qwen3_moe-tiny",
       "qwen3_moe",
       4,
       128,
       4,
       2,
       32,
       8,
       2,
       64,
       256,
       1024,
       false,
       1e6,
       1e-6,
       true,
       4096,
       1,
       2,
       0,
       0.001},
      {"mixtral-tiny", "mixtral", 4,   128,  4,    2,    0, 8, 2, 64,   0,
       1024,           false,     1e6, 1e-5, true, 4096, 1, 2, 0, 0.001},
      {"olmoe-tiny", "olmoe", 4,   128,  4,     2,    0, 8, 2, 64,  0,
       1024,         false,   1e4, 1e-5, false, 4096, 1, 2, 0, 0.01},
  };
  return kPresets;
}

void put_token_id(json& j, const char* key, int64_t id) {
  if (id >= 0) j[key] = id;
}

// Keys every one of the three classes writes.
json common_json(const Preset& p, const std::string& architecture, DType dtype) {
  json j;
  j["architectures"] = {architecture};
  j["model_type"] = p.family;
  j["attention_dropout"] = 0.0;
  put_token_id(j, "bos_token_id", p.bos);
  put_token_id(j, "eos_token_id", p.eos);
  put_token_id(j, "pad_token_id", p.pad);
  j["dtype"] = dtype == DType::kBF16 ? "bfloat16" : "float32";  // 4.57 writes "dtype"
  j["hidden_act"] = "silu";
  j["hidden_size"] = p.hidden;
  j["initializer_range"] = 0.02;
  j["max_position_embeddings"] = p.max_positions;
  j["num_attention_heads"] = p.heads;
  j["num_experts_per_tok"] = p.top_k;
  j["num_hidden_layers"] = p.layers;
  j["num_key_value_heads"] = p.kv_heads;
  j["output_router_logits"] = false;
  j["rms_norm_eps"] = p.rms_eps;
  j["rope_theta"] = p.rope_theta;
  j["router_aux_loss_coef"] = p.router_aux_loss_coef;
  j["tie_word_embeddings"] = p.tie;
  j["transformers_version"] = "4.57.6";
  j["use_cache"] = true;
  j["vocab_size"] = p.vocab;
  return j;
}

// Qwen3MoeConfig.
json qwen3_moe_json(const Preset& p, DType dtype) {
  json j = common_json(p, "Qwen3MoeForCausalLM", dtype);
  j["attention_bias"] = false;
  j["decoder_sparse_step"] = 1;
  j["head_dim"] = p.head_dim;
  j["intermediate_size"] = p.dense_intermediate;
  j["mlp_only_layers"] = json::array();
  j["moe_intermediate_size"] = p.moe_intermediate;
  j["norm_topk_prob"] = p.norm_topk_prob;
  j["num_experts"] = p.experts;
  j["rope_scaling"] = nullptr;
  j["sliding_window"] = nullptr;  // the class sets None unless use_sliding_window
  j["use_sliding_window"] = false;
  return j;
}

// MixtralConfig: experts are "local", their width is intermediate_size, head_dim may be null.
json mixtral_json(const Preset& p, DType dtype) {
  json j = common_json(p, "MixtralForCausalLM", dtype);
  j["head_dim"] = p.head_dim > 0 ? json(p.head_dim) : json(nullptr);
  j["intermediate_size"] = p.moe_intermediate;
  j["num_local_experts"] = p.experts;
  j["router_jitter_noise"] = 0.0;
  j["sliding_window"] = nullptr;
  return j;
}

// OlmoeConfig: no head_dim field (always hidden / heads), expert width is intermediate_size.
json olmoe_json(const Preset& p, DType dtype) {
  json j = common_json(p, "OlmoeForCausalLM", dtype);
  j["attention_bias"] = false;
  j["clip_qkv"] = nullptr;
  j["intermediate_size"] = p.moe_intermediate;
  j["norm_topk_prob"] = p.norm_topk_prob;
  j["num_experts"] = p.experts;
  j["rope_scaling"] = nullptr;
  return j;
}

Result<Preset> resolve_preset(const RandomCheckpointOptions& o) {
  const std::string like = o.like.empty() ? "qwen3_moe" : o.like;
  const std::string name = o.preset.empty() ? like + "-tiny" : o.preset;
  const Preset* found = nullptr;
  for (const Preset& p : presets()) {
    if (p.name == name) found = &p;
  }
  if (!found) {
    std::string list;
    for (const auto& n : random_checkpoint_presets())
      list += (list.empty() ? "" : ", ") + n;
    if (o.preset.empty()) {
      return invalid_argument(
          "random checkpoint: --like must be qwen3_moe, mixtral or olmoe, got '" + like + "'");
    }
    return invalid_argument("random checkpoint: unknown preset '" + o.preset + "' (known: " + list +
                            ")");
  }
  Preset p = *found;
  // A preset names its family; --like may repeat it but not contradict it.
  if (!o.preset.empty() && !o.like.empty() && o.like != p.family) {
    return invalid_argument("random checkpoint: preset '" + p.name + "' is a " + p.family +
                            " model, not '" + o.like + "'");
  }
  auto apply = [](int64_t& field, const std::optional<int64_t>& v) {
    if (v) field = *v;
  };
  apply(p.layers, o.layers);
  apply(p.hidden, o.hidden);
  apply(p.heads, o.heads);
  apply(p.kv_heads, o.kv_heads);
  apply(p.experts, o.experts);
  apply(p.top_k, o.top_k);
  apply(p.moe_intermediate, o.moe_intermediate);
  apply(p.vocab, o.vocab);
  apply(p.bos, o.bos_token_id);
  apply(p.eos, o.eos_token_id);
  apply(p.pad, o.pad_token_id);
  if (o.tie_embeddings) p.tie = *o.tie_embeddings;
  if (o.head_dim) {
    // Mixtral and OLMoE spell "hidden / heads" by leaving head_dim out; keep that spelling when
    // the override says the same thing.
    const bool derived =
        p.family != "qwen3_moe" && p.heads > 0 && *o.head_dim * p.heads == p.hidden;
    if (p.family == "olmoe" && !derived) {
      return invalid_argument(
          "random checkpoint: olmoe has no head_dim field; it is always "
          "hidden / heads");
    }
    p.head_dim = derived ? 0 : *o.head_dim;
  }
  if (p.head_dim == 0 && p.heads > 0 && p.hidden % p.heads != 0) {
    return invalid_argument("random checkpoint: hidden (" + std::to_string(p.hidden) +
                            ") is not a multiple of heads (" + std::to_string(p.heads) +
                            "); give head_dim" +
                            (p.family == "olmoe" ? " (not possible for olmoe)" : ""));
  }
  return p;
}

}  // namespace

const std::vector<std::string>& random_checkpoint_presets() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Preset& p : presets())
      names.push_back(p.name);
    return names;
  }();
  return kNames;
}

Result<nlohmann::json> random_checkpoint_config(const RandomCheckpointOptions& o) {
  if (o.dtype != DType::kF32 && o.dtype != DType::kBF16) {
    return invalid_argument(std::string("random checkpoint: dtype must be fp32 or bf16, got ") +
                            dtype_name(o.dtype));
  }
  SIEVE_ASSIGN_OR_RETURN(Preset p, resolve_preset(o));
  json j = p.family == "qwen3_moe" ? qwen3_moe_json(p, o.dtype)
           : p.family == "mixtral" ? mixtral_json(p, o.dtype)
                                   : olmoe_json(p, o.dtype);
  // The loader's own checks (positive sizes, top_k <= experts, heads vs kv heads, ...) decide
  // what is valid, so a generated checkpoint always opens.
  auto parsed = parse_model_config(j);
  if (!parsed.ok()) {
    return Status(parsed.status().code(), "random checkpoint: " + parsed.status().message());
  }
  return j;
}

}  // namespace sieve
