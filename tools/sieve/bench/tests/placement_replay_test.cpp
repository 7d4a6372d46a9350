// `sieve bench placement`: replaying routing traces through every policy. The baselines are what
// they say (host: nothing on the device; device: everything, or "does not fit"), static-hot's
// resident set comes from the profile and never from the steps it is scored on, sieve follows a
// load that moves and beats both baselines on a skewed trace, the same replay gives the same
// figures, inputs that cannot be replayed are errors that say what to do, and the command writes
// its table, JSON and chart.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "tools/sieve/bench/bench_command.h"
#include "tools/sieve/bench/placement_replay.h"
#include "tools/sieve/bench/svg_chart.h"

namespace sieve::bench {
namespace {

constexpr int64_t kLayers = 4, kExperts = 32, kTopK = 4;

std::string temp_path(const std::string& name) {
  return std::string(::testing::TempDir()) + "/" + name;
}

ExpertShape shape() {
  return ExpertShape{.hidden = 2048, .intermediate = 768, .weight_dtype = DType::kBF16};
}

PlacementCostModel cost() {
  PlacementCostModel host;
  host.host = TierRates{.flops_per_s = 2e12, .weight_bytes_per_s = 100e9, .per_expert_s = 5e-6};
  host.host_source = "test";
  return h100_sxm_device(host);
}

// `steps` steps of `tokens` tokens, each choosing kTopK distinct experts by a Zipf law of
// exponent 1.2 over experts ranked from `first_hot` on (so the hot set can move mid-trace).
RoutingTrace zipf_trace(int64_t steps, int64_t tokens, int64_t first_hot, uint64_t seed,
                        int64_t move_at = -1, int64_t moved_first_hot = 0) {
  RoutingTrace t;
  t.header.source = "test zipf:1.2";
  t.header.model_type = "qwen3_moe";
  t.header.num_layers = kLayers;
  t.header.num_experts = kExperts;
  t.header.top_k = kTopK;
  for (int64_t l = 0; l < kLayers; ++l)
    t.header.moe_layers.push_back(l);
  std::mt19937_64 rng(seed);
  for (int64_t s = 0; s < steps; ++s) {
    const int64_t hot = move_at >= 0 && s >= move_at ? moved_first_hot : first_hot;
    RoutingStep step;
    step.tokens = tokens;
    for (int64_t l = 0; l < kLayers; ++l) {
      std::vector<double> w(kExperts);
      for (int64_t e = 0; e < kExperts; ++e)
        w[(hot + e + 3 * l) % kExperts] = 1.0 / std::pow(static_cast<double>(e + 1), 1.2);
      std::vector<int32_t> counts(kExperts, 0);
      for (int64_t t = 0; t < tokens; ++t) {
        std::vector<double> left = w;
        for (int64_t j = 0; j < kTopK; ++j) {
          std::discrete_distribution<int64_t> pick(left.begin(), left.end());
          const int64_t e = pick(rng);
          ++counts[e];
          left[e] = 0;
        }
      }
      step.counts.push_back(counts);
    }
    t.steps.push_back(step);
  }
  return t;
}

ReplayOptions options(double budget_experts) {
  ReplayOptions o;
  o.shape = shape();
  o.cost = cost();
  o.device_expert_bytes = budget_experts * static_cast<double>(shape().weight_bytes());
  return o;
}

const PolicyReplay& of(const ReplayResult& r, PlacementPolicy p) {
  for (const PolicyReplay& x : r.policies)
    if (x.policy == p) return x;
  ADD_FAILURE() << "no " << placement_policy_name(p);
  return r.policies.front();
}

TEST(PlacementReplay, BaselinesAreWhatTheySay) {
  const RoutingTrace trace = zipf_trace(40, 64, 0, 1);
  auto r = replay_trace(trace, options(32));  // a quarter of the 128 experts
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r->slots, 32);
  EXPECT_EQ(r->profile_steps, 10);
  EXPECT_EQ(r->replayed_steps, 30);
  EXPECT_DOUBLE_EQ(r->tokens_per_step, 64);
  ASSERT_EQ(r->policies.size(), 4u);

  const PolicyReplay& host = of(*r, PlacementPolicy::kHost);
  EXPECT_EQ(host.experts_device + host.experts_upload, 0);
  EXPECT_EQ(host.device_s, 0);
  EXPECT_EQ(host.upload_bytes + host.swap_bytes, 0);
  EXPECT_DOUBLE_EQ(host.speedup_vs_host, 1);
  EXPECT_DOUBLE_EQ(host.step_s, host.host_s);  // the host side is the layer's time

  const PolicyReplay& st = of(*r, PlacementPolicy::kStaticHot);
  EXPECT_EQ(st.upload_bytes + st.swap_bytes, 0);
  EXPECT_GT(st.experts_device, 0);
  EXPECT_DOUBLE_EQ(st.speedup_vs_static_hot, 1);
  EXPECT_GT(st.speedup_vs_host, 1);

  EXPECT_FALSE(of(*r, PlacementPolicy::kDevice).fits);  // 128 experts, 32 slots

  auto all = replay_trace(trace, options(128));
  ASSERT_TRUE(all.ok());
  const PolicyReplay& dev = of(*all, PlacementPolicy::kDevice);
  ASSERT_TRUE(dev.fits);
  EXPECT_EQ(dev.host_s, 0);
  EXPECT_EQ(dev.activation_bytes, 0);
  EXPECT_EQ(dev.experts_host + dev.experts_upload, 0);
  // With every expert resident, static-hot is the device policy; sieve may still do better by
  // running a few cold experts on the host while the device runs the rest.
  EXPECT_DOUBLE_EQ(of(*all, PlacementPolicy::kStaticHot).step_s, dev.step_s);
  EXPECT_LE(of(*all, PlacementPolicy::kSieve).step_s, dev.step_s);
  EXPECT_EQ(of(*all, PlacementPolicy::kSieve).upload_bytes, 0);
}

TEST(PlacementReplay, SieveBeatsBothBaselinesOnASkewedTrace) {
  const RoutingTrace trace = zipf_trace(40, 64, 0, 2);
  auto r = replay_trace(trace, options(16));
  ASSERT_TRUE(r.ok()) << r.status().message();
  const PolicyReplay& sieve = of(*r, PlacementPolicy::kSieve);
  EXPECT_GT(sieve.speedup_vs_host, 1);
  EXPECT_GT(sieve.speedup_vs_static_hot, 1);
  EXPECT_GT(sieve.balance, of(*r, PlacementPolicy::kStaticHot).balance);
  // The link carried what the planner and the swaps moved, no more than it had time for.
  EXPECT_LE(sieve.link_s, sieve.step_s * (1 + 1e-12));
}

TEST(PlacementReplay, StaticHotLearnsOnlyFromTheProfile) {
  // The hot experts move once the profile is over: static-hot's set, made from the profile,
  // misses them; sieve's residency follows.
  const RoutingTrace moving = zipf_trace(40, 16, 0, 3, /*move_at=*/10, /*moved_first_hot=*/16);
  const RoutingTrace steady = zipf_trace(40, 16, 16, 3);
  auto m = replay_trace(moving, options(16));
  auto s = replay_trace(steady, options(16));
  ASSERT_TRUE(m.ok() && s.ok());
  // Had static-hot profiled the replayed steps, both traces would give it the same set and the
  // same figures; from the profile, its resident experts are touched less and it is slower.
  const PolicyReplay& st_moving = of(*m, PlacementPolicy::kStaticHot);
  const PolicyReplay& st_steady = of(*s, PlacementPolicy::kStaticHot);
  EXPECT_LT(st_moving.experts_device, 0.75 * st_steady.experts_device);
  EXPECT_GT(st_moving.step_s, 1.05 * st_steady.step_s);
  // Sieve's residency follows the move (background swaps) and keeps its lead.
  EXPECT_GT(of(*m, PlacementPolicy::kSieve).swap_bytes, 0);
  EXPECT_GT(of(*m, PlacementPolicy::kSieve).speedup_vs_static_hot,
            of(*s, PlacementPolicy::kSieve).speedup_vs_static_hot);

  // A separate profile: every step of the trace is replayed.
  ReplayOptions o = options(16);
  o.profile = &steady;
  auto p = replay_trace(moving, o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_EQ(p->replayed_steps, 40);
  EXPECT_EQ(p->profile_steps, 40);
  EXPECT_NE(p->profile_source.find("separate profile"), std::string::npos);
}

TEST(PlacementReplay, SameTraceSameFigures) {
  const RoutingTrace trace = zipf_trace(30, 32, 5, 4);
  auto a = replay_trace(trace, options(20));
  auto b = replay_trace(trace, options(20));
  ASSERT_TRUE(a.ok() && b.ok());
  for (size_t i = 0; i < a->policies.size(); ++i) {
    EXPECT_EQ(a->policies[i].step_s, b->policies[i].step_s);
    EXPECT_EQ(a->policies[i].swap_bytes, b->policies[i].swap_bytes);
    EXPECT_EQ(a->policies[i].experts_upload, b->policies[i].experts_upload);
  }
}

TEST(PlacementReplay, InputsThatCannotBeReplayedAreErrors) {
  const RoutingTrace trace = zipf_trace(8, 8, 0, 5);
  auto small = replay_trace(trace, options(0.5));
  ASSERT_FALSE(small.ok());
  EXPECT_NE(small.status().message().find("holds no expert"), std::string::npos);

  auto short_trace = replay_trace(zipf_trace(1, 8, 0, 5), options(4));
  ASSERT_FALSE(short_trace.ok());
  EXPECT_NE(short_trace.status().message().find("--profile"), std::string::npos);

  RoutingTrace other = trace;
  other.header.num_experts = 16;
  ReplayOptions o = options(4);
  o.profile = &other;
  auto mismatch = replay_trace(trace, o);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_NE(mismatch.status().message().find("same model"), std::string::npos);

  RoutingTrace none = trace;
  none.header.moe_layers.clear();
  EXPECT_FALSE(replay_trace(none, options(4)).ok());
}

TEST(PlacementReplay, BarChartDrawsABarPerValueAndNotes) {
  BarChart c;
  c.title = "t <&>";
  c.subtitle = {"a", "b"};
  c.series = {"over host", "over static-hot"};
  c.groups = {{"sieve", "1 ms/step", {2.5, 1.4}, ""},
              {"host", "3 ms/step", {1.0, 0.5}, ""},
              {"device", "", {0, 0}, "does not fit"}};
  const std::string svg = bar_chart_svg(c);
  size_t bars = 0;
  for (size_t at = svg.find("<rect x="); at != std::string::npos; at = svg.find("<rect x=", at + 1))
    ++bars;
  EXPECT_EQ(bars, 4u + 1 + 2);  // four bars, the frame, two legend swatches
  EXPECT_NE(svg.find("does not fit"), std::string::npos);
  EXPECT_NE(svg.find("2.50×"), std::string::npos);
  EXPECT_NE(svg.find("t &lt;&amp;&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("t <&>"), std::string::npos);
}

// The subcommand, in-process: a trace file and a cost-model file in, table, JSON and SVG out.
void write_trace(const RoutingTrace& t, const std::string& path) {
  auto w = RoutingTraceWriter::open(path, t.header);
  ASSERT_TRUE(w.ok()) << w.status().message();
  for (const RoutingStep& s : t.steps)
    ASSERT_TRUE(w->write(s).ok());
}

int run_cli(std::vector<std::string> args) {
  CLI::App app("sieve");
  add_bench_command(app);
  std::vector<const char*> argv = {"sieve", "bench", "placement"};
  for (const std::string& a : args)
    argv.push_back(a.c_str());
  try {
    app.parse(static_cast<int>(argv.size()), argv.data());
  } catch (const CLI::ParseError& e) {
    return e.get_exit_code();
  }
  return 0;
}

TEST(PlacementCommand, WritesTheTableJsonAndChart) {
  const std::string trace = temp_path("placement_trace.jsonl");
  const std::string model = temp_path("placement_cost.json");
  const std::string json = temp_path("placement.json"), svg = temp_path("placement.svg");
  write_trace(zipf_trace(20, 32, 0, 6), trace);
  ASSERT_TRUE(cost().save(model).ok());
  ASSERT_EQ(run_cli({"--trace", trace, "--cost-model", model, "--hidden", "2048", "--intermediate",
                     "768", "--device-expert-memory", "0.2", "--json", json, "--svg", svg}),
            0);
  std::ifstream in(json);
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, false);
  ASSERT_TRUE(j.is_object());
  EXPECT_EQ(j["slots"], 21);  // 0.2 GB / 9.44 MB
  ASSERT_EQ(j["policies"].size(), 4u);
  EXPECT_EQ(j["policies"][0]["policy"], "sieve");
  EXPECT_GT(j["policies"][0]["speedup_vs_host"].get<double>(), 1);
  EXPECT_EQ(j["policies"][3]["fits"], false);
  EXPECT_EQ(j["cost_model"]["host"]["source"], "test");
  std::stringstream chart;
  chart << std::ifstream(svg).rdbuf();
  EXPECT_NE(chart.str().find("<svg"), std::string::npos);
  EXPECT_NE(chart.str().find("does not fit"), std::string::npos);

  // What the user can get wrong exits 2 before anything is measured.
  EXPECT_EQ(run_cli({"--trace", trace, "--cost-model", model, "--hidden", "2048", "--intermediate",
                     "768", "--device-expert-memory", "0.001"}),
            2);
  EXPECT_EQ(run_cli({"--trace", temp_path("missing.jsonl"), "--hidden", "2048", "--intermediate",
                     "768", "--device-expert-memory", "1"}),
            2);
  EXPECT_EQ(run_cli({"--trace", trace, "--device-expert-memory", "1"}), 2);
  EXPECT_EQ(run_cli({"--trace", trace, "--hidden", "2048", "--intermediate", "768",
                     "--device-expert-memory", "1", "--policies", "sieve,gpu"}),
            2);
}

}  // namespace
}  // namespace sieve::bench
