// Deterministic "random" weights: element i of a tensor is a pure function of (key, i), a
// counter-based hash rather than a sequential stream, so any split over threads, and the host
// and a device alike, produce the same values. `sieve make-checkpoint` writes them to safetensors
// and --load-format dummy makes them on the backend, so a dummy model equals the checkpoint
// written for the same config and seed.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/base/dtype.h"

namespace sieve {

namespace kernels {
class ThreadPool;
}

// How one tensor (or a block of rows of one) is filled.
struct WeightFill {
  uint64_t key = 0;       // weight_fill_key(seed, tensor index)
  float constant = 0.0f;  // every element, when bound == 0
  float bound = 0.0f;     // > 0: uniform on [-bound, bound) with 24 random bits
};

// The key of tensor number `tensor` of a model seeded with `seed`.
uint64_t weight_fill_key(uint64_t seed, uint64_t tensor);

// Element i of a filled tensor.
float weight_fill_at(const WeightFill& fill, uint64_t i);

// Elements [begin, end) of a filled tensor as `dtype` (kF32 or kBF16): element i goes to
// index i of `dst`.
void fill_host_range(const WeightFill& fill, int64_t begin, int64_t end, DType dtype, void* dst);

// Whole tensors filled in host memory on several threads (a 60 GB checkpoint fills at disk speed).
class HostFiller {
 public:
  explicit HostFiller(int threads);  // <= 0: one per core
  ~HostFiller();
  // Elements [0, n) as `dtype` (kF32 or kBF16) into dst.
  void fill(const WeightFill& fill, int64_t n, DType dtype, void* dst);
  // Elements [begin, end) into dst, element i at index i (as fill_host_range).
  void fill_range(const WeightFill& fill, int64_t begin, int64_t end, DType dtype, void* dst);

 private:
  std::unique_ptr<kernels::ThreadPool> pool_;
};

}  // namespace sieve
