// The element formats of quantized checkpoints, one value at a time, and whole matrices
// quantized the way releases quantize them and dequantized back: the reference that
// make-checkpoint writes with and Checkpoint::read dequantizes with (the packed kernels of
// kernels/cpu/ read the same bytes on their own).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/base/dtype.h"
#include "engine/base/status.h"
#include "engine/checkpoint/quantization.h"

namespace sieve {

// FP8 E4M3 ("e4m3fn"): sign bit 7, exponent bits 6..3 (bias 7), mantissa bits 2..0; exponent 0
// is subnormal (m · 2^-9); 0x7F and 0xFF are NaN; no infinities; largest 448.
inline constexpr float kE4M3Max = 448.0f;
float e4m3_to_f32(uint8_t code);
// Round to nearest, ties to even; magnitudes past 448 saturate to ±448; NaN → 0x7F.
uint8_t f32_to_e4m3(float v);

// E2M1 (FP4): sign bit 3, exponent bits 2..1 (bias 1), mantissa bit 0: 0, 0.5, 1, 1.5, 2, 3, 4, 6.
inline constexpr float kE2M1Max = 6.0f;
float e2m1_to_f32(uint8_t nibble);  // the low 4 bits
// Round to nearest, ties to even; magnitudes past 6 saturate to ±6.
uint8_t f32_to_e2m1(float v);

// E8M0: 2^(s - 127); 0xFF is NaN.
float e8m0_to_f32(uint8_t s);

// Quantizes fp32 weights [..., n, k] to FP8 with one scale per block_n × block_k block (edge
// blocks partial): scale_inv = amax / 448 (1 for an all-zero block), values rounded to nearest.
// `values` gets numel bytes, `scale_inv` the fp8_scale_shape() floats.
void quantize_fp8_blocks(const float* w, const std::vector<int64_t>& shape, int64_t block_n,
                         int64_t block_k, uint8_t* values, float* scale_inv);

// Quantizes fp32 weights [..., n, k] (k a multiple of 32) to MXFP4 as OCP MX defines it: per
// group of 32 along k, the E8M0 exponent floor(log2(amax)) - 2 (6 = 1.5 · 2² is E2M1's
// largest; 2^0 for an all-zero group), values w / 2^e rounded to nearest E2M1 (saturating).
// `blocks` gets numel / 2 bytes, `scales` numel / 32.
void quantize_mxfp4(const float* w, const std::vector<int64_t>& shape, uint8_t* blocks,
                    uint8_t* scales);

// The stored matrix's elements, dequantized (or converted) into `out` as `dst` (kF32 or kBF16;
// numel × dtype_size(dst) bytes). BF16 rounds the fp32 product once, to nearest even.
Status dequantize(const StoredMatrix& m, DType dst, void* out);

}  // namespace sieve
