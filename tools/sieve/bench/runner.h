// Drives one load level of `sieve bench serve`: requests sent at a Poisson or constant rate
// (or all at once), at most `max_concurrency` in flight, each streamed and timed.
#pragma once

#include <atomic>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "tools/sieve/bench/http_client.h"
#include "tools/sieve/bench/stats.h"
#include "tools/sieve/bench/workload.h"

namespace sieve::bench {

// How each request is sent.
struct RequestOptions {
  std::string model;
  bool return_token_ids = true;  // vLLM's extension: token ids in each chunk
  double timeout_s = 600;
};

// Sends one streamed request and measures it.
RequestResult send_request(const Endpoint& ep, const RequestOptions& ro, const WorkItem& item);

struct LoadOptions {
  double request_rate = 0;  // requests/s; infinity: all at once
  bool poisson = true;      // exponential gaps; false: constant 1/rate
  int max_concurrency = 0;  // 0: no limit but the arrival schedule (threads capped)
  uint64_t seed = 0;
  // > 0: keep sending (cycling through the workload) until this many seconds have passed,
  // instead of sending each item once.
  double duration_s = 0;
  std::string label;  // progress bar label
};

struct LoadResult {
  std::vector<RequestResult> results;  // of the requests that were sent, in order of sending
  double duration_s = 0;               // first send to last completion
  bool interrupted = false;            // `stop` was raised before all were sent
};

// Arrival times (seconds from the start) of successive requests.
class ArrivalClock {
 public:
  explicit ArrivalClock(const LoadOptions& lo);
  double next();

 private:
  double rate_;
  bool poisson_;
  std::mt19937_64 rng_;
  double now_ = 0;
};

// The first n arrival times.
std::vector<double> arrival_times(const LoadOptions& lo, int n);

// Runs `items` under the load; stops sending new requests once `stop` is true.
LoadResult run_load(const Endpoint& ep, const RequestOptions& ro,
                    const std::vector<WorkItem>& items, const LoadOptions& lo,
                    const std::atomic<bool>& stop);

}  // namespace sieve::bench
