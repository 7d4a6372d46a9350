#include "engine/step_sampler.h"

#include <span>

namespace sieve {

int32_t StepSampler::sample_on_host(Sequence& s, const float* row) {
  const SamplingParams& p = s.params();
  std::span<const float> logits(row, vocab_);
  if (!has_penalties(p)) return sample_token(logits, p, s.rng);
  // Penalties change what is drawn, not the reported logprobs (the model's own, as in vLLM).
  penalized_.assign(logits.begin(), logits.end());
  apply_penalties(penalized_, p, std::span(s.tokens).first(s.prompt_len),
                  std::span(s.tokens).subspan(s.prompt_len));
  return sample_token(penalized_, p, s.rng);
}

SampledTokens StepSampler::sample(const StepPlan& plan, const StepBatch& batch, Tensor& logits) {
  bool host_logits = false;
  std::vector<SampleRow> device_rows;
  for (size_t i = 0; i < plan.scheduled.size(); ++i) {
    const Sequence& s = *plan.scheduled[i].seq;
    const SequenceRows& rows = batch.rows[i];
    const SamplingParams& p = s.params();
    if (rows.prompt_rows > 0 || (rows.sample_row >= 0 && p.logprobs)) host_logits = true;
    if (rows.sample_row < 0) continue;
    SampleRow r;
    r.params = kernels::RowSampling{p.temperature,
                                    p.top_p,
                                    p.min_p,
                                    p.presence_penalty,
                                    p.frequency_penalty,
                                    p.repetition_penalty,
                                    static_cast<int32_t>(p.top_k > 0 ? p.top_k : 0),
                                    s.seed,
                                    s.out.output_token_ids.size()};
    r.prompt = std::span(s.tokens).first(s.prompt_len);
    r.output = std::span(s.tokens).subspan(s.prompt_len);
    device_rows.push_back(r);
  }
  std::vector<int32_t> device_ids(device_rows.size());
  bool on_device = false;
  if (!host_logits && !device_rows.empty()) {
    on_device = backend_.sample(logits, device_rows, device_ids.data());
  }
  SampledTokens out;
  if (!on_device) {
    const int64_t R = static_cast<int64_t>(batch.forward.logit_rows.size());
    logits_.resize(R * vocab_);
    if (R > 0) backend_.copy_rows_to_host(logits, 0, R, logits_.data());
    backend_.end_step();
    out.logits = logits_.data();
  }
  out.tokens.assign(plan.scheduled.size(), -1);
  // Device rows are in the order of the sequences that sample, as are their logit rows.
  size_t next = 0;
  for (size_t i = 0; i < plan.scheduled.size(); ++i) {
    const int64_t row = batch.rows[i].sample_row;
    if (row < 0) continue;
    out.tokens[i] = on_device ? device_ids[next]
                              : sample_on_host(*plan.scheduled[i].seq, out.logits + row * vocab_);
    ++next;
  }
  return out;
}

}  // namespace sieve
