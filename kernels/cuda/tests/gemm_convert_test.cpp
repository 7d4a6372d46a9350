// The cuBLASLt GEMM wrapper (kernels/cuda/gemm.h) against a plain host product, and the
// conversion and fill kernels (kernels/cuda/convert.h) against the host functions they mirror.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/numeric.h"
#include "kernels/cuda/convert.h"
#include "kernels/cuda/gemm.h"
#include "kernels/cuda/tests/device_buffer.h"
#include "tests/support/random.h"

namespace sieve::cuda {
namespace {

using test_inputs::random_floats;

using test::DeviceBuffer;

// y[m, n] = x[m, k] · w[n, k]ᵀ in double.
std::vector<float> host_linear(const std::vector<float>& x, const std::vector<float>& w, int64_t m,
                               int64_t n, int64_t k) {
  std::vector<float> y(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t q = 0; q < k; ++q)
        acc += static_cast<double>(x[i * k + q]) * w[j * k + q];
      y[i * n + j] = static_cast<float>(acc);
    }
  }
  return y;
}

struct Shape {
  int64_t m, n, k;
};

const Shape kShapes[] = {{1, 1, 1},     {1, 2048, 2048}, {3, 5, 7},   {7, 768, 2048},
                         {64, 130, 33}, {257, 96, 128},  {0, 16, 16}, {33, 1, 4096}};

TEST(CudaGemm, Fp32MatchesTheHostProduct) {
  LtGemm gemm;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << s.m << "x" << s.n << "x" << s.k);
    const auto x = random_floats(s.m * s.k, 1, -1.f, 1.f),
               w = random_floats(s.n * s.k, 2, -1.f, 1.f);
    auto dx = DeviceBuffer<float>::from_host(x);
    auto dw = DeviceBuffer<float>::from_host(w);
    DeviceBuffer<float> dy(s.m * s.n);
    GemmParams p{dx.data(), dw.data(), dy.data(), s.m, s.n, s.k, WeightType::kF32};
    gemm.run(p, nullptr);
    const auto got = dy.to_host();
    const auto want = host_linear(x, w, s.m, s.n, s.k);
    // TF32 off: fp32 products, only the summation order differs.
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-5 * (1 + std::sqrt(static_cast<double>(s.k)))) << i;
  }
}

TEST(CudaGemm, Bf16MatchesTheHostProductOfRoundedOperands) {
  LtGemm gemm;
  for (const Shape& s : kShapes) {
    SCOPED_TRACE(testing::Message() << s.m << "x" << s.n << "x" << s.k);
    auto x = random_floats(s.m * s.k, 3, -1.f, 1.f), w = random_floats(s.n * s.k, 4, -1.f, 1.f);
    std::vector<uint16_t> xb(x.size()), wb(w.size());
    for (size_t i = 0; i < x.size(); ++i) {
      xb[i] = kernels::f32_to_bf16(x[i]);
      x[i] = kernels::bf16_to_f32(xb[i]);
    }
    for (size_t i = 0; i < w.size(); ++i) {
      wb[i] = kernels::f32_to_bf16(w[i]);
      w[i] = kernels::bf16_to_f32(wb[i]);
    }
    auto dx = DeviceBuffer<uint16_t>::from_host(xb);
    auto dw = DeviceBuffer<uint16_t>::from_host(wb);
    DeviceBuffer<float> dy(s.m * s.n);
    GemmParams p{dx.data(), dw.data(), dy.data(), s.m, s.n, s.k, WeightType::kBF16};
    gemm.run(p, nullptr);
    const auto got = dy.to_host();
    const auto want = host_linear(x, w, s.m, s.n, s.k);
    for (size_t i = 0; i < want.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::sqrt(static_cast<double>(s.k)))) << i;
  }
}

TEST(CudaConvert, F32ToBf16RoundsAsTheHostDoes) {
  for (int64_t n : {0, 1, 7, 1000, 1 << 20}) {
    auto x = random_floats(n, 5, -1.f, 1.f);
    if (n > 4) {
      x[0] = 0.f;
      x[1] = -0.f;
      x[2] = 1e-40f;                      // denormal
      x[3] = 3.4e38f;                     // rounds to +inf in bf16
      x[4] = std::nextafter(1.0f, 2.0f);  // a tie-breaking case
    }
    auto dx = DeviceBuffer<float>::from_host(x);
    DeviceBuffer<uint16_t> dy(n);
    f32_to_bf16(dx.data(), dy.data(), n, nullptr);
    const auto got = dy.to_host();
    for (int64_t i = 0; i < n; ++i)
      ASSERT_EQ(got[i], kernels::f32_to_bf16(x[i])) << i << " " << x[i];
  }
}

TEST(CudaConvert, FillsEqualTheHostFills) {
  const kernels::FillSpec random{kernels::fill_key(7, 3), 0.f, 0.05f};
  const kernels::FillSpec ones{kernels::fill_key(7, 4), 1.f, 0.f};
  for (const auto& spec : {random, ones}) {
    for (int64_t n : {0, 1, 5, 65537, 3 << 20}) {
      DeviceBuffer<float> f(n);
      DeviceBuffer<uint16_t> b(n);
      fill_weights({f.data(), WeightType::kF32, n, spec}, nullptr);
      fill_weights({b.data(), WeightType::kBF16, n, spec}, nullptr);
      const auto gf = f.to_host();
      const auto gb = b.to_host();
      for (int64_t i = 0; i < n; ++i) {
        const float want = spec.at(static_cast<uint64_t>(i));
        ASSERT_EQ(gf[i], want) << i;
        ASSERT_EQ(gb[i], kernels::f32_to_bf16(want)) << i;
      }
    }
  }
}

}  // namespace
}  // namespace sieve::cuda
