#include "server/openai_protocol.h"

#include <limits>
#include <set>

namespace sieve::server {

json error_body(const ApiError& e) {
  json err = json::object();
  err["message"] = e.message;
  err["type"] = e.type;
  err["param"] = e.param.empty() ? json(nullptr) : json(e.param);
  err["code"] = e.status;
  return json{{"error", err}};
}

namespace {

ApiError bad(const std::string& param, const std::string& message) {
  return ApiError{400, message, "invalid_request_error", param};
}

ApiError want(const std::string& field, const std::string& what, const json& got) {
  std::string shown = got.dump();
  if (shown.size() > 80) shown = shown.substr(0, 77) + "...";
  return bad(field, "'" + field + "' must be " + what + ", got " + shown);
}

// Fields of both endpoints besides the request parameters of the engine's schema
// (engine/sampling_params.h), which both take too.
const std::set<std::string>& common_fields() {
  static const std::set<std::string> k = {
      "model", "n", "stream", "stream_options", "user", "logit_bias", "return_token_ids"};
  return k;
}
const std::set<std::string>& completion_fields() {
  static const std::set<std::string> k = {"prompt", "echo", "suffix", "best_of"};
  return k;
}
const std::set<std::string>& chat_fields() {
  static const std::set<std::string> k = {"messages",
                                          "max_completion_tokens",
                                          "logprobs",
                                          "top_logprobs",
                                          "tools",
                                          "tool_choice",
                                          "parallel_tool_calls",
                                          "response_format",
                                          "chat_template_kwargs",
                                          "add_generation_prompt",
                                          "reasoning_effort"};
  return k;
}

std::optional<ApiError> get_int(const json& v, const std::string& f, int64_t lo, int64_t hi,
                                int64_t& out) {
  if (!v.is_number_integer()) return want(f, "an integer", v);
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(hi)) {
    return bad(f, "'" + f + "' must be at most " + std::to_string(hi) + ", got " + v.dump());
  }
  const int64_t x = v.get<int64_t>();
  if (x < lo || x > hi) {
    return bad(f, "'" + f + "' must be between " + std::to_string(lo) + " and " +
                      std::to_string(hi) + ", got " + std::to_string(x));
  }
  out = x;
  return std::nullopt;
}

std::optional<ApiError> get_bool(const json& v, const std::string& f, bool& out) {
  if (!v.is_boolean()) return want(f, "true or false", v);
  out = v.get<bool>();
  return std::nullopt;
}

std::optional<ApiError> get_ids(const json& v, const std::string& f, std::vector<int32_t>& out) {
  out.clear();
  for (const json& t : v) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 ||
        t.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return want(f, "a list of non-negative token ids", t);
    }
    out.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return std::nullopt;
}

std::optional<ApiError> parse_prompt(const json& v, std::vector<PromptInput>& out) {
  const std::string f = "prompt";
  if (v.is_string()) {
    if (v.get_ref<const std::string&>().empty()) return bad(f, "'prompt' is empty");
    out.push_back({std::nullopt, v.get<std::string>()});
    return std::nullopt;
  }
  if (!v.is_array() || v.empty()) {
    return want(f, "a string, a list of strings, a list of token ids or a list of such lists", v);
  }
  if (v[0].is_number_integer()) {
    PromptInput p;
    p.ids.emplace();
    if (auto e = get_ids(v, f, *p.ids)) return e;
    out.push_back(std::move(p));
    return std::nullopt;
  }
  for (const json& item : v) {
    if (item.is_string()) {
      if (item.get_ref<const std::string&>().empty())
        return bad(f, "a prompt in the list is empty");
      out.push_back({std::nullopt, item.get<std::string>()});
    } else if (item.is_array() && !item.empty()) {
      PromptInput p;
      p.ids.emplace();
      if (auto e = get_ids(item, f, *p.ids)) return e;
      out.push_back(std::move(p));
    } else {
      return want(f, "a list of strings or of non-empty token-id lists", item);
    }
  }
  if (out.size() > 256) return bad(f, "at most 256 prompts per request");
  return std::nullopt;
}

// A schema error under the name this endpoint gave the field (chat's max_completion_tokens and
// top_logprobs are the schema's max_tokens and logprobs).
ApiError param_error(ParamError e, const std::string& given_as) {
  if (given_as != e.field) {
    const std::string from = "'" + e.field + "'";
    if (e.message.rfind(from, 0) == 0)
      e.message = "'" + given_as + "'" + e.message.substr(from.size());
    e.field = given_as;
  }
  return bad(e.field, e.message);
}

}  // namespace

std::optional<ApiError> parse_request(const json& body, Endpoint endpoint, ParsedRequest& out) {
  if (!body.is_object()) return bad("", "the request body must be a JSON object");
  out = ParsedRequest{};
  out.endpoint = endpoint;
  const bool chat = endpoint == Endpoint::kChat;
  // Chat's logprobs is a boolean (its count is top_logprobs); completions' is the schema's.
  auto schema_name = [chat](const std::string& key) -> std::string {
    if (chat && key == "logprobs") return "";
    if (chat && key == "max_completion_tokens") return "max_tokens";
    if (chat && key == "top_logprobs") return "logprobs";
    return is_request_param(key) ? key : "";
  };
  for (const auto& [key, value] : body.items()) {
    const bool known = !schema_name(key).empty() || common_fields().count(key) ||
                       (chat ? chat_fields().count(key) : completion_fields().count(key));
    if (!known) return bad(key, "unknown field '" + key + "'");
  }
  GenerationRequest g;
  if (!chat) g.params.max_tokens = 16;  // OpenAI's default for completions
  std::string max_tokens_as = "max_tokens", logprobs_as = "logprobs";

  for (const auto& [key, v] : body.items()) {
    if (v.is_null()) continue;  // null means "default", as in the OpenAI API
    if (const std::string name = schema_name(key); !name.empty()) {
      if (auto e = read_request_param(name, v, g)) return param_error(std::move(*e), key);
      if (name == "max_tokens") {
        out.max_tokens_given = true;
        max_tokens_as = key;
      }
      if (name == "logprobs") logprobs_as = key;
      continue;
    }
    std::optional<ApiError> e;
    int64_t i = 0;
    if (key == "model") {
      if (!v.is_string()) return want(key, "a string", v);
      out.model = v.get<std::string>();
    } else if (key == "prompt") {
      e = parse_prompt(v, out.prompts);
    } else if (key == "messages") {
      ChatTemplateInput in;
      in.messages = v;
      in.add_generation_prompt = true;
      out.chat = std::move(in);
    } else if (key == "n") {
      e = get_int(v, key, 1, kMaxN, out.n);
    } else if (key == "best_of") {
      e = get_int(v, key, 1, kMaxN, i);
      if (!e && i != 1) return bad(key, "best_of other than 1 is not supported; use n");
    } else if (key == "stream") {
      e = get_bool(v, key, out.stream);
    } else if (key == "stream_options") {
      if (!v.is_object()) return want(key, "an object", v);
      for (const auto& [k2, v2] : v.items()) {
        if (k2 != "include_usage") return bad(key, "unknown field 'stream_options." + k2 + "'");
        if (!v2.is_null()) e = get_bool(v2, "stream_options.include_usage", out.include_usage);
      }
    } else if (key == "return_token_ids") {
      e = get_bool(v, key, out.return_token_ids);
    } else if (key == "user" || key == "parallel_tool_calls") {
      if (key == "user" && !v.is_string()) return want(key, "a string", v);
      if (key == "parallel_tool_calls" && !v.is_boolean()) return want(key, "true or false", v);
    } else if (key == "logit_bias") {
      if (!v.is_object()) return want(key, "an object", v);
      if (!v.empty()) return bad(key, "logit_bias is not supported");
    } else if (key == "logprobs") {  // chat's: whether to return them
      e = get_bool(v, key, out.chat_logprobs);
    } else if (key == "echo") {
      bool echo = false;
      e = get_bool(v, key, echo);
      if (!e && echo) return bad(key, "echo is not supported");
    } else if (key == "suffix") {
      return bad(key, "suffix is not supported");
    } else if (key == "tools") {
      if (!v.is_array()) return want(key, "a list of tools", v);
    } else if (key == "tool_choice") {
      if (!(v.is_string() && (v == "none" || v == "auto"))) {
        return bad(key,
                   "tool_choice must be \"none\" or \"auto\" (forced tool calls are not "
                   "supported)");
      }
    } else if (key == "response_format") {
      if (!v.is_object() || !v.contains("type") || v["type"] != "text") {
        return bad(key, "only response_format {\"type\": \"text\"} is supported");
      }
    } else if (key == "chat_template_kwargs") {
      if (!v.is_object()) return want(key, "an object", v);
    } else if (key == "reasoning_effort") {
      if (!(v.is_string() && (v == "low" || v == "medium" || v == "high")))
        return want(key, "\"low\", \"medium\" or \"high\"", v);
    } else if (key == "add_generation_prompt") {
      bool b = true;
      e = get_bool(v, key, b);
    }
    if (e) return e;
  }

  // One validation for every front end: the schema's ranges.
  if (auto e = check_request_params(g)) {
    const std::string as = e->field == "max_tokens" ? max_tokens_as
                           : e->field == "logprobs" ? logprobs_as
                                                    : e->field;
    return param_error(std::move(*e), as);
  }
  SamplingParams& p = out.params;
  p = std::move(g.params);
  out.priority = g.priority;
  if (p.prompt_logprobs && (chat || out.stream)) {
    return bad("prompt_logprobs", "prompt_logprobs is supported on /v1/completions without stream");
  }

  if (chat) {
    if (!out.chat) return bad("messages", "'messages' is required");
    ChatTemplateInput& in = *out.chat;
    if (body.contains("tools") && !body["tools"].is_null()) in.tools = body["tools"];
    if (body.contains("add_generation_prompt") && body["add_generation_prompt"].is_boolean())
      in.add_generation_prompt = body["add_generation_prompt"].get<bool>();
    if (body.contains("chat_template_kwargs") && body["chat_template_kwargs"].is_object())
      in.kwargs = body["chat_template_kwargs"];
    // OpenAI's top-level field reaches the template as the variable of the same name (gpt-oss's
    // reads it into its system message); chat_template_kwargs, being explicit, wins.
    if (body.contains("reasoning_effort") && body["reasoning_effort"].is_string() &&
        !in.kwargs.contains("reasoning_effort"))
      in.kwargs["reasoning_effort"] = body["reasoning_effort"];
    if (body.contains("top_logprobs") && !body["top_logprobs"].is_null() && !out.chat_logprobs)
      return bad("top_logprobs", "top_logprobs needs logprobs: true");
    if (out.chat_logprobs && !p.logprobs) p.logprobs = 0;
    if (!out.chat_logprobs) p.logprobs.reset();
  } else if (out.prompts.empty()) {
    return bad("prompt", "'prompt' is required");
  }
  if (out.include_usage && !out.stream) {
    return bad("stream_options", "stream_options is only allowed with stream: true");
  }
  return std::nullopt;
}

}  // namespace sieve::server
