// The harmony parser on the assistant turns of the golden gpt-oss chat-template renders
// (fixtures/golden/chat_template/gpt-oss.jsonl, rendered by @huggingface/jinja): each turn,
// tokenized with the real tokenizer as the model would have generated it after
// "<|start|>assistant", must parse back into the message it was rendered from. And the request
// history as OpenAI clients send it (reasoning_content, tool_calls with string arguments, tool
// messages) must render to the same bytes as the golden once prepare_harmony_messages has
// rewritten it.
#include <chrono>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/text/harmony/harmony_messages.h"
#include "engine/text/harmony/harmony_tokens.h"
#include "engine/text/harmony/tests/harmony_test_util.h"
#include "engine/text/prompt_encoder.h"
#include "tests/support/jsonl.h"

namespace sieve {
namespace {

using json = nlohmann::ordered_json;
using testing::fixture_path;
using testing::harmony_ids;
using testing::parse_both_ways;

constexpr std::string_view kAssistant = "<|start|>assistant";

std::vector<json> goldens() {
  std::vector<json> out;
  for (const auto& row : testing::read_jsonl(fixture_path("golden/chat_template/gpt-oss.jsonl")))
    out.push_back(json::parse(row.dump()));
  return out;
}

// The assistant turns of a render: each run of consecutive assistant messages, as the model
// writes it after the prompt's "<|start|>assistant" (so without that first marker), up to and
// including the marker that ends the turn.
std::vector<std::string> assistant_turns(const std::string& rendered) {
  std::vector<std::string> turns;
  size_t at = rendered.find(kAssistant);
  while (at != std::string::npos) {
    std::string turn;
    size_t pos = at;
    while (rendered.compare(pos, kAssistant.size(), kAssistant) == 0) {
      size_t close = std::string::npos;
      for (std::string_view marker : {"<|end|>", "<|call|>", "<|return|>"}) {
        const size_t m = rendered.find(marker, pos);
        if (m != std::string::npos && (close == std::string::npos || m + marker.size() < close))
          close = m + marker.size();
      }
      if (close == std::string::npos) break;  // the generation prompt: nothing written yet
      turn += rendered.substr(pos, close - pos);
      pos = close;
    }
    if (!turn.empty()) turns.push_back(turn.substr(kAssistant.size()));
    at = rendered.find(kAssistant, pos == at ? at + 1 : pos);
  }
  return turns;
}

TEST(HarmonyGolden, AssistantTurnsParseBackIntoTheirMessages) {
  int turns_checked = 0, calls_checked = 0, reasoning_checked = 0;
  for (const json& g : goldens()) {
    SCOPED_TRACE(g["name"].get<std::string>());
    std::vector<json> assistants;
    for (const json& m : g["messages"]) {
      if (m["role"] == "assistant") assistants.push_back(m);
    }
    const std::vector<std::string> turns = assistant_turns(g["rendered"].get<std::string>());
    ASSERT_EQ(turns.size(), assistants.size());
    for (size_t i = 0; i < turns.size(); ++i) {
      SCOPED_TRACE(turns[i]);
      const json& m = assistants[i];
      const std::vector<int32_t> ids = harmony_ids(turns[i]);
      ASSERT_NE(std::find(ids.begin(), ids.end(), testing::gpt_oss_harmony_tokens().message),
                ids.end());
      const ChatDelta d = parse_both_ways(ids);
      // The template renders an earlier turn's thinking only beside a tool call or at the end
      // of a conversation without a generation prompt.
      const bool thinking_rendered = turns[i].find("<|channel|>analysis") != std::string::npos;
      if (thinking_rendered) {
        EXPECT_EQ(d.reasoning, m["thinking"].get<std::string>());
        ++reasoning_checked;
      } else {
        EXPECT_EQ(d.reasoning, "");
      }
      if (m.contains("tool_calls")) {
        ASSERT_EQ(d.tool_calls.size(), 1u);  // the template renders the first call
        const json& fn = m["tool_calls"][0]["function"];
        EXPECT_EQ(d.tool_calls[0].name, fn["name"].get<std::string>());
        EXPECT_EQ(json::parse(d.tool_calls[0].arguments), fn["arguments"]);
        EXPECT_EQ(d.content, "");
        ++calls_checked;
      } else {
        EXPECT_EQ(d.content, m["content"].get<std::string>());
        EXPECT_TRUE(d.tool_calls.empty());
      }
      ++turns_checked;
    }
  }
  // The fixtures hold three assistant turns: a final answer, thinking + final, thinking + call.
  EXPECT_EQ(turns_checked, 3);
  EXPECT_EQ(calls_checked, 1);
  EXPECT_EQ(reasoning_checked, 2);
}

json openai_history(const json& golden_messages) {
  // The golden conversation as an OpenAI client sends it back: the reasoning it was given as
  // reasoning_content, content null beside tool calls, arguments as a JSON string.
  json out = json::array();
  for (json m : golden_messages) {
    if (m["role"] == "assistant" && m.contains("tool_calls")) {
      m["reasoning_content"] = m["thinking"];
      m.erase("thinking");
      m["content"] = nullptr;
      for (json& call : m["tool_calls"]) {
        call["id"] = "call_abc";
        call["function"]["arguments"] = call["function"]["arguments"].dump(-1);
      }
    }
    if (m["role"] == "tool") m["tool_call_id"] = "call_abc";
    out.push_back(m);
  }
  return out;
}

TEST(HarmonyGolden, OpenAiHistoryRendersLikeTheGolden) {
  ChatTemplateOptions options;
  options.clock = [] {
    using namespace std::chrono;
    return sys_days{year{2025} / January / 15};
  };
  auto encoder = PromptEncoder::load(fixture_path("tokenizers/gpt-oss"), {}, options);
  ASSERT_TRUE(encoder.ok()) << encoder.status().message();
  int checked = 0;
  for (const json& g : goldens()) {
    if (g["name"] != "tool_call_roundtrip") continue;
    ChatTemplateInput in;
    in.messages = openai_history(g["messages"]);
    in.tools = g["kwargs"]["tools"];
    in.add_generation_prompt = true;
    // As sent, the string arguments would render quoted, and null content would not render.
    const auto raw = encoder->render_chat(in);
    EXPECT_TRUE(!raw.ok() || *raw != g["rendered"].get<std::string>());
    prepare_harmony_messages(in.messages);
    const auto rendered = encoder->render_chat(in);
    ASSERT_TRUE(rendered.ok()) << rendered.status().message();
    EXPECT_EQ(*rendered, g["rendered"].get<std::string>());
    ++checked;
  }
  EXPECT_EQ(checked, 1);
}

TEST(HarmonyGolden, DetectedFromTheTokenizerAndTemplateNotTheName) {
  auto gpt_oss = PromptEncoder::load(fixture_path("tokenizers/gpt-oss"));
  ASSERT_TRUE(gpt_oss.ok());
  const std::optional<HarmonyTokens> t = detect_harmony(*gpt_oss);
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->call, *gpt_oss->tokenizer()->token_to_id("<|call|>"));
  for (const char* other : {"qwen3", "deepseek-v3"}) {
    auto e = PromptEncoder::load(fixture_path(std::string("tokenizers/") + other));
    ASSERT_TRUE(e.ok());
    EXPECT_FALSE(detect_harmony(*e).has_value()) << other;
  }
}

TEST(HarmonyMessages, TextPartsAreJoinedAndOtherShapesLeftAlone) {
  json m = json::parse(R"([
    {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
    {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]},
    {"role": "assistant", "content": "x", "thinking": "keep", "reasoning_content": "drop"},
    {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": "not json"}}]},
    "not an object"])");
  prepare_harmony_messages(m);
  EXPECT_EQ(m[0]["content"], "ab");
  EXPECT_TRUE(m[1]["content"].is_array());
  EXPECT_EQ(m[2]["thinking"], "keep");
  EXPECT_EQ(m[3]["tool_calls"][0]["function"]["arguments"], "not json");
  EXPECT_EQ(m[4], "not an object");
}

}  // namespace
}  // namespace sieve
