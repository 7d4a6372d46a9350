#include "kernels/cuda/bench/moe_table_weights.h"

#include <cmath>
#include <vector>

#include "kernels/cuda/convert.h"

namespace sieve::cuda::moe_table {
namespace {

void fill_bf16(uint16_t* out, int64_t n, uint64_t key, float bound) {
  FillParams f;
  f.out = out;
  f.type = WeightType::kBF16;
  f.n = n;
  f.fill.key = key;
  f.fill.bound = bound;
  fill_weights(f, nullptr);
}

}  // namespace

ExpertWeights::ExpertWeights(const ModelShape& s, uint64_t seed) : shape(s) {
  const int64_t gu = 2 * s.inter * s.hidden, dn = s.hidden * s.inter;
  gate_up = test::DeviceBuffer<uint16_t>(s.experts * gu);
  down = test::DeviceBuffer<uint16_t>(s.experts * dn);
  fill_bf16(gate_up.data(), s.experts * gu, kernels::fill_key(seed, 1),
            3.0f / std::sqrt(static_cast<float>(s.hidden)));
  fill_bf16(down.data(), s.experts * dn, kernels::fill_key(seed, 2),
            3.0f / std::sqrt(static_cast<float>(s.inter)));
  std::vector<const void*> gp(s.experts), dp(s.experts);
  for (int64_t e = 0; e < s.experts; ++e) {
    gp[e] = gate_up.data() + e * gu;
    dp[e] = down.data() + e * dn;
  }
  gate_up_ptrs = test::DeviceBuffer<const void*>::from_host(gp);
  down_ptrs = test::DeviceBuffer<const void*>::from_host(dp);
}

void fill_activations(float* x, int64_t n, uint64_t key) {
  FillParams f;
  f.out = x;
  f.type = WeightType::kF32;
  f.n = n;
  f.fill.key = key;
  f.fill.bound = 1.0f;
  fill_weights(f, nullptr);
}

}  // namespace sieve::cuda::moe_table
