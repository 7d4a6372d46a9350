#include "engine/engine.h"

#include "engine/text/text_stream.h"

#include <algorithm>

namespace sieve {

struct Engine::Sequence {
  uint64_t id = 0;  // also the arrival order
  GenerationRequest request;
  RequestSink sink;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t prompt_len = 0;
  int64_t num_computed = 0;     // tokens whose K/V are in the cache
  int64_t max_len = 0;          // prompt_len + max_tokens, capped at max_model_len
  std::vector<int32_t> blocks;  // KV pages covering the tokens computed or scheduled
  int64_t num_registered = 0;   // leading pages registered in the prefix cache
  bool admitted_once = false;
  std::optional<TextStream> text;  // with a tokenizer
  std::mt19937_64 rng;
  uint64_t seed = 0;  // of rng, and of the Philox stream when the backend samples
  bool aborted = false;
  RequestOutput out;
};

namespace {

int64_t blocks_for(int64_t tokens, int64_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

int64_t kv_blocks(const KvLayout& kv, const EngineOptions& o) {
  if (o.num_kv_blocks > 0) return o.num_kv_blocks;
  return std::max<int64_t>(1, o.kv_cache_bytes / KvCache::page_bytes(kv, o.block_size));
}

int64_t model_len(const ModelConfig& c, const EngineOptions& o) {
  if (o.max_model_len > 0) return o.max_model_len;
  return c.max_position_embeddings > 0 ? c.max_position_embeddings : 32768;
}

// Service order: lower priority value first, then earlier arrival.
template <typename SeqPtr>
bool served_before(const SeqPtr& a, const SeqPtr& b) {
  if (a->request.priority != b->request.priority) return a->request.priority < b->request.priority;
  return a->id < b->id;
}

}  // namespace

Engine::Engine(Model& model, Backend& backend, const EngineOptions& options)
    : model_(model),
      backend_(backend),
      options_(options),
      max_model_len_(model_len(model.config(), options)),
      kv_(std::make_unique<KvCache>(backend, model.kv_layout(), options.block_size,
                                    kv_blocks(model.kv_layout(), options))),
      blocks_(kv_->num_blocks(), options.block_size, options.enable_prefix_caching) {}

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
  if (blocks_for(max_len, options_.block_size) > blocks_.num_blocks()) {
    return invalid_argument("the request needs " + std::to_string(max_len) +
                            " tokens of KV cache but the cache holds " +
                            std::to_string(blocks_.num_blocks() * options_.block_size) +
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
  const auto& prompt = request.prompt_token_ids;
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  auto s = std::make_unique<Sequence>();
  s->id = next_id_++;
  s->prompt_len = prompt_len;
  s->max_len = std::min(prompt_len + request.params.max_tokens, max_model_len_);
  s->tokens = prompt;
  if (options_.tokenizer) s->text.emplace(options_.tokenizer, text_stream_options(request.params));
  const uint64_t seed =
      request.params.seed ? *request.params.seed : options_.seed * 0x9E3779B97F4A7C15ull + s->id;
  s->rng.seed(seed);
  s->seed = seed;
  s->out.request_id = s->id;
  s->out.prompt_token_ids = prompt;
  if (request.params.prompt_logprobs) s->out.prompt_logprobs.push_back({});
  s->request = std::move(request);
  s->sink = std::move(sink);
  const uint64_t new_id = s->id;
  // Behind everything of the same or higher priority (a new id is the latest arrival).
  auto pos = std::upper_bound(waiting_.begin(), waiting_.end(), s, served_before<decltype(s)>);
  waiting_.insert(pos, std::move(s));
  stats_.waiting = static_cast<int64_t>(waiting_.size());
  return new_id;
}

void Engine::abort(uint64_t request_id) {
  for (auto& s : running_) {
    if (s->id == request_id) s->aborted = true;
  }
  for (auto& s : waiting_) {
    if (s->id == request_id) s->aborted = true;
  }
}

void Engine::abort_all() {
  for (auto& s : running_)
    s->aborted = true;
  for (auto& s : waiting_)
    s->aborted = true;
}

bool Engine::has_unfinished() const {
  return !waiting_.empty() || !running_.empty();
}

void Engine::finish(Sequence& s, const char* reason) {
  blocks_.release(s.blocks);
  if (s.text) {
    s.text->finish();
    s.out.text = s.text->text();
  }
  s.out.finish_reason = reason;
  if (s.sink.on_finish) s.sink.on_finish(std::move(s.out));
}

void Engine::preempt(Sequence& s) {
  blocks_.release(s.blocks);
  s.num_computed = 0;
  s.num_registered = 0;
  ++stats_.preemptions;
  auto it =
      std::find_if(running_.begin(), running_.end(), [&](const auto& r) { return r.get() == &s; });
  SIEVE_CHECK(it != running_.end());
  std::unique_ptr<Sequence> owned = std::move(*it);
  running_.erase(it);
  auto pos =
      std::upper_bound(waiting_.begin(), waiting_.end(), owned, served_before<decltype(owned)>);
  waiting_.insert(pos, std::move(owned));
}

bool Engine::reserve_pages(Sequence& s, int64_t num_tokens, std::vector<Scheduled>& plan,
                           int64_t& budget) {
  while (!blocks_.grow(s.blocks, num_tokens)) {
    // The last running sequence is the lowest priority, youngest one.
    Sequence& victim = *running_.back();
    auto planned = std::find_if(plan.begin(), plan.end(),
                                [&](const Scheduled& p) { return p.seq == &victim; });
    if (planned != plan.end()) {
      budget += planned->num_tokens;
      plan.erase(planned);
    }
    preempt(victim);
    if (&victim == &s) return false;
  }
  return true;
}

bool Engine::admit(Sequence& s, int64_t budget, std::vector<Scheduled>& plan) {
  const int64_t total = static_cast<int64_t>(s.tokens.size());
  // Prompt logprobs need every prompt position computed, so such a request skips the cache
  // until they are all recorded.
  const bool need_prompt_rows = s.request.params.prompt_logprobs &&
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
  plan.push_back({&s, n});
  return true;
}

bool Engine::shares_a_prefill(const Sequence& s) const {
  const int64_t bs = options_.block_size;
  if (!blocks_.prefix_caching() || s.num_computed > 0 ||
      static_cast<int64_t>(s.tokens.size()) <= bs) {
    return false;
  }
  for (const auto& r : running_) {
    if (r->num_computed >= r->prompt_len || static_cast<int64_t>(r->tokens.size()) <= bs) continue;
    if (std::equal(s.tokens.begin(), s.tokens.begin() + bs, r->tokens.begin())) return true;
  }
  return false;
}

std::vector<Engine::Scheduled> Engine::schedule() {
  // Aborted requests leave before anything is scheduled.
  for (auto& s : running_) {
    if (s->aborted) finish(*s, "abort");
  }
  std::erase_if(running_, [](const auto& s) { return s->aborted; });
  for (auto& s : waiting_) {
    if (s->aborted) finish(*s, "abort");
  }
  std::erase_if(waiting_, [](const auto& s) { return s->aborted; });

  std::vector<Scheduled> plan;
  int64_t budget = options_.max_num_batched_tokens;
  const int64_t preemptions_before = stats_.preemptions;
  // Decodes first (one token each, so a long prefill never stalls generation), then prefill
  // chunks of running sequences, each in service order. Preemption takes from the back of
  // running_, so `i` stays valid while it points before the victim.
  for (int pass = 0; pass < 2; ++pass) {
    for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
      Sequence& s = *running_[i];
      const int64_t remaining = static_cast<int64_t>(s.tokens.size()) - s.num_computed;
      const bool decoding = remaining == 1;
      if (decoding != (pass == 0)) continue;
      const int64_t n = std::min(remaining, budget);
      if (!reserve_pages(s, s.num_computed + n, plan, budget)) break;  // s itself was preempted
      plan.push_back({&s, n});
      budget -= n;
    }
  }
  // New sequences (and preempted ones, to recompute) only when nothing had to be preempted:
  // pages are short.
  while (stats_.preemptions == preemptions_before && !waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < options_.max_num_seqs) {
    Sequence& s = *waiting_.front();
    // A prompt whose first page another sequence is computing right now waits for it and
    // then takes the pages from the cache (n samples of one prompt, a burst of requests with
    // one system prompt) instead of computing them twice.
    if (shares_a_prefill(s)) break;
    if (!admit(s, budget, plan)) break;  // first come, first served: no overtaking
    budget -= plan.back().num_tokens;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  // Admission appends to running_, which must stay in service order for preemption.
  std::stable_sort(running_.begin(), running_.end(), served_before<std::unique_ptr<Sequence>>);
  return plan;
}

int32_t Engine::sample_on_host(Sequence& s, const float* logits) {
  const SamplingParams& p = s.request.params;
  std::span<const float> row(logits, model_.config().vocab_size);
  if (!has_penalties(p)) return sample_token(row, p, s.rng);
  // Penalties change what is drawn, not the reported logprobs (the model's own, as in vLLM).
  penalized_.assign(row.begin(), row.end());
  apply_penalties(penalized_, p, std::span(s.tokens).first(s.prompt_len),
                  std::span(s.tokens).subspan(s.prompt_len));
  return sample_token(penalized_, p, s.rng);
}

bool Engine::accept_token(Sequence& s, int32_t token, const float* logits) {
  const ModelConfig& c = model_.config();
  const SamplingParams& p = s.request.params;
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
  if (s.sink.on_token) {
    TokenEvent e;
    e.request_id = s.id;
    e.token = token;
    e.text = delta.text;
    if (p.logprobs) e.logprobs = &s.out.logprobs.back();
    s.sink.on_token(e);
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
  if (static_cast<int64_t>(s.tokens.size()) >= s.max_len) {
    finish(s, "length");
    return true;
  }
  return false;
}

void Engine::step() {
  std::vector<Scheduled> plan = schedule();
  last_step_batch_ = static_cast<int64_t>(plan.size());
  stats_.running = static_cast<int64_t>(running_.size());
  stats_.waiting = static_cast<int64_t>(waiting_.size());
  if (plan.empty()) {
    if (options_.lockstep) {
      ForwardBatch idle;
      idle.query_start = {0};
      model_.forward_logits(idle, *kv_, nullptr);
      backend_.end_step();
    }
    return;
  }

  const ModelConfig& c = model_.config();
  const int64_t bs = options_.block_size;
  ForwardBatch batch;
  batch.query_start.push_back(0);
  int64_t max_blocks = 0;
  for (const Scheduled& sc : plan) {
    max_blocks = std::max<int64_t>(max_blocks, sc.seq->blocks.size());
  }
  batch.max_blocks_per_seq = max_blocks;
  // Which logit rows belong to which sequence: [first, first + count) per scheduled entry.
  struct RowSpan {
    int64_t first_prompt_row = -1;  // row of the first prompt-logprob position
    int64_t first_prompt_pos = 0;   // and its position in the sequence
    int64_t prompt_rows = 0;
    int64_t sample_row = -1;
  };
  std::vector<RowSpan> spans(plan.size());
  for (size_t i = 0; i < plan.size(); ++i) {
    Sequence& s = *plan[i].seq;
    const int64_t begin = s.num_computed, end = begin + plan[i].num_tokens;
    const int64_t row0 = batch.num_tokens();
    for (int64_t p = begin; p < end; ++p) {
      batch.token_ids.push_back(s.tokens[p]);
      batch.positions.push_back(static_cast<int32_t>(p));
      batch.slots.push_back(static_cast<int64_t>(s.blocks[p / bs]) * bs + p % bs);
    }
    batch.query_start.push_back(static_cast<int32_t>(batch.num_tokens()));
    batch.context_lens.push_back(static_cast<int32_t>(end));
    for (int64_t b = 0; b < max_blocks; ++b) {
      batch.block_tables.push_back(b < static_cast<int64_t>(s.blocks.size()) ? s.blocks[b] : 0);
    }
    if (s.request.params.prompt_logprobs) {
      // Row p predicts token p + 1: wanted while p + 1 is still a prompt token and not yet
      // recorded (a recomputed sequence has them already).
      const int64_t first =
          std::max<int64_t>(begin, static_cast<int64_t>(s.out.prompt_logprobs.size()) - 1);
      const int64_t last = std::min(end, s.prompt_len - 1);
      if (last > first) {
        spans[i].first_prompt_row = static_cast<int64_t>(batch.logit_rows.size());
        spans[i].first_prompt_pos = first;
        spans[i].prompt_rows = last - first;
        for (int64_t p = first; p < last; ++p) {
          batch.logit_rows.push_back(static_cast<int32_t>(row0 + (p - begin)));
        }
      }
    }
    if (end == static_cast<int64_t>(s.tokens.size())) {
      spans[i].sample_row = static_cast<int64_t>(batch.logit_rows.size());
      batch.logit_rows.push_back(static_cast<int32_t>(row0 + (end - 1 - begin)));
    }
    if (s.num_computed < s.prompt_len) {
      stats_.prompt_tokens += std::min(end, s.prompt_len) - begin;
    }
  }

  const bool count = options_.count_expert_tokens && c.num_experts > 0;
  Tensor logits = model_.forward_logits(batch, *kv_, count ? &trace_ : nullptr);
  // Sampling on the backend (the CUDA backend: only the ids come back) unless some row needs
  // the logits on the host for logprobs; else the logits come back and engine/sampling.h draws.
  bool host_logits = false;
  std::vector<RowSamplingInput> device_rows;
  for (size_t i = 0; i < plan.size(); ++i) {
    const Sequence& s = *plan[i].seq;
    const SamplingParams& p = s.request.params;
    if (spans[i].prompt_rows > 0 || (spans[i].sample_row >= 0 && p.logprobs)) host_logits = true;
    if (spans[i].sample_row < 0) continue;
    RowSamplingInput r;
    r.temperature = p.temperature;
    r.top_p = p.top_p;
    r.top_k = p.top_k;
    r.min_p = p.min_p;
    r.presence_penalty = p.presence_penalty;
    r.frequency_penalty = p.frequency_penalty;
    r.repetition_penalty = p.repetition_penalty;
    r.seed = s.seed;
    r.offset = s.out.output_token_ids.size();
    r.prompt = std::span(s.tokens).first(s.prompt_len);
    r.output = std::span(s.tokens).subspan(s.prompt_len);
    device_rows.push_back(r);
  }
  std::vector<int32_t> device_ids(device_rows.size());
  bool sampled_on_device = false;
  if (!host_logits && !device_rows.empty()) {
    sampled_on_device = backend_.sample(logits, device_rows, device_ids.data());
  }
  const int64_t R = static_cast<int64_t>(batch.logit_rows.size());
  if (!sampled_on_device) {
    logits_.resize(R * c.vocab_size);
    if (R > 0) backend_.copy_rows_to_host(logits, 0, R, logits_.data());
    backend_.end_step();
  }
  if (count) {
    expert_tokens_.resize(c.num_layers * c.num_experts);
    for (size_t l = 0; l < trace_.router_ids.size(); ++l) {
      for (int32_t e : trace_.router_ids[l]) {
        if (e >= 0 && e < c.num_experts) ++expert_tokens_[l * c.num_experts + e];
      }
    }
  }
  ++stats_.steps;

  std::vector<Sequence*> done;
  size_t sample_index = 0;
  for (size_t i = 0; i < plan.size(); ++i) {
    Sequence& s = *plan[i].seq;
    s.num_computed += plan[i].num_tokens;
    blocks_.register_full_pages(s.tokens, s.blocks, s.num_computed, s.num_registered);
    const RowSpan& sp = spans[i];
    for (int64_t r = 0; r < sp.prompt_rows; ++r) {
      const int64_t p = sp.first_prompt_pos + r;
      std::span<const float> row(logits_.data() + (sp.first_prompt_row + r) * c.vocab_size,
                                 c.vocab_size);
      s.out.prompt_logprobs.push_back(
          token_logprobs(row, s.tokens[p + 1], *s.request.params.prompt_logprobs));
    }
    if (sp.sample_row < 0) continue;
    const float* row = sampled_on_device ? nullptr : logits_.data() + sp.sample_row * c.vocab_size;
    // Device rows are in the order of the sequences that sample, as are their logit rows.
    const int32_t token = sampled_on_device ? device_ids[sample_index] : sample_on_host(s, row);
    ++sample_index;
    if (accept_token(s, token, row)) done.push_back(&s);
  }
  std::erase_if(running_, [&](const auto& s) {
    return std::find(done.begin(), done.end(), s.get()) != done.end();
  });
  stats_.running = static_cast<int64_t>(running_.size());
}

}  // namespace sieve
