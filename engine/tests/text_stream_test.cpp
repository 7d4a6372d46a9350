// Output text while generating, with the real Qwen3 tokenizer: deltas add up to the decode,
// never split a character, and stop strings end the text even across token boundaries.
#include "engine/text/text_stream.h"

#include <gtest/gtest.h>

#include "engine/backends/cpu_backend.h"
#include "engine/engine.h"
#include "engine/tests/counting_model.h"
#include "engine/text/tokenizer/utf8.h"
#include "tests/support/fixtures.h"

namespace sieve {
namespace {

std::shared_ptr<const Tokenizer> qwen3() {
  static auto tok = [] {
    auto t = Tokenizer::load(testing::fixture_path("tokenizers/qwen3/tokenizer.json"));
    EXPECT_TRUE(t.ok()) << t.status().message();
    return *t;
  }();
  return tok;
}

struct Streamed {
  std::vector<std::string> deltas;
  std::string all;
  bool stopped = false;
  std::string matched;
};

Streamed stream(const std::string& text, SamplingParams p) {
  auto ids = qwen3()->encode(text, false);
  EXPECT_TRUE(ids.ok());
  TextStream ts(qwen3(), text_stream_options(p));
  Streamed out;
  for (int32_t id : *ids) {
    auto d = ts.push(id);
    out.deltas.push_back(d.text);
    out.all += d.text;
    if (d.stopped) {
      out.stopped = true;
      out.matched = d.matched;
      break;
    }
  }
  if (!out.stopped) out.all += ts.finish();
  EXPECT_EQ(out.all, ts.text());
  return out;
}

TEST(TextStream, DeltasAddUpToTheDecodeAndNeverSplitACharacter) {
  const std::string text = "Emoji 😀🎉 and 中文字符 and é\u0301 mixed — ok";
  Streamed s = stream(text, SamplingParams{});
  EXPECT_EQ(s.all, text);
  for (const std::string& d : s.deltas)
    EXPECT_TRUE(tok::is_valid_utf8(d)) << d;
}

TEST(TextStream, StopStringsEndTheTextAcrossTokenBoundaries) {
  SamplingParams p;
  p.stop = {"o wo"};  // spans "Hello" and " world"
  Streamed s = stream("Hello world and more", p);
  EXPECT_TRUE(s.stopped);
  EXPECT_EQ(s.matched, "o wo");
  EXPECT_EQ(s.all, "Hell");
  p.include_stop_str_in_output = true;
  EXPECT_EQ(stream("Hello world and more", p).all, "Hello wo");
  // The earliest of several stop strings wins.
  p.include_stop_str_in_output = false;
  p.stop = {"more", "and"};
  Streamed two = stream("Hello world and more", p);
  EXPECT_EQ(two.all, "Hello world ");
  EXPECT_EQ(two.matched, "and");
}

TEST(TextStream, HoldsBackWhatCouldStartAStopString) {
  SamplingParams p;
  p.stop = {"XYZ"};
  Streamed s = stream("abc XY de", p);
  EXPECT_FALSE(s.stopped);
  EXPECT_EQ(s.all, "abc XY de");
  // No delta ever ended with the "XY" that could have begun "XYZ" before " de" arrived.
  std::string so_far;
  for (const std::string& d : s.deltas) {
    so_far += d;
    EXPECT_FALSE(so_far.size() >= 2 && so_far.substr(so_far.size() - 2) == "XY") << so_far;
  }
}

// The engine with a tokenizer: text in the output and the events, stop strings finish the
// request. Qwen3's ids 0..15 are the characters '!' (33) to '0' (48).
TEST(TextStream, EngineStopsOnAStopStringAndReportsText) {
  CpuBackend backend{1};
  CountingModel model;
  EngineOptions o;
  o.num_kv_blocks = 16;
  o.block_size = 4;
  o.tokenizer = qwen3();
  Engine engine(model, backend, o);
  RequestOutput done;
  std::string events;
  SamplingParams p;
  p.temperature = 0;
  p.max_tokens = 10;
  p.stop = {"$%"};
  RequestSink sink;
  sink.on_token = [&](const TokenEvent& e) { events += e.text; };
  sink.on_finish = [&](RequestOutput&& out) { done = std::move(out); };
  ASSERT_TRUE(engine.add_request({{0}, p}, std::move(sink)).ok());
  while (engine.has_unfinished())
    engine.step();
  EXPECT_EQ(done.finish_reason, "stop");
  EXPECT_EQ(done.stop_string, "$%");
  EXPECT_EQ(done.text, "\"#");
  EXPECT_EQ(events, "\"#");
  EXPECT_EQ(done.output_token_ids, (std::vector<int32_t>{1, 2, 3, 4}));

  // A stop token id ends the request; its text is left out unless asked for.
  for (bool include : {false, true}) {
    SamplingParams q;
    q.temperature = 0;
    q.max_tokens = 10;
    q.stop_token_ids = {3};  // '$'
    q.include_stop_str_in_output = include;
    RequestOutput out;
    RequestSink s2;
    s2.on_finish = [&](RequestOutput&& o2) { out = std::move(o2); };
    ASSERT_TRUE(engine.add_request({{0}, q}, std::move(s2)).ok());
    while (engine.has_unfinished())
      engine.step();
    EXPECT_EQ(out.output_token_ids, (std::vector<int32_t>{1, 2, 3}));
    EXPECT_EQ(out.text, include ? "\"#$" : "\"#");
  }

  // Without a tokenizer a stop string is refused up front.
  EngineOptions bare = o;
  bare.tokenizer = nullptr;
  Engine plain(model, backend, bare);
  auto refused = plain.add_request({{0}, p}, {});
  EXPECT_NE(refused.status().message().find("stop strings"), std::string::npos);
}

}  // namespace
}  // namespace sieve
