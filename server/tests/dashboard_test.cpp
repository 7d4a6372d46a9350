// The dashboard's data: the heatmap is the routing counts of the window, the series are rates
// and recent means between samples.
#include "server/dashboard.h"

#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace sieve::server {
namespace {

EngineSnapshot snapshot(int64_t generated, std::vector<int64_t> expert_tokens) {
  EngineSnapshot s;
  s.stats.generated_tokens = generated;
  s.stats.steps = generated;
  s.stats.running = 2;
  s.kv_blocks_total = 100;
  s.kv_blocks_free = 75;
  s.expert_tokens = std::move(expert_tokens);
  return s;
}

TEST(Dashboard, HeatIsTheWindowsRoutingCountsOfEachMoeLayer) {
  Metrics metrics("m", 3, 4);
  DashboardOptions o;
  o.model_name = "m";
  o.num_layers = 3;
  o.num_experts = 4;
  o.moe_layers = {0, 2};  // layer 1 is dense
  o.sample_every_s = 0;
  o.window_s = 30;
  Dashboard d(o, metrics);
  auto empty = nlohmann::json::parse(d.data());
  EXPECT_TRUE(empty["heat"].empty());
  // Cumulative counts [layer * 4 + expert]; the window covers the whole run so far.
  d.step(snapshot(1, {1, 0, 0, 1, 0, 0, 0, 0, 2, 0, 0, 0}));
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  d.step(snapshot(5, {3, 0, 0, 5, 0, 0, 0, 0, 2, 0, 7, 1}));
  auto j = nlohmann::json::parse(d.data());
  EXPECT_EQ(j["model"], "m");
  EXPECT_EQ(j["moe_layers"], nlohmann::json::array({0, 2}));
  ASSERT_EQ(j["heat"].size(), 2u);
  EXPECT_EQ(j["heat"][0], nlohmann::json::array({3, 0, 0, 5}));
  EXPECT_EQ(j["heat"][1], nlohmann::json::array({2, 0, 7, 1}));
  // The interval between the two steps: 4 tokens in ~20 ms, KV a quarter used (data() adds
  // one more sample, up to now).
  const auto& s = j["series"];
  ASSERT_GE(s["tokens_per_s"].size(), 1u);
  EXPECT_GT(s["tokens_per_s"][0].get<double>(), 4.0);
  EXPECT_EQ(s["kv_used_pct"][0].get<double>(), 25.0);
  EXPECT_TRUE(s["ttft_ms"][0].is_null());  // no request finished in the interval
  EXPECT_EQ(j["stats"]["running"], 2);
}

TEST(Dashboard, OlderCountsLeaveTheWindow) {
  Metrics metrics("m", 1, 2);
  DashboardOptions o;
  o.num_layers = 1;
  o.num_experts = 2;
  o.moe_layers = {0};
  o.sample_every_s = 0;
  o.window_s = 0.5;
  Dashboard d(o, metrics);
  d.step(snapshot(1, {10, 0}));
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // routing is kept once a second
  d.step(snapshot(2, {10, 3}));
  auto j = nlohmann::json::parse(d.data());
  // The snapshot of {10, 0} is older than the window: only what came after it counts.
  EXPECT_EQ(j["heat"][0], nlohmann::json::array({0, 3}));
}

}  // namespace
}  // namespace sieve::server
