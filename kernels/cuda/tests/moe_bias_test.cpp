// The MoE pipeline with expert biases and gpt-oss's clamped SwiGLU (moe.h, steps 4b and 4c)
// against a double-precision host evaluation of transformers' GptOssExperts formula, for every
// expert-product variant a caller may pin (the tensor-core ones fall back to the CUDA cores),
// both weight types, decode and prefill sizes, and experts that get no rows.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "kernels/cuda/moe.h"
#include "kernels/cuda/tests/device_buffer.h"

namespace sieve::cuda {
namespace {

using test::DeviceBuffer;

uint16_t bf16_bits(float f) {  // round to nearest even (finite inputs)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}
float from_bits(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct Case {
  int64_t tokens, top_k, experts, hidden, inter;
  WeightType wt;
  MoeGemmVariant gemm;
};

void check(const Case& c, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  auto randoms = [&](int64_t n, float scale) {
    std::vector<float> v(static_cast<size_t>(n));
    for (float& x : v)
      x = from_bits(bf16_bits(u(rng) * scale));  // bf16-exact: one reference for both types
    return v;
  };
  // Routing: distinct experts per token, drawn from the lower half so the upper half is empty.
  const int64_t pool = std::max<int64_t>(c.top_k, c.experts / 2);
  std::vector<int32_t> ids;
  for (int64_t t = 0; t < c.tokens; ++t) {
    std::vector<int32_t> cand(pool);
    for (int64_t e = 0; e < pool; ++e)
      cand[e] = static_cast<int32_t>(e);
    std::shuffle(cand.begin(), cand.end(), rng);
    ids.insert(ids.end(), cand.begin(), cand.begin() + c.top_k);
  }
  const auto wts = randoms(c.tokens * c.top_k, 1.f);
  const auto x = randoms(c.tokens * c.hidden, 1.f);
  // Weights large enough that gate and up cross the limit (7) in both directions.
  const auto gu = randoms(c.experts * 2 * c.inter * c.hidden, 12.f / std::sqrt(float(c.hidden)));
  const auto dn = randoms(c.experts * c.hidden * c.inter, 1.f / std::sqrt(float(c.inter)));
  const auto gub = randoms(c.experts * 2 * c.inter, 2.f);
  const auto db = randoms(c.experts * c.hidden, 0.5f);

  auto weights = [&](const std::vector<float>& host) {
    std::vector<uint16_t> bits(host.size());
    for (size_t i = 0; i < host.size(); ++i)
      bits[i] = bf16_bits(host[i]);
    return std::pair{DeviceBuffer<float>::from_host(host), DeviceBuffer<uint16_t>::from_host(bits)};
  };
  auto [gu32, gu16] = weights(gu);
  auto [dn32, dn16] = weights(dn);
  auto d_gub = DeviceBuffer<float>::from_host(gub);
  auto d_db = DeviceBuffer<float>::from_host(db);
  std::vector<const void*> pgu(c.experts), pdn(c.experts);
  std::vector<const float*> pgub(c.experts), pdb(c.experts);
  for (int64_t e = 0; e < c.experts; ++e) {
    const bool f32 = c.wt == WeightType::kF32;
    pgu[e] = f32 ? static_cast<const void*>(gu32.data() + e * 2 * c.inter * c.hidden)
                 : static_cast<const void*>(gu16.data() + e * 2 * c.inter * c.hidden);
    pdn[e] = f32 ? static_cast<const void*>(dn32.data() + e * c.hidden * c.inter)
                 : static_cast<const void*>(dn16.data() + e * c.hidden * c.inter);
    pgub[e] = d_gub.data() + e * 2 * c.inter;
    pdb[e] = d_db.data() + e * c.hidden;
  }
  auto d_pgu = DeviceBuffer<const void*>::from_host(pgu);
  auto d_pdn = DeviceBuffer<const void*>::from_host(pdn);
  auto d_pgub = DeviceBuffer<const float*>::from_host(pgub);
  auto d_pdb = DeviceBuffer<const float*>::from_host(pdb);
  auto d_ids = DeviceBuffer<int32_t>::from_host(ids);
  auto d_wts = DeviceBuffer<float>::from_host(wts);
  auto d_x = DeviceBuffer<float>::from_host(x);
  DeviceBuffer<float> d_out(c.tokens * c.hidden);
  const size_t ws_bytes = moe_workspace_bytes(c.tokens, c.top_k, c.experts, c.hidden, c.inter);
  DeviceBuffer<uint8_t> ws(ws_bytes);

  MoeParams p;
  p.x = d_x.data();
  p.topk_ids = d_ids.data();
  p.topk_weights = d_wts.data();
  p.gate_up = d_pgu.data();
  p.down = d_pdn.data();
  p.w_type = c.wt;
  p.out = d_out.data();
  p.tokens = c.tokens;
  p.top_k = c.top_k;
  p.num_experts = c.experts;
  p.hidden = c.hidden;
  p.inter = c.inter;
  p.workspace = ws.data();
  p.workspace_bytes = ws_bytes;
  p.gemm = c.gemm;
  p.gate_up_bias = d_pgub.data();
  p.down_bias = d_pdb.data();
  p.swiglu_limit = 7.f;
  p.swiglu_alpha = 1.702f;
  moe_experts(p, nullptr);
  SIEVE_CUDA_CHECK(cudaDeviceSynchronize());
  const std::vector<float> got = d_out.to_host();

  const double limit = 7.0, alpha = 1.702;
  for (int64_t t = 0; t < c.tokens; ++t) {
    std::vector<double> out(c.hidden, 0.0);
    for (int64_t j = 0; j < c.top_k; ++j) {
      const int64_t e = ids[t * c.top_k + j];
      std::vector<double> act(c.inter);
      for (int64_t i = 0; i < c.inter; ++i) {
        double g = gub[e * 2 * c.inter + i], up = gub[e * 2 * c.inter + c.inter + i];
        for (int64_t h = 0; h < c.hidden; ++h) {
          g += double(gu[(e * 2 * c.inter + i) * c.hidden + h]) * x[t * c.hidden + h];
          up += double(gu[(e * 2 * c.inter + c.inter + i) * c.hidden + h]) * x[t * c.hidden + h];
        }
        g = std::min(g, limit);
        up = std::clamp(up, -limit, limit);
        act[i] = g / (1 + std::exp(-alpha * g)) * (up + 1);
      }
      for (int64_t h = 0; h < c.hidden; ++h) {
        double y = db[e * c.hidden + h];
        for (int64_t i = 0; i < c.inter; ++i)
          y += double(dn[(e * c.hidden + h) * c.inter + i]) * act[i];
        out[h] += wts[t * c.top_k + j] * y;
      }
    }
    for (int64_t h = 0; h < c.hidden; ++h)
      ASSERT_NEAR(got[t * c.hidden + h], out[h], 1e-4 * (1.0 + std::fabs(out[h])))
          << "token " << t << " feature " << h;
  }
}

TEST(MoeBiasedClampedExperts, MatchTheHostFormulaForEveryVariant) {
  uint32_t seed = 900;
  for (MoeGemmVariant v : {MoeGemmVariant::kAuto, MoeGemmVariant::kGrouped, MoeGemmVariant::kSkinny,
                           MoeGemmVariant::kTensorCore, MoeGemmVariant::kWgmma}) {
    for (WeightType wt : {WeightType::kF32, WeightType::kBF16}) {
      for (int64_t tokens : {1, 5, 300}) {
        SCOPED_TRACE(testing::Message() << moe_gemm_variant_name(v) << " tokens " << tokens
                                        << (wt == WeightType::kF32 ? " fp32" : " bf16"));
        check({tokens, 4, 16, 64, 32, wt, v}, seed++);
      }
    }
  }
  check({7, 2, 9, 72, 40, WeightType::kBF16, MoeGemmVariant::kAuto}, seed++);
}

}  // namespace
}  // namespace sieve::cuda
