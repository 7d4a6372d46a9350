#include "engine/experts/hybrid/static_hot_profile.h"

#include <algorithm>
#include <numeric>
#include <string>

namespace sieve {
namespace {

std::string list(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i)
    s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

}  // namespace

Result<std::vector<std::vector<uint8_t>>> static_hot_residency(
    const RoutingTrace& trace, int64_t num_experts, const std::vector<int64_t>& moe_layers,
    int64_t slots) {
  const RoutingTraceHeader& h = trace.header;
  if (h.num_experts != num_experts) {
    return invalid_argument("the routing profile has " + std::to_string(h.num_experts) +
                            " experts per layer, the model " + std::to_string(num_experts) +
                            ": record one from this model (--record-routing)");
  }
  if (h.moe_layers != moe_layers) {
    return invalid_argument("the routing profile's MoE layers are " + list(h.moe_layers) +
                            ", the model's " + list(moe_layers) +
                            ": record one from this model (--record-routing)");
  }
  const int64_t L = static_cast<int64_t>(moe_layers.size());
  std::vector<int64_t> total(L * num_experts, 0);
  for (const RoutingStep& step : trace.steps) {
    for (int64_t l = 0; l < L; ++l) {
      for (int64_t e = 0; e < num_experts; ++e)
        total[l * num_experts + e] += step.counts[l][e];
    }
  }
  std::vector<int64_t> order(total.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return total[a] > total[b]; });
  std::vector<std::vector<uint8_t>> resident(L, std::vector<uint8_t>(num_experts, 0));
  for (int64_t i = 0; i < std::min<int64_t>(slots, static_cast<int64_t>(order.size())); ++i) {
    if (total[order[i]] == 0) break;
    resident[order[i] / num_experts][order[i] % num_experts] = 1;
  }
  return resident;
}

}  // namespace sieve
