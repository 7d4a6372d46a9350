// AVX2 + FMA panel kernels (compiled with -mavx2 -mfma). A panel of 32 columns is 4 vectors of
// 8 lanes; up to 3 rows share each weight load. bf16 pairs are split into their even and odd
// halves with a shift and a mask, and accumulated odd first, as vdpbf16ps does.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/gemm_internal.h"

namespace sieve::kernels::internal {
namespace {

inline int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

struct Tile {
  const float* x;
  const uint16_t* xb;
  int64_t ldx;
  const void* w;
  int64_t steps;
  float* y;
  int64_t ldy;
  int64_t cols;
  bool accumulate;
};

template <int MR>
inline void store_tile(const Tile& t, __m256 (&acc)[MR][4]) {
  for (int r = 0; r < MR; ++r) {
    float* yr = t.y + r * t.ldy;
    if (t.cols >= 32) {
      for (int j = 0; j < 4; ++j) {
        __m256 v = acc[r][j];
        if (t.accumulate) v = _mm256_add_ps(_mm256_loadu_ps(yr + j * 8), v);
        _mm256_storeu_ps(yr + j * 8, v);
      }
    } else {
      alignas(32) float tmp[32];
      for (int j = 0; j < 4; ++j)
        _mm256_store_ps(tmp + j * 8, acc[r][j]);
      for (int64_t c = 0; c < t.cols; ++c)
        yr[c] = t.accumulate ? yr[c] + tmp[c] : tmp[c];
    }
  }
}

inline float bf16_bits_to_f32(uint16_t h) {
  const uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f;
  __builtin_memcpy(&f, &bits, 4);
  return f;
}

template <int MR>
void tile_bf16(const Tile& t) {
  __m256 acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j)
      acc[r][j] = _mm256_setzero_ps();
  const uint16_t* w = static_cast<const uint16_t*>(t.w);
  const __m256i hi_mask = _mm256_set1_epi32(static_cast<int>(0xffff0000u));
  for (int64_t q = 0; q < t.steps; ++q) {
    __m256 we[4], wo[4];
    for (int j = 0; j < 4; ++j) {
      const __m256i v = _mm256_load_si256(reinterpret_cast<const __m256i*>(w + q * 64 + j * 16));
      we[j] = _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
      wo[j] = _mm256_castsi256_ps(_mm256_and_si256(v, hi_mask));
    }
    for (int r = 0; r < MR; ++r) {
      const uint16_t* xr = t.xb + r * t.ldx + 2 * q;
      const __m256 xe = _mm256_set1_ps(bf16_bits_to_f32(xr[0]));
      const __m256 xo = _mm256_set1_ps(bf16_bits_to_f32(xr[1]));
      for (int j = 0; j < 4; ++j) {
        acc[r][j] = _mm256_fmadd_ps(xo, wo[j], acc[r][j]);
        acc[r][j] = _mm256_fmadd_ps(xe, we[j], acc[r][j]);
      }
    }
  }
  store_tile<MR>(t, acc);
}

template <int MR>
void tile_f32(const Tile& t) {
  __m256 acc[MR][4];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 4; ++j)
      acc[r][j] = _mm256_setzero_ps();
  const float* w = static_cast<const float*>(t.w);
  for (int64_t kk = 0; kk < t.steps; ++kk) {
    __m256 wv[4];
    for (int j = 0; j < 4; ++j)
      wv[j] = _mm256_load_ps(w + kk * 32 + j * 8);
    for (int r = 0; r < MR; ++r) {
      const __m256 xv = _mm256_set1_ps(t.x[r * t.ldx + kk]);
      for (int j = 0; j < 4; ++j)
        acc[r][j] = _mm256_fmadd_ps(xv, wv[j], acc[r][j]);
    }
  }
  store_tile<MR>(t, acc);
}

constexpr int kMr = 3;

}  // namespace

void gemm_panels_avx2(const PanelTask& t, int64_t panel_begin, int64_t panel_end) {
  const int64_t pe = panel_elems(t.k, t.bf16);
  const int64_t elem = t.bf16 ? 2 : 4;
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    Tile tile;
    tile.w = static_cast<const char*>(t.w) + p * pe * elem;
    tile.steps = t.bf16 ? padded_k(t.k, true) / 2 : t.k;
    tile.cols = t.n - p * kPanelWidth;
    tile.accumulate = t.accumulate;
    tile.ldy = t.ldy;
    tile.ldx = t.bf16 ? t.ldxb : t.ldx;
    for (int64_t i = 0; i < t.m; i += kMr) {
      const int rows = static_cast<int>(min64(kMr, t.m - i));
      tile.x = t.x ? t.x + i * t.ldx : nullptr;
      tile.xb = t.xb ? t.xb + i * t.ldxb : nullptr;
      tile.y = t.y + i * t.ldy + p * kPanelWidth;
      switch (rows) {
        case 1:
          t.bf16 ? tile_bf16<1>(tile) : tile_f32<1>(tile);
          break;
        case 2:
          t.bf16 ? tile_bf16<2>(tile) : tile_f32<2>(tile);
          break;
        default:
          t.bf16 ? tile_bf16<3>(tile) : tile_f32<3>(tile);
          break;
      }
    }
  }
}

}  // namespace sieve::kernels::internal
