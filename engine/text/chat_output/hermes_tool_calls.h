// Hermes-style tool calls, as Qwen3 (and Qwen2.5, Hermes) models write them: each call a JSON
// object with "name" and "arguments" between <tool_call> and </tool_call>, one or several per
// turn, on lines of their own after any content:
//
//   Let me check.\n<tool_call>\n{"name": "get_weather", "arguments": {"city":
//   "Paris"}}\n</tool_call>
#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/text/chat_output/marked_output_parser.h"

namespace sieve {

ToolCallSyntax hermes_tool_calls();

// The call between the markers; nullopt unless it is a JSON object with a non-empty string
// "name" and an object "arguments" (or a string holding one). The arguments come back as the
// model wrote them when they can be cut out of the body exactly.
std::optional<ChatToolCall> parse_hermes_call(std::string_view body);

// A request history made renderable by a Hermes template (Qwen3's): a null `content` beside
// tool_calls becomes "" (the template reads it as a string: `'</think>' in message.content`),
// and `reasoning` becomes `reasoning_content`, the name the template reads. Arguments stay as
// they are: the template writes a string verbatim and an object with tojson.
void prepare_hermes_messages(nlohmann::ordered_json& messages);

}  // namespace sieve
