// What a front end (HTTP, gRPC) needs from the engine it serves: submit, abort, stop, counters.
// Two implementations: EngineLoop (engine_loop.h: one process, the engine on its own thread) and
// DistributedLoop (distributed_loop.h: rank 0 of a multi-rank run, handing requests to ranks).
//
// Sinks are called on the loop's thread and must never block.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <vector>

#include "engine/engine.h"
#include "engine/experts/expert_placement.h"
#include "engine/experts/hybrid/hybrid_stats.h"

namespace sieve {

// What front ends and /metrics read about the engine, as of the last step (summed over ranks in
// a multi-rank run).
struct EngineSnapshot {
  EngineStats stats;
  int64_t kv_blocks_total = 0, kv_blocks_free = 0, kv_blocks_cached = 0;
  int64_t queued = 0;  // submitted, not yet taken by the loop
  double last_step_seconds = 0;
  int64_t last_step_batch = 0;         // sequences in the last step
  std::vector<int64_t> expert_tokens;  // Engine::expert_token_counts()
  // [rank]: each rank's expert-parallel counters (cumulative); empty in a single process.
  std::vector<ExpertParallelStats> ranks;
  // The hybrid MoE executor's counters and residency (--expert-placement); no layers without it.
  HybridMoeStats placement;
};

class ServingLoop {
 public:
  virtual ~ServingLoop() = default;

  // Validates (on the caller's thread) and queues. The id is known at once so the caller can
  // abort before the request reaches the engine. Refused (kUnavailable) after stop() began, and
  // kResourceExhausted when too many requests are in flight.
  virtual Result<uint64_t> submit(GenerationRequest request, RequestSink sink) = 0;
  // Thread-safe; unknown or finished ids are ignored.
  virtual void abort(uint64_t request_id) = 0;
  // Stops taking requests, lets running ones finish for up to `grace`, aborts the rest and
  // joins the loop thread. Idempotent.
  virtual void stop(std::chrono::milliseconds grace) = 0;
  virtual bool stopping() const = 0;
  virtual EngineSnapshot snapshot() const = 0;
  // Whether the loop can serve now (GET /health, gRPC HealthCheck): kUnavailable with the
  // reason while it cannot (DistributedLoop: the ranks are stuck). Shutdown is stopping().
  virtual Status health() const { return Status::Ok(); }

  // Called on the loop thread after every step (metrics, routing telemetry); set before the
  // first submit.
  std::function<void(const EngineSnapshot&)> on_step;
};

}  // namespace sieve
