// Quantized formats: quantize_matrix's rounding error per format, the checkpoint packers against
// decoding written here, bytes held, stack_rows, and the errors bad inputs get.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/numeric.h"
#include "kernels/cpu/tests/quant_test_support.h"

namespace sieve::kernels {
namespace {

using namespace quant_test;

// max |w| over columns [k0, k1) of row j.
double group_amax(const std::vector<float>& w, int64_t k, int64_t j, int64_t k0, int64_t k1) {
  double a = 0;
  for (int64_t kk = k0; kk < std::min(k, k1); ++kk)
    a = std::max(a, static_cast<double>(std::fabs(w[j * k + kk])));
  return a;
}

TEST(QuantFormat, Int8WithinHalfAStep) {
  const int64_t n = 37, k = 101;
  const auto src = spread_weights(n, k, 21);
  const PackedMatrix w = quantize_matrix(src.data(), ElemType::kF32, n, k, ElemType::kI8);
  EXPECT_EQ(w.group, k);
  for (int64_t j = 0; j < n; ++j) {
    const double s = group_amax(src, k, j, 0, k) / 127.0;
    for (int64_t kk = 0; kk < k; ++kk) {
      const double d = packed_at(w, j, kk);
      // The value is an integer in [-127, 127] times the row's scale...
      const double q = d / s;
      ASSERT_NEAR(q, std::nearbyint(q), 1e-4) << j << "," << kk;
      ASSERT_LE(std::fabs(q), 127.0 + 1e-4);
      // ... the nearest one: within half a step.
      ASSERT_LE(std::fabs(d - src[j * k + kk]), s / 2 * (1 + 1e-5)) << j << "," << kk;
    }
  }
}

TEST(QuantFormat, Int4WithinHalfAStepPerGroup) {
  const int64_t n = 37, k = 101;  // a partial last group
  const auto src = spread_weights(n, k, 22);
  const PackedMatrix w = quantize_matrix(src.data(), ElemType::kF32, n, k, ElemType::kI4);
  EXPECT_EQ(w.group, 32);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t kk = 0; kk < k; ++kk) {
      const int64_t g = kk / 32 * 32;
      // The scale is amax / 7 rounded to fp16 (relative error ≤ 2^-11).
      const double s = group_amax(src, k, j, g, g + 32) / 7.0;
      const double d = packed_at(w, j, kk);
      ASSERT_LE(std::fabs(d - src[j * k + kk]), s / 2 * (1 + 2e-3) + 1e-9) << j << "," << kk;
      ASSERT_LE(std::fabs(d), 7 * s * (1 + 1e-3));
    }
}

TEST(QuantFormat, Mxfp4FollowsOcpRounding) {
  const int64_t n = 19, k = 70;
  const auto src = spread_weights(n, k, 23);
  const PackedMatrix w = quantize_matrix(src.data(), ElemType::kF32, n, k, ElemType::kMXFP4);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t kk = 0; kk < k; ++kk) {
      const int64_t g = kk / 32 * 32;
      const double amax = group_amax(src, k, j, g, g + 32);
      // Shared exponent floor(log2(amax)) - 2.
      const double x = std::ldexp(1.0, static_cast<int>(std::floor(std::log2(amax))) - 2);
      const double v = std::fabs(src[j * k + kk]) / x;
      const double d = packed_at(w, j, kk);
      // d / x is on the E2M1 grid...
      const double dv = std::fabs(d) / x;
      const double grid[] = {0, 0.5, 1, 1.5, 2, 3, 4, 6};
      ASSERT_TRUE(std::find(std::begin(grid), std::end(grid), dv) != std::end(grid)) << dv;
      // ... the nearest point (half the local gap), saturating at 6.
      const double bound = v > 6 ? v - 6 : v <= 2 ? 0.25 : v <= 4 ? 0.5 : 1.0;
      ASSERT_LE(std::fabs(dv - v), bound + 1e-9) << j << "," << kk << " v=" << v;
      if (d != 0) {
        ASSERT_EQ(d < 0, src[j * k + kk] < 0);
      }
    }
}

TEST(QuantFormat, Fp8WithinHalfAnE4M3Step) {
  const int64_t n = 9, k = 300;  // blocks of 128: a partial last one
  const auto src = spread_weights(n, k, 24);
  const PackedMatrix w = quantize_matrix(src.data(), ElemType::kF32, n, k, ElemType::kFP8);
  EXPECT_EQ(w.group, 128);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t kk = 0; kk < k; ++kk) {
      const int64_t g = kk / 128 * 128;
      const double s = group_amax(src, k, j, g, g + 128) / 448.0;
      const double v = std::fabs(src[j * k + kk]) / s;
      // E4M3 steps: 2^-9 below 2^-6, else 2^(floor(log2 v) - 3).
      const double step =
          v < std::ldexp(1.0, -6) ? std::ldexp(1.0, -9) : std::ldexp(1.0, std::ilogb(v) - 3);
      ASSERT_LE(std::fabs(packed_at(w, j, kk) - src[j * k + kk]), s * step / 2 * (1 + 1e-5))
          << j << "," << kk;
    }
}

TEST(QuantFormat, CheckpointPackersMatchTheFormatDefinitions) {
  for (const Case& c :
       {mxfp4_checkpoint_case(45, 64, 31), fp8_checkpoint_case(576, 300, 128, 128, 32),
        fp8_checkpoint_case(33, 70, 5, 17, 33)}) {
    for (int64_t j = 0; j < c.w.n; ++j)
      for (int64_t kk = 0; kk < c.w.k; ++kk)
        ASSERT_EQ(static_cast<float>(c.deq[j * c.w.k + kk]), packed_at(c.w, j, kk))
            << c.name << " " << j << "," << kk;
  }
  // Every E4M3 code, subnormals included (0x7f / 0xff are NaN and rejected).
  std::vector<uint8_t> all;
  for (int b = 0; b < 256; ++b)
    if ((b & 0x7f) != 0x7f) all.push_back(static_cast<uint8_t>(b));
  const float one = 1.f;
  const PackedMatrix w =
      pack_fp8_blocks(all.data(), &one, 1, static_cast<int64_t>(all.size()), 1, 1 << 20);
  for (size_t i = 0; i < all.size(); ++i)
    ASSERT_EQ(packed_at(w, 0, static_cast<int64_t>(i)), static_cast<float>(decode_e4m3(all[i])))
        << "code " << static_cast<int>(all[i]);
}

TEST(QuantFormat, BytesHeld) {
  const int64_t n = 64, k = 2048;
  const auto src = spread_weights(n, k, 41);
  // Values plus scales: int8 1 byte + 4 per row; int4 0.5 + 2 per 32; MXFP4 0.5 + 1 per 32;
  // FP8 1 + 4 per row and 128-block.
  EXPECT_EQ(quantize_matrix(src.data(), ElemType::kF32, n, k, ElemType::kI8).bytes,
            static_cast<size_t>(n * k + n * 4));
  EXPECT_EQ(quantize_matrix(src.data(), ElemType::kF32, n, k, ElemType::kI4).bytes,
            static_cast<size_t>(n * k / 2 + n * k / 32 * 2));
  EXPECT_EQ(quantize_matrix(src.data(), ElemType::kF32, n, k, ElemType::kMXFP4).bytes,
            static_cast<size_t>(n * k / 2 + n * k / 32));
  EXPECT_EQ(quantize_matrix(src.data(), ElemType::kF32, n, k, ElemType::kFP8).bytes,
            static_cast<size_t>(n * k + n * k / 128 * 4));
}

bool same_bytes(const PackedMatrix& a, const PackedMatrix& b) {
  return a.type == b.type && a.n == b.n && a.k == b.k && a.group == b.group && a.bytes == b.bytes &&
         std::memcmp(a.storage.get(), b.storage.get(), a.bytes) == 0;
}

TEST(QuantFormat, StackRowsEqualsPackingTheConcatenation) {
  // A first part that ends inside a panel (repacked) and one that fills its panels (copied).
  for (const int64_t n1 : {45, 64}) {
    SCOPED_TRACE(n1);
    const int64_t n2 = 70, k = 129;
    const auto a = spread_weights(n1, k, 51), b = spread_weights(n2, k, 52);
    std::vector<float> ab(a);
    ab.insert(ab.end(), b.begin(), b.end());
    for (ElemType t : {ElemType::kI8, ElemType::kI4, ElemType::kMXFP4, ElemType::kFP8}) {
      const PackedMatrix pa = quantize_matrix(a.data(), ElemType::kF32, n1, k, t);
      const PackedMatrix pb = quantize_matrix(b.data(), ElemType::kF32, n2, k, t);
      const PackedMatrix* parts[] = {&pa, &pb};
      EXPECT_TRUE(
          same_bytes(stack_rows(parts), quantize_matrix(ab.data(), ElemType::kF32, n1 + n2, k, t)))
          << elem_type_name(t);
    }
    for (ElemType t : {ElemType::kF32, ElemType::kBF16}) {
      const PackedMatrix pa = pack_matrix(a.data(), ElemType::kF32, n1, k, t);
      const PackedMatrix pb = pack_matrix(b.data(), ElemType::kF32, n2, k, t);
      const PackedMatrix* parts[] = {&pa, &pb};
      EXPECT_TRUE(
          same_bytes(stack_rows(parts), pack_matrix(ab.data(), ElemType::kF32, n1 + n2, k, t)))
          << elem_type_name(t);
    }
  }
  // Checkpoint FP8 with 128-row blocks (gate rows a multiple of the block) and MXFP4.
  const Fp8Checkpoint g = random_fp8(256, 300, 128, 128, 53), u = random_fp8(70, 300, 128, 128, 54);
  Fp8Checkpoint gu = g;
  gu.values.insert(gu.values.end(), u.values.begin(), u.values.end());
  gu.scale_inv.insert(gu.scale_inv.end(), u.scale_inv.begin(), u.scale_inv.end());
  const PackedMatrix pg = pack_fp8_blocks(g.values.data(), g.scale_inv.data(), 256, 300, 128, 128);
  const PackedMatrix pu = pack_fp8_blocks(u.values.data(), u.scale_inv.data(), 70, 300, 128, 128);
  const PackedMatrix* fp8_parts[] = {&pg, &pu};
  EXPECT_TRUE(
      same_bytes(stack_rows(fp8_parts),
                 pack_fp8_blocks(gu.values.data(), gu.scale_inv.data(), 326, 300, 128, 128)));
  const MxfpCheckpoint mg = random_mxfp4(33, 64, 55), mu = random_mxfp4(40, 64, 56);
  MxfpCheckpoint mgu = mg;
  mgu.blocks.insert(mgu.blocks.end(), mu.blocks.begin(), mu.blocks.end());
  mgu.scales.insert(mgu.scales.end(), mu.scales.begin(), mu.scales.end());
  const PackedMatrix qg = pack_mxfp4(mg.blocks.data(), mg.scales.data(), 33, 64);
  const PackedMatrix qu = pack_mxfp4(mu.blocks.data(), mu.scales.data(), 40, 64);
  const PackedMatrix* mx_parts[] = {&qg, &qu};
  EXPECT_TRUE(
      same_bytes(stack_rows(mx_parts), pack_mxfp4(mgu.blocks.data(), mgu.scales.data(), 73, 64)));
}

TEST(QuantFormat, BadInputsAreRejected) {
  const auto src = spread_weights(4, 64, 61);
  const PackedMatrix i8 = quantize_matrix(src.data(), ElemType::kF32, 4, 64, ElemType::kI8);
  const PackedMatrix i4 = quantize_matrix(src.data(), ElemType::kF32, 4, 64, ElemType::kI4);
  const PackedMatrix* mixed[] = {&i8, &i4};
  EXPECT_THROW(stack_rows(mixed), std::invalid_argument);
  EXPECT_THROW(quantize_matrix(src.data(), ElemType::kF32, 4, 64, ElemType::kBF16),
               std::invalid_argument);
  std::vector<uint8_t> blocks(4 * 48 / 2), scales(4 * 2, 127);
  EXPECT_THROW(pack_mxfp4(blocks.data(), scales.data(), 4, 48), std::invalid_argument);
  scales[3] = 255;
  blocks.resize(4 * 64 / 2);
  EXPECT_THROW(pack_mxfp4(blocks.data(), scales.data(), 4, 64), std::invalid_argument);
  std::vector<uint8_t> values(8, 0x7f);
  const float s = 1.f;
  EXPECT_THROW(pack_fp8_blocks(values.data(), &s, 2, 4, 128, 128), std::invalid_argument);
  std::vector<float> bad(src);
  bad[5] = std::nanf("");
  EXPECT_THROW(quantize_matrix(bad.data(), ElemType::kF32, 4, 64, ElemType::kI8),
               std::invalid_argument);
}

}  // namespace
}  // namespace sieve::kernels
