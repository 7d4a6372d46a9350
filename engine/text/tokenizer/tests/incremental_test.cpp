// Streaming decode: deltas concatenate to the full decode and never split a character.
#include <fstream>
#include <sstream>

#include "engine/text/tokenizer/tests/tokenizer_test_util.h"
#include "engine/text/tokenizer/utf8.h"

namespace sieve::testing {
namespace {

int count_replacements(const std::string& s) {
  int n = 0;
  for (size_t i = 0; (i = s.find("\xEF\xBF\xBD", i)) != std::string::npos; i += 3)
    ++n;
  return n;
}

// Streams `ids` one by one and checks every property against the full decode.
void check_stream(const std::shared_ptr<const Tokenizer>& tok, const std::vector<int32_t>& ids,
                  bool skip, const std::string& label) {
  auto full = tok->decode(ids, skip);
  ASSERT_TRUE(full.ok());
  IncrementalDetokenizer detok(tok, skip);
  std::string joined;
  int deltas_replacements = 0;
  for (int32_t id : ids) {
    auto delta = detok.push(id);
    ASSERT_TRUE(delta.ok()) << delta.status().to_string();
    EXPECT_TRUE(tok::is_valid_utf8(*delta)) << label;
    deltas_replacements += count_replacements(*delta);
    joined += *delta;
  }
  const std::string tail = detok.finish();
  EXPECT_TRUE(tok::is_valid_utf8(tail)) << label;
  deltas_replacements += count_replacements(tail);
  joined += tail;
  EXPECT_EQ(joined, *full) << label;
  // No U+FFFD that the full decode does not have.
  EXPECT_LE(deltas_replacements, count_replacements(*full)) << label;
}

class StreamGolden : public ::testing::TestWithParam<std::string> {};

TEST_P(StreamGolden, EveryLineStreamsToTheFullDecode) {
  auto tok = real_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  for (const GoldenLine& g : golden_lines(GetParam())) {
    check_stream(tok, g.ids, false, g.text);
    check_stream(tok, g.ids, true, g.text);
  }
}

INSTANTIATE_TEST_SUITE_P(Real, StreamGolden, ::testing::Values("qwen3", "gpt-oss", "deepseek-v3"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(Stream, HoldsBackSplitCharacters) {
  auto tok = real_tokenizer("qwen3");
  ASSERT_NE(tok, nullptr);
  // A rare emoji and rare CJK come out as several byte-level tokens each.
  const std::string text = "a🦜b 𝒳 龘 🧑‍🚀!";
  auto ids = tok->encode(text, false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GT(ids->size(), 8u);
  IncrementalDetokenizer detok(tok, false);
  std::string joined;
  for (int32_t id : *ids) {
    auto d = detok.push(id);
    ASSERT_TRUE(d.ok());
    EXPECT_FALSE(tok::ends_with_replacement(*d));
    EXPECT_TRUE(tok::is_valid_utf8(*d));
    joined += *d;
  }
  joined += detok.finish();
  EXPECT_EQ(joined, text);
}

TEST(Stream, SpecialTokensAndErrors) {
  auto tok = real_tokenizer("qwen3");
  ASSERT_NE(tok, nullptr);
  auto ids = tok->encode("<|im_start|>assistant\n<think>ok</think> Hi there<|im_end|>", false);
  ASSERT_TRUE(ids.ok());
  check_stream(tok, *ids, true, "chat");
  check_stream(tok, *ids, false, "chat");
  IncrementalDetokenizer detok(tok, false);
  EXPECT_FALSE(detok.push(tok->vocab_size()).ok());
  EXPECT_FALSE(detok.push(-1).ok());
  EXPECT_EQ(detok.finish(), "");
}

// An incomplete character at the very end is flushed by finish() as U+FFFD, like decode.
TEST(Stream, FinishFlushesIncompleteTail) {
  auto tok = real_tokenizer("qwen3");
  ASSERT_NE(tok, nullptr);
  auto ids = tok->encode("🦜", false);
  ASSERT_TRUE(ids.ok());
  ASSERT_GE(ids->size(), 2u);
  std::vector<int32_t> partial(ids->begin(), ids->end() - 1);
  IncrementalDetokenizer detok(tok, false);
  std::string joined;
  for (int32_t id : partial)
    joined += *detok.push(id);
  EXPECT_EQ(joined, "");
  joined += detok.finish();
  EXPECT_EQ(joined, *tok->decode(partial, false));
}

// Decoders that treat the first token specially (Metaspace, Strip) after a skipped token.
TEST(Stream, MetaspaceAndStripDecoders) {
  for (const char* file : {"metaspace_bpe.json", "sentencepiece_bpe.json"}) {
    std::ifstream in(std::string(SIEVE_TOKENIZER_TEST_DATA) + "/" + file);
    std::ostringstream s;
    s << in.rdbuf();
    auto tok = from_json_or_die(s.str());
    ASSERT_NE(tok, nullptr);
    for (const char* text :
         {"hello world hello", " hello  world", "hello<s> world hi ✓ 12", "<s>hello<s><s> world"}) {
      auto ids = tok->encode(text, true);
      ASSERT_TRUE(ids.ok());
      check_stream(tok, *ids, true, std::string(file) + ": " + text);
      check_stream(tok, *ids, false, std::string(file) + ": " + text);
    }
  }
}

}  // namespace
}  // namespace sieve::testing
