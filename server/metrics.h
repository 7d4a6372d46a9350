// Prometheus metrics of `sieve serve` (text exposition format 0.0.4).
//
// Counters and histograms are fed by the front end as requests finish and by the engine loop
// after every step; render() is called by GET /metrics. Thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "engine/serving_loop.h"

namespace sieve::server {

class Histogram {
 public:
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);
  // "<name>_bucket{le=...} n" ... "<name>_sum", "<name>_count".
  void render(std::string& out, const std::string& name, const std::string& help) const;
  double sum() const { return sum_; }
  uint64_t count() const { return count_; }

 private:
  std::vector<double> bounds_;
  std::vector<uint64_t> counts_;  // per bucket (not cumulative); last is +Inf
  double sum_ = 0;
  uint64_t count_ = 0;
};

class Metrics {
 public:
  Metrics(std::string model_name, int64_t num_layers, int64_t num_experts);

  // One finished request (or one choice of an n > 1 request).
  void request_finished(const std::string& reason, double ttft_s, double e2e_s,
                        int64_t output_tokens);
  void request_rejected(int status);
  // After every engine step (from ServingLoop::on_step).
  void step(const EngineSnapshot& snap);

  std::string render() const;

  // Running totals the live dashboard turns into rates and recent means.
  struct Totals {
    double ttft_sum = 0, tpot_sum = 0;
    uint64_t ttft_count = 0, tpot_count = 0, finished = 0;
  };
  Totals totals() const;

 private:
  // Per rank and MoE layer (EngineSnapshot::ranks); nothing in a single process.
  void render_expert_parallel(std::string& out, const std::string& m) const;
  // Per MoE layer and tier (EngineSnapshot::placement); nothing without --expert-placement.
  void render_placement(std::string& out, const std::string& m) const;

  mutable std::mutex mu_;
  std::string model_;
  int64_t num_layers_, num_experts_;
  EngineSnapshot last_;
  std::map<std::string, uint64_t> finished_;  // by finish reason
  std::map<int, uint64_t> rejected_;          // by HTTP status
  Histogram ttft_, tpot_, e2e_, step_time_, batch_size_;
};

}  // namespace sieve::server
