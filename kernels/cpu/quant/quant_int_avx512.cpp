// AVX-512 VNNI kernels of the integer formats (int8, int4, MXFP4), compiled with -mavx512f/bw/
// vl/dq/vnni and -mf16c, and the AVX-512 entry point of every quantized format.
//
// A tile holds MR rows × one panel (32 columns = two 16-lane halves): per row two int32
// accumulators for the current block of 32 k and two fp32 accumulators for the sum over blocks
// (MR = 6 keeps all 24 in registers). Per quad of k it loads (int8) or unpacks (int4: two nibble
// masks; MXFP4: the masks and a byte shuffle) two weight vectors and issues 2·MR vpdpbusd, each
// 64 multiply-adds; per block and row it converts, scales and accumulates (quant_internal.h).
// Few rows (decode) need no other shape: every row block of a panel sees it in turn and the
// first one streams it from memory with software prefetch (two levels, see below).
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/quant/quant_internal.h"

namespace sieve::kernels::internal {

void quant_fp8_panels_avx512(const QuantTask& t, int64_t panel_begin, int64_t panel_end);
void quant_fp8_panels_avx2(const QuantTask& t, int64_t panel_begin, int64_t panel_end);

namespace {

constexpr int kMr = 6;
// Software prefetch of the weight stream, two levels: into L2 32 KiB ahead (L2 tracks many
// more misses than L1, so one core keeps enough lines in flight), then into L1 4 KiB ahead.
// One core streaming the int4 lm_head (175 MB): ~23 GB/s this way against 16-17 GB/s with the
// bf16 path's single L1 prefetch 8 KiB ahead and 14 GB/s with none; int8 gains less (its
// instructions per byte are fewer) but does not lose. Alternated single-thread runs of
// sieve-kernel-bench; 1 KiB / 16 KiB and 4 KiB / 16 KiB were close behind.
constexpr int64_t kPrefetchL2Bytes = 32768;
constexpr int64_t kPrefetchL1Bytes = 4096;

// E2M1 codes → unsigned bytes 2·value + 12 (see the layout: the offset is taken back through
// -12 · Σq).
alignas(16) constexpr int8_t kE2M1Unsigned[16] = {12, 13, 14, 15, 16, 18, 20, 24,
                                                  12, 11, 10, 9,  8,  6,  4,  0};

inline __mmask16 col_mask(int64_t cols) {
  if (cols >= 16) return 0xffff;
  if (cols <= 0) return 0;
  return static_cast<__mmask16>((1u << cols) - 1u);
}

struct IntTile {
  const uint8_t* panel;  // scale region, then values
  int64_t scale_bytes;
  int64_t blocks;
  const int8_t* xq;  // first row's quantized activations
  const float* xs;
  const int32_t* xc;
  int64_t ldq, lds;
  float* y;
  int64_t ldy;
  int64_t cols;
  bool accumulate;
};

template <ElemType F>
inline void weight_scales(const uint8_t* panel, int64_t b, __m512& s0, __m512& s1) {
  if constexpr (F == ElemType::kI4) {
    const uint8_t* p = panel + b * 64;
    s0 = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p)));
    s1 = _mm512_cvtph_ps(_mm256_load_si256(reinterpret_cast<const __m256i*>(p + 32)));
  } else {  // kMXFP4: E8M0 → 2^(s-127) as fp32 bits, 2^-127 (subnormal) for s = 0
    const __m512i min_bits = _mm512_set1_epi32(0x00400000);
    const uint8_t* p = panel + b * 32;
    const __m512i e0 = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p)));
    const __m512i e1 =
        _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 16)));
    s0 = _mm512_castsi512_ps(_mm512_max_epu32(_mm512_slli_epi32(e0, 23), min_bits));
    s1 = _mm512_castsi512_ps(_mm512_max_epu32(_mm512_slli_epi32(e1, 23), min_bits));
  }
}

template <ElemType F, int MR, bool kPrefetch>
void tile_int(const IntTile& t) {
  constexpr int64_t kBlockBytes = F == ElemType::kI8 ? 1024 : 512;
  const uint8_t* vals = t.panel + t.scale_bytes;
  const __m512i nib = _mm512_set1_epi8(0x0f);
  const __m512i table =
      _mm512_broadcast_i32x4(_mm_load_si128(reinterpret_cast<const __m128i*>(kE2M1Unsigned)));
  __m512 row_s0 = _mm512_setzero_ps(), row_s1 = _mm512_setzero_ps();
  if constexpr (F == ElemType::kI8) {
    row_s0 = _mm512_load_ps(reinterpret_cast<const float*>(t.panel));
    row_s1 = _mm512_load_ps(reinterpret_cast<const float*>(t.panel + 64));
  }
  __m512 acc[MR][2];
  for (int r = 0; r < MR; ++r)
    acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t b = 0; b < t.blocks; ++b) {
    const uint8_t* vb = vals + b * kBlockBytes;
    // Few rows: several accumulators per vector so the vpdpbusd chains overlap (integer sums,
    // so the split changes no result).
    constexpr int kChains = MR == 1 ? 4 : MR == 2 ? 2 : 1;
    __m512i ia[MR][2 * kChains];
    for (int r = 0; r < MR; ++r) {
      ia[r][0] = ia[r][1] = _mm512_set1_epi32(t.xc[r * t.lds + b]);
      for (int c = 2; c < 2 * kChains; ++c)
        ia[r][c] = _mm512_setzero_si512();
    }
    const int8_t* xb = t.xq + b * kQBlock;
    for (int q = 0; q < 8; ++q) {
      if constexpr (kPrefetch) {
        // One line (int8: two) per quad: the prefetches spread evenly over the stream.
        for (int64_t l = 0; l < kBlockBytes / 8; l += 64) {
          const char* line = reinterpret_cast<const char*>(vb + q * (kBlockBytes / 8) + l);
          _mm_prefetch(line + kPrefetchL2Bytes, _MM_HINT_T1);
          _mm_prefetch(line + kPrefetchL1Bytes, _MM_HINT_T0);
        }
      }
      __m512i w0, w1;
      if constexpr (F == ElemType::kI8) {
        w0 = _mm512_load_si512(vb + q * 128);
        w1 = _mm512_load_si512(vb + q * 128 + 64);
      } else {
        const __m512i v = _mm512_load_si512(vb + q * 64);
        w0 = _mm512_and_si512(v, nib);
        w1 = _mm512_and_si512(_mm512_srli_epi16(v, 4), nib);
        if constexpr (F == ElemType::kMXFP4) {
          w0 = _mm512_shuffle_epi8(table, w0);
          w1 = _mm512_shuffle_epi8(table, w1);
        }
      }
      for (int r = 0; r < MR; ++r) {
        int32_t x4;
        __builtin_memcpy(&x4, xb + r * t.ldq + q * 4, 4);
        const __m512i xv = _mm512_set1_epi32(x4);
        const int c = 2 * (q % kChains);
        ia[r][c] = _mm512_dpbusd_epi32(ia[r][c], w0, xv);
        ia[r][c + 1] = _mm512_dpbusd_epi32(ia[r][c + 1], w1, xv);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int c = 2; c < 2 * kChains; ++c)
        ia[r][c % 2] = _mm512_add_epi32(ia[r][c % 2], ia[r][c]);
    __m512 s0 = row_s0, s1 = row_s1;
    if constexpr (F != ElemType::kI8) weight_scales<F>(t.panel, b, s0, s1);
    for (int r = 0; r < MR; ++r) {
      const __m512 d = _mm512_set1_ps(t.xs[r * t.lds + b]);
      acc[r][0] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[r][0]), _mm512_mul_ps(d, s0), acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(ia[r][1]), _mm512_mul_ps(d, s1), acc[r][1]);
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

using TileFn = void (*)(const IntTile&);

template <ElemType F, bool kPrefetch>
TileFn pick_rows(int64_t rows) {
  switch (rows) {
    case 1:
      return tile_int<F, 1, kPrefetch>;
    case 2:
      return tile_int<F, 2, kPrefetch>;
    case 3:
      return tile_int<F, 3, kPrefetch>;
    case 4:
      return tile_int<F, 4, kPrefetch>;
    case 5:
      return tile_int<F, 5, kPrefetch>;
    default:
      return tile_int<F, 6, kPrefetch>;
  }
}

template <ElemType F>
void int_panels(const QuantTask& t, int64_t panel_begin, int64_t panel_end) {
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    IntTile tile;
    tile.panel = t.w + p * t.layout.panel_bytes;
    tile.scale_bytes = t.layout.scale_bytes;
    tile.blocks = t.layout.blocks;
    tile.ldq = t.ldq;
    tile.lds = t.lds;
    tile.ldy = t.ldy;
    tile.cols = t.n - p * kPanelWidth;
    tile.accumulate = t.accumulate;
    // The first row block pulls the panel from memory and prefetches; the others hit L2.
    for (int64_t i = 0; i < t.m; i += kMr) {
      const int64_t rows = t.m - i < kMr ? t.m - i : kMr;
      tile.xq = t.xq + i * t.ldq;
      tile.xs = t.xs + i * t.lds;
      tile.xc = t.xc + i * t.lds;
      tile.y = t.y + i * t.ldy + p * kPanelWidth;
      (i == 0 ? pick_rows<F, true>(rows) : pick_rows<F, false>(rows))(tile);
    }
  }
}

}  // namespace

void quant_panels_avx512(const QuantTask& t, int64_t panel_begin, int64_t panel_end) {
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
      if (quant_fp8_avx512_supported()) {
        quant_fp8_panels_avx512(t, panel_begin, panel_end);
      } else {
        quant_fp8_panels_avx2(t, panel_begin, panel_end);
      }
      break;
  }
}

}  // namespace sieve::kernels::internal
