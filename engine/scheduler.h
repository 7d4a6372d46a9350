// Which sequences run in the next step and how many tokens each computes. The scheduler owns the
// waiting queue, the running set and the KV block manager; each step it returns a StepPlan (in
// the manner of vLLM's SchedulerOutput) and the engine runs it.
//
// Every running sequence that is decoding gets one token first, so a long prefill never stalls
// generation; then prefill chunks of running sequences, then newly admitted sequences, within
// max_num_batched_tokens (chunked prefill) and max_num_seqs. Requests are served by priority
// (lower first), then first come, first served; a waiting sequence never overtakes an earlier
// one.
//
// KV pages are taken as sequences grow. A new sequence first takes the cached pages of its
// longest known prefix (prefix caching) and computes only the rest. When a running sequence
// needs a page and none is free, the lowest-priority, youngest running sequence is preempted:
// its pages are released and it goes back to the head of the queue, to be recomputed (its
// prompt and the tokens generated so far) when pages free up.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "engine/block_manager.h"
#include "engine/sequence.h"

namespace sieve {

struct SchedulerOptions {
  int64_t max_num_seqs = 64;
  int64_t max_num_batched_tokens = 2048;
  int64_t block_size = 16;
  bool enable_prefix_caching = true;
};

struct ScheduledSequence {
  Sequence* seq = nullptr;
  int64_t num_tokens = 0;  // computed this step, from seq->num_computed on
};

// What one step runs.
struct StepPlan {
  // In the order the batch lays them out: decodes of running sequences, their prefill chunks,
  // then newly admitted sequences, each group in service order.
  std::vector<ScheduledSequence> scheduled;
  std::vector<uint64_t> preempted;  // sent back to the queue this step, to be recomputed
  std::vector<uint64_t> admitted;   // taken from the queue this step (also in `scheduled`)
  bool empty() const { return scheduled.empty(); }
};

// Counters since the start.
struct SchedulerStats {
  int64_t preemptions = 0;
  int64_t prefix_queried_tokens = 0;  // tokens looked up in the prefix cache at admission
  int64_t prefix_hit_tokens = 0;      // of those, found there
};

class Scheduler {
 public:
  Scheduler(const SchedulerOptions& options, int64_t num_kv_blocks);

  // Queues a new sequence behind everything of the same or higher priority (its id is the
  // latest arrival).
  void add(std::unique_ptr<Sequence> s);
  // Marks the request cancelled (running or waiting); unknown ids are ignored.
  void cancel(uint64_t id);
  void cancel_all();
  // Takes out every sequence whose request was cancelled: the running ones, then the waiting
  // ones, each in service order. They still hold their pages.
  std::vector<std::unique_ptr<Sequence>> take_cancelled();

  // The next step's plan. Pages for every scheduled token are reserved when it returns.
  StepPlan schedule();

  // Takes finished sequences out of the running set (their pages already released).
  void remove_running(std::span<Sequence* const> finished);

  bool has_unfinished() const { return !waiting_.empty() || !running_.empty(); }
  int64_t num_running() const { return static_cast<int64_t>(running_.size()); }
  int64_t num_waiting() const { return static_cast<int64_t>(waiting_.size()); }
  BlockManager& blocks() { return blocks_; }
  const BlockManager& blocks() const { return blocks_; }
  const SchedulerStats& stats() const { return stats_; }

 private:
  // Pages so that `s` covers `num_tokens`, preempting others (youngest, lowest priority first)
  // when none are free. False when `s` itself had to be preempted.
  bool reserve_pages(Sequence& s, int64_t num_tokens, StepPlan& plan, int64_t& budget);
  void preempt(Sequence& s, StepPlan& plan);
  bool admit(Sequence& s, int64_t budget, StepPlan& plan);
  bool shares_a_prefill(const Sequence& s) const;
  void insert_waiting(std::unique_ptr<Sequence> s);

  SchedulerOptions options_;
  BlockManager blocks_;
  // Both in service order: priority, then arrival.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  SchedulerStats stats_;
};

}  // namespace sieve
