// The hybrid MoE executor on every family of the registry, for every placement policy and for
// device budgets from none to every expert: the model's logits and greedy tokens must be the
// single-executor model's. On the CPU (models_golden_tests) the device tier is the stand-in — a
// second CPU backend with its own copies of the resident experts — and the logits must be
// identical bit for bit, with residency changing mid-sequence (uploads the planner chose,
// evictions, background swaps installed between steps). Built with SIEVE_TEST_CUDA
// (models_hybrid_gpu_tests, label gpu) the device tier is the CUDA backend, whose kernels (and
// the host tier's) sum in other orders than the single-executor model's, and the logits must
// agree within the CUDA backend's batch-variation bound (model_test_util.h).
#include <gtest/gtest.h>

#include "engine/experts/hybrid/hybrid_moe_executor.h"
#include "engine/experts/hybrid/static_hot_profile.h"
#include "models/tests/model_test_util.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {
namespace {

const float kTolerance = batch_variation_bound(DType::kF32);

// Constants that make the sieve planner use every tier on the fixtures' tiny experts: a device
// several times faster than the host, and a link cheap enough that uploading a hot expert pays
// while the host is the slower side, and moving a cold resident one to the host pays while the
// device is.
PlacementCostModel mixed_cost_model() {
  PlacementCostModel c;
  c.device = {1e12, 1e11, 1e-6};
  c.host = {1e10, 1e10, 5e-6};
  c.h2d_bytes_per_s = 1e10;
  c.d2h_bytes_per_s = 1e10;
  c.transfer_s = 1e-6;
  c.device_source = c.host_source = c.link_source = "test constants";
  return c;
}

struct Budget {
  PlacementPolicy policy;
  double share;  // of all the model's experts the device budget holds
};

void PrintTo(const Budget& b, std::ostream* os) {
  *os << placement_policy_name(b.policy) << " with " << b.share << " of the experts' bytes";
}

std::string budget_name(const Budget& b) {
  std::string n(placement_policy_name(b.policy));
  for (char& ch : n)
    if (ch == '-') ch = '_';
  return n + "_" + std::to_string(static_cast<int>(b.share * 100)) + "pct";
}

// A routing profile for static-hot: expert e of every MoE layer got E - e tokens.
RoutingTrace skewed_profile(const ModelConfig& c) {
  RoutingTrace t;
  t.header.num_experts = c.num_experts;
  t.header.top_k = c.top_k;
  t.header.num_layers = c.num_layers;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    if (c.layer_is_moe[l]) t.header.moe_layers.push_back(l);
  }
  RoutingStep s;
  for (size_t l = 0; l < t.header.moe_layers.size(); ++l) {
    std::vector<int32_t> counts(c.num_experts);
    for (int64_t e = 0; e < c.num_experts; ++e)
      counts[e] = static_cast<int32_t>(c.num_experts - e);
    s.counts.push_back(counts);
  }
  t.steps.push_back(s);
  return t;
}

struct HybridModel {
  std::unique_ptr<Backend> device;
  std::unique_ptr<CpuBackend> host;
  std::unique_ptr<Model> model;
  HybridMoeExecutor* executor = nullptr;  // owned by the model
  int64_t slots = 0;
};

HybridModel load_hybrid(const ModelDir& dir, const Budget& b, DType dtype) {
  HybridModel h;
  h.device = make_test_backend(1);
  h.host = std::make_unique<CpuBackend>(1);
  const ModelConfig& c = dir.config;
  HybridMoeOptions o = hybrid_options_for(c, dtype);
  o.policy = b.policy;
  o.cost = mixed_cost_model();
  const int64_t all = c.num_moe_layers() * c.num_experts;
  h.slots = static_cast<int64_t>(b.share * static_cast<double>(all));
  o.device_slots = h.slots;
  if (b.policy == PlacementPolicy::kStaticHot) {
    auto r = static_hot_residency(skewed_profile(c), c.num_experts,
                                  skewed_profile(c).header.moe_layers, h.slots);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (r.ok()) o.fixed_resident = std::move(r).value();
  }
  auto exec = HybridMoeExecutor::create(*h.device, *h.host, std::move(o));
  EXPECT_TRUE(exec.ok()) << exec.status().to_string();
  if (!exec.ok()) return h;
  h.executor = exec->get();
  auto model = load_model(dir, *h.device, dtype, std::move(exec).value());
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  if (model.ok()) h.model = std::move(model).value();
  return h;
}

struct Totals {
  int64_t device = 0, upload = 0, host = 0, uploads = 0, swaps_in = 0, evictions = 0;
};

Totals totals(const HybridMoeStats& s) {
  Totals t;
  for (const HybridMoeStats::Layer& l : s.layers) {
    t.device += l.device_rows;
    t.upload += l.upload_rows;
    t.host += l.host_rows;
    t.uploads += l.upload_experts;
    t.swaps_in += l.swaps_in;
    t.evictions += l.evictions;
  }
  return t;
}

class HybridTest : public ::testing::TestWithParam<std::tuple<std::string, Budget>> {};

TEST_P(HybridTest, LogitsEqualTheSingleExecutorModel) {
  const auto& [family, budget] = GetParam();
  LoadedModel plain = load_fixture_model("models/" + family, DType::kF32, 2);
  ASSERT_TRUE(plain.model);
  HybridModel hybrid = load_hybrid(plain.dir, budget, DType::kF32);
  ASSERT_TRUE(hybrid.model);
  const nlohmann::json golden = read_json(fixture_path("models/" + family + "/golden.json"));
  const auto prompts = golden["prompts"].get<std::vector<std::vector<int32_t>>>();

  // Every prompt prefilled in one step (every position's logits), then decode steps.
  std::vector<std::vector<SeqChunk>> steps(1);
  for (size_t i = 0; i < prompts.size(); ++i)
    steps[0].push_back({prompts[i], 0, static_cast<int64_t>(8 * i), true});
  for (int s = 0; s < 8; ++s) {
    std::vector<SeqChunk> decode;
    for (size_t i = 0; i < prompts.size(); ++i) {
      decode.push_back({{static_cast<int32_t>(100 + 7 * s + static_cast<int>(i))},
                        static_cast<int64_t>(prompts[i].size()) + s,
                        static_cast<int64_t>(8 * i)});
    }
    steps.push_back(decode);
  }
  KvCache kv_plain(*plain.backend, plain.model->kv_layout(), 16, 8 * prompts.size());
  KvCache kv_hybrid(*hybrid.device, hybrid.model->kv_layout(), 16, 8 * prompts.size());
  int64_t rows = 0;
  for (size_t s = 0; s < steps.size(); ++s) {
    for (const SeqChunk& c : steps[s])
      rows += static_cast<int64_t>(c.tokens.size());
    const auto want = run_step(*plain.model, kv_plain, steps[s]);
    const auto got = run_step(*hybrid.model, kv_hybrid, steps[s]);
    ASSERT_EQ(got.size(), want.size());
    for (size_t r = 0; r < want.size(); ++r) {
      if (kTolerance == 0) {
        ASSERT_EQ(got[r], want[r]) << "step " << s << " row " << r;
      } else {
        ASSERT_LE(max_abs_diff(got[r], want[r]), kTolerance) << "step " << s << " row " << r;
      }
    }
    // The budget holds; every other step the background swaps land before the next one, so
    // residency changes between the steps of the sequence.
    EXPECT_LE(hybrid.executor->num_resident(), hybrid.slots) << "step " << s;
    if (s % 2 == 1) hybrid.executor->finish_swaps();
  }

  // Each policy used the tiers it should, and every row ran exactly once.
  const HybridMoeStats& st = hybrid.executor->stats();
  const Totals t = totals(st);
  const ModelConfig& c = plain.dir.config;
  const int64_t moe_rows = rows * c.top_k * c.num_moe_layers();
  const int64_t all = c.num_experts * c.num_moe_layers();
  EXPECT_EQ(t.device + t.upload + t.host, moe_rows);
  EXPECT_EQ(st.steps, static_cast<int64_t>(steps.size()));
  switch (budget.policy) {
    case PlacementPolicy::kHost:
      EXPECT_EQ(t.host, moe_rows);
      break;
    case PlacementPolicy::kDevice:
      EXPECT_EQ(t.device, moe_rows);
      break;
    case PlacementPolicy::kStaticHot:
      EXPECT_EQ(t.uploads, 0);
      EXPECT_EQ(t.swaps_in + t.evictions, 0);
      if (hybrid.slots > 0) {
        EXPECT_GT(t.device, 0);
      }
      if (hybrid.slots < all) {
        EXPECT_GT(t.host, 0);
      } else {
        EXPECT_EQ(t.device, moe_rows);
      }
      break;
    case PlacementPolicy::kSieve:
      if (hybrid.slots == 0) {
        EXPECT_EQ(t.host, moe_rows);
      } else {
        // Residency changed mid-sequence: experts were uploaded and then ran resident; with
        // fewer slots than experts, others left again or came in the background.
        EXPECT_GT(t.uploads, 0);
        EXPECT_GT(t.device, 0);
        EXPECT_GT(t.host, 0);
        if (hybrid.slots < all) {
          EXPECT_GT(t.swaps_in + t.evictions, 0);
        }
      }
      break;
  }
  for (const HybridMoeStats::Layer& l : st.layers) {
    if (!l.is_moe()) continue;
    EXPECT_GT(l.planner_seconds, 0);
    EXPECT_GT(l.actual_seconds, 0);
    EXPECT_GT(l.predicted_seconds, 0);
  }
}

TEST_P(HybridTest, GreedyTokensAreTheGoldens) {
  const auto& [family, budget] = GetParam();
  auto dir = open_model_dir(fixture_path("models/" + family));
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  HybridModel hybrid = load_hybrid(*dir, budget, DType::kF32);
  ASSERT_TRUE(hybrid.model);
  const nlohmann::json golden = read_json(fixture_path("models/" + family + "/golden.json"));
  const auto prompts = golden["prompts"].get<std::vector<std::vector<int32_t>>>();
  EngineOptions o;
  o.num_kv_blocks = 64;
  Engine engine(*hybrid.model, *hybrid.device, o);
  const auto out = greedy_on(engine, prompts);
  for (size_t i = 0; i < prompts.size(); ++i) {
    EXPECT_EQ(out[i], golden["greedy"][i]["new_tokens"].get<std::vector<int32_t>>())
        << "prompt " << i;
  }
}

std::vector<Budget> budgets() {
  return {{PlacementPolicy::kSieve, 0.0},     {PlacementPolicy::kSieve, 0.25},
          {PlacementPolicy::kSieve, 0.5},     {PlacementPolicy::kSieve, 1.0},
          {PlacementPolicy::kHost, 0.0},      {PlacementPolicy::kStaticHot, 0.25},
          {PlacementPolicy::kStaticHot, 1.0}, {PlacementPolicy::kDevice, 1.0}};
}

INSTANTIATE_TEST_SUITE_P(Fixtures, HybridTest,
                         ::testing::Combine(::testing::ValuesIn(supported_model_types()),
                                            ::testing::ValuesIn(budgets())),
                         [](const auto& info) {
                           return std::get<0>(info.param) + "_" +
                                  budget_name(std::get<1>(info.param));
                         });

// Weights held as bf16, and weights made from --load-format dummy fills (uploads and background
// copies then fill on the host what the backends fill): still the single-executor model.
// Six steps (an 8-token prompt, then one token at a time) through `plain` and `hybrid`, every
// logits row of the hybrid within `tolerance` of the plain model's; the hybrid's background
// swaps land between steps.
void expect_follows(Model& plain, Backend& plain_backend, HybridModel& hybrid, float tolerance) {
  KvCache kv_plain(plain_backend, plain.kv_layout(), 16, 8);
  KvCache kv_hybrid(*hybrid.device, hybrid.model->kv_layout(), 16, 8);
  const std::vector<int32_t> prompt = {1, 5, 9, 13, 17, 21, 25, 29};
  for (int s = 0; s < 6; ++s) {
    const std::vector<SeqChunk> step = {
        {s == 0 ? prompt : std::vector<int32_t>{40 + s}, s == 0 ? 0 : 7 + s, 0, true}};
    const auto want = run_step(plain, kv_plain, step);
    const auto got = run_step(*hybrid.model, kv_hybrid, step);
    ASSERT_EQ(got.size(), want.size());
    for (size_t r = 0; r < want.size(); ++r)
      EXPECT_LE(max_abs_diff(got[r], want[r]), tolerance) << "step " << s << " row " << r;
    hybrid.executor->finish_swaps();
  }
}

TEST(HybridTest, Bf16AndDummyWeightsEqualTheSingleExecutorModel) {
  for (const std::string& family : supported_model_types()) {
    for (const bool dummy : {false, true}) {
      SCOPED_TRACE(family + (dummy ? " dummy" : " bf16"));
      auto dir = open_model_dir(fixture_path("models/" + family),
                                dummy ? LoadFormat::kDummy : LoadFormat::kSafetensors);
      ASSERT_TRUE(dir.ok()) << dir.status().to_string();
      const DType dtype = dummy ? DType::kF32 : DType::kBF16;
      auto plain_backend = make_test_backend(2);
      auto plain = load_model(*dir, *plain_backend, dtype);
      ASSERT_TRUE(plain.ok()) << plain.status().to_string();
      HybridModel hybrid = load_hybrid(*dir, {PlacementPolicy::kSieve, 0.25}, dtype);
      ASSERT_TRUE(hybrid.model);
      // bf16: the host tier's products (the CPU's BF16 dot products) and the device's round the
      // activations at the same points, so they differ as two batch compositions do.
      expect_follows(**plain, *plain_backend, hybrid, batch_variation_bound(dtype));
    }
  }
}

// Quantized checkpoints (fp8, mxfp4): the host tier reads the mapped experts through
// ExpertSource::read and the device tier makes them, both dequantizing the same bytes, so the
// hybrid model is still the single-executor model on the same checkpoint.
TEST(HybridTest, QuantizedCheckpointsEqualTheSingleExecutorModel) {
  for (const std::string& family : supported_model_types()) {
    for (const QuantMethod method : {QuantMethod::kFp8, QuantMethod::kMxfp4}) {
      SCOPED_TRACE(family + " " + quant_method_name(method));
      const std::string copy =
          write_quantized_copy(fixture_path("models/" + family), "hybrid-quant", method);
      auto dir = open_model_dir(copy);
      ASSERT_TRUE(dir.ok()) << dir.status().to_string();
      auto plain_backend = make_test_backend(2);
      auto plain = load_model(*dir, *plain_backend, DType::kF32);
      ASSERT_TRUE(plain.ok()) << plain.status().to_string();
      HybridModel hybrid = load_hybrid(*dir, {PlacementPolicy::kSieve, 0.25}, DType::kF32);
      ASSERT_TRUE(hybrid.model);
      expect_follows(**plain, *plain_backend, hybrid, kTolerance);
      const Totals t = totals(hybrid.executor->stats());
      EXPECT_GT(t.host, 0);
      EXPECT_GT(t.device + t.upload, 0);
    }
  }
}

}  // namespace
}  // namespace sieve::testing
