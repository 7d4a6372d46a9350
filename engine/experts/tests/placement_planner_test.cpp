// The placement planner and the residency tracker: no token is dropped (every expert with tokens
// gets exactly one tier, the others kIdle), kDevice only for resident experts, uploads only under
// sieve and only of experts that are not resident, the layer's predicted time is the slowest of
// its sides, residency never exceeds its slots, the same inputs give the same answers, and each
// policy does what it says (sieve, on a bimodal load, brings the two sides closer than host or
// static-hot).
#include "engine/experts/placement_planner.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

namespace sieve {
namespace {

constexpr PlacementPolicy kPolicies[] = {PlacementPolicy::kSieve, PlacementPolicy::kHost,
                                         PlacementPolicy::kStaticHot, PlacementPolicy::kDevice};

// Qwen3-30B-A3B's routed expert: hidden 2048, intermediate 768, bf16 (9.4 MB).
ExpertShape qwen3_expert() {
  return ExpertShape{.hidden = 2048, .intermediate = 768, .weight_dtype = DType::kBF16};
}

// A server host (a few TFLOP/s of bf16, 150 GB/s) beside the H100 datasheet device.
PlacementCostModel test_cost() {
  PlacementCostModel host;
  host.host = TierRates{.flops_per_s = 3e12, .weight_bytes_per_s = 150e9, .per_expert_s = 5e-6};
  host.host_source = "test";
  return h100_sxm_device(host);
}

PlacementPlanner make_planner(PlacementPolicy policy, int64_t experts) {
  PlannerOptions o;
  o.policy = policy;
  o.shape = qwen3_expert();
  o.cost = test_cost();
  o.num_experts = experts;
  return PlacementPlanner(o);
}

// `tokens` tokens each choosing `top_k` distinct experts, the first choice weighted toward low
// ids by a Zipf law of exponent `skew` (0: uniform).
std::vector<int32_t> draw_counts(std::mt19937_64& rng, int64_t experts, int64_t top_k,
                                 int64_t tokens, double skew) {
  std::vector<double> w(experts);
  for (int64_t e = 0; e < experts; ++e)
    w[e] = 1.0 / std::pow(static_cast<double>(e + 1), skew);
  std::vector<int32_t> counts(experts, 0);
  for (int64_t t = 0; t < tokens; ++t) {
    std::vector<double> left = w;
    for (int64_t j = 0; j < top_k; ++j) {
      std::discrete_distribution<int64_t> pick(left.begin(), left.end());
      const int64_t e = pick(rng);
      ++counts[e];
      left[e] = 0;
    }
  }
  return counts;
}

std::vector<uint8_t> draw_resident(std::mt19937_64& rng, int64_t experts, double p) {
  std::bernoulli_distribution bit(p);
  std::vector<uint8_t> r(experts);
  for (auto& x : r)
    x = bit(rng) ? 1 : 0;
  return r;
}

double max_side(const LayerPlan& p) {
  return std::max({p.device_s, p.host_s, p.link_s});
}

TEST(PlacementPlanner, NoTokenDroppedAndTiersKeepTheirPromises) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 300; ++trial) {
    const int64_t experts = std::vector<int64_t>{8, 64, 128}[trial % 3];
    const int64_t top_k = std::min<int64_t>(experts, 1 + trial % 8);
    const int64_t tokens = std::vector<int64_t>{1, 4, 32, 256}[(trial / 3) % 4];
    const double skew = (trial % 5) * 0.4;
    const std::vector<int32_t> counts = draw_counts(rng, experts, top_k, tokens, skew);
    const std::vector<uint8_t> some = draw_resident(rng, experts, (trial % 7) / 6.0);
    const std::vector<uint8_t> all(experts, 1);
    for (PlacementPolicy policy : kPolicies) {
      const std::vector<uint8_t>& resident = policy == PlacementPolicy::kDevice ? all : some;
      PlacementPlanner planner = make_planner(policy, experts);
      LayerPlan plan;
      planner.plan(counts, resident, plan);
      ASSERT_EQ(static_cast<int64_t>(plan.tier.size()), experts);
      int64_t uploads = 0, host_rows = 0;
      for (int64_t e = 0; e < experts; ++e) {
        const ExpertTier t = plan.tier[e];
        SCOPED_TRACE(::testing::Message() << placement_policy_name(policy) << " trial " << trial
                                          << " expert " << e << " count " << counts[e]);
        EXPECT_EQ(counts[e] == 0, t == ExpertTier::kIdle);
        if (t == ExpertTier::kDevice) {
          EXPECT_TRUE(resident[e]);
        }
        if (t == ExpertTier::kUpload) {
          EXPECT_EQ(policy, PlacementPolicy::kSieve);
          EXPECT_FALSE(resident[e]);
          ++uploads;
        }
        if (t == ExpertTier::kHost) host_rows += counts[e];
      }
      const ExpertShape shape = qwen3_expert();
      EXPECT_EQ(plan.upload_bytes, uploads * shape.weight_bytes());
      EXPECT_EQ(plan.activation_bytes, 2 * host_rows * shape.activation_bytes_per_token());
      EXPECT_DOUBLE_EQ(plan.predicted_s, max_side(plan));
      EXPECT_GT(plan.predicted_s, 0);
    }
  }
}

TEST(PlacementPlanner, SidesAddUpTheCostModel) {
  // Host policy: the host side is every touched expert's host time plus its rows' trips.
  const PlacementCostModel cm = test_cost();
  const ExpertShape shape = qwen3_expert();
  const std::vector<int32_t> counts = {0, 1, 7, 0, 40, 2, 0, 12};
  const std::vector<uint8_t> resident = {1, 1, 0, 0, 1, 0, 0, 0};
  double host = 0, rows = 0, device = 0;
  for (int32_t c : counts) {
    host += cm.expert_seconds(cm.host, shape, c);
    rows += cm.activation_seconds(shape, c);
  }
  LayerPlan plan;
  make_planner(PlacementPolicy::kHost, 8).plan(counts, resident, plan);
  EXPECT_DOUBLE_EQ(plan.device_s, 0);
  EXPECT_NEAR(plan.host_s, host + rows, 1e-12);
  EXPECT_NEAR(plan.link_s, rows, 1e-12);
  // Static-hot: experts 1 and 4 (resident) on the device, 2, 5 and 7 on the host.
  host = rows = 0;
  for (int e : {2, 5, 7}) {
    host += cm.expert_seconds(cm.host, shape, counts[e]);
    rows += cm.activation_seconds(shape, counts[e]);
  }
  for (int e : {1, 4})
    device += cm.expert_seconds(cm.device, shape, counts[e]);
  make_planner(PlacementPolicy::kStaticHot, 8).plan(counts, resident, plan);
  EXPECT_NEAR(plan.host_s, host + rows, 1e-12);
  EXPECT_NEAR(plan.device_s, device, 1e-12);
  EXPECT_EQ(plan.upload_bytes, 0);
}

TEST(PlacementPlanner, EachPolicyPlacesAsItSays) {
  std::mt19937_64 rng(3);
  const int64_t experts = 64;
  const std::vector<int32_t> counts = draw_counts(rng, experts, 8, 32, 1.2);
  const std::vector<uint8_t> resident = draw_resident(rng, experts, 0.3);
  LayerPlan plan;
  make_planner(PlacementPolicy::kHost, experts).plan(counts, resident, plan);
  for (int64_t e = 0; e < experts; ++e)
    EXPECT_EQ(plan.tier[e], counts[e] ? ExpertTier::kHost : ExpertTier::kIdle);
  make_planner(PlacementPolicy::kDevice, experts)
      .plan(counts, std::vector<uint8_t>(experts, 1), plan);
  for (int64_t e = 0; e < experts; ++e)
    EXPECT_EQ(plan.tier[e], counts[e] ? ExpertTier::kDevice : ExpertTier::kIdle);
  EXPECT_DOUBLE_EQ(plan.host_s, 0);
  EXPECT_EQ(plan.activation_bytes, 0);
  make_planner(PlacementPolicy::kStaticHot, experts).plan(counts, resident, plan);
  for (int64_t e = 0; e < experts; ++e) {
    const ExpertTier want = counts[e] == 0 ? ExpertTier::kIdle
                            : resident[e]  ? ExpertTier::kDevice
                                           : ExpertTier::kHost;
    EXPECT_EQ(plan.tier[e], want) << e;
  }
}

// A decode step of 64 tokens, top-8 of 128: every expert of the cold tail gets one or two
// tokens, and six hot experts share the other choices (about 58 each). Two of the hot ones and
// a scatter of cold ones are resident.
struct BimodalLoad {
  std::vector<int32_t> counts = std::vector<int32_t>(128, 0);
  std::vector<uint8_t> resident = std::vector<uint8_t>(128, 0);
  std::vector<int> hot = {3, 17, 40, 41, 90, 127};
  BimodalLoad() {
    int left = 64 * 8;
    for (int e = 0; e < 128; ++e) {
      if (std::find(hot.begin(), hot.end(), e) != hot.end()) continue;
      counts[e] = e % 3 == 0 ? 2 : 1;
      left -= counts[e];
    }
    for (size_t i = 0; i < hot.size(); ++i)
      counts[hot[i]] = left / 6 + (static_cast<int>(i) < left % 6 ? 1 : 0);
    resident[17] = resident[90] = 1;
    for (int e = 5; e < 128; e += 16)
      resident[e] = 1;
  }
};

TEST(PlacementPlanner, SieveSendsTheHotHeadToTheDeviceAndKeepsTheColdTailOnTheHost) {
  const BimodalLoad load;
  LayerPlan sieve, host, static_hot;
  make_planner(PlacementPolicy::kSieve, 128).plan(load.counts, load.resident, sieve);
  make_planner(PlacementPolicy::kHost, 128).plan(load.counts, load.resident, host);
  make_planner(PlacementPolicy::kStaticHot, 128).plan(load.counts, load.resident, static_hot);

  for (int e : load.hot) {
    EXPECT_TRUE(sieve.tier[e] == ExpertTier::kDevice || sieve.tier[e] == ExpertTier::kUpload)
        << "hot expert " << e;
  }
  // Uploads go to the hottest: no expert left on the host is hotter than one uploaded.
  int32_t coldest_upload = 1 << 30, hottest_host = 0, cold_on_host = 0, cold = 0;
  for (int e = 0; e < 128; ++e) {
    if (sieve.tier[e] == ExpertTier::kUpload)
      coldest_upload = std::min(coldest_upload, load.counts[e]);
    if (sieve.tier[e] == ExpertTier::kHost) hottest_host = std::max(hottest_host, load.counts[e]);
    if (load.counts[e] > 0 && load.counts[e] <= 2 && !load.resident[e]) {
      ++cold;
      cold_on_host += sieve.tier[e] == ExpertTier::kHost;
    }
  }
  EXPECT_LE(hottest_host, coldest_upload);
  // Most of the cold tail stays on the host: an upload of a one-token expert costs more link
  // time than the host takes to run it.
  EXPECT_GT(cold_on_host, cold / 2) << cold_on_host << " of " << cold;

  const auto gap = [](const LayerPlan& p) { return std::abs(p.device_s - p.host_s); };
  EXPECT_LT(gap(sieve), gap(host));
  EXPECT_LT(gap(sieve), gap(static_hot));
  EXPECT_LT(sieve.predicted_s, host.predicted_s);
  EXPECT_LT(sieve.predicted_s, static_hot.predicted_s);
}

TEST(PlacementPlanner, SieveNeverDoesWorseThanItsStartingPoint) {
  // Sieve starts from static-hot's assignment and moves only when the layer gets shorter.
  std::mt19937_64 rng(11);
  for (int trial = 0; trial < 200; ++trial) {
    const std::vector<int32_t> counts = draw_counts(rng, 128, 8, 1 << (trial % 9), 1.0);
    const std::vector<uint8_t> resident = draw_resident(rng, 128, 0.05 * (trial % 11));
    LayerPlan sieve, static_hot;
    make_planner(PlacementPolicy::kSieve, 128).plan(counts, resident, sieve);
    make_planner(PlacementPolicy::kStaticHot, 128).plan(counts, resident, static_hot);
    EXPECT_LE(sieve.predicted_s, static_hot.predicted_s * (1 + 1e-12)) << trial;
  }
}

TEST(PlacementPlanner, SameInputsSamePlan) {
  std::mt19937_64 rng(5);
  const std::vector<int32_t> counts = draw_counts(rng, 128, 8, 64, 1.0);
  const std::vector<uint8_t> resident = draw_resident(rng, 128, 0.2);
  PlacementPlanner a = make_planner(PlacementPolicy::kSieve, 128);
  PlacementPlanner b = make_planner(PlacementPolicy::kSieve, 128);
  LayerPlan pa, pb, pa2;
  a.plan(counts, resident, pa);
  b.plan(counts, resident, pb);
  a.plan(counts, resident, pa2);  // reusing the planner's scratch changes nothing
  EXPECT_EQ(pa.tier, pb.tier);
  EXPECT_EQ(pa.tier, pa2.tier);
  EXPECT_EQ(pa.predicted_s, pb.predicted_s);
  EXPECT_EQ(pa.predicted_s, pa2.predicted_s);
  EXPECT_EQ(pa.upload_bytes, pb.upload_bytes);
}

TEST(PlacementPlanner, PolicyNamesRoundTrip) {
  for (PlacementPolicy p : kPolicies)
    EXPECT_EQ(*parse_placement_policy(placement_policy_name(p)), p);
  auto bad = parse_placement_policy("gpu");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("static-hot"), std::string::npos);
}

// --- residency

// A random walk of observe / admit / next_swaps / set_resident; after every operation the
// residency stays within its slots, and each swap does what it says.
std::vector<int64_t> run_residency_walk(uint64_t seed, int64_t layers, int64_t experts,
                                        int64_t slots, double decay) {
  std::mt19937_64 rng(seed);
  ResidencyTracker tracker(layers, experts, slots, decay);
  std::vector<int64_t> history;
  auto resident_at = [&](int64_t l, int64_t e) { return tracker.resident(l)[e] != 0; };
  for (int op = 0; op < 400; ++op) {
    const int64_t l = static_cast<int64_t>(rng() % layers);
    switch (rng() % 4) {
      case 0:
      case 1:
        tracker.observe(l, draw_counts(rng, experts, 2, 1 + rng() % 16, 1.0));
        break;
      case 2: {
        const int64_t e = static_cast<int64_t>(rng() % experts);
        tracker.admit(l, e);
        if (slots > 0) {
          EXPECT_TRUE(resident_at(l, e));
        }
        break;
      }
      case 3: {
        const int64_t max_swaps = static_cast<int64_t>(rng() % 5);
        const int64_t before = tracker.num_resident();
        const auto swaps = tracker.next_swaps(max_swaps);
        EXPECT_LE(static_cast<int64_t>(swaps.size()), max_swaps);
        int64_t delta = 0;
        for (const auto& s : swaps) {
          EXPECT_TRUE(s.evict >= 0 || s.admit >= 0);
          if (s.evict >= 0) {
            EXPECT_FALSE(resident_at(s.moe_layer, s.evict));
            --delta;
          }
          if (s.admit >= 0) {
            EXPECT_TRUE(resident_at(s.moe_layer, s.admit));
            ++delta;
          }
        }
        EXPECT_EQ(tracker.num_resident(), before + delta);
        break;
      }
    }
    EXPECT_LE(tracker.num_resident(), std::min(slots, layers * experts)) << "op " << op;
    for (int64_t ll = 0; ll < layers; ++ll)
      for (int64_t e = 0; e < experts; ++e)
        history.push_back(resident_at(ll, e));
  }
  return history;
}

TEST(ResidencyTracker, NeverExceedsItsSlots) {
  for (int64_t slots : {0, 1, 3, 10, 24, 100}) {
    for (double decay : {0.0, 0.5, 0.9, 1.0}) {
      SCOPED_TRACE(::testing::Message() << "slots " << slots << " decay " << decay);
      run_residency_walk(static_cast<uint64_t>(slots * 10 + decay * 10), 3, 8, slots, decay);
    }
  }
}

TEST(ResidencyTracker, DeterministicForASeed) {
  EXPECT_EQ(run_residency_walk(42, 4, 16, 12, 0.8), run_residency_walk(42, 4, 16, 12, 0.8));
}

TEST(ResidencyTracker, SwapsBringTheMostFrequentInAndNeverSwapEqualsForEquals) {
  ResidencyTracker tracker(2, 4, 3, 1.0);
  tracker.observe(0, std::vector<int32_t>{5, 0, 1, 0});
  tracker.observe(1, std::vector<int32_t>{0, 9, 0, 2});
  auto swaps = tracker.next_swaps(10);
  EXPECT_EQ(swaps.size(), 3u);  // three free slots: (1, 1), (0, 0), (1, 3)
  EXPECT_TRUE(tracker.resident(1)[1] && tracker.resident(0)[0] && tracker.resident(1)[3]);
  EXPECT_FALSE(tracker.resident(0)[2]);
  EXPECT_TRUE(tracker.next_swaps(10).empty());  // already the most frequent
  // (0, 2) catches up with (1, 3) but does not overtake it: nothing to gain from a copy.
  tracker.observe(0, std::vector<int32_t>{0, 0, 1, 0});
  EXPECT_TRUE(tracker.next_swaps(10).empty());
  // Now it overtakes: one swap, evicting (1, 3) in another layer (its own entry) for (0, 2).
  tracker.observe(0, std::vector<int32_t>{0, 0, 1, 0});
  swaps = tracker.next_swaps(10);
  ASSERT_EQ(swaps.size(), 2u);
  EXPECT_EQ(swaps[0].moe_layer, 1);
  EXPECT_EQ(swaps[0].evict, 3);
  EXPECT_EQ(swaps[0].admit, -1);
  EXPECT_EQ(swaps[1].moe_layer, 0);
  EXPECT_EQ(swaps[1].admit, 2);
  EXPECT_EQ(tracker.num_resident(), 3);
}

TEST(ResidencyTracker, AdmitEvictsTheLeastFrequent) {
  ResidencyTracker tracker(1, 4, 2, 0.5);
  tracker.observe(0, std::vector<int32_t>{4, 1, 3, 0});
  tracker.admit(0, 0);
  tracker.admit(0, 1);
  tracker.admit(0, 2);  // full: (0, 1), the least frequent, goes
  EXPECT_TRUE(tracker.resident(0)[0]);
  EXPECT_FALSE(tracker.resident(0)[1]);
  EXPECT_TRUE(tracker.resident(0)[2]);
  EXPECT_EQ(tracker.num_resident(), 2);
}

TEST(ResidencyTracker, SetResidentReplacesTheResidency) {
  ResidencyTracker tracker(2, 3, 4, 0.9);
  tracker.admit(0, 0);
  const std::vector<std::vector<uint8_t>> set = {{0, 1, 1}, {1, 0, 0}};
  tracker.set_resident(set);
  EXPECT_FALSE(tracker.resident(0)[0]);
  EXPECT_TRUE(tracker.resident(0)[1] && tracker.resident(0)[2] && tracker.resident(1)[0]);
  EXPECT_EQ(tracker.num_resident(), 3);
}

}  // namespace
}  // namespace sieve
