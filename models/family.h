// A model family: everything that differs between, say, Qwen3-MoE and Mixtral, in one file under
// models/families/ — how to read its config.json, its recipe (which blocks each layer is made
// of, with their options and weight names), and what `sieve make-checkpoint` writes for it
// (presets and config.json). The registry (models/registry.cpp) lists the families; everything
// else (loading, validation, parameter counts, KV sizes, random weights) is derived.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"
#include "engine/checkpoint/model_config.h"
#include "models/blocks/decoder.h"
#include "models/checkpoint_preset.h"
#include "models/config_reader.h"

namespace sieve {

// How the family's config class writes head_dim (make-checkpoint keeps the spelling).
enum class HeadDimField : uint8_t {
  kNumber,           // always a number
  kNullWhenDerived,  // null when it is hidden / heads, else a number
  kAbsent,           // no such field: always hidden / heads
};

struct Family {
  std::string_view model_type;    // config.json "model_type": the registry key
  std::string_view architecture;  // the transformers class it matches
  // config.json → ModelConfig (model_type aside, which the registry sets); problems go to
  // `reader`.
  ModelConfig (*parse)(ConfigReader& reader) = nullptr;
  // The recipe: the blocks of every layer of a model of `config`, with their options and weight
  // names, weights not loaded yet.
  std::vector<DecoderLayer> (*recipe)(const ModelConfig& config) = nullptr;

  // make-checkpoint: real models' shapes (--preset), the tiny demo made without --preset, how
  // head_dim is spelled, and config.json for a preset: exactly the keys the transformers config
  // class writes (common_config_json plus the family's own).
  std::span<const Preset> presets;
  const Preset* tiny = nullptr;
  HeadDimField head_dim_field = HeadDimField::kNumber;
  nlohmann::json (*write_config)(const Family& family, const Preset& preset, DType dtype) = nullptr;
};

// Fields every family reads the same way (sizes, norms, rope, eos/bos, dtype, architectures).
// Family-specific fields are read by the family; the registry sets model_type.
void read_common_fields(ConfigReader& reader, ModelConfig& c, bool rope_neox);
// For families whose attention has no biases: `attention_bias: true` is an error naming it.
void reject_attention_bias(ConfigReader& reader);

}  // namespace sieve
