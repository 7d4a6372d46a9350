// AVX-512 paged attention (compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma).
// Per row and key block of 16: the 16 scores come from lane-wise fmas over head_dim followed
// by a fixed transpose-and-add tree, the block's probabilities from a vector exp, and the
// output accumulates keys in order. Nothing depends on which other rows are processed.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/attention_internal.h"

namespace sieve::kernels::internal {
namespace {

inline int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}

// exp(x) for x <= 0 (Cephes expf polynomial, ~1 ulp); lanes below -87 give 0.
inline __m512 exp_neg(__m512 x) {
  const __mmask16 tiny = _mm512_cmp_ps_mask(x, _mm512_set1_ps(-87.0f), _CMP_LT_OQ);
  x = _mm512_max_ps(x, _mm512_set1_ps(-87.0f));
  const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                        _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693359375f), x);
  r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-2.12194440e-4f), r);
  __m512 p = _mm512_set1_ps(1.9875691500e-4f);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.3981999507e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(8.3334519073e-3f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(4.1665795894e-2f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(1.6666665459e-1f));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(5.0000001201e-1f));
  const __m512 r2 = _mm512_mul_ps(r, r);
  p = _mm512_fmadd_ps(p, r2, _mm512_add_ps(r, _mm512_set1_ps(1.0f)));
  return _mm512_maskz_mov_ps(static_cast<__mmask16>(~tiny), _mm512_scalef_ps(p, n));
}

// out[j] = sum of the lanes of v[j], by a fixed tree.
inline __m512 hsum16(const __m512 (&v)[16]) {
  __m512 s[8];
  for (int i = 0; i < 8; ++i)
    s[i] = _mm512_add_ps(_mm512_unpacklo_ps(v[2 * i], v[2 * i + 1]),
                         _mm512_unpackhi_ps(v[2 * i], v[2 * i + 1]));
  __m512 t[4];
  for (int i = 0; i < 4; ++i)
    t[i] = _mm512_add_ps(_mm512_shuffle_ps(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                         _mm512_shuffle_ps(s[2 * i], s[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
  __m512 u[2];
  for (int i = 0; i < 2; ++i)
    u[i] = _mm512_add_ps(_mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                         _mm512_shuffle_f32x4(t[2 * i], t[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
  return _mm512_add_ps(_mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(2, 0, 2, 0)),
                       _mm512_shuffle_f32x4(u[0], u[1], _MM_SHUFFLE(3, 1, 3, 1)));
}

alignas(64) const float kZeros[1024] = {};

}  // namespace

void attend_rows_avx512(const AttnRows& rs) {
  const PagedAttentionArgs& a = *rs.a;
  const int64_t hd = a.head_dim, chunks = hd / 16;
  const int64_t kv_stride = a.num_kv_heads * hd;
  const int64_t window = a.sliding_window;
  float* m_state = rs.scratch;
  float* l_state = rs.scratch + rs.rows;
  float* acc_state = rs.scratch + 2 * rs.rows;
  int64_t lo_all = INT64_MAX, hi_all = -1;
  for (int64_t r = 0; r < rs.rows; ++r) {
    m_state[r] = -__builtin_inff();
    l_state[r] = 0.f;
    for (int64_t d = 0; d < hd; ++d)
      acc_state[r * hd + d] = 0.f;
    const int64_t lo = window > 0 ? max64(0, rs.pos[r] - window + 1) : 0;
    lo_all = lo < lo_all ? lo : lo_all;
    hi_all = rs.pos[r] > hi_all ? rs.pos[r] : hi_all;
  }
  const float* kptr[16];
  const float* vptr[16];
  for (int64_t kb = lo_all / kAttnKeyBlock * kAttnKeyBlock; kb <= hi_all; kb += kAttnKeyBlock) {
    for (int j = 0; j < 16; ++j) {
      const int64_t p = kb + j;
      if (p > hi_all) {
        kptr[j] = vptr[j] = kZeros;
        continue;
      }
      const int64_t slot =
          static_cast<int64_t>(rs.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
      kptr[j] = a.k_cache + slot * kv_stride + rs.kv_head * hd;
      vptr[j] = a.v_cache + slot * kv_stride + rs.kv_head * hd;
    }
    for (int64_t r = 0; r < rs.rows; ++r) {
      const int64_t pos = rs.pos[r];
      const int64_t lo = window > 0 ? max64(0, pos - window + 1) : 0;
      if (kb > pos || kb + kAttnKeyBlock <= lo) continue;
      // Valid keys of this block for this row: [lo, pos].
      uint32_t valid = 0xffffu;
      if (pos - kb < 15) valid &= (1u << (pos - kb + 1)) - 1u;
      if (lo > kb) valid &= ~((1u << (lo - kb)) - 1u);
      const __mmask16 mk = static_cast<__mmask16>(valid);
      const float* q = rs.q[r];
      __m512 dots[16];
      for (int j = 0; j < 16; ++j)
        dots[j] = _mm512_setzero_ps();
      for (int64_t c = 0; c < chunks; ++c) {
        const __m512 qv = _mm512_loadu_ps(q + c * 16);
        for (int j = 0; j < 16; ++j)
          dots[j] = _mm512_fmadd_ps(qv, _mm512_loadu_ps(kptr[j] + c * 16), dots[j]);
      }
      const __m512 s = _mm512_mask_mov_ps(_mm512_set1_ps(-__builtin_inff()), mk,
                                          _mm512_mul_ps(hsum16(dots), _mm512_set1_ps(a.scale)));
      const float bm = _mm512_reduce_max_ps(s);
      const float m_old = m_state[r];
      const float m_new = m_old > bm ? m_old : bm;
      const float corr = __builtin_expf(m_old - m_new);
      const __m512 p = _mm512_maskz_mov_ps(mk, exp_neg(_mm512_sub_ps(s, _mm512_set1_ps(m_new))));
      l_state[r] = l_state[r] * corr + _mm512_reduce_add_ps(p);
      m_state[r] = m_new;
      alignas(64) float pj[16];
      _mm512_store_ps(pj, p);
      float* acc = acc_state + r * hd;
      const __m512 cv = _mm512_set1_ps(corr);
      for (int64_t c = 0; c < chunks; ++c) {
        __m512 o = _mm512_mul_ps(_mm512_loadu_ps(acc + c * 16), cv);
        for (int j = 0; j < 16; ++j) {
          if (!((valid >> j) & 1u)) continue;
          o = _mm512_fmadd_ps(_mm512_set1_ps(pj[j]), _mm512_loadu_ps(vptr[j] + c * 16), o);
        }
        _mm512_storeu_ps(acc + c * 16, o);
      }
    }
  }
  for (int64_t r = 0; r < rs.rows; ++r) {
    const __m512 inv = _mm512_set1_ps(1.0f / l_state[r]);
    for (int64_t c = 0; c < chunks; ++c)
      _mm512_storeu_ps(rs.out[r] + c * 16,
                       _mm512_mul_ps(_mm512_loadu_ps(acc_state + r * hd + c * 16), inv));
  }
}

}  // namespace sieve::kernels::internal
