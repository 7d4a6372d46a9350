// AVX-512 probes of the machine (compiled with -mavx512bf16): a register-only vdpbf16ps loop,
// the arithmetic peak the gemm rows are compared with, and a weight-like read of memory in a
// given number of concurrent streams, the pattern question behind the decode kernel's layout.
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

// Reads [p, p + bytes) as `streams` equal contiguous parts walked side by side, 128 bytes of each
// per step, prefetching `prefetch_bytes` ahead in each, and feeds every 64 bytes to a vdpbf16ps
// as the decode kernel does. Returns a value that depends on all of it.
float read_streams(const char* p, int64_t bytes, int streams, int64_t prefetch_bytes) {
  const int64_t part = bytes / streams / 128 * 128;
  __m512 acc[8];
  for (auto& a : acc)
    a = _mm512_setzero_ps();
  const __m512bh x = (__m512bh)_mm512_set1_epi32(0x3f803f80);
  for (int64_t off = 0; off < part; off += 128) {
    for (int s = 0; s < streams; ++s) {
      const char* q = p + s * part + off;
      if (off + prefetch_bytes < part) {
        _mm_prefetch(q + prefetch_bytes, _MM_HINT_T0);
        _mm_prefetch(q + prefetch_bytes + 64, _MM_HINT_T0);
      }
      const int a = (2 * s) & 7;
      acc[a] = _mm512_dpbf16_ps(acc[a], x, (__m512bh)_mm512_load_si512(q));
      acc[a + 1] = _mm512_dpbf16_ps(acc[a + 1], x, (__m512bh)_mm512_load_si512(q + 64));
    }
  }
  __m512 s = acc[0];
  for (int i = 1; i < 8; ++i)
    s = _mm512_add_ps(s, acc[i]);
  return _mm512_reduce_add_ps(s);
}

}  // namespace sieve::kernels::bench
