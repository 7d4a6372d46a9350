// Shared by the chat-output parser tests: the real Qwen3 and DeepSeek-V3 tokenizers from the
// fixtures, ids of text as the model writes it (markers become their tokens), and a parser run
// fed whole and fed one id at a time.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "engine/text/chat_output.h"
#include "engine/text/tokenizer/tokenizer.h"
#include "engine/text/tokenizer/utf8.h"
#include "tests/support/fixtures.h"

namespace sieve::testing {

// "qwen3" or "deepseek-v3": fixtures/tokenizers/NAME.
inline std::shared_ptr<const Tokenizer> fixture_tokenizer(const std::string& name) {
  static std::map<std::string, std::shared_ptr<const Tokenizer>> cache;
  auto& tok = cache[name];
  if (!tok) {
    auto t = Tokenizer::load(fixture_path("tokenizers/" + name + "/tokenizer.json"));
    if (!t.ok()) ADD_FAILURE() << t.status().message();
    if (t.ok()) tok = *t;
  }
  return tok;
}

inline std::vector<int32_t> ids_of(const std::string& tokenizer, const std::string& text) {
  auto ids = fixture_tokenizer(tokenizer)->encode(text, /*add_special_tokens=*/false);
  if (!ids.ok()) ADD_FAILURE() << ids.status().message();
  return ids.ok() ? *ids : std::vector<int32_t>{};
}

using ParserFactory = std::function<std::unique_ptr<ChatOutputParser>()>;

// Parses `ids` all at once, then one id at a time, then in chunks of three; checks all agree,
// that the deltas add up to output(), and that no delta splits a UTF-8 character.
inline ChatDelta parse_both_ways(const ParserFactory& make, const std::vector<int32_t>& ids) {
  auto whole = make();
  ChatDelta all = whole->push(ids);
  all.append(whole->finish());
  EXPECT_EQ(all, whole->output());

  auto one = make();
  ChatDelta summed;
  for (int32_t id : ids) {
    const ChatDelta d = one->push(id);
    EXPECT_TRUE(tok::is_valid_utf8(d.reasoning) && tok::is_valid_utf8(d.content))
        << "a delta splits a character after id " << id;
    summed.append(d);
  }
  summed.append(one->finish());
  EXPECT_EQ(summed, all) << "fed one id at a time, the parser says something else";
  EXPECT_EQ(one->output(), all);

  auto chunks = make();
  ChatDelta chunked;
  for (size_t i = 0; i < ids.size(); i += 3) {
    const size_t n = std::min<size_t>(3, ids.size() - i);
    chunked.append(chunks->push(std::span<const int32_t>(ids.data() + i, n)));
  }
  chunked.append(chunks->finish());
  EXPECT_EQ(chunked, all) << "fed in chunks of three, the parser says something else";
  return all;
}

}  // namespace sieve::testing
