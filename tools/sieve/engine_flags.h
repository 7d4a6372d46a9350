// The flags of every command that runs the engine (`sieve run`, `sieve serve`, `sieve bench
// throughput`): how the model is held, the scheduler's budgets, the KV cache, and recording the
// router's choices.
#pragma once

#include <cstdint>
#include <string>

#include "engine/engine.h"
#include "tools/sieve/placement/placement_flags.h"

namespace CLI {
class App;
}

namespace sieve {

struct EngineFlags {
  std::string dtype = "auto";
  std::string quantization = "none";  // --quantization: the routed experts' format on load
  bool quantize_dense = false;        // also the dense projections and the lm_head
  std::string load_format = "auto";
  std::string backend = "auto";
  double gpu_memory_utilization = 0.9;
  bool enforce_eager = false;
  bool moe_autotune = false;
  std::string moe_tuning_cache;
  int expert_parallel_size = 1;
  bool expert_parallel_overlap = false;
  PlacementFlags placement;  // --expert-placement and its flags: experts on the device and host
  double distributed_timeout_s = 60;
  int threads = 0;
  int64_t max_num_seqs = 64;
  int64_t max_num_batched_tokens = 512;
  int64_t block_size = 16;
  double kv_cache_gib = 2.0;
  int64_t max_model_len = 0;
  bool enable_prefix_caching = true;
  uint64_t seed = 0;
  std::string record_routing;  // a routing trace file to write; empty: none
  std::string router_skew;     // --load-format dummy: "zipf:S" or "none"; empty: config.json's

  EngineOptions engine_options() const;
};

void add_engine_flags(CLI::App* cmd, EngineFlags& flags);

}  // namespace sieve
