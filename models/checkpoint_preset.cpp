#include "models/checkpoint_preset.h"

#include <nlohmann/json.hpp>

#include "models/family.h"

namespace sieve {
namespace {

void put_token_id(nlohmann::json& j, const char* key, int64_t id) {
  if (id >= 0) j[key] = id;
}

}  // namespace

nlohmann::json common_config_json(const Family& f, const Preset& p, DType dtype) {
  nlohmann::json j;
  j["architectures"] = {std::string(f.architecture)};
  j["model_type"] = std::string(f.model_type);
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

}  // namespace sieve
