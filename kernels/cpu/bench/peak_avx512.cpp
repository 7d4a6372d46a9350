// Register-only vdpbf16ps loop (compiled with -mavx512bf16): the arithmetic peak that the
// gemm benchmark rows are compared with.
#include <immintrin.h>

#include <cstdint>

namespace sieve::kernels::bench {

// Runs `iters` × 24 independent vdpbf16ps and returns a value that depends on all of them.
float dpbf16_loop(int64_t iters) {
#define SIEVE_ACC(X)                                                                               \
  X(0)                                                                                             \
  X(1)                                                                                             \
  X(2)                                                                                             \
  X(3)                                                                                             \
  X(4)                                                                                             \
  X(5) X(6) X(7) X(8) X(9) X(10) X(11) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) \
      X(22) X(23)
#define SIEVE_DECL(i) __m512 acc##i = _mm512_set1_ps(static_cast<float>(i));
#define SIEVE_STEP(i) acc##i = _mm512_dpbf16_ps(acc##i, a, b);
#define SIEVE_SUM(i) s = _mm512_add_ps(s, acc##i);
  SIEVE_ACC(SIEVE_DECL)
  const __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  const __m512bh b = (__m512bh)_mm512_set1_epi32(0x3c003c00);
  for (int64_t it = 0; it < iters; ++it) {
    SIEVE_ACC(SIEVE_STEP)
  }
  __m512 s = _mm512_setzero_ps();
  SIEVE_ACC(SIEVE_SUM)
#undef SIEVE_ACC
#undef SIEVE_DECL
#undef SIEVE_STEP
#undef SIEVE_SUM
  return _mm512_reduce_add_ps(s);
}

}  // namespace sieve::kernels::bench
