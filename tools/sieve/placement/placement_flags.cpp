#include "tools/sieve/placement/placement_flags.h"

#include <CLI/CLI.hpp>

namespace sieve {

void add_placement_flags(CLI::App* cmd, PlacementFlags& f) {
  cmd->add_option(
         "--expert-placement", f.policy,
         "Split every MoE layer's routed experts between the device and the host CPU, planned "
         "every step (the rest of the model stays on --backend): sieve (hot experts on the "
         "device, the cold tail on the host, balanced by a cost model; residency follows the "
         "load), host (every routed expert on the CPU, as llama.cpp --cpu-moe or "
         "KTransformers), static-hot (a fixed hot set from --placement-profile, as llama.cpp "
         "-ot), device (every expert on the device; they must fit). Without it, every expert "
         "stays on --backend. On the CPU backend the device tier is a stand-in: a second copy "
         "of the resident experts with half of --threads")
      ->check(CLI::IsMember({"sieve", "host", "static-hot", "device"}));
  cmd->add_option("--device-expert-memory", f.device_expert_memory_gb,
                  "GiB of device memory the resident experts may take (fractions allowed: "
                  "0.0004 holds a few experts of a tiny model); needed by sieve and static-hot, "
                  "by default everything for device")
      ->check(CLI::Range(0.0, 1e6));
  cmd->add_option("--placement-cost-model", f.cost_model,
                  "JSON file of the placement cost model (per-tier expert FLOP rate and weight "
                  "bandwidth, link bandwidth both ways): read if it exists, else measured at "
                  "start-up and written there");
  cmd->add_option("--placement-profile", f.profile,
                  "static-hot: a routing trace (--record-routing) whose busiest experts, over "
                  "all MoE layers, fill --device-expert-memory");
}

}  // namespace sieve
