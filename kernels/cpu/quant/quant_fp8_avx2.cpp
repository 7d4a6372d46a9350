// AVX2 kernel of FP8 E4M3 weights (compiled with -mavx2 -mfma -mf16c): the kFP8 arithmetic of
// quant_internal.h with vdpbf16ps emulated. Weights are widened to fp32 by the fp16 route
// (sign-extend, shift by 7, clear bit 14: the fp16 bits of value / 2^8; vcvtph2ps), the same
// numbers the AVX-512 kernel's bf16 table gives; activations come bf16-rounded, and since each
// product of two bf16 values is exact in fp32, an fma per element rounds exactly as vdpbf16ps's
// add does. Pairs go odd element first. 16-column halves of a panel, MR = 3 rows per tile.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/quant/quant_internal.h"

namespace sieve::kernels::internal {
namespace {

constexpr int kMr = 3;
constexpr int64_t kPrefetchBytes = 8192;

struct Fp8Tile {
  const uint8_t* panel;
  int64_t scale_bytes;
  int64_t blocks, group, k;
  int half;
  const uint16_t* xb;  // bf16 rows
  int64_t ldxb;
  float* y;  // column 16·half of the first row
  int64_t ldy;
  int64_t cols;
  bool accumulate;
};

inline float bf16_value(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

// 16 E4M3 bytes of one k step → value / 2^8 in fp32 (exact, subnormals included).
inline void widen(const uint8_t* wk, __m256 (&w)[2]) {
  const __m256i s16 = _mm256_cvtepi8_epi16(_mm_load_si128(reinterpret_cast<const __m128i*>(wk)));
  const __m256i clear14 = _mm256_set1_epi16(static_cast<int16_t>(0xbfff));
  const __m256i h = _mm256_and_si256(_mm256_slli_epi16(s16, 7), clear14);
  w[0] = _mm256_cvtph_ps(_mm256_castsi256_si128(h));
  w[1] = _mm256_cvtph_ps(_mm256_extracti128_si256(h, 1));
}

template <int MR, bool kPrefetch>
void tile_fp8(const Fp8Tile& t) {
  const uint8_t* vals = t.panel + t.scale_bytes + t.half * 16;
  __m256 acc[MR][2];
  for (int r = 0; r < MR; ++r)
    acc[r][0] = acc[r][1] = _mm256_setzero_ps();
  for (int64_t b = 0; b < t.blocks; ++b) {
    const int64_t k0 = b * t.group;
    const int64_t k1 = k0 + t.group < t.k ? k0 + t.group : t.k;
    __m256 bacc[MR][2];
    for (int r = 0; r < MR; ++r)
      bacc[r][0] = bacc[r][1] = _mm256_setzero_ps();
    for (int64_t kk = k0; kk < k1; kk += 2) {
      // An odd block's last step pairs with zeros, whose +0 term leaves the sums as they are
      // (a block sum starting at +0 is never -0): only its even half is added.
      const bool pair = kk + 1 < k1;
      const uint8_t* wk = vals + kk * kPanelWidth;
      if constexpr (kPrefetch) {
        _mm_prefetch(reinterpret_cast<const char*>(wk + kPrefetchBytes), _MM_HINT_T0);
      }
      __m256 we[2], wo[2];
      widen(wk, we);
      if (pair) widen(wk + kPanelWidth, wo);
      for (int r = 0; r < MR; ++r) {
        const uint16_t* xr = t.xb + r * t.ldxb + kk;
        if (pair) {
          const __m256 xo = _mm256_set1_ps(bf16_value(xr[1]));
          bacc[r][0] = _mm256_fmadd_ps(xo, wo[0], bacc[r][0]);
          bacc[r][1] = _mm256_fmadd_ps(xo, wo[1], bacc[r][1]);
        }
        const __m256 xe = _mm256_set1_ps(bf16_value(xr[0]));
        bacc[r][0] = _mm256_fmadd_ps(xe, we[0], bacc[r][0]);
        bacc[r][1] = _mm256_fmadd_ps(xe, we[1], bacc[r][1]);
      }
    }
    const float* sp = reinterpret_cast<const float*>(t.panel) + b * kPanelWidth + t.half * 16;
    const __m256 s0 = _mm256_load_ps(sp), s1 = _mm256_load_ps(sp + 8);
    for (int r = 0; r < MR; ++r) {
      acc[r][0] = _mm256_fmadd_ps(bacc[r][0], s0, acc[r][0]);
      acc[r][1] = _mm256_fmadd_ps(bacc[r][1], s1, acc[r][1]);
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

using TileFn = void (*)(const Fp8Tile&);

template <bool kPrefetch>
TileFn pick_rows(int64_t rows) {
  return rows == 1   ? tile_fp8<1, kPrefetch>
         : rows == 2 ? tile_fp8<2, kPrefetch>
                     : tile_fp8<3, kPrefetch>;
}

}  // namespace

void quant_fp8_panels_avx2(const QuantTask& t, int64_t panel_begin, int64_t panel_end) {
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    for (int half = 0; half < 2; ++half) {
      Fp8Tile tile;
      tile.panel = t.w + p * t.layout.panel_bytes;
      tile.scale_bytes = t.layout.scale_bytes;
      tile.blocks = t.layout.blocks;
      tile.group = t.group;
      tile.k = t.k;
      tile.half = half;
      tile.ldxb = t.ldxb;
      tile.ldy = t.ldy;
      tile.cols = t.n - p * kPanelWidth - half * 16;
      tile.accumulate = t.accumulate;
      if (tile.cols <= 0) break;
      for (int64_t i = 0; i < t.m; i += kMr) {
        const int64_t rows = t.m - i < kMr ? t.m - i : kMr;
        tile.xb = t.xb + i * t.ldxb;
        tile.y = t.y + i * t.ldy + p * kPanelWidth + half * 16;
        const bool first = i == 0 && half == 0;
        (first ? pick_rows<true>(rows) : pick_rows<false>(rows))(tile);
      }
    }
  }
}

}  // namespace sieve::kernels::internal
