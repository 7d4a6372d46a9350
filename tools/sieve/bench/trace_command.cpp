#include "tools/sieve/bench/trace_command.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "engine/experts/routing_synth.h"
#include "engine/experts/routing_trace.h"
#include "models/random_checkpoint.h"
#include "models/registry.h"

namespace sieve {
namespace {

struct TraceOpts {
  std::string from;
  std::string model;
  std::string preset;
  std::optional<int64_t> experts, top_k, layers;
  int64_t batch = 32;
  int64_t steps = 256;
  uint64_t seed = 0;
  std::string counts;
  std::string out;
  std::string stats;
};

[[noreturn]] void fail(const std::string& message, int code = 1) {
  spdlog::error("{}", message);
  throw CLI::RuntimeError(code);
}

// The skew figures of a trace, gathered step by step: each MoE layer's counts summed over the
// whole trace (what the published routing statistics give), and the load of single steps.
class TraceSummary {
 public:
  explicit TraceSummary(const RoutingTraceHeader& h)
      : h_(h), totals_(h.moe_layers.size(), std::vector<int64_t>(h.num_experts, 0)) {}

  void add(const RoutingStep& step) {
    ++steps_;
    tokens_ += step.tokens;
    for (size_t l = 0; l < step.counts.size(); ++l) {
      int32_t busiest = 0;
      for (int64_t e = 0; e < h_.num_experts; ++e) {
        const int32_t n = step.counts[l][e];
        totals_[l][e] += n;
        touched_ += n > 0 ? 1 : 0;
        light_ += (n == 1 || n == 2) ? 1 : 0;
        busiest = std::max(busiest, n);
      }
      busiest_sum_ += busiest;
    }
  }

  void print(const std::string& what) const {
    std::printf("%s: %s%s%lld MoE layers x %lld experts, top-%lld; %lld steps, %lld tokens\n",
                what.c_str(), h_.model_type.c_str(), h_.model_type.empty() ? "" : ", ",
                static_cast<long long>(h_.moe_layers.size()),
                static_cast<long long>(h_.num_experts), static_cast<long long>(h_.top_k),
                static_cast<long long>(steps_), static_cast<long long>(tokens_));
    if (!h_.source.empty()) std::printf("source: %s\n", h_.source.c_str());
    if (tokens_ == 0) return;
    std::vector<SkewStats> per_layer;
    for (const auto& t : totals_)
      per_layer.push_back(skew_stats(t));
    std::printf("whole trace, per MoE layer (median [min, max] over layers):\n");
    const double uniform_top8 = std::min<double>(8, h_.num_experts) / h_.num_experts;
    row(per_layer, "top-8 share", &SkewStats::top8_share, "%.3f",
        "   (uniform " + format("%.3f", uniform_top8) + ")");
    row(per_layer, "Gini", &SkewStats::gini, "%.3f", "   (uniform 0)");
    row(per_layer, "max/mean", &SkewStats::max_over_mean, "%.2f", "   (uniform 1)");
    const double cells = static_cast<double>(steps_) * static_cast<double>(totals_.size());
    std::printf(
        "per step (mean over steps and layers): %.1f of %lld experts touched, %.0f%% of them with "
        "1-2 tokens; the busiest expert %.1f tokens\n",
        touched_ / cells, static_cast<long long>(h_.num_experts),
        touched_ > 0 ? 100.0 * light_ / touched_ : 0.0, busiest_sum_ / cells);
  }

 private:
  static std::string format(const char* fmt, double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, fmt, v);
    return buf;
  }

  static void row(const std::vector<SkewStats>& s, const char* name, double SkewStats::*field,
                  const char* fmt, const std::string& note) {
    std::vector<double> v;
    for (const SkewStats& x : s)
      v.push_back(x.*field);
    std::sort(v.begin(), v.end());
    const double median =
        v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
    std::printf("  %-12s %s [%s, %s]%s\n", name, format(fmt, median).c_str(),
                format(fmt, v.front()).c_str(), format(fmt, v.back()).c_str(), note.c_str());
  }

  RoutingTraceHeader h_;
  std::vector<std::vector<int64_t>> totals_;  // [moe layer][expert]
  int64_t steps_ = 0, tokens_ = 0;
  double touched_ = 0, light_ = 0, busiest_sum_ = 0;
};

void print_stats(const std::string& path) {
  auto trace = read_routing_trace(path);
  if (!trace.ok()) fail(trace.status().message());
  TraceSummary summary(trace->header);
  for (const RoutingStep& s : trace->steps)
    summary.add(s);
  summary.print("routing trace " + path);
}

// The model shape to draw for: a model directory's config.json, a make-checkpoint preset (with
// the shape flags overriding it), or the shape flags alone (every layer MoE).
RoutingTraceHeader trace_shape(const TraceOpts& o) {
  ModelConfig config;
  if (!o.model.empty()) {
    auto dir = open_model_dir(o.model, LoadFormat::kDummy);  // reads config.json only
    if (!dir.ok()) fail(dir.status().message());
    config = dir->config;
  } else if (!o.preset.empty()) {
    RandomCheckpointOptions ck;
    ck.preset = o.preset;
    ck.layers = o.layers;
    ck.experts = o.experts;
    ck.top_k = o.top_k;
    auto json = random_checkpoint_config(ck);
    if (!json.ok()) fail(json.status().message(), 2);
    auto parsed = parse_model_config(*json);
    if (!parsed.ok()) fail(parsed.status().message(), 2);
    config = *parsed;
  } else {
    if (!o.experts || !o.top_k || !o.layers) {
      fail("give the model's shape: --model DIR, --preset NAME, or --experts, --top-k and --layers",
           2);
    }
    if (*o.top_k > *o.experts) fail("--top-k must be at most --experts", 2);
    config.num_experts = *o.experts;
    config.top_k = *o.top_k;
    config.num_layers = *o.layers;
    config.layer_is_moe.assign(*o.layers, true);
  }
  if (config.num_experts == 0 || config.num_moe_layers() == 0) {
    fail("the model has no MoE layers to draw routing for", 2);
  }
  return routing_trace_header(config, "");
}

void write_trace(const TraceOpts& o) {
  auto source = parse_routing_source(o.from);
  if (!source.ok()) fail("--from: " + source.status().message(), 2);
  if (!source->is_zipf() && o.counts.empty()) {
    fail("--from " + o.from +
             " draws from recorded counts: give --counts FILE (the OLMoE project's "
             "olmoe_mixtral_counts.json)",
         2);
  }
  RoutingTraceHeader header = trace_shape(o);
  header.source = "synthetic: " + o.from + ", batch " + std::to_string(o.batch) + ", seed " +
                  std::to_string(o.seed) + " (sieve bench trace)";
  auto shares = source_shares(*source, header, o.seed, o.counts);
  if (!shares.ok()) fail(shares.status().message());
  RoutingDraw draw(header, *shares, o.seed);
  auto writer = RoutingTraceWriter::open(o.out, header);
  if (!writer.ok()) fail(writer.status().message());
  TraceSummary summary(header);
  for (int64_t s = 0; s < o.steps; ++s) {
    const RoutingStep step = draw.next(o.batch);
    if (Status st = writer->write(step); !st.ok()) fail(st.message() + " (" + o.out + ")");
    summary.add(step);
  }
  // What the draw aims at: each expert's expected share of the choices, π / top_k.
  std::vector<int64_t> expected;
  for (double pi : draw.inclusion().front())
    expected.push_back(std::llround(pi * 1e9));
  const SkewStats target = skew_stats(expected);
  std::printf(
      "%s over %lld experts, top-%lld, expected: top-8 share %.3f, Gini %.3f, "
      "max/mean %.2f\n",
      o.from.c_str(), static_cast<long long>(header.num_experts),
      static_cast<long long>(header.top_k), target.top8_share, target.gini, target.max_over_mean);
  summary.print("wrote " + o.out);
}

}  // namespace

void add_bench_trace_command(CLI::App* bench) {
  auto o = std::make_shared<TraceOpts>();
  CLI::App* cmd = bench->add_subcommand(
      "trace",
      "Write a synthetic routing trace for a model's shape (each step, --batch tokens each "
      "choose top-k distinct experts in every MoE layer, expert e with the probability its "
      "share gives), or with --stats print the skew of any trace (recorded with "
      "--record-routing, or drawn)");
  cmd->add_option("--from", o->from,
                  "Per-expert shares: zipf:S (the expert of rank r takes a share ∝ r^-S of the "
                  "choices; ranks shuffled per layer), olmoe:LAYER[:DOMAIN] (OLMoE-1B-7B, 64 "
                  "experts, top-8) or mixtral:LAYER[:DOMAIN] (Mixtral-8x7B, 8 experts, top-2): "
                  "real per-expert counts of layer 0, 7 or 15 on arxiv, book, c4, github, "
                  "wikipedia (or tulu, OLMoE) text, every domain summed without one. A model "
                  "with another number of experts gets the same Lorenz curve (its busiest "
                  "fraction f of experts takes what the real busiest fraction f took)");
  cmd->add_option("--model", o->model, "The shape of this model directory's config.json");
  std::string presets;
  for (const std::string& p : random_checkpoint_presets())
    presets += (presets.empty() ? "" : ", ") + p;
  cmd->add_option("--preset", o->preset, "The shape of a real model: " + presets);
  cmd->add_option("--experts", o->experts, "Experts per MoE layer (overrides a preset)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--top-k", o->top_k, "Experts per token (overrides a preset)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--layers", o->layers, "Layers, all MoE without a preset (overrides a preset)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--batch", o->batch, "Tokens per step")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--steps", o->steps, "Steps")->capture_default_str()->check(CLI::PositiveNumber);
  cmd->add_option("--seed", o->seed, "Seed: the same flags and seed give the same trace")
      ->capture_default_str();
  cmd->add_option("--counts", o->counts,
                  "The routing statistics file for olmoe and mixtral sources (the OLMoE "
                  "project's olmoe_mixtral_counts.json)");
  cmd->add_option("--out", o->out, "The trace to write");
  cmd->add_option("--stats", o->stats, "Print the skew of this trace instead of writing one")
      ->check(CLI::ExistingFile);
  cmd->callback([o]() {
    if (!o->stats.empty()) {
      if (!o->from.empty() || !o->out.empty()) fail("--stats reads a trace; drop --from/--out", 2);
      print_stats(o->stats);
      return;
    }
    if (o->from.empty() || o->out.empty())
      fail("give --from SOURCE and --out FILE (or --stats)", 2);
    if (!o->model.empty() && (!o->preset.empty() || o->experts || o->top_k || o->layers)) {
      fail("--model gives the whole shape: drop --preset, --experts, --top-k and --layers", 2);
    }
    write_trace(*o);
  });
}

}  // namespace sieve
