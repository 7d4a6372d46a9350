// The harmony parser over real gpt-oss token ids, case by case from the format's rules: every
// case is fed whole and one id at a time (parse_both_ways checks the two agree).
#include "engine/text/harmony/harmony_parser.h"

#include <gtest/gtest.h>

#include "engine/text/harmony/tests/harmony_test_util.h"

namespace sieve {
namespace {

using testing::gpt_oss_harmony_tokens;
using testing::gpt_oss_tokenizer;
using testing::harmony_ids;
using testing::parse_both_ways;

using Calls = std::vector<ChatToolCall>;

TEST(HarmonyParser, FindsTheSpecialTokensByName) {
  const HarmonyTokens t = gpt_oss_harmony_tokens();
  const auto& tok = *gpt_oss_tokenizer();
  EXPECT_EQ(t.start, *tok.token_to_id("<|start|>"));
  EXPECT_EQ(t.call, *tok.token_to_id("<|call|>"));
  EXPECT_EQ(t.ret, *tok.token_to_id("<|return|>"));
  EXPECT_EQ(harmony_ids("<|channel|>"), std::vector<int32_t>{t.channel});
}

TEST(HarmonyParser, AnalysisThenFinal) {
  const ChatDelta d = parse_both_ways(
      harmony_ids("<|channel|>analysis<|message|>User asks 2+2. Simple.<|end|>"
                  "<|start|>assistant<|channel|>final<|message|>2+2 = 4.<|return|>"));
  EXPECT_EQ(d.reasoning, "User asks 2+2. Simple.");
  EXPECT_EQ(d.content, "2+2 = 4.");
  EXPECT_TRUE(d.tool_calls.empty());
}

TEST(HarmonyParser, FinalOnly) {
  const ChatDelta d = parse_both_ways(harmony_ids("<|channel|>final<|message|>Hi.<|return|>"));
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Hi.");
}

TEST(HarmonyParser, ToolCallWithTheRecipientAfterTheRole) {
  // The output continues "<|start|>assistant", so the header starts at " to=".
  const ChatDelta d = parse_both_ways(harmony_ids(
      " to=functions.get_weather<|channel|>commentary json<|message|>{\"city\": \"Paris\"}"
      "<|call|>"));
  EXPECT_EQ(d.tool_calls, (Calls{{"get_weather", "{\"city\": \"Paris\"}"}}));
  EXPECT_EQ(d.content, "");
  EXPECT_EQ(d.reasoning, "");
}

TEST(HarmonyParser, ToolCallWithTheRecipientAfterTheChannel) {
  const ChatDelta d = parse_both_ways(harmony_ids(
      "<|channel|>analysis<|message|>Need the weather.<|end|>"
      "<|start|>assistant<|channel|>commentary to=functions.get_weather <|constrain|>json"
      "<|message|>{\"location\":\"San Francisco\"}<|call|>"));
  EXPECT_EQ(d.reasoning, "Need the weather.");
  EXPECT_EQ(d.tool_calls, (Calls{{"get_weather", "{\"location\":\"San Francisco\"}"}}));
  EXPECT_EQ(d.content, "");
}

TEST(HarmonyParser, CommentaryWithoutRecipientIsAPreambleInContent) {
  const ChatDelta d = parse_both_ways(harmony_ids(
      "<|channel|>commentary<|message|>Let me look that up.<|end|>"
      "<|start|>assistant to=functions.lookup<|channel|>commentary json<|message|>{}<|call|>"));
  EXPECT_EQ(d.content, "Let me look that up.");
  EXPECT_EQ(d.tool_calls, (Calls{{"lookup", "{}"}}));
}

TEST(HarmonyParser, SeveralCallsInOneTurnKeepTheirOrder) {
  const ChatDelta d = parse_both_ways(
      harmony_ids(" to=functions.a<|channel|>commentary json<|message|>{\"x\": 1}<|call|>"
                  "<|start|>assistant to=functions.b<|channel|>commentary json<|message|>{\"y\": "
                  "[2]}<|call|>"));
  EXPECT_EQ(d.tool_calls, (Calls{{"a", "{\"x\": 1}"}, {"b", "{\"y\": [2]}"}}));
}

TEST(HarmonyParser, MultiByteCharactersAreNeverSplit) {
  const ChatDelta d = parse_both_ways(
      harmony_ids("<|channel|>analysis<|message|>用户说中文 😀<|end|>"
                  "<|start|>assistant<|channel|>final<|message|>九 — 😀🎉 ok<|return|>"));
  EXPECT_EQ(d.reasoning, "用户说中文 😀");
  EXPECT_EQ(d.content, "九 — 😀🎉 ok");
}

TEST(HarmonyParser, MarkersWrittenAsPlainTextStayText) {
  // "<|end|>" spelled with ordinary tokens is text, not the end of the message.
  std::vector<int32_t> ids = harmony_ids("<|channel|>final<|message|>type ");
  for (const char* piece : {"<|", "end", "|>", " here"}) {
    const auto more = harmony_ids(piece);
    ids.insert(ids.end(), more.begin(), more.end());
  }
  ids.push_back(gpt_oss_harmony_tokens().ret);
  EXPECT_EQ(parse_both_ways(ids).content, "type <|end|> here");
}

TEST(HarmonyParser, IdsOutsideTheVocabularyAddNothing) {
  std::vector<int32_t> ids = harmony_ids("<|channel|>final<|message|>ok");
  ids.push_back(gpt_oss_tokenizer()->vocab_size() + 5);
  ids.push_back(-1);
  EXPECT_EQ(parse_both_ways(ids).content, "ok");
}

// ---- Output that is not well-formed harmony: kept as text, never dropped. ----

TEST(HarmonyParser, BodiesCutOffAtMaxTokensKeepWhatWasWritten) {
  EXPECT_EQ(parse_both_ways(harmony_ids("<|channel|>analysis<|message|>Thinking abou")).reasoning,
            "Thinking abou");
  const ChatDelta d = parse_both_ways(
      harmony_ids("<|channel|>analysis<|message|>Done.<|end|><|start|>assistant<|channel|>final"
                  "<|message|>The answ"));
  EXPECT_EQ(d.reasoning, "Done.");
  EXPECT_EQ(d.content, "The answ");
}

TEST(HarmonyParser, AnUnfinishedHeaderIsContent) {
  const ChatDelta d = parse_both_ways(
      harmony_ids("<|channel|>analysis<|message|>Hm.<|end|><|start|>assistant<|channel|>fin"));
  EXPECT_EQ(d.reasoning, "Hm.");
  EXPECT_EQ(d.content, "<|start|>assistant<|channel|>fin");
}

TEST(HarmonyParser, AnUnfinishedToolCallIsContent) {
  const std::string text = " to=functions.f<|channel|>commentary json<|message|>{\"a\": 1";
  const ChatDelta d = parse_both_ways(harmony_ids(text));
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, text);
}

TEST(HarmonyParser, AToolCallRunningIntoTheNextMessageIsContent) {
  const ChatDelta d =
      parse_both_ways(harmony_ids(" to=functions.f<|channel|>commentary json<|message|>{\"a\": 1}"
                                  "<|start|>assistant<|channel|>final<|message|>ok<|return|>"));
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, " to=functions.f<|channel|>commentary json<|message|>{\"a\": 1}ok");
}

TEST(HarmonyParser, ArgumentsThatAreNotAJsonObjectAreContent) {
  for (const std::string args : {"{city: Paris}", "{\"city\": \"Par", "[1, 2]", ""}) {
    SCOPED_TRACE(args);
    const std::string message =
        "<|channel|>commentary to=functions.get_weather <|constrain|>json<|message|>" + args;
    const ChatDelta d = parse_both_ways(harmony_ids(
        "<|channel|>analysis<|message|>Call it.<|end|><|start|>assistant" + message + "<|call|>"));
    EXPECT_EQ(d.reasoning, "Call it.");
    EXPECT_TRUE(d.tool_calls.empty());
    EXPECT_EQ(d.content, "<|start|>assistant" + message);
  }
}

TEST(HarmonyParser, AnUnknownChannelIsContentAndParsingGoesOn) {
  const ChatDelta d =
      parse_both_ways(harmony_ids("<|channel|>thoughts<|message|>hmm<|end|>"
                                  "<|start|>assistant<|channel|>final<|message|>ok<|return|>"));
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "<|channel|>thoughts<|message|>hmmok");
}

TEST(HarmonyParser, TextWithoutAnyMarkersIsContent) {
  const ChatDelta d = parse_both_ways(harmony_ids("Hello there, no harmony here.<|return|>"));
  EXPECT_EQ(d.content, "Hello there, no harmony here.");
  EXPECT_EQ(d.reasoning, "");
}

TEST(HarmonyParser, GarbageHeadersAreContent) {
  for (const std::string header :
       {"<|start|>user<|channel|>final",                   // not the assistant's message
        "<|start|>assistant",                              // no channel
        "<|start|>assistant<|channel|>final extra words",  // words that fit nowhere
        "<|start|>assistant to=functions.a<|channel|>commentary to=functions.b",  // two
        "<|start|>assistant<|channel|>final<|channel|>final"}) {
    SCOPED_TRACE(header);
    const ChatDelta d =
        parse_both_ways(harmony_ids("<|channel|>final<|message|>A.<|end|>" + header +
                                    "<|message|>B<|end|>"
                                    "<|start|>assistant<|channel|>final<|message|>C<|return|>"));
    EXPECT_EQ(d.content, "A." + header + "<|message|>BC");
    EXPECT_EQ(d.reasoning, "");
  }
}

TEST(HarmonyParser, ARecipientThatIsNotAFunctionIsContent) {
  const std::string msg = "<|channel|>analysis to=python code<|message|>print(1)";
  const ChatDelta d = parse_both_ways(harmony_ids(msg + "<|call|>"));
  EXPECT_TRUE(d.tool_calls.empty());
  EXPECT_EQ(d.content, msg);
}

TEST(HarmonyParser, AHeaderThatNeverEndsIsStreamedAsText) {
  std::string text;
  for (int i = 0; i < 200; ++i)
    text += " word";
  const std::vector<int32_t> ids = harmony_ids(text);
  ASSERT_GT(ids.size(), HarmonyParser::kMaxHeaderTokens);
  HarmonyParser p(gpt_oss_tokenizer(), gpt_oss_harmony_tokens());
  std::string streamed;
  for (int32_t id : ids)
    streamed += p.push(id).content;
  // Not held back to the end: all but what the decoder holds has come out.
  EXPECT_GT(streamed.size(), text.size() / 2);
  streamed += p.finish().content;
  EXPECT_EQ(streamed, text);
  EXPECT_EQ(parse_both_ways(ids).content, text);
}

TEST(HarmonyParser, AfterFinishANewTurnStarts) {
  HarmonyParser p(gpt_oss_tokenizer(), gpt_oss_harmony_tokens());
  p.push(harmony_ids("<|channel|>final<|message|>one"));
  p.finish();
  p.push(harmony_ids("<|channel|>final<|message|>two<|return|>"));
  EXPECT_EQ(p.output().content, "onetwo");
}

}  // namespace
}  // namespace sieve
