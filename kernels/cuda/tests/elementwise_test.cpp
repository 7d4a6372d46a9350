// The CUDA elementwise kernels and the router against the CPU kernels in kernels/cpu (or a plain
// loop where the CPU side has no kernel), across sizes: zero rows, one row, odd widths, strided
// rows, 4096 tokens.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cpu/attention.h"
#include "kernels/cpu/numeric.h"
#include "kernels/cpu/ops.h"
#include "kernels/cuda/elementwise.h"
#include "kernels/cuda/router.h"
#include "kernels/cuda/tests/device_buffer.h"
#include "tests/support/random.h"

namespace sieve::cuda {
namespace {

using test_inputs::random_floats;

using test::DeviceBuffer;

// |a - b| ≤ abs + rel·|b| for every element.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, float rel,
                  float abs, const char* what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size() && bad < 5; ++i) {
    if (!(std::fabs(got[i] - want[i]) <= abs + rel * std::fabs(want[i]))) {
      ADD_FAILURE() << what << " [" << i << "]: got " << got[i] << " want " << want[i];
      ++bad;
    }
  }
}

// ---- embedding / gather_rows ----------------------------------------------------------------

void check_embedding(int64_t tokens, int64_t vocab, int64_t hidden, WeightType type) {
  SCOPED_TRACE(testing::Message() << "tokens " << tokens << " vocab " << vocab << " hidden "
                                  << hidden << (type == WeightType::kBF16 ? " bf16" : " f32"));
  const std::vector<float> tf = random_floats(vocab * hidden, 1, -2.f, 2.f);
  std::vector<uint16_t> tb(tf.size());
  for (size_t i = 0; i < tf.size(); ++i)
    tb[i] = kernels::f32_to_bf16(tf[i]);
  std::vector<int32_t> ids(tokens);
  std::mt19937 rng(2);
  for (auto& id : ids)
    id = static_cast<int32_t>(rng() % vocab);
  std::vector<float> want(tokens * hidden);
  for (int64_t t = 0; t < tokens; ++t)
    for (int64_t h = 0; h < hidden; ++h)
      want[t * hidden + h] = type == WeightType::kF32
                                 ? tf[ids[t] * hidden + h]
                                 : kernels::bf16_to_f32(tb[ids[t] * hidden + h]);
  auto dtf = DeviceBuffer<float>::from_host(tf);
  auto dtb = DeviceBuffer<uint16_t>::from_host(tb);
  auto did = DeviceBuffer<int32_t>::from_host(ids);
  DeviceBuffer<float> out(tokens * hidden);
  EmbeddingParams p;
  p.table = type == WeightType::kF32 ? static_cast<const void*>(dtf.data())
                                     : static_cast<const void*>(dtb.data());
  p.table_type = type;
  p.ids = did.data();
  p.out = out.data();
  p.tokens = tokens;
  p.vocab = vocab;
  p.hidden = hidden;
  embedding(p, nullptr);
  EXPECT_EQ(out.to_host(), want);
}

TEST(CudaEmbedding, MatchesTableRows) {
  for (WeightType type : {WeightType::kF32, WeightType::kBF16}) {
    check_embedding(0, 7, 16, type);
    check_embedding(1, 7, 16, type);
    check_embedding(5, 11, 3, type);
    check_embedding(9, 13, 37, type);
    check_embedding(64, 100, 2048, type);
    check_embedding(4096, 50, 2048, type);
  }
}

TEST(CudaEmbedding, OutOfRangeIdGivesZeros) {
  const std::vector<float> table = random_floats(4 * 8, 3, -2.f, 2.f);
  auto dt = DeviceBuffer<float>::from_host(table);
  auto did = DeviceBuffer<int32_t>::from_host({2, -1, 4, 1});
  DeviceBuffer<float> out(4 * 8);
  EmbeddingParams p;
  p.table = dt.data();
  p.ids = did.data();
  p.out = out.data();
  p.tokens = 4;
  p.vocab = 4;
  p.hidden = 8;
  embedding(p, nullptr);
  const std::vector<float> got = out.to_host();
  for (int h = 0; h < 8; ++h) {
    EXPECT_EQ(got[0 * 8 + h], table[2 * 8 + h]);
    EXPECT_EQ(got[1 * 8 + h], 0.f);
    EXPECT_EQ(got[2 * 8 + h], 0.f);
    EXPECT_EQ(got[3 * 8 + h], table[1 * 8 + h]);
  }
}

TEST(CudaGatherRows, MatchesMemcpyLoop) {
  for (int64_t width : {1, 3, 4, 37, 2048}) {
    for (int64_t n : {0, 1, 5, 4096}) {
      SCOPED_TRACE(testing::Message() << "n " << n << " width " << width);
      const int64_t src_rows = 19;
      const std::vector<float> src = random_floats(src_rows * width, 4, -2.f, 2.f);
      std::vector<int32_t> rows(n);
      for (int64_t i = 0; i < n; ++i)
        rows[i] = static_cast<int32_t>((i * 7 + 3) % src_rows);
      std::vector<float> want(n * width);
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(&want[i * width], &src[rows[i] * width], width * sizeof(float));
      auto ds = DeviceBuffer<float>::from_host(src);
      auto dr = DeviceBuffer<int32_t>::from_host(rows);
      DeviceBuffer<float> out(n * width);
      GatherRowsParams p;
      p.src = ds.data();
      p.rows = dr.data();
      p.out = out.data();
      p.n = n;
      p.src_rows = src_rows;
      p.width = width;
      gather_rows(p, nullptr);
      EXPECT_EQ(out.to_host(), want);
    }
  }
}

// ---- rms_norm / add_rms_norm ----------------------------------------------------------------

struct NormShape {
  int64_t rows, dim, ldx, ldy;  // ld 0 → dim
};

const NormShape kNormShapes[] = {
    {0, 16, 0, 0},   {1, 1, 0, 0},    {1, 7, 0, 0},       {3, 33, 0, 0},      {5, 64, 0, 0},
    {2, 2048, 0, 0}, {7, 37, 41, 40}, {4, 128, 132, 136}, {4096, 2048, 0, 0}, {64, 4096, 0, 0}};

TEST(CudaRmsNorm, MatchesCpu) {
  for (const NormShape& s : kNormShapes) {
    for (bool in_place : {false, true}) {
      SCOPED_TRACE(testing::Message() << "rows " << s.rows << " dim " << s.dim << " ldx " << s.ldx
                                      << " ldy " << s.ldy << " in_place " << in_place);
      const int64_t ldx = s.ldx ? s.ldx : s.dim;
      const int64_t ldy = in_place ? ldx : (s.ldy ? s.ldy : s.dim);
      const std::vector<float> x = random_floats(s.rows * ldx, 5, -3.f, 3.f);
      const std::vector<float> w = random_floats(s.dim, 6, 0.5f, 1.5f);
      std::vector<float> want = in_place ? x : std::vector<float>(s.rows * ldy, 0.f);
      kernels::RmsNormArgs a;
      a.x = x.data();
      a.w = w.data();
      a.y = want.data();
      a.rows = s.rows;
      a.dim = s.dim;
      a.ldx = ldx;
      a.ldy = ldy;
      a.eps = 1e-6f;
      kernels::rms_norm(a, nullptr);

      auto dx = DeviceBuffer<float>::from_host(x);
      auto dw = DeviceBuffer<float>::from_host(w);
      DeviceBuffer<float> dy(in_place ? 0 : s.rows * ldy);
      RmsNormParams p;
      p.x = dx.data();
      p.w = dw.data();
      p.y = in_place ? dx.data() : dy.data();
      p.rows = s.rows;
      p.dim = s.dim;
      p.ldx = ldx;
      p.ldy = ldy;
      p.eps = 1e-6f;
      rms_norm(p, nullptr);
      expect_close(in_place ? dx.to_host() : dy.to_host(), want, 5e-6f, 1e-7f, "rms_norm");
    }
  }
}

TEST(CudaAddRmsNorm, MatchesCpu) {
  for (const NormShape& s : kNormShapes) {
    SCOPED_TRACE(testing::Message()
                 << "rows " << s.rows << " dim " << s.dim << " ld " << s.ldx << " ldy " << s.ldy);
    // The CPU kernel walks residual and x with one stride (ldx).
    const int64_t ld = s.ldx ? s.ldx : s.dim, ldy = s.ldy ? s.ldy : s.dim;
    const std::vector<float> res = random_floats(s.rows * ld, 7, -3.f, 3.f);
    const std::vector<float> x = random_floats(s.rows * ld, 8, -1.f, 1.f);
    const std::vector<float> w = random_floats(s.dim, 9, 0.5f, 1.5f);
    std::vector<float> want_res = res, want_y(s.rows * ldy, 0.f);
    kernels::RmsNormArgs a;
    a.w = w.data();
    a.y = want_y.data();
    a.rows = s.rows;
    a.dim = s.dim;
    a.ldx = ld;
    a.ldy = ldy;
    a.eps = 1e-5f;
    kernels::add_rms_norm(want_res.data(), x.data(), a, nullptr);

    auto dres = DeviceBuffer<float>::from_host(res);
    auto dx = DeviceBuffer<float>::from_host(x);
    auto dw = DeviceBuffer<float>::from_host(w);
    DeviceBuffer<float> dy(s.rows * ldy);
    AddRmsNormParams p;
    p.residual = dres.data();
    p.x = dx.data();
    p.w = dw.data();
    p.y = dy.data();
    p.rows = s.rows;
    p.dim = s.dim;
    p.ld_residual = ld;
    p.ldx = ld;
    p.ldy = ldy;
    p.eps = 1e-5f;
    add_rms_norm(p, nullptr);
    EXPECT_EQ(dres.to_host(), want_res);  // one fp32 add per element: exact
    expect_close(dy.to_host(), want_y, 5e-6f, 1e-7f, "add_rms_norm y");
  }
}

TEST(CudaAddRmsNorm, OutputMayAliasResidual) {
  const int64_t rows = 3, dim = 50;
  const std::vector<float> res = random_floats(rows * dim, 10, -2.f, 2.f);
  const std::vector<float> x = random_floats(rows * dim, 11, -2.f, 2.f);
  const std::vector<float> w = random_floats(dim, 12, -2.f, 2.f);
  std::vector<float> want_res = res, want_y(rows * dim);
  kernels::RmsNormArgs a;
  a.w = w.data();
  a.y = want_y.data();
  a.rows = rows;
  a.dim = dim;
  kernels::add_rms_norm(want_res.data(), x.data(), a, nullptr);
  auto dres = DeviceBuffer<float>::from_host(res);
  auto dx = DeviceBuffer<float>::from_host(x);
  auto dw = DeviceBuffer<float>::from_host(w);
  AddRmsNormParams p;
  p.residual = dres.data();
  p.x = dx.data();
  p.w = dw.data();
  p.y = dres.data();
  p.rows = rows;
  p.dim = dim;
  add_rms_norm(p, nullptr);
  expect_close(dres.to_host(), want_y, 5e-6f, 1e-7f, "aliased y");
}

// ---- rope -----------------------------------------------------------------------------------

struct RopeShape {
  int64_t tokens, heads, head_dim, rotary_dim, ld_token;  // ld 0 → heads * head_dim
};

TEST(CudaRope, MatchesCpu) {
  const RopeShape shapes[] = {{0, 4, 8, 8, 0},         {1, 1, 2, 2, 0},      {3, 2, 10, 6, 0},
                              {5, 3, 64, 32, 200},     {17, 4, 128, 128, 0}, {9, 5, 128, 64, 0},
                              {4096, 32, 128, 128, 0}, {64, 8, 80, 40, 0}};
  for (const RopeShape& s : shapes) {
    for (bool neox : {true, false}) {
      for (float scaling : {1.0f, 1.25f}) {
        SCOPED_TRACE(testing::Message()
                     << "tokens " << s.tokens << " heads " << s.heads << " head_dim " << s.head_dim
                     << " rotary " << s.rotary_dim << " neox " << neox << " scaling " << scaling);
        const int64_t ld = s.ld_token ? s.ld_token : s.heads * s.head_dim;
        const std::vector<float> x = random_floats(s.tokens * ld, 13, -2.f, 2.f);
        std::vector<int32_t> pos(s.tokens);
        for (int64_t t = 0; t < s.tokens; ++t)
          pos[t] = static_cast<int32_t>((t * 37 + 5) % 40000);
        std::vector<float> inv_freq(s.rotary_dim / 2);
        for (size_t i = 0; i < inv_freq.size(); ++i)
          inv_freq[i] = static_cast<float>(
              1.0 / std::pow(1000000.0, 2.0 * static_cast<double>(i) / s.rotary_dim));
        std::vector<float> want = x;
        kernels::RopeArgs a;
        a.x = want.data();
        a.positions = pos.data();
        a.inv_freq = inv_freq.data();
        a.tokens = s.tokens;
        a.heads = s.heads;
        a.head_dim = s.head_dim;
        a.rotary_dim = s.rotary_dim;
        a.ld_token = ld;
        a.neox = neox;
        a.attention_scaling = scaling;
        kernels::rope(a, nullptr);

        auto dx = DeviceBuffer<float>::from_host(x);
        auto dpos = DeviceBuffer<int32_t>::from_host(pos);
        auto dinv = DeviceBuffer<float>::from_host(inv_freq);
        RopeParams p;
        p.x = dx.data();
        p.positions = dpos.data();
        p.inv_freq = dinv.data();
        p.tokens = s.tokens;
        p.heads = s.heads;
        p.head_dim = s.head_dim;
        p.rotary_dim = s.rotary_dim;
        p.ld_token = s.ld_token;
        p.neox = neox;
        p.attention_scaling = scaling;
        rope(p, nullptr);
        // Same fp32 angle, cos/sin rounded from double, unfused products: ~bit-exact.
        expect_close(dx.to_host(), want, 1e-6f, 1e-6f, "rope");
      }
    }
  }
}

// ---- silu_mul / clamp -----------------------------------------------------------------------

TEST(CudaSiluMul, MatchesPlainLoop) {
  struct Shape {
    int64_t rows, inter, ld_gu, ld_out;
  };
  const Shape shapes[] = {{0, 8, 0, 0},    {1, 1, 0, 0},    {3, 7, 0, 0},      {5, 64, 0, 0},
                          {4, 33, 70, 35}, {2, 16, 36, 20}, {4096, 768, 0, 0}, {64, 6144, 0, 0}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(testing::Message() << "rows " << s.rows << " inter " << s.inter);
    const int64_t ld_gu = s.ld_gu ? s.ld_gu : 2 * s.inter, ld_out = s.ld_out ? s.ld_out : s.inter;
    const std::vector<float> gu = random_floats(s.rows * ld_gu, 14, -8.f, 8.f);
    std::vector<float> want(s.rows * ld_out, 0.f);
    for (int64_t r = 0; r < s.rows; ++r)
      for (int64_t c = 0; c < s.inter; ++c) {
        const double g = gu[r * ld_gu + c], u = gu[r * ld_gu + s.inter + c];
        want[r * ld_out + c] = static_cast<float>(g / (1.0 + std::exp(-g)) * u);
      }
    auto dgu = DeviceBuffer<float>::from_host(gu);
    DeviceBuffer<float> out(s.rows * ld_out);
    SiluMulParams p;
    p.gu = dgu.data();
    p.out = out.data();
    p.rows = s.rows;
    p.inter = s.inter;
    p.ld_gu = s.ld_gu;
    p.ld_out = s.ld_out;
    silu_mul(p, nullptr);
    expect_close(out.to_host(), want, 2e-6f, 1e-7f, "silu_mul");
  }
}

TEST(CudaClamp, MatchesStdClamp) {
  for (int64_t n : {0, 1, 3, 4, 5, 37, 1024, 1 << 20}) {
    for (int64_t offset : {0, 1, 2, 3}) {  // misaligned starts
      SCOPED_TRACE(testing::Message() << "n " << n << " offset " << offset);
      std::vector<float> x = random_floats(n + offset, 15, -10.f, 10.f);
      if (n > 2) x[offset + 1] = NAN;
      std::vector<float> want = x;
      for (int64_t i = offset; i < offset + n; ++i)
        want[i] = std::clamp(want[i], -3.5f, 3.5f);
      auto dx = DeviceBuffer<float>::from_host(x);
      clamp(dx.data() + offset, n, 3.5f, nullptr);
      const std::vector<float> got = dx.to_host();
      ASSERT_EQ(got.size(), want.size());
      for (size_t i = 0; i < got.size(); ++i) {
        if (std::isnan(want[i])) {
          EXPECT_TRUE(std::isnan(got[i])) << i;
        } else {
          ASSERT_EQ(got[i], want[i]) << i;
        }
      }
    }
  }
}

// ---- router ---------------------------------------------------------------------------------

void check_router(int64_t tokens, int64_t experts, int64_t k, bool renormalize,
                  const std::vector<float>& logits) {
  SCOPED_TRACE(testing::Message() << "tokens " << tokens << " experts " << experts << " k " << k
                                  << " renormalize " << renormalize);
  std::vector<int32_t> want_ids(tokens * k);
  std::vector<float> want_w(tokens * k);
  kernels::TopkArgs a;
  a.logits = logits.data();
  a.tokens = tokens;
  a.experts = experts;
  a.k = k;
  a.renormalize = renormalize;
  a.ids = want_ids.data();
  a.weights = want_w.data();
  kernels::softmax_topk(a);

  auto dl = DeviceBuffer<float>::from_host(logits);
  DeviceBuffer<int32_t> ids(tokens * k);
  DeviceBuffer<float> w(tokens * k);
  RouterTopkParams p;
  p.logits = dl.data();
  p.tokens = tokens;
  p.experts = experts;
  p.k = k;
  p.renormalize = renormalize;
  p.ids = ids.data();
  p.weights = w.data();
  router_topk(p, nullptr);
  EXPECT_EQ(ids.to_host(), want_ids);
  expect_close(w.to_host(), want_w, 1e-6f, 0.f, "router weights");
}

TEST(CudaRouterTopk, MatchesCpu) {
  for (int64_t experts : {1, 2, 8, 31, 32, 33, 60, 64, 128, 160, 256, 384, 512}) {
    for (int64_t k : {1, 2, 4, 6, 8}) {
      if (k > experts) continue;
      for (int64_t tokens : {0, 1, 7, 333}) {
        const std::vector<float> logits = random_floats(tokens * experts, 16, -6.f, 6.f);
        check_router(tokens, experts, k, true, logits);
        check_router(tokens, experts, k, false, logits);
      }
    }
  }
}

TEST(CudaRouterTopk, LargeK) {
  const std::vector<float> logits = random_floats(50 * 512, 17, -2.f, 2.f);
  check_router(50, 512, 32, true, logits);
  check_router(50, 64, 32, false, logits);
}

TEST(CudaRouterTopk, TiesGoToLowerId) {
  // Quantised logits: many exact ties, including ties straddling the k-th place.
  for (int64_t experts : {8, 64, 128, 512}) {
    std::mt19937 rng(18);
    const int64_t tokens = 97;
    std::vector<float> logits(tokens * experts);
    for (auto& l : logits)
      l = static_cast<float>(static_cast<int>(rng() % 4)) * 0.5f;
    for (int64_t k : {1, 2, 3, 8})
      check_router(tokens, experts, k, true, logits);
    // All equal: ids 0..k-1, weights 1/k.
    const std::vector<float> flat(tokens * experts, 0.25f);
    check_router(tokens, experts, 8, true, flat);
  }
}

TEST(CudaRouterTopk, ManyTokens) {
  const std::vector<float> logits = random_floats(4096 * 128, 19, -4.f, 4.f);
  check_router(4096, 128, 8, true, logits);
}

// ---- kv_write -------------------------------------------------------------------------------

TEST(CudaKvWrite, MatchesCpuWithPaddingSlots) {
  struct Shape {
    int64_t tokens, kv_heads, head_dim, ld_k, ld_v;
  };
  const Shape shapes[] = {{0, 2, 8, 0, 0},      {1, 1, 1, 0, 0},    {5, 3, 7, 0, 0},
                          {9, 2, 64, 300, 260}, {33, 4, 128, 0, 0}, {4096, 4, 128, 0, 0},
                          {7, 1, 5, 11, 6}};
  for (const Shape& s : shapes) {
    SCOPED_TRACE(testing::Message() << "tokens " << s.tokens << " kv_heads " << s.kv_heads
                                    << " head_dim " << s.head_dim);
    const int64_t row = s.kv_heads * s.head_dim;
    const int64_t ld_k = s.ld_k ? s.ld_k : row, ld_v = s.ld_v ? s.ld_v : row;
    const int64_t block_size = 16;
    const int64_t num_slots = ((s.tokens * 2 + 31) / block_size) * block_size;
    const std::vector<float> k = random_floats(s.tokens * ld_k, 20, -2.f, 2.f);
    const std::vector<float> v = random_floats(s.tokens * ld_v, 21, -2.f, 2.f);
    // Distinct slots, scattered; every fourth token is padding.
    std::vector<int64_t> slots(s.tokens);
    for (int64_t t = 0; t < s.tokens; ++t)
      slots[t] = t % 4 == 3 ? -1 : (t * 2 + 7) % num_slots;
    const std::vector<float> kc0 = random_floats(num_slots * row, 22, -2.f, 2.f);
    const std::vector<float> vc0 = random_floats(num_slots * row, 23, -2.f, 2.f);
    std::vector<float> want_k = kc0, want_v = vc0;
    kernels::KvWriteArgs a;
    a.k = k.data();
    a.v = v.data();
    a.slots = slots.data();
    a.k_cache = want_k.data();
    a.v_cache = want_v.data();
    a.tokens = s.tokens;
    a.num_kv_heads = s.kv_heads;
    a.head_dim = s.head_dim;
    a.ld_k = ld_k;
    a.ld_v = ld_v;
    kernels::kv_write(a);

    auto dk = DeviceBuffer<float>::from_host(k);
    auto dv = DeviceBuffer<float>::from_host(v);
    auto ds = DeviceBuffer<int64_t>::from_host(slots);
    auto dkc = DeviceBuffer<float>::from_host(kc0);
    auto dvc = DeviceBuffer<float>::from_host(vc0);
    KvWriteParams p;
    p.k = dk.data();
    p.v = dv.data();
    p.slots = ds.data();
    p.k_cache = dkc.data();
    p.v_cache = dvc.data();
    p.tokens = s.tokens;
    p.num_kv_heads = s.kv_heads;
    p.head_dim = s.head_dim;
    p.ld_k = s.ld_k;
    p.ld_v = s.ld_v;
    kv_write(p, nullptr);
    EXPECT_EQ(dkc.to_host(), want_k);
    EXPECT_EQ(dvc.to_host(), want_v);
  }
}

}  // namespace
}  // namespace sieve::cuda
