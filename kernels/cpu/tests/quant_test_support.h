// Quantized-weight test cases: matrices built through each entry point, each with its weights
// dequantized by code written here from the format definitions (checkpoint packers), or read
// back through packed_at once the quantization itself has been checked (quant_format_test.cpp).
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "tests/support/random.h"

namespace sieve::kernels::quant_test {

// E4M3: sign, 4 exponent bits (bias 7), 3 mantissa bits; exponent 0 is subnormal.
inline double decode_e4m3(uint8_t b) {
  const int e = (b >> 3) & 0xf, m = b & 7;
  const double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1 + m / 8.0, e - 7);
  return b & 0x80 ? -v : v;
}

// E2M1: sign (bit 3), 2 exponent bits (bias 1), 1 mantissa bit; exponent 0 is subnormal.
inline double decode_e2m1(uint8_t c) {
  const int e = (c >> 1) & 3, m = c & 1;
  const double v = e == 0 ? m * 0.5 : std::ldexp(1 + m / 2.0, e - 1);
  return c & 8 ? -v : v;
}

struct Case {
  std::string name;
  PackedMatrix w;
  std::vector<double> deq;  // [n, k] the weights as the format defines them
};

inline std::vector<double> read_back(const PackedMatrix& w) {
  std::vector<double> d(static_cast<size_t>(w.n * w.k));
  for (int64_t j = 0; j < w.n; ++j)
    for (int64_t kk = 0; kk < w.k; ++kk)
      d[j * w.k + kk] = packed_at(w, j, kk);
  return d;
}

// Weights with a spread of magnitudes per row, as real checkpoints have.
inline std::vector<float> spread_weights(int64_t n, int64_t k, uint32_t seed) {
  auto w = test_inputs::random_floats(static_cast<size_t>(n * k), seed, -1.f, 1.f);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t kk = 0; kk < k; ++kk)
      w[j * k + kk] *= 0.01f * static_cast<float>(1 + (j * 7 + kk / 32) % 13);
  return w;
}

inline Case quantized_case(ElemType t, int64_t n, int64_t k, uint32_t seed) {
  const auto src = spread_weights(n, k, seed);
  Case c;
  c.name = std::string(elem_type_name(t)) + " quantized n=" + std::to_string(n) +
           " k=" + std::to_string(k);
  c.w = quantize_matrix(src.data(), ElemType::kF32, n, k, t);
  c.deq = read_back(c.w);
  return c;
}

// A checkpoint's MXFP4 tensors: blocks [n, k/32, 16], scales [n, k/32].
struct MxfpCheckpoint {
  std::vector<uint8_t> blocks, scales;
};
inline MxfpCheckpoint random_mxfp4(int64_t n, int64_t k, uint32_t seed) {
  std::mt19937 rng(seed);
  MxfpCheckpoint ck;
  ck.blocks.resize(static_cast<size_t>(n * k / 2));
  ck.scales.resize(static_cast<size_t>(n * k / 32));
  for (auto& b : ck.blocks)
    b = static_cast<uint8_t>(rng());
  for (auto& s : ck.scales)
    s = static_cast<uint8_t>(118 + rng() % 8);
  return ck;
}

inline Case mxfp4_checkpoint_case(int64_t n, int64_t k, uint32_t seed) {
  const MxfpCheckpoint ck = random_mxfp4(n, k, seed);
  Case c;
  c.name = "mxfp4 checkpoint n=" + std::to_string(n) + " k=" + std::to_string(k);
  c.w = pack_mxfp4(ck.blocks.data(), ck.scales.data(), n, k);
  c.deq.resize(static_cast<size_t>(n * k));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t kk = 0; kk < k; ++kk) {
      const uint8_t byte = ck.blocks[(j * (k / 32) + kk / 32) * 16 + kk % 32 / 2];
      const uint8_t code = kk % 2 ? byte >> 4 : byte & 0xf;
      c.deq[j * k + kk] =
          decode_e2m1(code) * std::ldexp(1.0, ck.scales[j * (k / 32) + kk / 32] - 127);
    }
  return c;
}

// A checkpoint's FP8 tensors: values [n, k], scale_inv [ceil(n/bn), ceil(k/bk)].
struct Fp8Checkpoint {
  std::vector<uint8_t> values;
  std::vector<float> scale_inv;
};
inline Fp8Checkpoint random_fp8(int64_t n, int64_t k, int64_t bn, int64_t bk, uint32_t seed) {
  std::mt19937 rng(seed);
  Fp8Checkpoint ck;
  ck.values.resize(static_cast<size_t>(n * k));
  for (auto& v : ck.values) {
    v = static_cast<uint8_t>(rng());
    if ((v & 0x7f) == 0x7f) v = 0x7e;  // no NaN
  }
  const int64_t sn = (n + bn - 1) / bn, sk = (k + bk - 1) / bk;
  ck.scale_inv.resize(static_cast<size_t>(sn * sk));
  std::uniform_real_distribution<float> d(1e-4f, 1e-3f);
  for (auto& s : ck.scale_inv)
    s = d(rng);
  return ck;
}

inline Case fp8_checkpoint_case(int64_t n, int64_t k, int64_t bn, int64_t bk, uint32_t seed) {
  const Fp8Checkpoint ck = random_fp8(n, k, bn, bk, seed);
  Case c;
  c.name = "fp8 checkpoint n=" + std::to_string(n) + " k=" + std::to_string(k) +
           " blocks=" + std::to_string(bn) + "x" + std::to_string(bk);
  c.w = pack_fp8_blocks(ck.values.data(), ck.scale_inv.data(), n, k, bn, bk);
  const int64_t sk = (k + bk - 1) / bk;
  c.deq.resize(static_cast<size_t>(n * k));
  for (int64_t j = 0; j < n; ++j)
    for (int64_t kk = 0; kk < k; ++kk)
      c.deq[j * k + kk] =
          decode_e4m3(ck.values[j * k + kk]) * ck.scale_inv[(j / bn) * sk + kk / bk];
  return c;
}

// Every kind of quantized matrix, at odd sizes.
inline std::vector<Case> all_cases() {
  std::vector<Case> cs;
  cs.push_back(quantized_case(ElemType::kI8, 70, 129, 1));
  cs.push_back(quantized_case(ElemType::kI8, 576, 300, 2));
  cs.push_back(quantized_case(ElemType::kI8, 1, 1, 3));
  cs.push_back(quantized_case(ElemType::kI4, 70, 129, 4));
  cs.push_back(quantized_case(ElemType::kI4, 576, 300, 5));
  cs.push_back(quantized_case(ElemType::kMXFP4, 45, 129, 6));
  cs.push_back(mxfp4_checkpoint_case(70, 96, 7));
  cs.push_back(mxfp4_checkpoint_case(576, 256, 8));
  cs.push_back(quantized_case(ElemType::kFP8, 70, 300, 9));
  cs.push_back(fp8_checkpoint_case(576, 300, 128, 128, 10));
  cs.push_back(fp8_checkpoint_case(70, 100, 64, 48, 11));
  // Odd blocks and an odd k: bf16 pairs end with a lone element (quant_internal.h).
  cs.push_back(fp8_checkpoint_case(40, 75, 32, 17, 12));
  return cs;
}

}  // namespace sieve::kernels::quant_test
