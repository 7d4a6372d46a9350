// The routings sieve-moe-table measures (host side, no GPU): valid ids, distinct experts per
// token, weights that sum to 1, counts that agree with the ids, the same draw for the same seed,
// and Zipf routing that is actually bimodal (a few hot experts, a long cold tail) where uniform
// is not.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <set>
#include <vector>

#include "kernels/cuda/bench/moe_table_cases.h"

namespace sieve::cuda::moe_table {
namespace {

void expect_valid(const ModelShape& s, int64_t tokens, const RoutingSet& r) {
  ASSERT_EQ(r.ids.size(), static_cast<size_t>(tokens * s.top_k));
  ASSERT_EQ(r.weights.size(), r.ids.size());
  std::vector<int32_t> counts(s.experts, 0);
  for (int64_t t = 0; t < tokens; ++t) {
    std::set<int32_t> seen;
    double sum = 0;
    for (int64_t j = 0; j < s.top_k; ++j) {
      const int32_t e = r.ids[t * s.top_k + j];
      ASSERT_GE(e, 0);
      ASSERT_LT(e, s.experts);
      EXPECT_TRUE(seen.insert(e).second) << "token " << t << " picks expert " << e << " twice";
      ++counts[e];
      EXPECT_GT(r.weights[t * s.top_k + j], 0.f);
      sum += r.weights[t * s.top_k + j];
    }
    EXPECT_NEAR(sum, 1.0, 1e-5) << "token " << t;
  }
  EXPECT_EQ(r.counts, counts);
  EXPECT_EQ(r.experts_hit,
            std::count_if(counts.begin(), counts.end(), [](int c) { return c > 0; }));
}

// Share of all assignments that the `n` busiest experts take.
double top_share(std::vector<int32_t> counts, int n) {
  std::sort(counts.begin(), counts.end(), std::greater<>());
  double top = 0, all = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    all += counts[i];
    if (static_cast<int>(i) < n) top += counts[i];
  }
  return top / all;
}

TEST(MoeTableRouting, ValidForEveryShapeAndRouting) {
  for (const ModelShape& s : kModelShapes) {
    for (Routing routing : {Routing::kUniform, Routing::kZipf}) {
      for (int64_t tokens : {1, 4, 64, 1024}) {
        SCOPED_TRACE(testing::Message() << s.key << " " << routing_name(routing) << " " << tokens);
        expect_valid(s, tokens, make_routing(s, tokens, routing, 7));
      }
    }
  }
}

TEST(MoeTableRouting, SameSeedSameDraw) {
  const ModelShape& s = *find_shape("qwen3-30b-a3b");
  const RoutingSet a = make_routing(s, 256, Routing::kZipf, 3);
  const RoutingSet b = make_routing(s, 256, Routing::kZipf, 3);
  const RoutingSet c = make_routing(s, 256, Routing::kZipf, 4);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.weights, b.weights);
  EXPECT_NE(a.ids, c.ids);
}

TEST(MoeTableRouting, ZipfIsBimodalUniformIsNot) {
  const ModelShape& s = *find_shape("qwen3-30b-a3b");  // 128 experts, top-8
  const RoutingSet zipf = make_routing(s, 4096, Routing::kZipf, 11);
  const RoutingSet uniform = make_routing(s, 4096, Routing::kUniform, 11);
  // The 8 hottest of 128 experts: 1/16 of the load when uniform, far more under Zipf.
  EXPECT_LT(top_share(uniform.counts, 8), 0.09);
  EXPECT_GT(top_share(zipf.counts, 8), 0.25);
  // ... and a cold tail: the coldest half of the experts gets little.
  std::vector<int32_t> sorted = zipf.counts;
  std::sort(sorted.begin(), sorted.end());
  double cold = 0;
  for (size_t i = 0; i < sorted.size() / 2; ++i)
    cold += sorted[i];
  EXPECT_LT(cold / (4096.0 * s.top_k), 0.25);
}

TEST(MoeTableRouting, ShiftRelabelsExpertsKeepingGroupSizes) {
  const ModelShape& s = *find_shape("mixtral-8x7b");
  const RoutingSet r = make_routing(s, 100, Routing::kZipf, 5);
  const auto ids = shift_experts(r.ids, 3, s.experts);
  const auto counts = shift_counts(r.counts, 3);
  std::vector<int32_t> recount(s.experts, 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    EXPECT_EQ(ids[i], (r.ids[i] + 3) % s.experts);
    ++recount[ids[i]];
  }
  EXPECT_EQ(counts, recount);
}

TEST(MoeTableRouting, ReferenceTokensSpreadOverTheBatch) {
  EXPECT_EQ(sample_tokens(3, 256), (std::vector<int32_t>{0, 1, 2}));
  const auto s = sample_tokens(16384, 5);
  ASSERT_EQ(s.size(), 5u);
  EXPECT_EQ(s.front(), 0);
  EXPECT_EQ(s.back(), 16383);
  EXPECT_TRUE(std::is_sorted(s.begin(), s.end()));
  EXPECT_EQ(find_shape("nope"), nullptr);
}

}  // namespace
}  // namespace sieve::cuda::moe_table
