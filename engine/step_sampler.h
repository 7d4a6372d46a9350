// Sample: one token for every scheduled sequence that reached the end of what it knows. On the
// backend when it can (the CUDA backend draws and returns only the ids: the step's one
// synchronisation) and no row needs logits on the host (log-probabilities); otherwise the
// logit rows come back and engine/sampler.h draws from each sequence's own generator.
// Either way a sequence's draw depends only on its own seed and how many tokens it has drawn,
// never on the batch.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/backends/backend.h"
#include "engine/batch_builder.h"

namespace sieve {

struct SampledTokens {
  std::vector<int32_t> tokens;    // [plan.scheduled]: the token drawn, or -1 (nothing sampled)
  const float* logits = nullptr;  // [logit rows, vocab] on the host when they came back, else
                                  // null; valid until the next sample()
};

class StepSampler {
 public:
  StepSampler(Backend& backend, int64_t vocab_size) : backend_(backend), vocab_(vocab_size) {}

  // `logits`: [batch.forward.logit_rows.size(), vocab] on the backend. Ends the backend's step.
  SampledTokens sample(const StepPlan& plan, const StepBatch& batch, Tensor& logits);

 private:
  int32_t sample_on_host(Sequence& s, const float* row);

  Backend& backend_;
  int64_t vocab_;
  std::vector<float> logits_;
  std::vector<float> penalized_;  // one row of logits with a request's penalties applied
};

}  // namespace sieve
