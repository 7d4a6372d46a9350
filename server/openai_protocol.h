// OpenAI-compatible request bodies in, response bodies out: /v1/completions and
// /v1/chat/completions, with vLLM's extensions where OpenAI has no field.
//
// Parsing is strict: an unknown field, a wrong type or an out-of-range value is a 400 that
// names the field (`param`), never silently ignored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/sampling_params.h"
#include "engine/text/chat_template/chat_template.h"

namespace sieve::server {

using json = nlohmann::ordered_json;

// An OpenAI-style error: {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string type = "invalid_request_error";
  std::string param;  // the offending field, or empty
};
json error_body(const ApiError& e);

enum class Endpoint { kCompletions, kChat };

// One prompt of a completions request, before tokenization.
struct PromptInput {
  std::optional<std::vector<int32_t>> ids;
  std::optional<std::string> text;
};

struct ParsedRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;                 // as sent; empty when absent
  std::vector<PromptInput> prompts;  // completions: one or more
  std::optional<ChatTemplateInput> chat;
  SamplingParams params;
  bool max_tokens_given = false;  // chat: otherwise the rest of the context
  int64_t n = 1;
  bool stream = false;
  bool include_usage = false;     // stream_options.include_usage
  bool return_token_ids = false;  // vLLM: prompt_token_ids and choices[].token_ids
  bool chat_logprobs = false;     // chat: logprobs true (top_logprobs in params.logprobs)
  int64_t priority = 0;
};

// The largest n accepted (each sample is one engine sequence).
constexpr int64_t kMaxN = 16;

std::optional<ApiError> parse_request(const json& body, Endpoint endpoint, ParsedRequest& out);

}  // namespace sieve::server
