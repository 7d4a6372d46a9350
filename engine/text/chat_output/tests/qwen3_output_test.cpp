// Qwen3's output (<think> reasoning, Hermes tool calls) over real Qwen3 token ids, case by case
// from the format: every case is fed whole, one id at a time and in chunks (parse_both_ways).
#include <gtest/gtest.h>

#include "engine/text/chat_output/hermes_tool_calls.h"
#include "engine/text/chat_output/marked_output_parser.h"
#include "engine/text/chat_output/tests/chat_output_test_util.h"
#include "engine/text/chat_output/think_reasoning.h"

namespace sieve {
namespace {

using testing::fixture_tokenizer;
using testing::ids_of;
using Calls = std::vector<ChatToolCall>;

// The parser for a request whose prompt is `prompt` (its end decides where reasoning starts).
testing::ParserFactory qwen3(const std::string& prompt = "<|im_start|>assistant\n") {
  return [prompt] {
    MarkedOutputParser::Options o;
    o.reasoning =
        think_reasoning(ThinkStyle::kQwen3, *fixture_tokenizer("qwen3"), ids_of("qwen3", prompt));
    o.tools = hermes_tool_calls();
    return std::make_unique<MarkedOutputParser>(fixture_tokenizer("qwen3"), std::move(o));
  };
}

ChatDelta parse(const std::string& text, const testing::ParserFactory& make = qwen3()) {
  return testing::parse_both_ways(make, ids_of("qwen3", text));
}

TEST(Qwen3Output, MarkersAreSingleTokens) {
  for (const char* m : {"<think>", "</think>", "<tool_call>", "</tool_call>"})
    EXPECT_EQ(ids_of("qwen3", m).size(), 1u) << m;
}

TEST(Qwen3Output, ThinkThenAnswer) {
  const ChatDelta d = parse("<think>\nThe user asks 2+2.\nSimple.\n</think>\n\n2+2 = 4.<|im_end|>");
  EXPECT_EQ(d.reasoning, "The user asks 2+2.\nSimple.");
  EXPECT_EQ(d.content, "2+2 = 4.");
  EXPECT_TRUE(d.tool_calls.empty());
}

TEST(Qwen3Output, NoThinkBlockIsAllContent) {
  const ChatDelta d = parse("Just an answer, 答え 😀.<|im_end|>");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Just an answer, 答え 😀.");
}

TEST(Qwen3Output, EnableThinkingFalsePromptGivesContent) {
  // The template closed an empty block in the prompt: the output is the answer.
  const auto make = qwen3("<|im_start|>assistant\n<think>\n\n</think>\n\n");
  const ChatDelta d = parse("Four.<|im_end|>", make);
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Four.");
}

TEST(Qwen3Output, PromptThatOpensTheBlockStartsInReasoning) {
  const auto make = qwen3("<|im_start|>assistant\n<think>\n");
  const ChatDelta d = parse("Thinking hard.\n</think>\n\nDone.", make);
  EXPECT_EQ(d.reasoning, "Thinking hard.");
  EXPECT_EQ(d.content, "Done.");
}

TEST(Qwen3Output, ThinkAfterContentIsText) {
  const ChatDelta d = parse("Hello <think>not reasoning</think> bye");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Hello <think>not reasoning</think> bye");
}

TEST(Qwen3Output, MarkerSpelledInPiecesIsText) {
  // "<", "think", ">" as separate tokens: how the model writes text that looks like a marker.
  std::vector<int32_t> ids;
  for (const char* piece : {"<", "think", ">", "x"}) {
    const auto p = ids_of("qwen3", piece);
    ids.insert(ids.end(), p.begin(), p.end());
  }
  const ChatDelta d = testing::parse_both_ways(qwen3(), ids);
  EXPECT_EQ(d.content, "<think>x");
  EXPECT_EQ(d.reasoning, "");
}

TEST(Qwen3Output, OneToolCall) {
  const ChatDelta d = parse(
      "<think>\nNeed weather.\n</think>\n\n<tool_call>\n{\"name\": \"get_weather\", "
      "\"arguments\": {\"city\": \"Paris\", \"unit\": \"celsius\"}}\n</tool_call><|im_end|>");
  EXPECT_EQ(d.reasoning, "Need weather.");
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(d.tool_calls, (Calls{{"get_weather", "{\"city\": \"Paris\", \"unit\": \"celsius\"}"}}));
}

TEST(Qwen3Output, ContentThenSeveralCalls) {
  const ChatDelta d = parse(
      "Let me check both.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": "
      "\"Paris\"}}\n</tool_call>\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": "
      "{\"city\": \"Rome\"}}\n</tool_call>");
  EXPECT_EQ(d.content, "Let me check both.");
  EXPECT_EQ(d.tool_calls, (Calls{{"get_weather", "{\"city\": \"Paris\"}"},
                                 {"get_weather", "{\"city\": \"Rome\"}"}}));
}

TEST(Qwen3Output, CallsArriveWholeWhenTheirMarkerCloses) {
  auto p = qwen3()();
  const auto ids = ids_of("qwen3",
                          "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": 1}}\n</tool_call>"
                          "<tool_call>\n{\"name\": \"g\", \"arguments\": {}}\n</tool_call>");
  std::vector<size_t> call_at;
  for (size_t i = 0; i < ids.size(); ++i) {
    const ChatDelta d = p->push(ids[i]);
    EXPECT_EQ(d.content, "") << "nothing of a call shows as content";
    if (!d.tool_calls.empty()) call_at.push_back(i);
  }
  const int32_t close = ids_of("qwen3", "</tool_call>")[0];
  ASSERT_EQ(call_at.size(), 2u);
  EXPECT_EQ(ids[call_at[0]], close);
  EXPECT_EQ(ids[call_at[1]], close);
  EXPECT_EQ(p->output().tool_calls, (Calls{{"f", "{\"a\": 1}"}, {"g", "{}"}}));
}

TEST(Qwen3Output, ArgumentsAsAStringOfJson) {
  const ChatDelta d =
      parse("<tool_call>\n{\"name\": \"f\", \"arguments\": \"{\\\"a\\\": 1}\"}\n</tool_call>");
  EXPECT_EQ(d.tool_calls, (Calls{{"f", "{\"a\": 1}"}}));
}

TEST(Qwen3Output, BadArgumentsAreContentAsWritten) {
  const std::string bad =
      "<tool_call>\n{\"name\": \"f\", \"arguments\": {city: Paris}}\n</tool_call>";
  const ChatDelta d = parse("Trying.\n" + bad + "<|im_end|>");
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, "Trying." + bad);
}

TEST(Qwen3Output, CallWithoutNameIsContent) {
  const std::string bad = "<tool_call>\n{\"arguments\": {}}\n</tool_call>";
  EXPECT_EQ(parse(bad).content, bad);
  EXPECT_TRUE(parse(bad).tool_calls.empty());
}

TEST(Qwen3Output, GoodCallBesideABadOne) {
  const std::string bad = "<tool_call>\n{\"name\": \"g\", \"arguments\": [1]}\n</tool_call>";
  const ChatDelta d =
      parse("<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>\n" + bad);
  EXPECT_EQ(d.tool_calls, (Calls{{"f", "{}"}}));
  EXPECT_EQ(d.content, bad);
}

TEST(Qwen3Output, UnterminatedCallAtMaxTokensIsContent) {
  const std::string cut = "<tool_call>\n{\"name\": \"get_weather\", \"argum";
  const ChatDelta d = parse("<think>\nok\n</think>\n\n" + cut);
  EXPECT_EQ(d.reasoning, "ok");
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, cut);
}

TEST(Qwen3Output, ReasoningCutOffStaysReasoning) {
  const ChatDelta d = parse("<think>\nOne two three");
  EXPECT_EQ(d.reasoning, "One two three");
  EXPECT_EQ(d.content, "");
}

TEST(Qwen3Output, StrayCloseMarkersAreText) {
  const ChatDelta d = parse("a</tool_call>b</think>c");
  EXPECT_EQ(d.content, "a</tool_call>b</think>c");
}

TEST(Qwen3Output, NewlinesInsideTextAreKept) {
  const ChatDelta d = parse("<think>\nline one\n\nline two\n</think>\n\npara one\n\npara two\n");
  EXPECT_EQ(d.reasoning, "line one\n\nline two");
  // The trailing newline touches no marker: it is the model's text.
  EXPECT_EQ(d.content, "para one\n\npara two\n");
}

TEST(Qwen3Output, ReasoningOnlyParser) {
  const auto make = [] {
    MarkedOutputParser::Options o;
    o.reasoning = ReasoningSyntax{};
    return std::make_unique<MarkedOutputParser>(fixture_tokenizer("qwen3"), std::move(o));
  };
  const std::string call = "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>";
  const ChatDelta d =
      testing::parse_both_ways(make, ids_of("qwen3", "<think>\nr\n</think>\n\n" + call));
  EXPECT_EQ(d.reasoning, "r");
  EXPECT_EQ(d.content, call);
  EXPECT_TRUE(d.tool_calls.empty());
}

TEST(Qwen3Output, WrittenArgumentsOrCanonicalJson) {
  EXPECT_EQ(parse_hermes_call("{\"name\": \"f\", \"arguments\": {\"b\": [1, 2],  \"a\": \"x\"}}")
                ->arguments,
            "{\"b\": [1, 2],  \"a\": \"x\"}");
  // "arguments" before "name": the text cannot be cut out, so the value is written compactly.
  EXPECT_EQ(parse_hermes_call("{\"arguments\": {\"a\": 1}, \"name\": \"f\"}")->arguments,
            "{\"a\":1}");
  EXPECT_FALSE(parse_hermes_call("{\"name\": \"\", \"arguments\": {}}"));
  EXPECT_FALSE(parse_hermes_call("[]"));
}

}  // namespace
}  // namespace sieve
