// The cost model the placement planner decides with: how long one expert takes on each tier for
// a given token count, and how long moving weights or activations over the host↔device link
// takes. An expert's time on a tier is a roofline — the fixed cost of running it, plus the
// larger of its arithmetic over the tier's expert FLOP rate and its weight bytes over the
// tier's weight-streaming bandwidth — so one token is bandwidth-bound and many are
// compute-bound, the bimodal loads the planner exploits.
//
// Constants are measured on the machine at start-up (the host tier with the CPU backend's own
// expert kernel on the model's expert shape and dtype; the device tier and the link likewise
// where there is a device), printed in one log line, and saved and loaded as JSON
// (--placement-cost-model FILE). Replaying a trace without a GPU takes the device and link
// constants from a named specification (h100_sxm_device) and the host ones measured here.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "engine/base/dtype.h"
#include "engine/base/status.h"

namespace sieve {

// One routed expert of a model (gate, up and down of a SwiGLU MLP), as held.
struct ExpertShape {
  int64_t hidden = 0;
  int64_t intermediate = 0;
  DType weight_dtype = DType::kBF16;
  int64_t weight_bytes() const;                // 3 · hidden · intermediate at weight_dtype
  double flops_per_token() const;              // 2 · 3 · hidden · intermediate
  int64_t activation_bytes_per_token() const;  // one fp32 row of hidden
};

struct TierRates {
  double flops_per_s = 0;         // expert arithmetic at large token counts
  double weight_bytes_per_s = 0;  // streaming an expert's weights (what bounds 1 token)
  double per_expert_s = 0;        // fixed cost of running one expert (dispatch, launch)
};

struct PlacementCostModel {
  TierRates device, host;
  double h2d_bytes_per_s = 0, d2h_bytes_per_s = 0;  // the link, each direction
  double transfer_s = 0;                            // fixed cost of one transfer
  // Where the figures come from: "measured: CPU backend (avx512, 16 threads)", "H100 SXM
  // datasheet", ...
  std::string device_source, host_source, link_source;

  double expert_seconds(const TierRates& tier, const ExpertShape& shape, int64_t tokens) const;
  // Copying one expert's weights to the device.
  double upload_seconds(const ExpertShape& shape) const;
  // `tokens` activation rows down to the host and their results back up.
  double activation_seconds(const ExpertShape& shape, int64_t tokens) const;

  // One log line: every constant with its unit and source.
  std::string describe() const;
  nlohmann::json to_json() const;
  static Result<PlacementCostModel> from_json(const nlohmann::json& j);
  Status save(const std::string& path) const;
  static Result<PlacementCostModel> load(const std::string& path);
};

// The device and link constants of an NVIDIA H100 SXM from its datasheet (dense BF16 tensor
// throughput, HBM3 bandwidth, PCIe Gen5 x16), with `host` kept: what replay uses for the device
// tier on a machine without a GPU. The source strings say so.
PlacementCostModel h100_sxm_device(const PlacementCostModel& host);

}  // namespace sieve
