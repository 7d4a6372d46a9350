// End-to-end tests of text in and out of the `sieve` binary: `sieve tokenize` and
// `sieve chat-template` against the Hugging Face goldens, and text and chat prompts through
// `sieve run` on a checkpoint that ships a real tokenizer.
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "engine/text/chat_output/chat_format.h"
#include "engine/text/harmony/harmony_parser.h"
#include "engine/text/prompt_encoder.h"
#include "engine/text/tokenizer/tokenizer.h"
#include "tests/support/fixtures.h"
#include "tests/support/subprocess.h"

namespace sieve::testing {
namespace {

using json = nlohmann::ordered_json;

Proc run_sieve(const std::string& args) {
  return run_binary(SIEVE_BINARY, args);
}

std::vector<json> parse_jsonl(const std::string& text) {
  std::vector<json> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::string write_jsonl(const std::string& dir, const std::string& name,
                        const std::vector<json>& lines) {
  const std::string path = dir + "/" + name;
  std::ofstream out(path);
  for (const json& l : lines)
    out << l.dump() << '\n';
  return path;
}

const char* kTokenizers[] = {"qwen3", "gpt-oss", "deepseek-v3"};

TEST(SieveTextCli, TokenizeMatchesTheGoldensBothWays) {
  for (const char* name : kTokenizers) {
    SCOPED_TRACE(name);
    const std::string golden_path = fixture_path(std::string("golden/tokenize/") + name + ".jsonl");
    const auto golden = parse_jsonl(slurp(golden_path));
    const std::string tok = fixture_path(std::string("tokenizers/") + name);
    Proc enc = run_sieve("tokenize --tokenizer " + tok + " --input " + golden_path);
    ASSERT_EQ(enc.code, 0) << enc.err;
    const auto ids = parse_jsonl(enc.out);
    ASSERT_EQ(ids.size(), golden.size());
    for (size_t i = 0; i < golden.size(); ++i) {
      EXPECT_EQ(ids[i]["ids"], golden[i]["ids"]) << golden[i]["text"];
    }
    // The golden lines carry "ids" too, so the same file decodes.
    Proc dec = run_sieve("tokenize --decode --tokenizer " + tok + "/tokenizer.json --input " +
                         golden_path);
    ASSERT_EQ(dec.code, 0) << dec.err;
    const auto texts = parse_jsonl(dec.out);
    ASSERT_EQ(texts.size(), golden.size());
    for (size_t i = 0; i < golden.size(); ++i) {
      const json& want = golden[i].contains("decoded") ? golden[i]["decoded"] : golden[i]["text"];
      EXPECT_EQ(texts[i]["text"], want);
    }
  }
}

TEST(SieveTextCli, TokenizeReportsBadLinesAndKeepsGoing) {
  const std::string dir = make_temp_dir("tok-bad");
  const std::string in =
      write_jsonl(dir, "in.jsonl",
                  {json{{"id", "a"}, {"text", "Hello world"}}, json{{"id", "b"}, {"text", 42}},
                   json::array({1, 2}), json{{"text", "<|im_end|>"}}});
  std::ofstream(in, std::ios::app) << "{broken\n";
  Proc p = run_sieve("tokenize --tokens --add-special-tokens --tokenizer " +
                     fixture_path("tokenizers/qwen3") + " --input " + in);
  ASSERT_EQ(p.code, 0) << p.err;
  const auto out = parse_jsonl(p.out);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0]["id"], "a");
  EXPECT_EQ(out[0]["ids"], json::array({9707, 1879}));
  EXPECT_EQ(out[0]["tokens"], json::array({"Hello", "Ġworld"}));
  EXPECT_EQ(out[1]["id"], "b");
  EXPECT_NE(out[1]["error"].get<std::string>().find("text"), std::string::npos);
  EXPECT_NE(out[2]["error"].get<std::string>().find("JSON object"), std::string::npos);
  EXPECT_EQ(out[3]["ids"], json::array({151645}));  // a special added token, matched whole
  EXPECT_EQ(out[4]["id"], 5);
  EXPECT_NE(out[4]["error"].get<std::string>().find("not valid JSON"), std::string::npos);

  const std::string ids =
      write_jsonl(dir, "ids.jsonl", {json{{"ids", {9707, 151645}}}, json{{"ids", {-1}}}});
  Proc skip = run_sieve("tokenize --decode --skip-special-tokens --tokenizer " +
                        fixture_path("tokenizers/qwen3") + " --input " + ids);
  ASSERT_EQ(skip.code, 0) << skip.err;
  const auto dec = parse_jsonl(skip.out);
  ASSERT_EQ(dec.size(), 2u);
  EXPECT_EQ(dec[0]["text"], "Hello");
  EXPECT_NE(dec[1]["error"].get<std::string>().find("token ids"), std::string::npos);

  Proc missing = run_sieve("tokenize --tokenizer " + dir + " --input " + in);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("tokenizer.json"), std::string::npos) << missing.err;
}

TEST(SieveTextCli, ChatTemplateMatchesTheGoldens) {
  for (const char* name : kTokenizers) {
    SCOPED_TRACE(name);
    const auto golden =
        parse_jsonl(slurp(fixture_path(std::string("golden/chat_template/") + name + ".jsonl")));
    std::vector<json> lines;
    for (const json& g : golden) {
      json line = {{"id", g["name"]}, {"messages", g["messages"]}};
      for (const auto& [k, v] : g["kwargs"].items())
        line[k] = v;
      lines.push_back(line);
    }
    const std::string dir = make_temp_dir("chat");
    Proc p = run_sieve("chat-template --date 2025-01-15 --model " +
                       fixture_path(std::string("tokenizers/") + name) + " --input " +
                       write_jsonl(dir, "in.jsonl", lines));
    ASSERT_EQ(p.code, 0) << p.err;
    const auto out = parse_jsonl(p.out);
    ASSERT_EQ(out.size(), golden.size());
    for (size_t i = 0; i < golden.size(); ++i) {
      EXPECT_EQ(out[i]["id"], golden[i]["name"]);
      EXPECT_EQ(out[i]["prompt"], golden[i]["rendered"]) << golden[i]["name"];
    }
  }
}

TEST(SieveTextCli, ChatTemplateReportsBadInput) {
  const std::string dir = make_temp_dir("chat-bad");
  const std::string in =
      write_jsonl(dir, "in.jsonl",
                  {json{{"messages", "hello"}}, json{{"messages", {{{"content", "no role"}}}}},
                   json{{"tools", json::array()}}});
  Proc p =
      run_sieve("chat-template --model " + fixture_path("tokenizers/qwen3") + " --input " + in);
  ASSERT_EQ(p.code, 0) << p.err;
  const auto out = parse_jsonl(p.out);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_NE(out[0]["error"].get<std::string>().find("messages"), std::string::npos);
  EXPECT_NE(out[1]["error"].get<std::string>().find("role"), std::string::npos);
  EXPECT_NE(out[2]["error"].get<std::string>().find("messages"), std::string::npos);
  Proc bad_date = run_sieve("chat-template --date 2025-02-30 --model " +
                            fixture_path("tokenizers/qwen3") + " --input " + in);
  EXPECT_EQ(bad_date.code, 1);
  EXPECT_NE(bad_date.err.find("--date"), std::string::npos) << bad_date.err;
  Proc no_template = run_sieve("chat-template --model " + dir + " --input " + in);
  EXPECT_EQ(no_template.code, 1);
  EXPECT_NE(no_template.err.find(dir), std::string::npos) << no_template.err;
}

// make-checkpoint with a real tokenizer → run with text and chat prompts. The prompt ids must
// be the tokenizer's encoding of the text (of the rendered conversation for chat), and "text"
// the decode of the generated ids.
TEST(SieveTextCli, RunTakesTextAndChatPrompts) {
  const std::string dir = make_temp_dir("run-text");
  const std::string tok = fixture_path("tokenizers/qwen3");
  Proc made = run_sieve(
      "make-checkpoint --like qwen3_moe --layers 2 --hidden 64 --heads 2 "
      "--kv-heads 1 --head-dim 32 --tokenizer " +
      tok + " --out " + dir + "/model");
  ASSERT_EQ(made.code, 0) << made.err;
  const json config = json::parse(slurp(dir + "/model/config.json"));
  EXPECT_EQ(config["vocab_size"], 151669);
  EXPECT_EQ(config["eos_token_id"], 151645);  // <|im_end|>, from tokenizer_config.json

  const json messages = json::array({{{"role", "system"}, {"content", "You are terse."}},
                                     {{"role", "user"}, {"content", "Say hi in 中文 😀"}}});
  const std::string in =
      write_jsonl(dir, "in.jsonl",
                  {json{{"id", "text"},
                        {"prompt", "The quick brown fox"},
                        {"max_tokens", 6},
                        {"temperature", 0},
                        {"ignore_eos", true}},
                   json{{"id", "chat"},
                        {"messages", messages},
                        {"max_tokens", 6},
                        {"temperature", 0},
                        {"ignore_eos", true},
                        {"chat_template_kwargs", {{"enable_thinking", false}}}},
                   json{{"id", "both"}, {"prompt", "x"}, {"prompt_token_ids", {1}}},
                   json{{"id", "bad-messages"}, {"messages", {{{"role", 3}}}}},
                   json{{"id", "tools-alone"}, {"prompt", "x"}, {"tools", json::array()}}});
  Proc run =
      run_sieve("run --model " + dir + "/model --input " + in + " --output " + dir + "/out.jsonl");
  ASSERT_EQ(run.code, 0) << run.err;
  const auto out = parse_jsonl(slurp(dir + "/out.jsonl"));
  ASSERT_EQ(out.size(), 5u);
  for (int i : {0, 1})
    ASSERT_FALSE(out[i].contains("error")) << out[i].dump();
  EXPECT_NE(out[2]["error"].get<std::string>().find("exactly one"), std::string::npos);
  EXPECT_NE(out[3]["error"].get<std::string>().find("role"), std::string::npos);
  EXPECT_NE(out[4]["error"].get<std::string>().find("messages"), std::string::npos);

  // The text prompt: the tokenizer's ids (Qwen3 adds no special tokens).
  Proc enc = run_sieve("tokenize --add-special-tokens --tokenizer " + tok + " --input " +
                       write_jsonl(dir, "t.jsonl", {json{{"text", "The quick brown fox"}}}));
  ASSERT_EQ(enc.code, 0) << enc.err;
  EXPECT_EQ(out[0]["prompt_token_ids"], parse_jsonl(enc.out)[0]["ids"]);

  // The chat prompt: the rendered conversation's ids.
  Proc rendered = run_sieve("chat-template --model " + tok + " --input " +
                            write_jsonl(dir, "c.jsonl",
                                        {json{{"messages", messages},
                                              {"add_generation_prompt", true},
                                              {"enable_thinking", false}}}));
  ASSERT_EQ(rendered.code, 0) << rendered.err;
  const std::string prompt = parse_jsonl(rendered.out)[0]["prompt"];
  EXPECT_NE(prompt.find("<|im_start|>assistant\n<think>\n\n</think>"), std::string::npos) << prompt;
  Proc chat_ids = run_sieve("tokenize --tokenizer " + tok + " --input " +
                            write_jsonl(dir, "p.jsonl", {json{{"text", prompt}}}));
  ASSERT_EQ(chat_ids.code, 0) << chat_ids.err;
  EXPECT_EQ(out[1]["prompt_token_ids"], parse_jsonl(chat_ids.out)[0]["ids"]);

  // A stop string cuts the text where it first appears (the same greedy run otherwise).
  {
    const std::string full = out[0]["text"];
    ASSERT_GE(full.size(), 4u) << full;
    const std::string stop = full.substr(full.size() / 2, 2);
    const std::string in2 = write_jsonl(dir, "stop.jsonl",
                                        {json{{"prompt", "The quick brown fox"},
                                              {"max_tokens", 6},
                                              {"temperature", 0},
                                              {"ignore_eos", true},
                                              {"stop", stop}}});
    Proc again = run_sieve("run --model " + dir + "/model --input " + in2 + " --output " + dir +
                           "/stop_out.jsonl");
    ASSERT_EQ(again.code, 0) << again.err;
    const auto cut = parse_jsonl(slurp(dir + "/stop_out.jsonl"));
    EXPECT_EQ(cut[0]["text"], full.substr(0, full.find(stop)));
    EXPECT_EQ(cut[0]["finish_reason"], "stop");
  }

  // "text" is the decode of the generated ids, special tokens left out.
  for (int i : {0, 1}) {
    ASSERT_EQ(out[i]["output_token_ids"].size(), 6u);
    Proc dec =
        run_sieve("tokenize --decode --skip-special-tokens --tokenizer " + tok + " --input " +
                  write_jsonl(dir, "d.jsonl", {json{{"ids", out[i]["output_token_ids"]}}}));
    ASSERT_EQ(dec.code, 0) << dec.err;
    EXPECT_EQ(out[i]["text"], parse_jsonl(dec.out)[0]["text"]);
  }
}

TEST(SieveTextCli, RunWithoutATokenizerRefusesTextLinesOnly) {
  const std::string model = fixture_path("models/olmoe");
  const std::string dir = make_temp_dir("no-tok");
  const std::string in =
      write_jsonl(dir, "in.jsonl",
                  {json{{"id", 1}, {"prompt", "hello"}},
                   json{{"id", 2}, {"prompt_token_ids", {1, 2, 3}}, {"max_tokens", 2}}});
  Proc p = run_sieve("run --dtype fp32 --model " + model + " --input " + in + " --output " + dir +
                     "/out.jsonl");
  ASSERT_EQ(p.code, 0) << p.err;
  const auto out = parse_jsonl(slurp(dir + "/out.jsonl"));
  ASSERT_EQ(out.size(), 2u);
  EXPECT_NE(out[0]["error"].get<std::string>().find("tokenizer"), std::string::npos);
  EXPECT_EQ(out[1]["output_token_ids"].size(), 2u);
  EXPECT_FALSE(out[1].contains("text"));

  Proc bad = run_sieve("run --model " + model + " --tokenizer " + dir + " --input " + in +
                       " --output " + dir + "/out2.jsonl");
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("tokenizer.json"), std::string::npos) << bad.err;
}

// A checkpoint with gpt-oss's tokenizer and template speaks harmony (detected from those files,
// whatever the weights): `sieve run` parses its chat lines into content, reasoning_content and
// tool_calls beside the raw text, with the template told reasoning_effort; text lines stay raw.
TEST(SieveTextCli, RunParsesHarmonyChatLines) {
  const std::string dir = make_temp_dir("run-harmony");
  const std::string tok = fixture_path("tokenizers/gpt-oss");
  Proc made = run_sieve(
      "make-checkpoint --like qwen3_moe --layers 1 --hidden 64 --heads 2 --kv-heads 1 "
      "--head-dim 32 --tie-embeddings --tokenizer " +
      tok + " --out " + dir + "/model");
  ASSERT_EQ(made.code, 0) << made.err;
  const json chat = {{"role", "user"}, {"content", "What is 2+2?"}};
  const std::string in = write_jsonl(
      dir, "in.jsonl",
      {json{{"id", "chat"}, {"messages", {chat}}, {"max_tokens", 12}, {"reasoning_effort", "low"}},
       json{{"id", "text"}, {"prompt", "2+2="}, {"max_tokens", 4}},
       json{{"id", "bad"}, {"messages", {chat}}, {"reasoning_effort", "max"}}});
  Proc run =
      run_sieve("run --model " + dir + "/model --input " + in + " --output " + dir + "/out.jsonl");
  ASSERT_EQ(run.code, 0) << run.err;
  const auto out = parse_jsonl(slurp(dir + "/out.jsonl"));
  ASSERT_EQ(out.size(), 3u);

  auto tokenizer = Tokenizer::load(tok);
  ASSERT_TRUE(tokenizer.ok());
  const HarmonyTokens t = *HarmonyTokens::find(**tokenizer);
  const json& c = out[0];
  ASSERT_FALSE(c.contains("error")) << c.dump();
  const auto prompt_ids = c["prompt_token_ids"].get<std::vector<int32_t>>();
  const std::string prompt = *(*tokenizer)->decode(prompt_ids, false);
  EXPECT_NE(prompt.find("Reasoning: low\n"), std::string::npos) << prompt;
  EXPECT_TRUE(prompt.ends_with("<|start|>assistant")) << prompt;
  // The fields are the parser's reading of the generated ids.
  const auto ids = c["output_token_ids"].get<std::vector<int32_t>>();
  HarmonyParser parser(*tokenizer, t);
  parser.push(ids);
  parser.finish();
  const ChatDelta& want = parser.output();
  ASSERT_TRUE(c.contains("content") && c.contains("reasoning_content")) << c.dump();
  if (want.tool_calls.empty()) {
    EXPECT_EQ(c["content"], want.content);
    EXPECT_FALSE(c.contains("tool_calls"));
  } else {
    EXPECT_EQ(c["tool_calls"].size(), want.tool_calls.size());
    EXPECT_EQ(c["finish_reason"], "tool_calls");
  }
  EXPECT_EQ(c["reasoning_content"], want.reasoning.empty() ? json(nullptr) : json(want.reasoning));
  // <|return|> and <|call|> end the turn: neither appears before the last token.
  for (size_t i = 0; i + 1 < ids.size(); ++i)
    EXPECT_TRUE(ids[i] != t.ret && ids[i] != t.call) << "token " << i;

  EXPECT_FALSE(out[1].contains("error")) << out[1].dump();
  EXPECT_FALSE(out[1].contains("content"));
  EXPECT_FALSE(out[1].contains("reasoning_content"));
  EXPECT_NE(out[2]["error"].get<std::string>().find("reasoning_effort"), std::string::npos);
}

// A checkpoint with Qwen3's tokenizer and template gets qwen3 reasoning and hermes tool calls
// without flags (logged at start-up); `sieve run` fills content and reasoning_content with the
// parser's reading of the generated ids. --reasoning-parser none --tool-call-parser none turns
// it off, and an unknown parser name is refused before the model loads.
TEST(SieveTextCli, RunParsesQwen3ChatLinesAndTakesTheParserFlags) {
  const std::string dir = make_temp_dir("run-qwen3");
  const std::string tok = fixture_path("tokenizers/qwen3");
  Proc made = run_sieve(
      "make-checkpoint --like qwen3_moe --layers 1 --hidden 64 --heads 2 --kv-heads 1 "
      "--head-dim 32 --tie-embeddings --tokenizer " +
      tok + " --out " + dir + "/model");
  ASSERT_EQ(made.code, 0) << made.err;
  const json chat = {{"role", "user"}, {"content", "What is 2+2?"}};
  const std::string in =
      write_jsonl(dir, "in.jsonl",
                  {json{{"id", "chat"}, {"messages", {chat}}, {"max_tokens", 12}},
                   json{{"id", "nothink"},
                        {"messages", {chat}},
                        {"max_tokens", 4},
                        {"chat_template_kwargs", {{"enable_thinking", false}}}}});
  Proc run =
      run_sieve("run --model " + dir + "/model --input " + in + " --output " + dir + "/out.jsonl");
  ASSERT_EQ(run.code, 0) << run.err;
  EXPECT_NE(run.err.find("reasoning parser qwen3, tool-call parser hermes"), std::string::npos)
      << run.err;
  const auto out = parse_jsonl(slurp(dir + "/out.jsonl"));
  ASSERT_EQ(out.size(), 2u);
  auto encoder = PromptEncoder::load(tok);
  ASSERT_TRUE(encoder.ok());
  const auto format = ChatFormat::select(*encoder, {});
  ASSERT_TRUE(format.ok());
  for (const json& c : out) {
    ASSERT_FALSE(c.contains("error")) << c.dump();
    auto parser = format->make_parser(c["prompt_token_ids"].get<std::vector<int32_t>>());
    parser->push(c["output_token_ids"].get<std::vector<int32_t>>());
    parser->finish();
    const ChatDelta& want = parser->output();
    ASSERT_TRUE(c.contains("content") && c.contains("reasoning_content")) << c.dump();
    EXPECT_EQ(c["reasoning_content"],
              want.reasoning.empty() ? json(nullptr) : json(want.reasoning));
    EXPECT_EQ(c.value("tool_calls", json::array()).size(), want.tool_calls.size());
    if (want.tool_calls.empty()) {
      EXPECT_EQ(c["content"], want.content);
    }
  }

  Proc off = run_sieve("run --model " + dir + "/model --input " + in + " --output " + dir +
                       "/off.jsonl --reasoning-parser none --tool-call-parser none");
  ASSERT_EQ(off.code, 0) << off.err;
  EXPECT_NE(off.err.find("no reasoning or tool-call parser"), std::string::npos) << off.err;
  const auto raw = parse_jsonl(slurp(dir + "/off.jsonl"));
  ASSERT_EQ(raw.size(), 2u);
  EXPECT_FALSE(raw[0].contains("content"));
  EXPECT_FALSE(raw[0].contains("reasoning_content"));

  Proc bad = run_sieve("run --model " + dir + "/model --input " + in + " --output " + dir +
                       "/bad.jsonl --tool-call-parser mistral");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("--tool-call-parser"), std::string::npos) << bad.err;
  Proc mixed = run_sieve("run --model " + dir + "/model --input " + in + " --output " + dir +
                         "/bad.jsonl --reasoning-parser harmony --tool-call-parser hermes");
  EXPECT_EQ(mixed.code, 1);
  EXPECT_NE(mixed.err.find("must both be harmony"), std::string::npos) << mixed.err;

  Proc help = run_sieve("serve --help");
  EXPECT_NE(help.out.find("--reasoning-parser"), std::string::npos);
  EXPECT_NE(help.out.find("--tool-call-parser"), std::string::npos);
}

}  // namespace
}  // namespace sieve::testing
