// Prepare: a step plan flattened into the ForwardBatch the model runs (token ids, positions, KV
// slots, query starts, context lengths, block tables), and which logit rows belong to which
// scheduled sequence. Only rows somebody needs reach the lm_head: the last token of a sequence
// that samples, and the prompt positions whose log-probabilities were asked for.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/backends/forward_batch.h"
#include "engine/scheduler.h"

namespace sieve {

// The logit rows of one scheduled sequence, as indices into ForwardBatch::logit_rows.
struct SequenceRows {
  int64_t first_prompt_row = -1;  // row of the first prompt-logprob position
  int64_t first_prompt_pos = 0;   // and its position in the sequence
  int64_t prompt_rows = 0;
  int64_t sample_row = -1;  // -1: this sequence samples nothing this step (a prefill chunk)
};

struct StepBatch {
  ForwardBatch forward;
  std::vector<SequenceRows> rows;  // [plan.scheduled]
  int64_t prompt_tokens = 0;       // prompt tokens computed this step (recomputes included)
};

StepBatch build_step_batch(const StepPlan& plan, int64_t block_size);

}  // namespace sieve
