// AVX2 kernels of the integer formats (compiled with -mavx2 -mfma -mf16c) and the AVX2 entry
// point of every quantized format.
//
// A tile is MR = 2 rows × one 16-column half of a panel (two vectors of 8 lanes), the most that
// fits 16 registers with an int32 and an fp32 accumulator per vector. The integer dot of a block
// is vpmaddubsw (unsigned × signed bytes, pairs summed to int16 with saturation) then vpmaddwd
// by ones: int4 (w + 8 ≤ 15) and MXFP4 (2·v + 12 ≤ 24) use the unsigned weights with the
// -offset · Σq start, as VNNI does; int8 (w + 128 ≤ 255 would saturate a pair) multiplies |q| by
// the weight with q's sign moved onto it (vpsignb), |pair| ≤ 2 · 127 · 127 < 2^15. Either way the
// block's int32 dot is exact, so the results equal the scalar and AVX-512 paths bit for bit.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/quant/quant_internal.h"

namespace sieve::kernels::internal {

void quant_fp8_panels_avx2(const QuantTask& t, int64_t panel_begin, int64_t panel_end);

namespace {

constexpr int kMr = 2;
constexpr int64_t kPrefetchBytes = 8192;

alignas(16) constexpr int8_t kE2M1Unsigned[16] = {12, 13, 14, 15, 16, 18, 20, 24,
                                                  12, 11, 10, 9,  8,  6,  4,  0};

struct IntTile {
  const uint8_t* panel;
  int64_t scale_bytes;
  int64_t blocks;
  int half;  // columns 16·half .. 16·half + 15 of the panel
  const int8_t* xq;
  const float* xs;
  const int32_t* xc;
  int64_t ldq, lds;
  float* y;  // column 16·half of the first row
  int64_t ldy;
  int64_t cols;  // valid columns from y
  bool accumulate;
};

template <ElemType F>
inline void weight_scales(const IntTile& t, int64_t b, __m256& s0, __m256& s1) {
  if constexpr (F == ElemType::kI8) {
    const float* p = reinterpret_cast<const float*>(t.panel) + t.half * 16;
    s0 = _mm256_load_ps(p);
    s1 = _mm256_load_ps(p + 8);
  } else if constexpr (F == ElemType::kI4) {
    const uint8_t* p = t.panel + b * 64 + t.half * 32;
    s0 = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p)));
    s1 = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(p + 16)));
  } else {
    const __m256i min_bits = _mm256_set1_epi32(0x00400000);
    const uint8_t* p = t.panel + b * 32 + t.half * 16;
    const __m256i e0 = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p)));
    const __m256i e1 =
        _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + 8)));
    s0 = _mm256_castsi256_ps(_mm256_max_epu32(_mm256_slli_epi32(e0, 23), min_bits));
    s1 = _mm256_castsi256_ps(_mm256_max_epu32(_mm256_slli_epi32(e1, 23), min_bits));
  }
}

template <ElemType F, int MR, bool kPrefetch>
void tile_int(const IntTile& t) {
  constexpr int64_t kBlockBytes = F == ElemType::kI8 ? 1024 : 512;
  const uint8_t* vals = t.panel + t.scale_bytes;
  const __m256i nib = _mm256_set1_epi8(0x0f);
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i flip = _mm256_set1_epi8(static_cast<char>(0x80));
  const __m256i table =
      _mm256_broadcastsi128_si256(_mm_load_si128(reinterpret_cast<const __m128i*>(kE2M1Unsigned)));
  __m256 acc[MR][2];
  for (int r = 0; r < MR; ++r)
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < t.blocks; ++b) {
    const uint8_t* vb = vals + b * kBlockBytes;
    if constexpr (kPrefetch) {
      for (int64_t l = 0; l < kBlockBytes; l += 64)
        _mm_prefetch(reinterpret_cast<const char*>(vb + kPrefetchBytes + l), _MM_HINT_T0);
    }
    __m256i ia[MR][2];
    for (int r = 0; r < MR; ++r) {
      ia[r][0] = ia[r][1] =
          F == ElemType::kI8 ? _mm256_setzero_si256() : _mm256_set1_epi32(t.xc[r * t.lds + b]);
    }
    const int8_t* xb = t.xq + b * kQBlock;
    for (int q = 0; q < 8; ++q) {
      __m256i w0, w1;
      if constexpr (F == ElemType::kI8) {
        const uint8_t* p = vb + q * 128 + t.half * 64;
        w0 = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)), flip);
        w1 = _mm256_xor_si256(_mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32)), flip);
      } else {
        const uint8_t* p = vb + q * 64;
        __m256i v0 = _mm256_load_si256(reinterpret_cast<const __m256i*>(p));
        __m256i v1 = _mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32));
        if (t.half) {
          v0 = _mm256_srli_epi16(v0, 4);
          v1 = _mm256_srli_epi16(v1, 4);
        }
        w0 = _mm256_and_si256(v0, nib);
        w1 = _mm256_and_si256(v1, nib);
        if constexpr (F == ElemType::kMXFP4) {
          w0 = _mm256_shuffle_epi8(table, w0);
          w1 = _mm256_shuffle_epi8(table, w1);
        }
      }
      for (int r = 0; r < MR; ++r) {
        int32_t x4;
        __builtin_memcpy(&x4, xb + r * t.ldq + q * 4, 4);
        const __m256i xv = _mm256_set1_epi32(x4);
        __m256i p0, p1;
        if constexpr (F == ElemType::kI8) {
          const __m256i ax = _mm256_abs_epi8(xv);
          p0 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w0, xv));
          p1 = _mm256_maddubs_epi16(ax, _mm256_sign_epi8(w1, xv));
        } else {
          p0 = _mm256_maddubs_epi16(w0, xv);
          p1 = _mm256_maddubs_epi16(w1, xv);
        }
        ia[r][0] = _mm256_add_epi32(ia[r][0], _mm256_madd_epi16(p0, ones));
        ia[r][1] = _mm256_add_epi32(ia[r][1], _mm256_madd_epi16(p1, ones));
      }
    }
    __m256 s0, s1;
    weight_scales<F>(t, b, s0, s1);
    for (int r = 0; r < MR; ++r) {
      const __m256 d = _mm256_set1_ps(t.xs[r * t.lds + b]);
      acc[r][0] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[r][0]), _mm256_mul_ps(d, s0), acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(ia[r][1]), _mm256_mul_ps(d, s1), acc[r][1]);
    }
  }
  for (int r = 0; r < MR; ++r) {
    float* yr = t.y + r * t.ldy;
    alignas(32) float tmp[16];
    _mm256_store_ps(tmp, acc[r][0]);
    _mm256_store_ps(tmp + 8, acc[r][1]);
    const int64_t cols = t.cols < 16 ? t.cols : 16;
    for (int64_t c = 0; c < cols; ++c)
      yr[c] = t.accumulate ? yr[c] + tmp[c] : tmp[c];
  }
}

using TileFn = void (*)(const IntTile&);

template <ElemType F, bool kPrefetch>
TileFn pick_rows(int64_t rows) {
  return rows == 1 ? tile_int<F, 1, kPrefetch> : tile_int<F, 2, kPrefetch>;
}

template <ElemType F>
void int_panels(const QuantTask& t, int64_t panel_begin, int64_t panel_end) {
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    for (int half = 0; half < 2; ++half) {
      IntTile tile;
      tile.panel = t.w + p * t.layout.panel_bytes;
      tile.scale_bytes = t.layout.scale_bytes;
      tile.blocks = t.layout.blocks;
      tile.half = half;
      tile.ldq = t.ldq;
      tile.lds = t.lds;
      tile.ldy = t.ldy;
      tile.cols = t.n - p * kPanelWidth - half * 16;
      tile.accumulate = t.accumulate;
      if (tile.cols <= 0) break;
      for (int64_t i = 0; i < t.m; i += kMr) {
        const int64_t rows = t.m - i < kMr ? t.m - i : kMr;
        tile.xq = t.xq + i * t.ldq;
        tile.xs = t.xs + i * t.lds;
        tile.xc = t.xc + i * t.lds;
        tile.y = t.y + i * t.ldy + p * kPanelWidth + half * 16;
        const bool first = i == 0 && half == 0;
        (first ? pick_rows<F, true>(rows) : pick_rows<F, false>(rows))(tile);
      }
    }
  }
}

}  // namespace

void quant_panels_avx2(const QuantTask& t, int64_t panel_begin, int64_t panel_end) {
  switch (t.type) {
    case ElemType::kI8:
      int_panels<ElemType::kI8>(t, panel_begin, panel_end);
      break;
    case ElemType::kI4:
      int_panels<ElemType::kI4>(t, panel_begin, panel_end);
      break;
    case ElemType::kMXFP4:
      int_panels<ElemType::kMXFP4>(t, panel_begin, panel_end);
      break;
    default:
      quant_fp8_panels_avx2(t, panel_begin, panel_end);
      break;
  }
}

}  // namespace sieve::kernels::internal
