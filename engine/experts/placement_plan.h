// Expert placement: where each routed expert of an MoE layer runs this step. Experts live in two
// tiers — resident on the device within a byte budget, and all of them in host memory — and the
// planner assigns every expert the router touched to the device (resident), the host CPU (its
// tokens' activations go down, results come back up), or the device after an upload (worth it
// only for a hot expert that is not resident). The choice comes from a cost model whose
// constants are measured on the machine at start-up (placement_cost_model.h).
//
// Policies (--expert-placement):
//   sieve      per step and layer, balance the two tiers so that they finish together: hot
//              experts on the device (uploading a hot one that is not resident when that pays),
//              the long cold tail on the host; residency follows a decayed frequency;
//   host       every routed expert on the host (llama.cpp --cpu-moe, KTransformers);
//   static-hot a fixed resident set from a routing profile, resident ones on the device, the rest
//              on the host, nothing moves (llama.cpp -ot, KTransformers' frequency placement);
//   device     every expert resident on the device (when they fit).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"

namespace sieve {

enum class PlacementPolicy : uint8_t { kSieve, kHost, kStaticHot, kDevice };
std::string_view placement_policy_name(PlacementPolicy p);
// "sieve", "host", "static-hot", "device"; anything else is an error naming the choices.
Result<PlacementPolicy> parse_placement_policy(std::string_view name);

// Where one expert runs this step.
enum class ExpertTier : uint8_t {
  kIdle,    // no token chose it
  kDevice,  // resident on the device, runs there
  kHost,    // runs on the host CPU from host memory
  kUpload,  // copied to the device first, then runs there (and stays resident)
};

// One MoE layer's decision for one step.
struct LayerPlan {
  std::vector<ExpertTier> tier;  // [experts]
  // The cost model's prediction of each side, in seconds: device compute (resident and uploaded
  // experts), host compute, link time (uploads, and the host experts' activations both ways),
  // and the layer's time (the slower side, as the two overlap).
  double device_s = 0, host_s = 0, link_s = 0, predicted_s = 0;
  int64_t upload_bytes = 0;      // expert weights copied to the device
  int64_t activation_bytes = 0;  // host experts' rows down and results up
};

}  // namespace sieve
