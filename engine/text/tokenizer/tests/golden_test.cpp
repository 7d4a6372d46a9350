// Parity with Hugging Face `tokenizers` on the golden strings of the three real tokenizers.
#include <atomic>
#include <fstream>
#include <thread>

#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/tests/tokenizer_test_util.h"

namespace sieve::testing {

std::vector<GoldenLine> golden_lines(const std::string& name) {
  std::ifstream in(fixture_path("golden/tokenize/" + name + ".jsonl"));
  std::vector<GoldenLine> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    const auto j = nlohmann::json::parse(line);
    GoldenLine g;
    g.text = j.at("text").get<std::string>();
    g.ids = j.at("ids").get<std::vector<int32_t>>();
    g.decoded = j.contains("decoded") ? j.at("decoded").get<std::string>() : g.text;
    lines.push_back(std::move(g));
  }
  return lines;
}

namespace {

class GoldenTest : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldenTest, EncodeMatchesReference) {
  auto tok = real_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  const auto lines = golden_lines(GetParam());
  ASSERT_EQ(lines.size(), 68u);
  for (const GoldenLine& g : lines) {
    auto ids = tok->encode(g.text, /*add_special_tokens=*/false);
    ASSERT_TRUE(ids.ok()) << ids.status().to_string();
    EXPECT_EQ(*ids, g.ids) << "text: " << g.text;
  }
}

TEST_P(GoldenTest, DecodeGivesTextBack) {
  auto tok = real_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  for (const GoldenLine& g : golden_lines(GetParam())) {
    auto text = tok->decode(g.ids, /*skip_special_tokens=*/false);
    ASSERT_TRUE(text.ok()) << text.status().to_string();
    EXPECT_EQ(*text, g.decoded);
  }
}

// None of the three files' post-processors adds tokens: ByteLevel only adjusts offsets (DeepSeek
// adds BOS through tokenizer_config.json's add_bos_token, which is not part of tokenizer.json).
TEST_P(GoldenTest, AddSpecialTokensRunsByteLevelPostProcessor) {
  auto tok = real_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  for (const GoldenLine& g : golden_lines(GetParam())) {
    auto ids = tok->encode(g.text, /*add_special_tokens=*/true);
    ASSERT_TRUE(ids.ok());
    EXPECT_EQ(*ids, g.ids);
  }
}

TEST_P(GoldenTest, VocabularyLookups) {
  auto tok = real_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  for (int32_t id : {0, 1, 100, 1000, tok->vocab_size() - 1}) {
    auto s = tok->id_to_token(id);
    ASSERT_TRUE(s.has_value()) << id;
    EXPECT_EQ(tok->token_to_id(*s), id);
  }
  EXPECT_FALSE(tok->id_to_token(tok->vocab_size()).has_value());
  EXPECT_FALSE(tok->decode(std::vector<int32_t>{tok->vocab_size()}, false).ok());
  EXPECT_FALSE(tok->decode(std::vector<int32_t>{-1}, false).ok());
}

INSTANTIATE_TEST_SUITE_P(Real, GoldenTest, ::testing::Values("qwen3", "gpt-oss", "deepseek-v3"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(QwenAddedTokens, SpecialAndNonSpecial) {
  auto tok = real_tokenizer("qwen3");
  ASSERT_NE(tok, nullptr);
  const int32_t im_start = tok->token_to_id("<|im_start|>").value();
  const int32_t im_end = tok->token_to_id("<|im_end|>").value();
  const int32_t think = tok->token_to_id("<think>").value();
  const int32_t end_think = tok->token_to_id("</think>").value();
  EXPECT_EQ(im_start, 151644);
  EXPECT_EQ(im_end, 151645);
  EXPECT_TRUE(tok->is_special(im_end));
  EXPECT_FALSE(tok->is_special(think));
  EXPECT_EQ(tok->vocab_size(), 151669);

  const std::string text = "<|im_start|>user\n<think>hi</think>ok<|im_end|>";
  auto ids = tok->encode(text, false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 6u);
  EXPECT_EQ(ids->front(), im_start);
  EXPECT_EQ(ids->back(), im_end);
  EXPECT_NE(std::find(ids->begin(), ids->end(), think), ids->end());
  EXPECT_NE(std::find(ids->begin(), ids->end(), end_think), ids->end());
  EXPECT_EQ(*tok->decode(*ids, false), text);
  // <think> is added but not special: it survives skip_special_tokens.
  EXPECT_EQ(*tok->decode(*ids, true), "user\n<think>hi</think>ok");
  // Text glued to a token still splits at it.
  auto glued = tok->encode("abc<|im_end|>def", false);
  ASSERT_TRUE(glued.ok());
  EXPECT_EQ(std::count(glued->begin(), glued->end(), im_end), 1);
}

TEST(DeepSeekAddedTokens, BosIsSpecial) {
  auto tok = real_tokenizer("deepseek-v3");
  ASSERT_NE(tok, nullptr);
  const std::string bos =
      "<\xEF\xBD\x9C"
      "begin\xE2\x96\x81of\xE2\x96\x81sentence\xEF\xBD\x9C>";
  EXPECT_EQ(tok->token_to_id(bos), 0);
  EXPECT_TRUE(tok->is_special(0));
  auto ids = tok->encode(bos + "Hello", true);
  ASSERT_TRUE(ids.ok());
  EXPECT_EQ(ids->front(), 0);
  EXPECT_EQ(*tok->decode(*ids, false), bos + "Hello");
  EXPECT_EQ(*tok->decode(*ids, true), "Hello");
}

TEST(Encode, RejectsInvalidUtf8) {
  auto tok = real_tokenizer("qwen3");
  ASSERT_NE(tok, nullptr);
  EXPECT_FALSE(tok->encode("ab\xFF", false).ok());
}

}  // namespace
}  // namespace sieve::testing

namespace sieve::testing {
namespace {

// One Tokenizer shared by several threads (per-thread caches and PCRE2 state) gives the same
// ids as the goldens on every thread.
TEST(Threads, SharedTokenizerEncodesIdentically) {
  auto tok = real_tokenizer("gpt-oss");
  ASSERT_NE(tok, nullptr);
  const auto lines = golden_lines("gpt-oss");
  std::atomic<int> mismatches{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 20; ++round) {
        for (size_t i = 0; i < lines.size(); ++i) {
          const GoldenLine& g = lines[(i + t * 17) % lines.size()];
          auto ids = tok->encode(g.text, false);
          if (!ids.ok() || *ids != g.ids) ++mismatches;
          auto text = tok->decode(g.ids, false);
          if (!text.ok() || *text != g.decoded) ++mismatches;
        }
      }
    });
  }
  for (auto& th : threads)
    th.join();
  EXPECT_EQ(mismatches.load(), 0);
}

}  // namespace
}  // namespace sieve::testing
