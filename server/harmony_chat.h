// Chat completions from a harmony model (gpt-oss) in OpenAI's shape: the analysis channel as
// `reasoning_content`, final (and preamble commentary) as `content`, calls to functions as
// `tool_calls` with finish_reason "tool_calls". The parsing is engine/text/harmony's; this file
// only writes the JSON the OpenAI API and its clients expect.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/text/harmony/harmony_parser.h"

namespace sieve::server {

using json = nlohmann::ordered_json;

// "call_" and 24 random letters and digits, as OpenAI's ids look.
std::string new_tool_call_id();

// The engine's finish reason, as the API says it: a turn that stopped (at <|call|>) with tool
// calls in it ended to call them.
std::string harmony_finish_reason(const std::string& engine_reason, const HarmonyDelta& output);

// The non-streaming `message` of a choice: role, content (null when there are only tool calls),
// reasoning_content (null when there is none), tool_calls (when there are any).
json harmony_message(const HarmonyDelta& output);

// One streamed choice: its parser, and how many tool calls it has numbered.
class HarmonyStream {
 public:
  HarmonyStream(std::shared_ptr<const Tokenizer> tokenizer, const HarmonyTokens& tokens);

  // The `delta` objects (without role) one generated token makes: none while a header or a
  // tool call is still being written. A completed call comes as two: {index, id, type,
  // function {name, arguments: ""}}, then {index, function {arguments}}, which is how OpenAI
  // streams a call and what its clients assemble.
  std::vector<json> push(int32_t token);
  // The output ended: the deltas of whatever the parser still held.
  std::vector<json> finish();

  const HarmonyDelta& output() const { return parser_.output(); }

 private:
  std::vector<json> deltas(const HarmonyDelta& d);

  HarmonyParser parser_;
  size_t calls_ = 0;
};

}  // namespace sieve::server
