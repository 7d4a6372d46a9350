// What a chat model's output means to the OpenAI chat API, whatever format the model writes it
// in: reasoning (reasoning_content), the answer (content) and tool calls. Each format has a
// parser (engine/text/harmony for gpt-oss, engine/text/chat_output for <think> reasoning and the
// Hermes and DeepSeek-V3 tool-call syntaxes); the front ends only see this model.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sieve {

struct ChatToolCall {
  std::string name;
  std::string arguments;  // a JSON object, as text (the API hands it on as a string)
  bool operator==(const ChatToolCall&) const = default;
};

// What one push added; also (ChatOutputParser::output) everything so far.
struct ChatDelta {
  std::string reasoning;
  std::string content;
  // Calls completed by this push. A call is only known to be one when it has ended and its
  // arguments parse, so it arrives whole, never in pieces that might be taken back.
  std::vector<ChatToolCall> tool_calls;

  bool empty() const { return reasoning.empty() && content.empty() && tool_calls.empty(); }
  void append(const ChatDelta& more);
  bool operator==(const ChatDelta&) const = default;
};

// One choice's output, read while it is generated. Feeding ids one at a time or all at once
// gives the same deltas, concatenated. Per choice and single-threaded.
class ChatOutputParser {
 public:
  virtual ~ChatOutputParser() = default;

  // One generated id (ids outside the tokenizer's vocabulary add nothing, as in TextStream).
  virtual ChatDelta push(int32_t id) = 0;
  // The output ended (a stop token, max_tokens, abort): whatever is still held.
  virtual ChatDelta finish() = 0;
  // Everything pushed and finished so far.
  virtual const ChatDelta& output() const = 0;

  ChatDelta push(std::span<const int32_t> ids) {
    ChatDelta d;
    for (int32_t id : ids)
      d.append(push(id));
    return d;
  }
};

}  // namespace sieve
