// One row of a batch sampled on the device, as the engine fills it (engine/step_sampler.cpp) and
// the CUDA sampling kernel reads it (kernels/cuda/sampling.h): plain data, copied to the device
// as is. "Off" values: temperature 0 = greedy, top_p 1, min_p 0, penalties 0/0/1, top_k 0 = all
// tokens.
#pragma once

#include <cstdint>
#include <type_traits>

namespace sieve::kernels {

struct RowSampling {
  float temperature;
  float top_p;  // (0, 1]
  float min_p;  // [0, 1]
  float presence_penalty;
  float frequency_penalty;
  float repetition_penalty;  // > 0
  int32_t top_k;             // 0: all tokens
  uint64_t seed;
  uint64_t offset;  // tokens this request has drawn so far: the draw's Philox counter
};
static_assert(std::is_trivial_v<RowSampling> && std::is_standard_layout_v<RowSampling>);

}  // namespace sieve::kernels
