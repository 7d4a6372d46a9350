// The engine loop and scheduler against a fake model whose next token is predictable:
// budgets, chunked prefill, stop conditions, validation, abort.
#include "engine/engine.h"

#include <gtest/gtest.h>

#include "engine/backends/cpu_backend.h"
#include "engine/tests/counting_model.h"

namespace sieve {
namespace {

struct Harness {
  CpuBackend backend{1};
  CountingModel model;
  std::unique_ptr<Engine> engine;
  std::map<uint64_t, RequestOutput> done;

  explicit Harness(EngineOptions o = {}) {
    if (o.num_kv_blocks == 0) o.num_kv_blocks = 32;
    o.block_size = 4;
    engine = std::make_unique<Engine>(model, backend, o);
  }
  std::vector<uint64_t> finish_order;

  Result<uint64_t> add(std::vector<int32_t> prompt, SamplingParams p, int64_t priority = 0) {
    GenerationRequest r{std::move(prompt), p, priority};
    RequestSink sink;
    sink.on_finish = [this](RequestOutput&& o) {
      finish_order.push_back(o.request_id);
      done[o.request_id] = std::move(o);
    };
    return engine->add_request(std::move(r), std::move(sink));
  }
  void run() {
    for (int i = 0; i < 1000 && engine->has_unfinished(); ++i)
      engine->step();
    ASSERT_FALSE(engine->has_unfinished());
  }
};

SamplingParams greedy(int64_t max_tokens) {
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = max_tokens;
  return p;
}

TEST(Engine, GeneratesUntilMaxTokens) {
  Harness h;
  auto id = h.add({3, 4, 5}, greedy(4));
  ASSERT_TRUE(id.ok());
  h.run();
  EXPECT_EQ(h.done[*id].output_token_ids, (std::vector<int32_t>{6, 7, 8, 9}));
  EXPECT_EQ(h.done[*id].finish_reason, "length");
}

TEST(Engine, StopsOnEosUnlessIgnoredAndOnStopTokens) {
  Harness h;
  auto eos = h.add({14}, greedy(5));  // 15, then 0 = EOS
  SamplingParams ignore = greedy(3);
  ignore.ignore_eos = true;
  auto ignored = h.add({14}, ignore);
  SamplingParams stop = greedy(10);
  stop.stop_token_ids = {4};
  auto stopped = h.add({1}, stop);
  h.run();
  EXPECT_EQ(h.done[*eos].output_token_ids, (std::vector<int32_t>{15, 0}));
  EXPECT_EQ(h.done[*eos].finish_reason, "stop");
  EXPECT_EQ(h.done[*ignored].output_token_ids, (std::vector<int32_t>{15, 0, 1}));
  EXPECT_EQ(h.done[*stopped].output_token_ids, (std::vector<int32_t>{2, 3, 4}));
  EXPECT_EQ(h.done[*stopped].finish_reason, "stop");
}

TEST(Engine, CapsAtMaxModelLen) {
  Harness h;
  auto id = h.add(std::vector<int32_t>(60, 1), greedy(100));
  ASSERT_TRUE(id.ok());
  h.run();
  EXPECT_EQ(h.done[*id].output_token_ids.size(), 4u);
  EXPECT_EQ(h.done[*id].finish_reason, "length");
}

TEST(Engine, RespectsMaxNumSeqsAndTokenBudgetWithDecodesFirst) {
  EngineOptions o;
  o.max_num_seqs = 2;
  o.max_num_batched_tokens = 4;
  Harness h(o);
  std::vector<uint64_t> ids;
  for (int i = 0; i < 5; ++i)
    ids.push_back(*h.add(std::vector<int32_t>(9, 2), greedy(3)));
  h.run();
  for (uint64_t id : ids)
    EXPECT_EQ(h.done[id].output_token_ids, (std::vector<int32_t>{3, 4, 5}));
  for (const ForwardBatch& b : h.model.steps) {
    EXPECT_LE(b.num_seqs(), 2);
    EXPECT_LE(b.num_tokens(), 4);
    // Decoding sequences (one token, already past the prompt) come first in every step.
    bool seen_prefill = false;
    for (int64_t s = 0; s < b.num_seqs(); ++s) {
      const bool decode = b.query_start[s + 1] - b.query_start[s] == 1 && b.context_lens[s] > 9;
      if (!decode) seen_prefill = true;
      EXPECT_FALSE(decode && seen_prefill) << "a decode scheduled after a prefill chunk";
    }
  }
}

TEST(Engine, RefusesInvalidRequests) {
  Harness h;
  EXPECT_FALSE(h.add({}, greedy(1)).ok());
  auto oov = h.add({1, kVocab}, greedy(1));
  EXPECT_NE(oov.status().message().find("vocabulary"), std::string::npos);
  auto too_long = h.add(std::vector<int32_t>(64, 1), greedy(1));
  EXPECT_NE(too_long.status().message().find("maximum context length"), std::string::npos);
  SamplingParams bad = greedy(1);
  bad.top_p = 2;
  EXPECT_FALSE(h.add({1}, bad).ok());
  EXPECT_FALSE(h.engine->has_unfinished());
}

TEST(Engine, RefusesWhatTheKvCacheCannotHold) {
  EngineOptions o;
  o.num_kv_blocks = 2;  // 8 tokens
  Harness h(o);
  auto big = h.add(std::vector<int32_t>(6, 1), greedy(10));
  EXPECT_EQ(big.status().code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(h.add(std::vector<int32_t>(6, 1), greedy(2)).ok());
}

TEST(Engine, WaitsForKvPagesInsteadOfFailing) {
  EngineOptions o;
  o.num_kv_blocks = 2;
  Harness h(o);
  auto a = h.add(std::vector<int32_t>(4, 1), greedy(4));
  auto b = h.add(std::vector<int32_t>(4, 1), greedy(4));
  h.run();
  EXPECT_EQ(h.done[*a].output_token_ids.size(), 4u);
  EXPECT_EQ(h.done[*b].output_token_ids.size(), 4u);
}

TEST(Engine, AbortEndsARequest) {
  Harness h;
  auto a = h.add({1}, greedy(50));
  auto b = h.add({1}, greedy(3));
  h.engine->step();
  h.engine->abort(*a);
  h.run();
  EXPECT_EQ(h.done[*a].finish_reason, "abort");
  EXPECT_EQ(h.done[*b].finish_reason, "length");
}

TEST(Engine, PromptLogprobsCoverEveryPromptTokenAcrossChunks) {
  EngineOptions o;
  o.max_num_batched_tokens = 3;
  Harness h(o);
  SamplingParams p = greedy(2);
  p.prompt_logprobs = 1;
  p.logprobs = 0;
  auto id = h.add({5, 6, 7, 9, 10, 11, 12}, p);
  h.run();
  const RequestOutput& out = h.done[*id];
  ASSERT_EQ(out.prompt_logprobs.size(), 7u);
  EXPECT_TRUE(out.prompt_logprobs[0].empty());
  for (size_t i = 1; i < 7; ++i)
    EXPECT_EQ(out.prompt_logprobs[i][0].token_id, out.prompt_token_ids[i]);
  // 6 → 7 is the model's favourite; 7 → 9 is not.
  EXPECT_GT(out.prompt_logprobs[2][0].logprob, -0.01f);
  EXPECT_LT(out.prompt_logprobs[3][0].logprob, -5.f);
  ASSERT_EQ(out.logprobs.size(), 2u);
  EXPECT_EQ(out.logprobs[0].size(), 1u);
}

TEST(Engine, ServesLowerPriorityValuesFirstThenArrivalOrder) {
  EngineOptions o;
  o.max_num_seqs = 1;
  Harness h(o);
  auto late = h.add({1}, greedy(2), /*priority=*/5);
  auto first = h.add({1}, greedy(2), /*priority=*/0);
  auto second = h.add({2}, greedy(2), /*priority=*/1);
  auto third = h.add({3}, greedy(2), /*priority=*/1);
  h.run();
  EXPECT_EQ(h.finish_order, (std::vector<uint64_t>{*first, *second, *third, *late}));
}

TEST(Engine, PrefixCacheSkipsComputedPages) {
  Harness h;  // block size 4
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto a = h.add(prompt, greedy(2));
  h.run();
  const size_t steps_before = h.model.steps.size();
  auto b = h.add(prompt, greedy(2));
  h.run();
  // Two full pages (8 tokens) come from the cache: the first step computes 2 tokens.
  EXPECT_EQ(h.model.steps[steps_before].num_tokens(), 2);
  EXPECT_EQ(h.done[*b].num_cached_tokens, 8);
  EXPECT_EQ(h.done[*a].num_cached_tokens, 0);
  EXPECT_EQ(h.done[*b].output_token_ids, h.done[*a].output_token_ids);
  EXPECT_EQ(h.engine->stats().prefix_hit_tokens, 8);
  EXPECT_EQ(h.engine->num_free_kv_blocks(), h.engine->num_kv_blocks());
  EXPECT_GT(h.engine->num_cached_kv_blocks(), 0);

  EngineOptions off;
  off.enable_prefix_caching = false;
  Harness cold(off);
  ASSERT_TRUE(cold.add(prompt, greedy(2)).ok());
  cold.run();
  auto c = cold.add(prompt, greedy(2));
  cold.run();
  EXPECT_EQ(cold.done[*c].num_cached_tokens, 0);
  EXPECT_EQ(cold.engine->num_cached_kv_blocks(), 0);
}

TEST(Engine, PreemptsTheYoungestAndRecomputesIt) {
  EngineOptions o;
  o.num_kv_blocks = 4;  // 16 tokens; each request needs 12
  Harness h(o);
  SamplingParams p = greedy(8);
  p.prompt_logprobs = 0;
  auto a = h.add({1, 2, 3, 4}, p);
  auto b = h.add({5, 6, 7, 8}, p);
  h.run();
  EXPECT_GT(h.engine->stats().preemptions, 0);
  EXPECT_EQ(h.done[*a].output_token_ids, (std::vector<int32_t>{5, 6, 7, 8, 9, 10, 11, 12}));
  EXPECT_EQ(h.done[*b].output_token_ids, (std::vector<int32_t>{9, 10, 11, 12, 13, 14, 15, 0}));
  // The older request was never preempted, so it finished first; prompt logprobs were
  // recorded once per prompt token despite the recompute.
  EXPECT_EQ(h.finish_order.front(), *a);
  EXPECT_EQ(h.done[*b].prompt_logprobs.size(), 4u);
  EXPECT_EQ(h.engine->num_free_kv_blocks(), 4);
}

// Always favours token 1 (logit 5) over token 2 (logit 4) over the rest (0), so penalties on
// seen tokens decide what greedy picks.
class FavouritesModel final : public HostFakeModel {
 public:
  FavouritesModel() : c_(CountingModel().c_) {}
  const ModelConfig& config() const override { return c_; }
  int64_t weight_bytes() const override { return 0; }
  void forward(const ForwardBatch& b, KvCache&, float* logits, ForwardTrace*) override {
    for (size_t r = 0; r < b.logit_rows.size(); ++r) {
      for (int64_t v = 0; v < kVocab; ++v)
        logits[r * kVocab + v] = v == 1 ? 5.f : v == 2 ? 4.f : 0.f;
    }
  }
  ModelConfig c_;
};

TEST(Engine, PenaltiesSteerSamplingButNotLogprobs) {
  CpuBackend backend{1};
  FavouritesModel model;
  EngineOptions o;
  o.num_kv_blocks = 16;
  o.block_size = 4;
  Engine engine(model, backend, o);
  std::map<uint64_t, RequestOutput> done;
  auto add = [&](std::vector<int32_t> prompt, SamplingParams p) {
    p.temperature = 0;
    p.max_tokens = 4;
    p.logprobs = 0;
    RequestSink sink;
    sink.on_finish = [&done](RequestOutput&& out) { done[out.request_id] = std::move(out); };
    return *engine.add_request({std::move(prompt), p}, std::move(sink));
  };
  SamplingParams presence, frequency, repetition;
  presence.presence_penalty = 2.f;      // 1 (5 → 3) loses to 2 (4), then 2 (4 → 2) to 1 (3)
  frequency.frequency_penalty = 1.f;    // 1: 5, 4 (tie, lower id), 3 → 2 (4), then 1 (3 vs 3)
  repetition.repetition_penalty = 2.f;  // 1 is in the prompt: 2.5 < 4 → 2, then 2.5 > 2
  const uint64_t a = add({0}, presence), b = add({0}, frequency), c = add({1}, repetition);
  const uint64_t plain = add({0}, SamplingParams{});
  while (engine.has_unfinished())
    engine.step();
  EXPECT_EQ(done[a].output_token_ids, (std::vector<int32_t>{1, 2, 1, 1}));
  EXPECT_EQ(done[b].output_token_ids, (std::vector<int32_t>{1, 1, 2, 1}));
  EXPECT_EQ(done[c].output_token_ids, (std::vector<int32_t>{2, 1, 1, 1}));
  EXPECT_EQ(done[plain].output_token_ids, (std::vector<int32_t>{1, 1, 1, 1}));
  // Logprobs are the model's own: token 2 after a penalty is still less likely than 1 was.
  const float lp1 = done[plain].logprobs[0][0].logprob, lp2 = done[a].logprobs[1][0].logprob;
  EXPECT_NEAR(lp1 - lp2, 1.f, 1e-5);
}

TEST(Engine, SamePromptSubmittedTogetherIsComputedOnce) {
  Harness h;  // block size 4
  const std::vector<int32_t> prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  auto a = h.add(prompt, greedy(3));
  auto b = h.add(prompt, greedy(3));
  auto other = h.add({9, 9, 9, 9, 9}, greedy(3));  // behind b: waits with it (no overtaking)
  h.run();
  EXPECT_EQ(h.done[*b].num_cached_tokens, 8);
  EXPECT_EQ(h.done[*a].output_token_ids, h.done[*b].output_token_ids);
  EXPECT_EQ(h.done[*other].output_token_ids, (std::vector<int32_t>{10, 11, 12}));
  // Prompt tokens computed: 10 for a, 2 for b, 5 for the other.
  EXPECT_EQ(h.engine->stats().prompt_tokens, 17);
}

}  // namespace
}  // namespace sieve
