// `sieve run`: offline batch generation from a JSONL file (see jsonl_requests.h).
#pragma once

#include <string>

#include "engine/text/chat_output/chat_format.h"
#include "tools/sieve/engine_flags.h"

namespace CLI {
class App;
}

namespace sieve {

struct RunOptions {
  std::string model;
  std::string input;
  std::string output;
  std::string tokenizer;  // tokenizer.json or its directory; empty: the model directory's
  int64_t default_max_tokens = 16;
  EngineFlags engine;
  ChatParserFlags chat;  // how chat lines' output is read (--reasoning-parser, ...)
};

void add_run_command(CLI::App& app);
// Returns the process exit code: 0 when the batch ran (lines with errors included), 1 when it
// could not run at all.
int run_batch(const RunOptions& options);

}  // namespace sieve
