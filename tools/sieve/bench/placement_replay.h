// `sieve bench placement`'s engine: a routing trace replayed through each placement policy's
// planner and residency, priced by one cost model. Nothing runs an expert; every figure is the
// cost model's prediction, which is how the policies are compared on a machine without a GPU.
//
// The trace is split in two: a profile (the trace's first steps, or another trace) and the steps
// replayed. No policy learns from the steps it is scored on:
//   host        every routed expert on the host; residency plays no part;
//   static-hot  the `slots` (layer, expert) pairs the profile routed most tokens to are resident
//               for the whole replay, the others run on the host;
//   sieve       starts from static-hot's resident set, with the profile's counts as its decayed
//               frequencies, then per step and layer: the planner's plan on the current
//               residency; the layer's counts observed (frequency · decay + count); the experts
//               it uploaded admitted (each evicting the least frequent resident expert when the
//               slots are full); after the step, background swaps toward the most frequent
//               experts, as many as the link carries in the time it is idle during the step
//               (step time − link busy time) / one expert's upload time;
//   device      every expert resident, when all fit the budget; otherwise "does not fit".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/base/status.h"
#include "engine/experts/placement_cost_model.h"
#include "engine/experts/placement_plan.h"
#include "engine/experts/routing_trace.h"

namespace sieve::bench {

struct ReplayOptions {
  ExpertShape shape;
  PlacementCostModel cost;
  double device_expert_bytes = 0;  // the budget: expert weights resident on the device
  std::vector<PlacementPolicy> policies = {PlacementPolicy::kSieve, PlacementPolicy::kHost,
                                           PlacementPolicy::kStaticHot, PlacementPolicy::kDevice};
  double residency_decay = 0.9;  // per step, of sieve's expert frequencies
  // The profile: the first `profile_fraction` of the trace's steps (at least one, and at least
  // one left to replay), unless `profile` is given, in which case every step is replayed.
  double profile_fraction = 0.25;
  const RoutingTrace* profile = nullptr;
};

// One policy over the replayed steps. Times, bytes and expert counts are per step (means),
// each a sum over the trace's MoE layers.
struct PolicyReplay {
  PlacementPolicy policy = PlacementPolicy::kSieve;
  bool fits = true;  // false: the device policy with a budget smaller than all experts
  double step_s = 0;
  double device_s = 0, host_s = 0, link_s = 0;  // each side's busy time
  // Σ min(host, device) / Σ max(host, device) over layers and steps: 1 when both sides finish
  // together, 0 when one of them does all the work.
  double balance = 0;
  double upload_bytes = 0;      // weights the planner copied to the device before running them
  double swap_bytes = 0;        // weights copied in the background (residency swaps)
  double activation_bytes = 0;  // host experts' rows down and results up
  double experts_device = 0, experts_host = 0, experts_upload = 0;
  double speedup_vs_host = 0, speedup_vs_static_hot = 0;  // 0: that baseline was not replayed
};

struct ReplayResult {
  int64_t moe_layers = 0, num_experts = 0;
  int64_t slots = 0;  // experts the budget holds over all layers
  int64_t profile_steps = 0, replayed_steps = 0;
  std::string profile_source;  // "the trace's first 25 steps", "profile.jsonl (100 steps)"
  double tokens_per_step = 0;  // of the replayed steps
  std::vector<PolicyReplay> policies;
};

// Errors say what to change: a trace without MoE layers or with too few steps to split, a
// profile of another shape, a budget smaller than one expert.
Result<ReplayResult> replay_trace(const RoutingTrace& trace, const ReplayOptions& o);

}  // namespace sieve::bench
