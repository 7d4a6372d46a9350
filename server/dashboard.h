// What the live dashboard (GET /dashboard) draws, kept as the server runs: the token load of
// every MoE layer's experts over a sliding window (from the engine's cumulative routing
// counts), and short time series of throughput, latency, queue and KV use. GET /dashboard/data
// returns it as JSON; the page (dashboard_page.h) polls it.
//
// Fed from the serving loop's thread after every step (step()) and read from the HTTP threads
// (data()); thread-safe. Memory is bounded: a fixed number of samples.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "engine/serving_loop.h"
#include "server/metrics.h"

namespace sieve::server {

struct DashboardOptions {
  std::string model_name;
  int64_t num_layers = 0, num_experts = 0;
  std::vector<int64_t> moe_layers;  // model layer index of each MoE layer
  double window_s = 30;             // the heatmap's sliding window
  double sample_every_s = 0.5;      // series resolution
  int64_t max_samples = 240;        // series length (2 minutes at 0.5 s)
};

class Dashboard {
 public:
  Dashboard(DashboardOptions options, const Metrics& metrics);

  // After every engine step (the serving loop's on_step).
  void step(const EngineSnapshot& snap);
  // The page's data (JSON text): see dashboard.cpp for the fields.
  std::string data() const;

 private:
  using Clock = std::chrono::steady_clock;
  struct Sample {
    double t = 0;  // seconds since start
    int64_t generated = 0, running = 0, waiting = 0, kv_total = 0, kv_free = 0, kv_cached = 0;
    Metrics::Totals totals;
  };
  struct Heat {
    double t = 0;
    std::vector<int64_t> expert_tokens;  // cumulative, [layer * experts + expert]
  };
  double now_s() const;
  // Appends a sample (and, about once a second, a routing snapshot). data() samples too when
  // the engine has been idle, so the series run up to now.
  void sample(const EngineSnapshot& snap, double t) const;

  DashboardOptions o_;
  const Metrics& metrics_;
  Clock::time_point start_ = Clock::now();
  mutable std::mutex mu_;
  mutable std::deque<Sample> samples_;
  mutable std::deque<Heat> heat_;  // one per second or so, covering the window
  EngineSnapshot last_;
};

}  // namespace sieve::server
