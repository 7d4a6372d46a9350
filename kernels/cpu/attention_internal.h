// Internals of paged attention shared by attention.cpp and the AVX-512 translation unit.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "kernels/cpu/attention.h"

namespace sieve::kernels::internal {

// Query rows of one sequence that read the same kv head, processed together so they share
// the loads of each key block. Every row's arithmetic depends only on its own q and position:
// keys are walked in blocks of kAttnKeyBlock aligned to absolute positions.
struct AttnRows {
  const PagedAttentionArgs* a = nullptr;
  const int32_t* block_table = nullptr;  // this sequence's
  int64_t kv_head = 0;
  int64_t rows = 0;
  const float* const* q = nullptr;  // [rows] → head_dim floats
  float* const* out = nullptr;      // [rows]
  const int64_t* pos = nullptr;     // [rows], position of each query
  const float* sink = nullptr;      // null, or [rows]: each row's head's sink logit
  float* scratch = nullptr;         // rows * (head_dim + 2) floats
};

inline constexpr int64_t kAttnKeyBlock = 16;

// What a row's accumulator is multiplied by at the end when a sink joins its softmax: the
// running max m and sum l (of exp(s - m)) are rebased on max(m, sink) and the sink's own
// exp(sink - max) added to the denominator.
inline float sink_scale(float m, float l, float sink) {
  const float top = std::max(m, sink);
  const float rebase = std::exp(m - top);
  return rebase / (l * rebase + std::exp(sink - top));
}

// head_dim must be a multiple of 16 and at most 1024.
void attend_rows_avx512(const AttnRows& r);

}  // namespace sieve::kernels::internal
