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

const std::set<std::string>& common_fields() {
  static const std::set<std::string> k = {
      "model", "max_tokens", "temperature", "top_p", "n", "stream", "stream_options", "stop",
      "seed", "presence_penalty", "frequency_penalty", "user", "logit_bias",
      // vLLM's extensions
      "top_k", "min_p", "repetition_penalty", "ignore_eos", "stop_token_ids", "priority",
      "return_token_ids", "skip_special_tokens", "include_stop_str_in_output"};
  return k;
}
const std::set<std::string>& completion_fields() {
  static const std::set<std::string> k = {"prompt", "logprobs", "echo", "suffix", "best_of"};
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
                                          "add_generation_prompt"};
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

std::optional<ApiError> get_float(const json& v, const std::string& f, float& out) {
  if (!v.is_number()) return want(f, "a number", v);
  out = static_cast<float>(v.get<double>());
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

}  // namespace

std::optional<ApiError> parse_request(const json& body, Endpoint endpoint, ParsedRequest& out) {
  if (!body.is_object()) return bad("", "the request body must be a JSON object");
  out = ParsedRequest{};
  out.endpoint = endpoint;
  const bool chat = endpoint == Endpoint::kChat;
  for (const auto& [key, value] : body.items()) {
    const bool known = common_fields().count(key) ||
                       (chat ? chat_fields().count(key) : completion_fields().count(key));
    if (!known) return bad(key, "unknown field '" + key + "'");
  }
  SamplingParams& p = out.params;
  if (!chat) p.max_tokens = 16;  // OpenAI's default for completions

  for (const auto& [key, v] : body.items()) {
    if (v.is_null()) continue;  // null means "default", as in the OpenAI API
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
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      e = get_int(v, key, 1, std::numeric_limits<int32_t>::max(), i);
      p.max_tokens = i;
      out.max_tokens_given = true;
    } else if (key == "temperature") {
      e = get_float(v, key, p.temperature);
    } else if (key == "top_p") {
      e = get_float(v, key, p.top_p);
    } else if (key == "top_k") {
      e = get_int(v, key, -1, std::numeric_limits<int32_t>::max(), p.top_k);
    } else if (key == "min_p") {
      e = get_float(v, key, p.min_p);
    } else if (key == "presence_penalty") {
      e = get_float(v, key, p.presence_penalty);
    } else if (key == "frequency_penalty") {
      e = get_float(v, key, p.frequency_penalty);
    } else if (key == "repetition_penalty") {
      e = get_float(v, key, p.repetition_penalty);
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
    } else if (key == "stop") {
      if (v.is_string()) {
        p.stop = {v.get<std::string>()};
      } else if (v.is_array()) {
        for (const json& s : v) {
          if (!s.is_string()) return want(key, "a string or a list of strings", v);
          p.stop.push_back(s.get<std::string>());
        }
      } else {
        return want(key, "a string or a list of strings", v);
      }
    } else if (key == "stop_token_ids") {
      if (!v.is_array()) return want(key, "a list of token ids", v);
      e = get_ids(v, key, p.stop_token_ids);
    } else if (key == "seed") {
      if (!v.is_number_integer()) return want(key, "an integer", v);
      p.seed = v.is_number_unsigned() ? v.get<uint64_t>() : static_cast<uint64_t>(v.get<int64_t>());
    } else if (key == "ignore_eos") {
      e = get_bool(v, key, p.ignore_eos);
    } else if (key == "skip_special_tokens") {
      e = get_bool(v, key, p.skip_special_tokens);
    } else if (key == "include_stop_str_in_output") {
      e = get_bool(v, key, p.include_stop_str_in_output);
    } else if (key == "return_token_ids") {
      e = get_bool(v, key, out.return_token_ids);
    } else if (key == "priority") {
      e = get_int(v, key, std::numeric_limits<int32_t>::min(), std::numeric_limits<int32_t>::max(),
                  out.priority);
    } else if (key == "user" || key == "parallel_tool_calls") {
      if (key == "user" && !v.is_string()) return want(key, "a string", v);
      if (key == "parallel_tool_calls" && !v.is_boolean()) return want(key, "true or false", v);
    } else if (key == "logit_bias") {
      if (!v.is_object()) return want(key, "an object", v);
      if (!v.empty()) return bad(key, "logit_bias is not supported");
    } else if (key == "logprobs") {
      if (chat) {
        e = get_bool(v, key, out.chat_logprobs);
      } else {
        e = get_int(v, key, 0, 20, i);
        p.logprobs = i;
      }
    } else if (key == "top_logprobs") {
      e = get_int(v, key, 0, 20, i);
      p.logprobs = i;
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
    } else if (key == "add_generation_prompt") {
      bool b = true;
      e = get_bool(v, key, b);
    }
    if (e) return e;
  }

  if (chat) {
    if (!out.chat) return bad("messages", "'messages' is required");
    ChatTemplateInput& in = *out.chat;
    if (body.contains("tools") && !body["tools"].is_null()) in.tools = body["tools"];
    if (body.contains("add_generation_prompt") && body["add_generation_prompt"].is_boolean())
      in.add_generation_prompt = body["add_generation_prompt"].get<bool>();
    if (body.contains("chat_template_kwargs") && body["chat_template_kwargs"].is_object())
      in.kwargs = body["chat_template_kwargs"];
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
