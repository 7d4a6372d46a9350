// Register-only vdpbf16ps loop (compiled with -mavx512bf16): the arithmetic peak that the
// gemm benchmark rows are compared with.
#include <immintrin.h>

#include <cstdint>

namespace sieve::kernels::bench {

// Runs `iters` × 24 independent vdpbf16ps and returns a value that depends on all of them.
float dpbf16_loop(int64_t iters) {
  __m512 acc[24];
#pragma GCC unroll 24
  for (int i = 0; i < 24; ++i)
    acc[i] = _mm512_set1_ps(static_cast<float>(i));
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  const __m512bh b = (__m512bh)_mm512_set1_epi32(0x3c003c00);
  for (int64_t it = 0; it < iters; ++it) {
#pragma GCC unroll 24
    for (int i = 0; i < 24; ++i)
      acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
  }
  __m512 s = _mm512_setzero_ps();
#pragma GCC unroll 24
  for (int i = 0; i < 24; ++i)
    s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

}  // namespace sieve::kernels::bench
