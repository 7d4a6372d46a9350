// Causal self-attention over a paged KV cache, for a flattened batch of sequences that each
// bring zero or more new query tokens (prefill chunks and decodes mixed). The arguments and the
// cache layout are kernels/paged_attention.h's, shared with the CUDA kernel.
#pragma once

#include <cstdint>

#include "kernels/cpu/thread_pool.h"
#include "kernels/paged_attention.h"

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

// Softmax in fp32 with the running maximum subtracted; GQA: query head h reads kv head
// h / (num_heads / num_kv_heads).
void paged_attention(const PagedAttentionArgs& a, ThreadPool* pool);

}  // namespace sieve::kernels
