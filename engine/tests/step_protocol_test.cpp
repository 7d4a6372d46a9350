// The step protocol's messages survive encode/decode exactly: every request and output field,
// floats bit for bit, any bytes in text.
#include "engine/step_protocol.h"

#include <cmath>
#include <cstring>

#include <gtest/gtest.h>

namespace sieve {
namespace {

bool same_bits(float a, float b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

void expect_same(const std::vector<TokenLogprob>& a, const std::vector<TokenLogprob>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].token_id, b[i].token_id);
    EXPECT_TRUE(same_bits(a[i].logprob, b[i].logprob)) << a[i].logprob << " vs " << b[i].logprob;
    EXPECT_EQ(a[i].rank, b[i].rank);
  }
}

TEST(StepProtocol, ControlRoundTripsEveryField) {
  StepControl c;
  PlacedRequest p;
  p.id = 12345678901ull;
  p.rank = 3;
  p.request.prompt_token_ids = {1, 2, 151643};
  p.request.priority = -7;
  SamplingParams& s = p.request.params;
  s.max_tokens = 99;
  s.temperature = 0.7f;
  s.top_p = 0.123456789f;
  s.top_k = 40;
  s.min_p = 0.05f;
  s.presence_penalty = -1.5f;
  s.frequency_penalty = 0.3f;
  s.repetition_penalty = 1.1f;
  s.seed = 0xFFFFFFFFFFFFFFFFull;
  s.ignore_eos = true;
  s.stop_token_ids = {7, 8};
  s.stop = {"\n\n", "é"};
  s.include_stop_str_in_output = true;
  s.skip_special_tokens = false;
  s.logprobs = 5;
  s.prompt_logprobs = 0;
  c.requests.push_back(p);
  c.requests.push_back({2, 0, GenerationRequest{}});  // defaults: no seed, no logprobs
  c.aborts = {4, 5};
  c.abort_all = true;
  c.step = true;
  c.report_counters = true;

  auto d = decode_control(encode(c));
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->requests.size(), 2u);
  const PlacedRequest& q = d->requests[0];
  EXPECT_EQ(q.id, p.id);
  EXPECT_EQ(q.rank, 3);
  EXPECT_EQ(q.request.prompt_token_ids, p.request.prompt_token_ids);
  EXPECT_EQ(q.request.priority, -7);
  const SamplingParams& t = q.request.params;
  EXPECT_EQ(t.max_tokens, 99);
  EXPECT_TRUE(same_bits(t.temperature, s.temperature));
  EXPECT_TRUE(same_bits(t.top_p, s.top_p));
  EXPECT_EQ(t.top_k, 40);
  EXPECT_TRUE(same_bits(t.min_p, s.min_p));
  EXPECT_TRUE(same_bits(t.presence_penalty, s.presence_penalty));
  EXPECT_TRUE(same_bits(t.frequency_penalty, s.frequency_penalty));
  EXPECT_TRUE(same_bits(t.repetition_penalty, s.repetition_penalty));
  EXPECT_EQ(t.seed, s.seed);
  EXPECT_TRUE(t.ignore_eos);
  EXPECT_EQ(t.stop_token_ids, s.stop_token_ids);
  EXPECT_EQ(t.stop, s.stop);
  EXPECT_TRUE(t.include_stop_str_in_output);
  EXPECT_FALSE(t.skip_special_tokens);
  EXPECT_EQ(t.logprobs, 5);
  EXPECT_EQ(t.prompt_logprobs, 0);
  EXPECT_FALSE(d->requests[1].request.params.seed);
  EXPECT_FALSE(d->requests[1].request.params.logprobs);
  EXPECT_EQ(d->aborts, c.aborts);
  EXPECT_TRUE(d->abort_all);
  EXPECT_TRUE(d->step);
  EXPECT_FALSE(d->exit);
  EXPECT_TRUE(d->report_counters);
}

TEST(StepProtocol, ReportRoundTripsEventsInOrder) {
  RankReport r;
  TokenRecord t;
  t.request_id = 9;
  t.token = 42;
  t.text = std::string("\xe4\xbd", 2);  // half a character: bytes, not UTF-8
  t.has_logprobs = true;
  t.logprobs = {{42, -0.1234567f}, {3, -std::nextafter(2.f, 3.f)}};
  r.events.emplace_back(t);
  RequestOutput o;
  o.request_id = 9;
  o.prompt_token_ids = {1, 2};
  o.output_token_ids = {42, 43};
  o.finish_reason = "stop";
  o.stop_string = "\n";
  o.text = "ab\n";
  o.num_cached_tokens = 16;
  o.logprobs = {t.logprobs, {{43, -1e-30f}}};
  o.prompt_logprobs = {{}, {{2, -3.5f}}};
  r.events.emplace_back(o);
  TokenRecord plain;
  plain.request_id = 10;
  plain.token = 1;
  r.events.emplace_back(plain);
  r.unfinished = true;
  r.load = 3;
  r.step_seconds = 0.25;
  r.step_batch = 2;
  r.stats.steps = 11;
  r.stats.prefix_hit_tokens = 16;
  r.kv_blocks_total = 100;
  r.kv_blocks_free = 90;
  r.kv_blocks_cached = 4;
  r.expert_tokens = {1, 0, 5};

  auto d = decode_report(encode(r));
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_EQ(d->events.size(), 3u);
  const auto& t2 = std::get<TokenRecord>(d->events[0]);
  EXPECT_EQ(t2.request_id, 9u);
  EXPECT_EQ(t2.token, 42);
  EXPECT_EQ(t2.text, t.text);
  EXPECT_TRUE(t2.has_logprobs);
  expect_same(t2.logprobs, t.logprobs);
  const auto& o2 = std::get<RequestOutput>(d->events[1]);
  EXPECT_EQ(o2.request_id, 9u);
  EXPECT_EQ(o2.prompt_token_ids, o.prompt_token_ids);
  EXPECT_EQ(o2.output_token_ids, o.output_token_ids);
  EXPECT_EQ(o2.finish_reason, "stop");
  EXPECT_EQ(o2.stop_string, "\n");
  EXPECT_EQ(o2.text, "ab\n");
  EXPECT_EQ(o2.num_cached_tokens, 16);
  ASSERT_EQ(o2.logprobs.size(), 2u);
  expect_same(o2.logprobs[0], o.logprobs[0]);
  expect_same(o2.logprobs[1], o.logprobs[1]);
  ASSERT_EQ(o2.prompt_logprobs.size(), 2u);
  EXPECT_TRUE(o2.prompt_logprobs[0].empty());
  expect_same(o2.prompt_logprobs[1], o.prompt_logprobs[1]);
  EXPECT_FALSE(std::get<TokenRecord>(d->events[2]).has_logprobs);
  EXPECT_TRUE(d->unfinished);
  EXPECT_EQ(d->load, 3);
  EXPECT_EQ(d->step_seconds, 0.25);
  EXPECT_EQ(d->step_batch, 2);
  EXPECT_EQ(d->stats.steps, 11);
  EXPECT_EQ(d->stats.prefix_hit_tokens, 16);
  EXPECT_EQ(d->kv_blocks_total, 100);
  EXPECT_EQ(d->kv_blocks_free, 90);
  EXPECT_EQ(d->kv_blocks_cached, 4);
  EXPECT_EQ(d->expert_tokens, r.expert_tokens);
  EXPECT_FALSE(d->expert_parallel);  // none kept, none sent
}

TEST(StepProtocol, ReportCarriesTheExpertParallelStatsOfMoeLayers) {
  RankReport r;
  ExpertParallelStats& ep = r.expert_parallel.emplace();
  ep.layers.resize(4);  // layers 0 and 2 dense
  ep.layers[1] = {10, 7, 1280, 896, 0.125, {3, 0, 4}};
  ep.layers[3] = {5, 6, 640, 768, std::nextafter(1e-3, 1.0), {6, 0, 0}};

  auto d = decode_report(encode(r));
  ASSERT_TRUE(d.ok()) << d.status().message();
  ASSERT_TRUE(d->expert_parallel);
  const auto& layers = d->expert_parallel->layers;
  ASSERT_EQ(layers.size(), 4u);
  for (int i : {0, 2}) {
    EXPECT_FALSE(layers[i].is_moe());
    EXPECT_EQ(layers[i].rows_sent, 0);
    EXPECT_EQ(layers[i].bytes_received, 0);
  }
  for (int i : {1, 3}) {
    const ExpertParallelStats::Layer& a = ep.layers[i];
    const ExpertParallelStats::Layer& b = layers[i];
    EXPECT_EQ(b.rows_sent, a.rows_sent);
    EXPECT_EQ(b.rows_received, a.rows_received);
    EXPECT_EQ(b.bytes_sent, a.bytes_sent);
    EXPECT_EQ(b.bytes_received, a.bytes_received);
    EXPECT_EQ(b.exchange_seconds, a.exchange_seconds);  // exact
    EXPECT_EQ(b.expert_rows, a.expert_rows);
  }
  EXPECT_DOUBLE_EQ(layers[1].load_imbalance(), 4.0 * 3 / 7);
  EXPECT_DOUBLE_EQ(layers[3].load_imbalance(), 3.0);
}

TEST(StepProtocol, GarbageIsAnError) {
  const std::vector<uint8_t> junk = {0xc1, 0x00, 0x01};
  EXPECT_FALSE(decode_control(junk).ok());
  EXPECT_FALSE(decode_report(junk).ok());
  EXPECT_FALSE(decode_report(encode(StepControl{})).ok());  // the wrong message
}

}  // namespace
}  // namespace sieve
