#include "tools/sieve/bench/placement_replay.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <span>

#include "engine/experts/placement_planner.h"

namespace sieve::bench {
namespace {

using Layers = std::vector<std::vector<uint8_t>>;  // [moe layer][expert]

std::string gigabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g GB", bytes / 1e9);
  return buf;
}

// The `slots` (layer, expert) pairs with the most tokens over the profile, ties to the lower
// layer and expert.
Layers hottest_in_profile(std::span<const RoutingStep> profile, int64_t layers, int64_t experts,
                          int64_t slots) {
  std::vector<int64_t> total(layers * experts, 0);
  for (const RoutingStep& s : profile)
    for (int64_t l = 0; l < layers; ++l)
      for (int64_t e = 0; e < experts; ++e)
        total[l * experts + e] += s.counts[l][e];
  std::vector<int64_t> order(total.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return total[a] > total[b]; });
  Layers set(layers, std::vector<uint8_t>(experts, 0));
  for (int64_t i = 0; i < std::min<int64_t>(slots, static_cast<int64_t>(order.size())); ++i)
    set[order[i] / experts][order[i] % experts] = 1;
  return set;
}

// Sums of one policy's layer plans.
struct Totals {
  double step = 0, device = 0, host = 0, link = 0, low_side = 0, high_side = 0;
  double upload_bytes = 0, swap_bytes = 0, activation_bytes = 0;
  double on_device = 0, on_host = 0, uploaded = 0;

  void add(const LayerPlan& p) {
    step += p.predicted_s;
    device += p.device_s;
    host += p.host_s;
    link += p.link_s;
    low_side += std::min(p.device_s, p.host_s);
    high_side += std::max(p.device_s, p.host_s);
    upload_bytes += static_cast<double>(p.upload_bytes);
    activation_bytes += static_cast<double>(p.activation_bytes);
    for (ExpertTier t : p.tier) {
      on_device += t == ExpertTier::kDevice;
      on_host += t == ExpertTier::kHost;
      uploaded += t == ExpertTier::kUpload;
    }
  }

  PolicyReplay per_step(PlacementPolicy policy, int64_t steps) const {
    const double n = static_cast<double>(steps);
    PolicyReplay r;
    r.policy = policy;
    r.step_s = step / n;
    r.device_s = device / n;
    r.host_s = host / n;
    r.link_s = link / n;
    r.balance = high_side > 0 ? low_side / high_side : 0;
    r.upload_bytes = upload_bytes / n;
    r.swap_bytes = swap_bytes / n;
    r.activation_bytes = activation_bytes / n;
    r.experts_device = on_device / n;
    r.experts_host = on_host / n;
    r.experts_upload = uploaded / n;
    return r;
  }
};

struct ReplayContext {
  const ReplayOptions& o;
  std::span<const RoutingStep> profile, steps;
  int64_t layers = 0, experts = 0, slots = 0;
};

PolicyReplay replay_policy(const ReplayContext& c, PlacementPolicy policy) {
  PlannerOptions po;
  po.policy = policy;
  po.shape = c.o.shape;
  po.cost = c.o.cost;
  po.num_experts = c.experts;
  PlacementPlanner planner(po);
  ResidencyTracker tracker(c.layers, c.experts, c.slots, c.o.residency_decay);
  switch (policy) {
    case PlacementPolicy::kHost:
      break;
    case PlacementPolicy::kDevice:
      tracker.set_resident(Layers(c.layers, std::vector<uint8_t>(c.experts, 1)));
      break;
    case PlacementPolicy::kStaticHot:
    case PlacementPolicy::kSieve:
      tracker.set_resident(hottest_in_profile(c.profile, c.layers, c.experts, c.slots));
      break;
  }
  if (policy == PlacementPolicy::kSieve) {
    for (const RoutingStep& s : c.profile)
      for (int64_t l = 0; l < c.layers; ++l)
        tracker.observe(l, s.counts[l]);
  }
  const double upload_s = c.o.cost.upload_seconds(c.o.shape);
  const double expert_bytes = static_cast<double>(c.o.shape.weight_bytes());

  Totals totals;
  LayerPlan plan;
  for (const RoutingStep& s : c.steps) {
    double step_s = 0, link_s = 0;
    for (int64_t l = 0; l < c.layers; ++l) {
      planner.plan(s.counts[l], tracker.resident(l), plan);
      totals.add(plan);
      step_s += plan.predicted_s;
      link_s += plan.link_s;
      if (policy != PlacementPolicy::kSieve) continue;
      tracker.observe(l, s.counts[l]);
      for (int64_t e = 0; e < c.experts; ++e)
        if (plan.tier[e] == ExpertTier::kUpload) tracker.admit(l, e);
    }
    if (policy == PlacementPolicy::kSieve) {
      const double idle = std::max(0.0, step_s - link_s);
      const double fit = std::min(std::floor(idle / upload_s), static_cast<double>(c.slots));
      const auto swaps = tracker.next_swaps(static_cast<int64_t>(fit));
      for (const auto& sw : swaps)
        if (sw.admit >= 0) totals.swap_bytes += expert_bytes;
    }
  }
  return totals.per_step(policy, static_cast<int64_t>(c.steps.size()));
}

Status check_same_shape(const RoutingTraceHeader& a, const RoutingTraceHeader& b) {
  if (a.num_experts != b.num_experts || a.moe_layers.size() != b.moe_layers.size()) {
    return invalid_argument("the profile has " + std::to_string(b.moe_layers.size()) +
                            " MoE layers of " + std::to_string(b.num_experts) +
                            " experts, the trace " + std::to_string(a.moe_layers.size()) + " of " +
                            std::to_string(a.num_experts) +
                            "; profile the same model the trace comes from");
  }
  return Status::Ok();
}

}  // namespace

Result<ReplayResult> replay_trace(const RoutingTrace& trace, const ReplayOptions& o) {
  const RoutingTraceHeader& h = trace.header;
  ReplayResult r;
  r.moe_layers = static_cast<int64_t>(h.moe_layers.size());
  r.num_experts = h.num_experts;
  if (r.moe_layers == 0) return invalid_argument("the trace has no MoE layers: nothing to replay");
  if (o.policies.empty()) return invalid_argument("no placement policy to replay");
  const double expert_bytes = static_cast<double>(o.shape.weight_bytes());
  if (!(expert_bytes > 0)) return invalid_argument("the expert shape has no weights");
  if (!(o.device_expert_bytes >= expert_bytes)) {
    return invalid_argument("--device-expert-memory " + gigabytes(o.device_expert_bytes) +
                            " holds no expert (one weighs " + gigabytes(expert_bytes) +
                            "); give at least that");
  }
  const int64_t total = r.moe_layers * r.num_experts;
  r.slots = std::min<int64_t>(total, static_cast<int64_t>(o.device_expert_bytes / expert_bytes));

  std::span<const RoutingStep> steps(trace.steps);
  std::span<const RoutingStep> profile;
  if (o.profile != nullptr) {
    SIEVE_RETURN_IF_ERROR(check_same_shape(h, o.profile->header));
    if (o.profile->steps.empty()) return invalid_argument("the profile has no steps");
    profile = o.profile->steps;
    r.profile_source = "a separate profile (" + std::to_string(profile.size()) + " steps)";
  } else {
    if (!(o.profile_fraction > 0 && o.profile_fraction < 1)) {
      return invalid_argument("--profile-fraction must be between 0 and 1 (exclusive)");
    }
    const int64_t n = static_cast<int64_t>(steps.size());
    const int64_t head = static_cast<int64_t>(std::floor(o.profile_fraction * n));
    if (head < 1 || head >= n) {
      return invalid_argument("the trace has " + std::to_string(n) +
                              " steps: too few to profile the first " +
                              std::to_string(o.profile_fraction) +
                              " and replay the rest; record a longer one or pass --profile FILE");
    }
    profile = steps.first(head);
    steps = steps.subspan(head);
    r.profile_source = "the trace's first " + std::to_string(head) + " steps";
  }
  if (steps.empty()) return invalid_argument("the trace has no steps to replay");
  r.profile_steps = static_cast<int64_t>(profile.size());
  r.replayed_steps = static_cast<int64_t>(steps.size());
  double tokens = 0;
  for (const RoutingStep& s : steps)
    tokens += static_cast<double>(s.tokens);
  r.tokens_per_step = tokens / static_cast<double>(steps.size());

  const ReplayContext c{o, profile, steps, r.moe_layers, r.num_experts, r.slots};
  for (PlacementPolicy p : o.policies) {
    if (p == PlacementPolicy::kDevice && r.slots < total) {
      PolicyReplay none;
      none.policy = p;
      none.fits = false;
      r.policies.push_back(none);
      continue;
    }
    r.policies.push_back(replay_policy(c, p));
  }
  const auto step_of = [&](PlacementPolicy p) {
    for (const PolicyReplay& x : r.policies)
      if (x.policy == p && x.fits) return x.step_s;
    return 0.0;
  };
  const double host = step_of(PlacementPolicy::kHost);
  const double static_hot = step_of(PlacementPolicy::kStaticHot);
  for (PolicyReplay& x : r.policies) {
    if (!x.fits || !(x.step_s > 0)) continue;
    x.speedup_vs_host = host > 0 ? host / x.step_s : 0;
    x.speedup_vs_static_hot = static_hot > 0 ? static_hot / x.step_s : 0;
  }
  return r;
}

}  // namespace sieve::bench
