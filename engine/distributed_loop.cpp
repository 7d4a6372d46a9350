#include "engine/distributed_loop.h"

#include <algorithm>
#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>

namespace sieve {
namespace {

using Clock = std::chrono::steady_clock;

int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// A lost rank: nothing can go on without it (every step is collective), so the process ends.
[[noreturn]] void exit_lost_rank(int rank, const Status& s) {
  spdlog::error("rank {}: the distributed step failed: {}; exiting", rank, s.message());
  spdlog::default_logger()->flush();
  std::_Exit(1);
}

// One rank's engine inside the protocol: adds its requests with sinks that record into an
// outbox, applies aborts, steps, reports.
class RankEngine {
 public:
  RankEngine(Engine& engine, int rank, const ExpertParallelStats* expert_parallel)
      : engine_(engine), rank_(rank), expert_parallel_(expert_parallel) {}

  void apply(StepControl& c) {
    for (PlacedRequest& p : c.requests) {
      if (p.rank != rank_) continue;
      RequestSink sink;
      sink.on_token = [this](const TokenEvent& e) {
        TokenRecord t;
        t.request_id = e.request_id;
        t.token = e.token;
        t.text = std::string(e.text);
        if (e.logprobs) {
          t.has_logprobs = true;
          t.logprobs = *e.logprobs;
        }
        outbox_.emplace_back(std::move(t));
      };
      sink.on_finish = [this](RequestOutput&& out) { outbox_.emplace_back(std::move(out)); };
      auto added = engine_.add_request(std::move(p.request), std::move(sink), p.id);
      if (!added.ok()) {
        // Rank 0 validated it against an identical engine; this is a bug.
        spdlog::error("rank {}: request {} refused after validation: {}", rank_, p.id,
                      added.status().message());
        RequestOutput out;
        out.request_id = p.id;
        out.finish_reason = "abort";
        outbox_.emplace_back(std::move(out));
      }
    }
    for (uint64_t id : c.aborts)
      engine_.abort(id);
    if (c.abort_all) engine_.abort_all();
  }

  RankReport run(bool step, bool report_counters) {
    RankReport r;
    if (step) {
      const auto t0 = Clock::now();
      engine_.step();
      r.step_seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    }
    r.events = std::move(outbox_);
    outbox_.clear();
    r.unfinished = engine_.has_unfinished();
    r.stats = engine_.stats();
    r.load = r.stats.running + r.stats.waiting;
    r.step_batch = engine_.last_step_batch();
    r.kv_blocks_total = engine_.num_kv_blocks();
    r.kv_blocks_free = engine_.num_free_kv_blocks();
    r.kv_blocks_cached = engine_.num_cached_kv_blocks();
    if (report_counters) {
      r.expert_tokens = engine_.expert_token_counts();
      if (expert_parallel_) r.expert_parallel = *expert_parallel_;
    }
    return r;
  }

 private:
  Engine& engine_;
  int rank_;
  const ExpertParallelStats* expert_parallel_;
  std::vector<std::variant<TokenRecord, RequestOutput>> outbox_;
};

}  // namespace

// ---------------------------------------------------------------------------------------------
// Rank 0

DistributedLoop::DistributedLoop(Engine& engine, Communicator& comm, DistributedLoopOptions options)
    : engine_(engine),
      comm_(comm),
      options_(options),
      load_(comm.size(), 0),
      placed_(comm.size(), 0),
      expert_tokens_of_(comm.size()),
      expert_parallel_of_(comm.size()),
      stuck_after_s_(options.stuck_after_s) {
  snapshot_.kv_blocks_total = engine.num_kv_blocks() * comm.size();
  snapshot_.kv_blocks_free = engine.num_free_kv_blocks() * comm.size();
  thread_ = std::thread([this] { run(); });
}

DistributedLoop::~DistributedLoop() {
  stop(std::chrono::milliseconds(0));
}

Status DistributedLoop::health() const {
  const int64_t since = waiting_since_ns_.load();
  if (since == 0) return Status::Ok();
  const double waited = static_cast<double>(now_ns() - since) * 1e-9;
  if (waited <= stuck_after_s_.load()) return Status::Ok();
  return unavailable("the engine's ranks are not responding (rank 0 has waited " +
                     std::to_string(static_cast<int64_t>(waited)) +
                     " s for them to finish a step); retry later");
}

Result<uint64_t> DistributedLoop::submit(GenerationRequest request, RequestSink sink) {
  if (stopping_) return unavailable("the server is shutting down");
  SIEVE_RETURN_IF_ERROR(health());
  SIEVE_RETURN_IF_ERROR(engine_.validate(request));
  std::lock_guard lock(mu_);
  if (quit_) return unavailable("the server is shutting down");
  if (static_cast<int64_t>(sinks_.size()) >= options_.max_queued) {
    return resource_exhausted("too many requests in flight (" +
                              std::to_string(options_.max_queued) + "); retry later");
  }
  const uint64_t id = next_id_++;
  sinks_.emplace(id, std::move(sink));
  pending_.push_back({id, std::move(request)});
  wake_.notify_one();
  return id;
}

void DistributedLoop::abort(uint64_t request_id) {
  std::lock_guard lock(mu_);
  aborts_.push_back(request_id);
  wake_.notify_one();
}

void DistributedLoop::stop(std::chrono::milliseconds grace) {
  stopping_ = true;
  {
    std::unique_lock lock(mu_);
    wake_.wait_until(lock, Clock::now() + grace, [this] { return sinks_.empty(); });
    quit_ = true;
    wake_.notify_all();
  }
  if (thread_.joinable()) thread_.join();
}

EngineSnapshot DistributedLoop::snapshot() const {
  std::lock_guard lock(mu_);
  EngineSnapshot s = snapshot_;
  s.queued = static_cast<int64_t>(pending_.size());
  return s;
}

StepControl DistributedLoop::next_control() {
  StepControl c;
  std::unique_lock lock(mu_);
  if (!any_unfinished_ && !quit_) {
    // Idle everywhere: wait for work, but no longer than a heartbeat.
    wake_.wait_for(lock, std::chrono::duration<double>(options_.heartbeat_s),
                   [this] { return quit_ || !pending_.empty() || !aborts_.empty(); });
  }
  while (!pending_.empty()) {
    Pending& p = pending_.front();
    const int rank = static_cast<int>(std::min_element(load_.begin(), load_.end()) - load_.begin());
    ++load_[rank];
    ++placed_[rank];
    c.requests.push_back({p.id, rank, std::move(p.request)});
    pending_.pop_front();
  }
  c.aborts.swap(aborts_);
  if (quit_ && !abort_all_sent_) {
    c.abort_all = abort_all_sent_ = true;
  } else if (abort_all_sent_ && !any_unfinished_) {
    c.exit = true;
  }
  c.step = !c.exit && (any_unfinished_ || c.abort_all || !c.requests.empty() || !c.aborts.empty());
  // The expert counters are cumulative and tens of kilobytes per rank for a large model: asked
  // for every kCountersEvery while stepping, and once when the ranks have fallen idle, so
  // /metrics ends exact.
  const auto now = Clock::now();
  if (c.step) counters_stale_ = true;  // this step changes them
  if (counters_stale_ && (!c.step || now - counters_asked_ >= kCountersEvery)) {
    c.report_counters = true;  // taken after this iteration's step, if any
    counters_asked_ = now;
    counters_stale_ = false;
  }
  return c;
}

void DistributedLoop::run() {
  RankEngine mine(engine_, comm_.rank(), options_.expert_parallel);
  while (true) {
    StepControl c = next_control();
    const auto t0 = Clock::now();
    waiting_since_ns_ = now_ns();
    std::vector<uint8_t> bytes = encode(c);
    if (Status s = comm_.broadcast(bytes, 0); !s.ok()) exit_lost_rank(comm_.rank(), s);
    mine.apply(c);
    if (c.exit) break;
    const std::vector<uint8_t> report = encode(mine.run(c.step, c.report_counters));
    std::vector<std::vector<uint8_t>> all;
    if (Status s = comm_.gather(report, &all, 0); !s.ok()) exit_lost_rank(comm_.rank(), s);
    waiting_since_ns_ = 0;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    stuck_after_s_ = std::max(options_.stuck_after_s, 3 * secs);
    std::vector<RankReport> reports;
    for (const auto& b : all) {
      auto r = decode_report(b);
      if (!r.ok()) exit_lost_rank(comm_.rank(), r.status());
      reports.push_back(std::move(*r));
    }
    deliver(reports, secs, c.step);
  }
  waiting_since_ns_ = 0;
  std::string placed;
  for (size_t r = 0; r < placed_.size(); ++r)
    placed += (r ? ", " : "") + std::to_string(placed_[r]);
  spdlog::info("all {} ranks stopped; requests run per rank: {}", comm_.size(), placed);
  // Every rank has exited its loop; anything still registered never reached a rank.
  std::unordered_map<uint64_t, RequestSink> left;
  {
    std::lock_guard lock(mu_);
    left.swap(sinks_);
  }
  for (auto& [id, sink] : left) {
    RequestOutput out;
    out.request_id = id;
    out.finish_reason = "abort";
    if (sink.on_finish) sink.on_finish(std::move(out));
  }
}

void DistributedLoop::deliver(std::vector<RankReport>& reports, double seconds, bool stepped) {
  EngineSnapshot snap;
  snap.last_step_seconds = seconds;
  bool unfinished = false;
  bool counters_changed = false;
  for (size_t r = 0; r < reports.size(); ++r) {
    RankReport& rep = reports[r];
    for (auto& e : rep.events) {
      if (auto* t = std::get_if<TokenRecord>(&e)) {
        RequestSink* sink = nullptr;
        {
          std::lock_guard lock(mu_);
          auto it = sinks_.find(t->request_id);
          if (it != sinks_.end()) sink = &it->second;
        }
        if (!sink || !sink->on_token) continue;
        TokenEvent ev;
        ev.request_id = t->request_id;
        ev.token = t->token;
        ev.text = t->text;
        ev.logprobs = t->has_logprobs ? &t->logprobs : nullptr;
        sink->on_token(ev);
      } else {
        RequestOutput& out = std::get<RequestOutput>(e);
        RequestSink sink;
        {
          std::lock_guard lock(mu_);
          auto it = sinks_.find(out.request_id);
          if (it == sinks_.end()) continue;
          sink = std::move(it->second);
          sinks_.erase(it);
        }
        if (sink.on_finish) sink.on_finish(std::move(out));
      }
    }
    load_[r] = rep.load;
    unfinished = unfinished || rep.unfinished;
    EngineStats& s = snap.stats;
    s.steps = std::max(s.steps, rep.stats.steps);  // every rank steps together
    s.prompt_tokens += rep.stats.prompt_tokens;
    s.generated_tokens += rep.stats.generated_tokens;
    s.running += rep.stats.running;
    s.waiting += rep.stats.waiting;
    s.preemptions += rep.stats.preemptions;
    s.prefix_queried_tokens += rep.stats.prefix_queried_tokens;
    s.prefix_hit_tokens += rep.stats.prefix_hit_tokens;
    snap.kv_blocks_total += rep.kv_blocks_total;
    snap.kv_blocks_free += rep.kv_blocks_free;
    snap.kv_blocks_cached += rep.kv_blocks_cached;
    snap.last_step_batch += rep.step_batch;
    if (!rep.expert_tokens.empty()) {
      expert_tokens_of_[r] = std::move(rep.expert_tokens);
      counters_changed = true;
    }
    if (rep.expert_parallel) {
      expert_parallel_of_[r] = std::move(*rep.expert_parallel);
      counters_changed = true;
    }
  }
  if (counters_changed) {
    for (const auto& counts : expert_tokens_of_) {
      if (snap.expert_tokens.size() < counts.size()) snap.expert_tokens.resize(counts.size(), 0);
      for (size_t i = 0; i < counts.size(); ++i)
        snap.expert_tokens[i] += counts[i];
    }
    if (options_.expert_parallel) snap.ranks = expert_parallel_of_;
  }
  any_unfinished_ = unfinished;
  {
    std::lock_guard lock(mu_);
    if (!stepped) {  // nothing ran: keep the last step's figures
      snap.last_step_seconds = snapshot_.last_step_seconds;
      snap.last_step_batch = snapshot_.last_step_batch;
    }
    if (!counters_changed) {  // no rank sent its counters this time: the last ones stand
      snap.expert_tokens = snapshot_.expert_tokens;
      snap.ranks = snapshot_.ranks;
    }
    snapshot_ = snap;
    wake_.notify_all();  // stop() waits for sinks_ to empty
  }
  if (stepped && on_step) on_step(snap);
}

// ---------------------------------------------------------------------------------------------
// Ranks > 0

void run_distributed_worker(Engine& engine, Communicator& comm,
                            const ExpertParallelStats* expert_parallel) {
  RankEngine mine(engine, comm.rank(), expert_parallel);
  while (true) {
    std::vector<uint8_t> bytes;
    if (Status s = comm.broadcast(bytes, 0); !s.ok()) exit_lost_rank(comm.rank(), s);
    auto c = decode_control(bytes);
    if (!c.ok()) exit_lost_rank(comm.rank(), c.status());
    mine.apply(*c);
    if (c->exit) return;
    const std::vector<uint8_t> report = encode(mine.run(c->step, c->report_counters));
    if (Status s = comm.gather(report, nullptr, 0); !s.ok()) exit_lost_rank(comm.rank(), s);
  }
}

}  // namespace sieve
