// Routing traces: per step and per MoE layer, how many tokens the router sent to each expert.
// `--record-routing FILE` writes one from a real run (sieve run, sieve serve); synthetic ones are
// drawn from routing statistics; `sieve bench placement` replays any of them through every
// placement policy's planner and cost model.
//
// The file is JSON Lines. Line 1, the header:
//   {"format": "sieve-routing-trace", "version": 1, "source": "<how it was made>",
//    "model_type": "<config.json model_type>", "num_layers": 48, "num_experts": 128, "top_k": 8,
//    "moe_layers": [0, 1, ...]}
// then one line per step that ran the model:
//   {"tokens": 37, "layers": [[e, n, e, n, ...], ...]}
// where "layers" has one list per entry of moe_layers, in that order, holding (expert, count)
// pairs for the experts that got at least one token, experts ascending. The counts of a layer
// sum to tokens × top_k.
#pragma once

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "engine/base/status.h"

namespace sieve {

struct RoutingTraceHeader {
  std::string source;  // "sieve run --record-routing on <model dir>", "zipf:1.2", ...
  std::string model_type;
  int64_t num_layers = 0;
  int64_t num_experts = 0;
  int64_t top_k = 0;
  std::vector<int64_t> moe_layers;  // model layer index of each traced MoE layer
};

struct RoutingStep {
  int64_t tokens = 0;
  std::vector<std::vector<int32_t>> counts;  // [moe layer (header order)][expert]
};

struct RoutingTrace {
  RoutingTraceHeader header;
  std::vector<RoutingStep> steps;
};

// Appends steps to a trace file as they happen (one line each, flushed).
class RoutingTraceWriter {
 public:
  static Result<RoutingTraceWriter> open(const std::string& path, const RoutingTraceHeader& header);
  Status write(const RoutingStep& step);
  int64_t steps_written() const { return steps_; }

 private:
  RoutingTraceWriter() = default;
  std::ofstream out_;
  int64_t num_moe_layers_ = 0, num_experts_ = 0;
  int64_t steps_ = 0;
};

// Reads and checks a whole trace: the header's format and version, every step's layer count,
// expert ids in range and ascending, counts positive and summing to tokens × top_k. Errors name
// the file and line.
Result<RoutingTrace> read_routing_trace(const std::string& path);

}  // namespace sieve
