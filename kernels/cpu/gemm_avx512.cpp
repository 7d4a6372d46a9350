// AVX-512 panel kernels (compiled with -mavx512f -mavx512bw -mavx512vl -mavx512dq
// -mavx512bf16 -mfma). bf16 weights go through vdpbf16ps.
//
// Register blocking: a micro-kernel keeps MR rows × NP panels × 2 vectors of 16 lanes in
// accumulators (MR = 6, NP = 2 for batches; MR ≤ 8, NP = 1 for the streaming gemv), walks k
// in order and stores once. Only std-free code here: no inline library templates that the
// linker could share with baseline translation units.
#include <immintrin.h>

#include <cstdint>

#include "kernels/cpu/gemm_internal.h"

namespace sieve::kernels::internal {
namespace {

inline int64_t min64(int64_t a, int64_t b) {
  return a < b ? a : b;
}

// Valid columns [0, cols) of a 16-lane group, as a store mask.
inline __mmask16 col_mask(int64_t cols) {
  if (cols >= 16) return 0xffff;
  if (cols <= 0) return 0;
  return static_cast<__mmask16>((1u << cols) - 1u);
}

struct Tile {
  const float* x;        // fp32 rows
  const uint16_t* xb;    // bf16 rows
  int64_t ldx;           // in elements of x or xb
  const void* w;         // first panel
  int64_t panel_stride;  // elements between panels
  int64_t steps;         // k (fp32) or k pairs (bf16)
  float* y;
  int64_t ldy;
  int64_t cols;  // valid output columns from the first panel's column 0
  bool accumulate;
  const char* pf_next;  // nullable: pf_lines cache lines per k step from here go into L2
  int64_t pf_lines;
  int64_t pf_steps;         // prefetch distance of the streamed panels, in k steps
  bool next_group_follows;  // the panels after this tile's are this task's next tile
};

template <int MR, int NP>
inline void store_tile(const Tile& t, __m512 (&acc)[MR][2 * NP]) {
  for (int r = 0; r < MR; ++r) {
    float* yr = t.y + r * t.ldy;
    for (int j = 0; j < 2 * NP; ++j) {
      const __mmask16 mk = col_mask(t.cols - j * 16);
      if (!mk) continue;
      __m512 v = acc[r][j];
      if (t.accumulate) v = _mm512_add_ps(_mm512_maskz_loadu_ps(mk, yr + j * 16), v);
      _mm512_mask_storeu_ps(yr + j * 16, mk, v);
    }
  }
}

// Prefetch distances, in k steps (each step reads 128 bytes per panel).
// Batches: the first row block of a 2-panel tile pulls two streams from memory.
constexpr int64_t kPrefetchSteps = 24;
// Few rows (decode): the tile walks one panel at a time, so consecutive panels make a single
// sequential stream per thread, prefetched 8 KiB ahead. On a 2-core Zen 4 guest a whole decode
// step reached 0.93-0.98× of a triad sampled around it this way, against 0.83-0.86× with four
// panels side by side 3 KiB ahead (sieve-cpu-bench; kernels/README.md has the details).
constexpr int64_t kStreamPrefetchSteps = 64;

// Where to prefetch for panel p of a tile at step q: t.pf_steps ahead in the same panel, or,
// past its end, the same distance into the next group's panel p when the tile has one.
template <typename T>
inline const T* ahead_pf(const T* w, int p, int np, int64_t q, const Tile& t, int64_t per_step) {
  const int64_t ahead = q + t.pf_steps;
  if (ahead < t.steps) return w + p * t.panel_stride + ahead * per_step;
  if (!t.next_group_follows) return nullptr;
  return w + (np + p) * t.panel_stride + (ahead - t.steps) * per_step;
}

template <int MR, int NP, bool kPrefetch>
void tile_bf16(const Tile& t) {
  __m512 acc[MR][2 * NP];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 2 * NP; ++j)
      acc[r][j] = _mm512_setzero_ps();
  const uint16_t* w = static_cast<const uint16_t*>(t.w);
  for (int64_t q = 0; q < t.steps; ++q) {
    if (t.pf_next)
      for (int64_t l = 0; l < t.pf_lines; ++l)
        _mm_prefetch(t.pf_next + (q * t.pf_lines + l) * 64, _MM_HINT_T1);
    __m512bh wv[2 * NP];
    for (int p = 0; p < NP; ++p) {
      const uint16_t* wp = w + p * t.panel_stride + q * 64;
      if constexpr (kPrefetch) {
        const uint16_t* pp = ahead_pf(w, p, NP, q, t, 64);
        if (pp) {
          _mm_prefetch(reinterpret_cast<const char*>(pp), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(pp + 32), _MM_HINT_T0);
        }
      }
      wv[2 * p] = (__m512bh)_mm512_load_si512(wp);
      wv[2 * p + 1] = (__m512bh)_mm512_load_si512(wp + 32);
    }
    for (int r = 0; r < MR; ++r) {
      int32_t pair;
      __builtin_memcpy(&pair, t.xb + r * t.ldx + 2 * q, 4);
      const __m512bh xv = (__m512bh)_mm512_set1_epi32(pair);
      for (int j = 0; j < 2 * NP; ++j)
        acc[r][j] = _mm512_dpbf16_ps(acc[r][j], xv, wv[j]);
    }
  }
  store_tile<MR, NP>(t, acc);
}

template <int MR, int NP, bool kPrefetch>
void tile_f32(const Tile& t) {
  __m512 acc[MR][2 * NP];
  for (int r = 0; r < MR; ++r)
    for (int j = 0; j < 2 * NP; ++j)
      acc[r][j] = _mm512_setzero_ps();
  const float* w = static_cast<const float*>(t.w);
  for (int64_t kk = 0; kk < t.steps; ++kk) {
    if (t.pf_next)
      for (int64_t l = 0; l < t.pf_lines; ++l)
        _mm_prefetch(t.pf_next + (kk * t.pf_lines + l) * 64, _MM_HINT_T1);
    __m512 wv[2 * NP];
    for (int p = 0; p < NP; ++p) {
      const float* wp = w + p * t.panel_stride + kk * 32;
      if constexpr (kPrefetch) {
        const float* pp = ahead_pf(w, p, NP, kk, t, 32);
        if (pp) {
          _mm_prefetch(reinterpret_cast<const char*>(pp), _MM_HINT_T0);
          _mm_prefetch(reinterpret_cast<const char*>(pp + 16), _MM_HINT_T0);
        }
      }
      wv[2 * p] = _mm512_load_ps(wp);
      wv[2 * p + 1] = _mm512_load_ps(wp + 16);
    }
    for (int r = 0; r < MR; ++r) {
      const __m512 xv = _mm512_set1_ps(t.x[r * t.ldx + kk]);
      for (int j = 0; j < 2 * NP; ++j)
        acc[r][j] = _mm512_fmadd_ps(xv, wv[j], acc[r][j]);
    }
  }
  store_tile<MR, NP>(t, acc);
}

using TileFn = void (*)(const Tile&);

template <int NP, bool kPrefetch>
TileFn pick_rows(int rows, bool bf16) {
  switch (rows) {
    case 1:
      return bf16 ? tile_bf16<1, NP, kPrefetch> : tile_f32<1, NP, kPrefetch>;
    case 2:
      return bf16 ? tile_bf16<2, NP, kPrefetch> : tile_f32<2, NP, kPrefetch>;
    case 3:
      return bf16 ? tile_bf16<3, NP, kPrefetch> : tile_f32<3, NP, kPrefetch>;
    case 4:
      return bf16 ? tile_bf16<4, NP, kPrefetch> : tile_f32<4, NP, kPrefetch>;
    case 5:
      return bf16 ? tile_bf16<5, NP, kPrefetch> : tile_f32<5, NP, kPrefetch>;
    default:
      return bf16 ? tile_bf16<6, NP, kPrefetch> : tile_f32<6, NP, kPrefetch>;
  }
}

// Tiles for few rows (m <= 8): every row in one tile so the weights stream once, one panel at
// a time, with software prefetch.
TileFn pick_stream(int rows, bool bf16) {
  switch (rows) {
    case 1:
      return bf16 ? tile_bf16<1, 1, true> : tile_f32<1, 1, true>;
    case 2:
      return bf16 ? tile_bf16<2, 1, true> : tile_f32<2, 1, true>;
    case 3:
      return bf16 ? tile_bf16<3, 1, true> : tile_f32<3, 1, true>;
    case 4:
      return bf16 ? tile_bf16<4, 1, true> : tile_f32<4, 1, true>;
    case 5:
      return bf16 ? tile_bf16<5, 1, true> : tile_f32<5, 1, true>;
    case 6:
      return bf16 ? tile_bf16<6, 1, true> : tile_f32<6, 1, true>;
    case 7:
      return bf16 ? tile_bf16<7, 1, true> : tile_f32<7, 1, true>;
    default:
      return bf16 ? tile_bf16<8, 1, true> : tile_f32<8, 1, true>;
  }
}

constexpr int kMr = 6;

}  // namespace

void gemm_panels_avx512(const PanelTask& t, int64_t panel_begin, int64_t panel_end) {
  const int64_t pe = panel_elems(t.k, t.bf16);
  const int64_t steps = t.bf16 ? padded_k(t.k, true) / 2 : t.k;
  const int64_t elem = t.bf16 ? 2 : 4;
  // Few rows: memory bound, one tile holds every row and streams the panels one after another.
  // Otherwise 6-row × 2-panel tiles over weights that stay in L2.
  const bool stream = t.m <= 8;
  const int np_max = stream ? 1 : 2;
  const int64_t mr = stream ? t.m : kMr;
  for (int64_t p = panel_begin; p < panel_end;) {
    const int64_t left = panel_end - p;
    const int np = left >= np_max ? np_max : 1;
    Tile tile;
    tile.w = static_cast<const char*>(t.w) + p * pe * elem;
    tile.panel_stride = pe;
    tile.steps = steps;
    tile.cols = t.n - p * kPanelWidth;
    tile.accumulate = t.accumulate;
    tile.ldx = t.bf16 ? t.ldxb : t.ldx;
    tile.ldy = t.ldy;
    tile.next_group_follows = p + np < panel_end;
    tile.pf_steps = stream ? kStreamPrefetchSteps : kPrefetchSteps;
    // Row blocks 1.. run from L2; meanwhile they pull the next panel group into L2, spread
    // evenly: the group is steps × 256 bytes (4 lines per k step), shared by the blocks.
    const char* next_group =
        p + np < panel_end ? static_cast<const char*>(tile.w) + np * pe * elem : nullptr;
    const int64_t group_lines = np * pe * elem / 64;
    const int64_t later_blocks = (t.m + mr - 1) / mr - 1;
    tile.pf_lines = later_blocks > 0 ? (4 + later_blocks - 1) / later_blocks : 0;
    for (int64_t i = 0; i < t.m; i += mr) {
      const int rows = static_cast<int>(min64(mr, t.m - i));
      const int64_t pf_line0 = (i / mr - 1) * steps * tile.pf_lines;
      tile.pf_next = !stream && next_group && i > 0 && pf_line0 < group_lines
                         ? next_group + pf_line0 * 64
                         : nullptr;
      tile.x = t.x ? t.x + i * t.ldx : nullptr;
      tile.xb = t.xb ? t.xb + i * t.ldxb : nullptr;
      tile.y = t.y + i * t.ldy + p * kPanelWidth;
      // The first row block pulls the panels from memory: it prefetches; the others hit L2.
      const bool first = i == 0;
      TileFn fn;
      if (stream) {
        fn = pick_stream(rows, t.bf16);
      } else if (np == 2) {
        fn = first ? pick_rows<2, true>(rows, t.bf16) : pick_rows<2, false>(rows, t.bf16);
      } else {
        fn = first ? pick_rows<1, true>(rows, t.bf16) : pick_rows<1, false>(rows, t.bf16);
      }
      fn(tile);
    }
    p += np;
  }
}

void round_rows_bf16_avx512(const float* x, int64_t m, int64_t k, int64_t ldx, uint16_t* xb,
                            int64_t ldxb) {
  const __m512i one = _mm512_set1_epi32(1);
  const __m512i bias = _mm512_set1_epi32(0x7fff);
  const __m512i abs_mask = _mm512_set1_epi32(0x7fffffff);
  const __m512i inf = _mm512_set1_epi32(0x7f800000);
  const __m512i quiet = _mm512_set1_epi32(0x40);
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    uint16_t* out = xb + i * ldxb;
    for (int64_t kk = 0; kk < k; kk += 16) {
      const __mmask16 mk = col_mask(k - kk);
      const __m512i bits = _mm512_castps_si512(_mm512_maskz_loadu_ps(mk, xr + kk));
      // Same as f32_to_bf16: NaN → quiet NaN, else round to nearest even.
      const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(bits, 16), one);
      __m512i r = _mm512_srli_epi32(_mm512_add_epi32(bits, _mm512_add_epi32(bias, lsb)), 16);
      const __mmask16 nan = _mm512_cmpgt_epu32_mask(_mm512_and_si512(bits, abs_mask), inf);
      r = _mm512_mask_mov_epi32(r, nan, _mm512_or_si512(_mm512_srli_epi32(bits, 16), quiet));
      _mm256_mask_storeu_epi16(out + kk, mk, _mm512_cvtepi32_epi16(r));
    }
    if (k % 2) out[k] = 0;
  }
}

}  // namespace sieve::kernels::internal
