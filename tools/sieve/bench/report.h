// Results of `sieve bench serve`: the JSON result file, the terminal table, and the
// side-by-side ratios of `sieve bench compare`.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "engine/base/status.h"
#include "tools/sieve/bench/stats.h"

namespace sieve::bench {

// Token counters the server itself reported (/metrics), as deltas over one run.
struct ServerCounters {
  double prompt_tokens = 0;
  double generation_tokens = 0;
};

// One load level of a sweep.
struct RunReport {
  double request_rate = 0;  // infinity: all at once
  int max_concurrency = 0;  // 0: unlimited
  bool interrupted = false;
  Summary summary;
  std::optional<ServerCounters> server;
  std::vector<std::string> error_samples;  // a few messages, one per kind
};

nlohmann::ordered_json run_to_json(const RunReport& run);

// The table printed on the terminal: one column per run.
std::string format_table(const std::vector<RunReport>& runs);

// A table of A, B and B/A for the key figures of two result files (runs matched by position).
Result<std::string> format_comparison(const nlohmann::json& a, const nlohmann::json& b);

}  // namespace sieve::bench
