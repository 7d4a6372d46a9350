// MarkerScanner: markers that are one token are found by id, others in the decoded text, and
// text never ends inside a marker or a UTF-8 character, however the ids are fed.
#include "engine/text/chat_output/marker_scanner.h"

#include <gtest/gtest.h>

#include "engine/text/chat_output/tests/chat_output_test_util.h"

namespace sieve {
namespace {

using Segments = std::vector<MarkerScanner::Segment>;
using testing::fixture_tokenizer;
using testing::ids_of;

// Consecutive text segments joined (feeding one id at a time splits text anywhere).
Segments scan(const std::string& tok, const std::vector<std::string>& markers,
              const std::vector<int32_t>& ids) {
  MarkerScanner s(fixture_tokenizer(tok), markers);
  Segments raw;
  for (int32_t id : ids)
    s.push(id, raw);
  s.finish(raw);
  Segments out;
  for (auto& seg : raw) {
    EXPECT_TRUE(tok::is_valid_utf8(seg.text));
    if (seg.marker < 0 && !out.empty() && out.back().marker < 0) {
      out.back().text += seg.text;
    } else if (seg.marker >= 0 || !seg.text.empty()) {
      out.push_back(seg);
    }
  }
  return out;
}

TEST(MarkerScanner, OneTokenMarkersByIdOthersInText) {
  EXPECT_TRUE(MarkerScanner::is_one_token(*fixture_tokenizer("qwen3"), "<think>"));
  EXPECT_FALSE(MarkerScanner::is_one_token(*fixture_tokenizer("deepseek-v3"), "<think>"));
  const Segments got = scan("deepseek-v3", {"<think>", "</think>", "<｜tool▁sep｜>"},
                            ids_of("deepseek-v3", "x<think>y 😀</thinking></think><｜tool▁sep｜>"));
  const Segments want = {
      {-1, "x"}, {0, "<think>"}, {-1, "y 😀</thinking>"}, {1, "</think>"}, {2, "<｜tool▁sep｜>"}};
  EXPECT_EQ(got, want);
}

TEST(MarkerScanner, SpecialTokensAreSkipped) {
  const Segments got = scan("qwen3", {"<think>"}, ids_of("qwen3", "<think>a<|im_end|>"));
  EXPECT_EQ(got, (Segments{{0, "<think>"}, {-1, "a"}}));
}

TEST(MarkerScanner, APrefixAtTheEndIsTextAtFinish) {
  const Segments got = scan("deepseek-v3", {"</think>"}, ids_of("deepseek-v3", "a </thi"));
  EXPECT_EQ(got, (Segments{{-1, "a </thi"}}));
}

}  // namespace
}  // namespace sieve
