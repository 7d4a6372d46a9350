#include "engine/sampler.h"

#include <cmath>
#include <map>

#include <gtest/gtest.h>

namespace sieve {
namespace {

TEST(Sampling, GreedyTakesTheLargestAndTiesGoToTheLowerId) {
  std::mt19937_64 rng(0);
  SamplingParams p;
  p.temperature = 0;
  std::vector<float> logits = {0.1f, 3.0f, -1.0f, 3.0f};
  EXPECT_EQ(sample_token(logits, p, rng), 1);
}

TEST(Sampling, TopKOneIsGreedy) {
  std::mt19937_64 rng(0);
  SamplingParams p;
  p.top_k = 1;
  std::vector<float> logits = {0.1f, 0.2f, 5.0f};
  for (int i = 0; i < 20; ++i)
    EXPECT_EQ(sample_token(logits, p, rng), 2);
}

// Frequencies follow softmax(logits / T) restricted to the kept set.
TEST(Sampling, FrequenciesFollowTheTruncatedDistribution) {
  std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.15f), std::log(0.05f)};
  auto freq = [&](SamplingParams p) {
    std::mt19937_64 rng(123);
    std::map<int, double> f;
    const int n = 200000;
    for (int i = 0; i < n; ++i)
      f[sample_token(logits, p, rng)] += 1.0 / n;
    return f;
  };
  SamplingParams plain;
  auto f = freq(plain);
  EXPECT_NEAR(f[0], 0.5, 0.01);
  EXPECT_NEAR(f[3], 0.05, 0.01);

  SamplingParams topk;
  topk.top_k = 2;  // {0.5, 0.3} renormalised
  f = freq(topk);
  EXPECT_NEAR(f[0], 0.625, 0.01);
  EXPECT_EQ(f.count(2), 0u);

  SamplingParams topp;
  topp.top_p = 0.75f;  // 0.5 is short of 0.75, 0.5 + 0.3 reaches it: tokens 0 and 1
  f = freq(topp);
  EXPECT_NEAR(f[1], 0.375, 0.01);
  EXPECT_EQ(f.count(2), 0u);

  SamplingParams minp;
  minp.min_p = 0.2f;  // keeps p ≥ 0.1: tokens 0, 1, 2
  f = freq(minp);
  EXPECT_EQ(f.count(3), 0u);
  EXPECT_NEAR(f[2], 0.15 / 0.95, 0.01);

  SamplingParams hot;
  hot.temperature = 2.0f;  // p ∝ sqrt(p0)
  f = freq(hot);
  const double z = std::sqrt(0.5) + std::sqrt(0.3) + std::sqrt(0.15) + std::sqrt(0.05);
  EXPECT_NEAR(f[0], std::sqrt(0.5) / z, 0.01);
}

TEST(Sampling, SameSeedSameTokens) {
  std::vector<float> logits(100);
  for (int i = 0; i < 100; ++i)
    logits[i] = std::sin(i * 0.7f);
  SamplingParams p;
  std::mt19937_64 a(42), b(42);
  for (int i = 0; i < 50; ++i)
    EXPECT_EQ(sample_token(logits, p, a), sample_token(logits, p, b));
}

TEST(Sampling, LogprobsAreLogSoftmaxWithChosenFirst) {
  std::vector<float> logits = {1.0f, 2.0f, 3.0f, 0.0f};
  auto lp = token_logprobs(logits, 0, 2);
  ASSERT_EQ(lp.size(), 3u);
  const double lse = std::log(std::exp(1.0) + std::exp(2.0) + std::exp(3.0) + std::exp(0.0));
  EXPECT_EQ(lp[0].token_id, 0);
  EXPECT_NEAR(lp[0].logprob, 1.0 - lse, 1e-6);
  EXPECT_EQ(lp[1].token_id, 2);
  EXPECT_EQ(lp[2].token_id, 1);
  auto top_chosen = token_logprobs(logits, 2, 2);  // the chosen token is not repeated
  ASSERT_EQ(top_chosen.size(), 3u);
  EXPECT_EQ(top_chosen[1].token_id, 1);
  EXPECT_EQ(top_chosen[2].token_id, 0);
}

TEST(Sampling, ValidationNamesTheField) {
  SamplingParams p;
  p.top_p = 0;
  EXPECT_NE(validate_sampling(p, 10).message().find("top_p"), std::string::npos);
  p = {};
  p.temperature = -1;
  EXPECT_NE(validate_sampling(p, 10).message().find("temperature"), std::string::npos);
  p = {};
  p.max_tokens = 0;
  EXPECT_NE(validate_sampling(p, 10).message().find("max_tokens"), std::string::npos);
  p = {};
  p.stop_token_ids = {10};
  EXPECT_NE(validate_sampling(p, 10).message().find("stop_token_ids"), std::string::npos);
  p = {};
  p.logprobs = 21;
  EXPECT_FALSE(validate_sampling(p, 10).ok());
  EXPECT_TRUE(validate_sampling(SamplingParams{}, 10).ok());
}

TEST(Sampling, PenaltiesFollowVllmSemantics) {
  SamplingParams p;
  p.repetition_penalty = 2.f;
  std::vector<float> logits = {4.f, -4.f, 4.f, 1.f};
  // Token 0 in the prompt, token 1 in the output twice: divided / multiplied once each.
  apply_penalties(logits, p, std::vector<int32_t>{0}, std::vector<int32_t>{1, 1});
  EXPECT_EQ(logits, (std::vector<float>{2.f, -8.f, 4.f, 1.f}));

  SamplingParams q;
  q.frequency_penalty = 0.5f;
  q.presence_penalty = 1.f;
  logits = {4.f, 4.f, 4.f, 4.f};
  // Only output tokens count: 2 appears 3 times, 3 once, 0 (prompt only) not at all.
  apply_penalties(logits, q, std::vector<int32_t>{0}, std::vector<int32_t>{2, 3, 2, 2});
  EXPECT_EQ(logits, (std::vector<float>{4.f, 4.f, 4.f - 1.5f - 1.f, 4.f - 0.5f - 1.f}));
  EXPECT_TRUE(has_penalties(q));
  EXPECT_FALSE(has_penalties(SamplingParams{}));
}

TEST(Sampling, PenaltyRangesAreChecked) {
  SamplingParams p;
  p.presence_penalty = 2.5f;
  EXPECT_NE(validate_sampling(p, 10).message().find("presence_penalty"), std::string::npos);
  p = {};
  p.frequency_penalty = -3.f;
  EXPECT_NE(validate_sampling(p, 10).message().find("frequency_penalty"), std::string::npos);
  p = {};
  p.repetition_penalty = 0.f;
  EXPECT_NE(validate_sampling(p, 10).message().find("repetition_penalty"), std::string::npos);
}

}  // namespace
}  // namespace sieve
