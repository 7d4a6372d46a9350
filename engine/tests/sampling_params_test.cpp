// The one request-parameter schema every front end reads with (engine/sampling_params.h).
#include "engine/sampling_params.h"

#include <bit>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace sieve {
namespace {

using json = nlohmann::ordered_json;

// Every field at a value other than its default, as a client would send it.
json every_field() {
  return json{{"max_tokens", 7},
              {"temperature", 0.7},
              {"top_p", 0.9},
              {"top_k", 40},
              {"min_p", 0.05},
              {"presence_penalty", 0.5},
              {"frequency_penalty", -0.25},
              {"repetition_penalty", 1.1},
              {"seed", 1234},
              {"stop", json::array({"a", "bc"})},
              {"stop_token_ids", json::array({3, 4})},
              {"ignore_eos", true},
              {"include_stop_str_in_output", true},
              {"skip_special_tokens", false},
              {"logprobs", 2},
              {"prompt_logprobs", 1},
              {"priority", -3}};
}

GenerationRequest read_all(const json& body) {
  GenerationRequest g;
  for (const auto& [key, value] : body.items()) {
    EXPECT_TRUE(is_request_param(key)) << key;
    auto e = read_request_param(key, value, g);
    EXPECT_FALSE(e) << key << ": " << (e ? e->message : "");
  }
  return g;
}

TEST(SamplingParamsSchema, ListsEveryFieldOnce) {
  std::set<std::string> names;
  for (const RequestParamInfo& f : request_param_fields()) {
    EXPECT_TRUE(names.insert(std::string(f.name)).second) << f.name;
    EXPECT_FALSE(f.type.empty()) << f.name;
    EXPECT_FALSE(f.help.empty()) << f.name;
  }
  std::set<std::string> sent;
  const json every = every_field();
  for (const auto& [key, value] : every.items())
    sent.insert(key);
  EXPECT_EQ(names, sent);  // every_field() covers the whole schema
  EXPECT_FALSE(is_request_param("prompt"));
  EXPECT_FALSE(is_request_param("n"));
}

TEST(SamplingParamsSchema, ReadsEveryField) {
  const GenerationRequest g = read_all(every_field());
  const SamplingParams& p = g.params;
  EXPECT_EQ(p.max_tokens, 7);
  EXPECT_EQ(p.temperature, 0.7f);
  EXPECT_EQ(p.top_p, 0.9f);
  EXPECT_EQ(p.top_k, 40);
  EXPECT_EQ(p.min_p, 0.05f);
  EXPECT_EQ(p.presence_penalty, 0.5f);
  EXPECT_EQ(p.frequency_penalty, -0.25f);
  EXPECT_EQ(p.repetition_penalty, 1.1f);
  EXPECT_EQ(p.seed, 1234u);
  EXPECT_EQ(p.stop, (std::vector<std::string>{"a", "bc"}));
  EXPECT_EQ(p.stop_token_ids, (std::vector<int32_t>{3, 4}));
  EXPECT_TRUE(p.ignore_eos);
  EXPECT_TRUE(p.include_stop_str_in_output);
  EXPECT_FALSE(p.skip_special_tokens);
  EXPECT_EQ(p.logprobs, 2);
  EXPECT_EQ(p.prompt_logprobs, 1);
  EXPECT_EQ(g.priority, -3);
  EXPECT_FALSE(check_request_params(g));
}

TEST(SamplingParamsSchema, NullKeepsTheDefaultAndAStringIsOneStop) {
  GenerationRequest g;
  for (const RequestParamInfo& f : request_param_fields()) {
    EXPECT_FALSE(read_request_param(f.name, json(nullptr), g)) << f.name;
  }
  const GenerationRequest defaults;
  EXPECT_EQ(g.params.max_tokens, defaults.params.max_tokens);
  EXPECT_EQ(g.params.temperature, defaults.params.temperature);
  EXPECT_FALSE(g.params.seed);
  EXPECT_FALSE(g.params.logprobs);
  EXPECT_FALSE(read_request_param("stop", json("end"), g));
  EXPECT_EQ(g.params.stop, std::vector<std::string>{"end"});
  // A negative seed is taken modulo 2^64.
  EXPECT_FALSE(read_request_param("seed", json(-1), g));
  EXPECT_EQ(g.params.seed, ~uint64_t{0});
}

TEST(SamplingParamsSchema, AWrongTypeNamesTheField) {
  for (const RequestParamInfo& f : request_param_fields()) {
    GenerationRequest g;
    auto e = read_request_param(f.name, json::object({{"x", 1}}), g);
    ASSERT_TRUE(e) << f.name;
    EXPECT_EQ(e->field, f.name);
    EXPECT_NE(e->message.find("'" + std::string(f.name) + "'"), std::string::npos) << e->message;
  }
  GenerationRequest g;
  EXPECT_TRUE(read_request_param("max_tokens", json(2.5), g));          // not an integer
  EXPECT_TRUE(read_request_param("stop_token_ids", json({1, -2}), g));  // not a token id
  EXPECT_TRUE(read_request_param("stop", json({"a", 3}), g));
  EXPECT_TRUE(read_request_param("ignore_eos", json(1), g));
  EXPECT_FALSE(read_request_param("temperature", json(1), g));  // an integer is a number
}

TEST(SamplingParamsSchema, RangesAreCheckedOnceAndNameTheField) {
  const std::vector<std::pair<std::string, json>> out_of_range = {{"max_tokens", 0},
                                                                  {"temperature", -0.5},
                                                                  {"top_p", 0},
                                                                  {"top_p", 1.5},
                                                                  {"top_k", -2},
                                                                  {"min_p", 1.5},
                                                                  {"presence_penalty", 2.5},
                                                                  {"frequency_penalty", -3},
                                                                  {"repetition_penalty", 0},
                                                                  {"logprobs", 21},
                                                                  {"prompt_logprobs", -1},
                                                                  {"priority", 1ll << 40},
                                                                  {"stop", json::array({""})}};
  for (const auto& [name, value] : out_of_range) {
    GenerationRequest g;
    ASSERT_FALSE(read_request_param(name, value, g)) << name;  // the type is right
    auto e = check_request_params(g);
    ASSERT_TRUE(e) << name << " = " << value.dump();
    EXPECT_EQ(e->field, name);
    EXPECT_NE(e->message.find(name), std::string::npos) << e->message;
    EXPECT_FALSE(validate_sampling(g.params, 100).ok() && name != "priority") << name;
  }
  GenerationRequest many;
  many.params.stop.assign(17, "x");
  EXPECT_EQ(check_request_params(many)->field, "stop");
  SamplingParams p;
  p.stop_token_ids = {100};
  EXPECT_NE(validate_sampling(p, 100).message().find("stop_token_ids"), std::string::npos);
  EXPECT_TRUE(validate_sampling(p, 101).ok());
}

TEST(SamplingParamsSchema, WritesAndReadsBackEveryFieldExactly) {
  GenerationRequest g = read_all(every_field());
  g.params.temperature = std::bit_cast<float>(0x3f2aaaabu);  // not a short decimal
  const nlohmann::json wire =
      nlohmann::json::from_msgpack(nlohmann::json::to_msgpack(write_request_params(g)));
  GenerationRequest back;
  ASSERT_TRUE(read_all_request_params(wire, back).ok());
  EXPECT_EQ(std::bit_cast<uint32_t>(back.params.temperature), 0x3f2aaaabu);
  EXPECT_EQ(back.params.top_k, g.params.top_k);
  EXPECT_EQ(back.params.seed, g.params.seed);
  EXPECT_EQ(back.params.stop, g.params.stop);
  EXPECT_EQ(back.params.prompt_logprobs, g.params.prompt_logprobs);
  EXPECT_EQ(back.priority, g.priority);
  // Unset optionals stay unset; a missing field is an error, not a default.
  nlohmann::json defaults = write_request_params(GenerationRequest{});
  GenerationRequest d;
  ASSERT_TRUE(read_all_request_params(defaults, d).ok());
  EXPECT_FALSE(d.params.seed);
  defaults.erase("top_p");
  EXPECT_FALSE(read_all_request_params(defaults, d).ok());
}

}  // namespace
}  // namespace sieve
