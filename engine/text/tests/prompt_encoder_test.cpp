// Prompts to ids with the real tokenizers and templates: text prompts get what transformers
// adds (DeepSeek-V3's BOS comes from tokenizer_config.json's add_bos_token, not from
// tokenizer.json), chat prompts are the rendered template encoded without adding anything.
#include "engine/text/prompt_encoder.h"

#include <gtest/gtest.h>

#include "tests/support/fixtures.h"

namespace sieve {
namespace {

PromptEncoder load(const char* name) {
  auto e = PromptEncoder::load(testing::fixture_path(std::string("tokenizers/") + name));
  EXPECT_TRUE(e.ok()) << e.status().message();
  return std::move(*e);
}

TEST(PromptEncoder, TextPromptsGetWhatTransformersAdds) {
  PromptEncoder ds = load("deepseek-v3");
  const int32_t bos = *ds.tokenizer()->token_to_id("<｜begin▁of▁sentence｜>");
  auto plain = ds.tokenizer()->encode("Hello world", false);
  auto text = ds.encode_text("Hello world");
  ASSERT_TRUE(plain.ok() && text.ok());
  ASSERT_EQ(text->size(), plain->size() + 1);
  EXPECT_EQ(text->front(), bos);
  EXPECT_TRUE(std::equal(plain->begin(), plain->end(), text->begin() + 1));
  // Qwen3 adds nothing.
  PromptEncoder qwen = load("qwen3");
  EXPECT_EQ(*qwen.encode_text("Hello world"), (std::vector<int32_t>{9707, 1879}));
}

TEST(PromptEncoder, ChatPromptsAreTheRenderedTemplateWithoutAnotherBos) {
  PromptEncoder ds = load("deepseek-v3");
  ChatTemplateInput in;
  in.messages = nlohmann::ordered_json::parse(R"([{"role": "user", "content": "Hi"}])");
  in.add_generation_prompt = true;
  auto rendered = ds.render_chat(in);
  auto ids = ds.encode_chat(in);
  ASSERT_TRUE(rendered.ok() && ids.ok());
  EXPECT_EQ(rendered->rfind("<｜begin▁of▁sentence｜>", 0), 0u);  // the template writes BOS
  EXPECT_EQ(*ids, *ds.tokenizer()->encode(*rendered, false));
  const int32_t bos = *ds.tokenizer()->token_to_id("<｜begin▁of▁sentence｜>");
  EXPECT_EQ(std::count(ids->begin(), ids->end(), bos), 1);
}

TEST(PromptEncoder, RefusesBadMessagesAndMissingTokenizers) {
  PromptEncoder qwen = load("qwen3");
  ChatTemplateInput in;
  in.messages = nlohmann::ordered_json::parse(R"([{"content": "no role"}])");
  EXPECT_NE(qwen.encode_chat(in).status().message().find("role"), std::string::npos);
  auto missing = PromptEncoder::load(testing::fixture_path("models/qwen3_moe"));
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("tokenizer.json"), std::string::npos);
}

}  // namespace
}  // namespace sieve
