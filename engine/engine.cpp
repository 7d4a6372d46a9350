#include "engine/engine.h"

#include <algorithm>

namespace sieve {

struct Engine::Sequence {
  uint64_t id = 0;
  GenerationRequest request;
  RequestSink sink;
  std::vector<int32_t> tokens;  // prompt, then generated tokens
  int64_t prompt_len = 0;
  int64_t num_computed = 0;     // tokens whose K/V are in the cache
  int64_t max_len = 0;          // prompt_len + max_tokens, capped at max_model_len
  std::vector<int32_t> blocks;  // KV pages, reserved for max_len tokens at admission
  std::mt19937_64 rng;
  bool aborted = false;
  RequestOutput out;
};

namespace {

int64_t blocks_for(int64_t tokens, int64_t block_size) {
  return (tokens + block_size - 1) / block_size;
}

int64_t kv_blocks(const ModelConfig& c, const EngineOptions& o) {
  if (o.num_kv_blocks > 0) return o.num_kv_blocks;
  return std::max<int64_t>(1, o.kv_cache_bytes / KvCache::page_bytes(c, o.block_size));
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
      kv_(std::make_unique<KvCache>(backend, model.config(), options.block_size,
                                    kv_blocks(model.config(), options))),
      blocks_(kv_->num_blocks()) {}

Engine::~Engine() = default;

Result<uint64_t> Engine::add_request(GenerationRequest request, RequestSink sink) {
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
  const int64_t prompt_len = static_cast<int64_t>(prompt.size());
  if (prompt_len >= max_model_len_) {
    return invalid_argument("the prompt has " + std::to_string(prompt_len) +
                            " tokens; this model's maximum context length is " +
                            std::to_string(max_model_len_) +
                            " tokens (prompt plus at least one generated token)");
  }
  auto s = std::make_unique<Sequence>();
  s->id = next_id_++;
  s->prompt_len = prompt_len;
  s->max_len = std::min(prompt_len + request.params.max_tokens, max_model_len_);
  if (blocks_for(s->max_len, options_.block_size) > blocks_.num_blocks()) {
    return resource_exhausted("the request needs " + std::to_string(s->max_len) +
                              " tokens of KV cache but the cache " + "holds " +
                              std::to_string(blocks_.num_blocks() * options_.block_size) +
                              "; lower max_tokens or give the engine more KV memory");
  }
  s->tokens = prompt;
  const uint64_t seed =
      request.params.seed ? *request.params.seed : options_.seed * 0x9E3779B97F4A7C15ull + s->id;
  s->rng.seed(seed);
  s->out.request_id = s->id;
  s->out.prompt_token_ids = prompt;
  if (request.params.prompt_logprobs) s->out.prompt_logprobs.push_back({});
  s->request = std::move(request);
  s->sink = std::move(sink);
  const uint64_t id = s->id;
  waiting_.push_back(std::move(s));
  stats_.waiting = static_cast<int64_t>(waiting_.size());
  return id;
}

void Engine::abort(uint64_t request_id) {
  for (auto& s : running_) {
    if (s->id == request_id) s->aborted = true;
  }
  for (auto& s : waiting_) {
    if (s->id == request_id) s->aborted = true;
  }
}

bool Engine::has_unfinished() const {
  return !waiting_.empty() || !running_.empty();
}

void Engine::finish(Sequence& s, const char* reason) {
  for (int32_t b : s.blocks)
    blocks_.release(b);
  s.blocks.clear();
  s.out.finish_reason = reason;
  if (s.sink.on_finish) s.sink.on_finish(std::move(s.out));
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

  std::vector<Scheduled> out;
  int64_t budget = options_.max_num_batched_tokens;
  // Decodes first: one token each, so a long prefill never stalls generation.
  for (auto& s : running_) {
    const int64_t remaining = static_cast<int64_t>(s->tokens.size()) - s->num_computed;
    if (remaining == 1 && budget > 0) {
      out.push_back({s.get(), 1});
      --budget;
    }
  }
  for (auto& s : running_) {
    const int64_t remaining = static_cast<int64_t>(s->tokens.size()) - s->num_computed;
    if (remaining > 1 && budget > 0) {
      const int64_t n = std::min(remaining, budget);
      out.push_back({s.get(), n});
      budget -= n;
    }
  }
  while (!waiting_.empty() && budget > 0 &&
         static_cast<int64_t>(running_.size()) < options_.max_num_seqs) {
    Sequence& s = *waiting_.front();
    const int64_t need = blocks_for(s.max_len, options_.block_size);
    if (need > blocks_.num_free()) break;  // first come, first served: no overtaking
    for (int64_t i = 0; i < need; ++i)
      s.blocks.push_back(*blocks_.allocate());
    const int64_t n = std::min(s.prompt_len, budget);
    out.push_back({&s, n});
    budget -= n;
    running_.push_back(std::move(waiting_.front()));
    waiting_.pop_front();
  }
  return out;
}

bool Engine::sample_and_check_stop(Sequence& s, const float* logits) {
  const ModelConfig& c = model_.config();
  const SamplingParams& p = s.request.params;
  std::span<const float> row(logits, c.vocab_size);
  const int32_t token = sample_token(row, p, s.rng);
  s.tokens.push_back(token);
  s.out.output_token_ids.push_back(token);
  if (p.logprobs) s.out.logprobs.push_back(token_logprobs(row, token, *p.logprobs));
  ++stats_.generated_tokens;
  if (s.sink.on_token) s.sink.on_token(s.id, token);

  const auto& eos = c.eos_token_ids;
  const bool is_eos = std::find(eos.begin(), eos.end(), token) != eos.end();
  const auto& stops = p.stop_token_ids;
  if ((is_eos && !p.ignore_eos) || std::find(stops.begin(), stops.end(), token) != stops.end()) {
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
  stats_.running = static_cast<int64_t>(running_.size());
  stats_.waiting = static_cast<int64_t>(waiting_.size());
  if (plan.empty()) return;

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
      // Row p predicts token p + 1: wanted while p + 1 is still a prompt token.
      const int64_t last = std::min(end, s.prompt_len - 1);
      if (last > begin) {
        spans[i].first_prompt_row = static_cast<int64_t>(batch.logit_rows.size());
        spans[i].prompt_rows = last - begin;
        for (int64_t p = begin; p < last; ++p) {
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

  logits_.resize(batch.logit_rows.size() * c.vocab_size);
  model_.forward(batch, *kv_, logits_.data(), nullptr);
  ++stats_.steps;

  std::vector<Sequence*> done;
  for (size_t i = 0; i < plan.size(); ++i) {
    Sequence& s = *plan[i].seq;
    const int64_t begin = s.num_computed;
    s.num_computed += plan[i].num_tokens;
    const RowSpan& sp = spans[i];
    for (int64_t r = 0; r < sp.prompt_rows; ++r) {
      const int64_t p = begin + r;
      std::span<const float> row(logits_.data() + (sp.first_prompt_row + r) * c.vocab_size,
                                 c.vocab_size);
      s.out.prompt_logprobs.push_back(
          token_logprobs(row, s.tokens[p + 1], *s.request.params.prompt_logprobs));
    }
    if (sp.sample_row >= 0 &&
        sample_and_check_stop(s, logits_.data() + sp.sample_row * c.vocab_size)) {
      done.push_back(&s);
    }
  }
  std::erase_if(running_, [&](const auto& s) {
    return std::find(done.begin(), done.end(), s.get()) != done.end();
  });
  stats_.running = static_cast<int64_t>(running_.size());
}

}  // namespace sieve
