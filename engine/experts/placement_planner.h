// The placement planner: one MoE layer's per-expert token counts (the router's, copied to the
// host: the only device→host copy before the decision) and the current residency in, a
// LayerPlan out (placement_plan.h). Residency itself (which experts stay on the device) follows
// a decayed per-expert frequency (ResidencyTracker). Both are plain host code, shared by the
// hybrid executor at run time and by `sieve bench placement`, which replays routing traces
// through every policy.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "engine/experts/placement_cost_model.h"
#include "engine/experts/placement_plan.h"

namespace sieve {

struct PlannerOptions {
  PlacementPolicy policy = PlacementPolicy::kSieve;
  ExpertShape shape;
  PlacementCostModel cost;
  int64_t num_experts = 0;
};

class PlacementPlanner {
 public:
  explicit PlacementPlanner(PlannerOptions options);

  // counts: [experts] tokens routed to each; resident: [experts] nonzero where the expert is on
  // the device now. Every expert with tokens gets exactly one tier (kIdle for the others); only
  // the sieve policy uploads, and only experts that are not resident; kDevice only for resident
  // ones. Deterministic: the same inputs give the same plan. Allocates nothing after the first
  // call of a size.
  void plan(std::span<const int32_t> counts, std::span<const uint8_t> resident, LayerPlan& out);

  const PlannerOptions& options() const { return o_; }

 private:
  PlannerOptions o_;
  std::vector<int32_t> order_;  // scratch: touched experts by count
};

// Which experts of every MoE layer are resident on the device, within a budget of expert slots
// over all layers (--device-expert-memory / ExpertShape::weight_bytes()). Each step's counts
// update a per-(layer, expert) frequency decayed by `decay` per step; the most frequent ones
// should be resident. Changes are handed out a few at a time (next_swaps), for a copy stream to
// carry out in the background without stalling a step.
class ResidencyTracker {
 public:
  ResidencyTracker(int64_t num_moe_layers, int64_t num_experts, int64_t slots, double decay);

  void observe(int64_t moe_layer, std::span<const int32_t> counts);
  // [experts] of layer `moe_layer`: nonzero where resident.
  std::span<const uint8_t> resident(int64_t moe_layer) const;
  // Makes `expert` of `moe_layer` resident now (an upload the planner chose), evicting the
  // least frequent resident expert of any layer when the slots are full. Call it once the layer
  // has run: the eviction may take an expert this layer's plan ran on the device.
  void admit(int64_t moe_layer, int64_t expert);

  struct Swap {
    int64_t moe_layer = 0, evict = -1, admit = -1;  // -1: none
  };
  // Up to `max_swaps` changes that move residency toward the most frequent experts, applied to
  // resident() when returned. An expert replaces a resident one only when it is strictly more
  // frequent, so ties never cost a copy. An eviction in another layer than the admission it
  // makes room for is its own entry (admit = -1).
  std::vector<Swap> next_swaps(int64_t max_swaps);

  // A fixed set (static-hot's profile, or everything for the device policy): replaces the
  // current residency; at most `slots` experts over all layers.
  void set_resident(std::span<const std::vector<uint8_t>> per_layer);

  int64_t slots() const { return slots_; }
  int64_t num_resident() const;

 private:
  int64_t layers_, experts_, slots_;
  double decay_;
  std::vector<double> freq_;       // [layer * experts + expert]
  std::vector<uint8_t> resident_;  // [layer * experts + expert]
};

}  // namespace sieve
