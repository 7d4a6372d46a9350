// A conversation as OpenAI clients send it, rewritten into the fields a harmony chat template
// reads, so that earlier turns (reasoning, tool calls, tool results) render as the model wrote
// them.
#pragma once

#include <nlohmann/json.hpp>

namespace sieve {

// In place, on each assistant message (anything that is not an object is left for the
// template's validation to refuse):
//  - `reasoning_content` (or `reasoning`) becomes `thinking`, the template's name for the
//    analysis channel, unless `thinking` is there already;
//  - each `tool_calls[].function.arguments` that is a string holding JSON becomes that JSON:
//    OpenAI sends arguments as a string, the template writes them with `tojson`, and a string
//    would come out quoted instead of as the object the model wrote;
//  - a null `content` beside `tool_calls` is dropped (OpenAI clients send it; the template
//    tests `in message.content`).
// On every message, a `content` list of text parts becomes their concatenated text.
void prepare_harmony_messages(nlohmann::ordered_json& messages);

}  // namespace sieve
