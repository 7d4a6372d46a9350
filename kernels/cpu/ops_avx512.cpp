// AVX-512 row kernels for ops.cpp (compiled with -mavx512f -mavx512dq -mfma).
#include <immintrin.h>

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

}  // namespace sieve::kernels::internal
