#include "engine/text/harmony/harmony_messages.h"

#include <string>

namespace sieve {

namespace {

using json = nlohmann::ordered_json;

// [{"type": "text", "text": ...}, ...] as one string; anything else is left as it is.
void join_text_parts(json& m) {
  if (!m.contains("content") || !m["content"].is_array()) return;
  std::string text;
  for (const json& part : m["content"]) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string())
      return;
    text += part["text"].get<std::string>();
  }
  m["content"] = text;
}

void prepare_assistant(json& m) {
  if (!m.contains("thinking")) {
    for (const char* key : {"reasoning_content", "reasoning"}) {
      if (m.contains(key) && m[key].is_string()) {
        m["thinking"] = m[key];
        break;
      }
    }
  }
  if (!m.contains("tool_calls") || !m["tool_calls"].is_array()) return;
  if (m.contains("content") && m["content"].is_null()) m.erase("content");
  for (json& call : m["tool_calls"]) {
    if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) continue;
    json& fn = call["function"];
    if (!fn.contains("arguments") || !fn["arguments"].is_string()) continue;
    json parsed = json::parse(fn["arguments"].get<std::string>(), nullptr,
                              /*allow_exceptions=*/false);
    if (!parsed.is_discarded()) fn["arguments"] = std::move(parsed);
  }
}

}  // namespace

void prepare_harmony_messages(json& messages) {
  if (!messages.is_array()) return;
  for (json& m : messages) {
    if (!m.is_object()) continue;
    join_text_parts(m);
    if (m.contains("role") && m["role"] == "assistant") prepare_assistant(m);
  }
}

}  // namespace sieve
