#include "engine/scheduler.h"

#include <algorithm>

#include "engine/base/status.h"

namespace sieve {
namespace {

bool ptr_served_before(const std::unique_ptr<Sequence>& a, const std::unique_ptr<Sequence>& b) {
  return served_before(*a, *b);
}

}  // namespace

Scheduler::Scheduler(const SchedulerOptions& options, int64_t num_kv_blocks)
    : options_(options),
      blocks_(num_kv_blocks, options.block_size, options.enable_prefix_caching) {}

void Scheduler::insert_waiting(std::unique_ptr<Sequence> s) {
  auto pos = std::upper_bound(waiting_.begin(), waiting_.end(), s, ptr_served_before);
  waiting_.insert(pos, std::move(s));
}

void Scheduler::add(std::unique_ptr<Sequence> s) {
  insert_waiting(std::move(s));
}

void Scheduler::cancel(uint64_t id) {
  for (auto& s : running_) {
    if (s->id() == id) s->request->cancelled = true;
  }
  for (auto& s : waiting_) {
    if (s->id() == id) s->request->cancelled = true;
  }
}

void Scheduler::cancel_all() {
  for (auto& s : running_)
    s->request->cancelled = true;
  for (auto& s : waiting_)
    s->request->cancelled = true;
}

std::vector<std::unique_ptr<Sequence>> Scheduler::take_cancelled() {
  std::vector<std::unique_ptr<Sequence>> out;
  auto take = [&out](auto& queue) {
    for (auto& s : queue) {
      if (s->request->cancelled) out.push_back(std::move(s));
    }
    std::erase_if(queue, [](const auto& s) { return s == nullptr; });
  };
  take(running_);
  take(waiting_);
  return out;
}

void Scheduler::remove_running(std::span<Sequence* const> finished) {
  std::erase_if(running_, [&](const auto& s) {
    return std::find(finished.begin(), finished.end(), s.get()) != finished.end();
  });
}

void Scheduler::preempt(Sequence& s, StepPlan& plan) {
  blocks_.release(s.blocks);
  s.num_computed = 0;
  s.num_registered = 0;
  ++stats_.preemptions;
  plan.preempted.push_back(s.id());
  auto it =
      std::find_if(running_.begin(), running_.end(), [&](const auto& r) { return r.get() == &s; });
  SIEVE_CHECK(it != running_.end());
  std::unique_ptr<Sequence> owned = std::move(*it);
  running_.erase(it);
  insert_waiting(std::move(owned));
}

bool Scheduler::reserve_pages(Sequence& s, int64_t num_tokens, StepPlan& plan, int64_t& budget) {
  while (!blocks_.grow(s.blocks, num_tokens)) {
    // The last running sequence is the lowest priority, youngest one.
    Sequence& victim = *running_.back();
    auto planned = std::find_if(plan.scheduled.begin(), plan.scheduled.end(),
                                [&](const ScheduledSequence& p) { return p.seq == &victim; });
    if (planned != plan.scheduled.end()) {
      budget += planned->num_tokens;
      plan.scheduled.erase(planned);
    }
    preempt(victim, plan);
    if (&victim == &s) return false;
  }
  return true;
}

bool Scheduler::admit(Sequence& s, int64_t budget, StepPlan& plan) {
  const int64_t total = s.num_tokens();
  // Prompt logprobs need every prompt position computed, so such a request skips the cache
  // until they are all recorded.
  const bool need_prompt_rows = s.params().prompt_logprobs &&
                                static_cast<int64_t>(s.out.prompt_logprobs.size()) < s.prompt_len;
  int64_t cached = 0;
  if (!need_prompt_rows) cached = blocks_.match_prefix(s.tokens, s.blocks);
  const int64_t n = std::min(total - cached, budget);
  if (!blocks_.grow(s.blocks, cached + n)) {
    blocks_.release(s.blocks);  // give the matched pages back; try again next step
    return false;
  }
  if (blocks_.prefix_caching() && !need_prompt_rows) {
    stats_.prefix_queried_tokens += total;
    stats_.prefix_hit_tokens += cached;
  }
  if (!s.admitted_once) s.out.num_cached_tokens = std::min(cached, s.prompt_len);
  s.admitted_once = true;
  s.num_computed = cached;
  s.num_registered = cached / options_.block_size;
  plan.scheduled.push_back({&s, n});
  plan.admitted.push_back(s.id());
  return true;
}

bool Scheduler::shares_a_prefill(const Sequence& s) const {
  const int64_t bs = options_.block_size;
  if (!blocks_.prefix_caching() || s.num_computed > 0 || s.num_tokens() <= bs) return false;
  for (const auto& r : running_) {
    if (r->num_computed >= r->prompt_len || r->num_tokens() <= bs) continue;
    if (std::equal(s.tokens.begin(), s.tokens.begin() + bs, r->tokens.begin())) return true;
  }
  return false;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  int64_t budget = options_.max_num_batched_tokens;
  // Decodes first (one token each, so a long prefill never stalls generation), then prefill
  // chunks of running sequences, each in service order. Preemption takes from the back of
  // running_, so `i` stays valid while it points before the victim.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
      Sequence& s = *running_[i];
      const int64_t remaining = s.num_uncomputed();
      const bool decoding = remaining == 1;
      if (decoding != (pass == 0)) continue;
      const int64_t n = std::min(remaining, budget);
      if (!reserve_pages(s, s.num_computed + n, plan, budget)) break;  // s itself was preempted
      plan.scheduled.push_back({&s, n});
      budget -= n;
    }
  }
  // New sequences (and preempted ones, to recompute) only when nothing had to be preempted:
  // pages are short.
  while (plan.preempted.empty() && !waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < options_.max_num_seqs) {
    Sequence& s = *waiting_.front();
    // A prompt whose first page another sequence is computing right now waits for it and
    // then takes the pages from the cache (n samples of one prompt, a burst of requests with
    // one system prompt) instead of computing them twice.
    if (shares_a_prefill(s)) break;
    if (!admit(s, budget, plan)) break;  // first come, first served: no overtaking
    budget -= plan.scheduled.back().num_tokens;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  // Admission appends to running_, which must stay in service order for preemption.
  std::stable_sort(running_.begin(), running_.end(), ptr_served_before);
  return plan;
}

}  // namespace sieve
