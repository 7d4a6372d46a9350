// A synthetic routing skew for random-weight models (`--router-skew zipf:S`). Random router
// weights spread tokens almost uniformly over the experts, while trained models' loads are
// bimodal: a few hot experts take many tokens, a long cold tail one or two. With a skew, the
// router row of the expert of rank r in each MoE layer (ranks laid on the experts by a
// permutation drawn per layer from the weights' seed) is scaled by r^-S: the expert's logit
// varies r^S times less from token to token, so it reaches the top-k r^S times more rarely
// than the busiest expert does.
//
// This is synthetic: it gives the loads a trained model's skew, not its routing. The skew is
// written into config.json under kRouterSkewKey, a sieve-only key that transformers keeps as an
// unused attribute, so `--load-format dummy` makes exactly the weights `sieve make-checkpoint`
// wrote. What each S gives (top-8 share, Gini, max/mean) is measured in the README.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/backends/backend.h"
#include "engine/base/status.h"
#include "engine/checkpoint/weight_fill.h"

namespace sieve {

inline constexpr const char* kRouterSkewKey = "sieve_router_skew";

struct RouterSkew {
  double zipf_s = 0;  // 0: none (every router row filled alike)

  bool enabled() const { return zipf_s > 0; }
  std::string text() const;  // "zipf:1.2", or "none"
};

// "zipf:S" (S > 0) or "none".
Result<RouterSkew> parse_router_skew(std::string_view text);
// config.json's kRouterSkewKey; absent or null: none.
Result<RouterSkew> read_router_skew(const nlohmann::json& config);
// Adds kRouterSkewKey to config.json when the skew is enabled (a config without one is left as
// transformers writes it).
void write_router_skew(const RouterSkew& skew, nlohmann::json& config);

// The rows of a router gate [num_experts, hidden] that would otherwise be filled with `fill`
// (uniform, fill.bound), one block per expert: its own key, its bound scaled by its rank's Zipf
// weight.
std::vector<RowBlockFill> skewed_router_rows(const WeightFill& fill, int64_t num_experts,
                                             const RouterSkew& skew);

}  // namespace sieve
