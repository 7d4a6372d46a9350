// The engine loop: requests in, one forward step at a time, tokens out.
//
// Each step the scheduler takes every running sequence that is decoding (one token each),
// then the rest of the token budget goes to prefill chunks of running sequences and to newly
// admitted ones (chunked prefill), within max_num_seqs. Requests are served by priority (lower
// first), then first come, first served; a waiting request never overtakes an earlier one.
//
// KV pages are taken as sequences grow (engine/block_manager.h). A new sequence first takes
// the cached pages of its longest known prefix (prefix caching) and computes only the rest.
// When a running sequence needs a page and none is free, the lowest-priority, youngest running
// sequence is preempted: its pages are released and it goes back to the head of the queue, to
// be recomputed (its prompt and the tokens generated so far) when pages free up. Its output so
// far is kept, and a recomputed sequence continues exactly as it would have.
//
// Not thread-safe: one thread calls add_request/abort/step (the offline runner's loop, or the
// server's engine thread).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/backends/kv_cache.h"
#include "engine/backends/model.h"
#include "engine/block_manager.h"
#include "engine/sampling.h"
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
  // Expert parallelism: every rank's model takes part in every MoE layer's all-to-all, so a
  // step with nothing scheduled still runs the model, on an empty batch.
  bool lockstep = false;
};

struct GenerationRequest {
  std::vector<int32_t> prompt_token_ids;
  SamplingParams params;
  int64_t priority = 0;  // lower runs first (as in vLLM); equal priorities in arrival order
};

struct RequestOutput {
  uint64_t request_id = 0;
  std::vector<int32_t> prompt_token_ids;
  std::vector<int32_t> output_token_ids;
  std::string finish_reason;  // "stop" (EOS, a stop token or string), "length", "abort"
  std::string stop_string;    // the stop string that ended it, if one did
  // The output as text (with a tokenizer): all of it, up to a stop string. Whatever the
  // TokenEvents did not carry yet comes only here.
  std::string text;
  int64_t num_cached_tokens = 0;  // prompt tokens taken from the prefix cache at admission
  // Per generated token: the sampled token first, then the top-N others (when asked).
  std::vector<std::vector<TokenLogprob>> logprobs;
  // Per prompt token (when asked): the first has none (empty), then the prompt token's own
  // logprob first and the top-N others.
  std::vector<std::vector<TokenLogprob>> prompt_logprobs;
};

// One generated token, as streamed.
struct TokenEvent {
  uint64_t request_id = 0;
  int32_t token = 0;
  // Text this token made final (with a tokenizer): may be empty while a character is
  // incomplete or the text could still be the start of a stop string.
  std::string_view text;
  const std::vector<TokenLogprob>* logprobs = nullptr;  // when asked: sampled token, top-N
};

struct RequestSink {
  // Called for every generated token as soon as it is sampled (streaming); may be empty.
  std::function<void(const TokenEvent&)> on_token;
  // Called once when the request ends.
  std::function<void(RequestOutput&&)> on_finish;
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
  int64_t num_free_kv_blocks() const { return blocks_.num_free(); }
  int64_t num_cached_kv_blocks() const { return blocks_.num_cached(); }
  int64_t last_step_batch() const { return last_step_batch_; }  // sequences in the last step
  // [layer * num_experts + expert]: tokens routed there so far (count_expert_tokens); dense
  // layers stay 0.
  const std::vector<int64_t>& expert_token_counts() const { return expert_tokens_; }

 private:
  struct Sequence;
  struct Scheduled {
    Sequence* seq;
    int64_t num_tokens;
  };
  std::vector<Scheduled> schedule();
  // Pages so that `s` covers `num_tokens`, preempting others (youngest, lowest priority
  // first) when none are free. False when `s` itself had to be preempted.
  bool reserve_pages(Sequence& s, int64_t num_tokens, std::vector<Scheduled>& plan,
                     int64_t& budget);
  void preempt(Sequence& s);
  bool admit(Sequence& s, int64_t budget, std::vector<Scheduled>& plan);
  bool shares_a_prefill(const Sequence& s) const;
  void finish(Sequence& s, const char* reason);
  // Draws s's next token from its row of host logits with engine/sampling.h.
  int32_t sample_on_host(Sequence& s, const float* logits);
  // Appends `token` to s, reports it, and finishes s when it stops; true if it finished.
  // `logits`: s's row on the host (for logprobs), or null when sampled on the backend.
  bool accept_token(Sequence& s, int32_t token, const float* logits);

  Model& model_;
  Backend& backend_;
  EngineOptions options_;
  int64_t max_model_len_ = 0;
  std::unique_ptr<KvCache> kv_;
  BlockManager blocks_;
  // Both in service order: priority, then arrival.
  std::deque<std::unique_ptr<Sequence>> waiting_;
  std::vector<std::unique_ptr<Sequence>> running_;
  uint64_t next_id_ = 1;
  EngineStats stats_;
  std::vector<float> logits_;
  std::vector<float> penalized_;
  int64_t last_step_batch_ = 0;
  std::vector<int64_t> expert_tokens_;
  ForwardTrace trace_;  // one row of logits with a request's penalties applied
};

}  // namespace sieve
