// What `sieve bench serve` sends: random token-id prompts of fixed, uniform or normal lengths
// (optionally behind a shared prefix), or prompts read from a JSONL file.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"

namespace sieve::bench {

enum class LengthDist { kFixed, kUniform, kNormal };

Result<LengthDist> parse_length_dist(const std::string& name);

struct WorkloadOptions {
  int num_prompts = 100;
  int input_len = 256;
  int output_len = 128;
  LengthDist dist = LengthDist::kFixed;
  // uniform: lengths in [len * (1 - r), len * (1 + r)]; normal: standard deviation len * r.
  double range_ratio = 0.25;
  int shared_prefix_len = 0;  // ids every prompt starts with (before its input_len own ids)
  int64_t vocab_size = 0;     // 0: unknown, ids in [1000, 30000)
  std::string dataset_path;   // JSONL; replaces the random prompts when set
  uint64_t seed = 0;
};

// One request of the workload.
struct WorkItem {
  bool chat = false;                 // /v1/chat/completions (messages) or /v1/completions
  nlohmann::json prompt;             // token ids or text (completions), or the messages (chat)
  int64_t expected_prompt_len = -1;  // known for token-id prompts
  int64_t output_len = 0;
};

// The token ids random prompts are drawn from: [lo, hi).
struct IdRange {
  int64_t lo;
  int64_t hi;
};
IdRange token_id_range(int64_t vocab_size);

// Draws `n` lengths around `mean` (each at least 1).
std::vector<int64_t> draw_lengths(LengthDist dist, int64_t mean, double range_ratio, int n,
                                  uint64_t seed);

Result<std::vector<WorkItem>> make_workload(const WorkloadOptions& opts);

}  // namespace sieve::bench
