// The engine on its own thread, for front ends that many clients share (HTTP, gRPC).
//
// One thread owns the Engine: the scheduler, the KV pages, the model. Front-end threads call
// submit() and abort(), which validate and queue; the loop thread drains the queue between
// steps. Results leave through each request's RequestSink, called on the loop thread: a sink
// must hand its data off (post to an I/O thread, push to a queue) and never block, or it
// stalls every request.
//
// Each step runs four phases, in order: take requests and aborts from the queue; schedule and
// run one forward step (Engine::step: sample, deliver tokens, finish requests); publish the
// counters front ends read (snapshot()); when idle, sleep until the queue has work.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "engine/engine.h"

namespace sieve {

// What front ends and /metrics read about the engine, as of the last step.
struct EngineSnapshot {
  EngineStats stats;
  int64_t kv_blocks_total = 0, kv_blocks_free = 0, kv_blocks_cached = 0;
  int64_t queued = 0;  // submitted, not yet taken by the loop
  double last_step_seconds = 0;
  int64_t last_step_batch = 0;         // sequences in the last step
  std::vector<int64_t> expert_tokens;  // Engine::expert_token_counts()
};

class EngineLoop {
 public:
  // `max_queued` bounds requests submitted but not yet finished; more are refused with
  // kResourceExhausted (the HTTP front end answers 429).
  EngineLoop(Engine& engine, int64_t max_queued = 4096);
  ~EngineLoop();  // stop(0): aborts what is still running

  // Validates (on the caller's thread) and queues. The id is known at once so the caller can
  // abort before the request reaches the engine. Refused after stop() began.
  Result<uint64_t> submit(GenerationRequest request, RequestSink sink);
  // Thread-safe; unknown or finished ids are ignored.
  void abort(uint64_t request_id);

  // Stops taking requests, lets running ones finish for up to `grace`, aborts the rest and
  // joins the loop thread. Idempotent.
  void stop(std::chrono::milliseconds grace);
  bool stopping() const { return stopping_.load(); }

  EngineSnapshot snapshot() const;
  // Called on the loop thread after every step (metrics, routing telemetry); set before the
  // first submit.
  std::function<void(const EngineSnapshot&)> on_step;

 private:
  struct Pending {
    uint64_t id;
    GenerationRequest request;
    RequestSink sink;
  };
  void run();

  Engine& engine_;
  const int64_t max_queued_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Pending> pending_;
  std::vector<uint64_t> aborts_;
  uint64_t next_id_ = 1;
  int64_t in_flight_ = 0;  // submitted and not finished
  bool quit_ = false;      // the loop thread exits when it sees this
  std::atomic<bool> stopping_{false};
  EngineSnapshot snapshot_;
  std::thread thread_;
};

}  // namespace sieve
