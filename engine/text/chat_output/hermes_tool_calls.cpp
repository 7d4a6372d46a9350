#include "engine/text/chat_output/hermes_tool_calls.h"

#include <string>

namespace sieve {

namespace {

using json = nlohmann::json;

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

// The text of the "arguments" value as the model wrote it, when the body is laid out as
// {"name": ..., "arguments": VALUE} (what the template asks for): the text after the key up to
// the object's closing brace, checked to parse to the same value.
std::optional<std::string> written_arguments(std::string_view body, const json& value) {
  const size_t key = body.find("\"arguments\"");
  if (key == std::string_view::npos) return std::nullopt;
  const size_t colon = body.find(':', key);
  const size_t close = body.rfind('}');
  if (colon == std::string_view::npos || close == std::string_view::npos || close <= colon)
    return std::nullopt;
  const std::string_view text = trim(body.substr(colon + 1, close - colon - 1));
  const json parsed = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || parsed != value) return std::nullopt;
  return std::string(text);
}

}  // namespace

ToolCallSyntax hermes_tool_calls() {
  ToolCallSyntax s;
  s.call_open = "<tool_call>";
  s.call_close = "</tool_call>";
  s.parse_call = &parse_hermes_call;
  return s;
}

std::optional<ChatToolCall> parse_hermes_call(std::string_view body) {
  body = trim(body);
  const json call = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (call.is_discarded() || !call.is_object()) return std::nullopt;
  if (!call.contains("name") || !call["name"].is_string() || !call.contains("arguments"))
    return std::nullopt;
  ChatToolCall out;
  out.name = call["name"].get<std::string>();
  if (out.name.empty()) return std::nullopt;
  const json& args = call["arguments"];
  if (args.is_string()) {
    // Some fine-tunes write the arguments as a string of JSON, as the OpenAI API carries them.
    const json inner = json::parse(args.get<std::string>(), nullptr, false);
    if (inner.is_discarded() || !inner.is_object()) return std::nullopt;
    out.arguments = args.get<std::string>();
  } else if (args.is_object()) {
    out.arguments = written_arguments(body, args).value_or(args.dump());
  } else {
    return std::nullopt;
  }
  return out;
}

void prepare_hermes_messages(nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return;
  for (auto& m : messages) {
    if (!m.is_object() || m.value("role", "") != "assistant") continue;
    if (!m.contains("reasoning_content") && m.contains("reasoning") && m["reasoning"].is_string())
      m["reasoning_content"] = m["reasoning"];
    if (m.contains("tool_calls") && (!m.contains("content") || m["content"].is_null()))
      m["content"] = "";
  }
}

}  // namespace sieve
