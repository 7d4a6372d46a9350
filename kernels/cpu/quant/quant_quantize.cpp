// The entry points that make quantized matrices: quantize_matrix (each format's release rule)
// and the checkpoint packers pack_fp8_blocks and pack_mxfp4.
#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "kernels/cpu/numeric.h"
#include "kernels/cpu/quant/quant_internal.h"

namespace sieve::kernels {
namespace {

using internal::QuantRows;

float read_source(const void* src, ElemType t, int64_t i) {
  switch (t) {
    case ElemType::kF32:
      return static_cast<const float*>(src)[i];
    case ElemType::kBF16:
      return bf16_to_f32(static_cast<const uint16_t*>(src)[i]);
    default:
      return f16_to_f32(static_cast<const uint16_t*>(src)[i]);
  }
}

// fp32 → fp16 bits, round to nearest even, subnormals kept; the caller rules out overflow.
uint16_t f32_to_f16(float f) {
  const double a = std::fabs(static_cast<double>(f));
  const uint16_t sign = std::signbit(f) ? 0x8000 : 0;
  if (a < std::ldexp(1.0, -14)) {  // subnormal: multiples of 2^-24
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(std::nearbyint(a * 16777216.0)));
  }
  int e;
  std::frexp(a, &e);  // a = m · 2^e, m in [0.5, 1)
  const double quantum = std::ldexp(1.0, e - 11);
  double q = std::nearbyint(a / quantum);  // in [1024, 2048]
  if (q >= 2048) {
    q /= 2;
    ++e;
  }
  return static_cast<uint16_t>(sign | ((e - 1 + 15) << 10) | (static_cast<int>(q) - 1024));
}

// |v| ≥ 0 → E4M3 bits (no sign), round to nearest even, saturating at 448.
uint8_t e4m3_encode_abs(double v) {
  if (v >= 448.0) return 0x7e;
  if (v < std::ldexp(1.0, -6)) return static_cast<uint8_t>(std::nearbyint(v * 512.0));  // 0..8
  int e;
  std::frexp(v, &e);
  int exp = e - 1;                                          // v in [2^exp, 2^(exp+1))
  double q = std::nearbyint(v / std::ldexp(1.0, exp - 3));  // in [8, 16]
  if (q >= 16) {
    q = 8;
    ++exp;
  }
  const int code = ((exp + 7) << 3) | (static_cast<int>(q) - 8);
  return static_cast<uint8_t>(std::min(code, 0x7e));
}

// |v| → the nearest E2M1 code (no sign), ties to the even code (the even mantissa), values past
// 6 saturate to 6, as OCP MX converts.
uint8_t e2m1_encode_abs(double v) {
  static constexpr double kGrid[8] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
  uint8_t best = 0;
  for (uint8_t i = 1; i < 8; ++i) {
    const double d = std::fabs(v - kGrid[i]), db = std::fabs(v - kGrid[best]);
    if (d < db || (d == db && i % 2 == 0)) best = i;
  }
  return best;
}

QuantRows quantize_rows(const void* src, ElemType st, int64_t n, int64_t k, ElemType t) {
  QuantRows r;
  r.type = t;
  r.n = n;
  r.k = k;
  r.group = t == ElemType::kI8    ? k
            : t == ElemType::kFP8 ? internal::kFp8DefaultGroup
                                  : internal::kQBlock;
  const int64_t nb = r.blocks();
  r.codes.assign(static_cast<size_t>(n * k), 0);
  r.scales.assign(static_cast<size_t>(n * nb), 0);
  std::vector<float> row(static_cast<size_t>(k));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t kk = 0; kk < k; ++kk) {
      row[kk] = read_source(src, st, j * k + kk);
      if (!std::isfinite(row[kk])) {
        throw std::invalid_argument("quantize_matrix: element (" + std::to_string(j) + ", " +
                                    std::to_string(kk) +
                                    ") is a NaN or infinity; the source weights are corrupt");
      }
    }
    for (int64_t b = 0; b < nb; ++b) {
      const int64_t k0 = b * r.group, k1 = std::min(k, k0 + r.group);
      float amax = 0;
      for (int64_t kk = k0; kk < k1; ++kk)
        amax = std::max(amax, std::fabs(row[kk]));
      uint8_t* codes = r.codes.data() + j * k;
      uint32_t& scale = r.scales[j * nb + b];
      if (t == ElemType::kMXFP4) {
        // OCP MX: shared exponent floor(log2(amax)) - 2 (E2M1's largest exponent), clamped to
        // E8M0's range; all-zero groups get the smallest scale.
        int e = -127;
        if (amax > 0) {
          std::frexp(amax, &e);
          e = std::clamp(e - 1 - 2, -127, 127);
        }
        scale = static_cast<uint32_t>(e + 127);
        const double x = std::ldexp(1.0, e);
        for (int64_t kk = k0; kk < k1; ++kk) {
          const uint8_t c = e2m1_encode_abs(std::fabs(row[kk]) / x);
          codes[kk] = static_cast<uint8_t>(c | (std::signbit(row[kk]) && c ? 8 : 0));
        }
        continue;
      }
      float s = 0;
      if (t == ElemType::kI8) s = amax / 127.f;
      if (t == ElemType::kFP8) s = amax / 448.f;
      if (t == ElemType::kI4) {
        if (amax / 7.f > 65504.f) {
          throw std::invalid_argument("quantize_matrix: int4 scales are fp16 and row " +
                                      std::to_string(j) + " has |w| = " + std::to_string(amax) +
                                      " (> 7 · 65504); use int8 or fp8");
        }
        const uint16_t h = f32_to_f16(amax / 7.f);
        scale = h;
        s = f16_to_f32(h);
      } else {
        scale = internal::f32_to_bits(s);
      }
      if (s == 0) continue;  // all zero: codes stay 0
      for (int64_t kk = k0; kk < k1; ++kk) {
        const double v = static_cast<double>(row[kk]) / s;
        if (t == ElemType::kFP8) {
          const uint8_t c = e4m3_encode_abs(std::fabs(v));
          codes[kk] = static_cast<uint8_t>(c | (v < 0 && c ? 0x80 : 0));
        } else {
          const double lim = t == ElemType::kI8 ? 127 : 7;
          const double q = std::clamp(std::nearbyint(v), -lim, lim);
          codes[kk] = static_cast<uint8_t>(static_cast<int8_t>(q));
        }
      }
    }
  }
  return r;
}

}  // namespace

PackedMatrix quantize_matrix(const void* src, ElemType src_type, int64_t n, int64_t k,
                             ElemType dst_type) {
  if (!is_quantized(dst_type)) {
    throw std::invalid_argument(std::string("quantize_matrix: ") + elem_type_name(dst_type) +
                                " is not a quantized type; use pack_matrix");
  }
  if (src_type != ElemType::kF32 && src_type != ElemType::kBF16 && src_type != ElemType::kF16) {
    throw std::invalid_argument(
        std::string("quantize_matrix: source must be f32, bf16 or f16, not ") +
        elem_type_name(src_type));
  }
  if (n < 0 || k <= 0) {
    throw std::invalid_argument("quantize_matrix: bad shape [" + std::to_string(n) + ", " +
                                std::to_string(k) + "]");
  }
  return internal::pack_quant_rows(quantize_rows(src, src_type, n, k, dst_type));
}

PackedMatrix pack_fp8_blocks(const uint8_t* values, const float* scale_inv, int64_t n, int64_t k,
                             int64_t block_n, int64_t block_k) {
  if (n < 0 || k <= 0 || block_n <= 0 || block_k <= 0) {
    throw std::invalid_argument("pack_fp8_blocks: bad shape [" + std::to_string(n) + ", " +
                                std::to_string(k) + "] with blocks " + std::to_string(block_n) +
                                "×" + std::to_string(block_k));
  }
  QuantRows r;
  r.type = ElemType::kFP8;
  r.n = n;
  r.k = k;
  r.group = block_k;
  const int64_t nb = r.blocks();
  r.codes.assign(values, values + n * k);
  for (int64_t i = 0; i < n * k; ++i) {
    if ((values[i] & 0x7f) == 0x7f) {
      throw std::invalid_argument("pack_fp8_blocks: E4M3 NaN at row " + std::to_string(i / k) +
                                  ", column " + std::to_string(i % k) +
                                  "; the checkpoint's weights are corrupt");
    }
  }
  r.scales.resize(static_cast<size_t>(n * nb));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t b = 0; b < nb; ++b) {
      const float s = scale_inv[(j / block_n) * nb + b];
      if (!std::isfinite(s) || std::fabs(s) > 1e30f) {
        throw std::invalid_argument("pack_fp8_blocks: scale_inv block (" +
                                    std::to_string(j / block_n) + ", " + std::to_string(b) +
                                    ") is " + std::to_string(s) + "; expected a finite scale");
      }
      r.scales[j * nb + b] = internal::f32_to_bits(s);
    }
  return internal::pack_quant_rows(r);
}

PackedMatrix pack_mxfp4(const uint8_t* blocks, const uint8_t* scales, int64_t n, int64_t k) {
  if (n < 0 || k <= 0 || k % 32 != 0) {
    throw std::invalid_argument("pack_mxfp4: k must be a positive multiple of 32, got [" +
                                std::to_string(n) + ", " + std::to_string(k) + "]");
  }
  QuantRows r;
  r.type = ElemType::kMXFP4;
  r.n = n;
  r.k = k;
  r.group = internal::kQBlock;
  const int64_t nb = k / 32;
  r.codes.resize(static_cast<size_t>(n * k));
  r.scales.resize(static_cast<size_t>(n * nb));
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t kk = 0; kk < k; ++kk) {
      const uint8_t byte = blocks[(j * nb + kk / 32) * 16 + kk % 32 / 2];
      r.codes[j * k + kk] = kk % 2 ? byte >> 4 : byte & 0xf;
    }
    for (int64_t b = 0; b < nb; ++b) {
      const uint8_t s = scales[j * nb + b];
      if (s == 255) {
        throw std::invalid_argument("pack_mxfp4: scale (" + std::to_string(j) + ", " +
                                    std::to_string(b) +
                                    ") is 255, E8M0's NaN; the checkpoint's scales are corrupt");
      }
      r.scales[j * nb + b] = s;
    }
  }
  return internal::pack_quant_rows(r);
}

}  // namespace sieve::kernels
