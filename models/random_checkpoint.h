// Random-weight checkpoints in the real Hugging Face layout (config.json as transformers writes
// it for the family's class, safetensors sharded above a size limit), for demos, benchmarks
// and tests at real model shapes without downloading anything.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"
#include "engine/base/status.h"
#include "engine/checkpoint/quantization.h"
#include "models/router_skew.h"

namespace sieve {

struct RandomCheckpointOptions {
  std::string dir;  // written (created if needed); existing files are replaced
  // A family's model_type (models/registry.h). Empty: the preset's family, or the registry's
  // default family without a preset.
  std::string like;
  // "" (the tiny demo model of family `like`) or one of random_checkpoint_presets(): the real
  // models' shapes each family lists, and the families' tiny demos by name.
  std::string preset;
  // Overrides of the preset's shape; unset keeps the preset's value.
  std::optional<int64_t> layers, hidden, heads, kv_heads, head_dim, experts, top_k,
      moe_intermediate, vocab;
  std::optional<bool> tie_embeddings;
  // Special token ids written to config.json (e.g. those of a tokenizer shipped beside it).
  std::optional<int64_t> bos_token_id, eos_token_id, pad_token_id;
  DType dtype = DType::kBF16;  // kF32 or kBF16
  // Quantized storage of the projections (models/quantized_checkpoint.h); the other tensors are
  // stored as `dtype`. The weights quantized are those of the same seed unquantized.
  QuantizationConfig quantization;
  uint64_t seed = 0;
  // Synthetic routing skew of the routers' weights, written into config.json (router_skew.h).
  RouterSkew router_skew;
  uint64_t max_shard_bytes = 5'000'000'000;  // transformers' default max_shard_size "5GB"
  int threads = 0;                           // <= 0: one per core
  // Write config.json alone: for --load-format dummy, which makes the seed-0 weights itself.
  bool config_only = false;
  std::function<void(uint64_t done_bytes, uint64_t total_bytes)> progress;
};

// The preset names accepted in RandomCheckpointOptions::preset ("" is not listed): every
// family's real models, then every family's tiny demo, in the registry's order.
const std::vector<std::string>& random_checkpoint_presets();

// The model_type of the checkpoint `options` describe (the preset's family, else `like`, else
// the registry's default), or the error random_checkpoint_config would give.
Result<std::string> random_checkpoint_model_type(const RandomCheckpointOptions& options);

// The config.json make_random_checkpoint would write, after applying preset and overrides and
// checking it parses as a model sieve runs. Writes nothing, so huge presets are cheap to test.
Result<nlohmann::json> random_checkpoint_config(const RandomCheckpointOptions& options);

// Writes config.json and deterministic random weights (same options and seed → same bytes).
// Weights are scaled so activations stay O(1) through the layers and routing spreads tokens
// over the experts.
Status make_random_checkpoint(const RandomCheckpointOptions& options);

}  // namespace sieve
