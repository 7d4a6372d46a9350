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
#include "engine/serving_loop.h"

namespace sieve {

class EngineLoop final : public ServingLoop {
 public:
  // `max_queued` bounds requests submitted but not yet finished; more are refused with
  // kResourceExhausted (the HTTP front end answers 429). `placement`, when the model runs the
  // hybrid MoE executor, is its counters: copied into the snapshot after every step, on the loop
  // thread that writes them.
  EngineLoop(Engine& engine, int64_t max_queued = 4096, const HybridMoeStats* placement = nullptr);
  ~EngineLoop();  // stop(0): aborts what is still running

  Result<uint64_t> submit(GenerationRequest request, RequestSink sink) override;
  void abort(uint64_t request_id) override;
  void stop(std::chrono::milliseconds grace) override;
  bool stopping() const override { return stopping_.load(); }
  EngineSnapshot snapshot() const override;

 private:
  struct Pending {
    uint64_t id;
    GenerationRequest request;
    RequestSink sink;
  };
  void run();

  Engine& engine_;
  const int64_t max_queued_;
  const HybridMoeStats* placement_;
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
