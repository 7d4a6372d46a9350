// The hybrid MoE executor's parts without a model: the two tiers' copies (uploads, evictions,
// background copies installed only when still wanted, a failed copy), static-hot's resident set
// from a profile, the options that cannot work, and the executor itself on random layers
// against the CPU backend's own MoE op — bit for bit, for every policy, with the budget never
// exceeded while residency follows a shifting load.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "engine/backends/cpu_backend.h"
#include "engine/experts/hybrid/hybrid_moe_executor.h"
#include "engine/experts/hybrid/serial_worker.h"
#include "engine/experts/hybrid/static_hot_profile.h"
#include "engine/experts/hybrid/tiered_experts.h"

namespace sieve {
namespace {

constexpr int64_t kHidden = 16, kInter = 8;

// Experts whose weights are a formula of (expert, element); reading `broken` into host memory
// (a background copy) fails, making it on a backend does not.
class FormulaSource final : public ExpertSource {
 public:
  FormulaSource(int64_t experts, int64_t broken = -1) : experts_(experts), broken_(broken) {}
  int64_t num_experts() const override { return experts_; }
  int64_t hidden() const override { return kHidden; }
  int64_t intermediate() const override { return kInter; }
  DType weight_dtype() const override { return DType::kF32; }
  MatrixFormat matrix_format() const override { return DType::kF32; }
  Result<ExpertMatrices> make(Backend& be, int64_t expert) const override {
    ExpertHostWeights w;
    host_copy(expert, w);
    return ExpertMatrices{
        be.make_matrix(w.gate_up.data(), DType::kF32, 2 * kInter, kHidden, DType::kF32),
        be.make_matrix(w.down.data(), DType::kF32, kHidden, kInter, DType::kF32)};
  }
  Status read(int64_t expert, ExpertHostWeights& out) const override {
    if (expert == broken_) return data_loss("expert " + std::to_string(expert) + " is unreadable");
    host_copy(expert, out);
    return Status::Ok();
  }

 private:
  static void host_copy(int64_t expert, ExpertHostWeights& out) {
    out.gate_up.resize(2 * kInter * kHidden * sizeof(float));
    out.down.resize(kHidden * kInter * sizeof(float));
    fill(expert, 0, reinterpret_cast<float*>(out.gate_up.data()), 2 * kInter * kHidden);
    fill(expert, 1, reinterpret_cast<float*>(out.down.data()), kHidden * kInter);
  }
  static void fill(int64_t expert, int part, float* dst, int64_t n) {
    for (int64_t i = 0; i < n; ++i)
      dst[i] = 0.3f * std::sin(0.37f * static_cast<float>(i) + 1.7f * static_cast<float>(expert) +
                               0.5f * static_cast<float>(part));
  }
  int64_t experts_, broken_;
};

TEST(SerialWorker, RunsJobsInOrderAndWaits) {
  SerialWorker w;
  std::vector<int> seen;
  for (int i = 0; i < 50; ++i)
    w.post([&seen, i] { seen.push_back(i); });
  w.wait_idle();
  ASSERT_EQ(seen.size(), 50u);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(seen[i], i);
  EXPECT_EQ(w.pending(), 0);
}

TEST(TieredExperts, HostCopiesOfAllDeviceCopiesCompact) {
  CpuBackend device(1), host(1);
  TieredExperts t(device, host, 2, 6);
  ASSERT_TRUE(t.adopt(1, std::make_shared<FormulaSource>(6)).ok());
  EXPECT_FALSE(t.adopted(0));
  EXPECT_EQ(t.host(1).gate_up.size(), 6u);
  EXPECT_EQ(t.adopt(0, std::make_shared<FormulaSource>(5)).message(),
            "layer 0 has 5 experts, expected 6");
  ASSERT_TRUE(t.upload(1, 4).ok());
  ASSERT_TRUE(t.upload(1, 2).ok());
  EXPECT_EQ(t.num_on_device(), 2);
  // Compact, in expert order.
  EXPECT_EQ(t.local_index(1, 2), 0);
  EXPECT_EQ(t.local_index(1, 4), 1);
  EXPECT_EQ(t.local_index(1, 3), -1);
  const ExpertWeights* same = &t.device(1);
  t.drop(1, 2);
  EXPECT_EQ(t.local_index(1, 4), 0);
  EXPECT_EQ(&t.device(1), same);  // the object stays, its entries change
  EXPECT_EQ(t.device(1).gate_up.size(), 1u);
  EXPECT_EQ(t.num_on_device(), 1);
}

TEST(TieredExperts, BackgroundCopiesLandOnlyWhereStillWanted) {
  CpuBackend device(1), host(1);
  TieredExperts t(device, host, 1, 6);
  ASSERT_TRUE(t.adopt(0, std::make_shared<FormulaSource>(6, /*broken=*/5)).ok());
  for (int64_t e : {1, 3, 5})
    t.start_copy(0, e);
  EXPECT_TRUE(t.copying(0, 3));
  EXPECT_EQ(t.copies_in_flight(), 3);
  t.wait_for_copies();
  EXPECT_FALSE(t.on_device(0, 1));  // nothing changes until installed
  const auto landed = t.install_landed([](int64_t, int64_t e) { return e != 3; });
  ASSERT_EQ(landed.size(), 3u);
  EXPECT_TRUE(landed[0].installed);
  EXPECT_FALSE(landed[1].installed);  // no longer wanted: freed
  EXPECT_FALSE(landed[2].status.ok());
  EXPECT_NE(landed[2].status.message().find("unreadable"), std::string::npos);
  EXPECT_TRUE(t.on_device(0, 1));
  EXPECT_FALSE(t.on_device(0, 3));
  EXPECT_FALSE(t.on_device(0, 5));
  EXPECT_EQ(t.copies_in_flight(), 0);
  EXPECT_FALSE(t.copying(0, 1));
}

RoutingTrace profile(std::vector<std::vector<int32_t>> counts, std::vector<int64_t> layers) {
  RoutingTrace t;
  t.header.num_experts = static_cast<int64_t>(counts[0].size());
  t.header.moe_layers = std::move(layers);
  RoutingStep s;
  s.counts = std::move(counts);
  t.steps.push_back(s);
  t.steps.push_back(s);
  return t;
}

TEST(StaticHotProfile, TheBusiestExpertsOfAllLayersFillTheBudget) {
  const RoutingTrace t = profile({{5, 0, 9, 1}, {9, 2, 0, 7}}, {1, 3});
  auto r = static_hot_residency(t, 4, {1, 3}, 3);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  // Totals (two steps): layer 0: 10 0 18 2; layer 1: 18 4 0 14. Ties go to the lower layer.
  EXPECT_EQ(*r, (std::vector<std::vector<uint8_t>>{{0, 0, 1, 0}, {1, 0, 0, 1}}));
  // More slots than routed experts: the never-routed ones stay off the device.
  r = static_hot_residency(t, 4, {1, 3}, 8);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<std::vector<uint8_t>>{{1, 0, 1, 1}, {1, 1, 0, 1}}));
  EXPECT_NE(static_hot_residency(t, 8, {1, 3}, 3).status().message().find("4 experts per layer"),
            std::string::npos);
  EXPECT_NE(static_hot_residency(t, 4, {0, 1}, 3).status().message().find("MoE layers are [1, 3]"),
            std::string::npos);
}

HybridMoeOptions options(PlacementPolicy policy, int64_t slots) {
  HybridMoeOptions o;
  o.policy = policy;
  o.shape = {kHidden, kInter, DType::kF32};
  o.num_experts = 8;
  o.layer_is_moe = {false, true, true};
  o.device_slots = slots;
  o.cost.device = {1e12, 1e11, 1e-6};
  o.cost.host = {1e10, 1e10, 5e-6};
  o.cost.h2d_bytes_per_s = o.cost.d2h_bytes_per_s = 1e10;
  o.cost.transfer_s = 1e-6;
  return o;
}

TEST(HybridMoeExecutor, OptionsThatCannotWorkAreRefused) {
  CpuBackend device(1), host(1);
  auto no = [&](HybridMoeOptions o, const std::string& says) {
    auto e = HybridMoeExecutor::create(device, host, std::move(o));
    ASSERT_FALSE(e.ok());
    EXPECT_NE(e.status().message().find(says), std::string::npos) << e.status().message();
  };
  no(options(PlacementPolicy::kDevice, 15), "keeps every expert on the device");
  no(options(PlacementPolicy::kStaticHot, 4), "needs its resident set");
  HybridMoeOptions over = options(PlacementPolicy::kStaticHot, 2);
  over.fixed_resident = {std::vector<uint8_t>(8, 1), std::vector<uint8_t>(8, 0)};
  no(over, "over the --device-expert-memory budget of 2");
  HybridMoeOptions sieve = options(PlacementPolicy::kSieve, 2);
  sieve.fixed_resident = {std::vector<uint8_t>(8, 0), std::vector<uint8_t>(8, 0)};
  no(sieve, "static-hot's");
  HybridMoeOptions dense = options(PlacementPolicy::kSieve, 2);
  dense.layer_is_moe = {false, false};
  no(dense, "needs a model with MoE layers");
}

TEST(HybridMoeExecutor, DeviceMemoryBoundCoversTheBudgetAndCopiesInFlight) {
  CpuBackend device(1), host(1);
  const int64_t expert = 3 * kHidden * kInter * 4;
  auto sieve = HybridMoeExecutor::create(device, host, options(PlacementPolicy::kSieve, 5));
  ASSERT_TRUE(sieve.ok());
  EXPECT_EQ((*sieve)->max_device_bytes(), (5 + 4) * expert);
  auto hosted = HybridMoeExecutor::create(device, host, options(PlacementPolicy::kHost, 5));
  ASSERT_TRUE(hosted.ok());
  EXPECT_EQ((*hosted)->max_device_bytes(), 0);  // host keeps nothing on the device
  auto all = HybridMoeExecutor::create(device, host, options(PlacementPolicy::kDevice, 16));
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)->max_device_bytes(), 16 * expert);
}

// Random layers through the executor and through the CPU backend's own MoE op with every
// expert: the same bits. The hot experts move halfway, so the sieve policy's residency follows.
class HybridRunTest : public ::testing::TestWithParam<std::tuple<PlacementPolicy, int64_t>> {};

TEST_P(HybridRunTest, EqualsTheBackendsMoeOpBitForBit) {
  const auto [policy, slots] = GetParam();
  CpuBackend plain(2), device(1), host(1);
  HybridMoeOptions o = options(policy, slots);
  if (policy == PlacementPolicy::kStaticHot) {
    o.fixed_resident.assign(2, std::vector<uint8_t>(8, 0));
    for (int64_t i = 0; i < slots; ++i)
      o.fixed_resident[i % 2][i / 2] = 1;
  }
  auto created = HybridMoeExecutor::create(device, host, o);
  ASSERT_TRUE(created.ok()) << created.status().to_string();
  HybridMoeExecutor& exec = **created;
  const auto source = std::make_shared<FormulaSource>(8);
  for (int64_t layer : {1, 2})
    ASSERT_TRUE(exec.adopt_experts(layer, source).ok());
  ExpertWeights all;
  for (int64_t e = 0; e < 8; ++e) {
    auto m = source->make(plain, e);
    ASSERT_TRUE(m.ok());
    all.gate_up.push_back(m->gate_up);
    all.down.push_back(m->down);
  }

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> value(-1, 1);
  int64_t choices = 0;
  for (int step = 0; step < 40; ++step) {
    for (int64_t layer : {1, 2}) {
      const int64_t T = 1 + static_cast<int64_t>(rng() % 12), k = 3;
      Tensor x = Tensor::empty({T, kHidden}, DType::kF32);
      for (int64_t i = 0; i < x.numel(); ++i)
        x.data<float>()[i] = value(rng);
      // Three distinct experts per token, mostly from a hot pair that moves halfway.
      Tensor ids = Tensor::empty({T, k}, DType::kI32), w = Tensor::empty({T, k}, DType::kF32);
      const int32_t hot = step < 20 ? 0 : 5;
      for (int64_t t = 0; t < T; ++t) {
        std::vector<int32_t> picked;
        while (static_cast<int64_t>(picked.size()) < k) {
          const int32_t e = rng() % 4 != 0 ? (hot + static_cast<int32_t>(rng() % 2)) % 8
                                           : static_cast<int32_t>(rng() % 8);
          if (std::find(picked.begin(), picked.end(), e) == picked.end()) picked.push_back(e);
        }
        for (int64_t j = 0; j < k; ++j) {
          ids.data<int32_t>()[t * k + j] = picked[j];
          w.data<float>()[t * k + j] = value(rng);
        }
      }
      choices += T * k;
      Tensor want = Tensor::empty({T, kHidden}, DType::kF32);
      Tensor got = Tensor::empty({T, kHidden}, DType::kF32);
      MoeArgs a{&x, &ids, &w, &all, &want};
      plain.moe_experts(a);
      a.out = &got;
      exec.run(a, layer);
      for (int64_t i = 0; i < want.numel(); ++i)
        ASSERT_EQ(got.data<float>()[i], want.data<float>()[i]) << "step " << step << " " << i;
      ASSERT_LE(exec.num_resident(), slots);
    }
    if (step % 5 == 4) exec.finish_swaps();
  }
  const HybridMoeStats& st = exec.stats();
  int64_t rows = 0, device_rows = 0, host_rows = 0, changes = 0;
  for (const HybridMoeStats::Layer& l : st.layers) {
    rows += l.device_rows + l.upload_rows + l.host_rows;
    device_rows += l.device_rows + l.upload_rows;
    host_rows += l.host_rows;
    changes += l.upload_experts + l.swaps_in + l.evictions;
  }
  EXPECT_EQ(rows, choices);
  EXPECT_EQ(st.steps, 40);
  EXPECT_FALSE(st.layers[0].is_moe());
  if (policy == PlacementPolicy::kHost || slots == 0) {
    EXPECT_EQ(host_rows, choices);
  }
  if (policy == PlacementPolicy::kDevice) {
    EXPECT_EQ(device_rows, choices);
  }
  if (policy == PlacementPolicy::kSieve && slots > 0) {
    EXPECT_GT(changes, 0);
  }
  if (policy == PlacementPolicy::kStaticHot) {
    EXPECT_EQ(changes, 0);
  }
}

INSTANTIATE_TEST_SUITE_P(Policies, HybridRunTest,
                         ::testing::Values(std::tuple{PlacementPolicy::kSieve, int64_t{0}},
                                           std::tuple{PlacementPolicy::kSieve, int64_t{4}},
                                           std::tuple{PlacementPolicy::kSieve, int64_t{16}},
                                           std::tuple{PlacementPolicy::kHost, int64_t{0}},
                                           std::tuple{PlacementPolicy::kStaticHot, int64_t{4}},
                                           std::tuple{PlacementPolicy::kDevice, int64_t{16}}),
                         [](const auto& info) {
                           std::string n(placement_policy_name(std::get<0>(info.param)));
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n + "_" + std::to_string(std::get<1>(info.param)) + "_slots";
                         });

}  // namespace
}  // namespace sieve
