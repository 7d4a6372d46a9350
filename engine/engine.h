// The engine: requests in, one forward step at a time, tokens out.
//
// A step runs as named phases, in order (Engine::step reads the same way):
//   retire cancelled → schedule (scheduler.h: what runs, what is admitted or preempted) →
//   prepare (batch_builder.h: the forward batch) → forward (the model on its backend) →
//   sample (step_sampler.h) → update (pages into the prefix cache, tokens to the sinks) →
//   retire finished.
// Which sequences run and how KV pages are shared, admitted and preempted is the scheduler's
// (scheduler.h); a preempted sequence keeps its output so far and, recomputed, continues exactly
// as it would have.
//
// Not thread-safe: one thread calls add_request/abort/step (the offline runner's loop, or the
// server's engine thread).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/backends/kv_cache.h"
#include "engine/backends/model.h"
#include "engine/experts/routing_trace.h"
#include "engine/request.h"
#include "engine/scheduler.h"
#include "engine/step_sampler.h"
#include "engine/text/tokenizer/tokenizer.h"

namespace sieve {

struct EngineOptions {
  int64_t max_num_seqs = 64;
  int64_t max_num_batched_tokens = 2048;
  int64_t block_size = 16;
  int64_t kv_cache_bytes = 2ll << 30;  // KV memory; num_kv_blocks > 0 overrides
  int64_t num_kv_blocks = 0;
  int64_t max_model_len = 0;  // 0: the model's max_position_embeddings (or 32768 if unset)
  uint64_t seed = 0;          // seeds requests that bring no seed of their own
  bool enable_prefix_caching = true;
  // Turns output ids into text (RequestOutput::text, TokenEvent::text) and makes stop
  // strings possible. None: token ids only.
  std::shared_ptr<const Tokenizer> tokenizer;
  // Count the router's choices per layer and expert (expert_token_counts()).
  bool count_expert_tokens = false;
  // Called on the engine's thread after the forward phase of every step that runs the model,
  // with that step's per-expert token counts of each MoE layer (--record-routing). Lockstep idle
  // steps report zero tokens, so that a recorder may run a collective in it. When set, the
  // router's choices are read back every step (on CUDA such steps run eagerly, not as graphs).
  std::function<void(const RoutingStep&)> on_routing;
  // Expert parallelism: every rank's model takes part in every MoE layer's all-to-all, so a
  // step with nothing scheduled still runs the model, on an empty batch.
  bool lockstep = false;
};

struct EngineStats {
  int64_t steps = 0;
  int64_t prompt_tokens = 0;     // prompt tokens run through the model (recomputes included)
  int64_t generated_tokens = 0;  // tokens sampled
  int64_t running = 0, waiting = 0;
  int64_t preemptions = 0;
  int64_t prefix_queried_tokens = 0;  // tokens looked up in the prefix cache at admission
  int64_t prefix_hit_tokens = 0;      // of those, found there
};

class Engine {
 public:
  Engine(Model& model, Backend& backend, const EngineOptions& options);
  ~Engine();

  // Checks token ids, sampling parameters, and length against max_model_len and the KV
  // cache. Reads only what never changes after construction, so any thread may call it.
  Status validate(const GenerationRequest& request) const;
  // Validates the request and queues it. An invalid request is refused here and never runs.
  // `id`, when given, must be larger than every id before it (ids are the arrival order);
  // otherwise the next id is taken.
  Result<uint64_t> add_request(GenerationRequest request, RequestSink sink,
                               std::optional<uint64_t> id = std::nullopt);
  // Ends a request early (finish_reason "abort") at the next step; its pages return then.
  // Unknown or finished ids are ignored.
  void abort(uint64_t request_id);
  void abort_all();

  bool has_unfinished() const;
  // Runs one forward step over the scheduled tokens and delivers tokens and finished requests.
  void step();

  const EngineStats& stats() const { return stats_; }
  int64_t max_model_len() const { return max_model_len_; }
  int64_t num_kv_blocks() const { return kv_->num_blocks(); }
  int64_t num_free_kv_blocks() const { return scheduler_.blocks().num_free(); }
  int64_t num_cached_kv_blocks() const { return scheduler_.blocks().num_cached(); }
  int64_t last_step_batch() const { return last_step_batch_; }  // sequences in the last step
  // [layer * num_experts + expert]: tokens routed there so far (count_expert_tokens); dense
  // layers stay 0.
  const std::vector<int64_t>& expert_token_counts() const { return expert_tokens_; }

 private:
  // The phases of step(), in order.
  void retire_cancelled();
  void idle_step();  // lockstep: nothing scheduled, the model still takes part
  Tensor forward(const StepBatch& batch);
  // Registers full pages, records prompt logprobs and accepts each sampled token; the
  // sequences that finished go to `finished`.
  void update(const StepPlan& plan, const StepBatch& batch, const SampledTokens& sampled,
              std::vector<Sequence*>& finished);
  void retire_finished(std::span<Sequence* const> finished);

  // Appends `token` to s, reports it, and finishes s when it stops; true if it finished.
  // `logits`: s's row on the host (for logprobs), or null when sampled on the backend.
  bool accept_token(Sequence& s, int32_t token, const float* logits);
  void finish(Sequence& s, const char* reason);
  void count_routed_tokens(int64_t tokens);
  void publish_counts();

  Model& model_;
  Backend& backend_;
  EngineOptions options_;
  int64_t max_model_len_ = 0;
  std::unique_ptr<KvCache> kv_;
  Scheduler scheduler_;
  StepSampler sampler_;
  uint64_t next_id_ = 1;
  EngineStats stats_;
  int64_t last_step_batch_ = 0;
  std::vector<int64_t> expert_tokens_;
  ForwardTrace trace_;
  RoutingTraceHeader routing_;  // on_routing: the MoE layers it reports
};

}  // namespace sieve
