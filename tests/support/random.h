// Reproducible random inputs for kernel tests and benchmarks.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace sieve::test_inputs {

// n floats uniform in [lo, hi), the same for the same seed.
inline std::vector<float> random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v)
    x = d(rng);
  return v;
}

}  // namespace sieve::test_inputs
