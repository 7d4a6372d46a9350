// `sieve inspect`: what a checkpoint is and what it needs, without loading the weights.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "models/registry.h"

namespace CLI {
class App;
}

namespace sieve {

void add_inspect_command(CLI::App& app);
// The facts `inspect` prints, as JSON (--json) — also what the human-readable form shows.
nlohmann::json describe_model(const ModelDir& dir);
// --expert-parallel-size: what each of `size` ranks holds when every MoE layer's experts are
// split with ExpertPlacement::contiguous and everything else is replicated. `size` must have
// passed ModelConfig::check_expert_parallel_size. {"size", "placement" (describe()),
// "replicated_params", "ranks": [{"rank", "experts": [first, last] (inclusive; [] for none),
// "num_experts", "params", "expert_params", "weight_bytes_bf16" / "_fp32" /
// "_checkpoint_dtype", "kv_bytes_per_token_bf16" / "_fp32"}]}.
nlohmann::json describe_expert_parallel(const ModelConfig& config, int size);

}  // namespace sieve
