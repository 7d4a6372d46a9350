// Serving over the ranks of a multi-process run (`mpirun -np N sieve serve
// --expert-parallel-size N`). Rank 0 runs the front ends over a DistributedLoop; every other rank
// runs run_distributed_worker. Each holds its own Engine (options.lockstep) and runs the
// sequences it is given; all ranks step together, because every MoE layer is an all-to-all.
//
// The step protocol (engine/step_protocol.h), once per iteration, on the communicator's host
// collectives, from the thread that owns the engine:
//   1. rank 0 broadcasts a StepControl: new requests, each with its global id and the rank
//      chosen for it (the least loaded: running + waiting sequences as of the last iteration),
//      aborts, whether to step, whether to exit;
//   2. every rank adds its requests (sinks that record events in an outbox), applies the aborts
//      and, when told, runs Engine::step (an idle rank runs an empty step);
//   3. every rank's RankReport (token events, finished requests, load, counters, and every
//      quarter second while busy its expert counters and ExpertParallelStats) is gathered at
//      rank 0, which calls the real sinks, in each rank's order, and publishes the counters
//      (EngineSnapshot::ranks for the per-rank ones).
// When no rank has work and nothing is queued, rank 0 waits for a submission for up to
// `heartbeat` before the next broadcast, so an idle run does not spin, and the other ranks (who
// wait in the broadcast) hear from it well within the communicator's timeout.
//
// A collective that fails (a rank died or hangs: the communicator's timeout) ends the process
// with one error line; nothing can continue without the lost rank. While rank 0 waits on the
// others for longer than `stuck_after`, health() says so and submit() refuses with kUnavailable
// (HTTP 503).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include "engine/distributed/communicator.h"
#include "engine/engine.h"
#include "engine/experts/expert_placement.h"
#include "engine/serving_loop.h"
#include "engine/step_protocol.h"

namespace sieve {

struct DistributedLoopOptions {
  int64_t max_queued = 4096;  // requests in flight before kResourceExhausted
  double heartbeat_s = 0.5;   // an idle rank 0 broadcasts at least this often
  // submit() answers kUnavailable while an iteration has waited on the ranks this long (or 3x
  // the last iteration, if longer).
  double stuck_after_s = 1.0;
  // This rank's expert-parallel counters (the model writes them during Engine::step), reported
  // after every step; null: none.
  const ExpertParallelStats* expert_parallel = nullptr;
};

// Rank 0: the front ends' loop. Starts its thread at construction.
class DistributedLoop final : public ServingLoop {
 public:
  DistributedLoop(Engine& engine, Communicator& comm, DistributedLoopOptions options = {});
  ~DistributedLoop() override;  // stop(0)

  Result<uint64_t> submit(GenerationRequest request, RequestSink sink) override;
  void abort(uint64_t request_id) override;
  // Drains for up to `grace`, aborts the rest, then tells every rank to exit.
  void stop(std::chrono::milliseconds grace) override;
  bool stopping() const override { return stopping_.load(); }
  EngineSnapshot snapshot() const override;
  // kUnavailable while rank 0 has waited on the other ranks longer than stuck_after.
  Status health() const override;

 private:
  struct Pending {
    uint64_t id;
    GenerationRequest request;
  };
  void run();
  // Builds this iteration's StepControl from the queue (waits while everything is idle).
  StepControl next_control();
  // Calls the sinks for every rank's events and publishes the counters.
  void deliver(std::vector<RankReport>& reports, double seconds, bool stepped);

  Engine& engine_;
  Communicator& comm_;
  const DistributedLoopOptions options_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Pending> pending_;
  std::vector<uint64_t> aborts_;
  std::unordered_map<uint64_t, RequestSink> sinks_;  // submitted, not finished
  uint64_t next_id_ = 1;
  bool quit_ = false;
  std::atomic<bool> stopping_{false};
  EngineSnapshot snapshot_;
  // Loop thread only.
  std::vector<int64_t> load_;    // per rank: running + waiting, as of the last iteration
  std::vector<int64_t> placed_;  // per rank: requests handed to it so far (logged at exit)
  // Per rank: the last expert counters it sent (ranks send them every so often).
  std::vector<std::vector<int64_t>> expert_tokens_of_;
  std::vector<ExpertParallelStats> expert_parallel_of_;
  bool any_unfinished_ = false;
  // Expert counters: when rank 0 last asked for them, and whether a step ran since.
  static constexpr std::chrono::milliseconds kCountersEvery{250};
  std::chrono::steady_clock::time_point counters_asked_{};
  bool counters_stale_ = false;
  bool abort_all_sent_ = false;
  // When the current iteration began waiting on the ranks (steady clock, ns; 0: not waiting),
  // and how long counts as stuck.
  std::atomic<int64_t> waiting_since_ns_{0};
  std::atomic<double> stuck_after_s_;
  std::thread thread_;
};

// Ranks > 0: follows rank 0's StepControls until one says exit, reporting `expert_parallel`
// (this rank's counters; null: none) with its expert counters. A failed collective ends the
// process.
void run_distributed_worker(Engine& engine, Communicator& comm,
                            const ExpertParallelStats* expert_parallel = nullptr);

}  // namespace sieve
