#include "engine/checkpoint/weight_fill.h"

#include "engine/base/status.h"
#include "kernels/cpu/numeric.h"
#include "kernels/cpu/thread_pool.h"
#include "kernels/random_fill.h"

namespace sieve {

// The hash itself lives with the kernels, which compute the same values on the device.
uint64_t weight_fill_key(uint64_t seed, uint64_t tensor) {
  return kernels::fill_key(seed, tensor);
}

float weight_fill_at(const WeightFill& fill, uint64_t i) {
  return kernels::FillSpec{fill.key, fill.constant, fill.bound}.at(i);
}

void fill_host_range(const WeightFill& fill, int64_t begin, int64_t end, DType dtype, void* dst) {
  SIEVE_CHECK_MSG(dtype == DType::kF32 || dtype == DType::kBF16,
                  "filled weights are fp32 or bf16, not " << dtype_name(dtype));
  const kernels::FillSpec spec{fill.key, fill.constant, fill.bound};
  if (dtype == DType::kBF16) {
    auto* out = static_cast<uint16_t*>(dst);
    for (int64_t i = begin; i < end; ++i)
      out[i] = kernels::f32_to_bf16(spec.at(static_cast<uint64_t>(i)));
  } else {
    auto* out = static_cast<float*>(dst);
    for (int64_t i = begin; i < end; ++i)
      out[i] = spec.at(static_cast<uint64_t>(i));
  }
}

HostFiller::HostFiller(int threads) : pool_(std::make_unique<kernels::ThreadPool>(threads)) {}
HostFiller::~HostFiller() = default;

void HostFiller::fill(const WeightFill& fill, int64_t n, DType dtype, void* dst) {
  fill_range(fill, 0, n, dtype, dst);
}

void HostFiller::fill_range(const WeightFill& fill, int64_t begin, int64_t end, DType dtype,
                            void* dst) {
  constexpr int64_t kGrain = 1 << 16;
  pool_->parallel_for(end - begin, kGrain, [&](int64_t b, int64_t e) {
    fill_host_range(fill, begin + b, begin + e, dtype, dst);
  });
}

}  // namespace sieve
