// The messages of the distributed step protocol (distributed_loop.h), as bytes for the
// communicator's host collectives (MessagePack through nlohmann::json: exact floats, any bytes
// in strings). Each carries every field that changes a result, so a request runs on any rank
// exactly as it would in one process.
//
//   rank 0 → all (broadcast, every iteration): StepControl
//   all → rank 0 (gather, every iteration):    RankReport
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "engine/base/status.h"
#include "engine/engine.h"
#include "engine/experts/expert_placement.h"

namespace sieve {

struct PlacedRequest {
  uint64_t id = 0;  // global: increasing in arrival order, the same on every rank
  int rank = 0;     // the rank that runs it
  GenerationRequest request;
};

struct StepControl {
  std::vector<PlacedRequest> requests;
  std::vector<uint64_t> aborts;  // every rank aborts them (ids it does not run are ignored)
  bool abort_all = false;        // shutdown: end everything still running
  bool step = false;             // every rank runs Engine::step (lockstep); false when all idle
  bool exit = false;             // the run is over: every rank leaves its loop
  // Every rank's report carries its cumulative expert counters (rank 0 asks every so often
  // and once after the ranks fall idle: they are large).
  bool report_counters = false;
};

// A token event as data (TokenEvent points into the engine's state).
struct TokenRecord {
  uint64_t request_id = 0;
  int32_t token = 0;
  std::string text;
  bool has_logprobs = false;
  std::vector<TokenLogprob> logprobs;
};

// What one rank did in one iteration, in the order its sinks were called.
struct RankReport {
  std::vector<std::variant<TokenRecord, RequestOutput>> events;
  bool unfinished = false;  // Engine::has_unfinished() after the step
  int64_t load = 0;         // running + waiting sequences
  double step_seconds = 0;
  int64_t step_batch = 0;
  EngineStats stats;
  int64_t kv_blocks_total = 0, kv_blocks_free = 0, kv_blocks_cached = 0;
  std::vector<int64_t> expert_tokens;
  // The rank's expert-parallel counters since the start, after a step that ran (none where the
  // rank keeps none). Only MoE layers travel; dense layers come back empty.
  std::optional<ExpertParallelStats> expert_parallel;
};

std::vector<uint8_t> encode(const StepControl& c);
Result<StepControl> decode_control(std::span<const uint8_t> bytes);
std::vector<uint8_t> encode(const RankReport& r);
Result<RankReport> decode_report(std::span<const uint8_t> bytes);

}  // namespace sieve
