// Causal self-attention over a paged KV cache, for a flattened batch of sequences that each
// bring zero or more new query tokens (prefill chunks and decodes mixed).
//
// KV cache layout: k_cache and v_cache are [num_blocks, block_size, num_kv_heads, head_dim]
// fp32; a sequence's logical token p lives in block block_table[s][p / block_size] at slot
// p % block_size.
#pragma once

#include <cstdint>

#include "kernels/cpu/thread_pool.h"

namespace sieve::kernels {

// Writes new keys/values into their cache slots. slot = block * block_size + offset; a
// negative slot (padding) is skipped.
struct KvWriteArgs {
  const float* k = nullptr;        // [tokens, num_kv_heads, head_dim], token stride ld_k
  const float* v = nullptr;        // [tokens, num_kv_heads, head_dim], token stride ld_v
  const int64_t* slots = nullptr;  // [tokens]
  float* k_cache = nullptr;
  float* v_cache = nullptr;
  int64_t tokens = 0, num_kv_heads = 0, head_dim = 0, ld_k = 0, ld_v = 0;
};
void kv_write(const KvWriteArgs& a);

struct PagedAttentionArgs {
  const float* q = nullptr;  // [tokens, num_heads, head_dim], token stride ld_q
  float* out = nullptr;      // [tokens, num_heads, head_dim], token stride ld_out
  const float* k_cache = nullptr;
  const float* v_cache = nullptr;
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
};
// Softmax in fp32 with the running maximum subtracted; GQA: query head h reads kv head
// h / (num_heads / num_kv_heads).
void paged_attention(const PagedAttentionArgs& a, ThreadPool* pool);

}  // namespace sieve::kernels
