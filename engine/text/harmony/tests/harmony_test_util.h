// Shared by the harmony tests: the real gpt-oss tokenizer from the fixtures, ids of text written
// with harmony markers, and a parser run fed whole and fed one id at a time.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/text/harmony/harmony_parser.h"
#include "engine/text/tokenizer/tokenizer.h"
#include "engine/text/tokenizer/utf8.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {

inline std::shared_ptr<const Tokenizer> gpt_oss_tokenizer() {
  static const std::shared_ptr<const Tokenizer> tok = [] {
    auto t = Tokenizer::load(fixture_path("tokenizers/gpt-oss/tokenizer.json"));
    if (!t.ok()) ADD_FAILURE() << t.status().message();
    return t.ok() ? *t : nullptr;
  }();
  return tok;
}

inline HarmonyTokens gpt_oss_harmony_tokens() {
  auto t = HarmonyTokens::find(*gpt_oss_tokenizer());
  if (!t) ADD_FAILURE() << "the gpt-oss tokenizer lacks harmony's special tokens";
  return t.value_or(HarmonyTokens{});
}

// `text` encoded as the model would write it: "<|channel|>" and the other markers become their
// special ids.
inline std::vector<int32_t> harmony_ids(const std::string& text) {
  auto ids = gpt_oss_tokenizer()->encode(text, /*add_special_tokens=*/false);
  if (!ids.ok()) ADD_FAILURE() << ids.status().message();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

// Parses `ids` twice — all at once, then one id at a time — and checks that both give the same
// result, that the per-id deltas add up to it, and that no delta splits a UTF-8 character.
inline ChatDelta parse_both_ways(const std::vector<int32_t>& ids) {
  const HarmonyTokens tokens = gpt_oss_harmony_tokens();
  HarmonyParser whole(gpt_oss_tokenizer(), tokens);
  ChatDelta all = whole.push(ids);
  all.append(whole.finish());
  EXPECT_EQ(all, whole.output());

  HarmonyParser one(gpt_oss_tokenizer(), tokens);
  ChatDelta summed;
  for (int32_t id : ids) {
    const ChatDelta d = one.push(id);
    EXPECT_TRUE(tok::is_valid_utf8(d.reasoning) && tok::is_valid_utf8(d.content))
        << "a delta splits a character after id " << id;
    summed.append(d);
  }
  summed.append(one.finish());
  EXPECT_EQ(summed, all) << "fed one id at a time, the parser says something else";
  EXPECT_EQ(one.output(), all);
  return all;
}

}  // namespace sieve::testing
