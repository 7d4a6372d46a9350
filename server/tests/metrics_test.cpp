// /metrics text for a multi-rank run: one series per rank and MoE layer for the expert-parallel
// counters (dense layers and single-process runs render none), the global expert counter
// without a rank label.
#include "server/metrics.h"

#include <sstream>

#include <gtest/gtest.h>

namespace sieve::server {
namespace {

// The lines of `text` that mention `needle`, in order.
std::string lines_with(const std::string& text, const std::string& needle) {
  std::istringstream in(text);
  std::string out, l;
  while (std::getline(in, l)) {
    if (l.find(needle) != std::string::npos) out += l + "\n";
  }
  return out;
}

EngineSnapshot two_ranks() {
  EngineSnapshot s;
  s.expert_tokens.assign(2 * 4, 0);
  s.expert_tokens[4 + 1] = 9;
  s.ranks.resize(2);
  for (ExpertParallelStats& r : s.ranks)
    r.layers.resize(2);  // layer 0 dense, layer 1 MoE (two experts per rank)
  s.ranks[0].layers[1] = {6, 4, 3072, 2048, 0.25, {3, 1}};
  s.ranks[1].layers[1] = {4, 6, 2048, 3072, 0.5, {0, 0}};
  return s;
}

TEST(Metrics, ExpertParallelSeriesPerRankAndMoeLayer) {
  Metrics m("tiny", 2, 4);
  m.step(two_ranks());
  const std::string text = m.render();
  const std::string l = R"(model_name="tiny",rank="0",layer="1")";
  const std::string r = R"(model_name="tiny",rank="1",layer="1")";
  EXPECT_EQ(
      lines_with(text, "sieve_ep_"),
      "# HELP sieve_ep_tokens_sent_total Expert-parallel rows ((token, expert) choices) a "
      "rank sent to the experts' owners (itself included), per MoE layer.\n"
      "# TYPE sieve_ep_tokens_sent_total counter\n"
      "sieve_ep_tokens_sent_total{" +
          l +
          "} 6\n"
          "sieve_ep_tokens_sent_total{" +
          r +
          "} 4\n"
          "# HELP sieve_ep_tokens_received_total Expert-parallel rows ((token, expert) "
          "choices) a rank received for its experts (from itself included), per MoE layer.\n"
          "# TYPE sieve_ep_tokens_received_total counter\n"
          "sieve_ep_tokens_received_total{" +
          l +
          "} 4\n"
          "sieve_ep_tokens_received_total{" +
          r +
          "} 6\n"
          "# HELP sieve_ep_all_to_all_bytes_total Bytes a rank's MoE all-to-all exchanges "
          "sent and received (counts, dispatch, combine), per layer.\n"
          "# TYPE sieve_ep_all_to_all_bytes_total counter\n"
          "sieve_ep_all_to_all_bytes_total{" +
          l +
          R"(,direction="sent"} 3072)"
          "\n"
          "sieve_ep_all_to_all_bytes_total{" +
          l +
          R"(,direction="received"} 2048)"
          "\n"
          "sieve_ep_all_to_all_bytes_total{" +
          r +
          R"(,direction="sent"} 2048)"
          "\n"
          "sieve_ep_all_to_all_bytes_total{" +
          r +
          R"(,direction="received"} 3072)"
          "\n"
          "# HELP sieve_ep_all_to_all_seconds_total Time a rank spent in its MoE all-to-all "
          "exchanges, per layer.\n"
          "# TYPE sieve_ep_all_to_all_seconds_total counter\n"
          "sieve_ep_all_to_all_seconds_total{" +
          l +
          "} 0.25\n"
          "sieve_ep_all_to_all_seconds_total{" +
          r +
          "} 0.5\n"
          "# HELP sieve_ep_expert_tokens_total Rows a rank's experts computed, per MoE layer.\n"
          "# TYPE sieve_ep_expert_tokens_total counter\n"
          "sieve_ep_expert_tokens_total{" +
          l +
          "} 4\n"
          "sieve_ep_expert_tokens_total{" +
          r +
          "} 0\n"
          "# HELP sieve_ep_expert_load_imbalance Most rows on one of a rank's experts over the "
          "mean of its experts, per MoE layer, since start (1 = even; absent before any row).\n"
          "# TYPE sieve_ep_expert_load_imbalance gauge\n"
          "sieve_ep_expert_load_imbalance{" +
          l + "} 1.5\n");
  // The router's counts stay global: no rank label.
  EXPECT_NE(text.find(R"(sieve_expert_tokens_total{model_name="tiny",layer="1",expert="1"} 9)"),
            std::string::npos)
      << text;
  EXPECT_EQ(lines_with(text, "sieve_expert_tokens_total{").find("rank="), std::string::npos);
}

TEST(Metrics, NoExpertParallelSeriesInOneProcess) {
  Metrics m("tiny", 2, 4);
  EngineSnapshot s = two_ranks();
  s.ranks.clear();
  m.step(s);
  const std::string text = m.render();
  EXPECT_EQ(lines_with(text, "sieve_ep_"), "");
  EXPECT_NE(text.find("sieve_expert_tokens_total{"), std::string::npos);
}

}  // namespace
}  // namespace sieve::server
