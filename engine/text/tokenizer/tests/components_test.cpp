// Components on small hand-made tokenizer files (tests/data/*.json). Expected values are what
// Hugging Face `tokenizers` 0.23.2 gives for the same files and strings
// (tools/bench/tokenizer/reference_cases.js prints them).
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "engine/text/tokenizer/tests/tokenizer_test_util.h"

namespace sieve::testing {
namespace {

std::string data_file(const std::string& name) {
  std::ifstream in(std::string(SIEVE_TOKENIZER_TEST_DATA) + "/" + name);
  EXPECT_TRUE(in.good()) << "missing test data " << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

std::shared_ptr<const Tokenizer> data_tokenizer(const std::string& name) {
  return from_json_or_die(data_file(name));
}

using Ids = std::vector<int32_t>;

Ids encode(const Tokenizer& t, const std::string& text, bool special = false) {
  auto r = t.encode(text, special);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : Ids{};
}

std::string decode(const Tokenizer& t, const Ids& ids, bool skip = false) {
  auto r = t.decode(ids, skip);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  return r.ok() ? *r : std::string();
}

// Llama-2 style: Prepend + Replace normalizers, no pre-tokenizer, byte_fallback, fused unk,
// TemplateProcessing BOS, decoder Replace + ByteFallback + Fuse + Strip.
TEST(SentencePieceBpe, EncodeDecode) {
  auto t = data_tokenizer("sentencepiece_bpe.json");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(encode(*t, "hello world"), (Ids{271, 276}));
  EXPECT_EQ(encode(*t, "hello world", true), (Ids{1, 271, 276}));
  EXPECT_EQ(encode(*t, "hello wörld"), (Ids{271, 272, 198, 185, 265, 275}));
  EXPECT_EQ(encode(*t, "hi ✓✓ 12"), (Ids{267, 108, 259, 229, 159, 150, 229, 159, 150, 279, 278}));
  EXPECT_EQ(encode(*t, ""), Ids{});
  EXPECT_EQ(encode(*t, "", true), Ids{1});
  EXPECT_EQ(encode(*t, " hello"), (Ids{259, 271}));

  EXPECT_EQ(decode(*t, {271, 276}), "hello world");
  EXPECT_EQ(decode(*t, {1, 271, 276}), "<s> hello world");
  EXPECT_EQ(decode(*t, {1, 271, 276}, true), "hello world");
  EXPECT_EQ(decode(*t, {271, 272, 198, 185, 265, 275}), "hello wörld");
  EXPECT_EQ(decode(*t, {1, 259, 271}), "<s>  hello");
  EXPECT_EQ(decode(*t, {259, 271}), " hello");
  // A lone byte token that is not valid UTF-8 decodes to U+FFFD.
  EXPECT_EQ(decode(*t, {271, 198}), "hello\xEF\xBF\xBD");
  // Byte tokens that do not form UTF-8 give one U+FFFD per token.
  EXPECT_EQ(decode(*t, {198, 185, 185, 271}), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD hello");
  EXPECT_EQ(decode(*t, {229, 159, 271}), "\xEF\xBF\xBD\xEF\xBF\xBD hello");
  EXPECT_EQ(decode(*t, {259, 259, 271}), "  hello");
}

// Metaspace pre-tokenizer with prepend_scheme "first", unk without byte fallback, added tokens
// with lstrip/rstrip and single_word.
TEST(MetaspaceBpe, EncodeDecode) {
  auto t = data_tokenizer("metaspace_bpe.json");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(encode(*t, "hello world"), (Ids{14, 19}));
  EXPECT_EQ(encode(*t, "hello ✓✓ world"), (Ids{14, 2, 0, 19}));  // fused unk
  // [MASK] strips the spaces around it; "world" after it is not at the start, so no ▁.
  EXPECT_EQ(encode(*t, "hello [MASK]  world"), (Ids{14, 23, 7, 16, 18}));
  // single_word: "cat" inside "concat" is not a match.
  EXPECT_EQ(encode(*t, "cat concat cat."), (Ids{24, 2, 0, 6, 0, 2, 24, 0}));
  EXPECT_EQ(encode(*t, "hello<s>world"), (Ids{14, 1, 7, 16, 18}));

  EXPECT_EQ(decode(*t, {14, 19}), "hello world");
  EXPECT_EQ(decode(*t, {14, 2, 0, 19}), "hello <unk> world");
  EXPECT_EQ(decode(*t, {14, 2, 0, 19}, true), "hello  world");
  EXPECT_EQ(decode(*t, {14, 23, 7, 16, 18}), "hello[MASK]world");
  EXPECT_EQ(decode(*t, {24, 2, 0, 6, 0, 2, 24, 0}), "cat <unk>o<unk> cat<unk>");
  EXPECT_EQ(decode(*t, {24, 2, 0, 6, 0, 2, 24, 0}, true), "cat o cat");
  EXPECT_TRUE(t->is_special(23));
  EXPECT_FALSE(t->is_special(24));
}

// Without unk_token or byte_fallback, a character outside the vocabulary is dropped, as
// Hugging Face tokenizers 0.23.2 does (reference_cases.js on the same file with
// "unk_token": null).
TEST(MetaspaceBpe, CharactersWithoutUnkAreDropped) {
  auto j = nlohmann::json::parse(data_file("metaspace_bpe.json"));
  j["model"]["unk_token"] = nullptr;
  auto t = from_json_or_die(j.dump());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(encode(*t, "hello ✓✓ world"), (Ids{14, 2, 19}));
  EXPECT_EQ(encode(*t, "cat ✓o✓ cat✓"), (Ids{24, 2, 6, 2, 24}));
  EXPECT_EQ(decode(*t, {14, 2, 19}), "hello  world");
}

// The Metaspace decoder drops every ▁ of the first token, not only a leading one.
TEST(MetaspaceBpe, DecoderFirstToken) {
  auto j = nlohmann::json::parse(data_file("metaspace_bpe.json"));
  j["model"]["vocab"]["x▁▁y"] = 100;
  j["model"]["vocab"]["▁▁z"] = 101;
  auto t = from_json_or_die(j.dump());
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(decode(*t, {100}), "xy");
  EXPECT_EQ(decode(*t, {101}), "z");
  EXPECT_EQ(decode(*t, {101, 100}), "zx  y");
  EXPECT_EQ(decode(*t, {1, 101}, true), "z");
}

// Strip + NFKC + Lowercase normalizers, Whitespace + Digits pre-tokenizers, unk, a
// Sequence post-processor, no decoder (tokens joined with spaces).
TEST(WhitespaceDigits, EncodeDecode) {
  auto t = data_tokenizer("whitespace_digits.json");
  ASSERT_NE(t, nullptr);
  const Ids a{45, 40, 23, 15, 18, 12, 4, 47, 46, 30, 31, 1, 2, 3};
  EXPECT_EQ(encode(*t, "  ＨELLO, World!! 1234 abc  "), a);
  Ids a_special = a;
  a_special.push_back(0);
  EXPECT_EQ(encode(*t, "  ＨELLO, World!! 1234 abc  ", true), a_special);
  EXPECT_EQ(encode(*t, "Héllo? x1y2"), (Ids{8, 41, 12, 12, 15, 38, 24, 28, 25, 29}));
  EXPECT_EQ(decode(*t, a), "hello , w o r l d !! 12 3 4 a b c");
  EXPECT_EQ(decode(*t, a_special), "hello , w o r l d !! 12 3 4 a b c [UNK]");
  EXPECT_EQ(decode(*t, a_special, true), "hello , w o r l d !! 12 3 4 a b c");
}

// A literal Split (MergedWithPrevious) before a ByteLevel pre-tokenizer with add_prefix_space
// and the GPT-2 regex.
TEST(ByteLevelSplit, EncodeDecode) {
  auto t = data_tokenizer("byte_level_split.json");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(encode(*t, "hello world"), (Ids{260, 265}));
  EXPECT_EQ(encode(*t, "hello--world---x"),
            (Ids{260, 45, 32, 45, 265, 45, 32, 45, 32, 45, 32, 120}));
  EXPECT_EQ(encode(*t, "  hello"), (Ids{32, 260}));
  EXPECT_EQ(decode(*t, {260, 265}), " hello world");
  // Invalid UTF-8 becomes U+FFFD per maximal invalid subpart, as Rust's from_utf8_lossy.
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(decode(*t, {0xE4, 0xBD}), r);
  EXPECT_EQ(decode(*t, {0xE4, 0xBD, 0xA0, 0xFF, 260}), "你" + r + " hello");
  EXPECT_EQ(decode(*t, {0xC0, 0x80, 0xED, 0xA0, 0x80, 0xF0, 0x9F, 0x98}), r + r + r + r + r + r);
  EXPECT_EQ(decode(*t, {260, 45, 32, 45, 265, 45, 32, 45, 32, 45, 32, 120}),
            " hello- - world- - - x");
}

// Replaces the value of `key` (a JSON object or null written in the file) with `value`.
std::string with_section(const std::string& file, const std::string& key,
                         const std::string& value) {
  auto j = nlohmann::json::parse(data_file(file));
  j[key] = nlohmann::json::parse(value);
  return j.dump();
}

void expect_refused(const std::string& json, const std::string& needle) {
  auto t = Tokenizer::from_json(json, "tokenizer.json");
  ASSERT_FALSE(t.ok()) << "expected an error naming " << needle;
  EXPECT_NE(t.status().message().find(needle), std::string::npos) << t.status().to_string();
  EXPECT_NE(t.status().message().find("tokenizer.json"), std::string::npos);
}

TEST(Unsupported, RefusedWithTheirName) {
  const std::string f = "byte_level_split.json";
  expect_refused(with_section(f, "pre_tokenizer", R"({"type": "BertPreTokenizer"})"),
                 "pre_tokenizer type \"BertPreTokenizer\" is not supported");
  expect_refused(with_section(f, "normalizer", R"({"type": "BertNormalizer"})"),
                 "normalizer type \"BertNormalizer\" is not supported");
  expect_refused(
      with_section(f, "normalizer", R"({"type": "Precompiled", "precompiled_charsmap": ""})"),
      "\"Precompiled\"");
  expect_refused(with_section(f, "decoder", R"({"type": "WordPiece", "prefix": "##"})"),
                 "decoder type \"WordPiece\" is not supported");
  expect_refused(with_section(f, "post_processor", R"({"type": "Weird"})"),
                 "post_processor type \"Weird\" is not supported");
  expect_refused(
      with_section(
          f, "post_processor",
          R"({"type": "TemplateProcessing", "single": [{"Sequence": {"id": "B", "type_id": 0}}],
                       "pair": [], "special_tokens": {}})"),
      "sequence \"B\"");
  expect_refused(with_section(f, "truncation", R"({"max_length": 8})"), "truncation");
  expect_refused(
      with_section(
          f, "pre_tokenizer",
          R"({"type": "Split", "pattern": {"Regex": "a"}, "behavior": "Sideways", "invert": false})"),
      "behavior \"Sideways\"");
  expect_refused(
      with_section(f, "pre_tokenizer",
                   R"({"type": "Split", "pattern": {"Regex": "(a"}, "behavior": "Isolated"})"),
      "regex does not compile");
  auto model = nlohmann::json::parse(data_file(f));
  model["model"]["type"] = "WordPiece";
  expect_refused(model.dump(), "model type \"WordPiece\" is not supported");
  model = nlohmann::json::parse(data_file(f));
  model["model"]["dropout"] = 0.1;
  expect_refused(model.dump(), "dropout");
  model = nlohmann::json::parse(data_file(f));
  model["model"]["continuing_subword_prefix"] = "##";
  expect_refused(model.dump(), "continuing_subword_prefix");
  model = nlohmann::json::parse(data_file(f));
  model["model"]["merges"].push_back({"zz", "yy"});
  expect_refused(model.dump(), "not in vocab");
  EXPECT_FALSE(Tokenizer::from_json("{not json", "tokenizer.json").ok());
  EXPECT_EQ(Tokenizer::load("/nonexistent/tokenizer.json").status().code(), StatusCode::kNotFound);
}

TEST(Load, DirectoryOrFile) {
  auto dir = Tokenizer::load(fixture_path("tokenizers/qwen3"));
  ASSERT_TRUE(dir.ok()) << dir.status().to_string();
  EXPECT_EQ((*dir)->vocab_size(), 151669);
}

// "Merges" given as "a b" strings and as pairs load the same model; ignore_merges picks a
// whole-word vocabulary entry even when merges would not reach it.
TEST(BpeModel, MergeFormsAndIgnoreMerges) {
  auto j = nlohmann::json::parse(data_file("byte_level_split.json"));
  auto strings = j;
  strings["model"]["merges"] = nlohmann::json::array();
  for (const auto& m : j["model"]["merges"])
    strings["model"]["merges"].push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  auto a = from_json_or_die(j.dump());
  auto b = from_json_or_die(strings.dump());
  ASSERT_TRUE(a && b);
  EXPECT_EQ(encode(*a, "hello world --- x"), encode(*b, "hello world --- x"));

  // "Ġhw" is in the vocabulary but no merge builds it.
  j["model"]["vocab"]["Ġhw"] = 300;
  auto plain = from_json_or_die(j.dump());
  j["model"]["ignore_merges"] = true;
  auto ignore = from_json_or_die(j.dump());
  ASSERT_TRUE(plain && ignore);
  EXPECT_EQ(encode(*plain, "hw"), (Ids{256, 119}));
  EXPECT_EQ(encode(*ignore, "hw"), Ids{300});
}

}  // namespace
}  // namespace sieve::testing
