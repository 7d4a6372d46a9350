// Portable panel kernels: the reference each SIMD path must agree with (see gemm_internal.h).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/numeric.h"

namespace sieve::kernels::internal {
namespace {

void store_row(const float* acc, float* y, int64_t cols, bool accumulate) {
  for (int64_t c = 0; c < cols; ++c)
    y[c] = accumulate ? y[c] + acc[c] : acc[c];
}

}  // namespace

void gemm_panels_scalar(const PanelTask& t, int64_t panel_begin, int64_t panel_end) {
  const int64_t pe = panel_elems(t.k, t.bf16);
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    const int64_t cols = std::min(kPanelWidth, t.n - p * kPanelWidth);
    for (int64_t i = 0; i < t.m; ++i) {
      float acc[kPanelWidth] = {};
      if (t.bf16) {
        const uint16_t* w = static_cast<const uint16_t*>(t.w) + p * pe;
        const uint16_t* xr = t.xb + i * t.ldxb;
        const int64_t pairs = padded_k(t.k, true) / 2;
        for (int64_t q = 0; q < pairs; ++q) {
          const float xe = bf16_to_f32(xr[2 * q]);
          const float xo = bf16_to_f32(xr[2 * q + 1]);
          const uint16_t* wq = w + q * 2 * kPanelWidth;
          for (int64_t c = 0; c < kPanelWidth; ++c) {
            // Products of two bf16 values are exact in fp32, so this matches vdpbf16ps.
            acc[c] = acc[c] + xo * bf16_to_f32(wq[2 * c + 1]);
            acc[c] = acc[c] + xe * bf16_to_f32(wq[2 * c]);
          }
        }
      } else {
        const float* w = static_cast<const float*>(t.w) + p * pe;
        const float* xr = t.x + i * t.ldx;
        for (int64_t kk = 0; kk < t.k; ++kk) {
          const float xv = xr[kk];
          const float* wk = w + kk * kPanelWidth;
          for (int64_t c = 0; c < kPanelWidth; ++c)
            acc[c] = std::fma(xv, wk[c], acc[c]);
        }
      }
      store_row(acc, t.y + i * t.ldy + p * kPanelWidth, cols, t.accumulate);
    }
  }
}

void round_rows_bf16_scalar(const float* x, int64_t m, int64_t k, int64_t ldx, uint16_t* xb,
                            int64_t ldxb) {
  for (int64_t i = 0; i < m; ++i) {
    const float* xr = x + i * ldx;
    uint16_t* out = xb + i * ldxb;
    for (int64_t kk = 0; kk < k; ++kk)
      out[kk] = f32_to_bf16(xr[kk]);
    if (k % 2) out[k] = 0;
  }
}

}  // namespace sieve::kernels::internal
