// Loading chat templates from a model folder and rendering the real Qwen3, gpt-oss and
// DeepSeek-V3 templates byte-exactly as the goldens (made with @huggingface/jinja and checked
// against Python Jinja2 as transformers configures it).
#include "engine/text/chat_template/chat_template.h"

#include <chrono>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/support/fixtures.h"

namespace sieve {
namespace {

using json = nlohmann::ordered_json;

std::chrono::system_clock::time_point parse_date(const std::string& ymd) {
  using namespace std::chrono;
  const int y = std::stoi(ymd.substr(0, 4));
  const unsigned m = static_cast<unsigned>(std::stoi(ymd.substr(5, 2)));
  const unsigned d = static_cast<unsigned>(std::stoi(ymd.substr(8, 2)));
  return sys_days{year{y} / month{m} / day{d}};
}

std::vector<json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << "cannot open " << path;
  std::vector<json> rows;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) rows.push_back(json::parse(line));
  }
  return rows;
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

struct GoldenCase {
  const char* model;  // fixtures folder name
};

class GoldenTest : public ::testing::TestWithParam<GoldenCase> {};

TEST_P(GoldenTest, RendersEveryConversationByteExactly) {
  const std::string model = GetParam().model;
  const auto rows = read_jsonl(testing::fixture_path("golden/chat_template/" + model + ".jsonl"));
  ASSERT_GE(rows.size(), 5u);
  for (const json& row : rows) {
    SCOPED_TRACE(model + " / " + row["name"].get<std::string>());
    ChatTemplateOptions options;
    if (row.contains("strftime_now_fixed")) {
      const auto fixed = parse_date(row["strftime_now_fixed"].get<std::string>());
      options.clock = [fixed] { return fixed; };
    }
    auto tmpl =
        ChatTemplate::load(testing::fixture_path("tokenizers/" + model), "default", options);
    ASSERT_TRUE(tmpl.ok()) << tmpl.status().to_string();
    EXPECT_EQ(tmpl->special_tokens(), row["special_tokens_passed"]);

    ChatTemplateInput input;
    input.messages = row["messages"];
    for (const auto& [k, v] : row["kwargs"].items()) {
      if (k == "add_generation_prompt") {
        input.add_generation_prompt = v.get<bool>();
      } else if (k == "tools") {
        input.tools = v;
      } else {
        input.kwargs[k] = v;
      }
    }
    auto rendered = tmpl->render(input);
    ASSERT_TRUE(rendered.ok()) << rendered.status().to_string();
    EXPECT_EQ(*rendered, row["rendered"].get<std::string>());
  }
}

INSTANTIATE_TEST_SUITE_P(Models, GoldenTest,
                         ::testing::Values(GoldenCase{"qwen3"}, GoldenCase{"gpt-oss"},
                                           GoldenCase{"deepseek-v3"}),
                         [](const auto& info) {
                           std::string n = info.param.model;
                           for (char& c : n)
                             if (c == '-') c = '_';
                           return n;
                         });

TEST(ChatTemplateLoad, ListOfNamedTemplatesPicksByName) {
  const std::string dir = testing::make_temp_dir("chat_named");
  write_file(dir + "/tokenizer_config.json", R"({
    "bos_token": {"content": "<s>", "lstrip": false},
    "eos_token": "</s>",
    "pad_token": null,
    "chat_template": [
      {"name": "default", "template": "D{{ bos_token }}{{ messages|length }}"},
      {"name": "tool_use", "template": "T{{ eos_token }}"}
    ]})");
  ChatTemplateInput input;
  input.messages = json::array({{{"role", "user"}, {"content", "hi"}}});

  auto def = ChatTemplate::load(dir);
  ASSERT_TRUE(def.ok()) << def.status().to_string();
  EXPECT_EQ(def->special_tokens(), json({{"bos_token", "<s>"}, {"eos_token", "</s>"}}));
  EXPECT_EQ(*def->render(input), "D<s>1");

  auto tool = ChatTemplate::load(dir, "tool_use");
  ASSERT_TRUE(tool.ok()) << tool.status().to_string();
  EXPECT_EQ(*tool->render(input), "T</s>");

  auto missing = ChatTemplate::load(dir, "rag");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'rag'"), std::string::npos);
  EXPECT_NE(missing.status().message().find("default, tool_use"), std::string::npos);
}

TEST(ChatTemplateLoad, FallsBackToChatTemplateJinja) {
  const std::string dir = testing::make_temp_dir("chat_jinja");
  write_file(dir + "/tokenizer_config.json", R"({"eos_token": "<eos>"})");
  write_file(dir + "/chat_template.jinja",
             "{% for m in messages %}[{{ m.role }}]{{ m.content }}{% endfor %}{{ eos_token }}\n");
  auto tmpl = ChatTemplate::load(dir);
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().to_string();
  ChatTemplateInput input;
  input.messages = json::array({{{"role", "user"}, {"content", "hi"}}});
  // Jinja drops the file's single trailing newline.
  EXPECT_EQ(*tmpl->render(input), "[user]hi<eos>");
}

TEST(ChatTemplateLoad, JinjaFileWithoutConfig) {
  const std::string dir = testing::make_temp_dir("chat_jinja_only");
  write_file(dir + "/chat_template.jinja", "{{ bos_token is defined }}");
  auto tmpl = ChatTemplate::load(dir);
  ASSERT_TRUE(tmpl.ok()) << tmpl.status().to_string();
  EXPECT_EQ(*tmpl->render({}), "False");
}

TEST(ChatTemplateLoad, MissingTemplateIsAClearError) {
  const std::string dir = testing::make_temp_dir("chat_missing");
  write_file(dir + "/tokenizer_config.json", R"({"eos_token": "</s>"})");
  auto tmpl = ChatTemplate::load(dir);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_EQ(tmpl.status().code(), StatusCode::kNotFound);
  EXPECT_NE(tmpl.status().message().find("chat_template.jinja"), std::string::npos);
  EXPECT_NE(tmpl.status().message().find("no chat template"), std::string::npos);
}

TEST(ChatTemplateLoad, BadConfigIsAnError) {
  const std::string dir = testing::make_temp_dir("chat_bad");
  write_file(dir + "/tokenizer_config.json", R"({"chat_template": 5})");
  auto tmpl = ChatTemplate::load(dir);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_EQ(tmpl.status().code(), StatusCode::kInvalidArgument);

  write_file(dir + "/tokenizer_config.json", "{not json");
  tmpl = ChatTemplate::load(dir);
  ASSERT_FALSE(tmpl.ok());
  EXPECT_EQ(tmpl.status().code(), StatusCode::kDataLoss);
}

TEST(ChatTemplateRender, KwargsMayNotOverrideReservedNames) {
  auto tmpl = ChatTemplate::from_source("{{ messages }}", json::object());
  ASSERT_TRUE(tmpl.ok());
  ChatTemplateInput input;
  input.kwargs["messages"] = "x";
  auto r = tmpl->render(input);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
}

TEST(ChatTemplateRender, ToolsAreNoneWhenAbsent) {
  auto tmpl = ChatTemplate::from_source(
      "{{ tools is none }} {{ tools is defined }} {{ add_generation_prompt }}", json::object());
  ASSERT_TRUE(tmpl.ok());
  ChatTemplateInput input;
  input.add_generation_prompt = true;
  EXPECT_EQ(*tmpl->render(input), "True True True");
}

}  // namespace
}  // namespace sieve
