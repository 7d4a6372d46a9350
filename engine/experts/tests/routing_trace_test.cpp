// Routing traces: what the writer writes the reader reads back, and a malformed file is an error
// naming its line.
#include "engine/experts/routing_trace.h"

#include <cstdio>
#include <fstream>

#include <gtest/gtest.h>

namespace sieve {
namespace {

std::string temp_path(const char* name) {
  return std::string(::testing::TempDir()) + "/" + name;
}

RoutingTraceHeader header() {
  RoutingTraceHeader h;
  h.source = "test";
  h.model_type = "qwen3_moe";
  h.num_layers = 3;
  h.num_experts = 4;
  h.top_k = 2;
  h.moe_layers = {0, 2};
  return h;
}

TEST(RoutingTrace, WritesAndReadsBackEveryStep) {
  const std::string path = temp_path("trace.jsonl");
  auto w = RoutingTraceWriter::open(path, header());
  ASSERT_TRUE(w.ok()) << w.status().message();
  RoutingStep a{3, {{2, 0, 3, 1}, {0, 3, 3, 0}}};
  RoutingStep b{1, {{0, 1, 1, 0}, {1, 0, 0, 1}}};
  ASSERT_TRUE(w->write(a).ok());
  ASSERT_TRUE(w->write(b).ok());
  EXPECT_EQ(w->steps_written(), 2);
  auto t = read_routing_trace(path);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->header.model_type, "qwen3_moe");
  EXPECT_EQ(t->header.moe_layers, (std::vector<int64_t>{0, 2}));
  ASSERT_EQ(t->steps.size(), 2u);
  EXPECT_EQ(t->steps[0].tokens, 3);
  EXPECT_EQ(t->steps[0].counts, a.counts);
  EXPECT_EQ(t->steps[1].counts, b.counts);
}

TEST(RoutingTrace, MalformedFilesNameTheLine) {
  const std::string path = temp_path("bad.jsonl");
  auto write = [&](const std::string& text) { std::ofstream(path) << text; };
  const std::string head =
      R"({"format": "sieve-routing-trace", "version": 1, "num_layers": 2, "num_experts": 4, )"
      R"("top_k": 2, "moe_layers": [0]})"
      "\n";
  write(head + R"({"tokens": 1, "layers": [[0, 1, 3, 1]]})" + "\n");
  EXPECT_TRUE(read_routing_trace(path).ok());
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"({"tokens": 2, "layers": [[0, 1, 3, 2]]})", "sum"},      // 3 ≠ 2 × 2
      {R"({"tokens": 1, "layers": [[3, 1, 0, 1]]})", "order"},    // not ascending
      {R"({"tokens": 1, "layers": [[0, 1, 4, 1]]})", "outside"},  // expert 4 of 4
      {R"({"tokens": 1, "layers": []})", "layers"},
      {R"([1, 2])", "a step must be"}};
  for (const auto& [line, why] : cases) {
    write(head + line + "\n");
    auto t = read_routing_trace(path);
    ASSERT_FALSE(t.ok()) << line;
    EXPECT_NE(t.status().message().find(":2: "), std::string::npos) << t.status().message();
    EXPECT_NE(t.status().message().find(why), std::string::npos) << t.status().message();
  }
  write(R"({"format": "something else"})");
  EXPECT_NE(read_routing_trace(path).status().message().find("not a routing trace"),
            std::string::npos);
  EXPECT_FALSE(read_routing_trace(temp_path("missing.jsonl")).ok());
}

TEST(RoutingTrace, HeaderAndCountsFromTheModel) {
  ModelConfig c;
  c.model_type = "qwen3_moe";
  c.num_layers = 3;
  c.num_experts = 4;
  c.top_k = 2;
  c.layer_is_moe = {false, true, true};
  const RoutingTraceHeader h = routing_trace_header(c, "here");
  EXPECT_EQ(h.source, "here");
  EXPECT_EQ(h.moe_layers, (std::vector<int64_t>{1, 2}));
  ForwardTrace trace;
  trace.router_ids = {{}, {3, 0, 3, 1, 2, 3}, {0, 1, 1, 0, 0, 2}};
  const RoutingStep step = count_routing(trace, h, 3);
  EXPECT_EQ(step.tokens, 3);
  EXPECT_EQ(step.counts, (std::vector<std::vector<int32_t>>{{1, 1, 1, 3}, {3, 2, 1, 0}}));
}

}  // namespace
}  // namespace sieve
