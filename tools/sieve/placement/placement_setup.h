// Setting up --expert-placement for a command that loads a model: the flags checked against each
// other and the model before any weight loads, the thread split, the start-up cost model, the
// executor, and the lines logged about it.
#pragma once

#include <memory>
#include <string>

#include "engine/backends/backend.h"
#include "engine/backends/cpu_backend.h"
#include "engine/base/status.h"
#include "engine/checkpoint/model_config.h"
#include "engine/experts/hybrid/hybrid_moe_executor.h"
#include "tools/sieve/placement/placement_flags.h"

namespace sieve {

// Everything --expert-placement decided before the backends exist.
struct PlacementSetup {
  HybridMoeOptions options;  // all but the cost model
  int device_threads = 0;    // the model's backend (on the CPU: the device tier's stand-in)
  int host_threads = 0;      // the host tier's CPU backend
};

// The checks that need no model (policy and flags that go together; not with expert
// parallelism).
Status check_placement_flags(const PlacementFlags& flags, int expert_parallel_size);

// The flags against the model (`weight_dtype`: how its weights will be held) and the backend
// ("cpu" or "cuda") with `threads` CPU threads (0: one per core): the device budget in expert
// slots, static-hot's resident set from its profile, the thread split.
Result<PlacementSetup> prepare_placement(const PlacementFlags& flags, const ModelConfig& config,
                                         DType weight_dtype, const std::string& backend,
                                         int threads);

// The cost model: --placement-cost-model's file when it exists; otherwise measured on the two
// tiers and the link between them (and written to the file when one is named).
Result<PlacementCostModel> startup_cost_model(const PlacementFlags& flags, Backend& device,
                                              Backend& host, const ExpertShape& shape);

// One line: the policy, the budget, the tiers and their threads, and, on the CPU backend, that
// the device tier is a stand-in.
std::string describe_placement(const PlacementSetup& setup, const Backend& device);

// One line at the end of a run: where the rows ran, uploads, swaps, planner time, predicted and
// measured MoE time per step.
std::string summarize_placement(const HybridMoeStats& stats);

}  // namespace sieve
