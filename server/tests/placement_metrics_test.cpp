// /metrics of a run with --expert-placement: a series per MoE layer (and tier) for the hybrid
// executor's counters, dense layers and runs without the executor rendering none.
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "server/metrics.h"

namespace sieve::server {
namespace {

std::string lines_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string out, l;
  while (std::getline(in, l)) {
    if (l.find(needle) != std::string::npos) out += l + "\n";
  }
  return out;
}

// Two layers: 0 dense, 1 MoE with four experts, two of them resident.
EngineSnapshot hybrid_run() {
  EngineSnapshot s;
  HybridMoeStats& p = s.placement;
  p.policy = "sieve";
  p.device_slots = 3;
  p.steps = 5;
  p.step_predicted_seconds = 0.125;
  p.step_actual_seconds = 0.375;
  p.layers.resize(2);
  HybridMoeStats::Layer& l = p.layers[1];
  l.device_rows = 7;
  l.upload_rows = 2;
  l.host_rows = 11;
  l.device_experts = 3;
  l.upload_experts = 1;
  l.host_experts = 6;
  l.upload_bytes = 24576;
  l.activation_bytes = 5632;
  l.swaps_in = 2;
  l.swap_bytes = 49152;
  l.evictions = 1;
  l.planner_seconds = 0.25;
  l.predicted_seconds = 0.5;
  l.actual_seconds = 0.75;
  l.last_tier = {ExpertTier::kDevice, ExpertTier::kHost, ExpertTier::kIdle, ExpertTier::kUpload};
  l.resident = {1, 0, 0, 1};
  return s;
}

TEST(PlacementMetrics, SeriesPerMoeLayerAndTier) {
  Metrics m("tiny", 2, 4);
  m.step(hybrid_run());
  const std::string text = m.render();
  const std::string l = R"(model_name="tiny",layer="1")";
  EXPECT_EQ(lines_with(text, "sieve_placement_rows_total{"),
            "sieve_placement_rows_total{" + l + R"(,tier="device"} 7)" + "\n" +
                "sieve_placement_rows_total{" + l + R"(,tier="upload"} 2)" + "\n" +
                "sieve_placement_rows_total{" + l + R"(,tier="host"} 11)" + "\n");
  EXPECT_EQ(lines_with(text, "sieve_placement_experts_total{"),
            "sieve_placement_experts_total{" + l + R"(,tier="device"} 3)" + "\n" +
                "sieve_placement_experts_total{" + l + R"(,tier="upload"} 1)" + "\n" +
                "sieve_placement_experts_total{" + l + R"(,tier="host"} 6)" + "\n");
  for (const std::string& want : std::vector<std::string>{
           "sieve_placement_device_slots{model_name=\"tiny\",policy=\"sieve\"} 3",
           "sieve_placement_upload_bytes_total{" + l + "} 24576",
           "sieve_placement_activation_bytes_total{" + l + "} 5632",
           "sieve_placement_swaps_total{" + l + "} 2",
           "sieve_placement_swap_bytes_total{" + l + "} 49152",
           "sieve_placement_evictions_total{" + l + "} 1",
           "sieve_placement_planner_seconds_total{" + l + "} 0.25",
           "sieve_placement_moe_seconds_total{" + l + ",kind=\"predicted\"} 0.5",
           "sieve_placement_moe_seconds_total{" + l + ",kind=\"actual\"} 0.75",
           "sieve_placement_resident_experts{" + l + "} 2",
           "sieve_placement_step_moe_seconds{model_name=\"tiny\",kind=\"predicted\"} 0.125",
           "sieve_placement_step_moe_seconds{model_name=\"tiny\",kind=\"actual\"} 0.375",
           "# TYPE sieve_placement_rows_total counter",
           "# TYPE sieve_placement_resident_experts gauge",
       }) {
    EXPECT_NE(text.find(want + "\n"), std::string::npos) << want << "\n" << text;
  }
  // The dense layer has no series.
  EXPECT_EQ(lines_with(text, "layer=\"0\"").find("sieve_placement_"), std::string::npos);
}

TEST(PlacementMetrics, NoSeriesWithoutTheHybridExecutor) {
  Metrics m("tiny", 2, 4);
  m.step(EngineSnapshot{});
  EXPECT_EQ(lines_with(m.render(), "sieve_placement_"), "");
}

}  // namespace
}  // namespace sieve::server
