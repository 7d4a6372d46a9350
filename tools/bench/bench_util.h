// Small helpers shared by the engine benchmarks (sieve-cpu-bench, sieve-gpu-bench).
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <vector>

namespace sieve::bench {

using Clock = std::chrono::steady_clock;

inline double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// `len` token ids drawn uniformly from the vocabulary, reproducibly from `seed`.
inline std::vector<int32_t> random_prompt(int64_t len, int64_t vocab, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<int32_t> p(len);
  for (auto& t : p)
    t = static_cast<int32_t>(rng() % vocab);
  return p;
}

}  // namespace sieve::bench
