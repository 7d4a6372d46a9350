#include <nlohmann/json.hpp>

#include "models/family.h"
#include "models/rope_params.h"

namespace sieve {

void read_common_fields(ConfigReader& r, ModelConfig& c, bool rope_neox) {
  const auto& archs = r.json().value("architectures", nlohmann::json::array());
  if (archs.is_array() && !archs.empty() && archs[0].is_string()) {
    c.architecture = archs[0].get<std::string>();
  }
  c.vocab_size = r.positive_int("vocab_size");
  c.hidden_size = r.positive_int("hidden_size");
  c.num_layers = r.positive_int("num_hidden_layers");
  c.num_heads = r.positive_int("num_attention_heads");
  c.num_kv_heads =
      r.has("num_key_value_heads") ? r.positive_int("num_key_value_heads") : c.num_heads;
  // head_dim may be absent or null: then hidden_size / num_attention_heads.
  c.head_dim = r.has("head_dim") ? r.positive_int("head_dim") : c.hidden_size / c.num_heads;
  if (c.num_heads % c.num_kv_heads != 0) {
    r.fail(StatusCode::kInvalidArgument, "num_attention_heads (" + std::to_string(c.num_heads) +
                                             ") is not a multiple of num_key_value_heads (" +
                                             std::to_string(c.num_kv_heads) + ")");
  }
  c.rms_norm_eps = static_cast<float>(r.number_or("rms_norm_eps", 1e-6));
  c.tie_word_embeddings = r.bool_or("tie_word_embeddings", false);
  c.max_position_embeddings = r.int_or("max_position_embeddings", 0);
  c.checkpoint_dtype = r.checkpoint_dtype();
  c.bos_token_id = r.int_or("bos_token_id", -1);
  c.eos_token_ids = r.int_list_or_empty("eos_token_id");
  const std::string act = r.string_or("hidden_act", "silu");
  if (act != "silu") r.unsupported("hidden_act '" + act + "'");
  c.rope = read_rope(r, c.head_dim, rope_neox);
}

void reject_attention_bias(ConfigReader& r) {
  if (r.bool_or("attention_bias", false)) r.unsupported("attention_bias: true");
}

}  // namespace sieve
