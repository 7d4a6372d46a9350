// A chat model's parsed output in OpenAI's shape, whatever format the model wrote it in
// (harmony, <think> reasoning, Hermes or DeepSeek-V3 tool calls: engine/text/chat_output.h):
// reasoning as `reasoning_content`, the answer as `content`, calls as `tool_calls` with
// finish_reason "tool_calls". The parsing is the engine's; this file only writes the JSON the
// OpenAI API and its clients expect.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/text/chat_output.h"

namespace sieve::server {

using json = nlohmann::ordered_json;

// "call_" and 24 random letters and digits, as OpenAI's ids look.
std::string new_tool_call_id();

// The engine's finish reason, as the API says it: a turn that stopped (a stop token, EOS) with
// tool calls in it ended to call them.
std::string chat_finish_reason(const std::string& engine_reason, const ChatDelta& output);

// The non-streaming `message` of a choice: role, content (null when there are only tool calls),
// reasoning_content (null when there is none), tool_calls (when there are any).
json chat_message_json(const ChatDelta& output);

// One streamed choice: its parser, and how many tool calls it has numbered.
class ChatStream {
 public:
  explicit ChatStream(std::unique_ptr<ChatOutputParser> parser);

  // The `delta` objects (without role) one generated token makes: none while a marker, a
  // harmony header or a tool call is still being written. A completed call comes as two: {index,
  // id, type, function {name, arguments: ""}}, then {index, function {arguments}}, which is how
  // OpenAI streams a call and what its clients assemble.
  std::vector<json> push(int32_t token);
  // The output ended: the deltas of whatever the parser still held.
  std::vector<json> finish();

  const ChatDelta& output() const { return parser_->output(); }

 private:
  std::vector<json> deltas(const ChatDelta& d);

  std::unique_ptr<ChatOutputParser> parser_;
  size_t calls_ = 0;
};

}  // namespace sieve::server
