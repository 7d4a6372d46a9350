#include "engine/checkpoint/quant_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "engine/base/tensor.h"
#include "kernels/cpu/numeric.h"

namespace sieve {
namespace {

// E2M1 magnitudes by code (bits 2..0).
constexpr float kE2M1[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};

float load_f32(const uint8_t* p) {
  float v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

// Writes value i of the output, as dst.
void store(void* out, DType dst, int64_t i, float v) {
  if (dst == DType::kF32) {
    std::memcpy(static_cast<uint8_t*>(out) + i * 4, &v, 4);
  } else {
    const uint16_t b = kernels::f32_to_bf16(v);
    std::memcpy(static_cast<uint8_t*>(out) + i * 2, &b, 2);
  }
}

float plain_at(const uint8_t* p, DType dt, int64_t i) {
  switch (dt) {
    case DType::kF32:
      return load_f32(p + i * 4);
    case DType::kBF16: {
      uint16_t b;
      std::memcpy(&b, p + i * 2, 2);
      return kernels::bf16_to_f32(b);
    }
    case DType::kF16: {
      uint16_t h;
      std::memcpy(&h, p + i * 2, 2);
      return kernels::f16_to_f32(h);
    }
    default:
      return NAN;
  }
}

}  // namespace

float e4m3_to_f32(uint8_t code) {
  const float sign = (code & 0x80) ? -1.0f : 1.0f;
  const int exp = (code >> 3) & 0xF;
  const int man = code & 0x7;
  if (exp == 0xF && man == 0x7) return NAN;
  if (exp == 0) return sign * std::ldexp(static_cast<float>(man), -9);
  return sign * std::ldexp(1.0f + static_cast<float>(man) / 8.0f, exp - 7);
}

uint8_t f32_to_e4m3(float v) {
  if (std::isnan(v)) return 0x7F;
  const uint8_t sign = std::signbit(v) ? 0x80 : 0x00;
  const float m = std::fabs(v);
  // Halfway between 448 and the next step (480, which E4M3 lacks) and beyond: saturate.
  if (m >= 464.0f) return sign | 0x7E;
  if (m < 0x1p-6f) {
    // Subnormals step by 2^-9; q = 8 is 2^-6, the first normal, whose code is also 8.
    const auto q = static_cast<uint8_t>(std::nearbyint(m * 512.0f));
    return sign | q;
  }
  int e = 0;
  std::frexp(m, &e);  // m = f · 2^e, f in [0.5, 1)
  e -= 1;             // m = 1.x · 2^e
  // m / 2^e - 1 in [0, 1) is exact, and so is × 8: one rounding, to nearest even.
  auto q = static_cast<int>(std::nearbyint((std::ldexp(m, -e) - 1.0f) * 8.0f));
  if (q == 8) {
    q = 0;
    ++e;
  }
  const int biased = e + 7;
  if (biased > 15 || (biased == 15 && q == 7)) return sign | 0x7E;
  return sign | static_cast<uint8_t>(biased << 3 | q);
}

float e2m1_to_f32(uint8_t nibble) {
  const float mag = kE2M1[nibble & 0x7];
  return (nibble & 0x8) ? -mag : mag;
}

uint8_t f32_to_e2m1(float v) {
  const uint8_t sign = std::signbit(v) ? 0x8 : 0x0;
  const float m = std::fabs(v);
  if (std::isnan(v)) return 0x7;  // E2M1 has no NaN; the group's scale carries one
  uint8_t best = 0;
  for (uint8_t c = 1; c < 8; ++c) {
    const float d = std::fabs(m - kE2M1[c]), db = std::fabs(m - kE2M1[best]);
    // Ties go to the even code (mantissa bit 0), as IEEE rounding does.
    if (d < db || (d == db && (c & 1) == 0)) best = c;
  }
  return sign | best;
}

float e8m0_to_f32(uint8_t s) {
  if (s == 0xFF) return NAN;
  return std::ldexp(1.0f, static_cast<int>(s) - 127);
}

void quantize_fp8_blocks(const float* w, const std::vector<int64_t>& shape, int64_t block_n,
                         int64_t block_k, uint8_t* values, float* scale_inv) {
  const int64_t k = shape.back(), n = shape[shape.size() - 2];
  int64_t count = 1;
  for (size_t i = 0; i + 2 < shape.size(); ++i)
    count *= shape[i];
  const int64_t sn = (n + block_n - 1) / block_n, sk = (k + block_k - 1) / block_k;
  for (int64_t c = 0; c < count; ++c) {
    const float* wm = w + c * n * k;
    uint8_t* vm = values + c * n * k;
    float* sm = scale_inv + c * sn * sk;
    for (int64_t bi = 0; bi < sn; ++bi) {
      for (int64_t bj = 0; bj < sk; ++bj) {
        const int64_t i0 = bi * block_n, i1 = std::min(n, i0 + block_n);
        const int64_t j0 = bj * block_k, j1 = std::min(k, j0 + block_k);
        float amax = 0.0f;
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j)
            amax = std::max(amax, std::fabs(wm[i * k + j]));
        const float s = amax > 0.0f ? amax / kE4M3Max : 1.0f;
        sm[bi * sk + bj] = s;
        for (int64_t i = i0; i < i1; ++i)
          for (int64_t j = j0; j < j1; ++j)
            vm[i * k + j] = f32_to_e4m3(wm[i * k + j] / s);
      }
    }
  }
}

void quantize_mxfp4(const float* w, const std::vector<int64_t>& shape, uint8_t* blocks,
                    uint8_t* scales) {
  int64_t numel = 1;
  for (int64_t d : shape)
    numel *= d;
  for (int64_t g = 0; g < numel / kMxfp4Group; ++g) {
    const float* x = w + g * kMxfp4Group;
    float amax = 0.0f;
    for (int64_t i = 0; i < kMxfp4Group; ++i)
      amax = std::max(amax, std::fabs(x[i]));
    int e = 0;
    if (amax > 0.0f) {
      int fe = 0;
      std::frexp(amax, &fe);  // amax in [2^(fe-1), 2^fe): floor(log2(amax)) = fe - 1
      e = std::clamp(fe - 1 - 2, -127, 127);
    }
    scales[g] = static_cast<uint8_t>(e + 127);
    for (int64_t i = 0; i < kMxfp4Group; i += 2) {
      const uint8_t lo = f32_to_e2m1(std::ldexp(x[i], -e));
      const uint8_t hi = f32_to_e2m1(std::ldexp(x[i + 1], -e));
      blocks[g * kMxfp4GroupBytes + i / 2] = static_cast<uint8_t>(lo | hi << 4);
    }
  }
}

Status dequantize(const StoredMatrix& m, DType dst, void* out) {
  if (dst != DType::kF32 && dst != DType::kBF16) {
    return invalid_argument(m.name + " cannot be read as " + std::string(dtype_name(dst)) +
                            " (only F32 or BF16)");
  }
  const int64_t n = m.rows(), k = m.cols(), count = m.count();
  switch (m.format) {
    case StoredFormat::kPlain:
      if (m.dtype != DType::kF32 && m.dtype != DType::kBF16 && m.dtype != DType::kF16) {
        return unimplemented(m.name + " has dtype " + std::string(dtype_name(m.dtype)) +
                             ", which cannot be converted to " + dtype_name(dst));
      }
      for (int64_t i = 0; i < m.numel(); ++i)
        store(out, dst, i, plain_at(m.values, m.dtype, i));
      return Status::Ok();
    case StoredFormat::kFp8Block: {
      const int64_t sn = (n + m.block_n - 1) / m.block_n, sk = (k + m.block_k - 1) / m.block_k;
      float lut[256];
      for (int c = 0; c < 256; ++c)
        lut[c] = e4m3_to_f32(static_cast<uint8_t>(c));
      if (m.scale_dtype != DType::kF32 && m.scale_dtype != DType::kBF16 &&
          m.scale_dtype != DType::kF16) {
        return unimplemented(m.name + ": fp8 scales of dtype " +
                             std::string(dtype_name(m.scale_dtype)) + " (F32, BF16 or F16)");
      }
      for (int64_t c = 0; c < count; ++c) {
        const uint8_t* v = m.values + c * n * k;
        for (int64_t i = 0; i < n; ++i) {
          const int64_t srow = (c * sn + i / m.block_n) * sk;
          for (int64_t j = 0; j < k; ++j) {
            const float scale = plain_at(m.scales, m.scale_dtype, srow + j / m.block_k);
            store(out, dst, (c * n + i) * k + j, lut[v[i * k + j]] * scale);
          }
        }
      }
      return Status::Ok();
    }
    case StoredFormat::kMxfp4: {
      if (k % kMxfp4Group != 0) {
        return invalid_argument(m.name + ": MXFP4 needs in-features divisible by 32, not " +
                                std::to_string(k));
      }
      const int64_t groups = m.numel() / kMxfp4Group;
      for (int64_t g = 0; g < groups; ++g) {
        const float scale = e8m0_to_f32(m.scales[g]);
        const uint8_t* b = m.values + g * kMxfp4GroupBytes;
        for (int64_t i = 0; i < kMxfp4GroupBytes; ++i) {
          store(out, dst, g * kMxfp4Group + 2 * i, e2m1_to_f32(b[i] & 0xF) * scale);
          store(out, dst, g * kMxfp4Group + 2 * i + 1, e2m1_to_f32(b[i] >> 4) * scale);
        }
      }
      return Status::Ok();
    }
  }
  return internal_error(m.name + ": unknown stored format");
}

}  // namespace sieve
