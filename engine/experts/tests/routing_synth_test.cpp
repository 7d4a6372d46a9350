// Synthetic routing: skew figures match the published definitions, draws are deterministic and
// well formed (counts sum to tokens × top_k, top_k distinct experts per token), and what is drawn
// follows its source — a Zipf law, or the real OLMoE and Mixtral counts of the fixtures.
#include "engine/experts/routing_synth.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/support/fixtures.h"

namespace sieve {
namespace {

std::string counts_file() {
  return testing::fixture_path("routing/olmoe_mixtral_counts.json");
}

RoutingTraceHeader shape(int64_t experts, int64_t top_k, int64_t layers) {
  RoutingTraceHeader h;
  h.num_layers = layers;
  h.num_experts = experts;
  h.top_k = top_k;
  for (int64_t l = 0; l < layers; ++l)
    h.moe_layers.push_back(l);
  return h;
}

// Every layer's counts summed over `steps` steps of `tokens` tokens.
std::vector<std::vector<int64_t>> totals(RoutingDraw& draw, const RoutingTraceHeader& h,
                                         int64_t steps, int64_t tokens) {
  std::vector<std::vector<int64_t>> t(h.moe_layers.size(), std::vector<int64_t>(h.num_experts));
  for (int64_t s = 0; s < steps; ++s) {
    const RoutingStep step = draw.next(tokens);
    for (size_t l = 0; l < t.size(); ++l) {
      for (int64_t e = 0; e < h.num_experts; ++e)
        t[l][e] += step.counts[l][e];
    }
  }
  return t;
}

TEST(SkewStats, MatchTheirDefinitions) {
  const std::vector<int64_t> uniform(64, 10);
  const SkewStats u = skew_stats(uniform);
  EXPECT_EQ(u.assignments, 640);
  EXPECT_DOUBLE_EQ(u.top8_share, 0.125);
  EXPECT_NEAR(u.gini, 0.0, 1e-12);
  EXPECT_DOUBLE_EQ(u.max_over_mean, 1.0);
  // One expert of four takes everything: Gini (n - 1) / n, max/mean n.
  const SkewStats one = skew_stats(std::vector<int64_t>{0, 12, 0, 0});
  EXPECT_DOUBLE_EQ(one.top8_share, 1.0);
  EXPECT_DOUBLE_EQ(one.gini, 0.75);
  EXPECT_DOUBLE_EQ(one.max_over_mean, 4.0);
  // The fixture's own figures for a layer, recomputed from its counts.
  std::ifstream in(counts_file());
  const auto file = nlohmann::json::parse(in);
  for (const char* key : {"olmoe/expert_counts/github", "mistral/expert_counts/book"}) {
    for (const auto& [layer, stats] : file[key]["layers"].items()) {
      SCOPED_TRACE(std::string(key) + " layer " + layer);
      const SkewStats s = skew_stats(stats["counts"].get<std::vector<int64_t>>());
      EXPECT_EQ(s.assignments, stats["assignments"].get<int64_t>());
      EXPECT_NEAR(s.top8_share, stats["top8_share"].get<double>(), 1e-12);
      EXPECT_NEAR(s.gini, stats["gini"].get<double>(), 1e-12);
      EXPECT_NEAR(s.max_over_mean, stats["max_over_mean"].get<double>(), 1e-12);
    }
  }
}

TEST(RoutingSource, ParsesEveryFormAndRejectsTheRest) {
  auto z = parse_routing_source("zipf:1.2");
  ASSERT_TRUE(z.ok());
  EXPECT_TRUE(z->is_zipf());
  EXPECT_DOUBLE_EQ(z->zipf_s, 1.2);
  auto o = parse_routing_source("olmoe:7:github");
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->model, "olmoe");
  EXPECT_EQ(o->layer, 7);
  EXPECT_EQ(o->domain, "github");
  auto m = parse_routing_source("mixtral:15");
  ASSERT_TRUE(m.ok());
  EXPECT_EQ(m->domain, "");
  for (const char* bad : {"zipf", "zipf:0", "zipf:-1", "zipf:x", "zipf:1:2", "olmoe", "olmoe:a",
                          "olmoe:-1", "olmoe:7:", "deepseek:3", ""}) {
    auto r = parse_routing_source(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_NE(r.status().message().find("zipf:S"), std::string::npos) << r.status().message();
  }
}

TEST(RecordedCounts, ReadLayersAndDomainsWithClearErrors) {
  auto one = read_recorded_counts(counts_file(), *parse_routing_source("olmoe:7:github"));
  ASSERT_TRUE(one.ok()) << one.status().message();
  EXPECT_EQ(one->counts.size(), 64u);
  EXPECT_EQ(one->top_k, 8);
  // Without a domain, all six of OLMoE's are summed: 6 × 8 choices per token.
  auto all = read_recorded_counts(counts_file(), *parse_routing_source("olmoe:7"));
  ASSERT_TRUE(all.ok());
  const int64_t sum = std::accumulate(all->counts.begin(), all->counts.end(), int64_t{0});
  EXPECT_EQ(sum, 8 * (5 * 208896 + 205243));
  auto mixtral = read_recorded_counts(counts_file(), *parse_routing_source("mixtral:0:c4"));
  ASSERT_TRUE(mixtral.ok());
  EXPECT_EQ(mixtral->counts.size(), 8u);
  EXPECT_EQ(mixtral->top_k, 2);
  auto no_layer = read_recorded_counts(counts_file(), *parse_routing_source("olmoe:3"));
  ASSERT_FALSE(no_layer.ok());
  EXPECT_NE(no_layer.status().message().find("layers: 0, 15, 7"), std::string::npos)
      << no_layer.status().message();
  auto no_domain = read_recorded_counts(counts_file(), *parse_routing_source("mixtral:0:tulu"));
  ASSERT_FALSE(no_domain.ok());
  EXPECT_NE(no_domain.status().message().find("domains: arxiv"), std::string::npos)
      << no_domain.status().message();
  EXPECT_FALSE(read_recorded_counts("/nonexistent.json", *parse_routing_source("olmoe:0")).ok());
}

TEST(MapShares, KeepsTheLorenzCurve) {
  std::vector<double> shares = {0.4, 0.3, 0.2, 0.1};
  // As many experts: the same shares, busiest first.
  const auto same = map_shares(shares, 4);
  for (size_t i = 0; i < 4; ++i)
    EXPECT_NEAR(same[i], shares[i], 1e-12) << i;
  // Twice as many: each expert split in two halves.
  const auto eight = map_shares(shares, 8);
  const std::vector<double> halves = {0.2, 0.2, 0.15, 0.15, 0.1, 0.1, 0.05, 0.05};
  for (size_t i = 0; i < 8; ++i)
    EXPECT_NEAR(eight[i], halves[i], 1e-12) << i;
  // Half as many: pairs merged.
  const auto two = map_shares(shares, 2);
  EXPECT_NEAR(two[0], 0.7, 1e-12);
  EXPECT_NEAR(two[1], 0.3, 1e-12);
  // OLMoE's 64 experts onto 128: the busiest 16 of 128 take what the busiest 8 of 64 took, and
  // Gini stays.
  auto olmoe = read_recorded_counts(counts_file(), *parse_routing_source("olmoe:15:wikipedia"));
  ASSERT_TRUE(olmoe.ok());
  std::vector<double> real(olmoe->counts.begin(), olmoe->counts.end());
  const auto mapped = map_shares(real, 128);
  EXPECT_NEAR(std::accumulate(mapped.begin(), mapped.end(), 0.0), 1.0, 1e-12);
  const double top16 = std::accumulate(mapped.begin(), mapped.begin() + 16, 0.0);
  EXPECT_NEAR(top16, skew_stats(olmoe->counts).top8_share, 1e-9);
  std::vector<int64_t> scaled;
  for (double s : mapped)
    scaled.push_back(std::llround(s * 1e12));
  EXPECT_NEAR(skew_stats(scaled).gini, skew_stats(olmoe->counts).gini, 0.01);
}

TEST(RoutingDraw, IsDeterministicAndWellFormed) {
  const RoutingTraceHeader h = shape(64, 8, 3);
  auto shares = source_shares(*parse_routing_source("zipf:1.0"), h, 5, "");
  ASSERT_TRUE(shares.ok());
  RoutingDraw a(h, *shares, 7), b(h, *shares, 7), c(h, *shares, 8);
  bool differs = false;
  for (int step = 0; step < 20; ++step) {
    std::vector<std::vector<int32_t>> choices;
    const RoutingStep s = a.next(step + 1, &choices);
    EXPECT_EQ(s.counts, b.next(step + 1).counts);
    differs |= s.counts != c.next(step + 1).counts;
    ASSERT_EQ(s.counts.size(), 3u);
    for (size_t l = 0; l < 3; ++l) {
      EXPECT_EQ(std::accumulate(s.counts[l].begin(), s.counts[l].end(), int64_t{0}),
                s.tokens * h.top_k);
      ASSERT_EQ(static_cast<int64_t>(choices[l].size()), s.tokens * h.top_k);
      std::vector<int32_t> counted(h.num_experts, 0);
      for (int64_t t = 0; t < s.tokens; ++t) {
        const auto first = choices[l].begin() + t * h.top_k;
        const std::set<int32_t> distinct(first, first + h.top_k);
        EXPECT_EQ(static_cast<int64_t>(distinct.size()), h.top_k) << "token " << t;
        for (int32_t e : distinct) {
          ASSERT_TRUE(e >= 0 && e < h.num_experts);
          ++counted[e];
        }
      }
      EXPECT_EQ(counted, s.counts[l]);
    }
  }
  EXPECT_TRUE(differs) << "another seed draws other choices";
  // Layers get their own hot experts; the same seed lays them out the same way.
  EXPECT_NE((*shares)[0], (*shares)[1]);
  EXPECT_EQ(*source_shares(*parse_routing_source("zipf:1.0"), h, 5, ""), *shares);
}

TEST(RoutingDraw, FollowsAZipfLaw) {
  const RoutingTraceHeader h = shape(64, 8, 1);
  auto shares = source_shares(*parse_routing_source("zipf:0.8"), h, 1, "");
  ASSERT_TRUE(shares.ok());
  // Shares ∝ r^-0.8, laid on the experts in some order.
  const std::vector<double> w = zipf_weights(64, 0.8);
  const double w_sum = std::accumulate(w.begin(), w.end(), 0.0);
  std::vector<double> ranked((*shares)[0]);
  std::sort(ranked.begin(), ranked.end(), std::greater<>());
  for (int r = 0; r < 64; ++r)
    ASSERT_NEAR(ranked[r], w[r] / w_sum, 1e-12);
  // The busiest expert's share (8 × 0.148 of a token's choices) is more than a token can give
  // it: it is chosen by every token, and the others keep the law's ratios among themselves.
  RoutingDraw draw(h, *shares, 1);
  const std::vector<double>& pi = draw.inclusion()[0];
  const auto order = [&](int64_t a, int64_t b) { return (*shares)[0][a] > (*shares)[0][b]; };
  std::vector<int64_t> by_rank(64);
  std::iota(by_rank.begin(), by_rank.end(), 0);
  std::sort(by_rank.begin(), by_rank.end(), order);
  EXPECT_DOUBLE_EQ(pi[by_rank[0]], 1.0);
  for (int r = 2; r < 64; ++r)
    EXPECT_NEAR(pi[by_rank[r]] / pi[by_rank[1]], w[r] / w[1], 1e-9) << r;
  // What is drawn: each expert within five standard deviations of π_e × tokens.
  const int64_t tokens = 400 * 32;
  const auto t = totals(draw, h, 400, 32)[0];
  for (int64_t e = 0; e < 64; ++e) {
    const double expected = pi[e] * tokens;
    EXPECT_NEAR(t[e], expected, 5 * std::sqrt(expected * (1 - pi[e])) + 1) << "expert " << e;
  }
}

TEST(RoutingDraw, FollowsTheRealCounts) {
  // Every OLMoE layer and domain and a Mixtral one, at their own shapes: the drawn top-8 share,
  // Gini and max/mean land within a few percent of the real layer's.
  for (const char* spec : {"olmoe:0:arxiv", "olmoe:7:github", "olmoe:15:wikipedia", "olmoe:7:c4",
                           "olmoe:15", "mixtral:15:book"}) {
    SCOPED_TRACE(spec);
    const RoutingSource src = *parse_routing_source(spec);
    const RecordedCounts real = *read_recorded_counts(counts_file(), src);
    const RoutingTraceHeader h = shape(static_cast<int64_t>(real.counts.size()), real.top_k, 2);
    auto shares = source_shares(src, h, 3, counts_file());
    ASSERT_TRUE(shares.ok()) << shares.status().message();
    RoutingDraw draw(h, *shares, 3);
    const SkewStats want = skew_stats(real.counts);
    for (const auto& layer : totals(draw, h, 300, 64)) {
      const SkewStats got = skew_stats(layer);
      EXPECT_NEAR(got.top8_share, want.top8_share, 0.03 * want.top8_share);
      EXPECT_NEAR(got.gini, want.gini, 0.03 * want.gini + 0.01);
      EXPECT_NEAR(got.max_over_mean, want.max_over_mean, 0.03 * want.max_over_mean);
      // As many experts as the real layer: each keeps its number.
      const int64_t real_busiest =
          std::max_element(real.counts.begin(), real.counts.end()) - real.counts.begin();
      EXPECT_EQ(std::max_element(layer.begin(), layer.end()) - layer.begin(), real_busiest);
    }
  }
}

TEST(RoutingDraw, CapsExpertsAtOneChoicePerToken) {
  // zipf:3 over 16 experts top-4: the busiest share is far above 1/4 of the choices, so the
  // busiest experts are chosen by every token and the rest share what is left.
  const RoutingTraceHeader h = shape(16, 4, 1);
  auto shares = source_shares(*parse_routing_source("zipf:3"), h, 0, "");
  ASSERT_TRUE(shares.ok());
  RoutingDraw draw(h, *shares, 0);
  const auto& pi = draw.inclusion()[0];
  EXPECT_NEAR(std::accumulate(pi.begin(), pi.end(), 0.0), 4.0, 1e-9);
  EXPECT_DOUBLE_EQ(*std::max_element(pi.begin(), pi.end()), 1.0);
  const int64_t busiest = std::max_element(pi.begin(), pi.end()) - pi.begin();
  const auto t = totals(draw, h, 50, 10)[0];
  EXPECT_EQ(t[busiest], 500) << "every token chooses it";
}

}  // namespace
}  // namespace sieve
