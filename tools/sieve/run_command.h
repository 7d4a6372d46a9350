// `sieve run`: offline batch generation from a JSONL file (see jsonl_requests.h).
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace sieve {

struct RunOptions {
  std::string model;
  std::string input;
  std::string output;
  std::string tokenizer;  // tokenizer.json or its directory; empty: the model directory's
  std::string dtype = "auto";
  int threads = 0;
  int64_t max_num_seqs = 64;
  int64_t max_num_batched_tokens = 512;
  int64_t block_size = 16;
  double kv_cache_gib = 2.0;
  int64_t max_model_len = 0;
  int64_t default_max_tokens = 16;
  uint64_t seed = 0;
};

void add_run_command(CLI::App& app);
// Returns the process exit code: 0 when the batch ran (lines with errors included), 1 when it
// could not run at all.
int run_batch(const RunOptions& options);

}  // namespace sieve
