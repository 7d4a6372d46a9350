// Products with quantized weights against a dequantize-then-multiply reference (in double), on
// every ISA path this CPU has, and the determinism contract: every path gives the same bits, a
// row alone equals the row in a batch, any thread count gives the same result.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/tests/quant_test_support.h"
#include "tests/support/random.h"

namespace sieve::kernels {
namespace {

using internal::Isa;
using namespace quant_test;
using test_inputs::random_floats;

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : {Isa::kScalar, Isa::kAvx2, Isa::kAvx512})
    if (internal::isa_supported(isa)) out.push_back(isa);
  return out;
}

std::vector<float> run(const std::vector<float>& x, const PackedMatrix& w, int64_t m, Isa isa,
                       ThreadPool* pool) {
  std::vector<float> y(static_cast<size_t>(m * w.n), -7.f);
  MatmulArgs a;
  a.x = x.data();
  a.w = &w;
  a.y = y.data();
  a.m = m;
  internal::matmul_many_with_isa(std::span<const MatmulArgs>(&a, 1), pool, isa);
  return y;
}

// Activations with a few large values per row, as real hidden states have.
std::vector<float> activations(int64_t m, int64_t k, uint32_t seed) {
  auto x = random_floats(static_cast<size_t>(m * k), seed, -1.f, 1.f);
  for (size_t i = 0; i < x.size(); i += 37)
    x[i] *= 8.f;
  return x;
}

// Checks y against the reference with a bound per element. Integer formats: each activation is
// quantized to int8 in blocks of 32 with error ≤ d_b / 2 = amax_b / 254, so
// |Δy| ≤ Σ_b amax_b / 254 · Σ_{kk in b} |w| (times 1.001 for the rounding of x · 127 / amax),
// plus fp32 accumulation (≤ (blocks + 2) · 2^-24 relative to Σ|x·w|). FP8: each activation is
// rounded to bf16 (relative error ≤ 2^-8, so |Δy| ≤ 2^-8 · Σ|x·w|), plus k + blocks + 2 fp32
// roundings of at most 2^-24 · Σ|x·w| each.
void expect_close(const Case& c, const std::vector<float>& x, int64_t m,
                  const std::vector<float>& y, const char* what) {
  const int64_t n = c.w.n, k = c.w.k;
  const bool int_format = c.w.type != ElemType::kFP8;
  const int64_t blocks = int_format ? (k + 31) / 32 : (k + c.w.group - 1) / c.w.group;
  for (int64_t i = 0; i < m; ++i) {
    std::vector<double> amax(static_cast<size_t>((k + 31) / 32), 0.0);
    for (int64_t kk = 0; kk < k; ++kk)
      amax[kk / 32] = std::max(amax[kk / 32], static_cast<double>(std::fabs(x[i * k + kk])));
    for (int64_t j = 0; j < n; ++j) {
      double ref = 0, mag = 0, quant = 0;
      for (int64_t kk = 0; kk < k; ++kk) {
        const double w = c.deq[j * k + kk], xv = x[i * k + kk];
        ref += xv * w;
        mag += std::fabs(xv * w);
        quant += amax[kk / 32] / 254 * std::fabs(w);
      }
      const double fp32 = (int_format ? blocks + 2 : k + blocks + 2) * std::ldexp(mag, -24) * 2;
      const double tol = (int_format ? 1.001 * quant : std::ldexp(mag, -8)) + fp32 + 1e-30;
      ASSERT_LE(std::fabs(y[i * n + j] - ref), tol)
          << c.name << " " << what << " m=" << m << " (" << i << "," << j << ") ref=" << ref;
    }
  }
}

TEST(QuantMatmul, MatchesDequantizedReferenceOnEveryIsa) {
  ThreadPool pool(2);
  for (const Case& c : all_cases()) {
    for (int64_t m : {1, 2, 7, 8, 33, 300}) {
      if (m == 300 && c.w.n > 100) continue;  // the big shapes at 300 rows: below, one path
      const auto x = activations(m, c.w.k, static_cast<uint32_t>(m + c.w.n));
      std::vector<float> base;
      for (Isa isa : supported_isas()) {
        const auto y = run(x, c.w, m, isa, &pool);
        expect_close(c, x, m, y, internal::isa_name(isa));
        // quant_internal.h: every path computes the same chain of fp32 operations.
        if (base.empty()) {
          base = y;
        } else {
          ASSERT_EQ(0, std::memcmp(base.data(), y.data(), y.size() * 4))
              << c.name << " " << internal::isa_name(isa) << " differs from scalar, m=" << m;
        }
      }
    }
  }
}

TEST(QuantMatmul, BigShapesAtPrefillSize) {
  ThreadPool pool(2);
  for (const Case& c :
       {quantized_case(ElemType::kI4, 576, 300, 71), fp8_checkpoint_case(576, 300, 128, 128, 72)}) {
    const int64_t m = 300;
    const auto x = activations(m, c.w.k, 73);
    expect_close(c, x, m, run(x, c.w, m, internal::active_isa(), &pool), "active isa");
  }
}

TEST(QuantMatmul, RowAloneEqualsRowInBatchAcrossThreads) {
  ThreadPool p1(1), p2(2), p3(3);
  ThreadPool* pools[] = {&p1, &p2, &p3};
  for (const Case& c : all_cases()) {
    if (c.w.n > 100) continue;
    const int64_t m = 33;
    const auto x = activations(m, c.w.k, 81);
    for (Isa isa : supported_isas()) {
      const auto batch = run(x, c.w, m, isa, &p2);
      for (ThreadPool* pool : pools) {
        const auto again = run(x, c.w, m, isa, pool);
        ASSERT_EQ(0, std::memcmp(batch.data(), again.data(), batch.size() * 4))
            << c.name << " " << internal::isa_name(isa) << " threads=" << pool->size();
      }
      for (int64_t i = 0; i < m; ++i) {
        std::vector<float> row(x.begin() + i * c.w.k, x.begin() + (i + 1) * c.w.k);
        const auto alone = run(row, c.w, 1, isa, pools[i % 3]);
        ASSERT_EQ(0, std::memcmp(alone.data(), batch.data() + i * c.w.n, c.w.n * 4))
            << c.name << " " << internal::isa_name(isa) << " row " << i;
      }
    }
  }
}

// Batches big enough that the work split cuts rows as well as panels (chunks of 48 rows).
TEST(QuantMatmul, RowSplitsGiveTheSameBits) {
  ThreadPool p1(1), p3(3);
  for (const Case& c : all_cases()) {
    if (c.w.n > 100) continue;
    const int64_t m = 300;
    const auto x = activations(m, c.w.k, 85);
    const auto one = run(x, c.w, m, internal::active_isa(), &p1);
    const auto three = run(x, c.w, m, internal::active_isa(), &p3);
    ASSERT_EQ(0, std::memcmp(one.data(), three.data(), one.size() * 4)) << c.name;
  }
}

TEST(QuantMatmul, EmptyBatchWritesNothing) {
  ThreadPool pool(2);
  for (const Case& c : all_cases()) {
    std::vector<float> y(4, 3.f);
    MatmulArgs a;
    a.x = nullptr;
    a.w = &c.w;
    a.y = y.data();
    a.m = 0;
    matmul(a, &pool);
    EXPECT_EQ(y, std::vector<float>(4, 3.f)) << c.name;
  }
}

// One matmul_many over bf16 and every quantized format, with strides and accumulation: each
// product equals the same product run alone.
TEST(QuantMatmul, ManyMixesFormats) {
  ThreadPool pool(3);
  const int64_t k = 96;
  const auto src = spread_weights(70, k, 91);
  std::vector<PackedMatrix> ws;
  ws.push_back(pack_matrix(src.data(), ElemType::kF32, 70, k, ElemType::kBF16));
  for (ElemType t : {ElemType::kI8, ElemType::kI4, ElemType::kMXFP4, ElemType::kFP8})
    ws.push_back(quantize_matrix(src.data(), ElemType::kF32, 70, k, t));
  const int64_t ldx = 100, ldy = 75;
  for (Isa isa : supported_isas()) {
    std::vector<std::vector<float>> xs, ys;
    std::vector<MatmulArgs> args;
    for (size_t p = 0; p < ws.size(); ++p) {
      const int64_t m = 1 + static_cast<int64_t>(p) * 9;
      xs.push_back(
          random_floats(static_cast<size_t>(m * ldx), static_cast<uint32_t>(p + 92), -1.f, 1.f));
      ys.emplace_back(static_cast<size_t>(m * ldy), 0.25f);
    }
    for (size_t p = 0; p < ws.size(); ++p) {
      MatmulArgs a;
      a.x = xs[p].data();
      a.w = &ws[p];
      a.y = ys[p].data();
      a.m = 1 + static_cast<int64_t>(p) * 9;
      a.ldx = ldx;
      a.ldy = ldy;
      a.accumulate = p % 2 == 1;
      args.push_back(a);
    }
    internal::matmul_many_with_isa(args, &pool, isa);
    for (size_t p = 0; p < ws.size(); ++p) {
      const int64_t m = args[p].m;
      std::vector<float> dense(static_cast<size_t>(m * k));
      for (int64_t i = 0; i < m; ++i)
        std::memcpy(&dense[i * k], &xs[p][i * ldx], k * 4);
      const auto alone = run(dense, ws[p], m, isa, &pool);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < ldy; ++j) {
          const float want = j >= 70              ? 0.25f
                             : args[p].accumulate ? 0.25f + alone[i * 70 + j]
                                                  : alone[i * 70 + j];
          ASSERT_EQ(want, ys[p][i * ldy + j]) << elem_type_name(ws[p].type) << " "
                                              << internal::isa_name(isa) << " " << i << "," << j;
        }
    }
  }
}

}  // namespace
}  // namespace sieve::kernels
