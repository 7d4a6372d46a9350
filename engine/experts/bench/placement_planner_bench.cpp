// The placement planner's cost per MoE layer: one 128-expert layer of Qwen3-30B-A3B's shape
// (hidden 2048, routed intermediate 768, bf16), top-8, at batch 1, 32 and 256 — the loads a
// decode step of one sequence, a decode batch and a prefill chunk put on a layer. Planning runs
// on the host before every MoE layer of every step, so it must cost well under 20 us; each row
// prints its time next to that budget as a ratio (of_20us: time / 20 us, lower is better).
//
// Loads are drawn once per row from a Zipf(1.2) popularity over the experts (the bimodal
// per-step loads of real routers: a few hot experts, a long tail of ones and twos), and a
// quarter of the experts are resident. 64 different loads cycle through the timed loop so the
// branch predictor cannot learn one.
//
//   build/release/engine/experts/bench/sieve-placement-bench
#include <benchmark/benchmark.h>

#include <chrono>
#include <cmath>
#include <random>
#include <vector>

#include "engine/experts/placement_planner.h"

namespace sieve {
namespace {

constexpr int64_t kExperts = 128, kTopK = 8;
constexpr double kBudgetUs = 20.0;
constexpr int kLoads = 64;

std::vector<int32_t> zipf_load(std::mt19937_64& rng, int64_t tokens) {
  std::vector<double> w(kExperts);
  std::vector<int64_t> rank(kExperts);
  for (int64_t e = 0; e < kExperts; ++e)
    rank[e] = e;
  std::shuffle(rank.begin(), rank.end(), rng);
  for (int64_t e = 0; e < kExperts; ++e)
    w[rank[e]] = 1.0 / std::pow(static_cast<double>(e + 1), 1.2);
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
  return counts;
}

// A host of a few TFLOP/s beside the H100 datasheet device: the planner's work does not depend
// on the figures, only its choices do.
PlacementCostModel bench_cost() {
  PlacementCostModel host;
  host.host = TierRates{.flops_per_s = 2e12, .weight_bytes_per_s = 150e9, .per_expert_s = 5e-6};
  host.host_source = "benchmark";
  return h100_sxm_device(host);
}

void BM_PlanLayer(benchmark::State& state) {
  const auto policy = static_cast<PlacementPolicy>(state.range(0));
  const int64_t tokens = state.range(1);
  std::mt19937_64 rng(static_cast<uint64_t>(tokens));
  std::vector<std::vector<int32_t>> loads;
  std::vector<std::vector<uint8_t>> residency;
  std::bernoulli_distribution quarter(0.25);
  for (int i = 0; i < kLoads; ++i) {
    loads.push_back(zipf_load(rng, tokens));
    std::vector<uint8_t> r(kExperts);
    for (auto& x : r)
      x = policy == PlacementPolicy::kDevice || quarter(rng);
    residency.push_back(r);
  }
  PlannerOptions o;
  o.policy = policy;
  o.shape = ExpertShape{.hidden = 2048, .intermediate = 768, .weight_dtype = DType::kBF16};
  o.cost = bench_cost();
  o.num_experts = kExperts;
  PlacementPlanner planner(o);
  LayerPlan plan;
  planner.plan(loads[0], residency[0], plan);  // the first call of a size allocates
  int i = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (auto _ : state) {
    planner.plan(loads[i], residency[i], plan);
    benchmark::DoNotOptimize(plan.predicted_s);
    i = (i + 1) % kLoads;
  }
  const double us =
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count() /
      static_cast<double>(state.iterations());
  state.counters["us"] = us;
  state.counters["budget_us"] = kBudgetUs;
  state.counters["of_20us"] = us / kBudgetUs;
  state.SetLabel(std::string(placement_policy_name(policy)) + ", batch " + std::to_string(tokens));
}

void planner_rows(benchmark::internal::Benchmark* b) {
  for (PlacementPolicy p : {PlacementPolicy::kSieve, PlacementPolicy::kStaticHot})
    for (int64_t batch : {1, 32, 256})
      b->Args({static_cast<int64_t>(p), batch});
}
BENCHMARK(BM_PlanLayer)->Apply(planner_rows)->ArgNames({"policy", "batch"});

// Once per step, not per layer: the background swaps of a 48-layer model's residency (6,144
// experts, a quarter of them in slots), after one step's loads were observed.
void BM_ResidencySwaps(benchmark::State& state) {
  constexpr int64_t kLayers = 48;
  std::mt19937_64 rng(1);
  ResidencyTracker tracker(kLayers, kExperts, kLayers * kExperts / 4, 0.9);
  std::vector<std::vector<int32_t>> loads;
  for (int i = 0; i < kLayers; ++i)
    loads.push_back(zipf_load(rng, 32));
  int64_t step = 0;
  for (auto _ : state) {
    for (int64_t l = 0; l < kLayers; ++l)
      tracker.observe(l, loads[(l + step) % kLayers]);
    benchmark::DoNotOptimize(tracker.next_swaps(8));
    ++step;
  }
}
BENCHMARK(BM_ResidencySwaps)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace sieve

BENCHMARK_MAIN();
