// Causal self-attention over a paged fp32 KV cache on the GPU, for a flattened batch of
// sequences that each bring zero or more new query tokens (prefill chunks and decodes mixed).
// Same contract as the CPU kernels::paged_attention (kernels/cpu/attention.h; arguments and
// cache layout in kernels/paged_attention.h), with device pointers, an explicit stream,
// host-side length bounds and a workspace.
//
// Graph capture: the grid and every launch parameter depend only on num_seqs, the head
// counts, head_dim and the two bounds (max_query_len, max_context_len), never on device
// contents. The kernels read the real lengths from query_start / context_lens and do nothing
// past them, so a step captured once replays for any lengths within the bounds, with results
// bit-identical to a launch with tight bounds.
#pragma once

#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

#include "kernels/paged_attention.h"

namespace sieve::cuda {

// The shared description (kernels/paged_attention.h) plus what the GPU launch needs.
struct PagedAttentionParams : kernels::PagedAttentionArgs {
  // Host-side upper bounds on every query_len and context_len in the batch. They size the
  // grid; max_query_len == 1 selects the split-KV decode path (every query_len must then be
  // 0 or 1), anything larger the tiled prefill path.
  int64_t max_query_len = 0, max_context_len = 0;
  // Split-KV partial results of the decode path: at least
  // paged_attention_workspace_bytes(*this) bytes (may be 0, then workspace may be null).
  void* workspace = nullptr;
  size_t workspace_bytes = 0;
};

// Workspace the call needs for these shapes and bounds (0 on the prefill path and for decodes
// whose bound fits one partition).
size_t paged_attention_workspace_bytes(const PagedAttentionParams& p);

// Softmax in fp32 with the running maximum subtracted; GQA: query head h reads kv head
// h / (num_heads / num_kv_heads). head_dim ≤ 256 (64 and 128 have tuned instances).
// A sequence with query_len 0 or context_len 0 writes nothing.
void paged_attention(const PagedAttentionParams& p, cudaStream_t stream);

}  // namespace sieve::cuda
