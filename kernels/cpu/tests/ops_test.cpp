// Norms, activation, rope and router top-k against plain references.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "kernels/cpu/ops.h"
#include "tests/support/random.h"

namespace sieve::kernels {
namespace {

using test_inputs::random_floats;

TEST(Ops, RmsNorm) {
  ThreadPool pool(2);
  for (int64_t rows : {1, 3, 17, 300}) {
    for (int64_t dim : {1, 7, 129, 2048}) {
      const auto x = random_floats(static_cast<size_t>(rows * dim), 1, -2.f, 2.f);
      const auto w = random_floats(static_cast<size_t>(dim), 2, -2.f, 2.f);
      std::vector<float> y(x.size());
      RmsNormArgs a;
      a.x = x.data();
      a.w = w.data();
      a.y = y.data();
      a.rows = rows;
      a.dim = dim;
      a.eps = 1e-6f;
      rms_norm(a, &pool);
      for (int64_t r = 0; r < rows; ++r) {
        double ss = 0;
        for (int64_t c = 0; c < dim; ++c)
          ss += double(x[r * dim + c]) * x[r * dim + c];
        const double inv = 1.0 / std::sqrt(ss / dim + 1e-6);
        for (int64_t c = 0; c < dim; ++c)
          ASSERT_NEAR(y[r * dim + c], w[c] * x[r * dim + c] * inv,
                      1e-5 * (1 + std::fabs(y[r * dim + c])));
      }
      // In place, one thread: same bits.
      std::vector<float> z = x;
      a.x = z.data();
      a.y = z.data();
      rms_norm(a, nullptr);
      ASSERT_EQ(z, y);
    }
  }
}

TEST(Ops, AddRmsNorm) {
  ThreadPool pool(3);
  const int64_t rows = 33, dim = 100;
  auto res = random_floats(static_cast<size_t>(rows * dim), 3, -2.f, 2.f);
  const auto x = random_floats(res.size(), 4, -2.f, 2.f);
  const auto w = random_floats(static_cast<size_t>(dim), 5, -2.f, 2.f);
  std::vector<float> sum(res.size()), want(res.size()), y(res.size());
  for (size_t i = 0; i < res.size(); ++i)
    sum[i] = res[i] + x[i];
  RmsNormArgs a;
  a.x = sum.data();
  a.w = w.data();
  a.y = want.data();
  a.rows = rows;
  a.dim = dim;
  rms_norm(a, nullptr);
  a.x = res.data();
  a.y = y.data();
  add_rms_norm(res.data(), x.data(), a, &pool);
  EXPECT_EQ(res, sum);
  EXPECT_EQ(y, want);
}

TEST(Ops, SiluMul) {
  ThreadPool pool(2);
  for (int64_t rows : {1, 5, 64}) {
    const int64_t inter = 77;
    const auto gu = random_floats(static_cast<size_t>(rows * 2 * inter), 6, -8.f, 8.f);
    std::vector<float> out(static_cast<size_t>(rows * inter));
    silu_mul(gu.data(), rows, inter, 2 * inter, out.data(), inter, &pool);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < inter; ++c) {
        const double g = gu[r * 2 * inter + c], u = gu[r * 2 * inter + inter + c];
        ASSERT_NEAR(out[r * inter + c], g / (1 + std::exp(-g)) * u, 1e-5);
      }
  }
}

// gpt-oss's clamped SwiGLU against its definition in double, with values on both sides of the
// limit (gate above it clamps, up clamps both ways).
TEST(Ops, ClampedSwiglu) {
  ThreadPool pool(2);
  const double limit = 7.0, alpha = 1.702;
  for (int64_t rows : {1, 5, 64}) {
    const int64_t inter = 77;
    const auto gu = random_floats(static_cast<size_t>(rows * 2 * inter), 9, -12.f, 12.f);
    std::vector<float> out(static_cast<size_t>(rows * inter));
    clamped_swiglu(gu.data(), rows, inter, 2 * inter, out.data(), inter, 7.0f, 1.702f, &pool);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t c = 0; c < inter; ++c) {
        const double g = std::min(double(gu[r * 2 * inter + c]), limit);
        const double u = std::clamp(double(gu[r * 2 * inter + inter + c]), -limit, limit);
        const double want = g / (1 + std::exp(-alpha * g)) * (u + 1);
        ASSERT_NEAR(out[r * inter + c], want, 1e-5 * std::max(1.0, std::abs(want)));
      }
  }
}

TEST(Ops, AddBias) {
  ThreadPool pool(2);
  const int64_t rows = 9, n = 33, ld = 40;
  auto y = random_floats(static_cast<size_t>(rows * ld), 10, -1.f, 1.f);
  const auto before = y;
  const auto bias = random_floats(static_cast<size_t>(n), 11, -1.f, 1.f);
  add_bias(y.data(), rows, n, ld, bias.data(), &pool);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < ld; ++c)  // columns past n (the stride's padding) untouched
      ASSERT_EQ(y[r * ld + c], before[r * ld + c] + (c < n ? bias[c] : 0.f));
}

TEST(Ops, ExpShifted) {
  for (int64_t n : {1, 15, 16, 17, 1023, 1024, 1025, 151669}) {
    auto x = random_floats(static_cast<size_t>(n), 12, -30.f, 30.f);
    const float mx = *std::max_element(x.begin(), x.end());
    for (float scale : {1.0f, 1.0f / 0.7f, 1.0f / 1.5f}) {
      std::vector<float> out(static_cast<size_t>(n));
      const double sum = exp_shifted(x.data(), n, mx, scale, out.data());
      double want_sum = 0;
      for (int64_t i = 0; i < n; ++i) {
        const double arg = (static_cast<double>(x[i]) - mx) * scale;
        const double want = std::exp(arg);
        want_sum += want;
        // The argument is formed in fp32 (relative error ~2^-24 |arg|), then exp to ~1 ulp.
        ASSERT_NEAR(out[i], want, want * (2e-6 + 1.2e-7 * std::abs(arg)) + 1e-37)
            << "n " << n << " i " << i;
      }
      EXPECT_NEAR(sum, want_sum, 1e-5 * want_sum) << "n " << n;
    }
  }
}

class RopeTest : public ::testing::TestWithParam<bool> {};

TEST_P(RopeTest, MatchesReference) {
  const bool neox = GetParam();
  ThreadPool pool(2);
  const int64_t tokens = 9, heads = 3, head_dim = 16, rotary_dim = 12, ld = heads * head_dim + 5;
  std::vector<float> inv_freq(rotary_dim / 2);
  for (int64_t i = 0; i < rotary_dim / 2; ++i)
    inv_freq[i] = 1.0f / std::pow(10000.f, 2.0f * i / rotary_dim);
  std::vector<int32_t> pos(tokens);
  for (int64_t t = 0; t < tokens; ++t)
    pos[t] = static_cast<int32_t>(t * 97 + 3);
  const auto x0 = random_floats(static_cast<size_t>(tokens * ld), 7, -2.f, 2.f);
  auto x = x0;
  RopeArgs a;
  a.x = x.data();
  a.positions = pos.data();
  a.inv_freq = inv_freq.data();
  a.tokens = tokens;
  a.heads = heads;
  a.head_dim = head_dim;
  a.rotary_dim = rotary_dim;
  a.ld_token = ld;
  a.neox = neox;
  a.attention_scaling = 0.9f;
  rope(a, &pool);
  const int64_t half = rotary_dim / 2;
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < heads; ++h) {
      const float* in = x0.data() + t * ld + h * head_dim;
      const float* out = x.data() + t * ld + h * head_dim;
      for (int64_t i = 0; i < half; ++i) {
        const int64_t i0 = neox ? i : 2 * i, i1 = neox ? i + half : 2 * i + 1;
        const double ang = double(float(pos[t]) * inv_freq[i]);
        const double c = std::cos(ang) * 0.9, s = std::sin(ang) * 0.9;
        ASSERT_NEAR(out[i0], in[i0] * c - in[i1] * s, 1e-5);
        ASSERT_NEAR(out[i1], in[i1] * c + in[i0] * s, 1e-5);
      }
      for (int64_t d = rotary_dim; d < head_dim; ++d)
        ASSERT_EQ(out[d], in[d]);
    }
  // Padding between tokens untouched.
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t d = heads * head_dim; d < ld; ++d)
      ASSERT_EQ(x[t * ld + d], x0[t * ld + d]);
}

INSTANTIATE_TEST_SUITE_P(Layouts, RopeTest, ::testing::Values(true, false));

TEST(Ops, SoftmaxTopkAndTies) {
  const int64_t tokens = 3, experts = 8, k = 3;
  std::vector<float> logits = {1,  5, 5, 2, 5,  0, 0, 0,  // ties: ids 1, 2, 4
                               0,  0, 0, 0, 0,  0, 0, 0,  // all equal: 0, 1, 2
                               -1, 3, 2, 9, -4, 2, 8, 1};
  std::vector<int32_t> ids(tokens * k);
  std::vector<float> w(tokens * k);
  TopkArgs a;
  a.logits = logits.data();
  a.tokens = tokens;
  a.experts = experts;
  a.k = k;
  a.ids = ids.data();
  a.weights = w.data();
  a.renormalize = false;
  softmax_topk(a);
  EXPECT_EQ(ids, (std::vector<int32_t>{1, 2, 4, 0, 1, 2, 3, 6, 1}));
  for (int64_t t = 0; t < tokens; ++t) {
    double mx = -1e30, sum = 0;
    for (int64_t e = 0; e < experts; ++e)
      mx = std::max<double>(mx, logits[t * experts + e]);
    for (int64_t e = 0; e < experts; ++e)
      sum += std::exp(logits[t * experts + e] - mx);
    for (int64_t j = 0; j < k; ++j)
      EXPECT_NEAR(w[t * k + j], std::exp(logits[t * experts + ids[t * k + j]] - mx) / sum, 1e-6);
  }
  a.renormalize = true;
  softmax_topk(a);
  for (int64_t t = 0; t < tokens; ++t) {
    double sum = 0;
    for (int64_t j = 0; j < k; ++j)
      sum += w[t * k + j];
    EXPECT_NEAR(sum, 1.0, 1e-6);
  }
  EXPECT_NEAR(w[0], 1.0 / 3, 1e-6);
}

}  // namespace
}  // namespace sieve::kernels
