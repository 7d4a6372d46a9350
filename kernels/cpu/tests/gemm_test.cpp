// Dense matmul against a double-precision reference, on every ISA path this CPU has, plus the
// determinism contract: a row alone equals the row in a batch, across thread counts.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemm_internal.h"
#include "kernels/cpu/numeric.h"
#include "tests/support/random.h"

namespace sieve::kernels {
namespace {

using test_inputs::random_floats;

using internal::Isa;

const Isa kAllIsas[] = {Isa::kScalar, Isa::kAvx2, Isa::kAvx512};

std::vector<Isa> supported_isas() {
  std::vector<Isa> out;
  for (Isa isa : kAllIsas) {
    if (internal::isa_supported(isa)) {
      out.push_back(isa);
    } else {
      std::printf("[ SKIPPED ISA ] %s: not supported by this CPU\n", internal::isa_name(isa));
    }
  }
  return out;
}

// y = x · wᵀ in double from the packed weights (bf16: x rounded to bf16 as the kernels do).
std::vector<double> reference(const std::vector<float>& x, const PackedMatrix& w, int64_t m) {
  std::vector<double> y(static_cast<size_t>(m * w.n));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < w.n; ++j) {
      double acc = 0;
      for (int64_t kk = 0; kk < w.k; ++kk) {
        float xv = x[i * w.k + kk];
        if (w.type == ElemType::kBF16) xv = bf16_to_f32(f32_to_bf16(xv));
        acc += static_cast<double>(xv) * packed_at(w, j, kk);
      }
      y[i * w.n + j] = acc;
    }
  return y;
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

struct Shape {
  int64_t m, n, k;
};
const Shape kShapes[] = {{1, 1, 1},     {3, 33, 7},    {17, 70, 129},  {1, 100, 64},
                         {17, 64, 32},  {3, 130, 33},  {13, 257, 300}, {1, 1536, 48},
                         {64, 100, 40}, {130, 200, 64}};

class GemmTest : public ::testing::TestWithParam<ElemType> {};

TEST_P(GemmTest, MatchesReferenceOnEveryIsa) {
  const ElemType type = GetParam();
  ThreadPool pool(2);
  for (const Shape& s : kShapes) {
    const auto wsrc = random_floats(static_cast<size_t>(s.n * s.k), 1, -1.f, 1.f);
    const auto x = random_floats(static_cast<size_t>(s.m * s.k), 2, -1.f, 1.f);
    const PackedMatrix w = pack_matrix(wsrc.data(), ElemType::kF32, s.n, s.k, type);
    const auto ref = reference(x, w, s.m);
    for (Isa isa : supported_isas()) {
      const auto y = run(x, w, s.m, isa, &pool);
      for (size_t i = 0; i < y.size(); ++i) {
        ASSERT_NEAR(y[i], ref[i], 1e-5 * s.k + 1e-6) << internal::isa_name(isa) << " m=" << s.m
                                                     << " n=" << s.n << " k=" << s.k << " i=" << i;
      }
    }
  }
}

TEST_P(GemmTest, RowAloneEqualsRowInBatchAcrossThreads) {
  const ElemType type = GetParam();
  ThreadPool p1(1), p2(2), p3(3);
  ThreadPool* pools[] = {&p1, &p2, &p3};
  for (const Shape& s : kShapes) {
    const auto wsrc = random_floats(static_cast<size_t>(s.n * s.k), 3, -1.f, 1.f);
    const PackedMatrix w = pack_matrix(wsrc.data(), ElemType::kF32, s.n, s.k, type);
    const int64_t m = std::max<int64_t>(s.m, 17);
    const auto x = random_floats(static_cast<size_t>(m * s.k), 4, -1.f, 1.f);
    for (Isa isa : supported_isas()) {
      const auto batch = run(x, w, m, isa, &p2);
      for (ThreadPool* pool : pools) {
        const auto again = run(x, w, m, isa, pool);
        ASSERT_EQ(0, std::memcmp(batch.data(), again.data(), batch.size() * 4))
            << internal::isa_name(isa) << " threads=" << pool->size();
      }
      for (int64_t i = 0; i < m; ++i) {
        std::vector<float> row(x.begin() + i * s.k, x.begin() + (i + 1) * s.k);
        const auto alone = run(row, w, 1, isa, pools[i % 3]);
        ASSERT_EQ(0, std::memcmp(alone.data(), batch.data() + i * s.n, s.n * 4))
            << internal::isa_name(isa) << " row " << i << " n=" << s.n << " k=" << s.k;
      }
    }
  }
}

TEST_P(GemmTest, PathsAgree) {
  // fp32: every path runs the same fma chain, so the bits agree. bf16: the same up to
  // vdpbf16ps's denormal flushing, which these inputs never reach.
  const ElemType type = GetParam();
  ThreadPool pool(2);
  for (const Shape& s : kShapes) {
    const auto wsrc = random_floats(static_cast<size_t>(s.n * s.k), 5, -1.f, 1.f);
    const auto x = random_floats(static_cast<size_t>(s.m * s.k), 6, -1.f, 1.f);
    const PackedMatrix w = pack_matrix(wsrc.data(), ElemType::kF32, s.n, s.k, type);
    const auto base = run(x, w, s.m, Isa::kScalar, &pool);
    for (Isa isa : supported_isas()) {
      const auto y = run(x, w, s.m, isa, &pool);
      EXPECT_EQ(0, std::memcmp(base.data(), y.data(), y.size() * 4))
          << internal::isa_name(isa) << " m=" << s.m << " n=" << s.n << " k=" << s.k;
    }
  }
}

TEST_P(GemmTest, StridesAccumulateAndMany) {
  const ElemType type = GetParam();
  ThreadPool pool(3);
  const int64_t m = 5, n = 45, k = 19, ldx = 23, ldy = 50;
  const auto wsrc = random_floats(static_cast<size_t>(n * k), 7, -1.f, 1.f);
  const PackedMatrix w = pack_matrix(wsrc.data(), ElemType::kF32, n, k, type);
  const auto xs = random_floats(static_cast<size_t>(m * ldx), 8, -1.f, 1.f);
  std::vector<float> xdense(static_cast<size_t>(m * k));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t kk = 0; kk < k; ++kk)
      xdense[i * k + kk] = xs[i * ldx + kk];
  for (Isa isa : supported_isas()) {
    const auto plain = run(xdense, w, m, isa, &pool);
    std::vector<float> y(static_cast<size_t>(m * ldy), 0.5f), y2(static_cast<size_t>(m * n));
    MatmulArgs a[2];
    a[0].x = xs.data();
    a[0].w = &w;
    a[0].y = y.data();
    a[0].m = m;
    a[0].ldx = ldx;
    a[0].ldy = ldy;
    a[0].accumulate = true;
    a[1].x = xdense.data();
    a[1].w = &w;
    a[1].y = y2.data();
    a[1].m = m;
    internal::matmul_many_with_isa(a, &pool, isa);
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < ldy; ++j) {
        const float want = j < n ? 0.5f + plain[i * n + j] : 0.5f;
        ASSERT_EQ(want, y[i * ldy + j]) << internal::isa_name(isa) << " " << i << "," << j;
      }
    }
    ASSERT_EQ(0, std::memcmp(plain.data(), y2.data(), y2.size() * 4));
  }
}

INSTANTIATE_TEST_SUITE_P(Types, GemmTest, ::testing::Values(ElemType::kF32, ElemType::kBF16),
                         [](const auto& info) {
                           return info.param == ElemType::kF32 ? "F32" : "BF16";
                         });

TEST(Gemm, PackRoundTrip) {
  const int64_t n = 37, k = 11;
  const auto src = random_floats(static_cast<size_t>(n * k), 9, -1.f, 1.f);
  std::vector<uint16_t> bf(src.size()), hf(src.size());
  for (size_t i = 0; i < src.size(); ++i)
    bf[i] = f32_to_bf16(src[i]);
  const PackedMatrix f = pack_matrix(src.data(), ElemType::kF32, n, k, ElemType::kF32);
  const PackedMatrix b = pack_matrix(src.data(), ElemType::kF32, n, k, ElemType::kBF16);
  const PackedMatrix b2 = pack_matrix(bf.data(), ElemType::kBF16, n, k, ElemType::kBF16);
  const PackedMatrix b2f = pack_matrix(bf.data(), ElemType::kBF16, n, k, ElemType::kF32);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(f.storage.get()) % 64, 0u);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t kk = 0; kk < k; ++kk) {
      EXPECT_EQ(packed_at(f, j, kk), src[j * k + kk]);
      EXPECT_EQ(packed_at(b, j, kk), bf16_to_f32(bf[j * k + kk]));
      EXPECT_EQ(packed_at(b2, j, kk), bf16_to_f32(bf[j * k + kk]));
      EXPECT_EQ(packed_at(b2f, j, kk), bf16_to_f32(bf[j * k + kk]));
    }
}

TEST(Gemm, IsaOverride) {
  EXPECT_EQ(internal::narrow_isa(Isa::kAvx512, nullptr), Isa::kAvx512);
  EXPECT_EQ(internal::narrow_isa(Isa::kAvx512, "avx2"), Isa::kAvx2);
  EXPECT_EQ(internal::narrow_isa(Isa::kAvx512, "scalar"), Isa::kScalar);
  EXPECT_EQ(internal::narrow_isa(Isa::kAvx2, "avx2"), Isa::kAvx2);
  EXPECT_EQ(internal::narrow_isa(Isa::kScalar, "avx2"), Isa::kScalar);  // never widens
  EXPECT_EQ(internal::narrow_isa(Isa::kAvx2, "bogus"), Isa::kAvx2);
}

// Many products of different sizes in one region (rows split across items for the big one)
// give the same bits as each product alone on one thread.
TEST(Gemm, ManyEqualsEachAlone) {
  ThreadPool p1(1), p3(3);
  const int64_t ms[] = {0, 1, 9, 50, 200, 7};
  const int64_t ns[] = {33, 40, 64, 40, 40, 300};
  const int64_t k = 45;
  for (ElemType type : {ElemType::kF32, ElemType::kBF16}) {
    for (Isa isa : supported_isas()) {
      std::vector<PackedMatrix> ws;
      std::vector<std::vector<float>> xs, ys;
      std::vector<MatmulArgs> args;
      for (size_t i = 0; i < std::size(ms); ++i) {
        const auto src = random_floats(static_cast<size_t>(ns[i] * k), 20 + i, -1.f, 1.f);
        ws.push_back(pack_matrix(src.data(), ElemType::kF32, ns[i], k, type));
        xs.push_back(random_floats(static_cast<size_t>(ms[i] * k), 40 + i, -1.f, 1.f));
        ys.emplace_back(static_cast<size_t>(ms[i] * ns[i]), 0.f);
      }
      for (size_t i = 0; i < std::size(ms); ++i) {
        MatmulArgs a;
        a.x = xs[i].data();
        a.w = &ws[i];
        a.y = ys[i].data();
        a.m = ms[i];
        args.push_back(a);
      }
      internal::matmul_many_with_isa(args, &p3, isa);
      for (size_t i = 0; i < std::size(ms); ++i) {
        const auto alone = run(xs[i], ws[i], ms[i], isa, &p1);
        ASSERT_EQ(0, std::memcmp(alone.data(), ys[i].data(), alone.size() * 4))
            << internal::isa_name(isa) << " product " << i;
      }
    }
  }
}

TEST(Gemm, IsaName) {
  const std::string name = cpu_isa_name();
  EXPECT_TRUE(name == "avx512" || name == "avx2" || name == "scalar") << name;
  std::printf("active ISA: %s\n", name.c_str());
}

TEST(Gemm, BF16RoundingSameOnEveryPath) {
  std::vector<float> x = random_floats(101, 10, -1.f, 1.f);
  x[3] = NAN;
  x[4] = INFINITY;
  x[5] = -0.f;
  x[6] = 1.00390625f;  // halfway between two bf16 values: rounds to even
  x[7] = 3.4e38f;
  std::vector<uint16_t> a(102), b(102);
  internal::round_rows_bf16_scalar(x.data(), 1, 101, 101, a.data(), 102);
  for (size_t i = 0; i < 101; ++i)
    EXPECT_EQ(a[i], f32_to_bf16(x[i]));
  if (internal::isa_supported(Isa::kAvx512)) {
    internal::round_rows_bf16_avx512(x.data(), 1, 101, 101, b.data(), 102);
    EXPECT_EQ(a, b);
  }
}

}  // namespace
}  // namespace sieve::kernels
