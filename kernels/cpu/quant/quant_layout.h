// The packed layout of quantized weights, shared by the packers, the kernels and the tests.
//
// Like the float types, w [n, k] is cut into panels of 32 output rows (kPanelWidth, the last one
// padded with zero weights), panels follow one another, and each panel is
//   [scale region, padded to 64 bytes][values]
// so that a thread streaming consecutive panels reads one sequential stream (the scales of the
// next panel lie just ahead of the values being read, where the software prefetch already is).
//
// Integer formats (kI8, kI4, kMXFP4): k is cut into blocks of 32 (the activation blocks, see
// quant_internal.h), the last one padded with zero weights. Within block b of a panel, the 32
// k-values are 8 quads q (4 consecutive k); one quad of 16 rows is one 64-byte vector whose
// 32-bit lane c holds the 4 k-values of row c, the operand layout of vpdpbusd.
//  - kI8: values stored as w + 128 (unsigned bytes), block = 1024 bytes: quad q of rows 16h..
//    16h+15 at b*1024 + q*128 + h*64 + 4*(c % 16) + kk % 4. Scales: 32 fp32 (one per row).
//  - kI4, kMXFP4: block = 512 bytes, one nibble per value: quad q at b*512 + q*64, byte
//    4*(c % 16) + kk % 4 holds row c in its low nibble for c < 16 and in its high nibble for
//    c ≥ 16, so one 64-byte load and two masks give the two 16-row halves. kI4 stores w + 8
//    (w in [-8, 7], symmetric quantization uses [-7, 7]); kMXFP4 stores the E2M1 code (bit 3 the
//    sign). Scales per (block, row): kI4 fp16 at (b*32 + c)*2, kMXFP4 the E8M0 byte at b*32 + c.
// kFP8: k is cut into blocks of `group` (the checkpoint's block_k, 128 when quantized here),
// the last one partial; values are E4M3 bytes k-major, row c of step kk at kk*32 + c (32 bytes
// per k step, value bytes rounded up to 64). Scales: fp32 per (block, row) at (b*32 + c)*4,
// holding the checkpoint's scale_inv times 256 (the kernels read each E4M3 value divided by 2^8,
// which the fp16 widening by a shift gives for free; the scale gives it back).
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_internal.h"

namespace sieve::kernels::internal {

inline constexpr int64_t kQBlock = 32;  // integer formats: k per block (and per int4/MX scale)
inline constexpr int64_t kFp8DefaultGroup = 128;

struct QuantLayout {
  int64_t blocks = 0;       // k blocks per panel
  int64_t block_bytes = 0;  // value bytes per block (integer formats)
  int64_t scale_bytes = 0;  // scale region at the start of each panel, a multiple of 64
  int64_t panel_bytes = 0;  // scale_bytes + the panel's values (a multiple of 64)
};

static inline int64_t round_up64(int64_t v) {
  return (v + 63) / 64 * 64;
}

static inline QuantLayout quant_layout(ElemType t, int64_t k, int64_t group) {
  QuantLayout l;
  if (t == ElemType::kFP8) {
    l.blocks = (k + group - 1) / group;
    l.scale_bytes = round_up64(l.blocks * kPanelWidth * 4);
    l.panel_bytes = l.scale_bytes + round_up64(k * kPanelWidth);
    return l;
  }
  l.blocks = (k + kQBlock - 1) / kQBlock;
  l.block_bytes = t == ElemType::kI8 ? 1024 : 512;
  if (t == ElemType::kI8) l.scale_bytes = kPanelWidth * 4;
  if (t == ElemType::kI4) l.scale_bytes = l.blocks * kPanelWidth * 2;
  if (t == ElemType::kMXFP4) l.scale_bytes = round_up64(l.blocks * kPanelWidth);
  l.panel_bytes = l.scale_bytes + l.blocks * l.block_bytes;
  return l;
}

// Offset of value (row c of the panel, column kk) within the panel's values; for nibble
// formats also which nibble (0 low, 1 high).
static inline int64_t int8_value_offset(int64_t c, int64_t kk) {
  return (kk / 32) * 1024 + (kk % 32 / 4) * 128 + (c / 16) * 64 + 4 * (c % 16) + kk % 4;
}
static inline int64_t nibble_value_offset(int64_t c, int64_t kk) {
  return (kk / 32) * 512 + (kk % 32 / 4) * 64 + 4 * (c % 16) + kk % 4;
}

// E4M3 (bias 7, subnormals at exponent 0) widened to the fp16 bits of value / 2^8: the sign
// moves from bit 7 to bit 15 and exponent + mantissa shift left by 7 (fp16's exponent bias 15 is
// 7 + 8, and fp16 subnormals line up with E4M3's). Exact for every finite E4M3 value; the NaN
// codes 0x7f / 0xff read as ±480 (checkpoints hold none).
static inline uint16_t e4m3_to_f16_scaled(uint8_t b) {
  return static_cast<uint16_t>(((b & 0x80u) << 8) | ((b & 0x7fu) << 7));
}

// The bf16 bits of an E4M3 value / 2^8 (the same number as e4m3_to_f16_scaled): exact, and a
// normal bf16 number for every code, E4M3 subnormals (m · 2^-17 here) included, so vdpbf16ps,
// which flushes denormal inputs, sees every weight as it is.
static inline uint16_t e4m3_to_bf16_scaled(uint8_t b) {
  const uint32_t sign = (b & 0x80u) << 8, e = (b >> 3) & 0xfu, m = b & 7u;
  if (e > 0) return static_cast<uint16_t>(sign | ((e + 112) << 7) | (m << 4));
  if (m == 0) return static_cast<uint16_t>(sign);
  const uint32_t top = m >= 4 ? 2 : m >= 2 ? 1 : 0;  // m = 2^top · (1 + fraction)
  const uint32_t frac = (m - (1u << top)) << (3 - top);
  return static_cast<uint16_t>(sign | ((110 + top) << 7) | (frac << 4));
}

// E2M1 codes times 2 ({0, 0.5, 1, 1.5, 2, 3, 4, 6} doubled), bit 3 the sign: integers, so the
// kernels' byte shuffle yields them directly and the scale is halved instead.
inline constexpr int8_t kE2M1Doubled[16] = {0, 1,  2,  3,  4,  6,  8,  12,
                                            0, -1, -2, -3, -4, -6, -8, -12};

// E8M0 scale byte s → 2^(s - 127) as fp32 bits (s = 0 gives the subnormal 2^-127; 255, NaN in
// E8M0, is rejected when packing).
static inline uint32_t e8m0_to_f32_bits(uint8_t s) {
  return s == 0 ? 0x00400000u : static_cast<uint32_t>(s) << 23;
}

static inline float bits_to_f32(uint32_t bits) {
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}
static inline uint32_t f32_to_bits(float f) {
  uint32_t bits;
  std::memcpy(&bits, &f, 4);
  return bits;
}

}  // namespace sieve::kernels::internal
