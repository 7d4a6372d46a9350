#include "server/metrics.h"

#include <cmath>
#include <cstdio>

namespace sieve::server {

namespace {

std::string num(double v) {
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

void line(std::string& out, const std::string& name, const std::string& labels, double v) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + num(v) + "\n";
}

void header(std::string& out, const std::string& name, const std::string& type,
            const std::string& help) {
  out += "# HELP " + name + " " + help + "\n# TYPE " + name + " " + type + "\n";
}

// One family with a series per rank and MoE layer (labels model_name, rank, layer, then
// `extra`); `value` gives a layer's series as (extra labels, value) pairs.
template <typename F>
void per_rank_layer(std::string& out, const std::string& m,
                    const std::vector<ExpertParallelStats>& ranks, const std::string& name,
                    const std::string& type, const std::string& help, F value) {
  header(out, name, type, help);
  for (size_t r = 0; r < ranks.size(); ++r) {
    for (size_t l = 0; l < ranks[r].layers.size(); ++l) {
      const ExpertParallelStats::Layer& layer = ranks[r].layers[l];
      if (!layer.is_moe()) continue;
      const std::string labels =
          m + ",rank=\"" + std::to_string(r) + "\",layer=\"" + std::to_string(l) + "\"";
      for (const auto& [extra, v] : value(layer))
        line(out, name, labels + extra, v);
    }
  }
}

std::vector<double> latency_buckets() {
  return {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120};
}

}  // namespace

Histogram::Histogram(std::vector<double> bounds)
    : bounds_(std::move(bounds)), counts_(bounds_.size() + 1, 0) {}

void Histogram::observe(double v) {
  size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i])
    ++i;
  ++counts_[i];
  sum_ += v;
  ++count_;
}

void Histogram::render(std::string& out, const std::string& name, const std::string& help) const {
  header(out, name, "histogram", help);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += counts_[i];
    const double le = i < bounds_.size() ? bounds_[i] : INFINITY;
    line(out, name + "_bucket", "le=\"" + num(le) + "\"", static_cast<double>(cumulative));
  }
  line(out, name + "_sum", "", sum_);
  line(out, name + "_count", "", static_cast<double>(count_));
}

Metrics::Metrics(std::string model_name, int64_t num_layers, int64_t num_experts)
    : model_(std::move(model_name)),
      num_layers_(num_layers),
      num_experts_(num_experts),
      ttft_(latency_buckets()),
      tpot_({0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.15, 0.3, 0.6, 1, 2.5}),
      e2e_(latency_buckets()),
      step_time_({0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5}),
      batch_size_({1, 2, 4, 8, 16, 32, 64, 128, 256, 512}) {}

void Metrics::request_finished(const std::string& reason, double ttft_s, double e2e_s,
                               int64_t output_tokens) {
  std::lock_guard lock(mu_);
  ++finished_[reason];
  if (output_tokens > 0) {
    ttft_.observe(ttft_s);
    if (output_tokens > 1) tpot_.observe((e2e_s - ttft_s) / static_cast<double>(output_tokens - 1));
  }
  e2e_.observe(e2e_s);
}

void Metrics::request_rejected(int status) {
  std::lock_guard lock(mu_);
  ++rejected_[status];
}

void Metrics::step(const EngineSnapshot& snap) {
  std::lock_guard lock(mu_);
  last_ = snap;
  step_time_.observe(snap.last_step_seconds);
  if (snap.last_step_batch > 0) batch_size_.observe(static_cast<double>(snap.last_step_batch));
}

Metrics::Totals Metrics::totals() const {
  std::lock_guard lock(mu_);
  Totals t;
  t.ttft_sum = ttft_.sum();
  t.ttft_count = ttft_.count();
  t.tpot_sum = tpot_.sum();
  t.tpot_count = tpot_.count();
  for (const auto& [reason, n] : finished_)
    t.finished += n;
  return t;
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::string out;
  const std::string m = "model_name=\"" + model_ + "\"";
  const EngineStats& st = last_.stats;
  header(out, "sieve_requests_running", "gauge", "Requests in the engine's running batch.");
  line(out, "sieve_requests_running", m, static_cast<double>(st.running));
  header(out, "sieve_requests_waiting", "gauge", "Requests queued for the engine.");
  line(out, "sieve_requests_waiting", m, static_cast<double>(st.waiting + last_.queued));
  header(out, "sieve_requests_finished_total", "counter", "Finished requests by finish reason.");
  for (const char* r : {"stop", "length", "abort"}) {
    auto it = finished_.find(r);
    line(out, "sieve_requests_finished_total", m + ",finish_reason=\"" + r + "\"",
         static_cast<double>(it == finished_.end() ? 0 : it->second));
  }
  header(out, "sieve_requests_rejected_total", "counter",
         "Requests refused before running, by HTTP status.");
  for (const auto& [status, n] : rejected_) {
    line(out, "sieve_requests_rejected_total", m + ",status=\"" + std::to_string(status) + "\"",
         static_cast<double>(n));
  }
  header(out, "sieve_kv_blocks", "gauge",
         "KV cache pages by state: used (held by a sequence), free (of which cached: kept for "
         "prefix reuse).");
  const int64_t used = last_.kv_blocks_total - last_.kv_blocks_free;
  line(out, "sieve_kv_blocks", m + ",state=\"used\"", static_cast<double>(used));
  line(out, "sieve_kv_blocks", m + ",state=\"free\"", static_cast<double>(last_.kv_blocks_free));
  line(out, "sieve_kv_blocks", m + ",state=\"cached\"",
       static_cast<double>(last_.kv_blocks_cached));
  header(out, "sieve_kv_blocks_total", "gauge", "KV cache pages in all.");
  line(out, "sieve_kv_blocks_total", m, static_cast<double>(last_.kv_blocks_total));
  header(out, "sieve_prefix_cache_queries_total", "counter",
         "Prompt tokens looked up in the prefix cache.");
  line(out, "sieve_prefix_cache_queries_total", m, static_cast<double>(st.prefix_queried_tokens));
  header(out, "sieve_prefix_cache_hits_total", "counter",
         "Prompt tokens found in the prefix cache.");
  line(out, "sieve_prefix_cache_hits_total", m, static_cast<double>(st.prefix_hit_tokens));
  header(out, "sieve_prefix_cache_hit_rate", "gauge", "Hits over queries since start.");
  line(out, "sieve_prefix_cache_hit_rate", m,
       st.prefix_queried_tokens ? static_cast<double>(st.prefix_hit_tokens) /
                                      static_cast<double>(st.prefix_queried_tokens)
                                : 0.0);
  header(out, "sieve_preemptions_total", "counter", "Sequences preempted for KV pages.");
  line(out, "sieve_preemptions_total", m, static_cast<double>(st.preemptions));
  header(out, "sieve_prompt_tokens_total", "counter", "Prompt tokens run through the model.");
  line(out, "sieve_prompt_tokens_total", m, static_cast<double>(st.prompt_tokens));
  header(out, "sieve_generation_tokens_total", "counter", "Tokens generated.");
  line(out, "sieve_generation_tokens_total", m, static_cast<double>(st.generated_tokens));
  header(out, "sieve_engine_steps_total", "counter", "Forward steps run.");
  line(out, "sieve_engine_steps_total", m, static_cast<double>(st.steps));
  ttft_.render(out, "sieve_time_to_first_token_seconds", "Time from arrival to first token.");
  tpot_.render(out, "sieve_time_per_output_token_seconds",
               "Mean time between output tokens, per request.");
  e2e_.render(out, "sieve_e2e_request_latency_seconds", "Time from arrival to the last token.");
  step_time_.render(out, "sieve_step_seconds", "Time of one engine step.");
  batch_size_.render(out, "sieve_step_batch_size", "Sequences in one engine step.");
  if (num_experts_ > 0 && !last_.expert_tokens.empty()) {
    header(out, "sieve_expert_tokens_total", "counter",
           "Tokens the router sent to each expert, per MoE layer.");
    for (int64_t l = 0; l < num_layers_; ++l) {
      for (int64_t e = 0; e < num_experts_; ++e) {
        const int64_t n = last_.expert_tokens[l * num_experts_ + e];
        line(out, "sieve_expert_tokens_total",
             m + ",layer=\"" + std::to_string(l) + "\",expert=\"" + std::to_string(e) + "\"",
             static_cast<double>(n));
      }
    }
  }
  render_expert_parallel(out, m);
  render_placement(out, m);
  return out;
}

void Metrics::render_expert_parallel(std::string& out, const std::string& m) const {
  const std::vector<ExpertParallelStats>& ranks = last_.ranks;
  if (ranks.empty()) return;  // one process: nothing is exchanged
  using Series = std::vector<std::pair<std::string, double>>;
  auto one = [](auto v) { return Series{{"", static_cast<double>(v)}}; };
  using Layer = ExpertParallelStats::Layer;
  per_rank_layer(out, m, ranks, "sieve_ep_tokens_sent_total", "counter",
                 "Expert-parallel rows ((token, expert) choices) a rank sent to the experts' "
                 "owners (itself included), per MoE layer.",
                 [&](const Layer& l) { return one(l.rows_sent); });
  per_rank_layer(out, m, ranks, "sieve_ep_tokens_received_total", "counter",
                 "Expert-parallel rows ((token, expert) choices) a rank received for its experts "
                 "(from itself included), per MoE layer.",
                 [&](const Layer& l) { return one(l.rows_received); });
  per_rank_layer(out, m, ranks, "sieve_ep_all_to_all_bytes_total", "counter",
                 "Bytes a rank's MoE all-to-all exchanges sent and received (counts, dispatch, "
                 "combine), per layer.",
                 [](const Layer& l) {
                   return Series{
                       {",direction=\"sent\"", static_cast<double>(l.bytes_sent)},
                       {",direction=\"received\"", static_cast<double>(l.bytes_received)}};
                 });
  per_rank_layer(out, m, ranks, "sieve_ep_all_to_all_seconds_total", "counter",
                 "Time a rank spent in its MoE all-to-all exchanges, per layer.",
                 [&](const Layer& l) { return one(l.exchange_seconds); });
  per_rank_layer(out, m, ranks, "sieve_ep_expert_tokens_total", "counter",
                 "Rows a rank's experts computed, per MoE layer.",
                 [&](const Layer& l) { return one(l.expert_rows_total()); });
  per_rank_layer(out, m, ranks, "sieve_ep_expert_load_imbalance", "gauge",
                 "Most rows on one of a rank's experts over the mean of its experts, per MoE "
                 "layer, since start (1 = even; absent before any row).",
                 [&](const Layer& l) {
                   return l.expert_rows_total() > 0 ? one(l.load_imbalance()) : Series{};
                 });
}

void Metrics::render_placement(std::string& out, const std::string& m) const {
  const HybridMoeStats& p = last_.placement;
  if (!p.enabled()) return;  // no hybrid executor
  using Series = std::vector<std::pair<std::string, double>>;
  using Layer = HybridMoeStats::Layer;
  // One family with a series per MoE layer (labels model_name, layer, then the extra ones).
  auto per_layer = [&](const std::string& name, const std::string& type, const std::string& help,
                       const auto& value) {
    header(out, name, type, help);
    for (size_t l = 0; l < p.layers.size(); ++l) {
      if (!p.layers[l].is_moe()) continue;
      const std::string labels = m + ",layer=\"" + std::to_string(l) + "\"";
      for (const auto& [extra, v] : value(p.layers[l]))
        line(out, name, labels + extra, v);
    }
  };
  auto one = [](auto v) { return Series{{"", static_cast<double>(v)}}; };
  auto tiers = [](auto device, auto upload, auto host) {
    return Series{{",tier=\"device\"", static_cast<double>(device)},
                  {",tier=\"upload\"", static_cast<double>(upload)},
                  {",tier=\"host\"", static_cast<double>(host)}};
  };
  header(out, "sieve_placement_device_slots", "gauge",
         "Experts (of any MoE layer) the device budget holds, by placement policy.");
  line(out, "sieve_placement_device_slots", m + ",policy=\"" + p.policy + "\"",
       static_cast<double>(p.device_slots));
  per_layer("sieve_placement_rows_total", "counter",
            "Rows ((token, expert) choices) each tier computed, per MoE layer: device (resident), "
            "upload (copied to the device for the step), host.",
            [&](const Layer& l) { return tiers(l.device_rows, l.upload_rows, l.host_rows); });
  per_layer(
      "sieve_placement_experts_total", "counter",
      "Expert runs per tier and MoE layer (an expert run on the upload tier is one upload).",
      [&](const Layer& l) { return tiers(l.device_experts, l.upload_experts, l.host_experts); });
  per_layer("sieve_placement_upload_bytes_total", "counter",
            "Expert weight bytes the planner's uploads copied to the device, per MoE layer.",
            [&](const Layer& l) { return one(l.upload_bytes); });
  per_layer("sieve_placement_activation_bytes_total", "counter",
            "Bytes of the host experts' rows sent down and results sent up, per MoE layer.",
            [&](const Layer& l) { return one(l.activation_bytes); });
  per_layer("sieve_placement_swaps_total", "counter",
            "Experts made resident by background swaps, per MoE layer.",
            [&](const Layer& l) { return one(l.swaps_in); });
  per_layer("sieve_placement_swap_bytes_total", "counter",
            "Expert weight bytes background swaps copied to the device, per MoE layer.",
            [&](const Layer& l) { return one(l.swap_bytes); });
  per_layer("sieve_placement_evictions_total", "counter",
            "Device copies of experts freed to make room, per MoE layer.",
            [&](const Layer& l) { return one(l.evictions); });
  per_layer("sieve_placement_planner_seconds_total", "counter",
            "Time spent planning, per MoE layer.",
            [&](const Layer& l) { return one(l.planner_seconds); });
  per_layer("sieve_placement_moe_seconds_total", "counter",
            "MoE time per layer: the cost model's prediction and the measured time.",
            [&](const Layer& l) {
              return Series{{",kind=\"predicted\"", l.predicted_seconds},
                            {",kind=\"actual\"", l.actual_seconds}};
            });
  per_layer("sieve_placement_resident_experts", "gauge",
            "Experts with a device copy now, per MoE layer.",
            [&](const Layer& l) { return one(l.num_resident()); });
  header(out, "sieve_placement_step_moe_seconds", "gauge",
         "The last step's MoE layers together: the cost model's prediction and the measured "
         "time.");
  line(out, "sieve_placement_step_moe_seconds", m + ",kind=\"predicted\"",
       p.step_predicted_seconds);
  line(out, "sieve_placement_step_moe_seconds", m + ",kind=\"actual\"", p.step_actual_seconds);
}

}  // namespace sieve::server
