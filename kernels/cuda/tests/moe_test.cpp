// The CUDA MoE pipeline (kernels/cuda/moe.h) against plain host loops: each step alone, then
// the whole of moe_experts against the MoeArgs formula across token counts, expert counts,
// top_k, skewed and uniform routing, fp32 and bf16 weights; and run-to-run determinism.
#include "kernels/cuda/moe.h"
#include "kernels/cuda/moe_registry.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "kernels/cuda/tests/device_buffer.h"

namespace sieve::cuda {
namespace {

using test::DeviceBuffer;

// --- host helpers

uint16_t to_bf16_bits(float f) {  // round to nearest even (inputs here are finite)
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return static_cast<uint16_t>(u >> 16);
}
float from_bf16_bits(uint16_t b) {
  const uint32_t u = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

std::vector<float> random_floats(size_t n, float scale, std::mt19937& rng) {
  std::uniform_real_distribution<float> d(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v)
    x = d(rng);
  return v;
}

// topk_ids [tokens, top_k]: distinct experts per token when top_k <= num_experts. Skewed: every
// token picks among the last max(top_k, 2) experts only (most experts get no rows).
std::vector<int32_t> make_routing(int64_t tokens, int64_t top_k, int64_t num_experts, bool skewed,
                                  std::mt19937& rng) {
  const int64_t pool = skewed ? std::min(num_experts, std::max<int64_t>(top_k, 2)) : num_experts;
  const int64_t first = num_experts - pool;
  std::vector<int32_t> ids(tokens * top_k);
  std::vector<int32_t> cand(pool);
  for (int64_t t = 0; t < tokens; ++t) {
    std::iota(cand.begin(), cand.end(), static_cast<int32_t>(first));
    for (int64_t j = 0; j < top_k; ++j) {
      if (top_k <= pool) {
        std::uniform_int_distribution<int64_t> d(j, pool - 1);
        std::swap(cand[j], cand[d(rng)]);
        ids[t * top_k + j] = cand[j];
      } else {
        std::uniform_int_distribution<int64_t> d(0, pool - 1);
        ids[t * top_k + j] = cand[d(rng)];
      }
    }
  }
  return ids;
}

struct HostAlign {
  std::vector<int32_t> counts, offsets, sorted_rows, inverse;
};

HostAlign host_align(const std::vector<int32_t>& ids, int64_t num_experts) {
  HostAlign h;
  h.counts.assign(num_experts, 0);
  for (int32_t e : ids)
    ++h.counts[e];
  h.offsets.assign(num_experts + 1, 0);
  for (int64_t e = 0; e < num_experts; ++e)
    h.offsets[e + 1] = h.offsets[e] + h.counts[e];
  std::vector<int32_t> cursor(h.offsets.begin(), h.offsets.end() - 1);
  h.sorted_rows.assign(ids.size(), -1);
  h.inverse.assign(ids.size(), -1);
  for (size_t a = 0; a < ids.size(); ++a) {
    const int32_t pos = cursor[ids[a]]++;
    h.sorted_rows[pos] = static_cast<int32_t>(a);
    h.inverse[a] = pos;
  }
  return h;
}

// Per-expert weights, flat [num_experts, n, k], values already bf16-representable so one host
// reference serves both weight types; device copies in both types with pointer arrays.
struct ExpertMatrices {
  int64_t num_experts = 0, n = 0, k = 0;
  std::vector<float> host;
  DeviceBuffer<float> f32;
  DeviceBuffer<uint16_t> bf16;
  DeviceBuffer<const void*> f32_ptrs, bf16_ptrs;

  ExpertMatrices(int64_t e, int64_t n_, int64_t k_, std::mt19937& rng)
      : num_experts(e), n(n_), k(k_) {
    host = random_floats(e * n * k, 1.f / std::sqrt(static_cast<float>(k)), rng);
    std::vector<uint16_t> bits(host.size());
    for (size_t i = 0; i < host.size(); ++i) {
      bits[i] = to_bf16_bits(host[i]);
      host[i] = from_bf16_bits(bits[i]);
    }
    f32 = DeviceBuffer<float>::from_host(host);
    bf16 = DeviceBuffer<uint16_t>::from_host(bits);
    std::vector<const void*> pf(e), pb(e);
    for (int64_t i = 0; i < e; ++i) {
      pf[i] = f32.data() + i * n * k;
      pb[i] = bf16.data() + i * n * k;
    }
    f32_ptrs = DeviceBuffer<const void*>::from_host(pf);
    bf16_ptrs = DeviceBuffer<const void*>::from_host(pb);
  }
  const void* const* ptrs(WeightType t) const {
    return t == WeightType::kF32 ? f32_ptrs.data() : bf16_ptrs.data();
  }
  const float* w(int64_t e) const { return host.data() + e * n * k; }
};

// --- 1. align

TEST(MoeAlign, MatchesStableHostSort) {
  struct Case {
    int64_t tokens, top_k, num_experts;
    bool skewed;
  };
  const Case cases[] = {{0, 8, 128, false},    {1, 1, 1, false},   {1, 8, 128, false},
                        {7, 2, 8, true},       {64, 8, 60, false}, {300, 8, 128, true},
                        {4096, 8, 128, false}, {4096, 1, 8, true}, {513, 4, 1024, false},
                        {1000, 3, 1, false}};
  std::mt19937 rng(1);
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "tokens " << c.tokens << " top_k " << c.top_k << " experts "
                                    << c.num_experts << " skewed " << c.skewed);
    const std::vector<int32_t> ids = make_routing(c.tokens, c.top_k, c.num_experts, c.skewed, rng);
    const HostAlign want = host_align(ids, c.num_experts);
    auto d_ids = DeviceBuffer<int32_t>::from_host(ids);
    DeviceBuffer<int32_t> counts(c.num_experts), offsets(c.num_experts + 1), sorted(ids.size()),
        inverse(ids.size());
    MoeAlignParams p;
    p.topk_ids = d_ids.data();
    p.counts = counts.data();
    p.offsets = offsets.data();
    p.sorted_rows = sorted.data();
    p.inverse = inverse.data();
    p.tokens = c.tokens;
    p.top_k = c.top_k;
    p.num_experts = c.num_experts;
    moe_align(p, nullptr);
    EXPECT_EQ(counts.to_host(), want.counts);
    EXPECT_EQ(offsets.to_host(), want.offsets);
    EXPECT_EQ(sorted.to_host(), want.sorted_rows);
    EXPECT_EQ(inverse.to_host(), want.inverse);
  }
}

// --- 2 and 5. permute, unpermute

TEST(MoePermute, GathersTokenRows) {
  std::mt19937 rng(2);
  for (int64_t hidden : {1, 67, 2048}) {
    const int64_t tokens = 37, top_k = 3, num_experts = 11;
    const auto ids = make_routing(tokens, top_k, num_experts, false, rng);
    const HostAlign al = host_align(ids, num_experts);
    const auto x = random_floats(tokens * hidden, 1.f, rng);
    auto d_x = DeviceBuffer<float>::from_host(x);
    auto d_sorted = DeviceBuffer<int32_t>::from_host(al.sorted_rows);
    DeviceBuffer<float> d_xs(tokens * top_k * hidden);
    MoePermuteParams p;
    p.x = d_x.data();
    p.sorted_rows = d_sorted.data();
    p.x_sorted = d_xs.data();
    p.tokens = tokens;
    p.top_k = top_k;
    p.hidden = hidden;
    moe_permute(p, nullptr);
    const auto got = d_xs.to_host();
    for (int64_t i = 0; i < tokens * top_k; ++i) {
      const int64_t t = al.sorted_rows[i] / top_k;
      for (int64_t h = 0; h < hidden; ++h)
        ASSERT_EQ(got[i * hidden + h], x[t * hidden + h]) << "row " << i << " h " << h;
    }
  }
}

TEST(MoeUnpermute, CombinesInJOrder) {
  std::mt19937 rng(3);
  for (int64_t top_k : {1, 2, 8}) {
    for (int64_t hidden : {1, 67, 2048}) {
      const int64_t tokens = 29, num_experts = 16;
      const auto ids = make_routing(tokens, top_k, num_experts, false, rng);
      const HostAlign al = host_align(ids, num_experts);
      const auto y = random_floats(tokens * top_k * hidden, 1.f, rng);
      const auto w = random_floats(tokens * top_k, 1.f, rng);
      auto d_y = DeviceBuffer<float>::from_host(y);
      auto d_inv = DeviceBuffer<int32_t>::from_host(al.inverse);
      auto d_w = DeviceBuffer<float>::from_host(w);
      DeviceBuffer<float> d_out(tokens * hidden);
      MoeUnpermuteParams p;
      p.y_sorted = d_y.data();
      p.inverse = d_inv.data();
      p.topk_weights = d_w.data();
      p.out = d_out.data();
      p.tokens = tokens;
      p.top_k = top_k;
      p.hidden = hidden;
      moe_unpermute(p, nullptr);
      const auto got = d_out.to_host();
      for (int64_t t = 0; t < tokens; ++t) {
        for (int64_t h = 0; h < hidden; ++h) {
          float acc = 0.f;
          for (int64_t j = 0; j < top_k; ++j)
            acc = std::fma(w[t * top_k + j], y[al.inverse[t * top_k + j] * hidden + h], acc);
          ASSERT_EQ(got[t * hidden + h], acc) << "t " << t << " h " << h;
        }
      }
    }
  }
}

// --- 4. silu_mul

TEST(MoeSiluMul, MatchesHost) {
  std::mt19937 rng(4);
  for (int64_t inter : {1, 45, 768}) {
    const int64_t rows = 13;
    const auto gu = random_floats(rows * 2 * inter, 6.f, rng);
    auto d_gu = DeviceBuffer<float>::from_host(gu);
    DeviceBuffer<float> d_act(rows * inter);
    moe_silu_mul(d_gu.data(), d_act.data(), rows, inter, nullptr);
    const auto got = d_act.to_host();
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t i = 0; i < inter; ++i) {
        const double g = gu[r * 2 * inter + i], u = gu[r * 2 * inter + inter + i];
        const double want = g / (1.0 + std::exp(-g)) * u;
        ASSERT_NEAR(got[r * inter + i], want, 1e-5 * (1.0 + std::fabs(want)));
      }
    }
  }
}

// --- 3. grouped GEMM

void check_grouped_gemm(const std::vector<int32_t>& counts, int64_t n, int64_t k, WeightType wt,
                        std::mt19937& rng, MoeGemmVariant variant = MoeGemmVariant::kGrouped) {
  const int64_t num_experts = static_cast<int64_t>(counts.size());
  std::vector<int32_t> offsets(num_experts + 1, 0);
  for (int64_t e = 0; e < num_experts; ++e)
    offsets[e + 1] = offsets[e] + counts[e];
  const int64_t rows = offsets[num_experts];
  const auto a = random_floats(rows * k, 1.f, rng);
  ExpertMatrices w(num_experts, n, k, rng);
  auto d_a = DeviceBuffer<float>::from_host(a);
  auto d_off = DeviceBuffer<int32_t>::from_host(offsets);
  DeviceBuffer<float> d_c(rows * n);
  GroupedGemmParams p;
  p.a = d_a.data();
  p.w = w.ptrs(wt);
  p.w_type = wt;
  p.offsets = d_off.data();
  p.c = d_c.data();
  p.rows = rows;
  p.num_experts = num_experts;
  p.n = n;
  p.k = k;
  if (variant == MoeGemmVariant::kSkinny) {
    ASSERT_TRUE(moe_skinny_gemm_supported(p));
    moe_skinny_gemm(p, nullptr);
  } else {
    moe_grouped_gemm(p, nullptr);
  }
  SIEVE_CUDA_CHECK(cudaGetLastError());
  const auto got = d_c.to_host();
  for (int64_t e = 0; e < num_experts; ++e) {
    const float* we = w.w(e);
    for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r) {
      for (int64_t j = 0; j < n; ++j) {
        double acc = 0, mag = 0;
        for (int64_t kk = 0; kk < k; ++kk) {
          const double prod = static_cast<double>(a[r * k + kk]) * we[j * k + kk];
          acc += prod;
          mag += std::fabs(prod);
        }
        ASSERT_NEAR(got[r * n + j], acc, 1e-4 * mag + 1e-7)
            << "expert " << e << " row " << r << " col " << j;
      }
    }
  }
}

TEST(MoeGroupedGemm, MatchesHostTripleLoop) {
  std::mt19937 rng(5);
  for (WeightType wt : {WeightType::kF32, WeightType::kBF16}) {
    SCOPED_TRACE(wt == WeightType::kF32 ? "fp32 weights" : "bf16 weights");
    check_grouped_gemm({0, 1, 70, 0, 129}, 67, 45, wt, rng);  // odd n, k; empty experts
    check_grouped_gemm({3}, 130, 257, wt, rng);               // one expert, k past 8 tiles
    check_grouped_gemm({64, 0, 0, 65, 1}, 64, 32, wt, rng);   // exact tiles and one over
    check_grouped_gemm({1, 1, 1, 1, 1, 1, 1, 1}, 1536, 2048 / 8, wt, rng);  // decode-like
    check_grouped_gemm({0, 0, 5}, 1, 1, wt, rng);                           // degenerate n = k = 1
    std::vector<int32_t> many(40, 0);  // > 32 experts: tile search
    many[33] = 17;
    many[39] = 100;
    check_grouped_gemm(many, 33, 19, wt, rng);
  }
}

// Skinny groups: k a multiple of 8 (bf16) / 4 (fp32); more than kMoeSkinnyRows rows in an expert
// take several passes; n not a multiple of the 32-column CTA tile; > 32 experts for the slot
// search; most experts empty.
TEST(MoeSkinnyGemm, MatchesHostTripleLoop) {
  std::mt19937 rng(6);
  const auto skinny = MoeGemmVariant::kSkinny;
  for (WeightType wt : {WeightType::kF32, WeightType::kBF16}) {
    SCOPED_TRACE(wt == WeightType::kF32 ? "fp32 weights" : "bf16 weights");
    check_grouped_gemm({1, 1, 1, 1, 1, 1, 1, 1}, 1536, 2048 / 8, wt, rng, skinny);
    check_grouped_gemm({0, 3, 0, 9, 17, 0, 1}, 67, 64, wt, rng, skinny);
    check_grouped_gemm({8}, 33, 8, wt, rng, skinny);
    check_grouped_gemm({2, 0, 0}, 1, 16, wt, rng, skinny);
    std::vector<int32_t> many(130, 0);
    many[0] = 1;
    many[31] = 2;
    many[32] = 1;
    many[64] = 5;
    many[129] = 12;
    check_grouped_gemm(many, 96, 136, wt, rng, skinny);
  }
  check_grouped_gemm({1, 2}, 64, 12, WeightType::kF32, rng, skinny);  // fp32: k % 4 suffices
}

TEST(MoeChooseGemm, SkinnyForDecodeTensorCoresForPrefill) {
  const auto bf16 = WeightType::kBF16, f32 = WeightType::kF32;
  EXPECT_EQ(moe_choose_gemm(8, 128, 2048, 768, bf16), MoeGemmVariant::kSkinny);
  EXPECT_EQ(moe_choose_gemm(512, 128, 2048, 768, bf16), MoeGemmVariant::kSkinny);
  EXPECT_EQ(moe_choose_gemm(513, 128, 2048, 768, bf16), MoeGemmVariant::kTensorCoreHalf);
  EXPECT_EQ(moe_choose_gemm(128 * 128, 128, 2048, 768, bf16), MoeGemmVariant::kTensorCore);
  EXPECT_EQ(moe_choose_gemm(513, 128, 2048, 768, f32), MoeGemmVariant::kGrouped);
  EXPECT_EQ(moe_choose_gemm(8, 128, 2048, 36, bf16), MoeGemmVariant::kGrouped);
  EXPECT_EQ(moe_choose_gemm(8, 128, 2048, 36, f32), MoeGemmVariant::kSkinny);
  EXPECT_EQ(moe_choose_gemm(8, 128, 67, 45, f32), MoeGemmVariant::kGrouped);
  EXPECT_FALSE(moe_gemm_variant_supported(MoeGemmVariant::kTensorCore, 2048, 768, f32));
  EXPECT_FALSE(moe_gemm_variant_supported(MoeGemmVariant::kTensorCoreHalf, 2048, 36, bf16));
  for (MoeGemmVariant v : kMoeGemmVariants)
    EXPECT_STRNE(moe_gemm_variant_name(v), "unknown");
}

// --- 3''. tensor-core product: bf16 operands (the activations rounded as the pipeline does),
// against the host in double. Plain: fp32 out, so only the accumulation order differs. Fused:
// silu(gate) · up rounded to bf16, so the band is bf16's half ulp (2^-9 relative) on top.
// v: kTensorCore, kTensorCoreHalf (moe_tensor_gemm) or kWgmma (moe_wgmma_gemm).
void check_tensor_gemm(const std::vector<int32_t>& counts, int64_t n, int64_t k, bool fused,
                       MoeGemmVariant v, std::mt19937& rng) {
  const int64_t num_experts = static_cast<int64_t>(counts.size());
  std::vector<int32_t> offsets(num_experts + 1, 0);
  for (int64_t e = 0; e < num_experts; ++e)
    offsets[e + 1] = offsets[e] + counts[e];
  const int64_t rows = offsets[num_experts];
  std::vector<float> a = random_floats(rows * k, 1.f, rng);
  std::vector<uint16_t> a_bits(a.size());
  for (size_t i = 0; i < a.size(); ++i) {
    a_bits[i] = to_bf16_bits(a[i]);
    a[i] = from_bf16_bits(a_bits[i]);
  }
  ExpertMatrices w(num_experts, fused ? 2 * n : n, k, rng);
  auto d_a = DeviceBuffer<uint16_t>::from_host(a_bits);
  auto d_off = DeviceBuffer<int32_t>::from_host(offsets);
  DeviceBuffer<float> d_c32(fused ? 0 : rows * n);
  DeviceBuffer<uint16_t> d_c16(fused ? rows * n : 0);
  // Poison: every output must be written.
  if (fused && rows > 0) SIEVE_CUDA_CHECK(cudaMemset(d_c16.data(), 0xff, rows * n * 2));
  if (!fused && rows > 0) SIEVE_CUDA_CHECK(cudaMemset(d_c32.data(), 0xff, rows * n * 4));
  TensorGemmParams p;
  p.a = d_a.data();
  p.w = w.ptrs(WeightType::kBF16);
  p.offsets = d_off.data();
  p.c = fused ? static_cast<void*>(d_c16.data()) : static_cast<void*>(d_c32.data());
  p.rows = rows;
  p.num_experts = num_experts;
  p.n = n;
  p.k = k;
  p.fused_silu = fused;
  if (v == MoeGemmVariant::kWgmma) {
    moe_wgmma_gemm(p, nullptr);
  } else {
    p.tile_rows = v == MoeGemmVariant::kTensorCore ? kMoeTensorTileRows : kMoeTensorTileRows / 2;
    moe_tensor_gemm(p, nullptr);
  }
  SIEVE_CUDA_CHECK(cudaGetLastError());
  const auto got32 = d_c32.to_host();
  const auto got16 = d_c16.to_host();
  auto dot = [&](const float* wrow, int64_t r, double* mag) {
    double acc = 0;
    *mag = 0;
    for (int64_t kk = 0; kk < k; ++kk) {
      const double prod = static_cast<double>(a[r * k + kk]) * wrow[kk];
      acc += prod;
      *mag += std::fabs(prod);
    }
    return acc;
  };
  for (int64_t e = 0; e < num_experts; ++e) {
    const float* we = w.w(e);
    for (int64_t r = offsets[e]; r < offsets[e + 1]; ++r) {
      for (int64_t j = 0; j < n; ++j) {
        double mag_g = 0, mag_u = 0;
        if (!fused) {
          const double want = dot(we + j * k, r, &mag_g);
          ASSERT_NEAR(got32[r * n + j], want, 1e-4 * mag_g + 1e-7)
              << "expert " << e << " row " << r << " col " << j;
          continue;
        }
        const double g = dot(we + j * k, r, &mag_g), u = dot(we + (n + j) * k, r, &mag_u);
        const double silu = g / (1.0 + std::exp(-g));
        const double want = silu * u;
        const double tol = std::ldexp(std::fabs(want), -8) +
                           1e-4 * (mag_g * std::fabs(u) + mag_u * std::fabs(silu)) + 1e-6;
        ASSERT_NEAR(from_bf16_bits(got16[r * n + j]), want, tol)
            << "fused: expert " << e << " row " << r << " col " << j;
      }
    }
  }
}

// Empty experts; groups under, at and over a tile; n not a multiple of the 128- (64-, fused)
// column tile; k not a multiple of the 32-wide k step; more than 32 experts (tile search); a
// decode-like spread of single rows.
TEST(MoeTensorGemm, MatchesHostOnBf16Operands) {
  std::mt19937 rng(7);
  for (MoeGemmVariant v :
       {MoeGemmVariant::kTensorCore, MoeGemmVariant::kTensorCoreHalf, MoeGemmVariant::kWgmma}) {
    for (bool fused : {false, true}) {
      SCOPED_TRACE(testing::Message() << moe_gemm_variant_name(v) << (fused ? " fused" : " plain"));
      check_tensor_gemm({0, 1, 70, 0, 129}, 72, 40, fused, v, rng);
      check_tensor_gemm({128, 0, 64, 65, 257}, 136, 264, fused, v, rng);
      check_tensor_gemm({3}, 8, 8, fused, v, rng);
      check_tensor_gemm({1, 1, 1, 1, 1, 1, 1, 1}, 768, 256, fused, v, rng);
      std::vector<int32_t> many(40, 0);
      many[33] = 17;
      many[39] = 100;
      check_tensor_gemm(many, 200, 96, fused, v, rng);
      check_tensor_gemm({0, 0}, 64, 64, fused, v, rng);  // no rows: nothing launched
    }
  }
}

// --- the whole pipeline

struct Problem {
  int64_t tokens, top_k, num_experts, hidden, inter;
  bool skewed;
  WeightType wt;
  MoeGemmVariant gemm = MoeGemmVariant::kAuto;
  bool bf16_activations = false;  // MoeParams::bf16_activations, as the CUDA backend sets it
};

struct PipelineRun {
  std::vector<float> got, want;
};

// Runs moe_experts `runs` times (outputs of the last run in `got`, every run compared by the
// caller through `all`) and the host reference of the MoeArgs formula.
// With `tuned`, moe_tune runs instead (once) and its result lands there.
PipelineRun run_pipeline(const Problem& pr, uint32_t seed, std::vector<std::vector<float>>* all,
                         int runs = 1, MoeTuneResult* tuned = nullptr) {
  std::mt19937 rng(seed);
  const auto ids = make_routing(pr.tokens, pr.top_k, pr.num_experts, pr.skewed, rng);
  const auto wts = random_floats(pr.tokens * pr.top_k, 1.f, rng);
  const auto x = random_floats(pr.tokens * pr.hidden, 1.f, rng);
  ExpertMatrices gate_up(pr.num_experts, 2 * pr.inter, pr.hidden, rng);
  ExpertMatrices down(pr.num_experts, pr.hidden, pr.inter, rng);

  auto d_ids = DeviceBuffer<int32_t>::from_host(ids);
  auto d_wts = DeviceBuffer<float>::from_host(wts);
  auto d_x = DeviceBuffer<float>::from_host(x);
  DeviceBuffer<float> d_out(pr.tokens * pr.hidden);
  const size_t ws_bytes =
      moe_workspace_bytes(pr.tokens, pr.top_k, pr.num_experts, pr.hidden, pr.inter);
  DeviceBuffer<uint8_t> ws(ws_bytes);

  MoeParams p;
  p.x = d_x.data();
  p.topk_ids = d_ids.data();
  p.topk_weights = d_wts.data();
  p.gate_up = gate_up.ptrs(pr.wt);
  p.down = down.ptrs(pr.wt);
  p.w_type = pr.wt;
  p.out = d_out.data();
  p.tokens = pr.tokens;
  p.top_k = pr.top_k;
  p.num_experts = pr.num_experts;
  p.hidden = pr.hidden;
  p.inter = pr.inter;
  p.workspace = ws.data();
  p.workspace_bytes = ws_bytes;
  p.gemm = pr.gemm;
  p.bf16_activations = pr.bf16_activations;

  PipelineRun r;
  for (int i = 0; i < runs; ++i) {
    if (tuned) {
      *tuned = moe_tune(p, nullptr);
    } else {
      moe_experts(p, nullptr);
    }
    SIEVE_CUDA_CHECK(cudaGetLastError());
    r.got = d_out.to_host();
    if (all) all->push_back(r.got);
  }

  r.want.assign(pr.tokens * pr.hidden, 0.f);
  std::vector<double> gu(2 * pr.inter), act(pr.inter), out(pr.hidden);
  for (int64_t t = 0; t < pr.tokens; ++t) {
    std::fill(out.begin(), out.end(), 0.0);
    for (int64_t j = 0; j < pr.top_k; ++j) {
      const int64_t e = ids[t * pr.top_k + j];
      const float* wg = gate_up.w(e);
      for (int64_t o = 0; o < 2 * pr.inter; ++o) {
        double acc = 0;
        for (int64_t h = 0; h < pr.hidden; ++h)
          acc += static_cast<double>(wg[o * pr.hidden + h]) * x[t * pr.hidden + h];
        gu[o] = acc;
      }
      for (int64_t i = 0; i < pr.inter; ++i)
        act[i] = gu[i] / (1.0 + std::exp(-gu[i])) * gu[pr.inter + i];
      const float* wd = down.w(e);
      for (int64_t h = 0; h < pr.hidden; ++h) {
        double acc = 0;
        for (int64_t i = 0; i < pr.inter; ++i)
          acc += static_cast<double>(wd[h * pr.inter + i]) * act[i];
        out[h] += wts[t * pr.top_k + j] * acc;
      }
    }
    for (int64_t h = 0; h < pr.hidden; ++h)
      r.want[t * pr.hidden + h] = static_cast<float>(out[h]);
  }
  return r;
}

void expect_close(const PipelineRun& r) {
  ASSERT_EQ(r.got.size(), r.want.size());
  for (size_t i = 0; i < r.got.size(); ++i) {
    ASSERT_NEAR(r.got[i], r.want[i], 1e-4 * (1.0 + std::fabs(r.want[i]))) << "element " << i;
  }
}

TEST(MoeExperts, MatchesHostReferenceAcrossShapes) {
  uint32_t seed = 100;
  for (int64_t tokens : {0, 1, 7, 64, 4096}) {
    for (int64_t num_experts : {1, 8, 60, 128}) {
      for (int64_t top_k : {1, 2, 8}) {
        if (top_k > num_experts) continue;  // routing picks distinct experts
        for (bool skewed : {false, true}) {
          for (WeightType wt : {WeightType::kF32, WeightType::kBF16}) {
            const Problem pr{tokens, top_k, num_experts, 67, 45, skewed, wt};
            SCOPED_TRACE(testing::Message()
                         << "tokens " << tokens << " experts " << num_experts << " top_k " << top_k
                         << (skewed ? " skewed" : " uniform")
                         << (wt == WeightType::kF32 ? " fp32" : " bf16"));
            expect_close(run_pipeline(pr, seed++, nullptr));
          }
        }
      }
    }
  }
}

TEST(MoeExperts, OddAndRealisticDims) {
  // Dimensions not multiples of 4 or of the tiles; then Qwen3-30B-A3B's expert shapes.
  expect_close(run_pipeline({5, 2, 8, 1, 1, false, WeightType::kF32}, 7, nullptr));
  expect_close(run_pipeline({33, 3, 9, 131, 65, false, WeightType::kBF16}, 8, nullptr));
  expect_close(run_pipeline({16, 8, 128, 2048, 768, false, WeightType::kBF16}, 9, nullptr));
}

// Both expert-product kernels, pinned, on shapes the skinny one supports: decode sizes where
// auto picks it, and prefill sizes (many rows per expert) where it must still be right.
TEST(MoeExperts, SkinnyAndGroupedBothMatchTheHost) {
  uint32_t seed = 500;
  for (MoeGemmVariant v : {MoeGemmVariant::kSkinny, MoeGemmVariant::kGrouped}) {
    for (int64_t tokens : {1, 4, 16, 64, 300}) {
      for (bool skewed : {false, true}) {
        for (WeightType wt : {WeightType::kF32, WeightType::kBF16}) {
          SCOPED_TRACE(testing::Message()
                       << (v == MoeGemmVariant::kSkinny ? "skinny" : "grouped") << " tokens "
                       << tokens << (skewed ? " skewed" : " uniform")
                       << (wt == WeightType::kF32 ? " fp32" : " bf16"));
          expect_close(run_pipeline({tokens, 8, 64, 72, 40, skewed, wt, v}, seed++, nullptr));
        }
      }
    }
  }
  expect_close(run_pipeline(
      {4, 8, 128, 2048, 768, false, WeightType::kBF16, MoeGemmVariant::kSkinny}, 12, nullptr));
}

// ‖got − want‖ / ‖want‖ for the paths that round activations to bf16: products of bf16
// operands land between 1e-3 and 1e-2 of a higher-precision reference.
void expect_bf16_band(const PipelineRun& r) {
  ASSERT_EQ(r.got.size(), r.want.size());
  double diff = 0, ref = 0;
  for (size_t i = 0; i < r.got.size(); ++i) {
    ASSERT_TRUE(std::isfinite(r.got[i])) << "element " << i;
    diff +=
        (static_cast<double>(r.got[i]) - r.want[i]) * (static_cast<double>(r.got[i]) - r.want[i]);
    ref += static_cast<double>(r.want[i]) * r.want[i];
  }
  if (ref == 0) return;  // no tokens
  EXPECT_LT(std::sqrt(diff / ref), 1e-2);
}

// The tensor-core path, both tile heights, pinned, against the fp32-activation formula: decode
// and prefill sizes, uniform and skewed routing, then Qwen3-30B-A3B's expert shapes.
TEST(MoeExperts, TensorCoreWithinTheBf16Band) {
  uint32_t seed = 700;
  for (MoeGemmVariant v :
       {MoeGemmVariant::kTensorCore, MoeGemmVariant::kTensorCoreHalf, MoeGemmVariant::kWgmma}) {
    for (int64_t tokens : {1, 7, 64, 300, 1000}) {
      for (int64_t num_experts : {8, 60}) {
        for (bool skewed : {false, true}) {
          SCOPED_TRACE(testing::Message()
                       << moe_gemm_variant_name(v) << " tokens " << tokens << " experts "
                       << num_experts << (skewed ? " skewed" : " uniform"));
          expect_bf16_band(run_pipeline(
              {tokens, 2, num_experts, 72, 40, skewed, WeightType::kBF16, v}, seed++, nullptr));
        }
      }
    }
  }
  expect_bf16_band(
      run_pipeline({256, 8, 128, 2048, 768, false, WeightType::kBF16, MoeGemmVariant::kTensorCore},
                   13, nullptr));
  expect_bf16_band(run_pipeline({512, 8, 128, 2048, 768, true, WeightType::kBF16}, 14, nullptr));
}

// bf16_activations (what the CUDA backend runs): the CUDA-core variants round x and act to bf16
// where the tensor-core ones do, so every variant multiplies the same values and they differ
// only in the order of their fp32 sums — and in the rare act value that this moves across a
// bf16 rounding boundary (one ulp, ~5e-3 relative, on ~2e-4 of them; one such flip moves its
// token's output ~4e-4, so the comparison is over at least 16 tokens, where it is ~1e-4).
// Rounding x and act in some variants and not others would put them ~2e-3 apart (bf16's
// rounding error).
TEST(MoeExperts, Bf16ActivationsMakeEveryVariantComputeTheSameProducts) {
  uint32_t seed = 900;
  for (int64_t tokens : {16, 64, 300}) {
    for (bool skewed : {false, true}) {
      std::vector<float> grouped;  // kMoeGemmVariants starts with it
      for (MoeGemmVariant v : kMoeGemmVariants) {
        SCOPED_TRACE(testing::Message() << moe_gemm_variant_name(v) << " tokens " << tokens
                                        << (skewed ? " skewed" : " uniform"));
        // The same seed for every variant: the same routing, weights and activations.
        const PipelineRun r = run_pipeline(
            {tokens, 4, 16, 72, 40, skewed, WeightType::kBF16, v, true}, seed, nullptr);
        expect_bf16_band(r);
        if (grouped.empty()) {
          grouped = r.got;
          continue;
        }
        double diff = 0, ref = 0;
        for (size_t i = 0; i < grouped.size(); ++i) {
          const double d = static_cast<double>(r.got[i]) - grouped[i];
          diff += d * d;
          ref += static_cast<double>(grouped[i]) * grouped[i];
        }
        EXPECT_LT(std::sqrt(diff / ref), 5e-4) << "relative L2 distance to grouped's output";
      }
      ++seed;
    }
  }
}

TEST(MoeExperts, DeterministicRunToRun) {
  {
    std::vector<std::vector<float>> all;
    expect_close(run_pipeline({16, 8, 64, 72, 40, true, WeightType::kBF16, MoeGemmVariant::kSkinny},
                              13, &all, 3));
    for (size_t i = 1; i < all.size(); ++i) {
      ASSERT_EQ(0, std::memcmp(all[0].data(), all[i].data(), all[0].size() * sizeof(float)))
          << "skinny: run " << i << " differs from run 0";
    }
  }
  {
    std::vector<std::vector<float>> all;
    expect_bf16_band(run_pipeline(
        {1000, 4, 60, 72, 40, true, WeightType::kBF16, MoeGemmVariant::kTensorCore}, 17, &all, 3));
    for (size_t i = 1; i < all.size(); ++i) {
      ASSERT_EQ(0, std::memcmp(all[0].data(), all[i].data(), all[0].size() * sizeof(float)))
          << "tensor: run " << i << " differs from run 0";
    }
  }
  for (bool skewed : {false, true}) {
    std::vector<std::vector<float>> all;
    const PipelineRun r = run_pipeline(
        {4096, 8, 60, 67, 45, skewed, WeightType::kBF16, MoeGemmVariant::kGrouped}, 11, &all, 3);
    expect_close(r);
    for (size_t i = 1; i < all.size(); ++i) {
      ASSERT_EQ(0, std::memcmp(all[0].data(), all[i].data(), all[0].size() * sizeof(float)))
          << "run " << i << " differs from run 0";
    }
  }
}

// The tuner times every variant that supports the shapes, names the fastest, and leaves that
// variant's (correct) result in the output.
TEST(MoeTune, TimesEverySupportedVariantAndKeepsTheFastestsResult) {
  MoeTuneResult r;
  expect_bf16_band(
      run_pipeline({64, 8, 128, 2048, 768, false, WeightType::kBF16}, 18, nullptr, 1, &r));
  for (const auto& [v, err] : r.rejected)
    ADD_FAILURE() << moe_gemm_variant_name(v) << " rejected: relative error " << err;
  ASSERT_EQ(r.microseconds.size(), 5u);  // grouped, skinny, tensor, tensor_half, wgmma
  double best = 1e30;
  for (const auto& [v, us] : r.microseconds) {
    EXPECT_GT(us, 0.0) << moe_gemm_variant_name(v);
    best = std::min(best, us);
  }
  for (const auto& [v, us] : r.microseconds) {
    if (v == r.best) {
      EXPECT_EQ(us, best);
    }
  }
  std::printf("moe_tune at 64 tokens, Qwen3-30B-A3B shapes: best %s\n",
              moe_gemm_variant_name(r.best));
  // fp32 weights: the tensor-core variants cannot run, so they are not timed.
  expect_close(run_pipeline({16, 2, 8, 72, 40, false, WeightType::kF32}, 19, nullptr, 1, &r));
  EXPECT_EQ(r.microseconds.size(), 2u);
}

}  // namespace
}  // namespace sieve::cuda
