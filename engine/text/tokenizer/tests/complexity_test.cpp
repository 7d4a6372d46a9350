// Long inputs that defeat naive implementations (quadratic merge loops, per-match UTF-8
// re-validation) must still encode quickly. The time bound is only a loose guard (sanitizer
// builds are slow); tools/bench/tokenizer_bench.sh prints the real figures.
#include <chrono>
#include <cstdio>

#include "engine/text/tokenizer/tests/tokenizer_test_util.h"

namespace sieve::testing {
namespace {

// Release figures are ~0.2-0.6 s; the guard only catches quadratic behaviour.
#if defined(__SANITIZE_ADDRESS__)
constexpr double kGuardSeconds = 60.0;
#elif !defined(NDEBUG)
constexpr double kGuardSeconds = 20.0;
#else
constexpr double kGuardSeconds = 5.0;
#endif

double encode_seconds(const Tokenizer& tok, const std::string& text, std::vector<int32_t>* ids) {
  const auto t0 = std::chrono::steady_clock::now();
  auto r = tok.encode(text, false);
  const auto t1 = std::chrono::steady_clock::now();
  EXPECT_TRUE(r.ok());
  std::printf("  encode of %zu bytes: %.3f s\n", text.size(),
              std::chrono::duration<double>(t1 - t0).count());
  if (r.ok()) *ids = std::move(*r);
  return std::chrono::duration<double>(t1 - t0).count();
}

class Pathological : public ::testing::TestWithParam<std::string> {};

// 1 MB of letters with no space: one regex piece, one enormous BPE word.
TEST_P(Pathological, OneMegabyteWithoutSpaces) {
  auto tok = real_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  std::string text;
  const std::string unit = "abcdefghijklmnopqrstuvwxyzThequickbrownfox";
  while (text.size() < (1 << 20))
    text += unit;
  std::vector<int32_t> ids;
  const double s = encode_seconds(*tok, text, &ids);
  EXPECT_LT(s, kGuardSeconds);
  EXPECT_GT(ids.size(), text.size() / 16);
  EXPECT_LT(ids.size(), text.size());
  EXPECT_EQ(*tok->decode(ids, false), text);
}

// 1 MB of one repeated character.
TEST_P(Pathological, OneMegabyteOfOneCharacter) {
  auto tok = real_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  for (const std::string& ch : {std::string("a"), std::string(" "), std::string("7")}) {
    const std::string text(1 << 20, ch[0]);
    std::vector<int32_t> ids;
    const double s = encode_seconds(*tok, text, &ids);
    EXPECT_LT(s, kGuardSeconds) << "'" << ch << "'";
    // Qwen3 splits digits one by one; everything else merges.
    EXPECT_LE(ids.size(), ch == "7" ? text.size() : text.size() / 2);
    EXPECT_EQ(*tok->decode(ids, false), text);
  }
}

// Many short pieces: the whole 1 MB goes through the regex, with multi-byte characters.
TEST_P(Pathological, OneMegabyteOfMixedScript) {
  auto tok = real_tokenizer(GetParam());
  ASSERT_NE(tok, nullptr);
  std::string text;
  while (text.size() < (1 << 20))
    text += "héllo wörld 你好世界 123 🦜, ";
  std::vector<int32_t> ids;
  const double s = encode_seconds(*tok, text, &ids);
  EXPECT_LT(s, kGuardSeconds);
  EXPECT_EQ(*tok->decode(ids, false), text);
}

INSTANTIATE_TEST_SUITE_P(Real, Pathological, ::testing::Values("qwen3", "gpt-oss", "deepseek-v3"),
                         [](const auto& info) {
                           std::string n = info.param;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

}  // namespace
}  // namespace sieve::testing
