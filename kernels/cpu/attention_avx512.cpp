// AVX-512 paged attention (compiled with -mavx512f -mavx512dq -mavx512bw -mavx512vl -mfma).
// Per row and key block of 16: the 16 scores come from lane-wise fmas over head_dim followed
// by a fixed transpose-and-add tree, the block's probabilities from a vector exp, and the
// output accumulates keys in order. Nothing depends on which other rows are processed.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/attention_internal.h"
#include "kernels/cpu/avx512_math.h"

namespace sieve::kernels::internal {
namespace {

inline int64_t max64(int64_t a, int64_t b) {
  return a > b ? a : b;
}

// c[q] = column q of the 16 × 16 tile whose rows are r[0..15].
inline void transpose16(const __m512 (&r)[16], __m512 (&c)[16]) {
  __m512 t[16], u[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int g = 0; g < 4; ++g) {
    u[4 * g + 0] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 1] = _mm512_shuffle_ps(t[4 * g], t[4 * g + 2], _MM_SHUFFLE(3, 2, 3, 2));
    u[4 * g + 2] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(1, 0, 1, 0));
    u[4 * g + 3] = _mm512_shuffle_ps(t[4 * g + 1], t[4 * g + 3], _MM_SHUFFLE(3, 2, 3, 2));
  }
  for (int q = 0; q < 4; ++q) {
    const __m512 v0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0x88);
    const __m512 w0 = _mm512_shuffle_f32x4(u[q], u[4 + q], 0xdd);
    const __m512 v1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0x88);
    const __m512 w1 = _mm512_shuffle_f32x4(u[8 + q], u[12 + q], 0xdd);
    c[q] = _mm512_shuffle_f32x4(v0, v1, 0x88);
    c[8 + q] = _mm512_shuffle_f32x4(v0, v1, 0xdd);
    c[4 + q] = _mm512_shuffle_f32x4(w0, w1, 0x88);
    c[12 + q] = _mm512_shuffle_f32x4(w0, w1, 0xdd);
  }
}

alignas(64) const float kZeros[1024] = {};

constexpr int kRowGroup = 8;  // rows whose scores share each load of the transposed keys

}  // namespace

// Per key block: K is transposed once into kt [head_dim][16], then each row's 16 scores are
// one fma chain over head_dim (in order), 8 rows at a time. Softmax state per row is updated
// only from that row's own lanes; PV adds valid keys in order, 4 rows × 2 chunks at a time.
void attend_rows_avx512(const AttnRows& rs) {
  const PagedAttentionArgs& a = *rs.a;
  const int64_t hd = a.head_dim, chunks = hd / 16;
  const int64_t kv_stride = a.num_kv_heads * hd;
  const int64_t window = a.sliding_window;
  float* m_state = rs.scratch;
  float* l_state = rs.scratch + rs.rows;
  float* acc_state = rs.scratch + 2 * rs.rows;
  alignas(64) float kt[1024 * 16];
  alignas(64) float pj[kRowGroup][16];
  uint32_t valid[kRowGroup];
  float corr[kRowGroup];
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
  auto key_ptrs = [&](int64_t kb, const float** kp, const float** vp) {
    for (int j = 0; j < 16; ++j) {
      const int64_t p = kb + j;
      if (p > hi_all) {
        kp[j] = vp[j] = kZeros;
        continue;
      }
      const int64_t slot =
          static_cast<int64_t>(rs.block_table[p / a.block_size]) * a.block_size + p % a.block_size;
      kp[j] = a.k_cache + slot * kv_stride + rs.kv_head * hd;
      vp[j] = a.v_cache + slot * kv_stride + rs.kv_head * hd;
    }
  };
  const float* kptr[16];
  const float* vptr[16];
  const float* knext[16];
  const float* vnext[16];
  const int64_t kb0 = lo_all / kAttnKeyBlock * kAttnKeyBlock;
  if (kb0 <= hi_all) key_ptrs(kb0, knext, vnext);
  for (int64_t kb = kb0; kb <= hi_all; kb += kAttnKeyBlock) {
    for (int j = 0; j < 16; ++j)
      kptr[j] = knext[j], vptr[j] = vnext[j];
    // Pull the next block into L2 while this one is processed.
    if (kb + kAttnKeyBlock <= hi_all) {
      key_ptrs(kb + kAttnKeyBlock, knext, vnext);
      for (int j = 0; j < 16; ++j) {
        for (int64_t off = 0; off < hd; off += 16) {
          _mm_prefetch(reinterpret_cast<const char*>(knext[j] + off), _MM_HINT_T1);
          _mm_prefetch(reinterpret_cast<const char*>(vnext[j] + off), _MM_HINT_T1);
        }
      }
    }
    for (int64_t c = 0; c < chunks; ++c) {
      __m512 rows16[16], cols16[16];
      for (int j = 0; j < 16; ++j)
        rows16[j] = _mm512_loadu_ps(kptr[j] + c * 16);
      transpose16(rows16, cols16);
      for (int q = 0; q < 16; ++q)
        _mm512_store_ps(kt + (c * 16 + q) * 16, cols16[q]);
    }
    for (int64_t g0 = 0; g0 < rs.rows; g0 += kRowGroup) {
      const int gn = static_cast<int>(rs.rows - g0 < kRowGroup ? rs.rows - g0 : kRowGroup);
      uint32_t any = 0;
      for (int i = 0; i < gn; ++i) {
        const int64_t pos = rs.pos[g0 + i];
        const int64_t lo = window > 0 ? max64(0, pos - window + 1) : 0;
        uint32_t v = 0;
        if (kb <= pos && kb + kAttnKeyBlock > lo) {
          v = 0xffffu;
          if (pos - kb < 15) v &= (1u << (pos - kb + 1)) - 1u;
          if (lo > kb) v &= ~((1u << (lo - kb)) - 1u);
        }
        valid[i] = v;
        any |= v;
      }
      if (!any) continue;
      // Scores: one ordered chain over head_dim per (row, key).
      __m512 sc[kRowGroup];
      for (int i = 0; i < kRowGroup; ++i)
        sc[i] = _mm512_setzero_ps();
      const float* qrow[kRowGroup];
      for (int i = 0; i < kRowGroup; ++i)
        qrow[i] = rs.q[g0 + (i < gn ? i : 0)];
      for (int64_t d = 0; d < hd; ++d) {
        const __m512 kv = _mm512_load_ps(kt + d * 16);
        for (int i = 0; i < kRowGroup; ++i)
          sc[i] = _mm512_fmadd_ps(_mm512_set1_ps(qrow[i][d]), kv, sc[i]);
      }
      for (int i = 0; i < gn; ++i) {
        const int64_t r = g0 + i;
        corr[i] = 1.0f;
        if (!valid[i]) {
          _mm512_store_ps(pj[i], _mm512_setzero_ps());
          continue;
        }
        const __mmask16 mk = static_cast<__mmask16>(valid[i]);
        const __m512 s = _mm512_mask_mov_ps(_mm512_set1_ps(-__builtin_inff()), mk,
                                            _mm512_mul_ps(sc[i], _mm512_set1_ps(a.scale)));
        const float bm = _mm512_reduce_max_ps(s);
        const float m_old = m_state[r];
        const float m_new = m_old > bm ? m_old : bm;
        corr[i] = __builtin_expf(m_old - m_new);
        const __m512 p = _mm512_maskz_mov_ps(mk, exp_ps(_mm512_sub_ps(s, _mm512_set1_ps(m_new))));
        l_state[r] = l_state[r] * corr[i] + _mm512_reduce_add_ps(p);
        m_state[r] = m_new;
        _mm512_store_ps(pj[i], p);
      }
      // out += p · V, keys in order, 4 rows × 2 chunks per pass.
      for (int i0 = 0; i0 < gn; i0 += 4) {
        const int in = gn - i0 < 4 ? gn - i0 : 4;
        bool full = true;
        for (int i = 0; i < in; ++i)
          full = full && valid[i0 + i] == 0xffffu;
        for (int64_t c = 0; c < chunks; c += 2) {
          const bool two = c + 1 < chunks;
          __m512 o[4][2];
          for (int i = 0; i < in; ++i) {
            float* acc = acc_state + (g0 + i0 + i) * hd + c * 16;
            const __m512 cv = _mm512_set1_ps(corr[i0 + i]);
            o[i][0] = _mm512_mul_ps(_mm512_loadu_ps(acc), cv);
            o[i][1] = two ? _mm512_mul_ps(_mm512_loadu_ps(acc + 16), cv) : _mm512_setzero_ps();
          }
          if (full && in == 4 && two) {
            // Every key valid for all four rows (below the diagonal): no masks.
            for (int j = 0; j < 16; ++j) {
              const __m512 v0 = _mm512_loadu_ps(vptr[j] + c * 16);
              const __m512 v1 = _mm512_loadu_ps(vptr[j] + c * 16 + 16);
              for (int i = 0; i < 4; ++i) {
                const __m512 pv = _mm512_set1_ps(pj[i0 + i][j]);
                o[i][0] = _mm512_fmadd_ps(pv, v0, o[i][0]);
                o[i][1] = _mm512_fmadd_ps(pv, v1, o[i][1]);
              }
            }
          } else {
            for (int j = 0; j < 16; ++j) {
              if (!((any >> j) & 1u)) continue;
              const __m512 v0 = _mm512_loadu_ps(vptr[j] + c * 16);
              const __m512 v1 = two ? _mm512_loadu_ps(vptr[j] + c * 16 + 16) : _mm512_setzero_ps();
              for (int i = 0; i < in; ++i) {
                const __mmask16 on = ((valid[i0 + i] >> j) & 1u) ? 0xffff : 0;
                const __m512 pv = _mm512_set1_ps(pj[i0 + i][j]);
                o[i][0] = _mm512_mask3_fmadd_ps(pv, v0, o[i][0], on);
                o[i][1] = _mm512_mask3_fmadd_ps(pv, v1, o[i][1], on);
              }
            }
          }
          for (int i = 0; i < in; ++i) {
            if (!valid[i0 + i]) continue;
            float* acc = acc_state + (g0 + i0 + i) * hd + c * 16;
            _mm512_storeu_ps(acc, o[i][0]);
            if (two) _mm512_storeu_ps(acc + 16, o[i][1]);
          }
        }
      }
    }
  }
  for (int64_t r = 0; r < rs.rows; ++r) {
    const __m512 inv = _mm512_set1_ps(rs.sink ? sink_scale(m_state[r], l_state[r], rs.sink[r])
                                              : 1.0f / l_state[r]);
    for (int64_t c = 0; c < chunks; ++c)
      _mm512_storeu_ps(rs.out[r] + c * 16,
                       _mm512_mul_ps(_mm512_loadu_ps(acc_state + r * hd + c * 16), inv));
  }
}

}  // namespace sieve::kernels::internal
