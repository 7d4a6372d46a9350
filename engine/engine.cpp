#include "engine/engine.h"

#include <algorithm>

#include "engine/batch_builder.h"

namespace sieve {

namespace {

int64_t blocks_for(int64_t tokens, int64_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

int64_t kv_blocks(const KvLayout& kv, const EngineOptions& o) {
  if (o.num_kv_blocks > 0) return o.num_kv_blocks;
  return std::max<int64_t>(1, o.kv_cache_bytes / KvCache::page_bytes(kv, o.block_size));
}

SchedulerOptions scheduler_options(const EngineOptions& o) {
  SchedulerOptions s;
  s.max_num_seqs = o.max_num_seqs;
  s.max_num_batched_tokens = o.max_num_batched_tokens;
  s.block_size = o.block_size;
  s.enable_prefix_caching = o.enable_prefix_caching;
  return s;
}

int64_t model_len(const ModelConfig& c, const EngineOptions& o) {
  if (o.max_model_len > 0) return o.max_model_len;
  return c.max_position_embeddings > 0 ? c.max_position_embeddings : 32768;
}

}  // namespace

Engine::Engine(Model& model, Backend& backend, const EngineOptions& options)
    : model_(model),
      backend_(backend),
      options_(options),
      max_model_len_(model_len(model.config(), options)),
      kv_(std::make_unique<KvCache>(backend, model.kv_layout(), options.block_size,
                                    kv_blocks(model.kv_layout(), options))),
      scheduler_(scheduler_options(options), kv_->num_blocks()),
      sampler_(backend, model.config().vocab_size) {
  if (options_.on_routing) routing_ = routing_trace_header(model.config(), "");
}

Engine::~Engine() = default;

Status Engine::validate(const GenerationRequest& request) const {
  const ModelConfig& c = model_.config();
  const auto& prompt = request.prompt_token_ids;
  if (prompt.empty()) return invalid_argument("the prompt is empty");
  for (size_t i = 0; i < prompt.size(); ++i) {
    if (prompt[i] < 0 || prompt[i] >= c.vocab_size) {
      return invalid_argument("prompt token " + std::to_string(prompt[i]) + " at index " +
                              std::to_string(i) + " is outside the vocabulary [0, " +
                              std::to_string(c.vocab_size) + ")");
    }
  }
  SIEVE_RETURN_IF_ERROR(validate_sampling(request.params, c.vocab_size));
  if (!request.params.stop.empty() && !options_.tokenizer) {
    return invalid_argument(
        "stop strings need the model's tokenizer, and this engine has none; use "
        "stop_token_ids");
  }
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  if (prompt_len >= max_model_len_) {
    return invalid_argument("the prompt has " + std::to_string(prompt_len) +
                            " tokens; this model's maximum context length is " +
                            std::to_string(max_model_len_) +
                            " tokens (prompt plus at least one generated token)");
  }
  const int64_t max_len = std::min(prompt_len + request.params.max_tokens, max_model_len_);
  const int64_t num_blocks = scheduler_.blocks().num_blocks();
  if (blocks_for(max_len, options_.block_size) > num_blocks) {
    return invalid_argument("the request needs " + std::to_string(max_len) +
                            " tokens of KV cache but the cache holds " +
                            std::to_string(num_blocks * options_.block_size) +
                            "; lower max_tokens or give the engine more KV memory");
  }
  return Status::Ok();
}

Result<uint64_t> Engine::add_request(GenerationRequest request, RequestSink sink,
                                     std::optional<uint64_t> id) {
  SIEVE_RETURN_IF_ERROR(validate(request));
  if (id) {
    SIEVE_CHECK_GE(*id, next_id_);  // ids are the arrival order
    next_id_ = *id;
  }
  auto r = std::make_shared<Request>();
  r->id = next_id_++;
  r->input = std::move(request);
  r->sink = std::move(sink);
  const std::vector<int32_t>& prompt = r->input.prompt_token_ids;
  const SamplingParams& params = r->input.params;
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  auto s = std::make_unique<Sequence>();
  s->request = r;
  s->prompt_len = prompt_len;
  s->max_len = std::min(prompt_len + params.max_tokens, max_model_len_);
  s->tokens = prompt;
  if (options_.tokenizer) s->text.emplace(options_.tokenizer, text_stream_options(params));
  const uint64_t seed = params.seed ? *params.seed : options_.seed * 0x9E3779B97F4A7C15ull + r->id;
  s->rng.seed(seed);
  s->seed = seed;
  s->out.request_id = r->id;
  s->out.prompt_token_ids = prompt;
  if (params.prompt_logprobs) s->out.prompt_logprobs.push_back({});
  scheduler_.add(std::move(s));
  stats_.waiting = scheduler_.num_waiting();
  return r->id;
}

void Engine::abort(uint64_t request_id) {
  scheduler_.cancel(request_id);
}

void Engine::abort_all() {
  scheduler_.cancel_all();
}

bool Engine::has_unfinished() const {
  return scheduler_.has_unfinished();
}

void Engine::step() {
  retire_cancelled();
  const StepPlan plan = scheduler_.schedule();
  last_step_batch_ = static_cast<int64_t>(plan.scheduled.size());
  publish_counts();
  if (plan.empty()) {
    if (options_.lockstep) idle_step();
    return;
  }
  const StepBatch batch = build_step_batch(plan, options_.block_size);
  stats_.prompt_tokens += batch.prompt_tokens;
  Tensor logits = forward(batch);
  const SampledTokens sampled = sampler_.sample(plan, batch, logits);
  count_routed_tokens(batch.forward.num_tokens());
  ++stats_.steps;
  std::vector<Sequence*> finished;
  update(plan, batch, sampled, finished);
  retire_finished(finished);
}

void Engine::retire_cancelled() {
  for (std::unique_ptr<Sequence>& s : scheduler_.take_cancelled())
    finish(*s, "abort");
}

void Engine::idle_step() {
  ForwardBatch idle;
  idle.query_start = {0};
  model_.forward_logits(idle, *kv_, nullptr);
  backend_.end_step();
  if (options_.on_routing) {
    RoutingStep none;
    none.counts.assign(routing_.moe_layers.size(), std::vector<int32_t>(routing_.num_experts, 0));
    options_.on_routing(none);
  }
}

Tensor Engine::forward(const StepBatch& batch) {
  const bool count =
      (options_.count_expert_tokens || options_.on_routing) && model_.config().num_experts > 0;
  return model_.forward_logits(batch.forward, *kv_, count ? &trace_ : nullptr);
}

void Engine::update(const StepPlan& plan, const StepBatch& batch, const SampledTokens& sampled,
                    std::vector<Sequence*>& finished) {
  const int64_t vocab = model_.config().vocab_size;
  for (size_t i = 0; i < plan.scheduled.size(); ++i) {
    Sequence& s = *plan.scheduled[i].seq;
    s.num_computed += plan.scheduled[i].num_tokens;
    scheduler_.blocks().register_full_pages(s.tokens, s.blocks, s.num_computed, s.num_registered);
    const SequenceRows& rows = batch.rows[i];
    for (int64_t r = 0; r < rows.prompt_rows; ++r) {
      const int64_t p = rows.first_prompt_pos + r;
      std::span<const float> row(sampled.logits + (rows.first_prompt_row + r) * vocab, vocab);
      s.out.prompt_logprobs.push_back(
          token_logprobs(row, s.tokens[p + 1], *s.params().prompt_logprobs));
    }
    if (rows.sample_row < 0) continue;
    const float* row = sampled.logits ? sampled.logits + rows.sample_row * vocab : nullptr;
    if (accept_token(s, sampled.tokens[i], row)) finished.push_back(&s);
  }
}

void Engine::retire_finished(std::span<Sequence* const> finished) {
  scheduler_.remove_running(finished);
  stats_.running = scheduler_.num_running();
}

void Engine::finish(Sequence& s, const char* reason) {
  scheduler_.blocks().release(s.blocks);
  if (s.text) {
    s.text->finish();
    s.out.text = s.text->text();
  }
  s.out.finish_reason = reason;
  if (s.request->sink.on_finish) s.request->sink.on_finish(std::move(s.out));
}

bool Engine::accept_token(Sequence& s, int32_t token, const float* logits) {
  const ModelConfig& c = model_.config();
  const SamplingParams& p = s.params();
  s.tokens.push_back(token);
  s.out.output_token_ids.push_back(token);
  if (p.logprobs) {
    s.out.logprobs.push_back(
        token_logprobs(std::span<const float>(logits, c.vocab_size), token, *p.logprobs));
  }
  ++stats_.generated_tokens;
  const auto& eos = c.eos_token_ids;
  const bool is_eos = std::find(eos.begin(), eos.end(), token) != eos.end();
  const auto& stops = p.stop_token_ids;
  const bool stop_token =
      (is_eos && !p.ignore_eos) || std::find(stops.begin(), stops.end(), token) != stops.end();
  // A stop token stays in the ids but, as in vLLM, not in the text unless asked for.
  TextStream::Delta delta;
  if (s.text && (!stop_token || p.include_stop_str_in_output)) delta = s.text->push(token);
  const RequestSink& sink = s.request->sink;
  if (sink.on_token) {
    TokenEvent e;
    e.request_id = s.id();
    e.token = token;
    e.text = delta.text;
    if (p.logprobs) e.logprobs = &s.out.logprobs.back();
    sink.on_token(e);
  }
  if (delta.stopped) {
    s.out.stop_string = delta.matched;
    finish(s, "stop");
    return true;
  }
  if (stop_token) {
    finish(s, "stop");
    return true;
  }
  if (s.num_tokens() >= s.max_len) {
    finish(s, "length");
    return true;
  }
  return false;
}

void Engine::count_routed_tokens(int64_t tokens) {
  const ModelConfig& c = model_.config();
  if (c.num_experts == 0) return;
  if (options_.on_routing) options_.on_routing(count_routing(trace_, routing_, tokens));
  if (!options_.count_expert_tokens) return;
  expert_tokens_.resize(c.num_layers * c.num_experts);
  for (size_t l = 0; l < trace_.router_ids.size(); ++l) {
    for (int32_t e : trace_.router_ids[l]) {
      if (e >= 0 && e < c.num_experts) ++expert_tokens_[l * c.num_experts + e];
    }
  }
}

void Engine::publish_counts() {
  const SchedulerStats& s = scheduler_.stats();
  stats_.preemptions = s.preemptions;
  stats_.prefix_queried_tokens = s.prefix_queried_tokens;
  stats_.prefix_hit_tokens = s.prefix_hit_tokens;
  stats_.running = scheduler_.num_running();
  stats_.waiting = scheduler_.num_waiting();
}

}  // namespace sieve
