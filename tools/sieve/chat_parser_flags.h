// --reasoning-parser and --tool-call-parser (vLLM's names) on the commands that answer chat
// requests (`sieve serve`, `sieve run`), and the one start-up log line that says which parsers
// read chat output.
#pragma once

#include "engine/text/chat_output/chat_format.h"

namespace CLI {
class App;
}

namespace sieve {

void add_chat_parser_flags(CLI::App* cmd, ChatParserFlags& flags);

// The model's chat format under `flags` (ChatFormat::select), logged; inactive without an
// encoder (no tokenizer, so no chat).
Result<ChatFormat> select_chat_format(const PromptEncoder* encoder, const ChatParserFlags& flags);

}  // namespace sieve
