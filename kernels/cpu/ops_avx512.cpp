// AVX-512 row kernels for ops.cpp (compiled with -mavx512f -mavx512dq -mfma).
#include <immintrin.h>

#include <algorithm>
#include <cstdint>

#include "kernels/cpu/avx512_math.h"
#include "kernels/cpu/ops_internal.h"

namespace sieve::kernels::internal {

void silu_mul_row_avx512(const float* g, const float* u, float* out, int64_t n) {
  const __m512 one = _mm512_set1_ps(1.0f);
  for (int64_t c = 0; c < n; c += 16) {
    const __mmask16 mk = n - c >= 16 ? 0xffff : static_cast<__mmask16>((1u << (n - c)) - 1u);
    const __m512 gv = _mm512_maskz_loadu_ps(mk, g + c);
    const __m512 e = exp_ps(_mm512_sub_ps(_mm512_setzero_ps(), gv));
    const __m512 s = _mm512_div_ps(gv, _mm512_add_ps(one, e));
    _mm512_mask_storeu_ps(out + c, mk, _mm512_mul_ps(s, _mm512_maskz_loadu_ps(mk, u + c)));
  }
}

double exp_shifted_avx512(const float* x, int64_t n, float max, float scale, float* out) {
  const __m512 mv = _mm512_set1_ps(max), sv = _mm512_set1_ps(scale);
  double sum = 0;
  // Blocks of 1024 summed in fp32 lanes, then into the double total: every term is <= 1, so
  // a block's float sum keeps ~7 digits and the total loses nothing that matters for sampling.
  for (int64_t b = 0; b < n; b += 1024) {
    const int64_t end = std::min<int64_t>(n, b + 1024);
    __m512 acc = _mm512_setzero_ps();
    for (int64_t c = b; c < end; c += 16) {
      const __mmask16 mk = end - c >= 16 ? 0xffff : static_cast<__mmask16>((1u << (end - c)) - 1u);
      const __m512 v = _mm512_maskz_loadu_ps(mk, x + c);
      const __m512 e = exp_ps(_mm512_mul_ps(_mm512_sub_ps(v, mv), sv));
      _mm512_mask_storeu_ps(out + c, mk, e);
      acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(mk, e));
    }
    sum += static_cast<double>(_mm512_reduce_add_ps(acc));
  }
  return sum;
}

}  // namespace sieve::kernels::internal
