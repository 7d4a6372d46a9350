#include "tools/sieve/run/jsonl_requests.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "engine/text/prompt_encoder.h"
#include "server/chat_output_json.h"

namespace sieve {
namespace {

using json = nlohmann::ordered_json;

// The line's own fields; the rest are the engine's request parameters (sampling_params.h).
const std::set<std::string>& line_fields() {
  static const std::set<std::string> k = {"id",
                                          "prompt_token_ids",
                                          "prompt",
                                          "messages",
                                          "tools",
                                          "add_generation_prompt",
                                          "chat_template_kwargs",
                                          "reasoning_effort"};
  return k;
}

Status field_error(const std::string& field, const std::string& want, const json& got) {
  return invalid_argument("'" + field + "' must be " + want + ", got " + got.dump());
}

Result<std::vector<int32_t>> get_token_list(const json& j, const std::string& field) {
  if (!j.is_array()) return field_error(field, "a list of token ids", j);
  std::vector<int32_t> out;
  out.reserve(j.size());
  for (const json& t : j) {
    if (!t.is_number_integer() || t.get<int64_t>() < 0 ||
        t.get<int64_t>() > std::numeric_limits<int32_t>::max()) {
      return invalid_argument("'" + field + "' must hold non-negative integer token ids, got " +
                              t.dump());
    }
    out.push_back(static_cast<int32_t>(t.get<int64_t>()));
  }
  return out;
}

// Exactly one of prompt_token_ids, prompt, messages; the chat fields only with messages.
Status parse_prompt(const json& j, ParsedLine& out) {
  const int given = j.contains("prompt_token_ids") + j.contains("prompt") + j.contains("messages");
  if (given != 1) {
    return invalid_argument(
        std::string(given == 0 ? "missing prompt" : "more than one prompt") +
        ": give exactly one of 'prompt_token_ids', 'prompt' (text) or 'messages' (chat)");
  }
  if (!j.contains("messages")) {
    for (const char* key :
         {"tools", "add_generation_prompt", "chat_template_kwargs", "reasoning_effort"}) {
      if (j.contains(key)) return invalid_argument(std::string("'") + key + "' needs 'messages'");
    }
  }
  if (j.contains("prompt_token_ids")) {
    SIEVE_ASSIGN_OR_RETURN(out.request.prompt_token_ids,
                           get_token_list(j["prompt_token_ids"], "prompt_token_ids"));
    if (out.request.prompt_token_ids.empty())
      return invalid_argument("'prompt_token_ids' is empty");
    return Status::Ok();
  }
  if (j.contains("prompt")) {
    if (!j["prompt"].is_string()) return field_error("prompt", "a string", j["prompt"]);
    if (j["prompt"].get_ref<const std::string&>().empty())
      return invalid_argument("'prompt' is empty");
    out.prompt_text = j["prompt"].get<std::string>();
    return Status::Ok();
  }
  ChatTemplateInput chat;
  chat.messages = j["messages"];
  chat.add_generation_prompt = true;  // a chat request asks for the assistant's turn
  if (j.contains("tools") && !j["tools"].is_null()) chat.tools = j["tools"];
  if (j.contains("add_generation_prompt")) {
    if (!j["add_generation_prompt"].is_boolean())
      return field_error("add_generation_prompt", "true or false", j["add_generation_prompt"]);
    chat.add_generation_prompt = j["add_generation_prompt"].get<bool>();
  }
  if (j.contains("chat_template_kwargs")) {
    if (!j["chat_template_kwargs"].is_object())
      return field_error("chat_template_kwargs", "an object", j["chat_template_kwargs"]);
    chat.kwargs = j["chat_template_kwargs"];
  }
  if (j.contains("reasoning_effort")) {
    const json& e = j["reasoning_effort"];
    if (!(e.is_string() && (e == "low" || e == "medium" || e == "high")))
      return field_error("reasoning_effort", "\"low\", \"medium\" or \"high\"", e);
    // As on /v1/chat/completions: a template variable, unless chat_template_kwargs sets it.
    if (!chat.kwargs.contains("reasoning_effort")) chat.kwargs["reasoning_effort"] = e;
  }
  SIEVE_RETURN_IF_ERROR(validate_chat_input(chat));
  out.chat = std::move(chat);
  return Status::Ok();
}

}  // namespace

Status encode_prompt(ParsedLine& line, const PromptEncoder* encoder,
                     const std::string& missing_tokenizer_reason) {
  if (!line.prompt_text && !line.chat) return Status::Ok();
  if (!encoder) {
    return invalid_argument("a text prompt needs the model's tokenizer (" +
                            missing_tokenizer_reason +
                            "), or send 'prompt_token_ids' instead of text");
  }
  if (line.prompt_text) {
    SIEVE_ASSIGN_OR_RETURN(line.request.prompt_token_ids, encoder->encode_text(*line.prompt_text));
  } else {
    SIEVE_ASSIGN_OR_RETURN(line.request.prompt_token_ids, encoder->encode_chat(*line.chat));
  }
  if (line.request.prompt_token_ids.empty()) {
    return invalid_argument("the prompt encodes to no tokens");
  }
  return Status::Ok();
}

json id_of_line(const std::string& line, int64_t line_number) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("id")) return j["id"];
  return line_number;
}

Result<ParsedLine> parse_request_line(const std::string& line, int64_t line_number,
                                      int64_t default_max_tokens) {
  json j = json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return invalid_argument("line " + std::to_string(line_number) + " is not valid JSON");
  if (!j.is_object()) return invalid_argument("a request must be a JSON object, got " + j.dump());
  for (const auto& [key, value] : j.items()) {
    if (!line_fields().count(key) && !is_request_param(key)) {
      return invalid_argument("unknown field '" + key + "'");
    }
  }
  ParsedLine out;
  out.id = j.contains("id") ? j["id"] : json(line_number);
  GenerationRequest& r = out.request;
  r.params.max_tokens = default_max_tokens;

  SIEVE_RETURN_IF_ERROR(parse_prompt(j, out));
  for (const auto& [key, v] : j.items()) {
    if (!is_request_param(key)) continue;
    if (auto e = read_request_param(key, v, r)) return invalid_argument(e->message);
  }
  if (auto e = check_request_params(r)) return invalid_argument(e->message);
  return out;
}

namespace {
nlohmann::ordered_json logprob_list(const std::vector<TokenLogprob>& lps) {
  auto a = nlohmann::ordered_json::array();
  for (const TokenLogprob& t : lps) {
    // -inf (a token the model rules out entirely) is not JSON; clamp as vLLM does.
    const float lp = std::isfinite(t.logprob) ? t.logprob : -9999.0f;
    a.push_back({{"token_id", t.token_id}, {"logprob", lp}});
  }
  return a;
}
}  // namespace

nlohmann::ordered_json result_json(const json& id, const RequestOutput& out,
                                   const std::optional<std::string>& text) {
  // Insertion order, so every line reads id, prompt, output, finish_reason, logprobs.
  nlohmann::ordered_json j = {{"id", id},
                              {"prompt_token_ids", out.prompt_token_ids},
                              {"output_token_ids", out.output_token_ids}};
  if (text) j["text"] = *text;
  j["finish_reason"] = out.finish_reason;
  if (!out.logprobs.empty()) {
    auto a = nlohmann::ordered_json::array();
    for (const auto& lps : out.logprobs)
      a.push_back(logprob_list(lps));
    j["logprobs"] = std::move(a);
  }
  if (!out.prompt_logprobs.empty()) {
    auto a = nlohmann::ordered_json::array();
    for (const auto& lps : out.prompt_logprobs) {
      a.push_back(lps.empty() ? nlohmann::ordered_json(nullptr) : logprob_list(lps));
    }
    j["prompt_logprobs"] = std::move(a);
  }
  return j;
}

void prepare_chat_line(ParsedLine& line, const ChatFormat& format) {
  if (!line.chat) return;
  format.prepare_messages(line.chat->messages);
  format.add_stop_tokens(line.request.params.stop_token_ids);
}

void add_chat_fields(json& result, const RequestOutput& out, const ChatFormat& format) {
  std::unique_ptr<ChatOutputParser> parser = format.make_parser(out.prompt_token_ids);
  if (!parser) return;
  parser->push(out.output_token_ids);
  parser->finish();
  json message = server::chat_message_json(parser->output());
  message.erase("role");
  result.update(message);
  result["finish_reason"] = server::chat_finish_reason(out.finish_reason, parser->output());
}

nlohmann::ordered_json error_json(const json& id, const std::string& message) {
  return {{"id", id}, {"error", message}};
}

}  // namespace sieve
