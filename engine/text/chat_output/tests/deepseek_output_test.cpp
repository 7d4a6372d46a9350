// DeepSeek-V3's tool calls and DeepSeek-R1-style <think> reasoning over real DeepSeek-V3 token
// ids: the tool-call markers are tokens; "<think>" is not one in this vocabulary, so it is found
// in the decoded text. Every case is fed whole, one id at a time and in chunks.
#include <gtest/gtest.h>

#include "engine/text/chat_output/deepseek_v3_tool_calls.h"
#include "engine/text/chat_output/marked_output_parser.h"
#include "engine/text/chat_output/tests/chat_output_test_util.h"
#include "engine/text/chat_output/think_reasoning.h"

namespace sieve {
namespace {

using testing::fixture_tokenizer;
using testing::ids_of;
using Calls = std::vector<ChatToolCall>;

const std::string kBegin = "<｜tool▁calls▁begin｜>", kEnd = "<｜tool▁calls▁end｜>",
                  kCall = "<｜tool▁call▁begin｜>", kCallEnd = "<｜tool▁call▁end｜>",
                  kSep = "<｜tool▁sep｜>", kEos = "<｜end▁of▁sentence｜>";

std::string call(const std::string& name, const std::string& args) {
  return kCall + "function" + kSep + name + "\n```json\n" + args + "\n```" + kCallEnd;
}

testing::ParserFactory deepseek(bool reasoning, const std::string& prompt = "<｜Assistant｜>") {
  return [=] {
    MarkedOutputParser::Options o;
    if (reasoning)
      o.reasoning = think_reasoning(ThinkStyle::kDeepSeekR1, *fixture_tokenizer("deepseek-v3"),
                                    ids_of("deepseek-v3", prompt));
    o.tools = deepseek_v3_tool_calls();
    return std::make_unique<MarkedOutputParser>(fixture_tokenizer("deepseek-v3"), std::move(o));
  };
}

ChatDelta parse(const std::string& text, const testing::ParserFactory& make = deepseek(false)) {
  return testing::parse_both_ways(make, ids_of("deepseek-v3", text));
}

TEST(DeepSeekOutput, MarkersAreSingleTokensButThinkIsNot) {
  for (const std::string& m : {kBegin, kEnd, kCall, kCallEnd, kSep})
    EXPECT_EQ(ids_of("deepseek-v3", m).size(), 1u) << m;
  EXPECT_GT(ids_of("deepseek-v3", "<think>").size(), 1u);
}

TEST(DeepSeekOutput, PlainAnswer) {
  const ChatDelta d = parse("Paris is 18C, 答え 😀." + kEos);
  EXPECT_EQ(d.content, "Paris is 18C, 答え 😀.");
  EXPECT_TRUE(d.tool_calls.empty());
}

TEST(DeepSeekOutput, OneCall) {
  const ChatDelta d = parse(kBegin + call("get_weather", "{\"city\": \"Paris\"}") + kEnd + kEos);
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(d.tool_calls, (Calls{{"get_weather", "{\"city\": \"Paris\"}"}}));
}

TEST(DeepSeekOutput, ContentThenTwoCalls) {
  const ChatDelta d =
      parse("Checking both.\n" + kBegin + call("get_weather", "{\"city\": \"Paris\"}") + "\n" +
            call("get_time", "{\"tz\": \"CET\", \"n\": [1, 2]}") + kEnd + kEos);
  EXPECT_EQ(d.content, "Checking both.");
  EXPECT_EQ(d.tool_calls, (Calls{{"get_weather", "{\"city\": \"Paris\"}"},
                                 {"get_time", "{\"tz\": \"CET\", \"n\": [1, 2]}"}}));
}

TEST(DeepSeekOutput, EachCallArrivesAtItsEndMarker) {
  auto p = deepseek(false)();
  const auto ids =
      ids_of("deepseek-v3", kBegin + call("f", "{}") + "\n" + call("g", "{\"a\": 1}") + kEnd);
  const int32_t end = ids_of("deepseek-v3", kCallEnd)[0];
  size_t calls = 0;
  for (int32_t id : ids) {
    const ChatDelta d = p->push(id);
    EXPECT_EQ(d.content, "");
    if (!d.tool_calls.empty()) {
      EXPECT_EQ(id, end);
      calls += d.tool_calls.size();
    }
  }
  EXPECT_EQ(calls, 2u);
  EXPECT_TRUE(p->finish().empty());
}

TEST(DeepSeekOutput, SectionNeverClosedKeepsTheCallsMade) {
  const ChatDelta d = parse(kBegin + call("f", "{}") + kEos);
  EXPECT_EQ(d.tool_calls, (Calls{{"f", "{}"}}));
  EXPECT_EQ(d.content, "");
}

TEST(DeepSeekOutput, BadArgumentsAreContentAsWritten) {
  const std::string bad = kBegin + call("f", "{city: Paris}") + kEnd;
  const ChatDelta d = parse(bad + kEos);
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, bad);
}

TEST(DeepSeekOutput, UnknownTypeOrNoFenceIsContent) {
  const std::string other =
      kBegin + kCall + "retrieval" + kSep + "f\n```json\n{}\n```" + kCallEnd + kEnd;
  EXPECT_EQ(parse(other).content, other);
  const std::string unfenced = kBegin + kCall + "function" + kSep + "f\n{}" + kCallEnd + kEnd;
  EXPECT_EQ(parse(unfenced).content, unfenced);
}

TEST(DeepSeekOutput, GoodAndBadCallsInOneSection) {
  const std::string bad = call("g", "[1]");
  const ChatDelta d = parse(kBegin + call("f", "{}") + "\n" + bad + kEnd);
  EXPECT_EQ(d.tool_calls, (Calls{{"f", "{}"}}));
  // The bad call is shown as written; the section's end marker closes the calls that were made.
  EXPECT_EQ(d.content, bad);
}

TEST(DeepSeekOutput, CutOffInsideACallIsContent) {
  const std::string cut = kBegin + kCall + "function" + kSep + "get_weather\n```json\n{\"ci";
  const ChatDelta d = parse(cut);
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, cut);
}

TEST(DeepSeekOutput, R1ReasoningStartsInsideTheBlock) {
  // R1's template ends the prompt with "<think>\n"; the output continues the block.
  const ChatDelta d = parse("Let me think.\n</think>\n\nAnswer." + kEos,
                            deepseek(true, "<｜Assistant｜><think>\n"));
  EXPECT_EQ(d.reasoning, "Let me think.");
  EXPECT_EQ(d.content, "Answer.");
}

TEST(DeepSeekOutput, R1ReasoningOpenedByTheModel) {
  const ChatDelta d = parse("<think>\nHmm, weather.\n</think>\n\n" + kBegin +
                                call("get_weather", "{\"city\": \"Paris\"}") + kEnd + kEos,
                            deepseek(true));
  EXPECT_EQ(d.reasoning, "Hmm, weather.");
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(d.tool_calls, (Calls{{"get_weather", "{\"city\": \"Paris\"}"}}));
}

TEST(DeepSeekOutput, TextMarkerSplitAcrossTokensIsNeverHalfEmitted) {
  auto p = deepseek(true)();
  std::string reasoning;
  for (int32_t id : ids_of("deepseek-v3", "a < b</think>\n\nok")) {
    const ChatDelta d = p->push(id);
    reasoning += d.reasoning;
    EXPECT_EQ(d.reasoning.find("</"), std::string::npos) << "half a marker went out";
    EXPECT_EQ(d.content.find('<'), std::string::npos);
  }
  p->finish();
  EXPECT_EQ(p->output().reasoning, "a < b");
  EXPECT_EQ(p->output().content, "ok");
}

TEST(DeepSeekOutput, R1WithAClosedPromptIsContent) {
  const ChatDelta d = parse("Answer.", deepseek(true, "<｜Assistant｜><think>\n\n</think>\n\n"));
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Answer.");
}

TEST(DeepSeekOutput, R1CutOffWhileThinkingIsReasoning) {
  const ChatDelta d = parse("<think>\nstill going", deepseek(true));
  EXPECT_EQ(d.reasoning, "still going");
  EXPECT_EQ(d.content, "");
}

}  // namespace
}  // namespace sieve
