#include "models/router_skew.h"

#include <cstdio>
#include <numeric>

#include <nlohmann/json.hpp>

#include "engine/experts/routing_synth.h"

namespace sieve {

std::string RouterSkew::text() const {
  if (!enabled()) return "none";
  char buf[32];
  std::snprintf(buf, sizeof buf, "zipf:%g", zipf_s);
  return buf;
}

Result<RouterSkew> parse_router_skew(std::string_view text) {
  if (text == "none") return RouterSkew{};
  auto source = parse_routing_source(text);
  if (!source.ok() || !source->is_zipf()) {
    return invalid_argument("router skew '" + std::string(text) +
                            "': expected zipf:S (S > 0) or none");
  }
  return RouterSkew{source->zipf_s};
}

Result<RouterSkew> read_router_skew(const nlohmann::json& config) {
  if (!config.contains(kRouterSkewKey) || config[kRouterSkewKey].is_null()) return RouterSkew{};
  const nlohmann::json& v = config[kRouterSkewKey];
  auto skew = v.is_string() ? parse_router_skew(v.get<std::string>())
                            : Result<RouterSkew>(invalid_argument("not a string"));
  if (!skew.ok()) {
    return invalid_argument(std::string("config.json: '") + kRouterSkewKey + "' must be " +
                            "\"zipf:S\" (S > 0) or \"none\", got " + v.dump());
  }
  return skew;
}

void write_router_skew(const RouterSkew& skew, nlohmann::json& config) {
  if (skew.enabled()) config[kRouterSkewKey] = skew.text();
}

std::vector<RowBlockFill> skewed_router_rows(const WeightFill& fill, int64_t num_experts,
                                             const RouterSkew& skew) {
  SIEVE_CHECK(skew.enabled());
  SIEVE_CHECK_GT(fill.bound, 0.0f);
  // Which expert has which rank: a Fisher-Yates shuffle driven by the tensor's own key, so every
  // layer (every router tensor) has its own hot experts.
  std::vector<int64_t> expert_of_rank(num_experts);
  std::iota(expert_of_rank.begin(), expert_of_rank.end(), 0);
  const uint64_t shuffle_key = weight_fill_key(fill.key, ~uint64_t{0});
  for (int64_t i = num_experts - 1; i > 0; --i) {
    const uint64_t j =
        weight_fill_key(shuffle_key, static_cast<uint64_t>(i)) % static_cast<uint64_t>(i + 1);
    std::swap(expert_of_rank[i], expert_of_rank[j]);
  }
  const std::vector<double> scale = zipf_weights(num_experts, skew.zipf_s);
  std::vector<RowBlockFill> rows(num_experts);
  for (int64_t r = 0; r < num_experts; ++r) {
    const int64_t e = expert_of_rank[r];
    rows[e].rows = 1;
    rows[e].fill.key = weight_fill_key(fill.key, static_cast<uint64_t>(e));
    rows[e].fill.bound = static_cast<float>(fill.bound * scale[r]);
  }
  return rows;
}

}  // namespace sieve
