// AVX-512 kernel of FP8 E4M3 weights (compiled with -mavx512f/bw/vl/dq -mavx512bf16
// -mavx512vbmi): the kFP8 path of quant_internal.h through vdpbf16ps. E4M3 values / 2^8 are
// exact bf16 numbers, all normal (E4M3 subnormals included), so the conversion is a table: per
// two k steps, one 64-byte load holds both steps' 32 bytes; vpermi2b looks the low and the high
// byte of the bf16 magnitude up in two 128-entry byte tables (the index's bit 7, the sign, is
// ignored), one ternary-logic op puts the sign back, and vpermt2b gathers each column's pair
// (even k in the low half, as vdpbf16ps pairs them). That is 5 shuffles per 64 weights against
// 12 for the fp16 widening and two fp32 FMAs per weight this replaced.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/quant/quant_internal.h"

namespace sieve::kernels::internal {
namespace {

// MR rows × 32 columns: 2·MR block sums and 2·MR running sums beside 7 constant registers.
// 6 rows spill a little yet ran at m = 512 4-20 % faster than 4 (alternated sieve-kernel-bench).
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
  const uint16_t* xb;  // bf16 rows
  int64_t ldxb;
  float* y;
  int64_t ldy;
  int64_t cols;
  bool accumulate;
};

struct Fp8Consts {
  __m512i lo0, lo1, hi0, hi1;  // bytes of the bf16 magnitude, codes 0-63 and 64-127
  __m512i pick0, pick1;        // vpermt2b indices of columns 0-15 and 16-31
  __m512i sign;
};

Fp8Consts make_consts() {
  alignas(64) uint8_t lo[128], hi[128], pick[128];
  for (int c = 0; c < 128; ++c) {
    const uint16_t b = e4m3_to_bf16_scaled(static_cast<uint8_t>(c));
    lo[c] = static_cast<uint8_t>(b & 0xff);
    hi[c] = static_cast<uint8_t>(b >> 8);
  }
  // Dword c of the result: low and high byte of step kk's column c, then of step kk + 1's
  // (bytes 32 + c of the load); indices ≥ 64 select the high-byte vector.
  for (int h = 0; h < 2; ++h)
    for (int c = 0; c < 16; ++c) {
      const int col = h * 16 + c;
      uint8_t* d = pick + h * 64 + 4 * c;
      d[0] = static_cast<uint8_t>(col);
      d[1] = static_cast<uint8_t>(64 + col);
      d[2] = static_cast<uint8_t>(32 + col);
      d[3] = static_cast<uint8_t>(96 + col);
    }
  Fp8Consts k;
  k.lo0 = _mm512_load_si512(lo);
  k.lo1 = _mm512_load_si512(lo + 64);
  k.hi0 = _mm512_load_si512(hi);
  k.hi1 = _mm512_load_si512(hi + 64);
  k.pick0 = _mm512_load_si512(pick);
  k.pick1 = _mm512_load_si512(pick + 64);
  k.sign = _mm512_set1_epi8(static_cast<char>(0x80));
  return k;
}

// The bf16 pairs of columns 0-15 (w0) and 16-31 (w1) for steps kk, kk + 1 held in `bytes`.
inline void widen(const Fp8Consts& k, __m512i bytes, __m512bh& w0, __m512bh& w1) {
  const __m512i lo = _mm512_permutex2var_epi8(k.lo0, bytes, k.lo1);
  __m512i hi = _mm512_permutex2var_epi8(k.hi0, bytes, k.hi1);
  hi = _mm512_ternarylogic_epi32(hi, bytes, k.sign, 0xf8);  // hi | (bytes & sign)
  w0 = (__m512bh)_mm512_permutex2var_epi8(lo, k.pick0, hi);
  w1 = (__m512bh)_mm512_permutex2var_epi8(lo, k.pick1, hi);
}

template <int MR, bool kPrefetch>
void tile_fp8(const Fp8Tile& t, const Fp8Consts& kc) {
  const uint8_t* vals = t.panel + t.scale_bytes;
  __m512 acc[MR][2];
  for (int r = 0; r < MR; ++r)
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < t.blocks; ++b) {
    const int64_t k0 = b * t.group;
    const int64_t k1 = k0 + t.group < t.k ? k0 + t.group : t.k;
    __m512 bacc[MR][2];
    for (int r = 0; r < MR; ++r)
      bacc[r][0] = bacc[r][1] = _mm512_setzero_ps();
    int64_t kk = k0;
    for (; kk + 1 < k1; kk += 2) {
      const uint8_t* wk = vals + kk * kPanelWidth;
      if constexpr (kPrefetch) {  // one 64-byte line per two k steps
        _mm_prefetch(reinterpret_cast<const char*>(wk + kPrefetchL2Bytes), _MM_HINT_T1);
        _mm_prefetch(reinterpret_cast<const char*>(wk + kPrefetchL1Bytes), _MM_HINT_T0);
      }
      __m512bh w0, w1;
      widen(kc, _mm512_loadu_si512(wk), w0, w1);
      for (int r = 0; r < MR; ++r) {
        int32_t pair;
        __builtin_memcpy(&pair, t.xb + r * t.ldxb + kk, 4);
        const __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
        bacc[r][0] = _mm512_dpbf16_ps(bacc[r][0], xv, w0);
        bacc[r][1] = _mm512_dpbf16_ps(bacc[r][1], xv, w1);
      }
    }
    if (kk < k1) {  // an odd block's last step, paired with a zero weight and a zero activation
      __m512bh w0, w1;
      widen(kc, _mm512_maskz_loadu_epi8(0xffffffffull, vals + kk * kPanelWidth), w0, w1);
      for (int r = 0; r < MR; ++r) {
        const __m512bh xv = (__m512bh)_mm512_set1_epi32(t.xb[r * t.ldxb + kk]);
        bacc[r][0] = _mm512_dpbf16_ps(bacc[r][0], xv, w0);
        bacc[r][1] = _mm512_dpbf16_ps(bacc[r][1], xv, w1);
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

using TileFn = void (*)(const Fp8Tile&, const Fp8Consts&);

template <bool kPrefetch>
TileFn pick_rows(int64_t rows) {
  static_assert(kMr == 6);
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
  const Fp8Consts kc = make_consts();
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    Fp8Tile tile;
    tile.panel = t.w + p * t.layout.panel_bytes;
    tile.scale_bytes = t.layout.scale_bytes;
    tile.blocks = t.layout.blocks;
    tile.group = t.group;
    tile.k = t.k;
    tile.ldxb = t.ldxb;
    tile.ldy = t.ldy;
    tile.cols = t.n - p * kPanelWidth;
    tile.accumulate = t.accumulate;
    for (int64_t i = 0; i < t.m; i += kMr) {
      const int64_t rows = t.m - i < kMr ? t.m - i : kMr;
      tile.xb = t.xb + i * t.ldxb;
      tile.y = t.y + i * t.ldy + p * kPanelWidth;
      (i == 0 ? pick_rows<true>(rows) : pick_rows<false>(rows))(tile, kc);
    }
  }
}

}  // namespace sieve::kernels::internal
