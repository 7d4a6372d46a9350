#include "server/dashboard.h"

#include <algorithm>

#include <nlohmann/json.hpp>

namespace sieve::server {

namespace {
using json = nlohmann::json;

// Mean of what a running (sum, count) gained between two samples; null when nothing did.
json interval_mean(double sum0, uint64_t n0, double sum1, uint64_t n1, double scale) {
  if (n1 <= n0) return nullptr;
  return (sum1 - sum0) / static_cast<double>(n1 - n0) * scale;
}
}  // namespace

Dashboard::Dashboard(DashboardOptions options, const Metrics& metrics)
    : o_(std::move(options)), metrics_(metrics) {}

double Dashboard::now_s() const {
  return std::chrono::duration<double>(Clock::now() - start_).count();
}

void Dashboard::sample(const EngineSnapshot& snap, double t) const {
  Sample s;
  s.t = t;
  s.generated = snap.stats.generated_tokens;
  s.running = snap.stats.running;
  s.waiting = snap.stats.waiting + snap.queued;
  s.kv_total = snap.kv_blocks_total;
  s.kv_free = snap.kv_blocks_free;
  s.kv_cached = snap.kv_blocks_cached;
  s.totals = metrics_.totals();
  samples_.push_back(std::move(s));
  while (static_cast<int64_t>(samples_.size()) > o_.max_samples)
    samples_.pop_front();
  // Routing snapshots about once a second, enough to cover the window and one more.
  if (!snap.expert_tokens.empty() && (heat_.empty() || t - heat_.back().t >= 1.0)) {
    heat_.push_back({t, snap.expert_tokens});
    while (heat_.size() > 2 && heat_[1].t <= t - o_.window_s)
      heat_.pop_front();
  }
}

void Dashboard::step(const EngineSnapshot& snap) {
  const double t = now_s();
  std::lock_guard lock(mu_);
  last_ = snap;
  if (samples_.empty() || t - samples_.back().t >= o_.sample_every_s) sample(snap, t);
}

std::string Dashboard::data() const {
  const double t = now_s();
  std::lock_guard lock(mu_);
  if (!samples_.empty() && t - samples_.back().t >= o_.sample_every_s) sample(last_, t);
  const int64_t E = o_.num_experts;
  json out;
  out["model"] = o_.model_name;
  out["uptime_s"] = t;
  out["moe_layers"] = o_.moe_layers;
  out["num_experts"] = E;
  out["window_s"] = o_.window_s;

  // Tokens per (MoE layer, expert) over the window: the latest cumulative counts minus those
  // of the oldest snapshot inside the window (or zero, when the window reaches the start).
  json heat = json::array();
  double covered = 0;
  const std::vector<int64_t>& now = last_.expert_tokens;
  if (!now.empty() && !heat_.empty()) {
    const Heat* from = nullptr;
    for (const Heat& h : heat_) {
      if (h.t >= t - o_.window_s) break;
      from = &h;
    }
    covered = from ? t - from->t : t;
    for (int64_t layer : o_.moe_layers) {
      json row = json::array();
      for (int64_t e = 0; e < E; ++e) {
        const size_t i = static_cast<size_t>(layer * E + e);
        const int64_t base = from && i < from->expert_tokens.size() ? from->expert_tokens[i] : 0;
        row.push_back(i < now.size() ? now[i] - base : 0);
      }
      heat.push_back(std::move(row));
    }
  }
  out["heat"] = std::move(heat);
  out["heat_covers_s"] = covered;

  json ts = json::array(), tps = json::array(), ttft = json::array(), tpot = json::array(),
       running = json::array(), waiting = json::array(), kv = json::array();
  for (size_t i = 1; i < samples_.size(); ++i) {
    const Sample& a = samples_[i - 1];
    const Sample& b = samples_[i];
    const double dt = std::max(b.t - a.t, 1e-9);
    ts.push_back(b.t);
    tps.push_back(static_cast<double>(b.generated - a.generated) / dt);
    ttft.push_back(interval_mean(a.totals.ttft_sum, a.totals.ttft_count, b.totals.ttft_sum,
                                 b.totals.ttft_count, 1e3));
    tpot.push_back(interval_mean(a.totals.tpot_sum, a.totals.tpot_count, b.totals.tpot_sum,
                                 b.totals.tpot_count, 1e3));
    running.push_back(b.running);
    waiting.push_back(b.waiting);
    kv.push_back(b.kv_total > 0 ? 100.0 * static_cast<double>(b.kv_total - b.kv_free) /
                                      static_cast<double>(b.kv_total)
                                : 0.0);
  }
  out["series"] = {{"t", ts},          {"tokens_per_s", tps}, {"ttft_ms", ttft},
                   {"tpot_ms", tpot},  {"running", running},  {"waiting", waiting},
                   {"kv_used_pct", kv}};
  out["kv"] = {{"total", last_.kv_blocks_total},
               {"free", last_.kv_blocks_free},
               {"cached", last_.kv_blocks_cached}};
  // With --expert-placement: where each expert ran in the last step (0 idle, 1 device, 2 host,
  // 3 uploaded; ExpertTier's order) and which are resident on the device now.
  const HybridMoeStats& p = last_.placement;
  if (p.enabled()) {
    json tier = json::array(), resident = json::array();
    for (int64_t layer : o_.moe_layers) {
      const HybridMoeStats::Layer* l =
          layer < static_cast<int64_t>(p.layers.size()) ? &p.layers[layer] : nullptr;
      json t = json::array(), r = json::array();
      for (int64_t e = 0; e < E; ++e) {
        const bool has_tier = l && e < static_cast<int64_t>(l->last_tier.size());
        t.push_back(has_tier ? static_cast<int>(l->last_tier[e]) : 0);
        r.push_back(l && e < static_cast<int64_t>(l->resident.size()) ? l->resident[e] : 0);
      }
      tier.push_back(std::move(t));
      resident.push_back(std::move(r));
    }
    out["placement"] = {{"policy", p.policy},
                        {"device_slots", p.device_slots},
                        {"step_predicted_ms", p.step_predicted_seconds * 1e3},
                        {"step_actual_ms", p.step_actual_seconds * 1e3},
                        {"tier", std::move(tier)},
                        {"resident", std::move(resident)}};
  } else {
    out["placement"] = nullptr;
  }
  out["stats"] = {{"steps", last_.stats.steps},
                  {"generated_tokens", last_.stats.generated_tokens},
                  {"prompt_tokens", last_.stats.prompt_tokens},
                  {"running", last_.stats.running},
                  {"waiting", last_.stats.waiting + last_.queued}};
  return out.dump();
}

}  // namespace sieve::server
