// What the hybrid MoE executor did, per MoE layer, since the start (telemetry: /metrics, the
// end-of-run log line, a live view of residency). Written by the executor on the thread that runs
// the steps; front ends read a copy published after each step (EngineSnapshot::placement).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/experts/placement_plan.h"

namespace sieve {

struct HybridMoeStats {
  struct Layer {
    // Rows ((token, expert) choices) and expert runs per tier: resident on the device, uploaded
    // to the device for this step, on the host.
    int64_t device_rows = 0, upload_rows = 0, host_rows = 0;
    int64_t device_experts = 0, upload_experts = 0, host_experts = 0;
    int64_t upload_bytes = 0;      // expert weights copied to the device by uploads
    int64_t activation_bytes = 0;  // host experts' rows down and results up
    // Residency changes: background copies installed (and their bytes), device copies freed.
    int64_t swaps_in = 0, swap_bytes = 0, evictions = 0;
    double planner_seconds = 0;  // in PlacementPlanner::plan
    // The cost model's time of the layer, summed over steps: the planner's plan, before uploads
    // beyond the budget's slots are moved to the host.
    double predicted_seconds = 0;
    double actual_seconds = 0;          // the layer's MoE, measured, summed over steps
    std::vector<ExpertTier> last_tier;  // [experts] where each expert ran in the last step
    std::vector<uint8_t> resident;      // [experts] 1 where a device copy is held now
    bool is_moe() const { return !resident.empty(); }  // dense layers stay empty
    int64_t num_resident() const {
      int64_t n = 0;
      for (uint8_t r : resident)
        n += r;
      return n;
    }
  };
  std::string policy;        // placement_policy_name
  int64_t device_slots = 0;  // experts (of any layer) the device budget holds
  int64_t steps = 0;         // steps that ran MoE layers
  // The last step's MoE layers, all together: the cost model's time and the measured one.
  double step_predicted_seconds = 0, step_actual_seconds = 0;
  std::vector<Layer> layers;  // [layer]
  bool enabled() const { return !layers.empty(); }
};

}  // namespace sieve
