// Deterministic "random" weights: element i of a tensor is a pure function of (key, i) — a
// counter-based hash, not a sequential stream — so any split over threads, and the host and the
// device alike, produce the same values. Used by random checkpoints (models/random_checkpoint)
// and by --load-format dummy on every backend, so a dummy model equals the checkpoint that
// `sieve make-checkpoint` writes for the same config and seed.
#pragma once

#include <cstdint>

#include "kernels/host_device.h"

namespace sieve::kernels {

// SplitMix64's finaliser: a fast bijective mix with good avalanche, enough for test weights.
SIEVE_HOST_DEVICE inline uint64_t mix64(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

// The key of tensor number `tensor` of a model seeded with `seed`.
SIEVE_HOST_DEVICE inline uint64_t fill_key(uint64_t seed, uint64_t tensor) {
  return mix64(seed ^ mix64(tensor + 0x9e3779b97f4a7c15ull));
}

// Element i's value, uniform on [-bound, bound) with 24 random bits.
SIEVE_HOST_DEVICE inline float fill_uniform(uint64_t key, uint64_t i, float bound) {
  const uint64_t r = mix64(key + i * 0x9e3779b97f4a7c15ull);
  const float u = static_cast<float>(r >> 40) * (1.0f / 16777216.0f);  // [0, 1)
  return (2.0f * u - 1.0f) * bound;
}

// How one tensor (or a block of rows of one) is filled: every element `constant` when
// bound == 0, else fill_uniform(key, i, bound) with i counted from the tensor's first element.
struct FillSpec {
  uint64_t key = 0;
  float constant = 0.0f;
  float bound = 0.0f;

  SIEVE_HOST_DEVICE float at(uint64_t i) const {
    return bound == 0.0f ? constant : fill_uniform(key, i, bound);
  }
};

}  // namespace sieve::kernels
