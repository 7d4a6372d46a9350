// Portable quantized panel kernels: the arithmetic of quant_internal.h spelled out one column at
// a time. Every SIMD path gives these same bits.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels/cpu/numeric.h"
#include "kernels/cpu/quant/quant_internal.h"

namespace sieve::kernels::internal {
namespace {

void store_row(const float* acc, float* y, int64_t cols, bool accumulate) {
  for (int64_t c = 0; c < cols; ++c)
    y[c] = accumulate ? y[c] + acc[c] : acc[c];
}

// One panel decoded: signed integer weights [k_padded][32] and scales [blocks][32] (integer
// formats), or weights / 2^8 as fp32 [k][32] and scales · 2^8 (kFP8).
struct DecodedPanel {
  std::vector<int8_t> wi;
  std::vector<float> wf;
  std::vector<float> scales;
};

void decode_panel(const QuantTask& t, const uint8_t* panel, DecodedPanel& d) {
  const QuantLayout& l = t.layout;
  const uint8_t* vals = panel + l.scale_bytes;
  d.scales.resize(static_cast<size_t>(l.blocks * kPanelWidth));
  for (int64_t b = 0; b < l.blocks; ++b)
    for (int64_t c = 0; c < kPanelWidth; ++c) {
      float s = 0;
      switch (t.type) {
        case ElemType::kI8:
          std::memcpy(&s, panel + c * 4, 4);
          break;
        case ElemType::kI4: {
          uint16_t h;
          std::memcpy(&h, panel + (b * kPanelWidth + c) * 2, 2);
          s = f16_to_f32(h);
          break;
        }
        case ElemType::kMXFP4:
          s = bits_to_f32(e8m0_to_f32_bits(panel[b * kPanelWidth + c]));
          break;
        default:
          std::memcpy(&s, panel + (b * kPanelWidth + c) * 4, 4);
          break;
      }
      d.scales[b * kPanelWidth + c] = s;
    }
  if (t.type == ElemType::kFP8) {
    d.wf.resize(static_cast<size_t>(t.k * kPanelWidth));
    for (int64_t i = 0; i < t.k * kPanelWidth; ++i)
      d.wf[i] = f16_to_f32(e4m3_to_f16_scaled(vals[i]));
    return;
  }
  d.wi.resize(static_cast<size_t>(l.blocks * kQBlock * kPanelWidth));
  for (int64_t kk = 0; kk < l.blocks * kQBlock; ++kk)
    for (int64_t c = 0; c < kPanelWidth; ++c) {
      int v;
      if (t.type == ElemType::kI8) {
        v = vals[int8_value_offset(c, kk)] - 128;
      } else {
        const int nib = (vals[nibble_value_offset(c, kk)] >> (4 * (c / 16))) & 0xf;
        v = t.type == ElemType::kI4 ? nib - 8 : kE2M1Doubled[nib];
      }
      d.wi[kk * kPanelWidth + c] = static_cast<int8_t>(v);
    }
}

void row_int(const QuantTask& t, const DecodedPanel& d, int64_t i, float* acc) {
  const int8_t* q = t.xq + i * t.ldq;
  for (int64_t b = 0; b < t.layout.blocks; ++b) {
    int32_t dot[kPanelWidth] = {};
    for (int64_t j = 0; j < kQBlock; ++j) {
      const int32_t xv = q[b * kQBlock + j];
      const int8_t* wk = d.wi.data() + (b * kQBlock + j) * kPanelWidth;
      for (int64_t c = 0; c < kPanelWidth; ++c)
        dot[c] += xv * wk[c];
    }
    const float xs = t.xs[i * t.lds + b];
    for (int64_t c = 0; c < kPanelWidth; ++c) {
      const float sc = xs * d.scales[b * kPanelWidth + c];
      acc[c] = std::fma(static_cast<float>(dot[c]), sc, acc[c]);
    }
  }
}

void row_fp8(const QuantTask& t, const DecodedPanel& d, int64_t i, float* acc) {
  const uint16_t* xr = t.xb + i * t.ldxb;
  for (int64_t b = 0; b < t.layout.blocks; ++b) {
    const int64_t k0 = b * t.group, k1 = std::min(t.k, k0 + t.group);
    float bacc[kPanelWidth] = {};
    for (int64_t kk = k0; kk < k1; kk += 2) {
      // vdpbf16ps per lane: the odd element's product first, each product exact in fp32. An odd
      // block's last pair is (x[kk], 0) against (w[kk], 0).
      const bool pair = kk + 1 < k1;
      const float xe = bf16_to_f32(xr[kk]), xo = pair ? bf16_to_f32(xr[kk + 1]) : 0.f;
      const float* we = d.wf.data() + kk * kPanelWidth;
      for (int64_t c = 0; c < kPanelWidth; ++c) {
        const float wo = pair ? we[kPanelWidth + c] : 0.f;
        bacc[c] = bacc[c] + xo * wo;
        bacc[c] = bacc[c] + xe * we[c];
      }
    }
    for (int64_t c = 0; c < kPanelWidth; ++c)
      acc[c] = std::fma(bacc[c], d.scales[b * kPanelWidth + c], acc[c]);
  }
}

}  // namespace

void quant_panels_scalar(const QuantTask& t, int64_t panel_begin, int64_t panel_end) {
  DecodedPanel d;
  for (int64_t p = panel_begin; p < panel_end; ++p) {
    decode_panel(t, t.w + p * t.layout.panel_bytes, d);
    const int64_t cols = std::min(kPanelWidth, t.n - p * kPanelWidth);
    for (int64_t i = 0; i < t.m; ++i) {
      float acc[kPanelWidth] = {};
      if (t.type == ElemType::kFP8) {
        row_fp8(t, d, i, acc);
      } else {
        row_int(t, d, i, acc);
      }
      store_row(acc, t.y + i * t.ldy + p * kPanelWidth, cols, t.accumulate);
    }
  }
}

}  // namespace sieve::kernels::internal
