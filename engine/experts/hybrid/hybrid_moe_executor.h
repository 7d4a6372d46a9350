// The hybrid MoE executor (--expert-placement): every MoE layer, every step, the planner splits
// the routed experts between the device and the host CPU, and the two run at the same time.
//
// Two tiers (tiered_experts.h): every expert's weights in host memory on a CPU backend of its own
// (the host tier), and device copies of the resident experts, within a budget of expert slots, on
// the model's backend (the device tier; the rest of the model — attention, dense layers, router,
// KV — runs there as always). Per layer:
//   1. the router's choices come to the host (the only device→host copy before the decision),
//      are counted per expert, and PlacementPlanner::plan gives every touched expert a tier:
//      resident on the device, on the host, or uploaded to the device first;
//   2. the chosen uploads are made (and admitted to the residency, which may evict another);
//   3. every (token, choice) row goes to exactly one tier: the host rows are gathered on the
//      device and copied down, and the host tier runs them on a helper thread with its own CPU
//      threads while the calling thread runs the device rows on the device tier (one choice per
//      row, weight 1, as the expert-parallel executor does);
//   4. the host results go back up, and Backend::combine_rows sums every token's rows with the
//      router's weights in router order — the single-executor arithmetic, row for row, so on the
//      CPU the logits are bit-identical to LocalMoeExecutor's.
// Residency (sieve policy) follows a decayed per-expert frequency (ResidencyTracker): at the
// start of each step the finished background copies are installed and a few more swaps toward
// the most frequent experts start on a helper thread (Backend::make_matrix_in_background: on
// CUDA a copy stream of its own), so no step waits for a swap. static-hot and device keep the
// set they loaded; host keeps none.
//
// Without a GPU the model's CPU backend plays the device tier with its own copies of the
// resident experts and its own share of the threads: the whole mechanism runs in CI.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/base/status.h"
#include "engine/checkpoint/model_config.h"
#include "engine/experts/hybrid/hybrid_stats.h"
#include "engine/experts/hybrid/serial_worker.h"
#include "engine/experts/hybrid/tiered_experts.h"
#include "engine/experts/moe_executor.h"
#include "engine/experts/placement_cost_model.h"
#include "engine/experts/placement_plan.h"
#include "engine/experts/placement_planner.h"

namespace sieve {

struct HybridMoeOptions {
  PlacementPolicy policy = PlacementPolicy::kSieve;
  PlacementCostModel cost;
  ExpertShape shape;               // one routed expert of the model, as held
  int64_t num_experts = 0;         // per MoE layer
  std::vector<bool> layer_is_moe;  // [layers] (ModelConfig::layer_is_moe)
  // Experts of any layer the device budget holds: --device-expert-memory over
  // ExpertShape::weight_bytes(). The device policy needs one per expert of every MoE layer.
  int64_t device_slots = 0;
  // static-hot only: the fixed resident set, [MoE layer][expert] nonzero, at most device_slots
  // (static_hot_profile.h makes it from a routing trace).
  std::vector<std::vector<uint8_t>> fixed_resident;
  double decay = 0.9;  // sieve: a step's counts weigh decay^age in the residency's frequency
  int64_t max_swaps_in_flight = 4;  // sieve: background copies started and not yet installed
};

// The options' model fields for `config` holding weights as `weight_dtype`: the expert shape, the
// experts per layer, which layers are MoE. Policy, cost model and budget are the caller's.
HybridMoeOptions hybrid_options_for(const ModelConfig& config, DType weight_dtype);

class HybridMoeExecutor final : public MoeExecutor {
 public:
  // `device` is the model's backend (the device tier); `host` a CPU backend of its own for the
  // host tier. Both must outlive the executor. Fails on options that cannot work (the device
  // policy without a slot for every expert, a static-hot set over the budget, ...), naming the
  // flag to change.
  static Result<std::unique_ptr<HybridMoeExecutor>> create(Backend& device, Backend& host,
                                                           HybridMoeOptions options);

  // The model loads no routed expert itself: the executor makes its host and device copies.
  bool holds(int64_t) const override { return false; }
  Status adopt_experts(int64_t layer, std::shared_ptr<const ExpertSource> source) override;
  // m.experts is not read: the tiers hold the layer's experts.
  void run(const MoeArgs& m, int64_t layer) override;

  const HybridMoeStats& stats() const { return stats_; }
  // Waits for the background copies in flight and installs those still wanted (before a
  // summary; tests).
  void finish_swaps();
  // Device copies held now, and their bytes.
  int64_t num_resident() const { return tiers_.num_on_device(); }
  int64_t resident_bytes() const { return num_resident() * o_.shape.weight_bytes(); }
  // The most device memory the expert copies can take: the budget's slots and, for sieve, the
  // background copies in flight (one the residency stopped wanting holds its memory until it
  // lands and is freed).
  int64_t max_device_bytes() const;
  const HybridMoeOptions& options() const { return o_; }

 private:
  HybridMoeExecutor(Backend& device, Backend& host, HybridMoeOptions options);
  void begin_step();
  // Installs the background copies that landed, where the residency still wants them.
  void install_swaps();
  // The planner's uploads beyond what the budget can hold, coldest first, run on the host.
  void cap_uploads(std::span<const int32_t> counts);
  // After the tracker changed (an admit or swaps): device copies it no longer wants are freed.
  void drop_unwanted();
  void refresh_residency_stats();
  Tensor to_device(const std::vector<int32_t>& v, std::vector<int64_t> shape);
  Tensor to_device(const std::vector<float>& v, std::vector<int64_t> shape);

  Backend& dev_;
  Backend& host_;
  HybridMoeOptions o_;
  std::vector<int64_t> moe_index_;  // [layer] → MoE layer, -1 for dense
  std::vector<int64_t> layer_of_;   // [MoE layer] → layer
  PlacementPlanner planner_;
  ResidencyTracker residency_;
  TieredExperts tiers_;
  SerialWorker host_lane_;  // runs a layer's host experts beside the device's
  HybridMoeStats stats_;
  int64_t last_layer_ = INT64_MAX;  // a layer at or below the last one starts a new step
  // Per-layer scratch on the host, reused.
  std::vector<int32_t> ids_, counts_;
  std::vector<uint8_t> resident_;
  LayerPlan plan_;
};

}  // namespace sieve
