// Parameter counts from a family's declared blocks, and what each rank of an expert-parallel
// run holds.
#include "engine/checkpoint/model_config.h"

#include <gtest/gtest.h>

#include "engine/experts/expert_placement.h"
#include "models/model_size.h"

namespace sieve {
namespace {

// Qwen1.5-MoE-A2.7B's shape scaled down: 60 experts, one dense layer among the MoE ones, built
// from Qwen3-MoE's blocks (per-head q/k norms).
ModelConfig small_moe(int64_t num_experts) {
  ModelConfig c;
  c.model_type = "qwen3_moe";
  c.vocab_size = 1000;
  c.hidden_size = 64;
  c.num_layers = 4;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.intermediate_size = 96;
  c.moe_intermediate_size = 32;
  c.num_experts = num_experts;
  c.top_k = 4;
  c.layer_is_moe = {true, false, true, true};
  return c;
}

TEST(ModelConfig, ExpertParamsAreTheGateUpDownOfEveryExpert) {
  const ModelConfig c = small_moe(60);
  EXPECT_EQ(count_params(c).experts, 3 * 60 * 3 * 64 * 32);
}

TEST(ModelConfig, ParamsOnRankSplitTheExpertsAndReplicateTheRest) {
  for (int64_t experts : {16, 60}) {
    const ModelConfig c = small_moe(experts);
    const int64_t replicated = count_params(c).total - count_params(c).experts;
    const int64_t per_expert = count_params(c).experts / experts;
    for (int world : {1, 2, 3, 8, 16}) {
      const ExpertPlacement p = ExpertPlacement::contiguous(experts, world);
      int64_t expert_sum = 0;
      for (int r = 0; r < world; ++r) {
        const int64_t on_rank = params_on_rank(c, p, r);
        const int64_t held = static_cast<int64_t>(p.experts_of(r).size());
        // The replicated part is the same on every rank; the rest is this rank's experts.
        EXPECT_EQ(on_rank - held * per_expert, replicated) << experts << "/" << world << " " << r;
        expert_sum += on_rank - replicated;
      }
      EXPECT_EQ(expert_sum, count_params(c).experts) << experts << "/" << world;
    }
  }
}

TEST(ModelConfig, OneRankHoldsTheWholeModel) {
  const ModelConfig c = small_moe(60);
  EXPECT_EQ(params_on_rank(c, ExpertPlacement::contiguous(60, 1), 0), count_params(c).total);
}

TEST(ModelConfig, UnevenSplitGivesTheFirstRanksOneMoreExpert) {
  // 60 experts over 8 ranks: ranks 0-3 hold 8, ranks 4-7 hold 7.
  const ModelConfig c = small_moe(60);
  const ExpertPlacement p = ExpertPlacement::contiguous(60, 8);
  const int64_t replicated = count_params(c).total - count_params(c).experts;
  const int64_t per_expert = 3 * 3 * 64 * 32;  // 3 MoE layers × gate/up/down
  for (int r = 0; r < 8; ++r) {
    EXPECT_EQ(params_on_rank(c, p, r), replicated + (r < 4 ? 8 : 7) * per_expert) << r;
  }
}

TEST(ModelConfig, ExpertParallelSizeMustFitTheExperts) {
  const ModelConfig c = small_moe(16);
  EXPECT_TRUE(c.check_expert_parallel_size(1).ok());
  EXPECT_TRUE(c.check_expert_parallel_size(16).ok());
  for (int64_t bad : {0, -1, 17}) {
    const Status s = c.check_expert_parallel_size(bad);
    EXPECT_FALSE(s.ok()) << bad;
    EXPECT_NE(s.message().find("--expert-parallel-size"), std::string::npos) << s.message();
  }
  ModelConfig dense = small_moe(16);
  dense.layer_is_moe.assign(4, false);
  EXPECT_TRUE(dense.check_expert_parallel_size(1).ok());
  const Status s = dense.check_expert_parallel_size(2);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("no MoE layers"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace sieve
