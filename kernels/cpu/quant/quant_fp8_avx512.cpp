// AVX-512 kernel of FP8 E4M3 weights (compiled with -mavx512f/bw/vl/dq -mf16c): the float path
// of quant_internal.h. Per k step, 32 E4M3 bytes are sign-extended to 16 bits, shifted left by 7
// and bit 14 cleared, which gives the fp16 bits of value / 2^8 (exact, subnormals included);
// vcvtph2ps widens them and each row does two fp32 FMAs. Each block's sums are multiplied by
// the block's scale (which carries the 2^8) once at its end.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/quant/quant_internal.h"

namespace sieve::kernels::internal {
namespace {

constexpr int kMr = 6;
// Two-level software prefetch of the weight stream, as in quant_int_avx512.cpp.
constexpr int64_t kPrefetchL2Bytes = 32768;
constexpr int64_t kPrefetchL1Bytes = 4096;

inline __mmask16 col_mask(int64_t cols) {
  if (cols >= 16) return 0xffff;
  if (cols <= 0) return 0;
  return static_cast<__mmask16>((1u << cols) - 1u);
}

struct Fp8Tile {
  const uint8_t* panel;
  int64_t scale_bytes;
  int64_t blocks, group, k;
  const float* x;
  int64_t ldx;
  float* y;
  int64_t ldy;
  int64_t cols;
  bool accumulate;
};

template <int MR, bool kPrefetch>
void tile_fp8(const Fp8Tile& t) {
  const uint8_t* vals = t.panel + t.scale_bytes;
  const __m512i clear14 = _mm512_set1_epi16(static_cast<int16_t>(0xbfff));
  __m512 acc[MR][2];
  for (int r = 0; r < MR; ++r)
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < t.blocks; ++b) {
    const int64_t k0 = b * t.group;
    const int64_t k1 = k0 + t.group < t.k ? k0 + t.group : t.k;
    __m512 bacc[MR][2];
    for (int r = 0; r < MR; ++r)
      bacc[r][0] = bacc[r][1] = _mm512_setzero_ps();
    for (int64_t kk = k0; kk < k1; ++kk) {
      const uint8_t* wk = vals + kk * kPanelWidth;
      if constexpr (kPrefetch) {
        if ((kk & 1) == 0) {  // one 64-byte line per two k steps
          _mm_prefetch(reinterpret_cast<const char*>(wk + kPrefetchL2Bytes), _MM_HINT_T1);
          _mm_prefetch(reinterpret_cast<const char*>(wk + kPrefetchL1Bytes), _MM_HINT_T0);
        }
      }
      const __m512i s16 =
          _mm512_cvtepi8_epi16(_mm256_load_si256(reinterpret_cast<const __m256i*>(wk)));
      const __m512i h = _mm512_and_si512(_mm512_slli_epi16(s16, 7), clear14);
      const __m512 w0 = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
      const __m512 w1 = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
      for (int r = 0; r < MR; ++r) {
        const __m512 xv = _mm512_set1_ps(t.x[r * t.ldx + kk]);
        bacc[r][0] = _mm512_fmadd_ps(xv, w0, bacc[r][0]);
        bacc[r][1] = _mm512_fmadd_ps(xv, w1, bacc[r][1]);
      }
    }
    const float* sp = reinterpret_cast<const float*>(t.panel) + b * kPanelWidth;
    const __m512 s0 = _mm512_load_ps(sp), s1 = _mm512_load_ps(sp + 16);
    for (int r = 0; r < MR; ++r) {
      acc[r][0] = _mm512_fmadd_ps(bacc[r][0], s0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(bacc[r][1], s1, acc[r][1]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* yr = t.y + r * t.ldy;
    for (int h = 0; h < 2; ++h) {
      const __mmask16 mk = col_mask(t.cols - h * 16);
      if (!mk) continue;
      __m512 v = acc[r][h];
      if (t.accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, yr + h * 16), v);
      _mm512_mask_storeu_ps(yr + h * 16, mk, v);
    }
  }
}

using TileFn = void (*)(const Fp8Tile&);

template <bool kPrefetch>
TileFn pick_rows(int64_t rows) {
  switch (rows) {
    case 1:
      return tile_fp8<1, kPrefetch>;
    case 2:
      return tile_fp8<2, kPrefetch>;
    case 3:
      return tile_fp8<3, kPrefetch>;
    case 4:
      return tile_fp8<4, kPrefetch>;
    case 5:
      return tile_fp8<5, kPrefetch>;
    default:
      return tile_fp8<6, kPrefetch>;
  }
}

}  // namespace

void quant_fp8_panels_avx512(const QuantTask& t, int64_t panel_begin, int64_t panel_end) {
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    Fp8Tile tile;
    tile.panel = t.w + p * t.layout.panel_bytes;
    tile.scale_bytes = t.layout.scale_bytes;
    tile.blocks = t.layout.blocks;
    tile.group = t.group;
    tile.k = t.k;
    tile.ldx = t.ldx;
    tile.ldy = t.ldy;
    tile.cols = t.n - p * kPanelWidth;
    tile.accumulate = t.accumulate;
    for (int64_t i = 0; i < t.m; i += kMr) {
      const int64_t rows = t.m - i < kMr ? t.m - i : kMr;
      tile.x = t.x + i * t.ldx;
      tile.y = t.y + i * t.ldy + p * kPanelWidth;
      (i == 0 ? pick_rows<true>(rows) : pick_rows<false>(rows))(tile);
    }
  }
}

}  // namespace sieve::kernels::internal
