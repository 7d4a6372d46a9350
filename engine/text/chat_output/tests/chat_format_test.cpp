// The choice of parser from the real tokenizers and templates (and the flags), the assistant
// turns of the golden Qwen3 and DeepSeek-V3 renders (fixtures/golden/chat_template, rendered by
// @huggingface/jinja) parsed back into the messages they were rendered from, and the history as
// OpenAI clients send it rendering to the golden bytes once prepare_messages has rewritten it.
#include "engine/text/chat_output/chat_format.h"

#include <fstream>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/text/chat_output/tests/chat_output_test_util.h"

namespace sieve {
namespace {

using json = nlohmann::ordered_json;
using testing::fixture_path;

PromptEncoder encoder_for(const std::string& name) {
  auto e = PromptEncoder::load(fixture_path("tokenizers/" + name));
  EXPECT_TRUE(e.ok()) << e.status().message();
  return std::move(*e);
}

// Read as ordered JSON: the order of a tool's keys is part of what the template renders.
std::vector<json> goldens(const std::string& name) {
  std::ifstream in(fixture_path("golden/chat_template/" + name + ".jsonl"));
  EXPECT_TRUE(in.good()) << name;
  std::vector<json> out;
  std::string line;
  while (std::getline(in, line))
    out.push_back(json::parse(line));
  return out;
}

ChatFormat select(const PromptEncoder& e, const std::string& reasoning = "auto",
                  const std::string& tools = "auto") {
  auto f = ChatFormat::select(e, {reasoning, tools});
  EXPECT_TRUE(f.ok()) << f.status().message();
  return f.ok() ? *f : ChatFormat();
}

TEST(ChatFormat, DetectedFromTheTokenizerAndTemplate) {
  const PromptEncoder qwen3 = encoder_for("qwen3");
  const ChatFormat q = select(qwen3);
  EXPECT_EQ(q.reasoning_parser(), "qwen3");
  EXPECT_EQ(q.tool_call_parser(), "hermes");
  EXPECT_NE(q.describe().find("reasoning parser qwen3, tool-call parser hermes"),
            std::string::npos);

  const ChatFormat d = select(encoder_for("deepseek-v3"));
  EXPECT_EQ(d.reasoning_parser(), "");  // V3's template does not think
  EXPECT_EQ(d.tool_call_parser(), "deepseek_v3");

  const ChatFormat h = select(encoder_for("gpt-oss"));
  EXPECT_EQ(h.reasoning_parser(), "harmony");
  EXPECT_EQ(h.tool_call_parser(), "harmony");
}

TEST(ChatFormat, FlagsChooseAndAreChecked) {
  const PromptEncoder ds = encoder_for("deepseek-v3");
  const ChatFormat f = select(ds, "deepseek_r1", "none");
  EXPECT_EQ(f.reasoning_parser(), "deepseek_r1");
  EXPECT_EQ(f.tool_call_parser(), "");
  EXPECT_FALSE(select(ds, "none", "none").active());
  EXPECT_EQ(select(ds, "none", "none").make_parser({}), nullptr);

  EXPECT_FALSE(validate_chat_parser_flags({"qwen4", "auto"}).ok());
  EXPECT_FALSE(validate_chat_parser_flags({"auto", "mistral"}).ok());
  EXPECT_FALSE(validate_chat_parser_flags({"harmony", "hermes"}).ok());
  EXPECT_TRUE(validate_chat_parser_flags({"harmony", "auto"}).ok());
  // Harmony needs its tokens.
  EXPECT_FALSE(ChatFormat::select(ds, {"harmony", "harmony"}).ok());
}

TEST(ChatFormat, EnableThinkingFalseThroughTheTemplate) {
  const PromptEncoder qwen3 = encoder_for("qwen3");
  const ChatFormat f = select(qwen3);
  ChatTemplateInput in;
  in.messages = json::array({{{"role", "user"}, {"content", "2+2?"}}});
  in.add_generation_prompt = true;
  in.kwargs = {{"enable_thinking", false}};
  const auto prompt = qwen3.encode_chat(in);
  ASSERT_TRUE(prompt.ok());
  auto p = f.make_parser(*prompt);
  p->push(testing::ids_of("qwen3", "4."));
  p->finish();
  EXPECT_EQ(p->output().content, "4.");
  EXPECT_EQ(p->output().reasoning, "");
}

// The text of each assistant turn in a render, as the model wrote it after its opening.
std::vector<std::string> turns(const std::string& rendered, const std::vector<std::string>& opens,
                               const std::vector<std::string>& ends) {
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    size_t at = std::string::npos, open_len = 0;
    for (const auto& o : opens) {
      const size_t f = rendered.find(o, pos);
      if (f < at) {
        at = f;
        open_len = o.size();
      }
    }
    if (at == std::string::npos) return out;
    const size_t start = at + open_len;
    size_t stop = std::string::npos;
    for (const auto& e : ends)
      stop = std::min(stop, rendered.find(e, start));
    if (stop == std::string::npos) return out;  // the generation prompt
    out.push_back(rendered.substr(start, stop - start));
    pos = stop;
  }
}

std::string strip_newlines(std::string s) {
  while (!s.empty() && s.front() == '\n')
    s.erase(0, 1);
  while (!s.empty() && s.back() == '\n')
    s.pop_back();
  return s;
}

TEST(ChatFormatGolden, Qwen3AssistantTurnsParseBack) {
  const PromptEncoder enc = encoder_for("qwen3");
  const ChatFormat f = select(enc);
  const std::vector<int32_t> prompt = testing::ids_of("qwen3", "<|im_start|>assistant\n");
  int checked = 0;
  for (const json& g : goldens("qwen3")) {
    std::vector<json> assistants;
    for (const json& m : g["messages"])
      if (m["role"] == "assistant") assistants.push_back(m);
    const auto ts = turns(g["rendered"], {"<|im_start|>assistant\n"}, {"<|im_end|>"});
    ASSERT_EQ(ts.size(), assistants.size()) << g["name"];
    for (size_t i = 0; i < ts.size(); ++i) {
      const json& m = assistants[i];
      const ChatDelta d = testing::parse_both_ways([&] { return f.make_parser(prompt); },
                                                   testing::ids_of("qwen3", ts[i] + "<|im_end|>"));
      std::string content = m["content"].get<std::string>(), reasoning;
      if (m.contains("reasoning_content")) reasoning = m["reasoning_content"];
      if (const size_t close = content.find("</think>"); close != std::string::npos) {
        reasoning = content.substr(0, close);
        reasoning = reasoning.substr(reasoning.find("<think>") + 7);
        content = content.substr(close + 8);
      }
      // The template renders an earlier turn's reasoning only after the last user query.
      const bool thought = ts[i].find("<think>") != std::string::npos;
      EXPECT_EQ(d.reasoning, thought ? strip_newlines(reasoning) : "") << g["name"];
      EXPECT_EQ(d.content, strip_newlines(content)) << g["name"];
      const json calls = m.value("tool_calls", json::array());
      ASSERT_EQ(d.tool_calls.size(), calls.size()) << g["name"];
      for (size_t k = 0; k < calls.size(); ++k) {
        EXPECT_EQ(d.tool_calls[k].name, calls[k]["function"]["name"]);
        EXPECT_EQ(json::parse(d.tool_calls[k].arguments), calls[k]["function"]["arguments"]);
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 4);
}

TEST(ChatFormatGolden, DeepSeekAssistantTurnsParseBack) {
  const PromptEncoder enc = encoder_for("deepseek-v3");
  const ChatFormat f = select(enc);
  int checked = 0, calls_checked = 0;
  for (const json& g : goldens("deepseek-v3")) {
    std::vector<json> assistants;
    for (const json& m : g["messages"])
      if (m["role"] == "assistant") assistants.push_back(m);
    // An answer after tool outputs follows <｜tool▁outputs▁end｜> rather than <｜Assistant｜>; a
    // single call's turn is cut short by the template at the tool outputs.
    const auto ts = turns(g["rendered"], {"<｜Assistant｜>", "<｜tool▁outputs▁end｜>"},
                          {"<｜end▁of▁sentence｜>", "<｜tool▁outputs▁begin｜>"});
    ASSERT_EQ(ts.size(), assistants.size()) << g["name"];
    for (size_t i = 0; i < ts.size(); ++i) {
      const json& m = assistants[i];
      const ChatDelta d =
          testing::parse_both_ways([&] { return f.make_parser({}); },
                                   testing::ids_of("deepseek-v3", ts[i] + "<｜end▁of▁sentence｜>"));
      EXPECT_EQ(d.content, m["content"].is_null() ? "" : m["content"].get<std::string>());
      const json calls = m.value("tool_calls", json::array());
      ASSERT_EQ(d.tool_calls.size(), calls.size()) << g["name"];
      for (size_t k = 0; k < calls.size(); ++k) {
        EXPECT_EQ(d.tool_calls[k].name, calls[k]["function"]["name"]);
        EXPECT_EQ(d.tool_calls[k].arguments, calls[k]["function"]["arguments"]);
        ++calls_checked;
      }
      ++checked;
    }
  }
  EXPECT_GE(checked, 4);
  EXPECT_EQ(calls_checked, 3);
}

TEST(ChatFormatGolden, OpenAiHistoryRendersLikeTheGolden) {
  for (const std::string name : {"qwen3", "deepseek-v3"}) {
    const PromptEncoder enc = encoder_for(name);
    const ChatFormat f = select(enc);
    int checked = 0;
    for (const json& g : goldens(name)) {
      if (g["name"] != "tool_call_roundtrip") continue;
      // As the openai client sends it: null content beside calls, arguments as a JSON string
      // written the way the model wrote them (which tojson reproduces).
      json messages = g["messages"];
      for (json& m : messages) {
        if (!m.contains("tool_calls")) continue;
        m["content"] = nullptr;
        for (json& c : m["tool_calls"]) {
          json& a = c["function"]["arguments"];
          if (a.is_object()) a = "{\"city\": \"Paris\", \"unit\": \"celsius\"}";
          c["id"] = "call_1";
        }
      }
      ChatTemplateInput in;
      in.messages = messages;
      in.tools = g["kwargs"].value("tools", json());
      in.add_generation_prompt = true;
      f.prepare_messages(in.messages);
      const auto rendered = enc.render_chat(in);
      ASSERT_TRUE(rendered.ok()) << name << ": " << rendered.status().message();
      EXPECT_EQ(*rendered, g["rendered"].get<std::string>()) << name;
      ++checked;
    }
    EXPECT_EQ(checked, 1) << name;
  }
}

TEST(ChatFormatGolden, DeepSeekObjectArgumentsAndEmptyContentStillRenderTheCall) {
  const PromptEncoder enc = encoder_for("deepseek-v3");
  const ChatFormat f = select(enc);
  ChatTemplateInput in;
  in.messages = json::array(
      {{{"role", "user"}, {"content", "Weather?"}},
       {{"role", "assistant"},
        {"content", ""},
        {"tool_calls",
         json::array(
             {{{"type", "function"},
               {"function", {{"name", "get_weather"}, {"arguments", {{"city", "Paris"}}}}}}})}},
       {{"role", "tool"}, {"content", "18C"}}});
  in.add_generation_prompt = true;
  f.prepare_messages(in.messages);
  const auto rendered = enc.render_chat(in);
  ASSERT_TRUE(rendered.ok()) << rendered.status().message();
  EXPECT_NE(rendered->find("<｜tool▁sep｜>get_weather\n```json\n{\"city\":\"Paris\"}\n```"),
            std::string::npos)
      << *rendered;
}

}  // namespace
}  // namespace sieve
