// What paged attention computes, the same for the CPU kernel (kernels/cpu/attention.h) and the
// CUDA kernel (kernels/cuda/attention.h, which adds length bounds and a workspace): a flattened
// batch of sequences that each bring zero or more new query tokens, attending causally over a
// paged fp32 KV cache. Pointers are host or device memory as the kernel needs.
//
// KV cache layout: k_cache and v_cache are [num_blocks, block_size, num_kv_heads, head_dim];
// a sequence's logical token p lives in block block_table[s][p / block_size] at slot
// p % block_size.
#pragma once

#include <cstdint>

namespace sieve::kernels {

struct PagedAttentionArgs {
  const float* q = nullptr;               // [tokens, num_heads, head_dim], token stride ld_q
  float* out = nullptr;                   // [tokens, num_heads, head_dim], token stride ld_out
  const float* k_cache = nullptr;         // [num_blocks, block_size, num_kv_heads, head_dim]
  const float* v_cache = nullptr;         // [num_blocks, block_size, num_kv_heads, head_dim]
  const int32_t* block_tables = nullptr;  // [num_seqs, max_blocks_per_seq]
  const int32_t* query_start = nullptr;   // [num_seqs + 1]: seq s owns query rows
                                          // [query_start[s], query_start[s+1])
  const int32_t* context_lens = nullptr;  // [num_seqs]: tokens in the cache for seq s, new
                                          // ones included; query i of seq s sits at position
                                          // context_len - query_len + i and sees keys [0, pos]
  int64_t num_seqs = 0, max_blocks_per_seq = 0, num_heads = 0, num_kv_heads = 0, head_dim = 0,
          block_size = 0, ld_q = 0, ld_out = 0;
  float scale = 1.0f;
  int64_t sliding_window = 0;  // > 0: a query at p sees keys (p - sliding_window, p]
  // Attention sinks (gpt-oss): null, or [num_heads] logits that join each head's softmax
  // denominator without a value: out = Σ_j exp(s_j) v_j / (Σ_j exp(s_j) + exp(sink)). A head
  // can so attend to "nothing" instead of being forced onto its keys.
  const float* sinks = nullptr;
};

}  // namespace sieve::kernels
