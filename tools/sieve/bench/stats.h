// Per-request measurements of `sieve bench serve` and their summary: latency percentiles,
// throughput, goodput under latency SLOs, errors by kind.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/status.h"

namespace sieve::bench {

// What one request measured. Times in seconds from the request's send.
struct RequestResult {
  bool ok = false;
  std::string error_kind;  // "connect", "timeout", "io", "http_429", "bad_stream", ...
  std::string error_message;
  double ttft_s = 0;
  double e2e_s = 0;
  std::vector<double> itl_s;  // gaps between chunks that carried tokens
  bool has_usage = false;
  int64_t prompt_tokens = 0;      // from the server's usage
  int64_t completion_tokens = 0;  // from the server's usage
  bool stream_counted = false;    // the chunks carried token_ids
  int64_t stream_tokens = 0;      // token ids seen in the stream
};

// Latency SLOs a request must all meet to count towards goodput; unset ones are not checked.
struct Slo {
  std::optional<double> ttft_ms;
  std::optional<double> tpot_ms;
  std::optional<double> itl_ms;  // every gap
  std::optional<double> e2e_ms;
  bool any() const { return ttft_ms || tpot_ms || itl_ms || e2e_ms; }
};

// "ttft=200ms,tpot=50ms,e2e=2s" (units ms or s; a bare number is ms).
Result<Slo> parse_slo(const std::string& text);

// Linear interpolation between closest ranks (numpy's default); q in [0, 100]. 0 when empty.
double percentile(std::vector<double> values, double q);

struct Distribution {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0;  // milliseconds
};
Distribution describe_ms(const std::vector<double>& seconds);

// Time per output token of one request: (e2e - ttft) / (output tokens - 1); none for 1 token.
std::optional<double> tpot_s(const RequestResult& r);
bool meets_slo(const RequestResult& r, const Slo& slo);

struct Summary {
  int64_t completed = 0;
  int64_t failed = 0;
  std::map<std::string, int64_t> errors;  // kind -> count
  double duration_s = 0;
  int64_t input_tokens = 0;      // sum of usage.prompt_tokens over completed requests
  int64_t output_tokens = 0;     // sum of usage.completion_tokens
  int64_t stream_tokens = 0;     // token ids counted in the streams
  int64_t token_mismatches = 0;  // requests whose stream count differs from usage
  int64_t missing_usage = 0;     // completed requests whose stream had no usage
  int64_t good = 0;              // completed requests within the SLOs
  double request_throughput = 0, input_throughput = 0, output_throughput = 0, goodput = 0;
  Distribution ttft, tpot, itl, e2e;
};

Summary summarize(const std::vector<RequestResult>& results, double duration_s, const Slo& slo);

}  // namespace sieve::bench
