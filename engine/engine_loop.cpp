#include "engine/engine_loop.h"

#include <spdlog/spdlog.h>

namespace sieve {

EngineLoop::EngineLoop(Engine& engine, int64_t max_queued, const HybridMoeStats* placement)
    : engine_(engine), max_queued_(max_queued), placement_(placement) {
  snapshot_.kv_blocks_total = engine.num_kv_blocks();
  snapshot_.kv_blocks_free = engine.num_free_kv_blocks();
  if (placement_) snapshot_.placement = *placement_;  // the loop thread has not started
  thread_ = std::thread([this] { run(); });
}

EngineLoop::~EngineLoop() {
  stop(std::chrono::milliseconds(0));
}

Result<uint64_t> EngineLoop::submit(GenerationRequest request, RequestSink sink) {
  if (stopping_) return unavailable("the server is shutting down");
  SIEVE_RETURN_IF_ERROR(engine_.validate(request));
  std::lock_guard lock(mu_);
  if (quit_) return unavailable("the server is shutting down");
  if (in_flight_ >= max_queued_) {
    return resource_exhausted("too many requests in flight (" + std::to_string(max_queued_) +
                              "); retry later");
  }
  const uint64_t id = next_id_++;
  ++in_flight_;
  // Count the request out when it finishes, whichever way.
  auto on_finish = std::move(sink.on_finish);
  sink.on_finish = [this, on_finish = std::move(on_finish)](RequestOutput&& out) {
    {
      std::lock_guard l(mu_);
      --in_flight_;
    }
    if (on_finish) on_finish(std::move(out));
  };
  pending_.push_back({id, std::move(request), std::move(sink)});
  wake_.notify_one();
  return id;
}

void EngineLoop::abort(uint64_t request_id) {
  std::lock_guard lock(mu_);
  aborts_.push_back(request_id);
  wake_.notify_one();
}

void EngineLoop::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  {
    std::unique_lock lock(mu_);
    const auto deadline = std::chrono::steady_clock::now() + grace;
    wake_.wait_until(lock, deadline, [this] { return in_flight_ == 0; });
    quit_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

EngineSnapshot EngineLoop::snapshot() const {
  std::lock_guard lock(mu_);
  EngineSnapshot s = snapshot_;
  s.queued = static_cast<int64_t>(pending_.size());
  return s;
}

void EngineLoop::run() {
  std::vector<Pending> arrivals;
  std::vector<uint64_t> aborts;
  bool quitting = false;
  while (true) {
    // Phase 1: take requests and aborts from the queue (sleep while there is nothing to do).
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] {
        return quit_ || !pending_.empty() || !aborts_.empty() || engine_.has_unfinished();
      });
      quitting = quit_;
      while (!pending_.empty()) {
        arrivals.push_back(std::move(pending_.front()));
        pending_.pop_front();
      }
      aborts.swap(aborts_);
    }
    for (Pending& p : arrivals) {
      auto added = engine_.add_request(std::move(p.request), p.sink, p.id);
      if (!added.ok()) {
        // validate() passed on submit and nothing it checks changes; this is a bug.
        spdlog::error("request {} refused by the engine after validation: {}", p.id,
                      added.status().message());
        RequestOutput out;
        out.request_id = p.id;
        out.finish_reason = "abort";
        if (p.sink.on_finish) p.sink.on_finish(std::move(out));
      }
    }
    arrivals.clear();
    for (uint64_t id : aborts)
      engine_.abort(id);
    aborts.clear();
    if (quitting) {
      // Shutdown: whatever is left is aborted, its sinks told.
      engine_.abort_all();
      while (engine_.has_unfinished())
        engine_.step();
      break;
    }

    // Phase 2: one forward step.
    const auto t0 = std::chrono::steady_clock::now();
    engine_.step();
    const double secs =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // Phase 3: publish counters.
    EngineSnapshot snap;
    snap.stats = engine_.stats();
    snap.kv_blocks_total = engine_.num_kv_blocks();
    snap.kv_blocks_free = engine_.num_free_kv_blocks();
    snap.kv_blocks_cached = engine_.num_cached_kv_blocks();
    snap.last_step_seconds = secs;
    snap.last_step_batch = engine_.last_step_batch();
    snap.expert_tokens = engine_.expert_token_counts();
    if (placement_) snap.placement = *placement_;
    {
      std::lock_guard lock(mu_);
      snapshot_ = snap;
      wake_.notify_all();  // stop() waits for in_flight_ to reach 0
    }
    if (on_step) on_step(snap);
  }
}

}  // namespace sieve
