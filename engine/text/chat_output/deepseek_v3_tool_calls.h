// DeepSeek-V3's tool calls, as its chat template writes them: a section of calls, each naming
// its type and function, the arguments in a fenced JSON block (one token per marker):
//
//   <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME\n```json\n{...}\n```<｜tool▁call▁end｜>
//   \n<｜tool▁call▁begin｜>...<｜tool▁call▁end｜><｜tool▁calls▁end｜>
#pragma once

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "engine/text/chat_output/marked_output_parser.h"

namespace sieve {

ToolCallSyntax deepseek_v3_tool_calls();

// "function<｜tool▁sep｜>NAME\n```json\nARGS\n```" → {NAME, ARGS as written}; nullopt unless the
// type is "function", the name is not empty and ARGS is a JSON object.
std::optional<ChatToolCall> parse_deepseek_v3_call(std::string_view body);

// A request history made renderable by DeepSeek-V3's template, which renders an assistant
// message's tool_calls only when its `content` is null (so "" or a missing content beside
// tool_calls becomes null) and joins `arguments` into the prompt as a string (so an object
// becomes its JSON text).
void prepare_deepseek_v3_messages(nlohmann::ordered_json& messages);

}  // namespace sieve
