// Synthetic routing: how skewed a MoE layer's loads are, per-expert load shares from a Zipf law
// or from real routing statistics, and traces drawn from those shares — B tokens a step, each
// choosing top_k distinct experts in every MoE layer — so the placement planner can replay the
// bimodal loads of trained models next to traces recorded from real runs.
#pragma once

#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/status.h"
#include "engine/experts/routing_trace.h"

namespace sieve {

// The skew figures of one layer's per-expert counts, as the published routing statistics give
// them.
struct SkewStats {
  int64_t assignments = 0;   // (token, expert) choices: the sum of the counts
  double top8_share = 0;     // the 8 busiest experts' share of the choices (1 with ≤ 8 experts)
  double gini = 0;           // 0: every expert equally busy; → 1: one expert takes everything
  double max_over_mean = 0;  // the busiest expert's count over the mean count
};
SkewStats skew_stats(std::span<const int64_t> counts);

// Where the per-expert shares of a synthetic trace come from (`sieve bench trace --from`):
//   zipf:S            the expert of rank r takes a share ∝ r^-S of the choices (S > 0);
//   olmoe:L[:DOMAIN]  OLMoE-1B-7B's layer L (0, 7 or 15), 64 experts, top-8;
//   mixtral:L[:DOMAIN] Mixtral-8x7B's layer L (0, 7 or 15), 8 experts, top-2;
// the last two read from the routing statistics file (read_recorded_counts), on DOMAIN's text
// (arxiv, book, c4, github, wikipedia, and tulu for OLMoE) or, without one, every domain summed.
struct RoutingSource {
  std::string spec;    // as written
  double zipf_s = 0;   // > 0: a Zipf law
  std::string model;   // olmoe or mixtral: recorded counts
  int64_t layer = -1;  // the recorded layer
  std::string domain;  // "": every domain of the model summed

  bool is_zipf() const { return zipf_s > 0; }
};
Result<RoutingSource> parse_routing_source(std::string_view spec);

// r^-s for r = 1..n: the Zipf weight of the expert of rank r (rank 1 the busiest).
std::vector<double> zipf_weights(int64_t n, double s);

// One recorded layer: its per-expert counts (top_k choices per token) in expert order.
struct RecordedCounts {
  std::vector<int64_t> counts;
  int64_t top_k = 0;
};
// The counts `source` names, from the routing statistics file (the OLMoE project's
// olmoe_mixtral_counts.json: {"<model>/expert_counts/<domain>": {"top_k", "n_experts",
// "layers": {"<L>": {"counts": [...]}}}}, where Mixtral is spelled mistral). Errors name the
// file and list the layers and domains it has.
Result<RecordedCounts> read_recorded_counts(const std::string& path, const RoutingSource& source);

// `shares` (any number of experts, summing to 1) spread over `num_experts` experts along the
// Lorenz curve: the busiest fraction f of the result takes what the busiest fraction f of
// `shares` took, so Gini and the shape of the tail carry over from 64 experts to 128 or 8.
// Returned busiest first (expert 0 the busiest).
std::vector<double> map_shares(std::span<const double> shares, int64_t num_experts);

// The per-MoE-layer shares (sum 1, header.num_experts each) a synthetic trace of shape `header`
// draws from. Zipf ranks, and recorded counts with another number of experts than the model
// (mapped by map_shares), are laid on the experts by a permutation drawn from `seed` for each
// layer, so every layer has its own hot experts; recorded counts with as many experts as the
// model keep their expert numbers. `counts_path`: the routing statistics file, for recorded
// sources.
Result<std::vector<std::vector<double>>> source_shares(const RoutingSource& source,
                                                       const RoutingTraceHeader& header,
                                                       uint64_t seed,
                                                       const std::string& counts_path);

// Draws the steps of a synthetic trace. In each MoE layer a token chooses top_k distinct experts
// so that expert e is among them with probability π_e = min(1, c·share_e), c making the π sum to
// top_k: systematic sampling over a fresh random order of the experts per token. A layer's
// counts then reproduce its shares in expectation however skewed they are, which drawing the
// experts one after another in proportion to their shares would not (a busy expert can be drawn
// once per token, so it would come out under-chosen). Deterministic for a seed.
class RoutingDraw {
 public:
  // `layer_shares`: one per entry of header.moe_layers, header.num_experts shares each.
  RoutingDraw(const RoutingTraceHeader& header, std::span<const std::vector<double>> layer_shares,
              uint64_t seed);

  // The next step, of `tokens` tokens. With `choices`, also each layer's choices token by
  // token: (*choices)[layer] is [tokens × top_k] expert ids.
  RoutingStep next(int64_t tokens, std::vector<std::vector<int32_t>>* choices = nullptr);

  // [moe layer][expert]: the probability that a token chooses the expert (they sum to top_k).
  const std::vector<std::vector<double>>& inclusion() const { return inclusion_; }

 private:
  int64_t num_experts_ = 0, top_k_ = 0;
  std::vector<std::vector<double>> inclusion_;
  std::mt19937_64 rng_;
  std::vector<int32_t> order_;  // [num_experts]: this token's random order
};

}  // namespace sieve
