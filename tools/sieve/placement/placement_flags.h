// --expert-placement and the flags that go with it (sieve run, sieve serve, sieve bench
// throughput): split every MoE layer's routed experts, every step, between the device and the
// host CPU (engine/experts/hybrid/hybrid_moe_executor.h). Without --expert-placement the model runs
// as before: every expert on the model's backend.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace sieve {

struct PlacementFlags {
  std::string policy;                   // sieve | host | static-hot | device; empty: off
  double device_expert_memory_gb = -1;  // GiB of device memory for experts; < 0: not given
  std::string cost_model;               // JSON file: read if it exists, else measured and written
  std::string profile;                  // static-hot: a routing trace whose busiest experts stay
  bool enabled() const { return !policy.empty(); }
};

void add_placement_flags(CLI::App* cmd, PlacementFlags& flags);

}  // namespace sieve
