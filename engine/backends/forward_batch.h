// One step's work, flattened: the tokens of every scheduled sequence back to back (prefill
// chunks and decodes mixed), their positions, and where their keys and values live in the
// paged KV cache. The scheduler builds it; the model and the backend read it.
#pragma once

#include <cstdint>
#include <vector>

namespace sieve {

struct ForwardBatch {
  std::vector<int32_t> token_ids;     // [num_tokens]
  std::vector<int32_t> positions;     // [num_tokens]
  std::vector<int64_t> slots;         // [num_tokens]: block * block_size + offset of its KV
  std::vector<int32_t> query_start;   // [num_seqs + 1]: seq s owns token rows
                                      // [query_start[s], query_start[s + 1])
  std::vector<int32_t> context_lens;  // [num_seqs]: cached tokens after this step, new included
  std::vector<int32_t> block_tables;  // [num_seqs, max_blocks_per_seq], padded with 0
  int64_t max_blocks_per_seq = 0;
  std::vector<int32_t> logit_rows;  // token rows whose logits the caller wants, in order

  int64_t num_tokens() const { return static_cast<int64_t>(token_ids.size()); }
  int64_t num_seqs() const { return static_cast<int64_t>(context_lens.size()); }
};

// Optional per-step record for tests and tools: each MoE layer's routing decision.
struct ForwardTrace {
  // [layer] → [num_tokens * top_k] expert ids and weights, in the router's order (by weight).
  std::vector<std::vector<int32_t>> router_ids;
  std::vector<std::vector<float>> router_weights;
};

}  // namespace sieve
