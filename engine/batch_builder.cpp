#include "engine/batch_builder.h"

#include <algorithm>

namespace sieve {

StepBatch build_step_batch(const StepPlan& plan, int64_t block_size) {
  const int64_t bs = block_size;
  StepBatch out;
  ForwardBatch& batch = out.forward;
  batch.query_start.push_back(0);
  int64_t max_blocks = 0;
  for (const ScheduledSequence& sc : plan.scheduled) {
    max_blocks = std::max<int64_t>(max_blocks, sc.seq->blocks.size());
  }
  batch.max_blocks_per_seq = max_blocks;
  out.rows.resize(plan.scheduled.size());
  for (size_t i = 0; i < plan.scheduled.size(); ++i) {
    const Sequence& s = *plan.scheduled[i].seq;
    SequenceRows& rows = out.rows[i];
    const int64_t begin = s.num_computed, end = begin + plan.scheduled[i].num_tokens;
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
    if (s.params().prompt_logprobs) {
      // Row p predicts token p + 1: wanted while p + 1 is still a prompt token and not yet
      // recorded (a recomputed sequence has them already).
      const int64_t first =
          std::max<int64_t>(begin, static_cast<int64_t>(s.out.prompt_logprobs.size()) - 1);
      const int64_t last = std::min(end, s.prompt_len - 1);
      if (last > first) {
        rows.first_prompt_row = static_cast<int64_t>(batch.logit_rows.size());
        rows.first_prompt_pos = first;
        rows.prompt_rows = last - first;
        for (int64_t p = first; p < last; ++p) {
          batch.logit_rows.push_back(static_cast<int32_t>(row0 + (p - begin)));
        }
      }
    }
    if (end == s.num_tokens()) {
      rows.sample_row = static_cast<int64_t>(batch.logit_rows.size());
      batch.logit_rows.push_back(static_cast<int32_t>(row0 + (end - 1 - begin)));
    }
    if (s.num_computed < s.prompt_len) out.prompt_tokens += std::min(end, s.prompt_len) - begin;
  }
  return out;
}

}  // namespace sieve
