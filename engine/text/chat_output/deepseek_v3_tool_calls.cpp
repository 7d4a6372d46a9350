#include "engine/text/chat_output/deepseek_v3_tool_calls.h"

#include <string>

namespace sieve {

namespace {

constexpr std::string_view kSep = "<｜tool▁sep｜>";

std::string_view trim(std::string_view s) {
  const size_t b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(" \t\r\n") - b + 1);
}

bool strip_prefix(std::string_view& s, std::string_view p) {
  if (!s.starts_with(p)) return false;
  s.remove_prefix(p.size());
  return true;
}

}  // namespace

ToolCallSyntax deepseek_v3_tool_calls() {
  ToolCallSyntax s;
  s.section_open = "<｜tool▁calls▁begin｜>";
  s.section_close = "<｜tool▁calls▁end｜>";
  s.call_open = "<｜tool▁call▁begin｜>";
  s.call_close = "<｜tool▁call▁end｜>";
  s.parse_call = &parse_deepseek_v3_call;
  return s;
}

std::optional<ChatToolCall> parse_deepseek_v3_call(std::string_view body) {
  const size_t sep = body.find(kSep);
  if (sep == std::string_view::npos || trim(body.substr(0, sep)) != "function") return std::nullopt;
  std::string_view rest = body.substr(sep + kSep.size());
  const size_t eol = rest.find('\n');
  if (eol == std::string_view::npos) return std::nullopt;
  ChatToolCall call;
  call.name = std::string(trim(rest.substr(0, eol)));
  if (call.name.empty()) return std::nullopt;
  std::string_view args = trim(rest.substr(eol + 1));
  if (!strip_prefix(args, "```json") && !strip_prefix(args, "```")) return std::nullopt;
  if (!args.ends_with("```")) return std::nullopt;
  args = trim(args.substr(0, args.size() - 3));
  const auto parsed = nlohmann::json::parse(args, nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded() || !parsed.is_object()) return std::nullopt;
  call.arguments = std::string(args);
  return call;
}

void prepare_deepseek_v3_messages(nlohmann::ordered_json& messages) {
  if (!messages.is_array()) return;
  for (auto& m : messages) {
    if (!m.is_object() || m.value("role", "") != "assistant") continue;
    if (!m.contains("tool_calls") || !m["tool_calls"].is_array() || m["tool_calls"].empty())
      continue;
    if (!m.contains("content") || (m["content"].is_string() && m["content"] == ""))
      m["content"] = nullptr;
    for (auto& call : m["tool_calls"]) {
      if (!call.is_object() || !call.contains("function") || !call["function"].is_object())
        continue;
      auto& fn = call["function"];
      if (fn.contains("arguments") && !fn["arguments"].is_string())
        fn["arguments"] = fn["arguments"].dump();
      if (!call.contains("type")) call["type"] = "function";
    }
  }
}

}  // namespace sieve
