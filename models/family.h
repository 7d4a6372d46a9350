// A model family: how to read its config.json and what its weights are called. The wiring is
// shared (models/moe_decoder.h); a family file holds only what differs.
#pragma once

#include <string>

#include "engine/checkpoint/model_config.h"
#include "models/config_reader.h"

namespace sieve {

struct WeightNaming {
  std::string moe_block = "mlp";  // model.layers.{i}.<moe_block>.gate / .experts.{e}.*
  std::string expert_gate = "gate_proj";
  std::string expert_up = "up_proj";
  std::string expert_down = "down_proj";
};

struct Family {
  std::string model_type;    // config.json "model_type"
  std::string architecture;  // the transformers class it matches
  // Fills a ModelConfig from config.json; problems go to `reader`.
  ModelConfig (*parse)(ConfigReader& reader) = nullptr;
  WeightNaming naming;
};

// One per file in models/; the registry lists them.
const Family& qwen3_moe_family();
const Family& mixtral_family();
const Family& olmoe_family();

// Fields every family reads the same way (sizes, norms, rope, eos/bos, dtype), after the
// family has set model_type. Family-specific fields are read by the family.
void read_common_fields(ConfigReader& reader, ModelConfig& c, bool rope_neox);

}  // namespace sieve
