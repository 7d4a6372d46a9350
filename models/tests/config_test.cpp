// parse_model_config: the real fixture configs parse; everything else is one clear error that
// says which field is wrong and why, with unknown and not-yet-supported families told apart.
#include <fstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "models/registry.h"
#include "tests/support/fixtures.h"

namespace sieve {
namespace {

using nlohmann::json;

json fixture_config(const std::string& model) {
  std::ifstream in(testing::fixture_path("models/" + model + "/config.json"));
  return json::parse(in);
}

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// Parses `config`, expects `code`, returns the message.
std::string expect_error(const json& config, StatusCode code) {
  auto r = parse_model_config(config);
  EXPECT_FALSE(r.ok()) << config.dump();
  if (r.ok()) return "";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  return r.status().message();
}

TEST(ConfigTest, FixtureConfigsParse) {
  for (const std::string& model : supported_model_types()) {
    SCOPED_TRACE(model);
    auto r = parse_model_config(fixture_config(model));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(r->model_type, model);
    EXPECT_EQ(r->hidden_size, 64);
    EXPECT_EQ(r->vocab_size, 512);
    EXPECT_EQ(r->num_kv_heads, 2);
  }
  auto mixtral = parse_model_config(fixture_config("mixtral"));
  EXPECT_EQ(mixtral->head_dim, 16);  // head_dim null: hidden / heads
  EXPECT_EQ(mixtral->num_experts, 8);
  EXPECT_EQ(mixtral->top_k, 2);
}

TEST(ConfigTest, UnknownModelType) {
  json c = fixture_config("qwen3_moe");
  c["model_type"] = "llama_moe_9000";
  const std::string msg = expect_error(c, StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(msg, "unknown model_type 'llama_moe_9000'")) << msg;
  EXPECT_TRUE(contains(msg, "qwen3_moe") && contains(msg, "mixtral") && contains(msg, "olmoe"))
      << msg;
}

TEST(ConfigTest, KnownButUnsupportedFamilies) {
  for (const std::string model : {"deepseek_v3"}) {
    const std::string msg = expect_error(fixture_config(model), StatusCode::kUnimplemented);
    EXPECT_TRUE(contains(msg, "'" + model + "'") && contains(msg, "not supported yet")) << msg;
  }
}

// gpt-oss's layer_types must name one known type per layer; attention biases are gpt-oss's
// alone (another family saying attention_bias: true is refused, not ignored).
TEST(ConfigTest, GptOssLayerTypesAndAttentionBias) {
  json c = fixture_config("gpt_oss");
  c["layer_types"].erase(0);
  EXPECT_TRUE(contains(expect_error(c, StatusCode::kInvalidArgument), "one type per layer"));
  c = fixture_config("gpt_oss");
  c["layer_types"][1] = "chunked_attention";
  EXPECT_TRUE(contains(expect_error(c, StatusCode::kInvalidArgument), "chunked_attention"));
  c = fixture_config("gpt_oss");
  c["sliding_window"] = 0;
  EXPECT_TRUE(contains(expect_error(c, StatusCode::kInvalidArgument), "sliding_window"));
  c = fixture_config("gpt_oss");
  c.erase("layer_types");  // GptOssConfig's default: sliding, full, sliding, ...
  auto parsed = parse_model_config(c);
  ASSERT_TRUE(parsed.ok()) << parsed.status().to_string();
  EXPECT_EQ(parsed->sliding_window, 8);
  c = fixture_config("qwen3_moe");
  c["attention_bias"] = true;
  EXPECT_TRUE(contains(expect_error(c, StatusCode::kUnimplemented), "attention_bias"));
}

TEST(ConfigTest, MissingOrIllTypedModelType) {
  json c = fixture_config("olmoe");
  c.erase("model_type");
  EXPECT_TRUE(contains(expect_error(c, StatusCode::kInvalidArgument), "model_type"));
  c["model_type"] = 7;
  EXPECT_TRUE(contains(expect_error(c, StatusCode::kInvalidArgument), "model_type"));
  expect_error(json::array(), StatusCode::kInvalidArgument);
}

TEST(ConfigTest, MissingField) {
  json c = fixture_config("qwen3_moe");
  c.erase("hidden_size");
  const std::string msg = expect_error(c, StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(msg, "config.json") && contains(msg, "missing 'hidden_size'")) << msg;

  json m = fixture_config("mixtral");
  m.erase("num_local_experts");
  EXPECT_TRUE(contains(expect_error(m, StatusCode::kInvalidArgument), "num_local_experts"));
}

TEST(ConfigTest, IllTypedFields) {
  struct Case {
    const char* key;
    json value;
  };
  const Case cases[] = {{"hidden_size", "64"},        {"num_hidden_layers", 2.5},
                        {"vocab_size", -1},           {"num_experts", 0},
                        {"norm_topk_prob", "yes"},    {"rms_norm_eps", "small"},
                        {"eos_token_id", {1, "two"}}, {"num_attention_heads", nullptr}};
  for (const auto& [key, value] : cases) {
    SCOPED_TRACE(key);
    json c = fixture_config("qwen3_moe");
    c[key] = value;
    const std::string msg = expect_error(c, StatusCode::kInvalidArgument);
    EXPECT_TRUE(contains(msg, std::string("'") + key + "'")) << msg;
  }
}

TEST(ConfigTest, TopKExceedsExperts) {
  json c = fixture_config("olmoe");
  c["num_experts_per_tok"] = 17;
  const std::string msg = expect_error(c, StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(msg, "num_experts_per_tok (17)") && contains(msg, "(16)")) << msg;
}

TEST(ConfigTest, HeadsNotMultipleOfKvHeads) {
  json c = fixture_config("mixtral");
  c["num_key_value_heads"] = 3;
  const std::string msg = expect_error(c, StatusCode::kInvalidArgument);
  EXPECT_TRUE(contains(msg, "num_key_value_heads")) << msg;
}

TEST(ConfigTest, UnsupportedOptions) {
  json c = fixture_config("qwen3_moe");
  c["hidden_act"] = "gelu";
  EXPECT_TRUE(contains(expect_error(c, StatusCode::kUnimplemented), "gelu"));
  c = fixture_config("qwen3_moe");
  c["dtype"] = "float8_e4m3fn";
  EXPECT_TRUE(contains(expect_error(c, StatusCode::kUnimplemented), "float8_e4m3fn"));
}

}  // namespace
}  // namespace sieve
