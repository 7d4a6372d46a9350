#include "engine/text/chat_output.h"

namespace sieve {

void ChatDelta::append(const ChatDelta& more) {
  reasoning += more.reasoning;
  content += more.content;
  tool_calls.insert(tool_calls.end(), more.tool_calls.begin(), more.tool_calls.end());
}

}  // namespace sieve
